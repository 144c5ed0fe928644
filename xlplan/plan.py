"""The plan: goals → directions → projects with departments and indicators, read from the master.

The plan master (計画マスタ.xlsx) is a workbook the coordinator edits in Excel. Columns are found by
their header text, so the coordinator may reorder them or add notes columns. Reading never stops
at the first mistake: every problem becomes a Finding with sheet and cell, and what could be read
is still returned.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from difflib import get_close_matches
from dataclasses import dataclass, field
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from .excel_limits import LIST_LIMIT, utf16_length
from .errors import PlanError, XlplanError  # noqa: F401 - PlanError: public here before
from .findings import Finding, has_errors
from .fiscal import FiscalYear, FiscalYearError, fiscal_years, parse_fiscal_year
from .normalise import normalise_quantity

# Sheet names and header labels of the master. Headers are matched after removing spaces, so
# "事業 番号" and "事業番号" are the same column.
SHEET_PLAN = "計画"
SHEET_GOALS = "基本目標"
SHEET_DIRECTIONS = "施策の方向性"
SHEET_PROJECTS = "事業"
SHEET_INDICATORS = "指標"
SHEET_DEPARTMENTS = "担当課"
SHEET_CHOICES = "選択肢"
SHEET_MEMBERS = "委員"
SHEET_DEADLINES = "提出期限"

DEFAULT_DIRECTION_CHOICES = ("継続", "継続（一部見直し）", "見直し", "終了")
def list_formula(choices) -> str:
    """A list validation's formula: the choices as one quoted text, quotes inside doubled."""
    return '"' + ",".join(str(c).replace('"', '""') for c in choices) + '"'


def choice_list_problem(choices) -> tuple[str, str] | None:
    """Why Excel cannot offer ``choices`` as a drop-down list, as (Japanese, English); None when
    it can. The one rule for the master's 今後の方向性 and a layout's declared choices: Excel
    keeps the list as one text "a,b,c", so a comma cannot be inside a choice, and past
    LIST_LIMIT Excel repairs the workbook on opening and drops the validation."""
    commas = [c for c in choices if "," in c]
    if commas:
        return (f"選択肢に半角カンマは使えません（{commas[0]}）",
                f"a choice cannot contain a comma ({commas[0]})")
    units = utf16_length(list_formula(choices)) - 2
    if units > LIST_LIMIT:
        return (f"選択肢が合わせて {units} 文字あります。Excel の一覧は {LIST_LIMIT} 文字までです",
                f"the choices add up to {units} characters; Excel's drop-down list holds {LIST_LIMIT}")
    return None
DEFAULT_SCORE_SCALE = (
    (5, "十分達成できた"),
    (4, "概ね達成できた"),
    (3, "一部達成できた"),
    (2, "あまり達成できなかった"),
    (1, "達成できなかった"),
)
# What a coordinator may type in the 様式 column for the built-in layouts.
LAYOUT_ALIASES = {"事業シート": "department", "評価シート": "department", "": "",
                  "活動報告": "activity", "指標": "indicators", "実績報告": "indicators",
                  "件数": "counts", "相談件数": "counts"}
_DEPARTMENT_SPLIT = re.compile(r"[、,，/／・;；\n]+")
# A line of それぞれの役割 that names who: 「市民：…」「社協: …」 (a short name, then a colon).
_ROLE_LINE = re.compile(r"^\s*([^\s：:①-⑳]{1,10})\s*[：:]")

# The master's own sheet names, headers and 計画-sheet items in English. The master is a
# Japanese workbook, so an English message names them as they are written there, with this
# gloss: 「担当課」 → '担当課' (department).
MASTER_WORDS_EN = {
    SHEET_PLAN: "plan", SHEET_GOALS: "goals", SHEET_DIRECTIONS: "directions",
    SHEET_PROJECTS: "projects", SHEET_INDICATORS: "indicators", SHEET_DEPARTMENTS: "departments",
    SHEET_CHOICES: "choices", SHEET_MEMBERS: "committee members", SHEET_DEADLINES: "deadlines",
    "番号": "number", "基本目標番号": "goal number", "施策の方向性番号": "direction number",
    "事業番号": "project number", "事業名": "project name", "指標番号": "indicator number",
    "取組みの達成目標": "indicator", "単位": "unit", "氏名": "name", "区分": "group", "任期": "term",
    "部": "division", "担当者": "contact", "メール": "e-mail",
    "計画ID": "plan id", "計画名": "plan name", "基本理念": "philosophy",
    "開始年度": "first year", "終了年度": "last year", "評価年度": "evaluation year",
    "実施主体": "organisation", "様式": "layout",  # 提出期限: the sheet above
}


