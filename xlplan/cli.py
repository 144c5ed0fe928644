"""The ``xlplan`` command: a thin layer over the public Python API.

Exit status: 0 when nothing is wrong, 1 when findings include errors, 2 when xlplan itself could
not run (bad arguments, missing settings, an unusable template). No traceback reaches the user.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from .check import add_check_command
from .errors import XlplanError
from .findings import current_lang, has_errors
from .project import RESULTS, feedback_dir, merged_path, scoring_dir
from .fiscal import FiscalYearError, parse_fiscal_year
from .report import format_table

EXIT_OK, EXIT_FINDINGS, EXIT_FAILED = 0, 1, 2
# Scoring forms made before anything was collected carry no results (the CLI and panel say so).
NOT_COLLECTED_SCORING_JA = "まだ回収していないため、評価票には各課の結果が入りません。"
NOT_COLLECTED_SCORING_EN = "Nothing has been collected yet: the scoring forms carry no department results."


class UserError(Exception):
    """A problem to show as a message (already in the user's language), exit status 2."""


def _t(ja: str, en: str) -> str:
    return en if current_lang() == "en" else ja


def _year(text: str | None):
    if text is None:
        return None
    try:
        return parse_fiscal_year(text)
    except FiscalYearError as exc:
        raise UserError(str(exc)) from exc


def cmd_init(args) -> int:
    from .project import ProjectExistsError, init_project

    try:
        folder = init_project(args.folder)
    except ProjectExistsError as exc:
        raise UserError(str(exc)) from exc
    print(_t(f"プロジェクトフォルダを作成しました: {folder.root}",
             f"Created the project folder: {folder.root}"))
    print(_t(f"  計画マスタ: {folder.master}", f"  plan master: {folder.master}"))
    print(_t(f"  設定（署名鍵・パスワード。配布しないこと）: {folder.settings.path}",
             f"  settings (signing key, password; never send out): {folder.settings.path}"))
    return EXIT_OK


def _load_plan_or_report(master: Path, year, lang):
    from .plan import read_plan

    plan, findings = read_plan(master)
    if plan is None or has_errors(findings):
        print(_t("計画マスタに誤りがあります:", "The plan master has errors:"), file=sys.stderr)
        print(format_table(findings, lang), file=sys.stderr)
        return None, findings
    if findings:
        print(format_table(findings, lang), file=sys.stderr)
    return (plan.with_year(year) if year else plan), findings


def _history(settings, plan):
    """Earlier years' reported values from the project's archive, when there is one."""
    from .archive import Archive, ArchiveHistory

    archive = Archive.existing(settings)
    return ArchiveHistory(archive, plan) if archive is not None else None


def project_settings(project=None, master=None):
    """The project's settings (SettingsError when there are none or they are wrong, which
    ``main`` prints); tables and keys xlplan does not know are named on stderr."""
    from .settings import find_settings

    settings = find_settings(project, master)
    if settings.unknown:
        print(_t(f"設定ファイル {settings.path} の次の項目は xlplan が使わないため無視しました: "
                 f"{'、'.join(settings.unknown)}",
                 f"Ignored what xlplan does not use in the settings file {settings.path}: "
                 f"{', '.join(settings.unknown)}"), file=sys.stderr)
    return settings


def cmd_master(args) -> int:
    from .plan import read_plan

    plan, findings = read_plan(args.master)
    if plan is not None:
        print(_t(f"{plan.name}（{plan.start.label_ja}～{plan.end.label_ja}、評価年度 {plan.year.label_ja}）",
                 f"{plan.name} ({plan.start.label_en}–{plan.end.label_en}, evaluating {plan.year.label_en})"))
        print(_t(f"基本目標 {len(plan.goals)}、施策の方向性 {len(plan.directions)}、事業 {len(plan.projects)}、"
                 f"指標 {sum(len(p.indicators) for p in plan.projects)}、担当課 {len(plan.departments)}",
                 f"{len(plan.goals)} goals, {len(plan.directions)} directions, {len(plan.projects)} projects, "
                 f"{sum(len(p.indicators) for p in plan.projects)} indicators, {len(plan.departments)} departments"))
    print(format_table(findings, args.lang))
    return EXIT_FINDINGS if plan is None or has_errors(findings) else EXIT_OK


def cmd_generate(args) -> int:
    from .generate import generate
    from .plan import deadline_findings
    from .template import TemplateError

    settings = project_settings(args.project, args.master)
    plan, _ = _load_plan_or_report(Path(args.master), _year(args.year), args.lang)
    if plan is None:
        return EXIT_FINDINGS
    warnings = deadline_findings(plan)
    if warnings:  # the cover shows the deadline: say when it is missing or looks stale
        print(format_table(warnings, args.lang), file=sys.stderr)
    history = _history(settings, plan)
    try:
        files = generate(plan, Path(args.out), settings, departments=args.department or None,
                         history=history)
    except TemplateError as exc:
        raise UserError(_t(f"様式を使えません: {exc}", f"Template cannot be used: {exc}")) from exc
    for f in files:
        print(_t(f"{f.department}: {f.path}（事業 {len(f.projects)} 件、入力欄 {f.inputs} か所）",
                 f"{f.department}: {f.path} ({len(f.projects)} projects, {f.inputs} input cells)"))
    print(_t(f"{len(files)} 課分のファイルを作成しました（{plan.year.label_ja}）。",
             f"Wrote {len(files)} department workbooks ({plan.year.label_en})."))
    return EXIT_OK


def cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(Path(args.out), lang=args.lang)
    return EXIT_OK


def _project_context(args, archive: str = "require"):
    """(settings, plan, archive) for the archive commands, or UserError / None on problems.
    ``archive``: 'create' (collect makes it), 'require' (a command that reads it stops when
    nothing was collected yet: NoArchive), 'existing' (None when nothing was collected)."""
    from .archive import Archive

    settings = project_settings(args.project, getattr(args, "master", None))
    master = Path(args.master) if getattr(args, "master", None) else settings.master
    if master is None or not master.exists():
        raise UserError(_t(f"計画マスタが見つかりません: {master}", f"Plan master not found: {master}"))
    plan, _ = _load_plan_or_report(master, _year(args.year), args.lang)
    if plan is None:
        raise UserError(_t("計画マスタの誤りを直してから実行してください。",
                           "Fix the plan master first."))
    return settings, plan, Archive.opened(settings, archive)


def _print_status(plan, archive, settings) -> None:
    """Every department's and member's status with every submission and its ID, the pinned
    choices and what they hide, then the files that count for nobody (xlplan.status)."""
    from .archive import submission_status
    from .status import status_lines_text, status_rows

    lines, others = submission_status(archive, plan)
    rows = status_rows(lines, others, plan, current_lang(), settings.timezone)
    print("\n".join(status_lines_text(rows, plan)))


def cmd_collect(args) -> int:
    settings, plan, archive = _project_context(args, archive="create")
    missing = [p for p in args.inbox if not Path(p).exists()]
    if missing:
        raise UserError(_t(f"見つかりません: {'、'.join(missing)}", f"Not found: {', '.join(missing)}"))
    if args.recheck:
        rechecked = archive.recheck(settings, plan)
        print(_t(f"保管済みのファイルを再チェック: {len(rechecked)} ファイル",
                 f"rechecked archived files: {len(rechecked)}"))
        _print_copy_problems(archive, plan)
    summary = archive.collect(args.inbox, settings, plan)  # with its progress bar on a terminal
    for s in summary.new:
        who = s.department or _t("（不明）", "(unknown)")
        print(_t(f"回収: {s.original_name} → {who}（エラー {s.errors}、警告 {s.warnings}）",
                 f"collected: {s.original_name} → {who} ({s.errors} errors, {s.warnings} warnings)"))
    if summary.known:
        print(_t(f"回収済みと同じ内容のため記録のみ: {len(summary.known)} ファイル",
                 f"already archived (same content): {len(summary.known)} files"))
    for s in summary.repaired:
        print(_t(f"保管庫のファイルを修復して読み直しました: {s.original_name} → {s.archived_path}",
                 f"repaired the archived copy and read it again: {s.original_name} → {s.archived_path}"))
    for f in summary.notices:
        print(f"  {f.file}: {f.message()}")
    _print_status(plan, archive, settings)
    return EXIT_FINDINGS if summary.has_errors else EXIT_OK


def _print_copy_problems(archive, plan) -> None:
    """Recorded files whose archived copy is gone or does not match its hash (recheck)."""
    for s, problem in archive.verify_copies(plan.year.short):
        if problem == "missing":
            print(_t(f"  再チェックできません（保管庫にファイルがありません）: {s.original_name} → {s.archived_path}",
                     f"  cannot recheck (not in the archive folder): {s.original_name} → {s.archived_path}"))
        else:
            print(_t(f"  保管庫のファイルが記録と一致しません（ハッシュ不一致）: {s.original_name} → {s.archived_path}。"
                     "元のファイルを回収フォルダに置いてもう一度回収すると修復されます",
                     f"  the archived copy does not match its hash: {s.original_name} → {s.archived_path}. "
                     "Put the original file into the inbox and collect again to repair it"))


def cmd_status(args) -> int:
    settings, plan, archive = _project_context(args)
    _print_status(plan, archive, settings)
    return EXIT_OK


def cmd_choose(args) -> int:
    settings, plan, archive = _project_context(args)
    year = plan.year.short
    if args.latest:
        if archive.unpin(year, args.department):
            print(_t(f"{args.department} の指定を解除しました。最後に保存された提出を集計に使います。",
                     f"Lifted the choice for {args.department}: the last saved submission counts."))
        else:
            print(_t(f"{args.department} には指定がありません（最後に保存された提出を使っています）。",
                     f"{args.department} has no chosen submission (the last saved one counts)."))
        _print_status(plan, archive, settings)
        return EXIT_OK
    if args.submission is None:
        raise UserError(_t("--submission ID（status に表示される ID）か --latest を指定してください。",
                           "Give --submission ID (as status shows it) or --latest."))
    ids = {s.id: s for s in archive.submissions(year)}
    chosen = ids.get(args.submission)
    key = chosen.member if chosen is not None and chosen.kind == "scoring" else (
        chosen.department if chosen is not None else None)
    names = {args.department}
    if chosen is not None and chosen.kind == "scoring":  # a member by number or by name
        names |= {m.id for m in plan.members if m.name == args.department}
    if chosen is None or key not in names or not chosen.readable:
        raise UserError(_t(f"{args.department} の提出 ID {args.submission} は {plan.year.label_ja} にありません。",
                           f"No submission {args.submission} of {args.department} in {plan.year.label_en}."))
    archive.choose(year, key, args.submission)
    print(_t(f"{args.department} は提出 ID {args.submission} を集計に使います（指定は "
             f"xlplan choose --department {args.department} --latest で解除）。",
             f"{args.department}: submission {args.submission} counts (lift the choice with "
             f"xlplan choose --department {args.department} --latest)."))
    _print_status(plan, archive, settings)
    return EXIT_OK


def cmd_merge(args) -> int:
    from .merge import write_merged

    settings, plan, archive = _project_context(args)
    out = Path(args.out) if args.out else merged_path(settings.project_dir / RESULTS, plan.year)
    written = write_merged(archive, plan, settings, out, csv_dir=Path(args.csv) if args.csv else None)
    if written != out:
        print(_t(f"{out} は開かれているため、{written.name} に書き込みました。",
                 f"{out} is open elsewhere; wrote {written.name} instead."))
    print(_t(f"集計ファイルを作成しました: {written}", f"Wrote the merged workbook: {written}"))
    return EXIT_OK


def cmd_feedback(args) -> int:
    from .feedback import write_feedback

    settings, plan, archive = _project_context(args)
    out = Path(args.out) if args.out else feedback_dir(settings.project_dir)
    files = write_feedback(archive, plan, settings, out)
    for f in files:
        print(_t(f"{f.department}: {f.path}（要修正 {f.findings} 件）",
                 f"{f.department}: {f.path} ({f.findings} findings)"))
    print(_t(f"差し戻し用ファイル {len(files)} 件を作成しました。", f"Wrote {len(files)} return copies."))
    return EXIT_OK


def cmd_generate_scoring(args) -> int:
    from .scoring import generate_scoring

    settings, plan, archive = _project_context(args, archive="existing")
    if not plan.members:
        raise UserError(_t("計画マスタの「委員」シートに委員が登録されていません。",
                           "The plan master lists no committee members (sheet 委員)."))
    out = Path(args.out) if args.out else scoring_dir(settings.project_dir)
    if archive is None:
        print(_t(NOT_COLLECTED_SCORING_JA, NOT_COLLECTED_SCORING_EN), file=sys.stderr)
    files = generate_scoring(plan, out, settings, archive, members=args.member or None)
    for f in files:
        print(_t(f"{f.member.name}: {f.path}（施策 {f.measures} 件）",
                 f"{f.member.name}: {f.path} ({f.measures} measures)"))
    print(_t(f"中間評価票 {len(files)} 件を作成しました。", f"Wrote {len(files)} scoring forms."))
    return EXIT_OK


def cmd_panel(args) -> int:
    from .panel import PANEL_NAME, build_panel, project_defaults

    settings = project_settings(args.project)
    try:
        written = build_panel(Path(args.out) / PANEL_NAME, **project_defaults(settings.project_dir))
    except FileNotFoundError as exc:  # no xlwings.bas in the installed xlwings
        raise UserError(str(exc)) from exc
    print(_t(f"事務局パネルを作成しました: {written}", f"Wrote the coordinator panel: {written}"))
    print(_t("  Excel で開き、マクロを有効にしてから「設定」シートのボタンを押してください（README「Excel のボタン」）。",
             "  Open it in Excel, enable macros, then use the buttons on sheet 設定 (README, Coordinator buttons)."))
    return EXIT_OK


def cmd_catalogue(args) -> int:
    from .findings import CATALOGUE, catalogue_markdown

    if args.format == "json":
        import json
        from dataclasses import asdict

        print(json.dumps([asdict(t) for t in CATALOGUE.values()], ensure_ascii=False, indent=2))
    else:
        print(catalogue_markdown())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed so the README's command list can be tested)."""
    parser = argparse.ArgumentParser(
        prog="xlplan", description="地域福祉計画の進行管理（配布・回収・チェック・集計）を Excel で行うツール")
    parser.add_argument("--version", action="version", version=f"xlplan {__version__}")
    parser.add_argument("--lang", choices=("ja", "en"), default=None,
                        help="表示言語 / message language (既定: ja、環境変数 XLPLAN_LANG)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="プロジェクトフォルダ（計画マスタの見本・設定）を作成")
    p.add_argument("folder")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("master", help="計画マスタを読み込み、誤りを表示")
    p.add_argument("master")
    p.set_defaults(func=cmd_master)

    p = sub.add_parser("generate", help="担当課ごとの入力用ファイルを作成")
    p.add_argument("master", help="計画マスタ (.xlsx)")
    p.add_argument("--year", help="評価年度（R6、令和6年度、2024、FY2024）。既定は計画マスタの評価年度")
    p.add_argument("--out", required=True, help="出力フォルダ")
    p.add_argument("--project", help="設定ファイル xlplan.toml のあるフォルダ")
    p.add_argument("--department", action="append", help="この担当課だけ作成（複数指定可）")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("demo", help="見本データで一連の流れを実行")
    p.add_argument("out", nargs="?", default="xlplan-demo")
    p.set_defaults(func=cmd_demo)
    add_check_command(sub)

    def project_args(p, year=True):
        p.add_argument("--project", help="設定ファイル xlplan.toml のあるフォルダ")
        p.add_argument("--master", help="計画マスタ（既定: 設定ファイルの master）")
        p.add_argument("--year", help="評価年度（既定: 計画マスタの評価年度）")

    p = sub.add_parser("collect", help="回収フォルダのファイルを保管・チェックして記録")
    p.add_argument("inbox", nargs="+", help="回収フォルダまたはファイル")
    p.add_argument("--recheck", action="store_true",
                   help="保管済みのファイルも今の計画マスタ・設定で読み直して記録し直す"
                        "（計画マスタを直したあと、読み取れなかったファイルの再試行）")
    project_args(p)
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("status", help="担当課ごとの提出状況")
    project_args(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("choose", help="担当課の提出ファイルのうち集計に使うものを指定（--latest で解除）")
    p.add_argument("--department", required=True, help="担当課（委員は氏名）")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--submission", type=int, help="集計に使う提出の ID（status に表示される ID）")
    which.add_argument("--latest", action="store_true",
                       help="指定を解除し、最後に保存された提出を使う（後から届いた修正版を使うとき）")
    project_args(p)
    p.set_defaults(func=cmd_choose)

    p = sub.add_parser("merge", help="集計ファイル（提出状況・要確認・一覧・指標・基本目標別・事業シート）を作成")
    p.add_argument("--out", help="出力ファイル（既定: 集計/集計_<年度>.xlsx）")
    p.add_argument("--csv", help="表を CSV（UTF-8 BOM 付き）でも書き出すフォルダ")
    project_args(p)
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("feedback", help="要修正の担当課に差し戻し用ファイルを作成")
    p.add_argument("--out", help="出力フォルダ（既定: 差し戻し）")
    project_args(p)
    p.set_defaults(func=cmd_feedback)

    p = sub.add_parser("generate-scoring", help="推進会議委員ごとの中間評価票を作成")
    p.add_argument("--out", help="出力フォルダ（既定: 配布/中間評価）")
    p.add_argument("--member", action="append", help="この委員番号だけ作成（複数指定可）")
    project_args(p)
    p.set_defaults(func=cmd_generate_scoring)

    p = sub.add_parser("panel", help="事務局パネル（ボタン付きの Excel ファイル xlplan_panel.xlsm）を作成")
    p.add_argument("--out", required=True, help="出力フォルダ（xlplan_panel.xlsm を書き出す）")
    p.add_argument("--project", help="設定ファイル xlplan.toml のあるフォルダ（既定: 現在のフォルダ）")
    p.set_defaults(func=cmd_panel)

    p = sub.add_parser("catalogue", help="指摘コードの一覧 / list of finding codes")
    p.add_argument("--format", choices=("markdown", "json"), default="markdown")
    p.set_defaults(func=cmd_catalogue)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.lang:
        os.environ["XLPLAN_LANG"] = args.lang
    try:
        return args.func(args)
    except (UserError, XlplanError) as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # Output piped into head/less that closed early: not an error of xlplan.
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        print(_t("中断しました。", "Interrupted."), file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # last resort: a message, never a traceback
        print(_t(f"xlplan の内部エラー: {type(exc).__name__}: {exc}",
                 f"xlplan internal error: {type(exc).__name__}: {exc}"), file=sys.stderr)
        if os.environ.get("XLPLAN_DEBUG") == "1":  # developers: show the traceback
            raise
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
