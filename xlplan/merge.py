"""Merge the current submissions of a year from the archive into the coordinator's workbook.

``merged_tables`` gives the tables as pandas DataFrames (for analysis); ``write_merged`` writes
the consolidated workbook: 提出状況, 要確認, 一覧 (seed 003's 資料No.3), 指標, 基本目標別 with
charts, and one 事業シート per project with every department's entries, ready to print.
Text a department typed is always written as text, never as a formula.
"""

from __future__ import annotations

import csv
import os
import re
from copy import copy
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.series import SeriesLabel
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from .archive import Archive, submission_status
from .files import atomic_write
from .generate import RenderContext, block_items, placeholder_resolver, sheet_title
from .plan import Plan
from .report import display_width
from .scoring import committee_table
from .settings import Settings
from .template import Input, load_template_spec, render_sheet

HEADER_FILL = PatternFill("solid", fgColor="D9E1F2")
ONE_DECIMAL = {"平均達成度", "評価点（平均）"}
ERROR_FILL = PatternFill("solid", fgColor="FCE4D6")
FONT = "游ゴシック"
_FORMULA_START = re.compile(r"^[=+\-@\t\r]")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


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


def merged_tables(archive: Archive, plan: Plan) -> MergedTables:
    """Build every merged table from the archive (never from re-reading a folder)."""
    lines, others = submission_status(archive, plan)
    current = archive.department_current(plan)
    members = [line.submission for line in lines if line.kind == "scoring" and line.submission]
    values = archive.values([s.id for s in current.values()])
    by_key = {}
    for v in values:
        by_key[(v["department"], v["project"], v["field"], v["indicator_no"], v["year"])] = v
    tables = [_status_table(lines, others, plan),
              _findings_table(archive, list(current.values()) + members + others),
              _overview_table(plan, current, by_key), _indicator_table(plan, current, by_key),
              _goal_table(plan, current, by_key)]
    # Object columns with None for blanks: a score stays 4 (not 4.0) in Excel and CSV.
    tables += [_values_table(plan, current, values), trend_table(archive, plan)]
    merged = MergedTables(*(df.astype(object).where(df.notna(), None) for df in tables))
    if any(line.kind == "scoring" for line in lines):
        merged.committee = committee_table(archive, plan)
    return merged


def _submitted(plan: Plan, current, project, department: str) -> bool:
    """Whether the department's workbook holding this project has come in."""
    return (plan.layout_of(project), department) in current


def _not_counted_reason(s, plan: Plan) -> str:
    """Why a file counts for nobody, in the coordinator's words."""
    if not s.readable:
        return "読み取れないファイル"
    if s.plan_id != plan.plan_id:
        return "別の計画の様式"
    if s.form_year != plan.year.short:
        return f"{s.form_year or '?'} の様式"
    return "計画マスタにない委員" if s.kind == "scoring" else "計画マスタにない担当課"


def _status_table(lines, others, plan: Plan) -> pd.DataFrame:
    rows = []
    for line in lines:
        s = line.submission
        rows.append({"区分": "委員" if line.kind == "scoring" else "担当課",
                     "担当課": line.department, "状況": line.status,
                     "提出ファイル": s.original_name if s else "", "最終保存": s.last_saved if s else "",
                     "回収日時": s.collected_at if s else "", "エラー": s.errors if s else None,
                     "警告": s.warnings if s else None, "提出回数": line.submissions,
                     "保管先": s.archived_path if s else ""})
    for s in others:
        reason = _not_counted_reason(s, plan)
        rows.append({"区分": "委員" if s.kind == "scoring" else "担当課" if s.kind else "",
                     "担当課": s.department or "（不明）", "状況": f"対象外（{reason}）",
                     "提出ファイル": s.original_name, "最終保存": s.last_saved or "",
                     "回収日時": s.collected_at, "エラー": s.errors, "警告": s.warnings,
                     "提出回数": None, "保管先": s.archived_path})
    return pd.DataFrame(rows, columns=["区分", "担当課", "状況", "提出ファイル", "最終保存", "回収日時",
                                       "エラー", "警告", "提出回数", "保管先"])


_SEVERITY_JA = {"error": "エラー", "warning": "警告", "info": "情報"}


