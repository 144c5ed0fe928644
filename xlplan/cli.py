"""The ``xlplan`` command: a thin layer over the public Python API.

Exit status: 0 when nothing is wrong, 1 when findings include errors, 2 when xlplan itself could
not run (bad arguments, missing settings, an unusable template): a coded error of the catalogue
(xlplan.errors), printed in the language of the run, and with ``--format json`` also written to
stdout as data. No traceback reaches the user.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__, app
from .errors import XlplanError
from .findings import has_errors
from .language import LANGUAGES, counted, current_lang, lang_from_argv, pick, use_lang
from .project import INBOX, OUTBOX
from .report import findings_json, format_table
from .status import status_lines_text

EXIT_OK, EXIT_FINDINGS, EXIT_FAILED = 0, 1, 2


def _t(ja: str, en: str, lang: str | None = None) -> str:
    """The Japanese or English text, in the language of this run (``--lang`` or XLPLAN_LANG)."""
    return pick(ja, en, lang)


def cmd_init(args) -> int:
    from .project import init_project

    folder = init_project(args.folder)
    print(_t(f"プロジェクトフォルダを作成しました: {folder.root}",
             f"Created the project folder: {folder.root}"))
    print(_t(f"  計画マスタ: {folder.master}", f"  plan master: {folder.master}"))
    print(_t(f"  設定（署名鍵・パスワード。配布しないこと）: {folder.settings.path}",
             f"  settings (signing key, password; never send out): {folder.settings.path}"))
    for line in next_steps(folder):
        print(line)
    return EXIT_OK


def next_steps(folder) -> list[str]:
    """What a coordinator does after ``init``: edit the master, check it, send the workbooks."""
    master, root = _quoted(folder.master), _quoted(folder.root)
    return [_t("次にすること:", "Next:"),
            _t(f"  1. 計画マスタを Excel で開き、見本の計画をあなたの計画に書き換えて保存: {master}",
               f"  1. Open the plan master in Excel, replace the sample plan with yours and save: {master}"),
            _t(f"  2. 計画マスタの誤りを確認: xlplan master {master}",
               f"  2. Check the plan master for mistakes: xlplan master {master}"),
            _t(f"  3. 担当課ごとのファイルを作成（{OUTBOX} フォルダへ）: xlplan generate {master}",
               f"  3. Write the department workbooks (into the folder {OUTBOX}): xlplan generate {master}"),
            _t(f"  4. 返ってきたファイルを {INBOX} フォルダに置き、回収: xlplan collect {_quoted(folder.inbox)} --project {root}",
               f"  4. Put the returned files into the folder {INBOX} and collect them: "
               f"xlplan collect {_quoted(folder.inbox)} --project {root}")]


def _quoted(path) -> str:
    """A path as typed on a command line: quoted when it has spaces."""
    text = str(path)
    return f'"{text}"' if " " in text else text


def _report_plan_findings(findings, lang) -> None:
    """The plan master's findings on stderr (when they stop the command, master-invalid
    follows them)."""
    if findings:
        print(format_table(findings, lang), file=sys.stderr)


def project_settings(project=None, master=None):
    """The project's settings (SettingsError when there are none or they are wrong, which
    ``main`` prints); tables and keys xlplan does not know are named on stderr."""
    settings = app.find_project_settings(project, master)
    if settings.unknown:
        print(_t(f"設定ファイル {settings.path} の次の項目は xlplan が使わないため無視しました: "
                 f"{'、'.join(settings.unknown)}",
                 f"Ignored what xlplan does not use in the settings file {settings.path}: "
                 f"{', '.join(settings.unknown)}"), file=sys.stderr)
    return settings


def _open(args, archive: str | None = "require", master=None, master_must_exist: bool = True):
    """The project context of a command (app.open_project) from its options; the plan
    master's findings on stderr (PlanInvalid goes on to ``_run``: exit status 2)."""
    settings = project_settings(args.project, master if master is not None else getattr(args, "master", None))
    try:
        project = app.open_project(settings, master or getattr(args, "master", None),
                                   app.parse_year(args.year), archive, master_must_exist)
    except app.PlanInvalid as exc:
        if getattr(args, "format", None) != "json":  # JSON: the findings go with the error
            _report_plan_findings(exc.findings, args.lang)
        raise
    _report_plan_findings(project.findings, args.lang)
    return project


