"""差し戻し: a fresh copy for each department that has something to fix.

The copy is regenerated from the plan (never the department's own file saved over), with the
department's values filled back in, the problem cells highlighted with a comment giving the
message, and a 要修正 sheet listing every problem with a link to its cell. It is protected and
signed like any department workbook, so the corrected file comes back through the same checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill

from .archive import Archive
from .files import atomic_write
from .findings import Finding
from .generate import workbook_filename
from .render import build_workbook
from .merge import put
from .ooxml.text import clean_text
from .plan import Plan
from .progress import progress
from .settings import Settings
from .template import load_template_spec

PROBLEM_FILL = PatternFill("solid", fgColor="FFC7CE")
SHEET_NAME = "要修正"


@dataclass
class FeedbackFile:
    """One return copy written for a department."""

    department: str
    path: Path
    findings: int


def write_feedback(archive: Archive, plan: Plan, settings: Settings, out_dir: Path,
                   severities=("error", "warning")) -> list[FeedbackFile]:
    """Write a return copy for every department whose current submission has findings, while
    holding the project's lock (one run at a time)."""
    with archive.lock:
        return _write_feedback(archive, plan, settings, out_dir, severities)


def _write_feedback(archive: Archive, plan: Plan, settings: Settings, out_dir: Path,
                    severities) -> list[FeedbackFile]:
    written = []
    current = archive.department_current(plan)
    for (layout, department), submission in progress(list(current.items()), "差し戻し用ブックを作成",
                                                     "feedback copies"):
        findings = [f for f in archive.findings([submission.id]) if f.severity in severities]
        if not findings:
            continue
        spec = load_template_spec(layout, settings.templates_dir)
        projects = [p for p in plan.projects_for(department) if plan.layout_of(p) == layout]
        values = archive.values([submission.id])
        prepare = _prepare(values, findings)
        wb, _ = build_workbook(plan, department, settings, spec, prepare=prepare, projects=projects)
        path = Path(out_dir) / f"差し戻し_{workbook_filename(plan, department, spec)}"
        written.append(FeedbackFile(department, atomic_write(path, wb.save), len(findings)))
    return written


def _prepare(values: list[dict], findings: list[Finding]):
    def prepare(wb, context):
        by_key = {(v["project"], v["field"], v["indicator_no"], v["year"]): v for v in values}
        cell_of = {}
        for record in context.inputs:
            key = (record.project, record.field, record.indicator, record.year)
            v = by_key.get(key)
            cell = wb[record.sheet][record.cell]
            if v is not None and v["raw"] is not None:
                put(cell, v["raw"])
            if v is not None:
                cell_of[(v["sheet"], v["cell"])] = (record.sheet, record.cell)
        _mark_problems(wb, findings, cell_of)
        _problem_sheet(wb, findings, cell_of)
    return prepare


def _mark_problems(wb, findings: list[Finding], cell_of) -> None:
    notes: dict[tuple[str, str], list[str]] = {}
    for f in findings:
        target = cell_of.get((f.sheet, f.cell))
        if target:
            notes.setdefault(target, []).append(f.message("ja"))
    for (sheet, ref), messages in notes.items():
        cell = wb[sheet][ref]
        cell.fill = PROBLEM_FILL
        cell.comment = Comment(clean_text("\n".join(messages)), "xlplan", width=300, height=120)


def _problem_sheet(wb, findings: list[Finding], cell_of) -> None:
    ws = wb.create_sheet(SHEET_NAME, 1)
    ws.sheet_properties.tabColor = "C00000"
    headers = ("No", "重要度", "事業", "項目", "場所", "入力値", "直してほしいこと")
    widths = (5, 8, 10, 30, 30, 16, 60)
    put(ws.cell(1, 1), f"要修正の一覧（{len(findings)} 件）: 赤い欄を直して、このファイルで再提出してください。")
    ws.cell(1, 1).font = Font(name="游ゴシック", bold=True, size=12)
    for col, (name, width) in enumerate(zip(headers, widths), start=1):
        c = ws.cell(3, col)
        put(c, name)
        c.font = Font(name="游ゴシック", bold=True)
        c.fill = PatternFill("solid", fgColor="D9E1F2")
        ws.column_dimensions[c.column_letter].width = width
    severity = {"error": "エラー", "warning": "警告", "info": "情報"}
    for n, f in enumerate(findings, start=1):
        row = 3 + n
        target = cell_of.get((f.sheet, f.cell))
        where = f"{target[0]}!{target[1]}" if target else (f.location() or "ファイル全体")
        for col, value in enumerate((n, severity[f.severity], f.project, f.field, where,
                                     f.value, f.message("ja")), start=1):
            c = ws.cell(row, col)
            put(c, value)
            c.alignment = Alignment(vertical="top", wrap_text=col in (4, 5, 7))
        if target:
            link = ws.cell(row, 5)
            link.hyperlink = "#'" + target[0].replace("'", "''") + f"'!{target[1]}"
            link.font = Font(color="0563C1", underline="single")
    ws.freeze_panes = "A4"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True

