"""Writing the merged workbook and its CSV copies.

Every cell goes through XlsxWriter's public API, except the data rows of the streamed table
sheets, which go through :mod:`xlplan.ooxml.worksheet` (a row file spliced into the saved
workbook) — a measured optimisation: at N=500 the merged workbook has 1.03 M cells (725 k on
入力値), and XlsxWriter's per-cell path cost 23.6 µs a cell, ~70 % of the merge; the row file
costs ~3 µs. The spliced cells carry the style indexes XlsxWriter gave their formats (read back
from probe cells, see ``ooxml.worksheet``), so they look exactly as XlsxWriter's own would.
Merged ranges of the 事業シート are put in the same way (constant-memory mode cannot write a
range spanning rows through ``merge_range``).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
import re
import zipfile
from pathlib import Path
from typing import Callable

import pandas as pd
import xlsxwriter
from openpyxl.utils import column_index_from_string

from ..archive import Archive
from ..files import atomic_write
from ..generate import RenderContext, block_items, placeholder_resolver
from ..ooxml.package import rewrite_package, sheet_parts
from ..ooxml.text import (CELL_LIMIT, csv_field, cut_text, set_text, sheet_name, stored_value,
                          write_text, xlsxwriter_text)
from ..ooxml.worksheet import RowFile, SheetSplice, spliced_sheet
from ..plan import Plan
from ..progress import progress
from ..runlock import remove_leftovers
from ..settings import Settings
from ..template import Input, load_template_spec, render_sheet
from .layout import (FONT, Formats, Written, committee_chart, goal_charts, header_height, look_of,
                     row_height, sheet_layout, table_page_setup, theme_colours, trend_chart)
from .tables import (FINDING_COLUMNS, SPECS_BY_NAME, TABLE_ORDER, MergedTables, MergeSource, Table,
                     merged_table_list, table_sources, text_of)

_EXCEL_EPOCH = dt.datetime(1899, 12, 30)


EXCEL_CELL_LIMIT = CELL_LIMIT
_CUT_NOTE = "…（文字数が Excel の上限を超えるため以下省略。全文は「入力値」シートを参照）"


def _cut_note(where: str) -> str:
    return f"…（文字数が Excel の上限を超えるため以下省略。全文は{where}を参照）"


def _cell_value(value, note: str = _CUT_NOTE):
    if isinstance(value, float) and pd.isna(value):
        return None
    return cut_text(value, EXCEL_CELL_LIMIT, note) if isinstance(value, str) else value


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

class RowFiles:
    """What is spliced into the workbook being written, per sheet: streamed rows (files beside
    it, removed in every case) and merged ranges."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.sheets: dict[str, SheetSplice] = {}

    def stream(self, sheet: str, looks: list[tuple]) -> RowFile:
        """A new row file for the data rows of ``sheet``."""
        rows = RowFile(sheet, self.folder, looks)
        self.sheets[sheet] = SheetSplice(rows=rows)
        return rows

    def probe(self, ws, rows: RowFile, after: int) -> None:
        """Write one blank cell per style the streamed rows used (the probes), through
        XlsxWriter, on the row after them: the splice reads their style indexes back."""
        rows.close()
        probe = self.sheets[rows.sheet].probe = rows.probe_row(after)
        for col, fmt in enumerate(rows.used):
            ws.write_blank(probe, col, None, fmt)

    def merge(self, sheet: str, ranges: list[str]) -> None:
        """Merged ranges ('A1:C2') for ``sheet``."""
        if ranges:
            self.sheets.setdefault(sheet, SheetSplice()).merges.extend(ranges)

    def splice(self, path: Path) -> None:
        """Put every sheet's rows and merged ranges into the workbook XlsxWriter saved."""
        wanted = {name: splice for name, splice in self.sheets.items()
                  if splice.merges or (splice.rows is not None and splice.rows.rows is not None)}
        if not wanted:
            return
        with zipfile.ZipFile(path) as zf:
            parts = sheet_parts(zf)
        rewrite_package(path, {parts[name]: (lambda xml, s=splice: spliced_sheet(xml, s))
                               for name, splice in wanted.items()})

    def remove(self) -> None:
        """Close and delete the row files."""
        for splice in self.sheets.values():
            if splice.rows is not None:
                splice.rows.remove()


