"""The merged tables: the current submissions of a year, from the archive, as rows.

Pure reading: nothing here writes a file. ``TABLE_SPECS`` is the one registry of the tables —
their order is the order of the sheets of the merged workbook and of the CSV files, and each
spec carries its columns, its rows, and how its sheet is laid out (widths, wrapped columns,
paper, print area)."""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

from ..archive import Archive, submission_status
from ..plan import Plan
from ..rounding import average, rate
from ..status import STATUS_COLUMNS, status_rows, zone

if TYPE_CHECKING:  # pandas is imported where DataFrames are made: writing the workbook needs none
    import pandas as pd


@dataclass
class MergedTables:
    """The merged tables of one year, as DataFrames with Japanese column names."""

    status: pd.DataFrame
    findings: pd.DataFrame
    overview: pd.DataFrame
    indicators: pd.DataFrame
    goals: pd.DataFrame
    trend: pd.DataFrame
    values: pd.DataFrame
    committee: pd.DataFrame | None = None


@dataclass
class Table:
    """One merged table, streamed: its columns and a function giving its rows (dicts) afresh
    each call, read from the archive as they are needed."""

    name: str
    columns: list[str]
    rows: Callable[[], Iterator[dict]]

    def frame(self) -> pd.DataFrame:
        """The table as a DataFrame (None for blanks, so a score stays 4, not 4.0)."""
        import pandas as pd

        df = pd.DataFrame(list(self.rows()), columns=self.columns)
        return df.astype(object).where(df.notna(), None)


class MergeSource:
    """What the merge reads from the archive: the submissions that count, and the values of
    one project at a time (never every value at once, so memory stays flat as N grows).

    Four tables and the 事業シート read the projects in turn. The projects read first are
    kept until ``VALUES_KEPT`` values are held, so the later passes do not query them again:
    a city plan (hundreds of small projects) is read once, a survey of thousands of
    departments (a few large projects) mostly re-read; the memory is bounded either way."""

    VALUES_KEPT = 50_000

    def __init__(self, archive: Archive, plan: Plan, timezone: str | None = None):
        self.archive, self.plan = archive, plan
        self.tz = zone(timezone)  # times are shown in the project's local time
        current = archive.department_current(plan)
        # Of the submissions that count, the merge keeps what it uses (a fifth of a record): a
        # merge of thousands of departments holds that for its whole run.
        self.current = {key: Counted(s.id, s.archived_path) for key, s in current.items()}
        self.ids = [s.id for s in current.values()]
        self._status: tuple[list, list] | None = submission_status(archive, plan, current)
        self._kept: dict[str, _ProjectValues] = {}
        self._kept_count = 0
        self._last: _ProjectValues | None = None
        self._complete = False  # every value of the current submissions is kept
        self._tried_all = False

    @property
    def lines(self) -> list:
        """The status lines (``submission_status``): per department and layout, then per
        committee member."""
        return self._status_lines()[0]

    @property
    def others(self) -> list:
        """The files that count for nobody (``submission_status``)."""
        return self._status_lines()[1]

    def _status_lines(self) -> tuple[list, list]:
        if self._status is None:  # let go after the tables that show them: read again
            self._status = submission_status(self.archive, self.plan)
        return self._status

    def release_status(self) -> None:
        """Let go of the status lines (every submission of the year, whole) once the tables
        that show them are written: the tables after them need none."""
        self._status = None

    def project_values(self, project_id: str) -> "_ProjectValues":
        """(department, project, field, indicator no, year) → value, for one project."""
        if not self._tried_all:
            self._tried_all = True
            if _few_values(self.plan):
                self._keep_all_if_few()
        found = self._kept.get(project_id)
        if found is not None:
            return found
        if self._last is not None and self._last.project_id == project_id:
            return self._last
        if self._complete:
            return _ProjectValues(project_id, ())  # every value is kept: this project has none
        self._last = None  # beyond the kept ones, one project's values in memory at a time
        values = _ProjectValues(project_id, self.archive.iter_values(self.ids, project=project_id,
                                                                      columns=_VALUE_QUERY))
        if self._kept_count + values.count <= self.VALUES_KEPT:
            self._kept[project_id] = values
            self._kept_count += values.count
        else:
            self._last = values
        return values

    @property
    def values_kept(self) -> int:
        """How many values are held for later passes (at most ``VALUES_KEPT``)."""
        return self._kept_count

    def _keep_all_if_few(self) -> None:
        """Read every value in one query when there are at most ``VALUES_KEPT`` (a city plan's
        hundreds of small projects: one query instead of one per project)."""
        groups = values_by_project(self.archive, self.ids, _VALUE_QUERY, self.VALUES_KEPT, _ProjectValues)
        if groups is not None:
            self._kept = groups
            self._kept_count = sum(g.count for g in groups.values())
            self._complete = True

    def submitted(self, project, department: str) -> bool:
        """Whether the department's workbook holding this project has come in."""
        return (self.plan.layout_of(project), department) in self.current


