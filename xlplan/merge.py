"""Merge the current submissions of a year from the archive into the coordinator's workbook.

``merged_tables`` gives the tables as pandas DataFrames (for analysis); ``write_merged`` writes
the consolidated workbook: 提出状況, 要確認, 一覧 (seed 003's 資料No.3), 指標, 基本目標別 with
charts, and one 事業シート per project with every department's entries, ready to print.
Text a department typed is always written as text, never as a formula.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
import re
import shutil
import sys
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd
import xlsxwriter
from openpyxl.utils import column_index_from_string, get_column_letter, range_boundaries

from .archive import Archive, submission_status
from .files import atomic_write
from .generate import RenderContext, block_items, placeholder_resolver
from .ooxml.text import (CELL_LIMIT, csv_field, inline_string_cell, set_text, sheet_name, stored_value,
                         utf16_length, within_cell_limit, write_text, xlsxwriter_text)
from .runlock import remove_leftovers
from .plan import Plan
from .progress import progress
from .read import package_sheets
from .report import display_width
from .rounding import average, rate
from .scoring import committee_table
from .settings import Settings
from .status import STATUS_COLUMNS, status_rows, zone
from .template import Input, load_template_spec, render_sheet

ONE_DECIMAL = {"平均達成度", "評価点（平均）"}
DATE_TIMES = {"最終保存", "回収日時"}  # real date-times in local time: Excel sorts and filters them
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
FONT = "游ゴシック"


@dataclass
class MergedTables:
    """The merged tables of one year, as DataFrames with Japanese column names."""

    status: pd.DataFrame
    findings: pd.DataFrame
    overview: pd.DataFrame
    indicators: pd.DataFrame
    goals: pd.DataFrame
    values: pd.DataFrame
    trend: pd.DataFrame
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
        df = pd.DataFrame(list(self.rows()), columns=self.columns)
        return df.astype(object).where(df.notna(), None)


class MergeSource:
    """What the merge reads from the archive: the submissions that count, and the values of
    one project at a time (never every value at once, so memory stays flat as N grows)."""

    def __init__(self, archive: Archive, plan: Plan, timezone: str | None = None):
        self.archive, self.plan = archive, plan
        self.tz = zone(timezone)  # times are shown in the project's local time
        self.lines, self.others = submission_status(archive, plan)
        self.current = archive.department_current(plan)
        self.ids = [s.id for s in self.current.values()]
        self._cached: tuple[str, dict] | None = None

    def project_values(self, project_id: str) -> "_ProjectValues":
        """(department, project, field, indicator no, year) → value, for one project."""
        if self._cached is None or self._cached[0] != project_id:
            self._cached = None  # one project's values in memory at a time, never two
            values = self.archive.iter_values(self.ids, project=project_id, columns=_VALUE_QUERY)
            self._cached = (project_id, _ProjectValues(project_id, values))
        return self._cached[1]

    def submitted(self, project, department: str) -> bool:
        """Whether the department's workbook holding this project has come in."""
        return (self.plan.layout_of(project), department) in self.current


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

    def __init__(self, project_id: str, rows):
        self.project_id = project_id
        self.by_department: dict[str, dict[tuple, _Value]] = {}
        shared: dict[tuple, tuple] = {}
        for v in rows:
            inner = (_intern(v["field"]), v["indicator_no"], _intern(v["year"]))
            inner = shared.setdefault(inner, inner)
            self.by_department.setdefault(_intern(v["department"]), {})[inner] = _Value(v)

    def get(self, key: tuple, default=None):
        """The value at (department, project, field, indicator no, year), or ``default``."""
        department, project_id, field, indicator, year = key
        if project_id != self.project_id:
            return default
        return self.by_department.get(department, {}).get((field, indicator, year), default)


_VALUE_QUERY = ("department", "project", "field", "indicator_no", "year") + _Value.__slots__


def _intern(text):
    return sys.intern(text) if isinstance(text, str) else text


def merged_tables(archive: Archive, plan: Plan, timezone: str | None = None) -> MergedTables:
    """Build every merged table from the archive (never from re-reading a folder); times in
    ``timezone`` (the project's setting; Asia/Tokyo by default)."""
    source = MergeSource(archive, plan, timezone)
    tables = table_sources(source)
    merged = MergedTables(*(t.frame() for t in tables[:7]))
    if len(tables) > 7:
        merged.committee = tables[7].frame()
    return merged


def table_sources(source: MergeSource) -> list[Table]:
    """The merged tables in sheet order (提出状況 … 入力値, then 中間評価結果 when members replied)."""
    plan, archive = source.plan, source.archive
    tables = [
        Table("提出状況", STATUS_COLUMNS, lambda: status_rows(source.lines, source.others, plan, "ja", source.tz)),
        Table("要確認", FINDING_COLUMNS, lambda: _finding_rows(source)),
        Table("一覧", overview_columns(plan), lambda: _overview_rows(source)),
        Table("指標", INDICATOR_COLUMNS, lambda: _indicator_rows(source)),
        Table("基本目標別", _goal_columns(plan), lambda: _goal_rows(source)),
        Table("入力値", VALUE_COLUMNS, lambda: _value_rows(source)),
        Table("推移", _trend_columns(plan), lambda: _trend_rows(archive, plan)),
    ]
    if any(line.kind == "scoring" for line in source.lines):
        committee = committee_table(archive, plan)
        tables.append(Table("中間評価結果", list(committee.columns),
                            lambda: iter(committee.to_dict("records"))))
    return tables


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