def master_word_en(label: str) -> str:
    """A name of the master's format for an English message: '担当課' (departments)."""
    english = MASTER_WORDS_EN.get(label)
    return f"'{label}' ({english})" if english else f"'{label}'"


@dataclass
class Target:
    """One year's target as the master states it: the text shown, and its number if it has one."""

    text: str
    value: float | int | None
    kind: str  # number | milestone | same-as-before | none | blank | text


@dataclass
class Indicator:
    """取組みの達成目標: what is measured, its unit, and a target per fiscal year."""

    project_id: str
    no: int
    name: str
    unit: str
    targets: dict[FiscalYear, Target]
    source: str = ""

    @property
    def key(self) -> str:
        """Stable id within the plan, e.g. '4-1-1#2'."""
        return f"{self.project_id}#{self.no}"

    @property
    def is_milestone(self) -> bool:
        """True when the targets are words (検討, 実施 …) rather than numbers."""
        kinds = {t.kind for t in self.targets.values()}
        return "number" not in kinds and "milestone" in kinds

    @property
    def is_percent(self) -> bool:
        """True for a percentage indicator (unit %)."""
        return self.unit in ("%", "％")

    def target_for(self, year: FiscalYear) -> Target | None:
        """The target of a year, with '→' resolved to the previous year's target."""
        ordered = sorted(self.targets)
        current = self.targets.get(year)
        if current is None:
            return None
        if current.kind != "same-as-before":
            return current
        earlier = [y for y in ordered if y < year]
        for y in reversed(earlier):
            if self.targets[y].kind != "same-as-before":
                return self.targets[y]
        return current


@dataclass
class Project:
    """事業: a project with its responsible departments, texts and indicators."""

    id: str
    direction_id: str
    name: str
    departments: list[str]
    issues: str = ""
    policy: str = ""
    roles: str = ""
    status: str = "実施中"
    layout: str = ""
    indicators: list[Indicator] = field(default_factory=list)
    source: str = ""
    groups: str = ""

    @property
    def role_groups(self) -> list[str]:
        """区分 (seed 003): who has a role in the project, e.g. 市民 / 福祉事業者 / 社協 / 行政.
        The master's optional 区分 column when filled, else the names that start the lines of
        それぞれの役割 (「市民：…」)."""
        if self.groups.strip():
            return split_departments(self.groups)
        found = []
        for line in self.roles.splitlines():
            match = _ROLE_LINE.match(line)
            if match and match.group(1) not in found:
                found.append(match.group(1))
        return found

    @property
    def ended(self) -> bool:
        """True when the master marks the project as ended (終了)."""
        return self.status.strip() == "終了"


@dataclass
class Direction:
    """施策の方向性 / 基本項目 (e.g. 4-1)."""

    id: str
    goal_no: str
    name: str


@dataclass
class Goal:
    """基本目標 (numbered 1..n)."""

    no: str
    name: str


@dataclass
class Department:
    """担当課: a department that receives a workbook."""

    name: str
    division: str = ""
    contact: str = ""
    email: str = ""


@dataclass
class Member:
    """推進会議委員: a committee member who scores every measure (中間評価)."""

    id: str
    name: str
    group: str = ""
    term: str = ""