class Counted:
    """What the merge keeps of a submission that counts."""

    __slots__ = ("id", "archived_path")

    def __init__(self, sid: int, archived_path: str):
        self.id, self.archived_path = sid, archived_path


class _Value:
    """The part of an archived value the merge uses: a project of 2,000 departments has some
    26,000 values, and a whole row is about ten times larger."""

    __slots__ = ("value", "raw", "number", "kind", "planned")

    def __init__(self, row: dict):
        value = self.value = row["value"]
        # Most typed values are stored as typed: one object for both, not two equal copies.
        self.raw = value if row["raw"] == value and type(row["raw"]) is type(value) else row["raw"]
        self.number = value if row["number"] == value and type(row["number"]) is type(value) else row["number"]
        self.kind, self.planned = _intern(row["kind"]), row["planned"]

    def __getitem__(self, name: str):
        return getattr(self, name)


class _ProjectValues:
    """One project's values of every department, looked up by (department, project, field,
    indicator no, year) like a dict: held per department with the (field, indicator, year)
    keys shared, which takes about half the memory of one key tuple per value."""

    def __init__(self, project_id: str, rows=()):
        self.project_id = project_id
        self.by_department: dict[str, dict[tuple, _Value]] = {}
        self.count = 0
        self._shared: dict[tuple, tuple] = {}
        for v in rows:
            self.add(v)

    def add(self, v: dict) -> None:
        """Keep one archived value (a row of ``iter_values`` with ``_VALUE_QUERY``'s columns)."""
        self.count += 1
        inner = (_intern(v["field"]), v["indicator_no"], _intern(v["year"]))
        inner = self._shared.setdefault(inner, inner)
        self.by_department.setdefault(_intern(v["department"]), {})[inner] = _Value(v)

    def get(self, key: tuple, default=None):
        """The value at (department, project, field, indicator no, year), or ``default``."""
        department, project_id, field, indicator, year = key
        if project_id != self.project_id:
            return default
        return self.by_department.get(department, {}).get((field, indicator, year), default)


_VALUE_QUERY = ("department", "project", "field", "indicator_no", "year") + _Value.__slots__


def _few_values(plan: Plan) -> bool:
    """Whether a year's values are likely few enough to read in one query (about 13 per
    project and department: a city plan's hundreds of projects of one department each, not a
    survey's projects of thousands of departments). ``values_by_project`` stops at its limit
    whatever this guesses."""
    return sum(len(p.departments) for p in plan.projects) * 13 <= MergeSource.VALUES_KEPT


def values_by_project(archive: Archive, ids: list[int], columns: tuple[str, ...], limit: int,
                      make: Callable[[str], object]) -> dict[str, object] | None:
    """Every value of the submissions ``ids`` in one query, added to one ``make(project)`` per
    project (``.add(row)``) — or None as soon as there are more than ``limit`` values (the
    caller then reads one project at a time, and memory stays bounded)."""
    groups: dict[str, object] = {}
    values = archive.iter_values(ids, columns=columns)
    for n, row in enumerate(values, start=1):
        if n > limit:
            values.close()
            return None
        group = groups.get(row["project"])
        if group is None:
            group = groups[row["project"]] = make(row["project"])
        group.add(row)
    return groups


