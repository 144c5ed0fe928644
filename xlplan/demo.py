"""``xlplan demo``: the whole cycle that exists so far, on the embedded sample plan."""

from __future__ import annotations

from pathlib import Path

from .findings import current_lang
from .generate import generate
from .plan import load_plan
from .project import ProjectFolder, init_project
from .settings import SETTINGS_NAME, load_settings
from .project import MASTER_NAME


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
    return {"project": project, "plan": plan, "files": files}