@dataclass
class Plan:
    """The whole plan as read from the master."""

    plan_id: str
    name: str
    philosophy: str
    start: FiscalYear
    end: FiscalYear
    year: FiscalYear
    # 提出期限 per evaluated year (the 提出期限 sheet; an older master's single 提出期限 on the
    # 計画 sheet is the 評価年度's).
    deadlines: dict[FiscalYear, dt.date] = field(default_factory=dict)
    organisation: str = ""
    goals: list[Goal] = field(default_factory=list)
    directions: list[Direction] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)
    departments: list[Department] = field(default_factory=list)
    direction_choices: tuple[str, ...] = DEFAULT_DIRECTION_CHOICES
    score_scale: tuple[tuple[int, str], ...] = DEFAULT_SCORE_SCALE
    members: list[Member] = field(default_factory=list)
    layout: str = "department"
    source: Path | None = None

    @property
    def deadline(self) -> dt.date | None:
        """The submission deadline of the evaluated year, if the master gives one."""
        return self.deadlines.get(self.year)

    @property
    def years(self) -> list[FiscalYear]:
        """Every fiscal year of the plan period, in order."""
        return fiscal_years(self.start, self.end)

    def goal(self, no: str) -> Goal | None:
        """The goal with this number, if any."""
        return next((g for g in self.goals if g.no == no), None)

    def direction(self, direction_id: str) -> Direction | None:
        """The direction with this id, if any."""
        return next((d for d in self.directions if d.id == direction_id), None)

    def project(self, project_id: str) -> Project | None:
        """The project with this id, if any."""
        return next((p for p in self.projects if p.id == project_id), None)

    def member(self, member_id: str) -> Member | None:
        """The committee member with this number, if any."""
        return next((m for m in self.members if m.id == member_id), None)

    def layout_of(self, project: Project) -> str:
        """The layout (template id) a project is reported in: its own 様式, else the plan's."""
        chosen = (project.layout or "").strip()
        return LAYOUT_ALIASES.get(chosen, chosen) or self.layout

    def layouts_for(self, department: str) -> list[str]:
        """The layouts of a department's projects, in plan order (one workbook each)."""
        return list(dict.fromkeys(self.layout_of(p) for p in self.projects_for(department)))

    def department_names(self) -> list[str]:
        """Departments in master order."""
        return [d.name for d in self.departments]

    def projects_for(self, department: str) -> list[Project]:
        """Projects a department reports on, in plan order (a project marked 終了 in the master
        is no longer sent out; its earlier years stay in the archive and the merged views)."""
        return [p for p in self.projects if department in p.departments and not p.ended]

    def with_year(self, year) -> "Plan":
        """A copy of the plan evaluated in another fiscal year (any accepted year form)."""
        from dataclasses import replace

        return replace(self, year=parse_fiscal_year(year))


# --------------------------------------------------------------------------------------------
# Reading the master