def _intern(text):
    return sys.intern(text) if isinstance(text, str) else text




_SEVERITY_JA = {"error": "エラー", "warning": "警告", "info": "情報"}
FINDING_COLUMNS = ["重要度", "コード", "担当課", "ファイル", "事業", "項目", "シート", "セル", "入力値",
                   "内容", "保管先"]


def _finding_rows(source: MergeSource) -> Iterator[dict]:
    """Every finding of the counted, the committee's and the not-counted submissions, each
    linked to its own archived copy."""
    members = [line.submission for line in source.lines if line.kind == "scoring" and line.submission]
    for submission in list(source.current.values()) + members + source.others:
        for f in source.archive.findings([submission.id]):
            yield {"重要度": _SEVERITY_JA[f.severity], "コード": f.code, "担当課": f.department,
                   "ファイル": f.file, "事業": f.project, "項目": f.field, "シート": f.sheet,
                   "セル": f.cell, "入力値": f.value, "内容": f.message("ja"),
                   "保管先": submission.archived_path}
    # The tables after 要確認 need no status line: let every submission of the year go.
    source.release_status()


def text_of(v) -> object:
    """The text of an archived value as shown (the typed value, else what was typed)."""
    if v is None:
        return None
    return v["value"] if v["value"] is not None else v["raw"]


def _hierarchy(plan: Plan, project):
    direction = plan.direction(project.direction_id)
    goal = plan.goal(direction.goal_no) if direction else None
    return (f"{goal.no}. {goal.name}" if goal else "",
            f"{direction.id} {direction.name}" if direction else project.direction_id)


def _overview_names(plan: Plan) -> dict[str, str]:
    """一覧's headers as seed 003 prints them: the year in the result and plan columns."""
    this, following = plan.year.label_ja, (plan.year + 1).label_ja
    return {"result": f"{this}実績", "name": f"{this}事業名", "plan": f"{following}計画",
            "next_name": f"{following}事業名"}


def overview_columns(plan: Plan) -> list[str]:
    """一覧 (seed 003's 資料No.3): per project and department, with the project's 区分 and
    それぞれの役割, and this year's result and next year's plan under their years."""
    names = _overview_names(plan)
    return ["基本目標", "施策の方向性", "事業", "区分", "それぞれの役割", "担当課", names["result"],
            names["name"], "評価", "達成度", names["plan"], names["next_name"], "今後の方向性", "状態"]


def _overview_rows(source: MergeSource) -> Iterator[dict]:
    plan = source.plan
    names = _overview_names(plan)
    for project in plan.projects:
        goal, direction = _hierarchy(plan, project)
        by_key = source.project_values(project.id)
        for dept in project.departments:
            get = lambda field: text_of(by_key.get((dept, project.id, field, None, None)))  # noqa: E731
            missing = "（終了）" if project.ended else "（未提出）"
            yield {"基本目標": goal, "施策の方向性": direction,
                   "事業": f"{project.id} {project.name}", "区分": "\n".join(project.role_groups),
                   "それぞれの役割": project.roles or None, "担当課": dept,
                   names["result"]: get("eval_result") if source.submitted(project, dept) else missing,
                   names["name"]: get("eval_name"), "評価": get("eval_comment"),
                   "達成度": get("eval_score"), names["plan"]: get("next_plan"),
                   names["next_name"]: get("next_name"), "今後の方向性": get("direction"),
                   "状態": project.status}


INDICATOR_COLUMNS = ["事業番号", "事業名", "指標", "担当課", "年度", "目標", "目標値", "実績（入力）",
                     "実績", "単位", "達成率"]


def _rate(number, target) -> float | None:
    if target is None or not isinstance(target.value, (int, float)) or isinstance(target.value, bool):
        return None
    return rate(number, target.value)