def _text(v) -> object:
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
            get = lambda field: _text(by_key.get((dept, project.id, field, None, None)))  # noqa: E731
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


def _trend_rows(archive: Archive, plan: Plan) -> Iterator[dict]:
    ids_by_year = {year.short: [s.id for s in archive.department_current(plan.with_year(year)).values()]
                   for year in _reported_years(plan)}
    for project in plan.projects:
        if not project.indicators:
            continue
        reported: dict[tuple, dict] = {}
        for year, ids in ids_by_year.items():
            for v in archive.iter_values(ids, project=project.id, columns=_VALUE_QUERY):
                if v["field"] == "result" and v["year"] == year:
                    reported[(v["indicator_no"], v["department"], year)] = _Value(v)
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
        choices[project.id] = Counter(_text(by_key.get((d, project.id, "direction", None, None)))
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


# --- writing the workbook -----------------------------------------------------------------


EXCEL_CELL_LIMIT = CELL_LIMIT
_CUT_NOTE = "…（文字数が Excel の上限を超えるため以下省略。全文は「入力値」シートを参照）"


def _cut_note(where: str) -> str:
    return f"…（文字数が Excel の上限を超えるため以下省略。全文は{where}を参照）"


def _cell_value(value, note: str = _CUT_NOTE):
    if isinstance(value, float) and pd.isna(value):
        return None
    if isinstance(value, str) and len(value) > EXCEL_CELL_LIMIT // 2 and utf16_length(value) > EXCEL_CELL_LIMIT:
        return within_cell_limit(value, EXCEL_CELL_LIMIT - utf16_length(note)) + note
    return value


def _archived_note(row: dict) -> str:
    """The cut note of an 入力値 row: the department's full text is in its archived file
    (the merged 事業シート point here instead, where each department's text is whole)."""
    where = f"保管ファイル「{row['保管先']}」" if row.get("保管先") else f"「{row.get('担当課')}」の提出ファイル"
    if row.get("シート") and row.get("セル"):
        where += f"のシート「{row['シート']}」セル {row['セル']}"
    return _cut_note(where)


def put(cell, value) -> None:
    """Write a value into an openpyxl cell; strings always as text (``set_text``), cut with a
    note at Excel's 32,767-character limit (a merged cell of hundreds of departments)."""
    set_text(cell, _cell_value(value))


def _row_height(values, columns, widths: dict[str, int], wrap) -> float | None:
    """Height that shows every line of the wrapped cells of a row (no application re-measures
    rows of a file it did not save, so a PDF would otherwise show one line per row)."""
    lines = 1
    for name, value in zip(columns, values):
        if name not in wrap or not isinstance(value, str):
            continue
        width = max(widths.get(name, 12) - 1, 4)
        lines = max(lines, _short_lines(value, width) if len(value) <= 100 else _lines(value, width))
    return 15.0 * lines if lines > 1 else None


def _lines(text: str, width: int) -> int:
    return sum(max(1, -(-display_width(part) // width)) for part in text.split("\n"))


# Names repeat row after row in the wrapped columns (入力値's 項目, 推移's 事業 and 指標): measured
# character by character they took ~9 % of a profiled merge at N=500 (108 k rows). Only short
# text is cached (bounded memory); long free text is mostly unique.
_short_lines = lru_cache(maxsize=4096)(_lines)


class _Formats:
    """XlsxWriter formats, one per distinct look (made once: a workbook holds a limited number)."""

    def __init__(self, wb):
        self.wb = wb
        self.cache: dict[tuple, object] = {}

    def get(self, **props):
        """The format with these XlsxWriter properties."""
        key = tuple(sorted(props.items()))
        if key not in self.cache:
            self.cache[key] = self.wb.add_format(dict(props))
        return self.cache[key]

    def column(self, name: str, wrap, numeric: bool, **extra):
        """The look of a table cell: the merged workbook's font, text at the top of the row,
        wrapped in the wrap columns, numbers centred (averages with one decimal)."""
        props = {"font_name": FONT, "valign": "top", **extra}
        if name in wrap:
            props["text_wrap"] = True
        if numeric:
            props["align"] = "center"
            if name in ONE_DECIMAL:
                props["num_format"] = "0.0"  # an average of 3 is published as 3.0
            elif str(name).endswith("達成率"):
                props["num_format"] = "0.0%"  # 0.833 is shown as 83.3%; the CSV keeps 0.833
            elif name in DATE_TIMES:
                props["num_format"] = "yyyy/mm/dd hh:mm"
        return self.get(**props)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _write(ws, r: int, c: int, value, fmt) -> None:
    """Write one value: text always as text (never a formula or a link), numbers as numbers,
    text over Excel's cell limit cut with a note."""
    value = _cell_value(value)
    if value is None:
        return
    if isinstance(value, bool):
        ws.write_boolean(r, c, value, fmt)
    elif _is_number(value) and math.isfinite(value):
        ws.write_number(r, c, value, fmt)
    else:
        write_text(ws, r, c, str(value), fmt)


# --- data rows written without XlsxWriter's per-cell path ----------------------------------
# A measured optimisation. At N=500 the merged workbook has 1.03 M cells (725 k on 入力値) and
# XlsxWriter's per-cell path (write_string → _write_cell → _xml_inline_string) cost 23.6 µs a
# cell in place, ~70 % of the merge. The data rows of the table sheets are therefore written
# here as the SpreadsheetML XlsxWriter's constant-memory mode writes (inline strings, the same
# escapes, the same number text, the same xf indexes), 3.0 µs a cell, into a file of their own
# that _splice_rows puts into the saved workbook (1.2 s at N=500, most of it compressing the
# rows, which XlsxWriter did before). Merge at N=500: 93-100 → 44-46 ms/file, peak ~100 MB both.

_DEFAULT_ROW_PIXELS = 20  # XlsxWriter's default row height (15 pt): rows of that height get no ht
_CHUNK = 1 << 20


def _text_cell(ref: str, style: str, value) -> str:
    return inline_string_cell(ref, within_cell_limit(value if isinstance(value, str) else str(value)), style)


class _RowStream:
    """The data rows of one table sheet, written as SpreadsheetML ``<row>`` elements into a
    temporary file beside the workbook; ``_splice_rows`` puts them into the saved workbook.
    Each value is written as ``_write`` writes it through XlsxWriter (text always as text)."""

    def __init__(self, ws, folder: Path, looks: list[tuple]):
        fd, name = tempfile.mkstemp(prefix=".~xlplan-rows-", suffix=".xml", dir=folder)
        self.path = Path(name)
        self.fh = open(fd, "w", encoding="utf-8", newline="", buffering=_CHUNK)
        self.sheet = ws.get_name()
        self.letters = [get_column_letter(c + 1) for c in range(len(looks))]
        self.looks = looks
        self.styles: list[list] = [[None, None] for _ in looks]
        self.rows: tuple[int, int] | None = None  # first and last row written (0-based)
        self.cols: tuple[int, int] | None = None

    def style(self, col: int, numeric: bool) -> str:
        """The xf index of a column's text or number look, as the ``s`` attribute's text.

        Format._get_xf_index() is what XlsxWriter's own _write_cell calls for every cell: it
        gives the format its index on first use and registers it, so styles.xml lists it, and
        the index never changes afterwards (close only sorts the formats by it). Writing a
        dummy cell instead is no option (it would be a cell of the sheet), and a format's index
        is only assigned when XlsxWriter writes the row out, so asking for it is the only way
        to learn it. Asked on first use, so a look that no cell uses stays out of styles.xml."""
        style = self.styles[col][numeric]
        if style is None:
            style = self.styles[col][numeric] = str(self.looks[col][numeric]._get_xf_index())
        return style

    def write(self, r: int, values: list, height: float | None) -> None:
        """Write row ``r`` (0-based): one cell per value, None for no cell, and the height
        (points) that shows its wrapped text, rounded to pixels as XlsxWriter's set_row does."""
        number = str(r + 1)
        cells = []
        first = last = None
        for col, value in enumerate(values):
            if value is None:
                continue
            if type(value) is str and len(value) <= EXCEL_CELL_LIMIT // 2:
                # Most cells: short text. Inlined, as this loop runs once per cell of the sheet.
                style = self.styles[col][0] or self.style(col, False)
                cell = inline_string_cell(f"{self.letters[col]}{number}", value, style)
            elif type(value) is int or (type(value) is float and math.isfinite(value)):
                style = self.styles[col][1] or self.style(col, True)
                cell = f'<c r="{self.letters[col]}{number}" s="{style}"><v>{value:.16G}</v></c>'
            else:
                cell = self._cell(self.letters[col] + number, col, value)
                if cell is None:
                    continue
            cells.append(cell)
            last = col
            if first is None:
                first = col
        ht = ""
        if height:
            pixels = int(height * 4.0 / 3.0 + 0.5)
            if pixels != _DEFAULT_ROW_PIXELS:
                ht = f' ht="{pixels * 0.75:.16g}" customHeight="1"'
        if not cells and not ht:
            return
        self.fh.write(f'<row r="{number}"{ht}>' + "".join(cells) + "</row>" if cells
                      else f'<row r="{number}"{ht}/>')
        self.rows = (r, r) if self.rows is None else (self.rows[0], r)
        if first is not None:
            self.cols = (first, last) if self.cols is None else (min(self.cols[0], first), max(self.cols[1], last))

    def _cell(self, ref: str, col: int, value) -> str | None:
        """Any other value, the way ``_write`` writes it through XlsxWriter."""
        numeric = _is_number(value)  # the look follows the value as given, as in _table_sheet
        value = _cell_value(value)
        if value is None:
            return None
        style = self.style(col, numeric)
        if isinstance(value, bool):
            return f'<c r="{ref}" s="{style}" t="b"><v>{int(value)}</v></c>'
        if numeric and math.isfinite(value):
            return f'<c r="{ref}" s="{style}"><v>{value:.16G}</v></c>'
        return _text_cell(ref, style, value)

    def close(self) -> None:
        """Finish the file (idempotent)."""
        self.fh.close()

    def dimension(self, ref: str) -> str:
        """XlsxWriter's ``<dimension>`` range of the sheet widened to the streamed rows."""
        min_col, min_row, max_col, max_row = range_boundaries(ref)
        if self.rows is not None:
            min_row, max_row = min(min_row, self.rows[0] + 1), max(max_row, self.rows[1] + 1)
        if self.cols is not None:
            min_col, max_col = min(min_col, self.cols[0] + 1), max(max_col, self.cols[1] + 1)
        start, end = f"{get_column_letter(min_col)}{min_row}", f"{get_column_letter(max_col)}{max_row}"
        return start if start == end else f"{start}:{end}"


class _RowFiles:
    """The row streams of one workbook being written: made beside it, spliced in after
    XlsxWriter has saved it, removed in every case."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.streams: list[_RowStream] = []

    def stream(self, ws, looks: list[tuple]) -> _RowStream:
        """A new stream for the data rows of ``ws``."""
        self.streams.append(_RowStream(ws, self.folder, looks))
        return self.streams[-1]

    def splice(self, path: Path) -> None:
        """Put every stream's rows into the workbook XlsxWriter saved at ``path``."""
        for stream in self.streams:
            stream.close()
        _splice_rows(path, [s for s in self.streams if s.rows is not None])

    def remove(self) -> None:
        """Close and delete the row files."""
        for stream in self.streams:
            stream.close()
            stream.path.unlink(missing_ok=True)


_DIMENSION = re.compile(rb'<dimension ref="([^"]*)"/>')


def _split_sheet_data(xml: bytes) -> tuple[bytes, bytes]:
    """A worksheet part cut where the streamed rows go: after the rows XlsxWriter wrote (the
    titles and the header), before ``</sheetData>``; an empty ``<sheetData/>`` is opened."""
    end = xml.find(b"</sheetData>")
    if end >= 0:
        return xml[:end], xml[end:]
    empty = xml.find(b"<sheetData/>")
    if empty < 0:
        raise ValueError("no <sheetData> in the worksheet part")
    return xml[:empty] + b"<sheetData>", b"</sheetData>" + xml[empty + len(b"<sheetData/>"):]


def _write_spliced(dst: zipfile.ZipFile, info: zipfile.ZipInfo, xml: bytes, stream: _RowStream) -> None:
    # The part XlsxWriter wrote is small (titles, header, sheet settings): read whole; the rows
    # are copied from their file in chunks, so memory does not grow with them.
    head, tail = _split_sheet_data(xml)
    head = _DIMENSION.sub(lambda m: b'<dimension ref="' + stream.dimension(m.group(1).decode()).encode()
                          + b'"/>', head, count=1)
    size = len(head) + stream.path.stat().st_size + len(tail)
    with dst.open(info, "w", force_zip64=size >= zipfile.ZIP64_LIMIT) as out, open(stream.path, "rb") as rows:
        out.write(head)
        shutil.copyfileobj(rows, out, _CHUNK)
        out.write(tail)


def _splice_rows(path: Path, streams: list[_RowStream]) -> None:
    """Rewrite the workbook at ``path`` with each stream's rows inserted in its worksheet and
    the sheet's ``<dimension>`` widened to them; every other part is copied unchanged
    (re-compressed: the parts besides the streamed rows are some 4 MB at N=500, ~50 ms)."""
    if not streams:
        return
    fd, name = tempfile.mkstemp(prefix=".~xlplan-splice-", suffix=".xlsx", dir=path.parent)
    os.close(fd)
    spliced = Path(name)
    try:
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(spliced, "w", zipfile.ZIP_DEFLATED) as dst:
            # Parts found through the workbook's relations, not guessed from the sheet order.
            parts = {name: part for name, part, _ in package_sheets(src)}
            by_part = {parts[s.sheet]: s for s in streams}
            for info in src.infolist():
                copy = zipfile.ZipInfo(info.filename, info.date_time)
                copy.compress_type, copy.external_attr = zipfile.ZIP_DEFLATED, info.external_attr
                if info.filename in by_part:
                    _write_spliced(dst, copy, src.read(info), by_part.pop(info.filename))
                else:
                    with src.open(info) as data, dst.open(copy, "w") as out:
                        shutil.copyfileobj(data, out, _CHUNK)
            if by_part:
                raise ValueError(f"worksheet parts not found: {sorted(by_part)}")
        os.replace(spliced, path)
    finally:
        spliced.unlink(missing_ok=True)


def _write_row(ws, r: int, values: list, looks: list[tuple], height: float | None) -> None:
    """Write one data row through XlsxWriter (the sheets whose rows are decorated)."""
    if height:
        ws.set_row(r, height)
    for col, value in enumerate(values):
        _write(ws, r, col, value, looks[col][_is_number(value)])
    # The previous row is on disk now (constant-memory mode writes a row when the next one
    # starts); its height would otherwise stay in memory for every row of the sheet.
    ws.row_info.pop(r - 1, None)


@dataclass
class _Written:
    """What a streamed table sheet needs afterwards (charts point at its rows)."""

    ws: object
    rows: int
    head: int   # 0-based row of the header
    first: list[dict]


def _table_sheet(wb, formats: _Formats, table: Table, widths: dict[str, int], wrap=(),
                 print_columns: int | None = None, titles: tuple[str, ...] = (), decorate=None,
                 keep_first: int = 0, row_files: _RowFiles | None = None, paper: int = 9,
                 cut_note: Callable[[dict], str] | None = None) -> _Written:
    """A table sheet, streamed row by row: optional title lines, a styled header row, frozen
    panes, auto-filter, wrapped text with row heights that show it, A4 landscape fitted to
    the width. ``decorate(ws, r, row, formats)`` may add a link or a fill to a written row.

    With ``row_files`` and no ``decorate``, the data rows go to a row stream (spliced in after
    the workbook is saved) instead of through XlsxWriter; nothing may then write cells of this
    sheet through XlsxWriter afterwards (they would land before the streamed rows).
    ``cut_note(row)`` is the note that ends a text cut at Excel's cell limit in that row."""
    ws = wb.add_worksheet(table.name)
    columns = table.columns
    head = len(titles)
    for col, name in enumerate(columns):
        ws.set_column(col, col, widths.get(name, 12))
    ws.freeze_panes(head + 1, 0)
    ws.set_landscape()
    ws.set_paper(paper)  # 9: A4, 8: A3
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(head)
    for r, text in enumerate(titles):
        write_text(ws, r, 0, text, formats.get(font_name=FONT, bold=r == 0, font_size=13 if r == 0 else 10))
    header_lines = max((-(-display_width(str(n)) // max(widths.get(n, 12) - 1, 4)) for n in columns),
                       default=1)
    if header_lines > 1:
        ws.set_row(head, 15.0 * header_lines)
    header = formats.get(font_name=FONT, bold=True, bg_color="#D9E1F2", pattern=1, align="center",
                         valign="vcenter", text_wrap=True)
    for col, name in enumerate(columns):
        write_text(ws, head, col, str(name), header)
    looks = [(formats.column(name, wrap, False), formats.column(name, wrap, True)) for name in columns]
    stream = row_files.stream(ws, looks) if row_files is not None and decorate is None else None
    first: list[dict] = []
    r = head
    for row in table.rows():
        r += 1
        values = [_excel_serial(v) if isinstance(v, dt.datetime) else v for v in (row.get(n) for n in columns)]
        if cut_note is not None:
            values = [_cell_value(v, cut_note(row)) if type(v) is str and len(v) > EXCEL_CELL_LIMIT // 2 else v
                      for v in values]
        height = _row_height(values, columns, widths, wrap)
        if stream is not None:
            stream.write(r, values, height)
        else:
            _write_row(ws, r, values, looks, height)
        if decorate is not None:
            decorate(ws, r, row)
        if len(first) < keep_first:
            first.append(row)
    if stream is not None:
        stream.close()
    last = max(r, head + 1)
    if print_columns:
        ws.print_area(0, 0, last, print_columns - 1)
    if columns:
        ws.autofilter(head, 0, last, len(columns) - 1)
    return _Written(ws, r - head, head, first)


def _excel_serial(moment: dt.datetime) -> float:
    """A (naive, local) date-time as the number an Excel date cell holds: days since
    1899-12-30, the time as the fraction (the column's format shows it as a date-time)."""
    return (moment - _EXCEL_EPOCH).total_seconds() / 86400


def _finding_links(archive: Archive, out_dir: Path, formats: _Formats):
    """Link each finding to the archived file at the offending cell (Excel opens it there),
    and colour the severity of errors."""
    c_msg = FINDING_COLUMNS.index("内容")
    wrap = _WRAP["要確認"]
    link = formats.column("内容", wrap, False, font_color="#0563C1", underline=1)
    error = formats.column("重要度", wrap, False, bg_color="#FCE4D6", pattern=1)

    def decorate(ws, r: int, row: dict) -> None:
        if row["重要度"] == "エラー":
            _write(ws, r, 0, row["重要度"], error)
        stored = row["保管先"]
        if not stored:
            return
        target = os.path.relpath(archive.root / stored, out_dir)
        if row["シート"] and row["セル"]:
            target += "#'" + str(row["シート"]).replace("'", "''") + f"'!{row['セル']}"
        ws.write_url(r, c_msg, "external:" + target, link, string=xlsxwriter_text(_cell_value(row["内容"])))
    return decorate


_CM = 37.8  # pixels per centimetre at 96 dpi (chart sizes were set in cm)


def _bar_chart(wb, title: str, subtype: str | None = None):
    chart = wb.add_chart({"type": "bar", **({"subtype": subtype} if subtype else {})})
    chart.set_title({"name": title, "name_font": {"size": 12}})
    chart.set_size({"width": 16 * _CM, "height": 9 * _CM})
    return chart


def _goal_charts(wb, written: _Written, columns: list[str]) -> None:
    if not written.rows:
        return
    ws, n, sheet = written.ws, written.rows, written.ws.name
    name_col = columns.index("名称")
    avg = _bar_chart(wb, "平均達成度（1～5）")
    col = columns.index("平均達成度")
    avg.add_series({"name": [sheet, 0, col], "categories": [sheet, 1, name_col, n, name_col],
                    "values": [sheet, 1, col, n, col]})
    avg.set_x_axis({"min": 0, "max": 5})
    ws.insert_chart(n + 2, 0, avg)
    dist = _bar_chart(wb, "達成度の分布（件数）", "stacked")
    first = columns.index("達成度1")
    for col in range(first, first + 5):
        dist.add_series({"name": [sheet, 0, col], "categories": [sheet, 1, name_col, n, name_col],
                         "values": [sheet, 1, col, n, col]})
    ws.insert_chart(n + 2, 9, dist)


def _union(sheet: str, row: int, cols: list[int]) -> str:
    """A chart range over cells that are not next to each other (one rate column per year)."""
    quoted = "'" + sheet.replace("'", "''") + "'"
    return "=(" + ",".join(f"{quoted}!${get_column_letter(c + 1)}${row + 1}" for c in cols) + ")"


def _trend_chart(wb, written: _Written, columns: list[str]) -> None:
    """Achievement rate (result / target) per year, one line per indicator and department
    (the first rows of the sheet)."""
    rate_cols = [i for i, c in enumerate(columns) if str(c).endswith("達成率")]
    if not written.rows or not rate_cols:
        return
    sheet = written.ws.name
    chart = wb.add_chart({"type": "line"})
    chart.set_title({"name": "達成率の推移（実績÷目標）", "name_font": {"size": 12}})
    chart.set_y_axis({"name": "達成率"})
    for r, row in enumerate(written.first, start=1):
        chart.add_series({"name": f"{row['指標']}（{row['担当課']}）"[:40],
                          "categories": _union(sheet, 0, rate_cols), "values": _union(sheet, r, rate_cols),
                          "marker": {"type": "circle"}})
    chart.set_size({"width": 22 * _CM, "height": 10 * _CM})
    written.ws.insert_chart(written.rows + 3, 0, chart)


_COMMITTEE_WIDTHS = {"基本目標": 14, "施策展開の方向性": 16, "施策の展開": 30, "それぞれの役割": 30,
                     "これまでの主な取組": 40, "評価点（平均）": 9, "評価者数": 7, "最低～最高": 8,
                     "評価しない": 7, "意見等": 50}


def _committee_sheet(wb, formats: _Formats, plan: Plan, table: Table) -> None:
    """中間評価結果 as seed 003 publishes it, with a chart of the average per measure."""
    written = _table_sheet(wb, formats, table, _COMMITTEE_WIDTHS,
                           wrap=("基本目標", "施策展開の方向性", "施策の展開", "それぞれの役割",
                                 "これまでの主な取組", "意見等"),
                           titles=(f"{plan.name} 中間評価結果（{plan.year.label_ja}）",
                                   f"基本理念：{plan.philosophy}",
                                   "評価点数・・・①できていない ②あまりできていない ③どちらともいえない "
                                   "④できている ⑤よくできている"))
    if not written.rows:
        return
    ws, sheet, n = written.ws, written.ws.name, written.rows
    # The chart's categories are short labels (number and name), written under the table:
    # 施策の展開 holds the whole policy paragraph, unreadable as a chart label.
    label_col, value_col = table.columns.index("施策の展開"), table.columns.index("評価点（平均）")
    top = written.head + n + 2
    head = formats.get(font_name=FONT, bold=True, bg_color="#D9E1F2", pattern=1, align="center")
    ws.write_string(top, label_col, "施策（グラフ用）", head)
    ws.write_string(top, value_col, "評価点（平均）", head)
    number = formats.column("評価点（平均）", (), True)
    for i, row in enumerate(table.rows(), start=1):
        ws.write_string(top + i, label_col, measure_label(row["施策の展開"]), formats.column("", (), False))
        _write(ws, top + i, value_col, row["評価点（平均）"], number)
    chart = _bar_chart(wb, "施策ごとの評価点（平均）")
    chart.add_series({"name": [sheet, top, value_col],
                      "categories": [sheet, top + 1, label_col, top + n, label_col],
                      "values": [sheet, top + 1, value_col, top + n, value_col]})
    chart.set_x_axis({"min": 0, "max": 5})
    chart.set_y_axis({"reverse": True})  # the first measure at the top, as in the table
    chart.set_size({"width": 18 * _CM, "height": max(7, 0.8 * n) * _CM})
    ws.insert_chart(top + n + 2, 0, chart)


def measure_label(text) -> str:
    """A measure's short label: the first line of 施策の展開 (number and name)."""
    return str(text or "").split("\n", 1)[0].strip()


def _merged_input(project, item: Input, by_key) -> object:
    """The merged value of one input placeholder: '【課】value' lines for several departments."""
    indicator = item.payload.get("indicator")
    year = item.payload.get("year")
    parts = []
    for dept in project.departments:
        v = by_key.get((dept, project.id, item.field, indicator.no if indicator else None,
                        year.short if year and item.field in ("result", "do") else None))
        value = _text(v)
        if value in (None, ""):
            continue
        parts.append((dept, value))
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0][1]
    return "\n".join(f"【{d}】{v}" for d, v in parts)


_BORDERS = {"thin": 1, "medium": 2, "dashed": 3, "dotted": 4, "thick": 5, "double": 6, "hair": 7,
            "mediumDashed": 8, "dashDot": 9, "mediumDashDot": 10, "dashDotDot": 11,
            "mediumDashDotDot": 12, "slantDashDot": 13}
_HORIZONTAL = {"left": "left", "center": "center", "right": "right", "fill": "fill", "justify": "justify",
               "centerContinuous": "center_across", "distributed": "distributed"}
_VERTICAL = {"top": "top", "center": "vcenter", "bottom": "bottom", "justify": "vjustify",
             "distributed": "vdistributed"}


def _rgb(color) -> str | None:
    """'#RRGGBB' of an openpyxl colour given as RGB (theme and indexed colours keep the default)."""
    if color is None or color.type != "rgb" or not isinstance(color.rgb, str) or len(color.rgb) < 6:
        return None
    return "#" + color.rgb[-6:]


def _look_of(c) -> dict:
    """XlsxWriter format properties of a styled openpyxl cell of the layout workbook."""
    props: dict = {}
    font = c.font
    if font.name:
        props["font_name"] = font.name
    if font.sz:
        props["font_size"] = float(font.sz)
    if font.b:
        props["bold"] = True
    if font.i:
        props["italic"] = True
    if font.u:
        props["underline"] = 1
    if (color := _rgb(font.color)) is not None:
        props["font_color"] = color
    if c.fill is not None and c.fill.fill_type == "solid" and (color := _rgb(c.fill.fgColor)):
        props.update(bg_color=color, pattern=1)
    for side in ("left", "right", "top", "bottom"):
        edge = getattr(c.border, side)
        if edge is not None and edge.style in _BORDERS:
            props[side] = _BORDERS[edge.style]
            if (color := _rgb(edge.color)) is not None:
                props[f"{side}_color"] = color
    al = c.alignment
    if al.horizontal in _HORIZONTAL:
        props["align"] = _HORIZONTAL[al.horizontal]
    if al.vertical in _VERTICAL:
        props["valign"] = _VERTICAL[al.vertical]
    if al.wrap_text:
        props["text_wrap"] = True
    if al.shrink_to_fit:
        props["shrink"] = True
    if al.indent:
        props["indent"] = int(al.indent)
    if c.number_format and c.number_format != "General":
        props["num_format"] = c.number_format
    return props


def _copy_rendered(src, ws, formats: _Formats, looks: dict) -> None:
    """Write a rendered (openpyxl) sheet into an XlsxWriter sheet: values, looks, links,
    merged ranges, widths, heights and page set-up."""
    for key, dim in src.column_dimensions.items():
        if dim.width:
            index = column_index_from_string(key) - 1
            # XlsxWriter takes the width Excel shows and adds the cell padding (5 px at 7 px a
            # character) when it writes the file; openpyxl gives the width as written.
            ws.set_column(index, index, max(dim.width - 5 / 7, 0))
    if src.page_setup.orientation == "landscape":
        ws.set_landscape()
    else:
        ws.set_portrait()
    ws.set_paper(int(src.page_setup.paperSize or 9))
    if src.sheet_properties.pageSetUpPr is not None and src.sheet_properties.pageSetUpPr.fitToPage:
        ws.fit_to_pages(int(src.page_setup.fitToWidth or 1), int(src.page_setup.fitToHeight or 0))
    if src.print_options.horizontalCentered:
        ws.center_horizontally()
    m = src.page_margins
    ws.set_margins(left=m.left, right=m.right, top=m.top, bottom=m.bottom)
    if src.print_title_rows:
        first, last = (int(x) for x in re.findall(r"\d+", src.print_title_rows)[:2])
        ws.repeat_rows(first - 1, last - 1)
    # Merged ranges are declared as a whole; their cells are written row by row below (in
    # constant-memory mode a range spanning rows cannot be written in one call).
    for merged in src.merged_cells.ranges:
        ws.merge.append([merged.min_row - 1, merged.min_col - 1, merged.max_row - 1, merged.max_col - 1])
    for r, row in enumerate(src.iter_rows(min_row=1, max_row=max(src.max_row, 1))):
        height = src.row_dimensions[r + 1].height if (r + 1) in src.row_dimensions else None
        if height:
            ws.set_row(r, height)
        for c, cell in enumerate(row):
            fmt = None
            if cell.has_style:
                key = tuple(cell._style)
                if key not in looks:
                    looks[key] = formats.get(**_look_of(cell))
                fmt = looks[key]
            value = stored_value(cell.value)  # the text set_text stored, unescaped for XlsxWriter
            if cell.hyperlink is not None and cell.hyperlink.target and cell.hyperlink.target.startswith("#"):
                ws.write_url(r, c, "internal:" + cell.hyperlink.target[1:], fmt,
                             string=xlsxwriter_text(str(value or "")))
            elif cell.data_type == "f" and isinstance(value, str):
                ws.write_formula(r, c, value, fmt)
            elif value is None:
                if fmt is not None:
                    ws.write_blank(r, c, None, fmt)
            else:
                _write(ws, r, c, value, fmt)


def _project_sheets(wb, formats: _Formats, source: MergeSource, spec) -> None:
    """One 事業シート per project, every department's entries in its input cells."""
    plan = source.plan
    scratch = spec.load_workbook()  # the layout's looks and page set-up come from here
    project_template = scratch[spec.sheets["project"]]
    project_template.title = "__template_project"
    taken = set(wb.sheetnames)
    context = RenderContext(plan, "全担当課", spec, merged=True)
    looks: dict[tuple, object] = {}
    for project in progress(plan.projects, "事業シートを作成", "project sheets", unit="sheet"):
        title = sheet_name(f"{project.id} {project.name}", taken)
        context.sheet_of_project[project.id] = title
        ws = scratch.create_sheet(title)
        rendered = render_sheet(project_template, ws, placeholder_resolver(context, project),
                                block_items(context, project), {}, spec.sheets["project"])
        by_key = source.project_values(project.id)
        for item in rendered:
            if item.input is not None:
                put(ws.cell(item.row, item.column), _merged_input(project, item.input, by_key))
        _copy_rendered(ws, wb.add_worksheet(title), formats, looks)
        scratch.remove(ws)  # one rendered project at a time


_WIDTHS = {
    "提出状況": {"担当課": 16, "状況": 22, "集計": 12, "ID": 6, "提出ファイル": 36, "最終保存": 17,
             "回収日時": 17, "提出回数": 8, "備考": 40, "保管先": 50},
    "要確認": {"コード": 22, "担当課": 14, "ファイル": 32, "項目": 30, "シート": 24, "セル": 8,
            "入力値": 16, "内容": 60, "保管先": 30},
    "一覧": {"基本目標": 14, "施策の方向性": 14, "事業": 18, "区分": 10, "それぞれの役割": 30, "担当課": 11,
           "評価": 34, "達成度": 7, "今後の方向性": 11, "状態": 7},
    "指標": {"事業名": 24, "指標": 34, "担当課": 14},
    "基本目標別": {"名称": 30, "区分": 12},
    "推移": {"事業": 24, "指標": 30, "担当課": 14},
    "入力値": {"担当課": 14, "項目": 34, "入力値": 24, "値": 16, "目標": 10},
}
_WRAP = {"提出状況": ("備考",), "要確認": ("内容", "項目"), "推移": ("事業", "指標"), "入力値": ("項目",),
         "一覧": ("基本目標", "施策の方向性", "事業", "区分", "それぞれの役割", "評価")}
# 一覧's year columns (令和6年度実績 …) by how their header ends: (width, wrapped).
_OVERVIEW_YEAR_COLUMNS = {"事業名": 16, "実績": 34, "計画": 32}


def _layout_of(table: Table) -> tuple[dict[str, int], tuple[str, ...]]:
    """Column widths and wrapped columns of a table sheet (一覧's year columns by suffix)."""
    widths, wrap = dict(_WIDTHS[table.name]), tuple(_WRAP.get(table.name, ()))
    if table.name == "一覧":
        for column in table.columns:
            suffix = next((k for k in _OVERVIEW_YEAR_COLUMNS if column.endswith(k) and column != k), None)
            if suffix is not None:
                widths[column] = _OVERVIEW_YEAR_COLUMNS[suffix]
                wrap += (column,)
    return widths, wrap
_TABLE_ORDER = ["提出状況", "要確認", "一覧", "指標", "基本目標別", "推移", "入力値"]


def _merged_table_sheet(wb, formats: _Formats, table: Table, archive: Archive, out_dir: Path,
                        row_files: _RowFiles) -> None:
    """One of the merged tables as its sheet, with its charts."""
    name = table.name
    # 保管先 (the archived copy) is for tracing, not for print: it stays outside the print area.
    print_columns = len(table.columns) - 1 if name in ("提出状況", "要確認") else None
    decorate = _finding_links(archive, out_dir, formats) if name == "要確認" else None
    widths, wrap = _layout_of(table)
    # 一覧 is the committee pack's table (seed 003's 資料No.3): A3 landscape, legible.
    written = _table_sheet(wb, formats, table, widths, wrap=wrap,
                           print_columns=print_columns, decorate=decorate,
                           keep_first=12 if name == "推移" else 0, row_files=row_files,
                           paper=8 if name == "一覧" else 9,
                           cut_note=_archived_note if name == "入力値" else None)
    if name == "基本目標別":
        _goal_charts(wb, written, table.columns)
    if name == "推移":
        _trend_chart(wb, written, table.columns)


def write_merged(archive: Archive, plan: Plan, settings: Settings, out: Path,
                 csv_dir: Path | None = None) -> Path:
    """Write the consolidated workbook (atomically) and, optionally, CSV copies of the tables.

    Every sheet is streamed from the archive row by row (XlsxWriter in constant-memory mode,
    one project's values at a time), so the memory a merge needs does not grow with the
    number of departments. The data rows of the table sheets (all but 要確認) bypass
    XlsxWriter's per-cell path: written to row files beside ``out``, spliced into the saved
    workbook, then removed (see _RowStream).

    Refuses (``NoArchive``) when nothing was collected for the year: a workbook built from
    nothing would call every department 未提出 and replace a good one. Runs while holding the
    project's lock; temporary files that killed merges left beside ``out`` are removed."""
    with archive.lock:
        archive.require_submissions(plan)
        remove_leftovers([Path(out).parent] + ([Path(csv_dir)] if csv_dir is not None else []))
        return _write_merged(archive, plan, settings, Path(out), csv_dir)


def _write_merged(archive: Archive, plan: Plan, settings: Settings, out: Path,
                  csv_dir: Path | None) -> Path:
    source = MergeSource(archive, plan, settings.timezone)
    tables = {t.name: t for t in table_sources(source)}
    spec = load_template_spec("department", settings.templates_dir)

    def write(tmp: Path) -> None:
        row_files = _RowFiles(tmp.parent)  # beside the temporary workbook; removed below
        try:
            wb = xlsxwriter.Workbook(str(tmp), {"constant_memory": True, "strings_to_formulas": False,
                                                "strings_to_urls": False, "strings_to_numbers": False})
            formats = _Formats(wb)
            for name in progress(_TABLE_ORDER, "集計表を作成", "merging", unit="sheet"):
                _merged_table_sheet(wb, formats, tables[name], archive, out.parent, row_files)
            if "中間評価結果" in tables:
                _committee_sheet(wb, formats, plan, tables["中間評価結果"])
            _project_sheets(wb, formats, source, spec)
            wb.close()
            row_files.splice(tmp)
        finally:
            row_files.remove()

    written = atomic_write(out, write)
    if csv_dir is not None:
        write_table_csv(list(tables.values()), Path(csv_dir))
    return written


_CSV_ORDER = ["提出状況", "要確認", "一覧", "指標", "基本目標別", "推移", "入力値", "中間評価結果"]


def write_csv(tables: MergedTables, folder: Path) -> list[Path]:
    """CSV copies (UTF-8 with BOM, so Excel opens them; formula-like text escaped)."""
    named = [("提出状況", tables.status), ("要確認", tables.findings), ("一覧", tables.overview),
             ("指標", tables.indicators), ("基本目標別", tables.goals), ("推移", tables.trend),
             ("入力値", tables.values)]
    if tables.committee is not None:
        named.append(("中間評価結果", tables.committee))
    return write_table_csv([Table(name, list(df.columns), lambda df=df: iter(df.to_dict("records")))
                            for name, df in named], folder)


def write_table_csv(tables: list[Table], folder: Path) -> list[Path]:
    """CSV copies of streamed tables, one file per table, written row by row."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for table in sorted(tables, key=lambda t: _CSV_ORDER.index(t.name) if t.name in _CSV_ORDER else 99):
        def write(tmp, table=table):
            with open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(table.columns)
                for row in table.rows():
                    w.writerow(["" if (isinstance(v, float) and pd.isna(v)) or v is None else csv_field(v)
                                for v in (row.get(c) for c in table.columns)])
        paths.append(atomic_write(folder / f"{table.name}.csv", write))
    return paths