def _clean(value) -> str:
    """Cell value as trimmed text ('' for blank); integral floats lose their '.0'."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _header_key(text) -> str:
    return re.sub(r"\s+", "", _clean(text))


class _SheetReader:
    """Reads one master sheet as header-addressed rows, recording findings with cell addresses."""

    def __init__(self, wb, name: str, findings: list[Finding], file: str):
        self.name, self.findings, self.file = name, findings, file
        self.ws = wb[name] if name in wb.sheetnames else None
        if self.ws is None:
            findings.append(Finding("master-missing-sheet", file=file, expected=name,
                                    expected_en=master_word_en(name)))
        self.rows = list(self.ws.iter_rows(values_only=True)) if self.ws is not None else []
        self.header = {_header_key(v): i for i, v in enumerate(self.rows[0])} if self.rows else {}
        self.seen: dict[str, str] = {}

    def column(self, label: str, required: bool = True) -> int | None:
        idx = self.header.get(_header_key(label))
        if idx is None and required and self.ws is not None:
            self.findings.append(Finding("master-missing-column", file=self.file, sheet=self.name,
                                         cell="1:1", expected=label,
                                         expected_en=master_word_en(label)))
        return idx

    def records(self):
        """(row number, row values) for every non-blank data row."""
        for number, row in enumerate(self.rows[1:], start=2):
            if any(_clean(v) for v in row):
                yield number, row

    def unique(self, key: str, row: int, col: int | None) -> bool:
        """True the first time a key is seen on this sheet; a repeat is a duplicate-id finding
        that names where the key was first used."""
        if key in self.seen:
            self.add("duplicate-id", row, col, value=key, detail=self.seen[key])
            return False
        self.seen[key] = f"{self.name}!{self.cell(row, col)}"
        return True

    def cell(self, row: int, col: int | None) -> str:
        return f"{get_column_letter(col + 1)}{row}" if col is not None else f"A{row}"

    def value(self, row_values, col):
        if col is None or col >= len(row_values):
            return None
        return row_values[col]

    def text(self, row_values, col) -> str:
        return _clean(self.value(row_values, col))

    def add(self, code: str, row: int, col: int | None, **kw) -> None:
        self.findings.append(Finding(code, file=self.file, sheet=self.name,
                                     cell=self.cell(row, col), **kw))

    def required_text(self, row, row_values, col, label) -> str:
        text = self.text(row_values, col)
        if not text and col is not None:
            self.add("master-missing-value", row, col, expected=label,
                     expected_en=master_word_en(label))
        return text

    def identifier(self, row, row_values, col, label) -> str:
        """An id like '4-1-1'; a date means Excel turned the typed id into a date."""
        raw = self.value(row_values, col)
        if isinstance(raw, (dt.date, dt.datetime)):
            self.add("master-invalid-value", row, col, expected=label, value=str(raw),
                     expected_en=master_word_en(label),
                     detail="Excel が日付に変換しました。セルを文字列にして入力し直してください",
                     detail_en="Excel turned it into a date. Format the cell as text and type it again")
            return ""
        return self.required_text(row, row_values, col, label)


def _read_settings_sheet(wb, findings, file) -> dict[str, tuple[object, str]]:
    """The 計画 sheet: label in column A, value in column B → {label: (value, cell)}."""
    if SHEET_PLAN not in wb.sheetnames:
        findings.append(Finding("master-missing-sheet", file=file, expected=SHEET_PLAN,
                                expected_en=master_word_en(SHEET_PLAN)))
        return {}
    items = {}
    for row in wb[SHEET_PLAN].iter_rows(min_col=1, max_col=2):
        label = _header_key(row[0].value)
        if label:
            items[label] = (row[1].value, row[1].coordinate)
    return items


def _plan_year(items, label, findings, file, required=True) -> FiscalYear | None:
    raw, cell = items.get(label, (None, "B1"))
    if _clean(raw) == "":
        if required:
            findings.append(Finding("master-missing-value", file=file, sheet=SHEET_PLAN, cell=cell,
                                    expected=label, expected_en=master_word_en(label)))
        return None
    try:
        return parse_fiscal_year(raw)
    except FiscalYearError as exc:
        findings.append(Finding("master-invalid-value", file=file, sheet=SHEET_PLAN, cell=cell,
                                expected=label, expected_en=master_word_en(label), value=_clean(raw),
                                detail=str(exc), detail_en=exc.text("en")))
        return None


def _as_date(raw) -> dt.date | None:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    from .normalise import normalise_date

    result = normalise_date(raw)
    return result.value if isinstance(result.value, dt.date) else None


def read_plan(path: Path | str) -> tuple[Plan | None, list[Finding]]:
    """Read a plan master; return (plan or None, findings). Never raises for a bad workbook."""
    path = Path(path)
    findings: list[Finding] = []
    file = path.name
    try:
        wb = load_workbook(path, data_only=True, read_only=False)
    except Exception as exc:  # any failure to open is a finding, never a traceback
        ja, en = why_unopenable(exc, path)
        findings.append(Finding("master-unreadable", file=file, detail=ja, detail_en=en))
        return None, findings
    try:
        plan = _read_plan_workbook(wb, findings, file)
    finally:
        wb.close()
    if plan is not None:
        plan.source = path
    return plan, findings


def why_unopenable(exc: BaseException, path: Path) -> tuple[str, str]:
    """Why a workbook could not be opened, in words a coordinator can act on (Japanese,
    English), never the Python exception's name or text."""
    import zipfile

    from openpyxl.utils.exceptions import InvalidFileException

    if isinstance(exc, FileNotFoundError):
        return f"ファイルが見つかりません: {path}", f"file not found: {path}"
    if isinstance(exc, IsADirectoryError) or Path(path).is_dir():
        return f"ファイルではなくフォルダです: {path}", f"this is a folder, not a file: {path}"
    if isinstance(exc, PermissionError):
        return (f"ファイルを開く権限がないか、ほかのアプリケーションが使用中です: {path}",
                f"no permission to open the file, or another application is using it: {path}")
    if isinstance(exc, (zipfile.BadZipFile, InvalidFileException, KeyError)):
        return ("Excel のブック（.xlsx）ではないか、壊れています。Excel で開いて .xlsx 形式で保存し直してください",
                "it is not an Excel workbook (.xlsx), or it is damaged. Open it in Excel and save it "
                "again as .xlsx")
    if isinstance(exc, OSError):
        return f"ファイルを読み込めません（ディスクまたはネットワークの問題）: {path}", \
            f"the file cannot be read (a disk or network problem): {path}"
    return ("Excel のブックとして読み取れません。Excel で開いて .xlsx 形式で保存し直してください",
            "it cannot be read as an Excel workbook. Open it in Excel and save it again as .xlsx")


