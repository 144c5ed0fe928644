"""``xlplan demo``: the whole cycle that exists so far, on the embedded sample plan."""

from __future__ import annotations

from pathlib import Path

from .check import check_files
from .findings import current_lang
from .report import findings_json
from .simulate import simulate_returns
from .generate import generate
from .plan import load_plan
from .project import ProjectFolder, init_project
from .project import MASTER_NAME
from .settings import SETTINGS_NAME, load_settings


def _say(ja: str, en: str, lang: str | None) -> None:
    print(en if current_lang(lang) == "en" else ja)


def open_or_init(folder: Path) -> ProjectFolder:
    """Reuse a demo project folder made earlier (same key), or create it."""
    if (folder / SETTINGS_NAME).exists():
        settings = load_settings(folder / SETTINGS_NAME)
        return ProjectFolder(folder, settings.master or folder / MASTER_NAME, settings)
    return init_project(folder)


def run_demo(out: Path, lang: str | None = None) -> dict:
    """Create a sample project in ``out``, generate the department workbooks; return a summary."""
    project = open_or_init(Path(out))
    _say(f"[1] 計画マスタ: {project.master}", f"[1] plan master: {project.master}", lang)
    plan = load_plan(project.master)
    _say(f"    {plan.name}: 事業 {len(plan.projects)} 件、担当課 {len(plan.departments)} 課、"
         f"評価年度 {plan.year.label_ja}",
         f"    {plan.name}: {len(plan.projects)} projects, {len(plan.departments)} departments, "
         f"evaluating {plan.year.label_en}", lang)
    files = generate(plan, project.outbox, project.settings)
    _say(f"[2] 担当課ごとのファイルを作成: {project.outbox}",
         f"[2] department workbooks written to {project.outbox}", lang)
    for f in files:
        _say(f"    {f.path.name}（事業 {len(f.projects)} 件、入力欄 {f.inputs} か所）",
             f"    {f.path.name} ({len(f.projects)} projects, {f.inputs} input cells)", lang)
    returns = simulate_returns({f.department: f.path for f in files}, plan, project.inbox)
    _say(f"[3] 各課の入力を模擬（入力ミスを含む）: {project.inbox} に {len(returns)} ファイル",
         f"[3] simulated {len(returns)} returned files (with mistakes) in {project.inbox}", lang)
    result = check_files([project.inbox], project.settings, plan)
    _say(f"[4] 回収ファイルのチェック: {len(result.files)} ファイル",
         f"[4] checked {len(result.files)} returned files", lang)
    for report in result.files:
        _say(f"    {report.file}: {report.department or '不明'} エラー {report.errors} 件、警告 {report.warnings} 件",
             f"    {report.file}: {report.department or 'unknown'} {report.errors} errors, "
             f"{report.warnings} warnings", lang)
    project.results.mkdir(exist_ok=True)
    report_path = project.results / "チェック結果.json"
    report_path.write_text(findings_json(result.findings, [f.to_dict() for f in result.files], lang),
                           encoding="utf-8")
    _say(f"    指摘の一覧: {report_path}", f"    findings: {report_path}", lang)
    return {"project": project, "plan": plan, "files": files, "returns": returns, "check": result}