def cmd_master(args) -> int:
    from .plan import read_plan

    plan, findings = read_plan(args.master)
    if plan is not None:
        print(_t(f"{plan.name}（{plan.start.label_ja}～{plan.end.label_ja}、評価年度 {plan.year.label_ja}）",
                 f"{plan.name} ({plan.start.label_en}–{plan.end.label_en}, evaluating {plan.year.label_en})"))
        indicators = sum(len(p.indicators) for p in plan.projects)
        print(_t(f"基本目標 {len(plan.goals)}、施策の方向性 {len(plan.directions)}、事業 {len(plan.projects)}、"
                 f"指標 {indicators}、担当課 {len(plan.departments)}",
                 f"{counted(len(plan.goals), 'goal')}, {counted(len(plan.directions), 'direction')}, "
                 f"{counted(len(plan.projects), 'project')}, {counted(indicators, 'indicator')}, "
                 f"{counted(len(plan.departments), 'department')}"))
    print(format_table(findings, args.lang))
    return EXIT_FINDINGS if plan is None or has_errors(findings) else EXIT_OK


def cmd_generate(args) -> int:
    try:
        project = _open(args, archive=None, master=args.master, master_must_exist=False)
    except app.PlanInvalid as exc:  # as `xlplan master`: the master's errors are findings, 1
        raise app.PlanInvalid(exc.findings, EXIT_FINDINGS) from None
    result = app.generate(project, args.out, args.department)
    if result.warnings:  # the cover shows the deadline: say when it is missing or looks stale
        print(format_table(result.warnings, args.lang), file=sys.stderr)
    for f in result.files:
        print(_t(f"{f.department}: {f.path}（事業 {len(f.projects)} 件、入力欄 {f.inputs} か所）",
                 f"{f.department}: {f.path} ({counted(len(f.projects), 'project')}, "
                 f"{counted(f.inputs, 'input cell')})"))
    plan = project.plan
    print(_t(f"{len(result.files)} 課分のファイルを作成しました（{plan.year.label_ja}）。",
             f"Wrote {counted(len(result.files), 'department workbook')} ({plan.year.label_en})."))
    return EXIT_OK


def cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(Path(args.out), lang=args.lang)
    return EXIT_OK


def _print_status(project) -> None:
    """Every department's and member's status with every submission and its ID, the pinned
    choices and what they hide, then the files that count for nobody (xlplan.status)."""
    print("\n".join(status_lines_text(app.status(project, current_lang()), project.plan)))


def cmd_collect(args) -> int:
    project = _open(args, archive="create")
    result = app.collect(project, args.inbox, rechecking=args.recheck)  # progress bar on a terminal
    if result.recheck is not None:
        print(_t(f"保管済みのファイルを再チェック: {len(result.recheck.rechecked)} ファイル",
                 f"rechecked {counted(len(result.recheck.rechecked), 'archived file')}"))
        _print_copy_problems(result.recheck.copy_problems)
    summary = result.summary
    for s in summary.new:
        who = s.department or _t("（不明）", "(unknown)")
        print(_t(f"回収: {s.original_name} → {who}（エラー {s.errors}、警告 {s.warnings}）",
                 f"collected: {s.original_name} → {who} ({counted(s.errors, 'error')}, "
                 f"{counted(s.warnings, 'warning')})"))
    if summary.known:
        print(_t(f"回収済みと同じ内容のため記録のみ: {len(summary.known)} ファイル",
                 f"already archived (same content): {counted(len(summary.known), 'file')}"))
    for s in summary.repaired:
        print(_t(f"保管庫のファイルを修復して読み直しました: {s.original_name} → {s.archived_path}",
                 f"repaired the archived copy and read it again: {s.original_name} → {s.archived_path}"))
    for f in summary.notices:
        print(f"  {f.file}: {f.message()}")
    _print_status(project)
    return EXIT_FINDINGS if result.has_errors else EXIT_OK