def load_plan(path: Path | str, year=None) -> Plan:
    """Read a plan master and raise PlanError when it has errors; optionally set the year."""
    plan, findings = read_plan(path)
    if plan is None or has_errors(findings):
        raise PlanError([f for f in findings if f.severity == "error"])
    return plan.with_year(year) if year is not None else plan


def _read_plan_workbook(wb, findings: list[Finding], file: str) -> Plan | None:
    items = _read_settings_sheet(wb, findings, file)
    start = _plan_year(items, "開始年度", findings, file)
    end = _plan_year(items, "終了年度", findings, file)
    year = _plan_year(items, "評価年度", findings, file)
    if start and end and end < start:
        findings.append(Finding("master-invalid-value", file=file, sheet=SHEET_PLAN,
                                cell=items["終了年度"][1], expected="終了年度", value=end.short,
                                expected_en=master_word_en("終了年度"),
                                detail="開始年度より前です", detail_en="it is before the first year"))
        end = None
    if start and end and year and not (start <= year <= end):
        findings.append(Finding("year-outside-period", file=file, sheet=SHEET_PLAN,
                                cell=items["評価年度"][1], value=year.short,
                                expected=f"{start.short}～{end.short}",
                                expected_en=f"{start.short}–{end.short}"))
    name = _clean(items.get("計画名", (None,))[0])
    if not name:
        findings.append(Finding("master-missing-value", file=file, sheet=SHEET_PLAN,
                                cell=items.get("計画名", (None, "B1"))[1], expected="計画名",
                                expected_en=master_word_en("計画名")))
    plan_id = _clean(items.get("計画ID", (None,))[0]) or (name and re.sub(r"\s+", "", name))
    departments = _read_departments(wb, findings, file)
    goals = _read_goals(wb, findings, file)
    directions = _read_directions(wb, findings, file, goals)
    projects = _read_projects(wb, findings, file, directions, departments)
    direction_choices, scale = _read_choices(wb)
    problem = choice_list_problem(direction_choices)
    if problem:
        findings.append(Finding("master-invalid-value", file=file, sheet=SHEET_CHOICES, expected="今後の方向性",
                                value="／".join(direction_choices), detail=problem[0], detail_en=problem[1]))
    members = _read_members(wb, findings, file)
    if None in (start, end, year) or not name:
        return None
    _read_indicators(wb, findings, file, projects, start, end)
    for project in projects:
        if not project.indicators and not project.ended:
            findings.append(Finding("project-without-indicator", file=file, sheet=SHEET_PROJECTS,
                                    cell=project.source, project=project.id))
    return Plan(
        plan_id=plan_id, name=name, philosophy=_clean(items.get("基本理念", (None,))[0]),
        start=start, end=end, year=year, deadlines=_read_deadlines(wb, items, year, findings, file),
        organisation=_clean(items.get("実施主体", (None,))[0]), goals=goals,
        layout=LAYOUT_ALIASES.get(_clean(items.get("様式", (None,))[0]),
                                  _clean(items.get("様式", (None,))[0])) or "department",
        directions=directions, projects=projects, departments=departments,
        direction_choices=direction_choices, score_scale=scale, members=members,
    )


