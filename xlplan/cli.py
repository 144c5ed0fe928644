"""The ``xlplan`` command: a thin layer over the public Python API.

Exit status: 0 when nothing is wrong, 1 when findings include errors, 2 when xlplan itself could
not run (bad arguments, missing settings, an unusable template). No traceback reaches the user.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .check import add_check_command
from .findings import current_lang, has_errors
from .fiscal import FiscalYearError, parse_fiscal_year
from .report import format_table

EXIT_OK, EXIT_FINDINGS, EXIT_FAILED = 0, 1, 2


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
    from .settings import SettingsError, find_settings
    from .template import TemplateError

    try:
        settings = find_settings(args.project, args.master)
    except SettingsError as exc:
        raise UserError(str(exc)) from exc
    plan, _ = _load_plan_or_report(Path(args.master), _year(args.year), args.lang)
    if plan is None:
        return EXIT_FINDINGS
    try:
        files = generate(plan, Path(args.out), settings, departments=args.department or None)
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

    p = sub.add_parser("catalogue", help="指摘コードの一覧 / list of finding codes")
    p.add_argument("--format", choices=("markdown", "json"), default="markdown")
    p.set_defaults(func=cmd_catalogue)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.lang:
        import os

        os.environ["XLPLAN_LANG"] = args.lang
    try:
        return args.func(args)
    except UserError as exc:
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
        if os_debug():
            raise
        return EXIT_FAILED


def os_debug() -> bool:
    """XLPLAN_DEBUG=1 re-raises internal errors with their traceback (for developers)."""
    import os

    return os.environ.get("XLPLAN_DEBUG") == "1"


if __name__ == "__main__":
    sys.exit(main())
