"""Generate one locked workbook per department from the plan and a layout template.

The orchestration: which departments get which layout and projects; departments with the
same projects are stamped from one prototype (``xlplan.stamp``), the others rendered from the
layout compiled once (``xlplan.xmlrender``), and what the compiler does not handle through
the openpyxl render (``xlplan.render``).

Only this year's input cells are unlocked; every sheet and the workbook structure are protected
with the coordinator's password; input cells carry Japanese validation messages, a defined name
and a highlight while blank; a very hidden, signed metadata sheet lets xlplan recognise the file.
No macros are ever put in a department workbook.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .files import atomic_write, safe_filename
from .metadata import write_metadata_sheet
from .plan import Plan, Project, require_departments
from .progress import progress
from .render import build_workbook, locked_cells, render_workbook, workbook_metadata
from .settings import Settings
from .stamp import NotStampable, Prototype, new_marker
from .template import TemplateSpec, load_template_spec
from .xmlrender import CompiledLayout, NotCompilable, compile_layout


@dataclass
class GeneratedFile:
    """One department workbook that was written."""

    department: str
    path: Path
    projects: list[str]
    inputs: int
    layout: str = "department"


def workbook_filename(plan: Plan, department: str, spec: TemplateSpec) -> str:
    """'R6_長寿社会課_事業シート・評価表.xlsx': year and department first, so files sort well."""
    return f"{plan.year.short}_{safe_filename(department)}_{safe_filename(spec.title or spec.id)}.xlsx"


def generate(plan: Plan, out_dir: Path, settings: Settings, *, departments: list[str] | None = None,
             templates_dir: Path | None = None, history=None) -> list[GeneratedFile]:
    """Write one workbook per department and layout (all departments with projects, or those
    named). Most plans use one layout; a project may name another in the master's 様式 column."""
    folder = templates_dir or settings.templates_dir
    wanted = departments or [d for d in plan.department_names() if plan.projects_for(d)]
    require_departments(plan, wanted)
    out_dir = Path(out_dir)
    results = []
    specs: dict[str, TemplateSpec] = {}
    work = {department: [(layout, [p for p in plan.projects_for(department) if plan.layout_of(p) == layout])
                         for layout in plan.layouts_for(department)] for department in wanted}
    # Departments that get the same projects in a layout are stamped from one prototype; a
    # department with projects of its own is rendered from the layout compiled once.
    shared = Counter((layout, tuple(p.id for p in projects)) for jobs in work.values()
                     for layout, projects in jobs)
    prototypes: dict[tuple, _GroupPrototype | None] = {}
    compiled: dict[str, CompiledLayout | None] = {}
    for department, layout, projects in (
            (d, layout, projects) for d in progress(wanted, "配布用ブックを作成", "generating")
            for layout, projects in work[d]):
        spec = specs.get(layout) or specs.setdefault(layout, load_template_spec(layout, folder))
        group = (layout, tuple(p.id for p in projects))
        path = out_dir / workbook_filename(plan, department, spec)
        data = None
        if shared[group] > 1:
            if group not in prototypes:
                prototypes[group] = _prototype(plan, settings, spec, history, projects)
            prototype = prototypes[group]
            if prototype is not None and prototype.fits(department, history):
                data, inputs = prototype.stamp(department, settings.key_bytes), prototype.inputs
        if data is None:
            if layout not in compiled:
                compiled[layout] = compile_layout(plan, settings, spec)
            data, inputs = _render_compiled(compiled[layout], department, projects, history)
        if data is not None:
            written = atomic_write(path, lambda tmp: tmp.write_bytes(data))
        else:
            wb, context = build_workbook(plan, department, settings, spec, history, projects=projects)
            written = atomic_write(path, wb.save)
            inputs = len(context.inputs)
        results.append(GeneratedFile(department, written, [p.id for p in projects], inputs, layout))
    return results


def _render_compiled(layout: "CompiledLayout | None", department: str, projects: list[Project], history):
    """(bytes, number of inputs) of the XML render, or (None, 0) when it does not apply."""
    if layout is None:
        return None, 0
    try:
        return layout.render(department, projects, history)
    except NotCompilable:  # a value the XML render does not write: the openpyxl render does
        return None, 0


@dataclass
class _GroupPrototype:
    """The rendered workbook shared by the departments that get the same projects in a layout."""

    prototype: Prototype
    inputs: int
    # The history look-ups rendering made: a department whose history answers any of them
    # gets prefilled values, so its workbook is rendered in full.
    asked: list[tuple]

    def fits(self, department: str, history) -> bool:
        """True when ``department``'s workbook is the prototype with its name stamped in."""
        return history is None or all(history.value(department, *key) is None for key in self.asked)

    def stamp(self, department: str, key: bytes) -> bytes:
        """The department's workbook as bytes."""
        return self.prototype.stamp(department, key)


class _RecordingHistory:
    """Stands in for the archive's history while a prototype renders: answers nothing, and
    remembers what was asked."""

    def __init__(self):
        self.asked: list[tuple] = []

    def value(self, department, project, field_name, indicator, year):
        self.asked.append((project, field_name, indicator, year))
        return None


def _prototype(plan: Plan, settings: Settings, spec: TemplateSpec, history,
               projects: list[Project]) -> _GroupPrototype | None:
    """Render the layout once with a marker for the department (None when it cannot be stamped)."""
    recorder = _RecordingHistory() if history is not None else None
    marker = new_marker()
    wb, context = render_workbook(plan, marker, settings, spec, recorder, projects=projects)
    metadata = workbook_metadata(plan, marker, spec, context, wb)
    inputs = {(i.sheet, i.cell) for i in context.inputs}
    marked = {(sheet, r): cells for sheet, rows in locked_cells(wb, inputs).items()
              for r, cells in rows.items() if any(isinstance(v, str) and marker in v for _, v in cells)}
    write_metadata_sheet(wb, None, settings.key_bytes)
    wb.calculation.fullCalcOnLoad = True
    buffer = io.BytesIO()
    wb.save(buffer)
    try:
        prototype = Prototype.from_workbook_bytes(buffer.getvalue(), marker, metadata, marked)
    except NotStampable:
        return None
    return _GroupPrototype(prototype, len(context.inputs), recorder.asked if recorder else [])
