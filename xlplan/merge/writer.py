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
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import xlsxwriter
from openpyxl.utils import get_column_letter

from ..archive import Archive
from ..files import atomic_write
from ..render import RenderContext, block_items, placeholder_resolver
from ..ooxml.package import rewrite_package, sheet_parts
from ..ooxml.text import (CELL_LIMIT, csv_field, cut_text, set_text, sheet_name, stored_value,
                          taken_keys, write_text, xlsxwriter_text)
from ..ooxml.worksheet import (RowFile, SheetSplice, Spools, column_letter, file_link,
                               hyperlink_relationships, relationships_part, spliced_sheet)
from ..plan import Plan
from ..progress import progress
from ..runlock import remove_leftovers
from ..settings import Settings
from ..template import (Formula, Input, Link, Locked, TemplateError, in_layout_sheet, is_placeholder,
                        load_template_spec, merged_ranges, print_title_rows, render_value,
                        sheet_rows)
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
    if isinstance(value, float) and math.isnan(value):
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
        self.spools = Spools(folder)  # one temporary file for every sheet's rows (and links)

    def stream(self, sheet: str, looks: list[tuple]) -> RowFile:
        """A new row file for the data rows of ``sheet`` (the one before must be probed)."""
        rows = RowFile(sheet, self.folder, looks, self.spools)
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
        """Put every sheet's rows, hyperlinks and merged ranges into the workbook XlsxWriter
        saved (with the relationships parts of the links to files)."""
        wanted = {name: splice for name, splice in self.sheets.items()
                  if splice.merges or (splice.rows is not None and splice.rows.rows is not None)}
        if not wanted:
            return
        with zipfile.ZipFile(path) as zf:
            parts = sheet_parts(zf)
        added = {}
        for name, splice in wanted.items():
            rels = hyperlink_relationships(splice.rows) if splice.rows is not None else None
            if rels is not None:
                added[relationships_part(parts[name])] = rels
        rewrite_package(path, {parts[name]: (lambda xml, s=splice: spliced_sheet(xml, s))
                               for name, splice in wanted.items()}, added)

    def remove(self) -> None:
        """Close and delete the row files."""
        for splice in self.sheets.values():
            if splice.rows is not None:
                splice.rows.remove()
        self.spools.remove()


@dataclass(frozen=True)
class CellLink:
    """A hyperlink on a cell showing ``text``: to ``location`` ('Sheet'!A1) in this workbook,
    or to the file ``file`` (a path relative to the workbook), at ``location`` in it."""

    col: int
    text: str
    location: str | None = None
    file: str | None = None

    def url(self) -> str:
        """The link as XlsxWriter's ``write_url`` takes it."""
        if self.file is None:
            return "internal:" + (self.location or "")
        return "external:" + self.file + ("#" + self.location if self.location else "")


@dataclass
class Dress:
    """What a table row adds to its plain cells: other formats for some columns, a link."""

    formats: dict[int, object] = field(default_factory=dict)
    link: CellLink | None = None


def _write_row(ws, r: int, values: list, looks: list[tuple], height: float | None,
               dress: Dress | None = None) -> None:
    """Write one data row through XlsxWriter, with its dress."""
    if height:
        ws.set_row(r, height)
    formats = dress.formats if dress is not None else {}
    link = dress.link if dress is not None else None
    for col, value in enumerate(values):
        fmt = formats.get(col) or looks[col][_is_number(value)]
        if link is not None and col == link.col:
            ws.write_url(r, col, link.url(), fmt, string=xlsxwriter_text(link.text))
        else:
            _write(ws, r, col, value, fmt)


def _stream_row(rows: RowFile, r: int, values: list, height: float | None, dress: Dress | None) -> None:
    """Write one data row to the row stream, with its dress (its link streamed beside it)."""
    if dress is None:
        rows.write(r, values, height)
        return
    looks, formats, link = rows.looks, dress.formats, dress.link
    if link is not None:
        values = list(values)
        values[link.col] = xlsxwriter_text(link.text)  # the text the link shows, as XlsxWriter's
    rows.write_cells(r, ((col, value, formats.get(col) or looks[col][_is_number(value)]
                          if value is not None else None) for col, value in enumerate(values)), height)
    if link is not None:
        if link.file is None:
            rows.link(r, link.col, values[link.col], location=link.location)
        else:
            target, location = file_link(link.file + ("#" + link.location if link.location else ""))
            rows.link(r, link.col, values[link.col], location=location, target=target)