def _indicator_rows(source: MergeSource) -> Iterator[dict]:
    plan = source.plan
    for project in plan.projects:
        by_key = source.project_values(project.id)
        for ind in project.indicators:
            for year in plan.years:
                target = ind.target_for(year)
                for dept in project.departments:
                    v = by_key.get((dept, project.id, "result", ind.no, year.short))
                    if v is None and year != plan.year:
                        continue
                    yield {"事業番号": project.id, "事業名": project.name, "指標": ind.name,
                           "担当課": dept, "年度": year.short,
                           "目標": target.text if target else None,
                           "目標値": target.value if target else None,
                           "実績（入力）": v["raw"] if v else None, "実績": v["value"] if v else None,
                           "単位": ind.unit or None, "達成率": _rate(v["number"] if v else None, target)}


VALUE_COLUMNS = ["担当課", "様式", "事業", "項目", "年度", "目標", "入力値", "値", "単位", "シート", "セル"]


def _value_rows(source: MergeSource) -> Iterator[dict]:
    """Every value of every current department workbook, whatever its layout (long form)."""
    layout_of = {s.id: layout for (layout, _), s in source.current.items()}
    stored = {s.id: s.archived_path for s in source.current.values()}
    for v in source.archive.iter_values(source.ids):
        yield {"担当課": v["department"], "様式": layout_of.get(v["submission_id"], ""),
               "事業": v["project"], "項目": v["label"], "年度": v["year"] or source.plan.year.short,
               "目標": v["planned"], "入力値": v["raw"], "値": v["value"], "単位": v["unit"],
               "シート": v["sheet"], "セル": v["cell"], "保管先": stored.get(v["submission_id"], "")}


def _reported_years(plan: Plan):
    return [y for y in plan.years if y <= plan.year]


def _trend_columns(plan: Plan) -> list[str]:
    columns = ["事業", "指標", "担当課", "単位"]
    for year in _reported_years(plan):
        columns += [f"{year.short} 目標", f"{year.short} 実績", f"{year.short} 達成率"]
    return columns


class _Reported:
    """The indicator results of one project reported in each year, by (indicator no,
    department, year)."""

    def __init__(self, year_of: dict[int, str]):
        self.year_of = year_of
        self.by_key: dict[tuple, _Value] = {}

    def add(self, v: dict) -> None:
        """Keep a value if it is a result of the year its submission counts for."""
        year = self.year_of[v["submission_id"]]
        if v["field"] == "result" and v["year"] == year:
            self.by_key[(v["indicator_no"], v["department"], year)] = _Value(v)


def _trend_rows(archive: Archive, plan: Plan) -> Iterator[dict]:
    year_of: dict[int, str] = {}  # submission id → the year it counts for
    for year in _reported_years(plan):
        for s in archive.department_current(plan.with_year(year)).values():
            year_of[s.id] = year.short
    ids = list(year_of)
    columns = _VALUE_QUERY + ("submission_id",)
    # Every year's values in one query when they are few (a city plan); else one project at a time.
    groups = values_by_project(archive, ids, columns, MergeSource.VALUES_KEPT, lambda _: _Reported(year_of)) \
        if _few_values(plan) else None
    for project in plan.projects:
        if not project.indicators:
            continue
        if groups is not None:
            found = groups.get(project.id)
            reported = found.by_key if found is not None else {}
        else:
            one = _Reported(year_of)
            for v in archive.iter_values(ids, project=project.id, columns=columns):
                one.add(v)
            reported = one.by_key
        for ind in project.indicators:
            for dept in project.departments:
                row = {"事業": f"{project.id} {project.name}", "指標": ind.name, "担当課": dept,
                       "単位": ind.unit or None}
                for year in _reported_years(plan):
                    target = ind.target_for(year)
                    v = reported.get((ind.no, dept, year.short))
                    text = target.text if target else None
                    if v is not None and v["planned"] not in (None, text):
                        text = f"{text}（当時 {v['planned']}）"
                    row[f"{year.short} 目標"] = text
                    row[f"{year.short} 実績"] = v["value"] if v else None
                    row[f"{year.short} 達成率"] = _rate(v["number"] if v else None, target)
                yield row