def _read_deadlines(wb, items, year: FiscalYear | None, findings, file) -> dict[FiscalYear, dt.date]:
    """提出期限 per evaluated year: the optional 提出期限 sheet (評価年度 | 提出期限), and an
    older master's single 提出期限 on the 計画 sheet, which is its 評価年度's (the sheet wins)."""
    deadlines: dict[FiscalYear, dt.date] = {}
    single = _as_date(items.get("提出期限", (None,))[0])
    if single is not None and year is not None:
        deadlines[year] = single
    if SHEET_DEADLINES not in wb.sheetnames:
        return deadlines
    sheet = _SheetReader(wb, SHEET_DEADLINES, findings, file)
    c_year, c_date = sheet.column("評価年度"), sheet.column("提出期限")
    if c_year is None or c_date is None:
        return deadlines
    for row, values in sheet.records():
        try:
            evaluated = parse_fiscal_year(sheet.value(values, c_year))
        except FiscalYearError as exc:
            sheet.add("master-invalid-value", row, c_year, expected="評価年度",
                      value=sheet.text(values, c_year), detail=str(exc))
            continue
        day = _as_date(sheet.value(values, c_date))
        if day is None:
            if sheet.text(values, c_date):
                sheet.add("master-invalid-value", row, c_date, expected="提出期限",
                          value=sheet.text(values, c_date), detail="日付の形式ではありません",
                          detail_en="not a date")
            continue
        deadlines[evaluated] = day
    return deadlines


def deadline_window(year: FiscalYear) -> tuple[dt.date, dt.date]:
    """When a plausible deadline for the results of ``year`` falls: within the following
    fiscal year (April–March). Results are complete after 31 March, and CHECK is taken as of
    the end of July (seed 000): R6's results are due 令和7年7月31日, in R7."""
    following = year + 1
    return following.start_date, following.end_date


def deadline_findings(plan: Plan, today: dt.date | None = None) -> list[Finding]:
    """Warnings before workbooks are sent: the evaluated year has no deadline, its deadline has
    passed, or it lies outside the fiscal year after the evaluated one (last year's date left
    in the master)."""
    today = today or dt.date.today()
    label = plan.year.short
    day = plan.deadline
    file = plan.source.name if plan.source else ""
    if day is None:
        return [Finding("deadline-missing", file=file, sheet=SHEET_DEADLINES, expected=label)]
    first, last = deadline_window(plan.year)
    found = []
    if not first <= day <= last:
        found.append(Finding("deadline-outside-year", file=file, sheet=SHEET_DEADLINES,
                             value=day.isoformat(), expected=label,
                             detail=f"{first.isoformat()}～{last.isoformat()}（{(plan.year + 1).label_ja}）",
                             detail_en=f"{first.isoformat()} to {last.isoformat()}, {(plan.year + 1).label_en}"))
    if day < today:
        found.append(Finding("deadline-past", file=file, sheet=SHEET_DEADLINES,
                             value=day.isoformat(), expected=label))
    return found


def _read_departments(wb, findings, file) -> list[Department]:
    sheet = _SheetReader(wb, SHEET_DEPARTMENTS, findings, file)
    c_name = sheet.column("担当課")
    c_div, c_contact, c_mail = (sheet.column(x, required=False) for x in ("部", "担当者", "メール"))
    result = []
    for row, values in sheet.records():
        name = sheet.required_text(row, values, c_name, "担当課")
        if not name or not sheet.unique(name, row, c_name):
            continue
        result.append(Department(name, sheet.text(values, c_div), sheet.text(values, c_contact),
                                 sheet.text(values, c_mail)))
    return result


def _read_goals(wb, findings, file) -> list[Goal]:
    sheet = _SheetReader(wb, SHEET_GOALS, findings, file)
    c_no, c_name = sheet.column("番号"), sheet.column("基本目標")
    goals = []
    for row, values in sheet.records():
        no = sheet.identifier(row, values, c_no, "番号")
        name = sheet.required_text(row, values, c_name, "基本目標")
        if not no or not sheet.unique(no, row, c_no):
            continue
        goals.append(Goal(no, name))
    return goals


