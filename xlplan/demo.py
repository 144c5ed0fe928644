"""``xlplan demo``: the whole cycle that exists so far, on the embedded sample plan."""

from __future__ import annotations

from pathlib import Path

from .archive import Archive, ArchiveHistory, submission_status
from .collect import collect
from .feedback import write_feedback
from .language import counted, pick
from .merge import merged_tables, write_merged
from .scoring import generate_scoring
from .simulate import simulate_returns, simulate_scoring
from .generate import generate
from .plan import load_plan
from .project import ProjectFolder, init_project
from .project import MASTER_NAME, feedback_dir, merged_path, scoring_dir
from .settings import SETTINGS_NAME, load_settings
from .status import status_lines_text, status_rows


def _say(ja: str, en: str, lang: str | None) -> None:
    print(pick(ja, en, lang))


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
         f"    {plan.name}: {counted(len(plan.projects), 'project')}, "
         f"{counted(len(plan.departments), 'department')}, "
         f"evaluating {plan.year.label_en}", lang)
    files = generate(plan, project.outbox, project.settings)
    _say(f"[2] 担当課ごとのファイルを作成: {project.outbox}",
         f"[2] department workbooks written to {project.outbox}", lang)
    for f in files:
        _say(f"    {f.path.name}（事業 {len(f.projects)} 件、入力欄 {f.inputs} か所）",
             f"    {f.path.name} ({counted(len(f.projects), 'project')}, "
             f"{counted(f.inputs, 'input cell')})", lang)
    returns = simulate_returns({f.department: f.path for f in files}, plan, project.inbox)
    _say(f"[3] 各課の入力を模擬（入力ミスを含む）: {project.inbox} に {len(returns)} ファイル",
         f"[3] simulated {counted(len(returns), 'returned file')} (with mistakes) in {project.inbox}",
         lang)
    archive = Archive.for_settings(project.settings)
    summary = collect(archive, [project.inbox], project.settings, plan)
    _say(f"[4] 回収・チェック・保管: 新規 {len(summary.new)} ファイル（{archive.db_path.name} に記録）",
         f"[4] collected, checked and archived {counted(len(summary.new), 'new file')} "
         f"({archive.db_path.name})", lang)
    lines, others = submission_status(archive, plan)
    # The status as `xlplan status` shows it: the same rows and words (xlplan.status).
    rows = status_rows(lines, others, plan, lang, project.settings.timezone)
    for text in status_lines_text(rows, plan, lang)[1:]:
        print("  " + text)
    merged = write_merged(archive, plan, project.settings,
                          merged_path(project.results, plan.year), csv_dir=project.results / "csv")
    _say(f"[5] 集計ファイル: {merged}", f"[5] merged workbook: {merged}", lang)
    feedback = write_feedback(archive, plan, project.settings, feedback_dir(project.root))
    _say(f"[6] 差し戻し用ファイル: {len(feedback)} 件（{feedback_dir(project.root)}）",
         f"[6] {counted(len(feedback), 'return copy')} ({feedback_dir(project.root)})", lang)
    forms = generate_scoring(plan, scoring_dir(project.root), project.settings, archive)
    _say(f"[7] 推進会議委員の中間評価票: {len(forms)} 件（{scoring_dir(project.root)}）",
         f"[7] {counted(len(forms), 'committee scoring form')} ({scoring_dir(project.root)})", lang)
    scored = simulate_scoring({f.member.id: f.path for f in forms}, plan, project.inbox / "中間評価")
    collect(archive, [project.inbox / "中間評価"], project.settings, plan)
    merged = write_merged(archive, plan, project.settings,
                          merged_path(project.results, plan.year), csv_dir=project.results / "csv")
    committee = merged_tables(archive, plan).committee
    rated = committee.dropna(subset=["評価点（平均）"]) if committee is not None else []
    _say(f"[8] 委員 {len(scored)} 件を回収し、中間評価結果（施策 {len(rated)} 件の平均点）を集計ファイルに追加",
         f"[8] collected {counted(len(scored), 'committee form')}; the committee's results "
         f"(averages for {counted(len(rated), 'measure')}) added to the merged workbook", lang)
    next_year = run_next_year(project, plan, archive, lang)
    return {"project": project, "plan": plan, "files": files, "returns": returns,
            "archive": archive, "merged": merged, "feedback": feedback, "forms": forms,
            "next_year": next_year}


def run_next_year(project: ProjectFolder, plan, archive: Archive, lang: str | None) -> dict:
    """The following year: sheets prefilled with this year's reported results, collected and
    merged, so the 推移 sheet shows two years."""
    plan2 = plan.with_year(plan.year + 1)
    y = plan2.year.short
    files = generate(plan2, project.root / f"配布_{y}", project.settings,
                     history=ArchiveHistory(archive, plan2))
    shown = _prefilled_example(files, plan, lang)
    _say(f"[9] {plan2.year.label_ja}の配布ファイル: {len(files)} 件（{plan.year.label_ja}の実績を表示・変更不可）"
         + (f"。例: {shown}" if shown else ""),
         f"[9] {plan2.year.label_en}: {counted(len(files), 'workbook')} (showing {plan.year.label_en} "
         "results, locked)"
         + (f"; e.g. {shown}" if shown else ""), lang)
    returns = simulate_returns({f.department: f.path for f in files}, plan2, project.root / f"回収_{y}",
                               seed=2025)
    collect(archive, [project.root / f"回収_{y}"], project.settings, plan2)
    merged = write_merged(archive, plan2, project.settings, merged_path(project.results, plan2.year))
    _say(f"[10] {plan2.year.label_ja}: {len(returns)} ファイルを回収・集計（推移シートに 2 年分）: {merged}",
         f"[10] {plan2.year.label_en}: collected {counted(len(returns), 'file')} and merged (the "
         f"trends sheet shows two years): {merged}",
         lang)
    return {"plan": plan2, "files": files, "merged": merged}


def _prefilled_example(files, plan, lang: str | None = None) -> str:
    """One earlier-year value as it appears in a next-year sheet, for the demo's summary."""
    from openpyxl import load_workbook

    from .metadata import METADATA_SHEET, unverified_metadata

    for f in files:
        wb = load_workbook(f.path)
        metadata = unverified_metadata([list(r) for r in wb[METADATA_SHEET].iter_rows(values_only=True)])
        for field in metadata.fields:
            if field.field == "result":
                ws = wb[field.sheet]
                cell = ws[field.cell]
                past = ws.cell(cell.row, cell.column - 1).value
                if past not in (None, ""):
                    label = field.label.split("（")[0]
                    return pick(f"{f.department}「{label}」{plan.year.short} 実績 {past}",
                                f"{f.department} '{label}' {plan.year.short} result {past}", lang)
    return ""