def trend_table(archive: Archive, plan: Plan) -> pd.DataFrame:
    """推移: per indicator and department, target and result for every year reported so far.
    A target revised in the master since a year was reported shows as 'new（当時 old）'."""
    return Table("推移", _trend_columns(plan), lambda: _trend_rows(archive, plan)).frame()


def _goal_columns(plan: Plan) -> list[str]:
    return (["区分", "番号", "名称", "事業数", "担当課数（延べ）", "提出済", "平均達成度"]
            + [f"達成度{score}" for score in range(1, 6)] + list(plan.direction_choices))


def _goal_rows(source: MergeSource) -> Iterator[dict]:
    plan = source.plan
    # Per project, the scores (1–5) and chosen directions of its departments: small, so the
    # groups below can be counted without keeping any project's values.
    scores: dict[str, list[float]] = {}
    choices: dict[str, Counter] = {}
    for project in plan.projects:
        by_key = source.project_values(project.id)
        pairs = [by_key.get((d, project.id, "eval_score", None, None)) for d in project.departments]
        scores[project.id] = [s["number"] for s in pairs if s and s["number"] is not None
                              and s["kind"] == "score" and 1 <= s["number"] <= 5]
        choices[project.id] = Counter(text_of(by_key.get((d, project.id, "direction", None, None)))
                                      for d in project.departments)
    groups = [("基本目標", g.no, g.name, [p for p in plan.projects if (plan.direction(p.direction_id)
              and plan.direction(p.direction_id).goal_no == g.no)]) for g in plan.goals]
    groups += [("施策の方向性", d.id, d.name, [p for p in plan.projects if p.direction_id == d.id])
               for d in plan.directions]
    for level, number, name, projects in groups:
        numbers = [n for p in projects for n in scores[p.id]]
        chosen = sum((choices[p.id] for p in projects), Counter())
        row = {"区分": level, "番号": number, "名称": name, "事業数": len(projects),
               "担当課数（延べ）": sum(len(p.departments) for p in projects),
               "提出済": sum(source.submitted(p, d) for p in projects for d in p.departments),
               "平均達成度": average(numbers)}
        for score in range(1, 6):
            row[f"達成度{score}"] = sum(1 for n in numbers if n == score)
        for choice in plan.direction_choices:
            row[choice] = chosen.get(choice, 0)
        yield row




_COMMITTEE_TITLE_NOTE = ("評価点数・・・①できていない ②あまりできていない ③どちらともいえない "
                         "④できている ⑤よくできている")


def _committee(source: MergeSource) -> Table | None:
    """中間評価結果, when committee members replied (seed 003's table)."""
    if not any(line.kind == "scoring" for line in source.lines):
        return None
    from ..scoring import committee_table  # pandas: only when members replied

    committee = committee_table(source.archive, source.plan)
    return Table("中間評価結果", list(committee.columns), lambda: iter(committee.to_dict("records")))


def _committee_titles(plan: Plan) -> tuple[str, ...]:
    return (f"{plan.name} 中間評価結果（{plan.year.label_ja}）", f"基本理念：{plan.philosophy}",
            _COMMITTEE_TITLE_NOTE)


@dataclass(frozen=True)
class TableSpec:
    """One merged table: how its rows are read and how its sheet is laid out.

    ``table(source)`` gives the streamed :class:`Table` (None when the table does not apply
    this year); ``attribute`` is its field of :class:`MergedTables`."""

    name: str
    attribute: str
    table: Callable[[MergeSource], "Table | None"]
    widths: dict[str, int]
    wrap: tuple[str, ...] = ()
    paper: int = 9                  # 9: A4, 8: A3 (一覧 is the committee pack's table: A3)
    print_last_column: bool = True  # False: the last column (保管先, for tracing) is not printed
    titles: Callable[[Plan], tuple[str, ...]] | None = None
    streamed: bool = True           # False: cells are written under the table (chart labels)