def _read_directions(wb, findings, file, goals) -> list[Direction]:
    sheet = _SheetReader(wb, SHEET_DIRECTIONS, findings, file)
    c_id, c_goal, c_name = sheet.column("番号"), sheet.column("基本目標番号"), sheet.column("施策の方向性")
    goal_nos = {g.no for g in goals}
    result = []
    for row, values in sheet.records():
        did = sheet.identifier(row, values, c_id, "番号")
        goal_no = sheet.identifier(row, values, c_goal, "基本目標番号")
        name = sheet.required_text(row, values, c_name, "施策の方向性")
        if not did or not sheet.unique(did, row, c_id):
            continue
        if goal_no and goal_no not in goal_nos:
            sheet.add("unknown-parent", row, c_goal, value=goal_no, expected=SHEET_GOALS,
                      expected_en=master_word_en(SHEET_GOALS))
        result.append(Direction(did, goal_no, name))
    return result


def _read_members(wb, findings, file) -> list[Member]:
    """The optional 委員 sheet (committee members for 中間評価)."""
    if SHEET_MEMBERS not in wb.sheetnames:
        return []
    sheet = _SheetReader(wb, SHEET_MEMBERS, findings, file)
    c_id, c_name = sheet.column("番号"), sheet.column("氏名")
    c_group, c_term = sheet.column("区分", required=False), sheet.column("任期", required=False)
    members = []
    for row, values in sheet.records():
        mid = sheet.identifier(row, values, c_id, "番号")
        name = sheet.required_text(row, values, c_name, "氏名")
        if not mid or not name or not sheet.unique(mid, row, c_id):
            continue
        members.append(Member(mid, name, sheet.text(values, c_group), sheet.text(values, c_term)))
    return members


def split_departments(text: str) -> list[str]:
    """'長寿社会課、福祉課' → ['長寿社会課', '福祉課'] (also , / ・ and line breaks)."""
    return [part.strip() for part in _DEPARTMENT_SPLIT.split(text or "") if part.strip()]


def _read_projects(wb, findings, file, directions, departments) -> list[Project]:
    sheet = _SheetReader(wb, SHEET_PROJECTS, findings, file)
    c_id, c_dir, c_name = sheet.column("事業番号"), sheet.column("施策の方向性番号"), sheet.column("事業名")
    c_dept = sheet.column("担当課")
    c_issues, c_policy, c_roles, c_status, c_layout, c_groups = (
        sheet.column(x, required=False)
        for x in ("現状と課題", "方針・目標", "それぞれの役割", "状態", "様式", "区分"))
    direction_ids = {d.id for d in directions}
    listed = {d.name for d in departments}
    projects = []
    for row, values in sheet.records():
        pid = sheet.identifier(row, values, c_id, "事業番号")
        did = sheet.identifier(row, values, c_dir, "施策の方向性番号")
        name = sheet.required_text(row, values, c_name, "事業名")
        if not pid or not sheet.unique(pid, row, c_id):
            continue
        if did and did not in direction_ids:
            sheet.add("unknown-parent", row, c_dir, value=did, expected=SHEET_DIRECTIONS,
                      expected_en=master_word_en(SHEET_DIRECTIONS))
        depts = split_departments(sheet.text(values, c_dept))
        if not depts and c_dept is not None:
            sheet.add("project-without-department", row, c_dept, project=pid)
        for dept in depts:
            if dept not in listed:
                sheet.add("department-not-listed", row, c_dept, value=dept, project=pid)
        projects.append(Project(
            id=pid, direction_id=did, name=name, departments=depts,
            issues=sheet.text(values, c_issues), policy=sheet.text(values, c_policy),
            roles=sheet.text(values, c_roles), status=sheet.text(values, c_status) or "実施中",
            layout=sheet.text(values, c_layout), source=sheet.cell(row, c_id),
            groups=sheet.text(values, c_groups)))
    return projects


def _year_columns(sheet: _SheetReader, start, end) -> dict[int, FiscalYear]:
    """Header cells that name a fiscal year; years outside the period are findings."""
    columns = {}
    if not sheet.rows:
        return columns
    for idx, label in enumerate(sheet.rows[0]):
        text = _clean(label)
        if not text:
            continue
        try:
            year = parse_fiscal_year(label)
        except FiscalYearError:
            continue
        if not (start <= year <= end):
            sheet.add("year-outside-period", 1, idx, value=text,
                      expected=f"{start.short}～{end.short}", expected_en=f"{start.short}–{end.short}")
            continue
        columns[idx] = year
    return columns