def _print_copy_problems(problems) -> None:
    """Recorded files whose archived copy is gone or does not match its hash (recheck)."""
    for s, problem in problems:
        if problem == "missing":
            print(_t(f"  再チェックできません（保管庫にファイルがありません）: {s.original_name} → {s.archived_path}",
                     f"  cannot recheck (not in the archive folder): {s.original_name} → {s.archived_path}"))
        else:
            print(_t(f"  保管庫のファイルが記録と一致しません（ハッシュ不一致）: {s.original_name} → {s.archived_path}。"
                     "元のファイルを回収フォルダに置いてもう一度回収すると修復されます",
                     f"  the archived copy does not match its hash: {s.original_name} → {s.archived_path}. "
                     "Put the original file into the inbox and collect again to repair it"))


def cmd_status(args) -> int:
    _print_status(_open(args))
    return EXIT_OK


def cmd_choose(args) -> int:
    # A department missing from the master is the more precise message: the archive comes after.
    project = _open(args, archive="existing")
    result = app.choose(project, args.department, args.submission, args.latest)
    name = args.department
    if result.outcome == "lifted":
        print(_t(f"{name} の指定を解除しました。最後に保存された提出を集計に使います。",
                 f"Lifted the choice for {name}: the last saved submission counts."))
    elif result.outcome == "none-to-lift":
        print(_t(f"{name} には指定がありません（最後に保存された提出を使っています）。",
                 f"{name} has no chosen submission (the last saved one counts)."))
    else:
        print(_t(f"{name} は提出 ID {result.submission} を集計に使います（指定は "
                 f"xlplan choose --department {name} --latest で解除）。",
                 f"{name}: submission {result.submission} counts (lift the choice with "
                 f"xlplan choose --department {name} --latest)."))
    project.archive = result.archive
    _print_status(project)
    return EXIT_OK


def cmd_merge(args) -> int:
    result = app.merge(_open(args), args.out, args.csv)
    if result.written != result.asked:
        print(_t(f"{result.asked} は開かれているため、{result.written.name} に書き込みました。",
                 f"{result.asked} is open elsewhere; wrote {result.written.name} instead."))
    print(_t(f"集計ファイルを作成しました: {result.written}", f"Wrote the merged workbook: {result.written}"))
    return EXIT_OK


def cmd_feedback(args) -> int:
    result = app.feedback(_open(args), args.out)
    for f in result.files:
        print(_t(f"{f.department}: {f.path}（要修正 {f.findings} 件）",
                 f"{f.department}: {f.path} ({counted(f.findings, 'finding')})"))
    print(_t(f"差し戻し用ファイル {len(result.files)} 件を作成しました。",
             f"Wrote {counted(len(result.files), 'return copy')}."))
    return EXIT_OK


def cmd_generate_scoring(args) -> int:
    project = _open(args, archive="existing")
    if project.archive is None and project.plan.members:
        print(_t(app.NOT_COLLECTED_SCORING_JA, app.NOT_COLLECTED_SCORING_EN), file=sys.stderr)
    result = app.generate_scoring(project, args.out, args.member)
    for f in result.files:
        print(_t(f"{f.member.name}: {f.path}（施策 {f.measures} 件）",
                 f"{f.member.name}: {f.path} ({counted(f.measures, 'measure')})"))
    print(_t(f"中間評価票 {len(result.files)} 件を作成しました。",
             f"Wrote {counted(len(result.files), 'scoring form')}."))
    return EXIT_OK


def cmd_check(args) -> int:
    """``xlplan check``: print findings as a table or JSON; exit 0, 1 (errors) or 2."""
    project = _open(args, archive=None)
    result = app.check(project, args.paths)
    if args.format == "json":
        print(findings_json(result.findings, [f.to_dict() for f in result.files], args.lang))
    else:
        print(format_table(result.findings, args.lang))
        print(_t(f"ファイル {len(result.files)} 件を確認しました。",
                 f"Checked {counted(len(result.files), 'file')}."))
    return result.exit_code