def _write_row(ws, r: int, values: list, looks: list[tuple], height: float | None) -> None:
    """Write one data row through XlsxWriter (the sheets whose rows are decorated)."""
    if height:
        ws.set_row(r, height)
    for col, value in enumerate(values):
        _write(ws, r, col, value, looks[col][_is_number(value)])


def table_sheet(wb, formats: Formats, table: Table, widths: dict[str, int], wrap=(),
                print_columns: int | None = None, titles: tuple[str, ...] = (), decorate=None,
                keep_first: int = 0, row_files: RowFiles | None = None, paper: int = 9,
                cut_note: Callable[[dict], str] | None = None) -> Written:
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
    table_page_setup(ws, columns, widths, head, paper)
    for r, text in enumerate(titles):
        write_text(ws, r, 0, text, formats.get(font_name=FONT, bold=r == 0, font_size=13 if r == 0 else 10))
    if (height := header_height(columns, widths)) is not None:
        ws.set_row(head, height)
    header = formats.get(font_name=FONT, bold=True, bg_color="#D9E1F2", pattern=1, align="center",
                         valign="vcenter", text_wrap=True)
    for col, name in enumerate(columns):
        write_text(ws, head, col, str(name), header)
    looks = [(formats.column(name, wrap, False), formats.column(name, wrap, True)) for name in columns]
    stream = row_files.stream(table.name, looks) if row_files is not None and decorate is None else None
    first: list[dict] = []
    r = head
    for row in table.rows():
        r += 1
        values = [_excel_serial(v) if isinstance(v, dt.datetime) else v for v in (row.get(n) for n in columns)]
        if any(type(v) is str and len(v) > EXCEL_CELL_LIMIT // 2 for v in values):
            note = cut_note(row) if cut_note is not None else _CUT_NOTE
            values = [_cell_value(v, note) if type(v) is str else v for v in values]
        height = row_height(values, columns, widths, wrap)
        if stream is not None:
            stream.write(r, values, height)
        else:
            _write_row(ws, r, values, looks, height)
        if decorate is not None:
            decorate(ws, r, row)
        if len(first) < keep_first:
            first.append(row)
    if stream is not None:
        row_files.probe(ws, stream, head)
    last = max(r, head + 1)
    if print_columns:
        ws.print_area(0, 0, last, print_columns - 1)
    if columns:
        ws.autofilter(head, 0, last, len(columns) - 1)
    return Written(ws, r - head, head, first)


def _excel_serial(moment: dt.datetime) -> float:
    """A (naive, local) date-time as the number an Excel date cell holds: days since
    1899-12-30, the time as the fraction (the column's format shows it as a date-time)."""
    return (moment - _EXCEL_EPOCH).total_seconds() / 86400


def _finding_links(archive: Archive, out_dir: Path, formats: Formats):
    """Link each finding to the archived file at the offending cell (Excel opens it there),
    and colour the severity of errors."""
    c_msg = FINDING_COLUMNS.index("内容")
    wrap = SPECS_BY_NAME["要確認"].wrap
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



def _merged_input(project, item: Input, by_key) -> object:
    """The merged value of one input placeholder: '【課】value' lines for several departments."""
    indicator = item.payload.get("indicator")
    year = item.payload.get("year")
    parts = []
    for dept in project.departments:
        v = by_key.get((dept, project.id, item.field, indicator.no if indicator else None,
                        year.short if year and item.field in ("result", "do") else None))
        value = text_of(v)
        if value in (None, ""):
            continue
        parts.append((dept, value))
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0][1]
    return "\n".join(f"【{d}】{v}" for d, v in parts)



def _copy_rendered(src, ws, formats: Formats, theme: list[str]) -> list[str]:
    """Write a rendered (openpyxl) sheet into an XlsxWriter sheet: values, looks, links,
    widths, heights and page set-up; gives its merged ranges (put in by the splice)."""
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
    for r, row in enumerate(src.iter_rows(min_row=1, max_row=max(src.max_row, 1))):
        height = src.row_dimensions[r + 1].height if (r + 1) in src.row_dimensions else None
        if height:
            ws.set_row(r, height)
        for c, cell in enumerate(row):
            fmt = formats.get(**look_of(cell, theme)) if cell.has_style else None
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
    # Merged ranges are declared as a whole, their cells written row by row above (in
    # constant-memory mode a range spanning rows cannot be written in one call).
    return [merged.coord for merged in src.merged_cells.ranges]