def _findings_table(archive: Archive, submissions) -> pd.DataFrame:
    """Every finding of the given submissions, each linked to its own archived copy."""
    rows = []
    for submission in submissions:
        for f in archive.findings([submission.id]):
            rows.append({"重要度": _SEVERITY_JA[f.severity], "コード": f.code, "担当課": f.department,
                         "ファイル": f.file, "事業": f.project, "項目": f.field, "シート": f.sheet,
                         "セル": f.cell, "入力値": f.value, "内容": f.message("ja"),
                         "保管先": submission.archived_path})
    return pd.DataFrame(rows, columns=["重要度", "コード", "担当課", "ファイル", "事業", "項目",
                                       "シート", "セル", "入力値", "内容", "保管先"])


def _text(v) -> object:
    if v is None:
        return None
    return v["value"] if v["value"] is not None else v["raw"]


def _hierarchy(plan: Plan, project):
    direction = plan.direction(project.direction_id)
    goal = plan.goal(direction.goal_no) if direction else None
    return (f"{goal.no}. {goal.name}" if goal else "",
            f"{direction.id} {direction.name}" if direction else project.direction_id)


def _overview_table(plan: Plan, current, by_key) -> pd.DataFrame:
    rows = []
    for project in plan.projects:
        goal, direction = _hierarchy(plan, project)
        for dept in project.departments:
            get = lambda field: _text(by_key.get((dept, project.id, field, None, None)))  # noqa: E731
            submitted = _submitted(plan, current, project, dept)
            missing = "（終了）" if project.ended else "（未提出）"
            rows.append({"基本目標": goal, "施策の方向性": direction,
                         "事業": f"{project.id} {project.name}", "担当課": dept,
                         "実績": get("eval_result") if submitted else missing,
                         "事業名": get("eval_name"), "評価": get("eval_comment"),
                         "達成度": get("eval_score"), "次年度計画": get("next_plan"),
                         "次年度事業名": get("next_name"), "今後の方向性": get("direction"),
                         "状態": project.status})
    return pd.DataFrame(rows, columns=["基本目標", "施策の方向性", "事業", "担当課", "実績", "事業名",
                                       "評価", "達成度", "次年度計画", "次年度事業名", "今後の方向性", "状態"])


def _indicator_table(plan: Plan, current, by_key) -> pd.DataFrame:
    rows = []
    for project in plan.projects:
        for ind in project.indicators:
            for year in plan.years:
                target = ind.target_for(year)
                for dept in project.departments:
                    v = by_key.get((dept, project.id, "result", ind.no, year.short))
                    number = v["number"] if v else None
                    rate = None
                    if number is not None and target is not None and isinstance(target.value, (int, float)) and target.value:
                        rate = round(number / target.value, 3)
                    if v is None and year != plan.year:
                        continue
                    rows.append({"事業番号": project.id, "事業名": project.name, "指標": ind.name,
                                 "担当課": dept, "年度": year.short,
                                 "目標": target.text if target else None,
                                 "目標値": target.value if target else None,
                                 "実績（入力）": v["raw"] if v else None, "実績": v["value"] if v else None,
                                 "単位": ind.unit or None, "達成率": rate})
    return pd.DataFrame(rows, columns=["事業番号", "事業名", "指標", "担当課", "年度", "目標", "目標値",
                                       "実績（入力）", "実績", "単位", "達成率"])


def _values_table(plan: Plan, current, values: list[dict]) -> pd.DataFrame:
    """Every value of every current department workbook, whatever its layout (long form)."""
    layout_of = {s.id: layout for (layout, _), s in current.items()}
    rows = [{"担当課": v["department"], "様式": layout_of.get(v["submission_id"], ""),
             "事業": v["project"], "項目": v["label"], "年度": v["year"] or plan.year.short,
             "目標": v["planned"], "入力値": v["raw"], "値": v["value"], "単位": v["unit"],
             "シート": v["sheet"], "セル": v["cell"]} for v in values]
    return pd.DataFrame(rows, columns=["担当課", "様式", "事業", "項目", "年度", "目標", "入力値", "値",
                                       "単位", "シート", "セル"])