def table_sheet(wb, formats: Formats, table: Table, widths: dict[str, int], wrap=(),
                print_columns: int | None = None, titles: tuple[str, ...] = (),
                dress: Callable[[dict], Dress | None] | None = None,
                keep_first: int = 0, row_files: RowFiles | None = None, paper: int = 9,
                cut_note: Callable[[dict], str] | None = None) -> Written:
    """A table sheet, streamed row by row: optional title lines, a styled header row, frozen
    panes, auto-filter, wrapped text with row heights that show it, A4 landscape fitted to
    the width. ``dress(row)`` may give a row's cells other formats and a link.

    With ``row_files``, the data rows (and their links) go to a row stream (spliced in after
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
    stream = row_files.stream(table.name, looks) if row_files is not None else None
    first: list[dict] = []
    r = head
    for row in table.rows():
        r += 1
        values = [_excel_serial(v) if isinstance(v, dt.datetime) else v for v in (row.get(n) for n in columns)]
        if any(type(v) is str and len(v) > EXCEL_CELL_LIMIT // 2 for v in values):
            note = cut_note(row) if cut_note is not None else _CUT_NOTE
            values = [_cell_value(v, note) if type(v) is str else v for v in values]
        height = row_height(values, columns, widths, wrap)
        dressed = dress(row) if dress is not None else None
        if stream is not None:
            _stream_row(stream, r, values, height, dressed)
        else:
            _write_row(ws, r, values, looks, height, dressed)
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


def _finding_links(archive: Archive, out_dir: Path, formats: Formats) -> Callable[[dict], Dress]:
    """Each finding linked to the archived file at the offending cell (Excel opens it there),
    and the severity of errors coloured."""
    c_msg = FINDING_COLUMNS.index("内容")
    wrap = SPECS_BY_NAME["要確認"].wrap
    link = formats.column("内容", wrap, False, font_color="#0563C1", underline=1)
    error = formats.column("重要度", wrap, False, bg_color="#FCE4D6", pattern=1)
    root = str(archive.root)  # paths joined as text: pathlib interns every part of every path

    def dress(row: dict) -> Dress:
        dressed = Dress({0: error} if row["重要度"] == "エラー" else {})
        stored = row["保管先"]
        if stored:
            location = None
            if row["シート"] and row["セル"]:
                location = "'" + str(row["シート"]).replace("'", "''") + f"'!{row['セル']}"
            dressed.formats[c_msg] = link
            dressed.link = CellLink(c_msg, str(_cell_value(row["内容"]) or ""), location,
                                    os.path.relpath(os.path.join(root, stored), out_dir))
        return dressed
    return dress


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



class _Held:
    """What an openpyxl cell holds after ``set_text`` or a plain assignment: the merged
    事業シート are written straight to XlsxWriter, each value as the openpyxl render would
    have stored it (so the workbook stays the one the render gave)."""

    value = None
    data_type = "n"


def _stored(value, data: bool) -> tuple[object, bool]:
    """(the value a reader sees, whether it is a formula) of a rendered value written as the
    openpyxl render writes it: data (a placeholder's value, a typed entry) through
    ``set_text``, never a formula; the layout's own values as assigned, where text starting
    with '=' is a formula (openpyxl's rule)."""
    if data:
        held = _Held()
        set_text(held, value)
        return stored_value(held.value), False
    formula = isinstance(value, str) and len(value) > 1 and value.startswith("=")
    return stored_value(value), formula


class _ProjectTemplate:
    """The layout's 事業シート, compiled once for the merged workbook: each template cell's
    value, XlsxWriter format and, for the layout's own values, what is written; the
    column widths, row heights and page set-up. Each project's sheet is then written straight
    to XlsxWriter: only the placeholders are resolved per project (an openpyxl render and copy
    of every sheet cost ~10 times the writing)."""

    def __init__(self, template_ws, label: str, formats: Formats, theme: list[str]):
        self.ws, self.label = template_ws, label
        self.max_col = template_ws.max_column
        self.cells: dict[int, list[tuple]] = {}  # template row → (column, value, format, fixed cell)
        self.heights: dict[int, float] = {}
        for row in range(1, template_ws.max_row + 1):
            cells = []
            for col in range(2, self.max_col + 1):
                cell = template_ws.cell(row, col)
                fmt = formats.get(**look_of(cell, theme)) if cell.has_style else None
                fixed = None if is_placeholder(cell.value) else _Cell(col - 2, *_stored(cell.value, False), fmt)
                cells.append((col, cell.value, fmt, fixed, cell.coordinate))
            self.cells[row] = cells
            if height := template_ws.row_dimensions[row].height:
                self.heights[row] = height

    def page_setup(self, ws, row_map: dict[int, list[int]]) -> None:
        """Widths and page set-up as the render gives them (A4, one page wide, centred)."""
        for col in range(2, self.max_col + 1):
            dim = self.ws.column_dimensions.get(get_column_letter(col))
            if dim is not None and dim.width:
                # XlsxWriter takes the width Excel shows and adds the cell padding (5 px at
                # 7 px a character) when it writes the file; openpyxl gives it as written.
                ws.set_column(col - 2, col - 2, max(dim.width - 5 / 7, 0))
        if self.ws.page_setup.orientation == "landscape":
            ws.set_landscape()
        else:
            ws.set_portrait()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.center_horizontally()
        m = self.ws.page_margins
        ws.set_margins(left=m.left, right=m.right, top=m.top, bottom=m.bottom)
        titles = print_title_rows(self.ws, row_map)
        if titles:
            ws.repeat_rows(titles[0] - 1, titles[1] - 1)

    def write(self, ws, resolve, items, input_value, row_files: RowFiles) -> list[str]:
        """Write one project's sheet ``ws`` (XlsxWriter: page set-up; the cells streamed
        through ``row_files``, as a table's rows are, unless the sheet holds a formula);
        ``input_value(item)`` is the merged value of an input placeholder. Gives the merged
        ranges ('A1:C2')."""
        row_map: dict[int, list[int]] = {}
        rows = list(sheet_rows(self.ws, items, {}, self.label))
        for _, tpl_row, _ in rows:  # the page set-up needs the rows' places first
            row_map.setdefault(tpl_row, [])
        for out_row, tpl_row, _ in rows:
            row_map[tpl_row].append(out_row)
        self.page_setup(ws, row_map)
        cells = [(out_row - 1, self.heights.get(tpl_row), self._row_cells(tpl_row, context, resolve, input_value))
                 for out_row, tpl_row, context in rows]
        if any(cell.formula for _, _, row in cells for cell in row):
            # XlsxWriter rewrites formulas (dynamic-array functions get their prefixes): a
            # sheet holding one is written through it, cell by cell.
            for r, height, row in cells:
                if height:
                    ws.set_row(r, height)
                for cell in row:
                    cell.put(ws, r)
        else:
            stream = row_files.stream(ws.name, [])
            for r, height, row in cells:
                stream.write_cells(r, ((cell.col, cell.value, cell.fmt) for cell in row if cell.written), height)
                for cell in row:
                    if cell.link is not None:
                        stream.link(r, cell.col, cell.value, location=cell.link)
            row_files.probe(ws, stream, -1)
        # Merged ranges are declared as a whole, their cells written row by row above (in
        # constant-memory mode a range spanning rows cannot be written in one call).
        return [f"{column_letter(left - 1)}{top}:{column_letter(right - 1)}{bottom}"
                for top, bottom, left, right in merged_ranges(self.ws, row_map)]

    def _row_cells(self, tpl_row: int, context, resolve, input_value) -> list["_Cell"]:
        """The cells of one output row of the template row ``tpl_row``, resolved."""
        out = []
        for col, value, fmt, fixed, coordinate in self.cells[tpl_row]:
            c = col - 2
            if fixed is not None:  # the layout's own value: the same cell on every sheet
                out.append(fixed)
                continue
            try:
                rendered = render_value(value, resolve, context, coordinate)
            except TemplateError as exc:  # as render_sheet names it: file, sheet, cell
                raise in_layout_sheet(exc, self.ws, self.label) from None
            if isinstance(rendered, Link):
                text, _ = _stored(rendered.text, True)
                shown = xlsxwriter_text(str(text if text is not None else "#" + rendered.target))
                out.append(_Cell(c, shown, False, fmt, rendered.target))
            elif isinstance(rendered, Input):
                out.append(_Cell(c, *_stored(_cell_value(input_value(rendered)), True), fmt))
            elif isinstance(rendered, Formula):
                out.append(_Cell(c, *_stored(rendered.text, False), fmt))
            elif isinstance(rendered, Locked):
                out.append(_Cell(c, *_stored(rendered.value, True), fmt))
            else:
                out.append(_Cell(c, *_stored(rendered, True), fmt))
        return out


class _Cell:
    """One cell of a merged 事業シート: its value (a formula's text when ``formula``), format
    and, for a link, the place it jumps to."""

    __slots__ = ("col", "value", "formula", "fmt", "link", "written")

    def __init__(self, col: int, value, formula: bool, fmt, link: str | None = None):
        self.col, self.formula, self.fmt, self.link = col, formula, fmt, link
        # What XlsxWriter would store: text cut with a note at the cell limit, NaN nothing.
        self.value = value if value is None or formula or link is not None else _cell_value(value)
        # An empty cell is written when it has a format; a value that is nothing (NaN) is not.
        self.written = fmt is not None if value is None else self.value is not None

    def put(self, ws, r: int) -> None:
        """Write the cell through XlsxWriter."""
        if not self.written:
            return
        if self.link is not None:
            ws.write_url(r, self.col, "internal:" + self.link, self.fmt, string=self.value)
        elif self.formula:
            ws.write_formula(r, self.col, self.value, self.fmt)
        elif self.value is None:
            ws.write_blank(r, self.col, None, self.fmt)
        else:
            _write(ws, r, self.col, self.value, self.fmt)


def _project_sheets(wb, formats: Formats, source: MergeSource, spec, row_files: RowFiles) -> None:
    """One 事業シート per project, every department's entries in its input cells."""
    plan = source.plan
    layout = spec.load_workbook()  # the layout's looks and page set-up come from here
    spec.require_sheets(layout, ["project"])
    theme = theme_colours(layout.loaded_theme)  # theme colours of the layout, resolved to RGB
    template = _ProjectTemplate(layout[spec.sheets["project"]], spec.sheets["project"], formats, theme)
    taken = set(wb.sheetnames)
    keys = taken_keys(taken)  # kept up to date by sheet_name: each name costs the same
    context = RenderContext(plan, "全担当課", spec, merged=True)
    for project in progress(plan.projects, "事業シートを作成", "project sheets", unit="sheet"):
        title = sheet_name(f"{project.id} {project.name}", taken, keys=keys)
        context.sheet_of_project[project.id] = title
        by_key = source.project_values(project.id)
        merges = template.write(wb.add_worksheet(title), placeholder_resolver(context, project),
                                block_items(context, project),
                                lambda item, project=project: _merged_input(project, item, by_key),
                                row_files)
        row_files.merge(title, merges)


def _merged_table_sheet(wb, formats: Formats, table: Table, plan: Plan, archive: Archive, out_dir: Path,
                        row_files: RowFiles) -> None:
    """One of the merged tables as its sheet, laid out by its spec, with its charts."""
    name, spec = table.name, SPECS_BY_NAME[table.name]
    print_columns = len(table.columns) - 1 if not spec.print_last_column else None
    dress = _finding_links(archive, out_dir, formats) if name == "要確認" else None
    widths, wrap = sheet_layout(table)
    written = table_sheet(wb, formats, table, widths, wrap=wrap, print_columns=print_columns,
                          titles=spec.titles(plan) if spec.titles else (), dress=dress,
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
                    w.writerow(["" if (isinstance(v, float) and math.isnan(v)) or v is None else csv_field(v)
                                for v in (row.get(c) for c in table.columns)])
        paths.append(atomic_write(folder / f"{table.name}.csv", write))
    return paths