def _project_sheets(wb, formats: Formats, source: MergeSource, spec, row_files: RowFiles) -> None:
    """One 事業シート per project, every department's entries in its input cells."""
    plan = source.plan
    scratch = spec.load_workbook()  # the layout's looks and page set-up come from here
    spec.require_sheets(scratch, ["project"])
    project_template = scratch[spec.sheets["project"]]
    project_template.title = "__template_project"
    taken = set(wb.sheetnames)
    context = RenderContext(plan, "全担当課", spec, merged=True)
    theme = theme_colours(scratch.loaded_theme)  # theme colours of the layout, resolved to RGB
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
        row_files.merge(title, _copy_rendered(ws, wb.add_worksheet(title), formats, theme))
        scratch.remove(ws)  # one rendered project at a time



def _merged_table_sheet(wb, formats: Formats, table: Table, plan: Plan, archive: Archive, out_dir: Path,
                        row_files: RowFiles) -> None:
    """One of the merged tables as its sheet, laid out by its spec, with its charts."""
    name, spec = table.name, SPECS_BY_NAME[table.name]
    print_columns = len(table.columns) - 1 if not spec.print_last_column else None
    decorate = _finding_links(archive, out_dir, formats) if name == "要確認" else None
    widths, wrap = sheet_layout(table)
    written = table_sheet(wb, formats, table, widths, wrap=wrap, print_columns=print_columns,
                          titles=spec.titles(plan) if spec.titles else (), decorate=decorate,
                          keep_first=12 if name == "推移" else 0,
                          row_files=row_files if spec.streamed else None, paper=spec.paper,
                          cut_note=_archived_note if name == "入力値" else None)
    if name == "基本目標別":
        goal_charts(wb, written, table.columns)
    elif name == "推移":
        trend_chart(wb, written, table.columns)
    elif name == "中間評価結果":
        committee_chart(wb, formats, written, table, _write)


def write_merged(archive: Archive, plan: Plan, settings: Settings, out: Path,
                 csv_dir: Path | None = None) -> Path:
    """Write the consolidated workbook (atomically) and, optionally, CSV copies of the tables.

    Every sheet is streamed from the archive row by row (XlsxWriter in constant-memory mode,
    one project's values at a time), so the memory a merge needs does not grow with the
    number of departments. The data rows of the streamed table sheets bypass XlsxWriter's
    per-cell path: written to row files beside ``out``, spliced into the saved workbook, then
    removed (see :class:`RowFiles`).

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
    tables = table_sources(source)  # in the registry's order: the sheets' and the CSV files'
    spec = load_template_spec("department", settings.templates_dir)

    def write(tmp: Path) -> None:
        row_files = RowFiles(tmp.parent)  # beside the temporary workbook; removed below
        try:
            wb = xlsxwriter.Workbook(str(tmp), {"constant_memory": True, "strings_to_formulas": False,
                                                "strings_to_urls": False, "strings_to_numbers": False})
            formats = Formats(wb)
            for table in progress(tables, "集計表を作成", "merging", unit="sheet"):
                _merged_table_sheet(wb, formats, table, plan, archive, out.parent, row_files)
            _project_sheets(wb, formats, source, spec, row_files)
            wb.close()
            row_files.splice(tmp)
        finally:
            row_files.remove()

    written = atomic_write(out, write)
    if csv_dir is not None:
        write_table_csv(tables, Path(csv_dir))
    return written


def write_csv(tables: MergedTables, folder: Path) -> list[Path]:
    """CSV copies (UTF-8 with BOM, so Excel opens them; formula-like text escaped)."""
    return write_table_csv(merged_table_list(tables), folder)


def write_table_csv(tables: list[Table], folder: Path) -> list[Path]:
    """CSV copies of streamed tables, one file per table, written row by row, in the
    registry's order (a table it does not know goes last)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    order = {name: i for i, name in enumerate(TABLE_ORDER)}
    for table in sorted(tables, key=lambda t: order.get(t.name, len(order))):
        def write(tmp, table=table):
            with open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(table.columns)
                for row in table.rows():
                    w.writerow(["" if (isinstance(v, float) and pd.isna(v)) or v is None else csv_field(v)
                                for v in (row.get(c) for c in table.columns)])
        paths.append(atomic_write(folder / f"{table.name}.csv", write))
    return paths