def _spec(name, attribute, columns, rows, widths, **layout) -> TableSpec:
    return TableSpec(name, attribute, lambda source: Table(name, columns(source), lambda: rows(source)),
                     widths, **layout)


TABLE_SPECS: list[TableSpec] = [
    _spec("提出状況", "status", lambda s: STATUS_COLUMNS,
          lambda s: status_rows(s.lines, s.others, s.plan, "ja", s.tz),
          {"担当課": 16, "状況": 22, "集計": 12, "ID": 6, "提出ファイル": 36, "最終保存": 17,
           "回収日時": 17, "提出回数": 8, "備考": 40, "保管先": 50},
          wrap=("備考",), print_last_column=False),
    _spec("要確認", "findings", lambda s: FINDING_COLUMNS, lambda s: _finding_rows(s),
          {"コード": 22, "担当課": 14, "ファイル": 32, "項目": 30, "シート": 24, "セル": 8,
           "入力値": 16, "内容": 60, "保管先": 30},
          wrap=("内容", "項目"), print_last_column=False),
    _spec("一覧", "overview", lambda s: overview_columns(s.plan), lambda s: _overview_rows(s),
          {"基本目標": 14, "施策の方向性": 14, "事業": 18, "区分": 10, "それぞれの役割": 30, "担当課": 11,
           "評価": 34, "達成度": 7, "今後の方向性": 11, "状態": 7},
          wrap=("基本目標", "施策の方向性", "事業", "区分", "それぞれの役割", "評価"), paper=8),
    _spec("指標", "indicators", lambda s: INDICATOR_COLUMNS, lambda s: _indicator_rows(s),
          {"事業名": 24, "指標": 34, "担当課": 14}),
    _spec("基本目標別", "goals", lambda s: _goal_columns(s.plan), lambda s: _goal_rows(s),
          {"名称": 30, "区分": 12}),
    _spec("推移", "trend", lambda s: _trend_columns(s.plan), lambda s: _trend_rows(s.archive, s.plan),
          {"事業": 24, "指標": 30, "担当課": 14}, wrap=("事業", "指標")),
    _spec("入力値", "values", lambda s: VALUE_COLUMNS, lambda s: _value_rows(s),
          {"担当課": 14, "項目": 34, "入力値": 24, "値": 16, "目標": 10}, wrap=("項目",)),
    TableSpec("中間評価結果", "committee", _committee,
              {"基本目標": 14, "施策展開の方向性": 16, "施策の展開": 30, "それぞれの役割": 30,
               "これまでの主な取組": 40, "評価点（平均）": 9, "評価者数": 7, "最低～最高": 8,
               "評価しない": 7, "意見等": 50},
              wrap=("基本目標", "施策展開の方向性", "施策の展開", "それぞれの役割", "これまでの主な取組", "意見等"),
              titles=_committee_titles, streamed=False),
]
SPECS_BY_NAME = {spec.name: spec for spec in TABLE_SPECS}
TABLE_ORDER = [spec.name for spec in TABLE_SPECS]  # sheets and CSV files, in this order


def table_sources(source: MergeSource) -> list[Table]:
    """The merged tables that apply this year, in the registry's order."""
    tables = (spec.table(source) for spec in TABLE_SPECS)
    return [table for table in tables if table is not None]


def merged_tables(archive: Archive, plan: Plan, timezone: str | None = None) -> MergedTables:
    """Build every merged table from the archive (never from re-reading a folder); times in
    ``timezone`` (the project's setting; Asia/Tokyo by default)."""
    source = MergeSource(archive, plan, timezone)
    frames = {SPECS_BY_NAME[t.name].attribute: t.frame() for t in table_sources(source)}
    return MergedTables(**frames)


def merged_table_list(tables: MergedTables) -> list[Table]:
    """The tables of a :class:`MergedTables`, in the registry's order (absent ones left out)."""
    named = [(spec.name, getattr(tables, spec.attribute)) for spec in TABLE_SPECS]
    return [Table(name, list(df.columns), lambda df=df: iter(df.to_dict("records")))
            for name, df in named if df is not None]