def trend_table(archive: Archive, plan: Plan) -> pd.DataFrame:
    """推移: per indicator and department, target and result for every year reported so far.
    A target revised in the master since a year was reported shows as 'new（当時 old）'."""
    reported: dict[tuple, dict] = {}
    for year in (y for y in plan.years if y <= plan.year):
        current = archive.department_current(plan.with_year(year))
        for v in archive.values([s.id for s in current.values()]):
            if v["field"] == "result" and v["year"] == year.short:
                reported[(v["project"], v["indicator_no"], v["department"], year.short)] = v
    rows = []
    for project in plan.projects:
        for ind in project.indicators:
            for dept in project.departments:
                row = {"事業": f"{project.id} {project.name}", "指標": ind.name, "担当課": dept,
                       "単位": ind.unit or None}
                for year in (y for y in plan.years if y <= plan.year):
                    target = ind.target_for(year)
                    v = reported.get((project.id, ind.no, dept, year.short))
                    text = target.text if target else None
                    if v is not None and v["planned"] not in (None, text):
                        text = f"{text}（当時 {v['planned']}）"
                    row[f"{year.short} 目標"] = text
                    row[f"{year.short} 実績"] = v["value"] if v else None
                    number = v["number"] if v else None
                    row[f"{year.short} 達成率"] = (round(number / target.value, 3) if number is not None
                                                  and target and isinstance(target.value, (int, float))
                                                  and target.value else None)
                rows.append(row)
    return pd.DataFrame(rows)


def _goal_table(plan: Plan, current, by_key) -> pd.DataFrame:
    rows = []
    groups = [("基本目標", g.no, g.name, [p for p in plan.projects if (plan.direction(p.direction_id)
              and plan.direction(p.direction_id).goal_no == g.no)]) for g in plan.goals]
    groups += [("施策の方向性", d.id, d.name, [p for p in plan.projects if p.direction_id == d.id])
               for d in plan.directions]
    for level, number, name, projects in groups:
        pairs = [(p, d) for p in projects for d in p.departments]
        scores = [by_key.get((d, p.id, "eval_score", None, None)) for p, d in pairs]
        numbers = [s["number"] for s in scores if s and s["number"] is not None and s["kind"] == "score"
                   and 1 <= s["number"] <= 5]
        choices = Counter(_text(by_key.get((d, p.id, "direction", None, None))) for p, d in pairs)
        row = {"区分": level, "番号": number, "名称": name, "事業数": len(projects),
               "担当課数（延べ）": len(pairs), "提出済": sum(_submitted(plan, current, p, d) for p, d in pairs),
               "平均達成度": round(sum(numbers) / len(numbers), 1) if numbers else None}
        for score in range(1, 6):
            row[f"達成度{score}"] = sum(1 for n in numbers if n == score)
        for choice in plan.direction_choices:
            row[choice] = choices.get(choice, 0)
        rows.append(row)
    return pd.DataFrame(rows)


# --- writing the workbook -----------------------------------------------------------------


def safe_text(value):
    """A value as it may go into a cell or CSV: text that would start a formula is escaped
    for CSV with a leading apostrophe (numbers such as -3 stay numbers)."""
    if isinstance(value, str) and _FORMULA_START.match(value) and not _NUMBER.match(value.strip()):
        return "'" + value
    return value


EXCEL_CELL_LIMIT = 32767
_CUT_NOTE = "…（文字数が Excel の上限を超えるため以下省略。全文は「入力値」シートを参照）"


def put(cell, value) -> None:
    """Write a value; strings are always stored as text, never as formulas, and cut with a
    note at Excel's 32,767-character limit (a merged cell of hundreds of departments)."""
    if isinstance(value, float) and pd.isna(value):
        value = None
    if isinstance(value, str) and len(value) > EXCEL_CELL_LIMIT:
        value = value[:EXCEL_CELL_LIMIT - len(_CUT_NOTE)] + _CUT_NOTE
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"


