"""What a department workbook holds and the openpyxl render of it.

The rules both renders share (placeholders and their values, which inputs are required, the
field kinds' validations and looks, the cover's blank counts, protection, the signed metadata)
and the reference render through openpyxl, used for layouts the compiled render
(``xlplan.xmlrender``) does not handle, for feedback copies and scoring forms. Only this year's
input cells are unlocked; every sheet and the workbook structure are protected with the
coordinator's password; input cells carry Japanese validation messages, a defined name and a
highlight while blank; a very hidden, signed metadata sheet lets xlplan recognise the file.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, PatternFill, Protection
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation

from . import __version__
from .excel_limits import VALIDATION_TEXT_LIMITS, cut_text
from .fiscal import FiscalYear
from .metadata import METADATA_SHEET, row_hash, write_metadata_sheet
from .normalise import BLANK_CHARACTERS, CONTROL_CHARACTERS
from .ooxml.text import clean_text, sheet_name, stored_value, taken_keys
from .plan import Indicator, Member, Plan, Project, list_formula
from .schema import FieldKind, InputCell, LayoutRef, PlanRef, SumCheck, WorkbookMetadata
from .settings import Settings
from .stamp import is_marker
from .template import (Formula, Input, Link, Locked, RenderedCell, TemplateError, TemplateSpec,
                       cell_range, render_sheet, template_fill)

# 中間評価: what a committee member picks; the archive stores 1–5, or None for 評価しない.
RATINGS = ("①できていない", "②あまりできていない", "③どちらともいえない", "④できている",
           "⑤よくできている")
ABSTAIN = "評価しない"


@dataclass(frozen=True)
class FieldSpec:
    """What an input field holds and how the department is told about it."""

    kind: FieldKind
    required: bool
    label: str


# Fields a template may place with {{input.<name>}}; 'result' and 'do' come from
# {{result[k]}} and {{do.text}} in the evaluated year.
FIELDS: dict[str, FieldSpec] = {
    "result": FieldSpec(FieldKind.QUANTITY, True, "結果"),
    "do": FieldSpec(FieldKind.TEXT, True, "取組み内容"),
    "achievement": FieldSpec(FieldKind.TEXT, True, "達成状況と成果"),
    "issues": FieldSpec(FieldKind.TEXT, True, "課題"),
    "direction": FieldSpec(FieldKind.CHOICE, True, "今後の方向性"),
    "action": FieldSpec(FieldKind.TEXT, True, "具体的な取組み内容"),
    "eval_result": FieldSpec(FieldKind.TEXT, True, "実績"),
    "eval_name": FieldSpec(FieldKind.TEXT, False, "事業名"),
    "eval_comment": FieldSpec(FieldKind.TEXT, True, "評価（効果や反省点等）"),
    "eval_score": FieldSpec(FieldKind.SCORE, True, "達成度"),
    "next_plan": FieldSpec(FieldKind.TEXT, True, "次年度計画"),
    "next_name": FieldSpec(FieldKind.TEXT, False, "次年度事業名"),
    "rating": FieldSpec(FieldKind.RATING, True, "評価点"),
    "rating_comment": FieldSpec(FieldKind.TEXT, False, "意見"),
}

BLANKS_MARK = "\u00a7BLANKS\u00a7"


@dataclass
class RenderContext:
    """What placeholders are resolved against: the plan, the recipient (a department, or a
    committee member) and, filled while rendering, the input cells and sheet names."""

    plan: Plan
    department: str
    spec: TemplateSpec
    history: object = None
    member: Member | None = None
    summaries: dict[str, str] = field(default_factory=dict)
    projects: list[Project] | None = None
    inputs: list[InputCell] = field(default_factory=list)
    sheet_of_project: dict[str, str] = field(default_factory=dict)
    merged: bool = False  # rendering the merged workbook's sheets: no input hints
    # Formula text of each cover cell that counts one sheet's missing inputs → that sheet.
    counting_formulas: dict[str, set[str]] = field(default_factory=dict)
    _by_sheet: dict = field(default_factory=dict, repr=False, compare=False)
    _indexed: int = field(default=-1, repr=False, compare=False)

    def inputs_on(self, sheet: str | None) -> list[InputCell]:
        """The input cells of one sheet, in rendering order."""
        # Indexed by sheet (inputs are only ever appended): a cover listing 5,000 projects asks
        # once per project.
        if self._indexed != len(self.inputs):
            self._by_sheet = {}
            for i in self.inputs:
                self._by_sheet.setdefault(i.sheet, []).append(i)
            self._indexed = len(self.inputs)
        return list(self._by_sheet.get(sheet, ()))


def build_workbook(plan: Plan, department: str, settings: Settings, spec: TemplateSpec,
                   history=None, prepare=None, member: Member | None = None,
                   summaries: dict[str, str] | None = None, projects: list[Project] | None = None):
    """The department's workbook in memory (openpyxl), with its input-cell records.

    ``prepare(wb, context)``, if given, runs after rendering and before protection and
    signing (feedback copies fill values back and add their 要修正 sheet there). A layout
    without a ``project`` sheet (the committee's scoring form) has no per-project sheets; for a
    committee ``member`` the recipient is the member and every measure of the plan is listed.
    """
    wb, context = render_workbook(plan, department, settings, spec, history, prepare, member,
                                  summaries, projects)
    metadata = workbook_metadata(plan, department, spec, context, wb)
    write_metadata_sheet(wb, metadata, settings.key_bytes)
    wb.calculation.fullCalcOnLoad = True
    return wb, context


def render_workbook(plan: Plan, department: str, settings: Settings, spec: TemplateSpec,
                    history=None, prepare=None, member: Member | None = None,
                    summaries: dict[str, str] | None = None, projects: list[Project] | None = None):
    """build_workbook without the metadata sheet: rendered, prepared and protected."""
    wb = spec.load_workbook()
    context = RenderContext(plan, department, spec, history, member, dict(summaries or {}), projects)
    roles = spec.sheets
    used = [r for r in ("cover", "project", "evaluation") if r in roles]
    spec.require_sheets(wb, used)
    templates = {role: wb[roles[role]] for role in used}
    for role, ws in templates.items():
        ws.title = f"__template_{role}"
    input_fill = template_fill(wb, spec, "入力欄", "FFF9E5")
    blank_fill = template_fill(wb, spec, "未入力", "FCE4D6")
    reference_fill = template_fill(wb, spec, "参照のみ", "F2F2F2")
    taken = set(roles.values()) | set(wb.sheetnames) | {METADATA_SHEET}
    projects = recipient_projects(context) if "project" in templates else []
    rendered: list[RenderedCell] = []
    keys = taken_keys(taken)
    for project in projects:
        title = sheet_name(f"{project.id} {project.name}", taken, keys=keys)
        context.sheet_of_project[project.id] = title
        ws = wb.create_sheet(title)
        rendered += render_sheet(templates["project"], ws, placeholder_resolver(context, project),
                                 block_items(context, project), {}, roles["project"])
    evaluation_title = sheet_name(roles["evaluation"], taken - {roles["evaluation"]})
    ws_eval = wb.create_sheet(evaluation_title)
    rendered += render_sheet(templates["evaluation"], ws_eval, placeholder_resolver(context, None),
                             block_items(context, None), {}, roles["evaluation"])
    for item in rendered:
        if item.reference:
            reference_look(wb[item.sheet].cell(item.row, item.column), reference_fill)
    _finish_inputs(wb, context, [r for r in rendered if r.input], input_fill, blank_fill)
    cover_title = sheet_name(roles["cover"], taken - {roles["cover"]})
    ws_cover = wb.create_sheet(cover_title, 0)
    cover_context = {"evaluation_sheet": evaluation_title}
    render_sheet(templates["cover"], ws_cover, placeholder_resolver(context, None), block_items(context, None),
                 cover_context, roles["cover"])
    _resolve_blank_totals(ws_cover, context)
    for ws in list(templates.values()) + ([wb[roles["styles"]]] if roles.get("styles") in wb.sheetnames else []):
        wb.remove(ws)
    if prepare is not None:
        prepare(wb, context)
    protect_workbook(wb, settings.sheet_password)
    wb.active = 0
    return wb, context


# --- placeholders ---------------------------------------------------------------------------


def block_items(context: RenderContext, project: Project | None):
    """The function that tells render_sheet what an ``each …`` block repeats over."""
    plan = context.plan

    def items(tag: str) -> list[dict]:
        if tag == "indicator" and project is not None:
            return [{"indicator": ind} for ind in project.indicators]
        if tag == "indicator":  # a sheet listing every indicator (seed 002's results table)
            return [{"project": p, "indicator": ind} for p in recipient_projects(context)
                    for ind in p.indicators]
        if tag == "year":
            return [{"do_year": y} for y in plan.years]
        if tag == "project":
            return [{"project": p} for p in recipient_projects(context)]
        raise TemplateError("unknown-block", name=tag)
    return items


def recipient_projects(context: RenderContext) -> list[Project]:
    """A department's projects in this layout; for a committee member every measure still
    running."""
    if context.projects is not None:
        return context.projects
    if context.member is not None:
        return [p for p in context.plan.projects if not p.ended]
    return context.plan.projects_for(context.department)


_YEAR_SLOT = re.compile(r"(year|target|result)\[(\d+)\]")


def placeholder_resolver(context: RenderContext, sheet_project: Project | None):
    """The function that gives each ``{{…}}`` placeholder its value (or Input, Formula …)."""
    plan = context.plan
    # Worked out once per sheet, not per cell: the plan's values, and each project's (keyed by
    # the project's sheet, which is named before any cell links to it).
    plan_values: dict = {}
    project_values: dict[tuple, dict] = {}

    def resolve(key: str, ctx: dict):
        project = ctx.get("project") or sheet_project
        if key.startswith("hint:"):
            # Text for the person filling the form (「▼ 一覧から選んでください」): shown in the
            # department's workbook, left out of the merged sheets, which hold data.
            return "" if context.merged else key[5:].strip()
        match = _YEAR_SLOT.fullmatch(key)
        if match:
            if "years" not in plan_values:
                plan_values["years"] = plan.years
            return _year_slot(context, project, ctx.get("indicator"), match.group(1), int(match.group(2)),
                              plan_values["years"])
        if "values" not in plan_values:
            plan_values["values"] = _plan_values(plan, context.department)
        simple = plan_values["values"]
        if key in simple:
            return simple[key]
        if key.startswith("member.") and context.member is not None:
            member = context.member
            return {"member.id": member.id, "member.name": member.name,
                    "member.group": member.group, "member.term": member.term}[key]
        if key == "project.summary" and project is not None:
            return context.summaries.get(project.id) or _not_submitted()
        if key.startswith(("project.", "goal.", "direction.")):
            if project is None:
                raise KeyError(key)
            cached = (project.id, context.sheet_of_project.get(project.id))
            if cached not in project_values:
                project_values[cached] = _project_values(plan, project, context)
            return project_values[cached][key]
        if key == "target.current" and ctx.get("indicator") is not None:
            target = ctx["indicator"].target_for(plan.year)
            if target is None:
                return Locked("")
            return Locked(target.value if target.kind == "number" else target.text)
        if key.startswith("indicator."):
            ind: Indicator = ctx["indicator"]
            return {"indicator.name": ind.name, "indicator.unit": ind.unit,
                    "indicator.no": ind.no}[key]
        if key.startswith("prev.") and project is not None:
            # Last year's reported value of a field (seed 001 shows two years side by side).
            indicator = ctx.get("indicator")
            past = None
            if context.history is not None:
                past = context.history.value(context.department, project.id, key[5:],
                                             indicator.no if indicator else None, plan.year - 1)
            return Locked(past, reference=True)
        if key == "do.year":
            return ctx["do_year"].short
        if key == "do.text":
            return _year_input(context, project, "do", ctx["do_year"])
        if key.startswith("input."):
            name = key.split(".", 1)[1]
            if (name not in FIELDS and name not in context.spec.fields) or project is None:
                raise KeyError(key)
            return Input(name, {"project": project, "indicator": ctx.get("indicator")})
        return _cover_value(context, key, ctx, project)
    return resolve


def _not_submitted() -> str:
    """The status word for 'no submission yet', from the archive's one vocabulary."""
    from .status import STATUS_MISSING

    return STATUS_MISSING


def _plan_values(plan: Plan, department: str) -> dict:
    deadline = plan.deadline
    return {
        "plan.name": plan.name, "plan.id": plan.plan_id, "plan.philosophy": plan.philosophy,
        "plan.organisation": plan.organisation,
        "plan.period": f"{plan.start.label_ja}～{plan.end.label_ja}",
        "year.label": plan.year.label_ja, "year.short": plan.year.short,
        "next_year.label": (plan.year + 1).label_ja, "next_year.short": (plan.year + 1).short,
        "prev_year.label": (plan.year - 1).label_ja, "prev_year.short": (plan.year - 1).short,
        "department": department,
        "deadline": _japanese_date(deadline) if deadline else "",
    }


def _japanese_date(day: dt.date) -> str:
    fy = FiscalYear(day.year)
    era = fy.label_ja.replace("年度", "年")
    weekday = "月火水木金土日"[day.weekday()]
    return f"{era}{day.month}月{day.day}日（{weekday}）"


def _project_values(plan: Plan, project: Project, context: RenderContext) -> dict:
    direction = plan.direction(project.direction_id)
    goal = plan.goal(direction.goal_no) if direction else None
    return {
        "project.id": project.id, "project.name": project.name, "project.issues": project.issues,
        "project.policy": project.policy, "project.roles": project.roles,
        "project.departments": departments_label(project.departments, context.department),
        "project.status": project.status,
        "project.sheet": Link(context.sheet_of_project.get(project.id, ""),
                              _link_target(context.sheet_of_project.get(project.id, ""))),
        "goal.no": goal.no if goal else "", "goal.name": goal.name if goal else "",
        "direction.id": direction.id if direction else project.direction_id,
        "direction.name": direction.name if direction else "",
    }


DEPARTMENTS_SHOWN = 10


def departments_label(departments: list[str], recipient: str | None) -> str:
    """The 担当課 cell: every department joined with 「、」, or, for a project shared by more than
    DEPARTMENTS_SHOWN (a survey sent to every municipality), the recipient and a count, so the
    cell and the file do not grow with the number of recipients ("福祉課ほか1,740担当")."""
    if len(departments) <= DEPARTMENTS_SHOWN:
        return "、".join(departments)
    # A prototype's marker stands for one of its group, who all report on this project.
    own = recipient in departments or is_marker(recipient)
    first = [recipient] if own else list(departments[:DEPARTMENTS_SHOWN - 1])
    return f"{'、'.join(first)}ほか{len(departments) - len(first):,}担当"


def _link_target(sheet: str) -> str:
    return "'" + sheet.replace("'", "''") + "'!A1"


def _year_slot(context: RenderContext, project, indicator, what: str, slot: int, years=None):
    years = years or context.plan.years
    if slot < 1:
        raise KeyError(f"{what}[{slot}]")
    year = years[slot - 1] if slot <= len(years) else None
    if what == "year":
        return year.short if year else ""
    if indicator is None:
        raise KeyError(f"{what}[{slot}]")
    if year is None:
        return Locked(None)
    if what == "target":
        target = indicator.targets.get(year)
        if target is None:
            return Locked("")
        return Locked(target.value if target.kind == "number" else target.text)
    return _year_input(context, project, "result", year, indicator)


def _year_input(context: RenderContext, project, field_name: str, year: FiscalYear, indicator=None):
    if year == context.plan.year:
        return Input(field_name, {"project": project, "indicator": indicator, "year": year})
    past = None
    if context.history is not None and year < context.plan.year:
        past = context.history.value(context.department, project.id, field_name,
                                     indicator.no if indicator else None, year)
    return Locked(past, reference=True)


def _cover_value(context: RenderContext, key: str, ctx: dict, project):
    if key == "inputs.count" and project is not None:
        return len(context.inputs_on(context.sheet_of_project.get(project.id)))
    if key == "inputs.blank" and project is not None:
        return _sheet_count(context, context.sheet_of_project.get(project.id))
    evaluation_sheet = ctx.get("evaluation_sheet")
    if key == "evaluation.sheet" and evaluation_sheet:
        return Link(evaluation_sheet, _link_target(evaluation_sheet))
    if key == "evaluation.count" and evaluation_sheet:
        return len(context.inputs_on(evaluation_sheet))
    if key == "evaluation.blank" and evaluation_sheet:
        return _sheet_count(context, evaluation_sheet)
    if key == "total.count":
        return len(context.inputs)
    if key == "total.blank":
        return Formula(f"={BLANKS_MARK}")
    if key == "total.status":
        return Formula(f'=IF({BLANKS_MARK}=0,"{COMPLETE_MESSAGE}",'
                       f'"未入力の欄が "&{BLANKS_MARK}&" か所あります（色の付いた欄）。")')
    raise KeyError(key)


COMPLETE_MESSAGE = "すべての欄が入力されました。保存して提出してください。"


def _sheet_count(context: RenderContext, sheet: str | None) -> Formula:
    """The cover cell that counts one sheet's missing inputs; remembered so that the cover's
    total adds this cell instead of counting the sheet a second time."""
    formula = Formula("=" + missing_count_expression(context.inputs_on(sheet)))
    context.counting_formulas.setdefault(formula.text, set()).add(sheet)
    return formula


def _resolve_blank_totals(ws, context: RenderContext) -> None:
    """Give the cover's total its expression (see resolve_total_text)."""
    replace = resolve_total_text(context, [(c.coordinate, c.value) for row in ws.iter_rows() for c in row])
    for row in ws.iter_rows():
        for c in row:
            if isinstance(c.value, str) and BLANKS_MARK in c.value:
                c.value = replace(c.value)


def resolve_total_text(context: RenderContext, cells: list[tuple[str, object]]):
    """The function that puts the cover's total into a cell's text, given the cover's cells
    (coordinate, value) in reading order: the sum of the cover's per-sheet counting cells, plus
    the missing inputs of every sheet that has no counting cell on the cover (a one-sheet
    layout's cover, or a custom cover that shows the total only). One rule for the openpyxl
    and the XML render."""
    found, counted = [], set()
    for coordinate, value in cells:
        sheets = context.counting_formulas.get(value) if isinstance(value, str) else None
        if sheets:
            found.append(coordinate)
            counted |= sheets
    uncounted = [i for i in context.inputs if i.sheet not in counted]
    terms = found + ([missing_count_expression(uncounted)] if uncounted else [])
    total = f"SUM({','.join(terms)})" if found else (terms[0] if terms else "0")
    return lambda text: text.replace(BLANKS_MARK, total)


# --- required inputs: one rule for the cover's count and for check ---------------------------


def input_required(spec: FieldSpec, indicator: Indicator | None, year: FiscalYear | None) -> bool:
    """Whether an input cell must be filled: the field is required, and a result of a year
    whose target is 「-」 or blank in the master is not (nothing was planned that year).

    This flag is stored per cell in the metadata: ``check`` reports a blank required cell as
    missing (FieldKind.missing_code), and the cover's formula counts exactly the blank required
    cells (missing_count_expression)."""
    if not spec.required:
        return False
    if indicator is not None and year is not None:
        target = indicator.target_for(year)
        return target is None or target.kind not in ("none", "blank")
    return True


def blank_condition(reference: str) -> str:
    """Excel condition: the cell (or each cell of a range) is blank as check reads it, that is
    it holds only normalise.BLANK_CHARACTERS (is_blank_text) and no formula. CLEAN drops the
    control characters, TRIM the spaces, and each other blank character is substituted first.
    check reports a formula as formula-in-input and an error value as excel-error, never as
    missing, so neither is blank here: ISFORMULA (Excel 2013+, stored with its _xlfn. prefix)
    for the first; for the second, 1/TRUE is a number while 1/FALSE and an error are errors, a
    test that works cell by cell inside SUMPRODUCT without array entry (IFERROR would need it).
    The highlight of a blank required cell uses it too."""
    text = reference
    for character in _FORMULA_SUBSTITUTED:
        text = f'SUBSTITUTE({text},"{character}"," ")'
    return f'ISNUMBER(1/((TRIM(CLEAN({text}))="")*NOT(_xlfn.ISFORMULA({reference}))))'


# The blank characters that neither CLEAN (codes 0–31 in Excel) nor TRIM (the space) removes.
_FORMULA_SUBSTITUTED = [c for c in BLANK_CHARACTERS if c not in CONTROL_CHARACTERS + " "]


def _blank_test(reference: str) -> str:
    # SUMPRODUCT makes a range evaluate cell by cell in Excel and LibreOffice without an
    # array formula.
    return f"SUMPRODUCT(--({blank_condition(reference)}))"


def missing_count_expression(inputs: list[InputCell]) -> str:
    """An Excel expression (without '=') that counts the required inputs among ``inputs`` that
    are blank: the number of missing-* findings check gives for them. Runs of required cells
    in one column are counted as one range, so the formula stays short for long tables."""
    required = [i for i in inputs if i.required]
    if not required:
        return "0"
    terms = []
    for sheet, column, first, last, name in _required_runs(required):
        if first == last:
            terms.append(_blank_test(name))
        else:
            quoted = "'" + sheet.replace("'", "''") + "'"
            terms.append(_blank_test(f"{quoted}!${column}${first}:${column}${last}"))
    return "+".join(terms)


def _required_runs(required: list[InputCell]):
    """(sheet, column, first row, last row, name of the first cell) for each run of required
    input cells in consecutive rows of one column."""
    # Sorted by sheet, column as Excel orders them (B before AA), then row.
    cells = sorted(((i.sheet, *_column_row(i.cell), i.name) for i in required),
                   key=lambda c: (c[0], len(c[1]), c[1], c[2]))
    runs: list[list] = []
    for sheet, column, row, name in cells:
        last = runs[-1] if runs else None
        if last and last[0] == sheet and last[1] == column and last[3] == row - 1:
            last[3] = row
        else:
            runs.append([sheet, column, row, row, name])
    return [tuple(r) for r in runs]


def _column_row(coordinate: str) -> tuple[str, int]:
    column = coordinate.rstrip("0123456789")
    return column, int(coordinate[len(column):])


# --- input cells ------------------------------------------------------------------------------


def field_spec(name: str, template: TemplateSpec) -> FieldSpec:
    """The built-in field, or one the layout declares in its .toml (``[fields.<name>]``)."""
    if name in FIELDS:
        return FIELDS[name]
    declared = template.fields[name]
    return FieldSpec(FieldKind(declared.get("kind", FieldKind.TEXT)),
                     bool(declared.get("required", True)), str(declared.get("label", name)))


def _field_kind(spec: FieldSpec, indicator: Indicator | None) -> FieldKind:
    if spec.kind != FieldKind.QUANTITY or indicator is None:
        return spec.kind
    if indicator.is_milestone:
        return FieldKind.MILESTONE
    return FieldKind.PERCENT if indicator.is_percent else FieldKind.QUANTITY


def input_cell(context: RenderContext, sheet: str, coordinate: str, field_name: str, payload: dict,
               project_index: dict[str, int]) -> InputCell:
    """The metadata record of one rendered input cell: its defined name, kind, label, unit,
    choices and whether it is required. ``payload`` holds the project and, when the cell is
    about them, the indicator and the year; ``project_index`` numbers the plan's projects."""
    project: Project = payload["project"]
    indicator: Indicator | None = payload.get("indicator")
    year: FiscalYear | None = payload.get("year")
    spec = field_spec(field_name, context.spec)
    declared = context.spec.fields.get(field_name, {})
    kind = _field_kind(spec, indicator)
    name = f"xp_p{project_index[project.id]:02d}_{field_name}"
    if indicator is not None:
        name += f"_i{indicator.no}"
    label = spec.label
    if indicator is not None and year is not None:
        label = f"{indicator.name}（{year.short} {spec.label}）"
    elif indicator is not None:  # a declared field per indicator (今後の方針)
        label = f"{indicator.name}（{spec.label}）"
    elif field_name == "do" and year is not None:
        label = f"{year.short} {spec.label}"
    elif kind == FieldKind.RATING or field_name == "rating_comment" or declared:
        label = f"{project.id} {project.name}（{spec.label}）"
    unit = declared.get("unit") or (indicator.unit if indicator and kind.is_number else "")
    choices = tuple(declared["choices"]) if declared.get("choices") else (
        tuple(context.plan.direction_choices) if kind == FieldKind.CHOICE else None)
    return InputCell(name, sheet, coordinate, project.id, field_name, kind,
                     input_required(spec, indicator, year), label, indicator.no if indicator else None,
                     year.short if year else None, unit, choices)


def _finish_inputs(wb, context: RenderContext, rendered: list[RenderedCell], input_fill, blank_fill) -> None:
    validations: dict[tuple, DataValidation] = {}
    for item, record in input_records(context, rendered):
        ws = wb[item.sheet]
        wb.defined_names[record.name] = DefinedName(record.name, attr_text=cell_range(item.sheet, item.coordinate))
        input_look(ws[item.coordinate], record.kind, input_fill)
        _add_validation(ws, validations, input_validation(record.kind, record, context.plan), item.coordinate)
        if record.required:
            ws.conditional_formatting.add(item.coordinate, blank_rule(item.coordinate, blank_fill))


def input_records(context: RenderContext, rendered: list[RenderedCell]):
    """Each rendered input cell with its metadata record (also appended to ``context.inputs``):
    name, field, kind, required flag, label, unit and choices, one rule for every renderer."""
    plan = context.plan
    project_index = {p.id: i for i, p in enumerate(plan.projects, start=1)}
    for item in rendered:
        record = input_cell(context, item.sheet, item.coordinate, item.input.field, item.input.payload,
                            project_index)
        context.inputs.append(record)
        yield item, record


def input_look(cell, kind: FieldKind, input_fill: str) -> None:
    """Give an openpyxl cell the look of an input cell of ``kind``: unlocked, coloured, text
    wrapped at the top, numbers formatted."""
    cell.protection = Protection(locked=False)
    cell.fill = PatternFill("solid", fgColor=input_fill)
    if kind.wraps_text:
        old = cell.alignment
        cell.alignment = Alignment(horizontal=old.horizontal, vertical="top", wrap_text=True)
    if kind.is_number:
        cell.number_format = "#,##0.0" if kind == FieldKind.PERCENT else "#,##0.##"


def reference_look(cell, reference_fill: str) -> None:
    """Give an openpyxl cell the 'reference only' look (a past year's value)."""
    cell.fill = PatternFill("solid", fgColor=reference_fill)


def blank_rule(coordinate: str, blank_fill: str) -> FormulaRule:
    """The conditional format that highlights a required input cell while it is blank."""
    return FormulaRule(formula=[blank_condition(coordinate)],
                       fill=PatternFill("solid", fgColor=blank_fill, bgColor=blank_fill))


def _add_validation(ws, validations: dict[tuple, DataValidation], dv: DataValidation,
                    coordinate: str) -> None:
    """Apply ``dv`` to a cell, sharing one validation among cells of a sheet only when
    everything the person sees and every rule is the same (a shared validation has one input
    message, so cells of different indicators each get their own)."""
    key = (ws.title, dv.type, dv.operator, dv.formula1, dv.formula2, dv.allow_blank,
           dv.showErrorMessage, dv.showInputMessage, dv.errorStyle, dv.errorTitle, dv.error,
           dv.promptTitle, dv.prompt)
    if key not in validations:
        validations[key] = dv
        ws.add_data_validation(dv)
    validations[key].add(coordinate)


def input_validation(kind: FieldKind, record: InputCell, plan: Plan) -> DataValidation:
    """Data validation with Japanese prompt and error texts for one kind of input."""
    unit = record.unit
    if kind == FieldKind.QUANTITY:
        dv = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0")
        dv.error = f"0 以上の数値を入力してください。単位（{unit}）は入力不要です。" if unit else "0 以上の数値を入力してください。"
        dv.prompt = f"結果を数値で入力してください（単位: {unit}）。" if unit else "結果を数値で入力してください。"
    elif kind == FieldKind.PERCENT:
        dv = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0")
        dv.error = "0 以上の数値を入力してください（例: 89.1％ なら 89.1）。"
        dv.prompt = "割合を％の数値で入力してください（例: 89.1）。"
    elif kind == FieldKind.SCORE:
        dv = DataValidation(type="whole", operator="between", formula1="1", formula2="5")
        labels = "／".join(f"{s}: {t}" for s, t in plan.score_scale)
        dv.error = "達成度は 1～5 の整数で入力してください。"
        dv.prompt = f"1～5 の整数で入力してください。{labels}"
    elif kind == FieldKind.CHOICE:
        choices = record.choices or list(plan.direction_choices)
        dv = DataValidation(type="list", formula1=list_formula(choices))
        dv.error = "一覧から選んでください: " + "／".join(choices)
        dv.prompt = "▼ をクリックして一覧から選んでください。"
    elif kind == FieldKind.RATING:
        options = ",".join(RATINGS + (ABSTAIN,))
        dv = DataValidation(type="list", formula1=f'"{options}"')
        dv.error = "一覧から選んでください（①～⑤、または評価しない）。"
        dv.prompt = "▼ をクリックして①～⑤から選んでください。評価しない場合は「評価しない」を選びます。"
    elif kind == FieldKind.MILESTONE:
        dv = DataValidation()
        dv.prompt = "実施状況を入力してください（例: 実施、一部実施、未実施、検討中）。"
    else:
        dv = DataValidation()
        dv.prompt = f"{record.label}を入力してください。セル内の改行は Alt+Enter です。"
    dv.allow_blank = True
    # Words (text, milestones) are free; every other kind refuses what breaks its rule.
    dv.showErrorMessage = kind not in (FieldKind.TEXT, FieldKind.MILESTONE)
    dv.showInputMessage = True
    dv.errorStyle = "stop"
    dv.errorTitle = "入力内容を確認してください"
    dv.promptTitle = record.label
    for attribute, limit in VALIDATION_TEXT_LIMITS.items():
        # A label or unit from the master may hold a character no XML can (a decoded _x0001_).
        text = getattr(dv, attribute)
        setattr(dv, attribute, cut_text(clean_text(text) if text else text, limit))
    return dv


def protect_workbook(wb, password: str) -> None:
    for ws in wb.worksheets:
        ws.protection.sheet = True
        ws.protection.password = password
        # Departments may widen rows for long text; everything else stays locked.
        ws.protection.formatRows = False
        ws.protection.selectLockedCells = False
        ws.protection.selectUnlockedCells = False
    wb.security = WorkbookProtection(workbookPassword=password, lockStructure=True)


# --- metadata -------------------------------------------------------------------------------


def locked_fingerprint(rows_by_sheet: dict[str, dict[int, list[tuple[int, object]]]]) -> dict:
    """Per sheet: a hash per row of the locked, non-formula content (see metadata.row_hash)."""
    return {title: {str(r): h for r, cells in rows.items() if (h := row_hash(cells))}
            for title, rows in rows_by_sheet.items()}


def locked_cells(wb, inputs: set[tuple[str, str]]) -> dict[str, dict[int, list]]:
    result: dict[str, dict[int, list]] = {}
    for ws in wb.worksheets:
        rows: dict[int, list] = {}
        for row in ws.iter_rows():
            for cell in row:
                value = stored_value(cell.value)  # as the reader will see it (escapes decoded)
                if value is None or (ws.title, cell.coordinate) in inputs:
                    continue
                if cell.data_type == "f":  # a real formula; text that starts with "=" counts
                    continue
                rows.setdefault(cell.row, []).append((cell.column, value))
        result[ws.title] = rows
    return result


def workbook_metadata(plan: Plan, department: str, spec: TemplateSpec, context: RenderContext, wb) -> WorkbookMetadata:
    inputs = {(i.sheet, i.cell) for i in context.inputs}
    return metadata_data(plan, department, spec, context, [ws.title for ws in wb.worksheets],
                         locked_cells(wb, inputs),
                         {ws.title: len(ws.data_validations.dataValidation) for ws in wb.worksheets})


def metadata_data(plan: Plan, department: str, spec: TemplateSpec, context: RenderContext,
                  sheets: list[str], locked: dict[str, dict[int, list]],
                  validations: dict[str, int]) -> WorkbookMetadata:
    """The metadata of a rendered workbook (signed by the caller), from its sheet names, its
    locked cells per sheet and row, and its number of validations per sheet: one function for
    the openpyxl render and the XML render. Plan, layout, year, recipient and the input cells
    (``context.inputs``), stamped with this xlplan and the time."""
    return WorkbookMetadata(
        plan=PlanRef(plan.plan_id, plan.name), template=LayoutRef(spec.id, spec.version),
        year=plan.year.short, department=department, fields=tuple(context.inputs), kind=spec.id,
        member=context.member.id if context.member else None, generator=f"xlplan {__version__}",
        generated_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        projects=tuple(p.id for p in recipient_projects(context)), sheets=tuple(sheets),
        fingerprint=locked_fingerprint(locked), validations=validations,
        checks=tuple(SumCheck(str(c["total"]), tuple(c["parts"])) for c in context.spec.checks))