def cmd_panel(args) -> int:
    from .panel import PANEL_NAME, build_panel, project_defaults

    settings = project_settings(args.project)
    written = build_panel(Path(args.out) / PANEL_NAME, **project_defaults(settings.project_dir))
    print(_t(f"事務局パネルを作成しました: {written}", f"Wrote the coordinator panel: {written}"))
    print(_t("  Excel で開き、マクロを有効にしてから「設定」シートのボタンを押してください（README「Excel のボタン」）。",
             "  Open it in Excel, enable macros, then use the buttons on its settings sheet "
             "(README, Coordinator buttons)."))
    return EXIT_OK


def cmd_catalogue(args) -> int:
    from .findings import catalogue_markdown, catalogue_records

    if args.format == "json":
        import json

        print(json.dumps(catalogue_records(args.lang), ensure_ascii=False, indent=2, default=str))
    else:
        print(catalogue_markdown())
    return EXIT_OK


def build_parser(lang: str | None = None) -> argparse.ArgumentParser:
    """The argument parser, every help text in the chosen language (exposed so the README's
    command list and the help texts can be tested). ``--lang`` is accepted before or after
    the subcommand."""
    lang = current_lang(lang)

    def h(ja: str, en: str) -> str:
        return pick(ja, en, lang)

    def help_option(p):
        p.add_argument("-h", "--help", action="help",
                       help=h("このヘルプを表示して終了", "show this help message and exit"))

    def lang_option(p, default):
        p.add_argument("--lang", choices=LANGUAGES, default=default,
                       help=h("表示言語 ja / en（既定: 環境変数 XLPLAN_LANG、なければ ja）",
                              "message language ja / en (default: $XLPLAN_LANG, else ja)"))

    def project_args(p, master=True):
        p.add_argument("--project", help=h("設定ファイル xlplan.toml のあるフォルダ（既定: 計画マスタの"
                                           "フォルダ、なければ現在のフォルダ）",
                                           "folder holding the settings file xlplan.toml (default: the "
                                           "plan master's folder, else the current folder)"))
        if master:
            p.add_argument("--master", help=h("計画マスタ（既定: 設定ファイルの master）",
                                              "plan master (default: master in the settings file)"))
        p.add_argument("--year", help=h("評価年度（R6、令和6年度、2024、FY2024。既定: 計画マスタの評価年度）",
                                        "evaluation year (R6, 2024, FY2024 or the era name; "
                                        "default: the plan master's evaluation year)"))

    parser = argparse.ArgumentParser(
        prog="xlplan", add_help=False,
        description=h("地域福祉計画の進行管理（配布・回収・チェック・集計）を Excel で行うツール",
                      "The yearly evaluation cycle of local welfare plans in Excel: "
                      "send out, collect, check and merge workbooks"))
    help_option(parser)
    parser.add_argument("--version", action="version", version=f"xlplan {__version__}",
                        help=h("xlplan の版を表示して終了", "show xlplan's version and exit"))
    lang_option(parser, None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                title=h("コマンド", "commands"))

    def command(name: str, ja: str, en: str, func):
        p = sub.add_parser(name, help=h(ja, en), description=h(ja, en), add_help=False)
        help_option(p)
        # SUPPRESS: a --lang after the command sets the language; none keeps the one before it.
        lang_option(p, argparse.SUPPRESS)
        p.set_defaults(func=func)
        return p

    p = command("init", "プロジェクトフォルダ（計画マスタの見本・設定・様式・配布/回収/集計フォルダ）を作成",
                "create a project folder (sample plan master, settings, layouts, outbox/inbox/results)",
                cmd_init)
    p.add_argument("folder", help=h("作成するフォルダ（既にあるフォルダでもよい。設定ファイルは上書きしない）",
                                    "folder to create (may exist; an existing settings file is never replaced)"))

    p = command("master", "計画マスタを読み込み、誤りをセル番地つきで表示",
                "read a plan master and list its mistakes with sheet and cell", cmd_master)
    p.add_argument("master", help=h("計画マスタ (.xlsx)", "plan master (.xlsx)"))

    p = command("generate", "担当課ごとの入力用ファイルを作成", "write one workbook per department",
                cmd_generate)
    p.add_argument("master", help=h("計画マスタ (.xlsx)", "plan master (.xlsx)"))
    p.add_argument("--out", help=h("出力フォルダ（既定: プロジェクトの「配布」フォルダ）",
                                   "output folder (default: the project's outbox folder 配布)"))
    project_args(p, master=False)
    p.add_argument("--department", action="append",
                   help=h("この担当課だけ作成（複数指定可）", "only this department (may be repeated)"))

    p = command("demo", "見本データで一連の流れ（配布・回収・集計・差し戻し・中間評価）を実行",
                "run the whole cycle on sample data (send, collect, merge, return, committee scoring)",
                cmd_demo)
    p.add_argument("out", nargs="?", default="xlplan-demo",
                   help=h("見本のプロジェクトフォルダ（既定: xlplan-demo）",
                          "folder of the sample project (default: xlplan-demo)"))
    p = command("check", "回収したファイルを読み込んでチェック（保管はしない）",
                "read returned files and list their findings (nothing is archived)", cmd_check)
    p.add_argument("paths", nargs="+", help=h("ファイルまたはフォルダ", "files or folders"))
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help=h("出力形式: table（表、既定）または json（すべての項目）",
                          "output format: table (default) or json (every field)"))
    project_args(p)

    p = command("collect", "回収フォルダのファイルを保管・チェックして記録",
                "archive, check and record the files of the inbox", cmd_collect)
    p.add_argument("inbox", nargs="+", help=h("回収フォルダまたはファイル", "inbox folder(s) or file(s)"))
    p.add_argument("--recheck", action="store_true",
                   help=h("保管済みのファイルも今の計画マスタ・設定で読み直して記録し直す"
                          "（計画マスタを直したあと、読み取れなかったファイルの再試行）",
                          "also read the archived files again against the plan master and settings "
                          "as they are now (after correcting the master, or to retry unreadable files)"))
    project_args(p)

    p = command("status", "担当課ごとの提出状況", "submission status per department", cmd_status)
    project_args(p)

    p = command("choose", "担当課の提出ファイルのうち集計に使うものを指定（--latest で解除）",
                "choose which of a department's submissions the merge uses (--latest lifts the choice)",
                cmd_choose)
    p.add_argument("--department", required=True,
                   help=h("担当課（計画マスタの名前のまま。委員は氏名）",
                          "department as named in the plan master (a committee member: the name)"))
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--submission", type=int,
                       help=h("集計に使う提出の ID（status に表示される ID）",
                              "ID of the submission the merge uses (as status shows it)"))
    which.add_argument("--latest", action="store_true",
                       help=h("指定を解除し、最後に保存された提出を使う（後から届いた修正版を使うとき）",
                              "lift the choice: the last saved submission counts (for a corrected "
                              "copy that came later)"))
    project_args(p)

    p = command("merge", "集計ファイル（提出状況・要確認・一覧・指標・基本目標別・事業シート）を作成",
                "write the merged workbook (status, findings, tables, indicators, goals, project sheets)",
                cmd_merge)
    p.add_argument("--out", help=h("出力ファイル（既定: 集計/集計_<年度>.xlsx）",
                                   "output file (default: 集計/集計_<year>.xlsx)"))
    p.add_argument("--csv", help=h("表を CSV（UTF-8 BOM 付き）でも書き出すフォルダ",
                                   "folder to write the tables to as CSV as well (UTF-8 with BOM)"))
    project_args(p)

    p = command("feedback", "要修正の担当課に差し戻し用ファイルを作成",
                "write return copies for departments whose files need fixing", cmd_feedback)
    p.add_argument("--out", help=h("出力フォルダ（既定: 差し戻し）", "output folder (default: 差し戻し)"))
    project_args(p)

    p = command("generate-scoring", "推進会議委員ごとの中間評価票を作成",
                "write one scoring form per committee member", cmd_generate_scoring)
    p.add_argument("--out", help=h("出力フォルダ（既定: 配布/中間評価）",
                                   "output folder (default: 配布/中間評価)"))
    p.add_argument("--member", action="append",
                   help=h("この委員番号だけ作成（複数指定可）", "only this member number (may be repeated)"))
    project_args(p)

    p = command("panel", "事務局パネル（ボタン付きの Excel ファイル xlplan_panel.xlsm）を作成",
                "write the coordinator panel (Excel file with buttons, xlplan_panel.xlsm)", cmd_panel)
    p.add_argument("--out", required=True, help=h("出力フォルダ（xlplan_panel.xlsm を書き出す）",
                                                  "output folder (xlplan_panel.xlsm is written there)"))
    p.add_argument("--project", help=h("設定ファイル xlplan.toml のあるフォルダ（既定: 現在のフォルダ）",
                                       "folder holding the settings file xlplan.toml (default: the current folder)"))

    p = command("catalogue", "指摘コードの一覧", "list the finding codes", cmd_catalogue)
    p.add_argument("--format", choices=("markdown", "json"), default="markdown",
                   help=h("出力形式（既定: markdown）", "output format (default: markdown)"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status.

    The language is read from the command line (``--lang`` before or after the subcommand) or
    XLPLAN_LANG before the parser is built, so its help is in that language too. It is passed
    on as ``args.lang`` and set for this run only (``use_lang``): the environment is not changed."""
    argv = sys.argv[1:] if argv is None else list(argv)
    lang = current_lang(lang_from_argv(argv))
    with use_lang(lang):
        args = build_parser(lang).parse_args(argv)
        args.lang = lang  # the same choice argparse made: the last --lang given
        return _run(args)


def _run(args) -> int:
    """Run the chosen command; every failure becomes a coded error: its message on stderr,
    with ``--format json`` its record on stdout, and its exit status."""
    try:
        return args.func(args)
    except XlplanError as exc:
        return report_error(args, exc)
    except BrokenPipeError:
        # Output piped into head/less that closed early: not an error of xlplan.
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        return report_error(args, XlplanError("interrupted"))
    except OSError as exc:  # a folder that cannot be written, a full disk: the user's to fix
        from .errors import file_system_error

        stop = file_system_error(exc)
        if stop is None:
            return _last_resort(args)
        return report_error(args, stop)
    except Exception:  # last resort: a message and the log's place, never a traceback
        return _last_resort(args)


def _last_resort(args) -> int:
    """A bug of xlplan (the exception being handled): command-failed naming the error log
    that holds the traceback (XLPLAN_DEBUG=1 shows the traceback instead)."""
    if os.environ.get("XLPLAN_DEBUG") == "1":  # developers: show the traceback
        raise
    import traceback

    from .errorlog import write_error_log
    from .errors import internal_error

    command = getattr(getattr(args, "func", None), "__name__", "").removeprefix("cmd_")
    return report_error(args, internal_error(
        write_error_log(traceback.format_exc(), f"xlplan {command}", _project_folder(args))))


def report_error(args, exc: XlplanError) -> int:
    """Tell a stop of the run: the message on stderr in the run's language; with ``--format
    json`` also ``{"error": {code, severity, params, message …}, "findings": [...]}`` on
    stdout (the plan master's findings when they stopped it). Returns the exit status."""
    print(exc.message(args.lang), file=sys.stderr)
    if getattr(args, "format", None) == "json":
        import json

        findings = [f.to_dict(args.lang) for f in getattr(exc, "findings", [])]
        print(json.dumps({"error": exc.to_dict(args.lang), "findings": findings, "files": []},
                         ensure_ascii=False, indent=2, default=str))
    return exc.exit_status


def _project_folder(args) -> Path | None:
    """The project folder of the command, for the error log: --project, else the current
    folder when it holds xlplan.toml (None: the user's log folder is used)."""
    from .settings import SETTINGS_NAME

    folder = getattr(args, "project", None)
    if folder and Path(folder).is_dir():
        return Path(folder)
    return Path.cwd() if (Path.cwd() / SETTINGS_NAME).is_file() else None


if __name__ == "__main__":
    # Run the one imported module xlplan.cli, not this copy named __main__.
    from xlplan.cli import main as _main

    sys.exit(_main())