def _read_indicators(wb, findings, file, projects, start, end) -> None:
    sheet = _SheetReader(wb, SHEET_INDICATORS, findings, file)
    c_pid, c_no = sheet.column("事業番号"), sheet.column("指標番号", required=False)
    c_name, c_unit = sheet.column("取組みの達成目標"), sheet.column("単位", required=False)
    years = _year_columns(sheet, start, end)
    by_id = {p.id: p for p in projects}
    for row, values in sheet.records():
        pid = sheet.identifier(row, values, c_pid, "事業番号")
        name = sheet.required_text(row, values, c_name, "取組みの達成目標")
        project = by_id.get(pid)
        if pid and project is None:
            sheet.add("unknown-parent", row, c_pid, value=pid, expected=SHEET_PROJECTS,
                      expected_en=master_word_en(SHEET_PROJECTS))
            continue
        if project is None:
            continue
        no_text = sheet.text(values, c_no)
        no = int(no_text) if no_text.isdigit() else len(project.indicators) + 1
        key = f"{pid}#{no}"
        if not sheet.unique(key, row, c_no):
            continue
        unit = sheet.text(values, c_unit)
        targets = {}
        for col, year in years.items():
            raw = sheet.value(values, col)
            parsed = normalise_quantity(raw, unit or None, percent=unit in ("%", "％"))
            problem = target_problem(parsed, unit)
            if problem:
                sheet.add(problem, row, col, project=pid, value=_clean(raw), expected=(
                    _shown_number(parsed.value) if problem == "target-loses-words" else unit))
            unit = unit or (parsed.unit or "")
            targets[year] = Target(_clean(raw), parsed.value if parsed.kind == "number" else None,
                                   parsed.kind)
        project.indicators.append(Indicator(pid, no, name, unit, targets, sheet.cell(row, c_name)))


def target_problem(parsed, unit: str) -> str | None:
    """What a coordinator should hear about a target as normalise_quantity read it (the same
    reading as a department's result): words after the number that reading drops (「1回以上」
    is 1: 「以上」 is lost) or a unit other than the indicator's (「30ヶ所」 under 地区)."""
    if parsed.kind != "number" or parsed.problem != "unit-mismatch" or not parsed.unit:
        return None
    found, expected = (unicodedata.normalize("NFKC", u).replace(" ", "") for u in (parsed.unit, unit))
    return "target-loses-words" if found.startswith(expected) else "target-unit-mismatch"


def _shown_number(value) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _read_choices(wb) -> tuple[tuple[str, ...], tuple[tuple[int, str], ...]]:
    """Choice lists; the defaults stand in for a missing sheet or column."""
    if SHEET_CHOICES not in wb.sheetnames:
        return DEFAULT_DIRECTION_CHOICES, DEFAULT_SCORE_SCALE
    rows = list(wb[SHEET_CHOICES].iter_rows(values_only=True))
    if not rows:
        return DEFAULT_DIRECTION_CHOICES, DEFAULT_SCORE_SCALE
    header = {_header_key(v): i for i, v in enumerate(rows[0])}
    choices, scale = [], []
    for row in rows[1:]:
        if "今後の方向性" in header and _clean(row[header["今後の方向性"]]):
            choices.append(_clean(row[header["今後の方向性"]]))
        if "達成度" in header and _clean(row[header["達成度"]]).isdigit():
            label = _clean(row[header["達成度の説明"]]) if "達成度の説明" in header else ""
            scale.append((int(_clean(row[header["達成度"]])), label))
    return tuple(choices) or DEFAULT_DIRECTION_CHOICES, tuple(scale) or DEFAULT_SCORE_SCALE


def require_departments(plan, names, members: bool = False) -> None:
    """XlplanError naming each department (or, with ``members``, committee member) that is not
    in the plan master, with the master's names that look like it (a typo, a missing 課)."""
    known = plan.department_names() + (
        [m.name for m in plan.members] + [m.id for m in plan.members] if members else [])
    unknown = [n for n in names or [] if n not in known]
    if not unknown:
        return
    # The master's names that look like the ones given (a typo, a missing 課), else all.
    near = [m for name in unknown for m in get_close_matches(name, known, n=3, cutoff=0.4)]
    raise XlplanError("department-not-in-master", names=unknown,
                      candidates=list(dict.fromkeys(near)) or plan.department_names())