def _row_height(values, columns, widths: dict[str, int], wrap) -> float | None:
    """Height that shows every line of the wrapped cells of a row (no application re-measures
    rows of a file it did not save, so a PDF would otherwise show one line per row)."""
    lines = 1
    for name, value in zip(columns, values):
        if name not in wrap or not isinstance(value, str):
            continue
        width = max(widths.get(name, 12) - 1, 4)
        lines = max(lines, sum(max(1, -(-display_width(part) // width)) for part in value.split("\n")))
    return 15.0 * lines if lines > 1 else None


class _StylePrototypes:
    """One style per column and kind (text / number), computed once and copied into each cell:
    setting Font and Alignment objects cell by cell costs openpyxl a hash and a look-up each
    time, which made merging hundreds of departments take minutes."""

    def __init__(self, ws, columns, wrap):
        self.ws, self.columns, self.wrap = ws, list(columns), wrap
        self.cache: dict[tuple[int, bool], object] = {}

    def get(self, col: int, numeric: bool):
        key = (col, numeric)
        if key not in self.cache:
            scratch = self.ws.cell(self.ws.max_row + 1000, col)  # styled once, then dropped
            name = self.columns[col - 1]
            scratch.font = Font(name=FONT)
            scratch.alignment = Alignment(vertical="top", wrap_text=name in self.wrap,
                                          horizontal="center" if numeric else None)
            if name in ONE_DECIMAL and numeric:
                scratch.number_format = "0.0"  # an average of 3 is published as 3.0
            self.cache[key] = copy(scratch._style)
            del self.ws._cells[(scratch.row, scratch.column)]
        return self.cache[key]


def _table_sheet(wb, title: str, df: pd.DataFrame, widths: dict[str, int], wrap=(),
                 print_columns: int | None = None, titles: tuple[str, ...] = ()) -> object:
    """A table sheet: optional title lines, a styled header row, frozen panes, auto-filter,
    wrapped text with row heights that show it, A4 landscape fitted to the width."""
    ws = wb.create_sheet(title)
    for r, text in enumerate(titles, start=1):
        put(ws.cell(r, 1), text)
        ws.cell(r, 1).font = Font(name=FONT, bold=r == 1, size=13 if r == 1 else 10)
    head = len(titles) + 1
    for col, name in enumerate(df.columns, start=1):
        c = ws.cell(head, col)
        put(c, name)
        c.font = Font(name=FONT, bold=True)
        c.fill = HEADER_FILL
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        ws.column_dimensions[get_column_letter(col)].width = widths.get(name, 12)
    header_lines = max((-(-display_width(str(n)) // max(widths.get(n, 12) - 1, 4)) for n in df.columns),
                       default=1)
    if header_lines > 1:
        ws.row_dimensions[head].height = 15.0 * header_lines
    styles = _StylePrototypes(ws, df.columns, wrap)
    for r, row in enumerate(df.itertuples(index=False), start=head + 1):
        for col, value in enumerate(row, start=1):
            c = ws.cell(r, col)
            put(c, value)
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            c._style = copy(styles.get(col, numeric))
        height = _row_height(row, df.columns, widths, wrap)
        if height:
            ws.row_dimensions[r].height = height
    last = max(len(df) + head, head + 1)
    ws.freeze_panes = f"A{head + 1}"
    if print_columns:
        ws.print_area = f"A1:{get_column_letter(print_columns)}{last}"
    if len(df.columns):
        ws.auto_filter.ref = f"A{head}:{get_column_letter(len(df.columns))}{last}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{head}:{head}"
    return ws


def _link_findings(ws, df: pd.DataFrame, archive: Archive, out_dir: Path) -> None:
    """Hyperlink each finding to the archived file at the offending cell (Excel opens it there)."""
    cols = list(df.columns)
    c_msg, c_store = cols.index("内容") + 1, cols.index("保管先") + 1
    for r, row in enumerate(df.itertuples(index=False), start=2):
        stored = row[c_store - 1]
        if not stored:
            continue
        target = os.path.relpath(archive.root / stored, out_dir)
        cell = ws.cell(r, c_msg)
        cell.hyperlink = target.replace(os.sep, "/")
        sheet, ref = row[cols.index("シート")], row[cols.index("セル")]
        if sheet and ref:
            cell.hyperlink.location = "'" + str(sheet).replace("'", "''") + f"'!{ref}"
        cell.font = Font(name=FONT, color="0563C1", underline="single")
        severity = row[0]
        if severity == "エラー":
            ws.cell(r, 1).fill = ERROR_FILL


def _goal_charts(ws, df: pd.DataFrame) -> None:
    if df.empty:
        return
    n = len(df) + 1
    cols = list(df.columns)
    avg = BarChart()
    avg.type = "bar"
    avg.title = "平均達成度（1～5）"
    avg.y_axis.scaling.min, avg.y_axis.scaling.max = 0, 5
    avg.add_data(Reference(ws, min_col=cols.index("平均達成度") + 1, min_row=1, max_row=n), titles_from_data=True)
    avg.set_categories(Reference(ws, min_col=cols.index("名称") + 1, min_row=2, max_row=n))
    avg.height, avg.width = 9, 16
    ws.add_chart(avg, f"A{n + 3}")
    dist = BarChart()
    dist.type = "bar"
    dist.grouping = "stacked"
    dist.overlap = 100
    dist.title = "達成度の分布（件数）"
    first = cols.index("達成度1") + 1
    dist.add_data(Reference(ws, min_col=first, max_col=first + 4, min_row=1, max_row=n), titles_from_data=True)
    dist.set_categories(Reference(ws, min_col=cols.index("名称") + 1, min_row=2, max_row=n))
    dist.height, dist.width = 9, 16
    ws.add_chart(dist, f"J{n + 3}")


def _trend_chart(ws, df: pd.DataFrame, series: int = 12) -> None:
    """Achievement rate (result / target) per year, one line per indicator and department."""
    rate_cols = [i + 1 for i, c in enumerate(df.columns) if str(c).endswith("達成率")]
    if df.empty or not rate_cols:
        return
    chart = LineChart()
    chart.title = "達成率の推移（実績÷目標）"
    chart.y_axis.title = "達成率"
    for r in range(2, min(len(df), series) + 2):
        values = Reference(ws, min_col=rate_cols[0], max_col=rate_cols[-1], min_row=r, max_row=r)
        chart.add_data(values, from_rows=True, titles_from_data=False)
        chart.series[-1].tx = SeriesLabel(v=f"{df.iloc[r - 2]['指標']}（{df.iloc[r - 2]['担当課']}）"[:40])
    chart.set_categories(Reference(ws, min_col=rate_cols[0], max_col=rate_cols[-1], min_row=1, max_row=1))
    chart.height, chart.width = 10, 22
    ws.add_chart(chart, f"A{len(df) + 4}")


def _committee_sheet(wb, plan: Plan, df: pd.DataFrame) -> None:
    """中間評価結果 as seed 003 publishes it, with a chart of the average per measure."""
    widths = {"基本目標": 14, "施策展開の方向性": 16, "施策の展開": 30, "それぞれの役割": 30,
              "これまでの主な取組": 40, "評価点（平均）": 9, "評価者数": 7, "最低～最高": 8,
              "評価しない": 7, "意見等": 50}
    ws = _table_sheet(wb, "中間評価結果", df, widths,
                      wrap=("基本目標", "施策展開の方向性", "施策の展開", "それぞれの役割",
                            "これまでの主な取組", "意見等"),
                      titles=(f"{plan.name} 中間評価結果（{plan.year.label_ja}）",
                              f"基本理念：{plan.philosophy}",
                              "評価点数・・・①できていない ②あまりできていない ③どちらともいえない "
                              "④できている ⑤よくできている"))
    n = len(df) + 4
    chart = BarChart()
    chart.type = "bar"
    chart.title = "施策ごとの評価点（平均）"
    chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, 5
    col = list(df.columns).index("評価点（平均）") + 1
    chart.add_data(Reference(ws, min_col=col, min_row=4, max_row=n), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=3, min_row=5, max_row=n))
    chart.height, chart.width = max(7, 0.8 * len(df)), 18
    ws.add_chart(chart, f"A{n + 3}")


def _merged_input(plan: Plan, project, item: Input, by_key, current) -> object:
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


def write_merged(archive: Archive, plan: Plan, settings: Settings, out: Path,
                 csv_dir: Path | None = None) -> Path:
    """Write the consolidated workbook (atomically) and, optionally, CSV copies of the tables."""
    out = Path(out)
    tables = merged_tables(archive, plan)
    spec = load_template_spec("department", settings.templates_dir)
    wb = spec.load_workbook()  # styles of the layout are needed for the 事業シート pages
    template_sheets = list(wb.worksheets)
    project_template = wb[spec.sheets["project"]]
    project_template.title = "__template_project"
    current = archive.department_current(plan)
    by_key = {(v["department"], v["project"], v["field"], v["indicator_no"], v["year"]): v
              for v in archive.values([s.id for s in current.values()])}
    # 保管先 (the archived copy) is for tracing, not for print: it stays outside the print area.
    _table_sheet(wb, "提出状況", tables.status, {"担当課": 16, "状況": 18, "提出ファイル": 40,
                                                  "最終保存": 22, "回収日時": 22, "保管先": 50},
                 print_columns=len(tables.status.columns) - 1)
    ws_f = _table_sheet(wb, "要確認", tables.findings,
                        {"コード": 22, "担当課": 14, "ファイル": 32, "項目": 30, "シート": 24, "セル": 8,
                         "入力値": 16, "内容": 60, "保管先": 30}, wrap=("内容", "項目"),
                        print_columns=len(tables.findings.columns) - 1)
    _link_findings(ws_f, tables.findings, archive, out.parent)
    _table_sheet(wb, "一覧", tables.overview,
                 {"基本目標": 18, "施策の方向性": 18, "事業": 22, "担当課": 12, "実績": 40, "事業名": 18,
                  "評価": 40, "達成度": 8, "次年度計画": 36, "次年度事業名": 18, "今後の方向性": 14},
                 wrap=("基本目標", "施策の方向性", "事業", "実績", "評価", "次年度計画", "事業名", "次年度事業名"))
    _table_sheet(wb, "指標", tables.indicators, {"事業名": 24, "指標": 34, "担当課": 14})
    ws_g = _table_sheet(wb, "基本目標別", tables.goals, {"名称": 30, "区分": 12})
    _goal_charts(ws_g, tables.goals)
    ws_t = _table_sheet(wb, "推移", tables.trend, {"事業": 24, "指標": 30, "担当課": 14},
                        wrap=("事業", "指標"))
    _trend_chart(ws_t, tables.trend)
    _table_sheet(wb, "入力値", tables.values, {"担当課": 14, "項目": 34, "入力値": 24, "値": 16, "目標": 10},
                 wrap=("項目",))
    if tables.committee is not None:
        _committee_sheet(wb, plan, tables.committee)
    taken = set(wb.sheetnames)
    context = RenderContext(plan, "全担当課", spec)
    for project in plan.projects:
        ws = wb.create_sheet(sheet_title(f"{project.id} {project.name}", taken))
        context.sheet_of_project[project.id] = ws.title
        rendered = render_sheet(project_template, ws, placeholder_resolver(context, project),
                                block_items(context, project), {}, spec.sheets["project"])
        for item in rendered:
            if item.input is None:
                continue
            put(ws.cell(item.row, item.column), _merged_input(plan, project, item.input, by_key, current))
    for ws in template_sheets:
        wb.remove(ws)
    wb.active = 0
    written = atomic_write(out, wb.save)
    if csv_dir is not None:
        write_csv(tables, Path(csv_dir))
    return written


def write_csv(tables: MergedTables, folder: Path) -> list[Path]:
    """CSV copies (UTF-8 with BOM, so Excel opens them; formula-like text escaped)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    named = [("提出状況", tables.status), ("要確認", tables.findings), ("一覧", tables.overview),
             ("指標", tables.indicators), ("基本目標別", tables.goals), ("推移", tables.trend),
             ("入力値", tables.values)]
    if tables.committee is not None:
        named.append(("中間評価結果", tables.committee))
    for name, df in named:
        path = folder / f"{name}.csv"

        def write(tmp, df=df):
            with open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(df.columns)
                for row in df.itertuples(index=False):
                    w.writerow(["" if (isinstance(v, float) and pd.isna(v)) or v is None else safe_text(v)
                                for v in row])
        paths.append(atomic_write(path, write))
    return paths
