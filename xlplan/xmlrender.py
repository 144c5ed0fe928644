"""Department workbooks rendered at XML level from a layout compiled once.

The openpyxl render (``render.build_workbook``) loads the template, copies every cell with
its look into new sheets and saves: a few hundred milliseconds a workbook. A plan where every
department has projects of its own (a city plan) cannot be stamped from one prototype, so it
paid that for each department. Here a layout is *compiled* once per plan: its template cells
(values, style indexes), its blocks, merged ranges, row heights, print titles, and the parts and
fragments that do not change between departments, cut from the template saved by openpyxl as
the render leaves it, without cells (sheet properties, views, columns, protection, page set-up,
workbook properties, theme). Each
department is then rendered by filling those fragments: the placeholders are resolved by the
same functions as the openpyxl render (``placeholder_resolver``, ``block_items``), the input
records and validations come from ``input_records`` and ``input_validation``, the metadata from
``metadata_data``; cells are written through ``ooxml.text`` and the package through
``ooxml.package``.

The output is the openpyxl render's, part for part (canonical XML; tests/test_xmlrender.py). The
style sheet depends on the order in which a department's cells first take the input and
reference looks: compiling saves the template's style sheet as openpyxl writes it, once as it is
and once with every look a cell can take, and each department's is rebuilt from those in its own
order (``_Looks``). A layout or a department with anything outside what is compiled here (a
template value of an unusual type, print title columns, a sheet part with drawings) raises
``NotCompilable`` and ``generate`` falls back to the openpyxl render.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import re
import zipfile
from dataclasses import dataclass, field

from .metadata import METADATA_SHEET, metadata_rows
from .schema import FieldKind, WorkbookMetadata
from .ooxml.package import PackageWriter, deflated_entry, raw_entry, sheet_parts
from .ooxml.text import sheet_name, stored_text, stored_value, taken_keys, xml_escape
from .ooxml.worksheet import column_letter
from .plan import Plan, Project
from .render import (BLANKS_MARK, RenderContext, blank_condition, blank_rule, block_items,
                     input_look, input_records, input_validation, metadata_data,
                     placeholder_resolver, protect_workbook, recipient_projects, reference_look,
                     resolve_total_text)
from .settings import Settings
from .template import (Formula, Input, Link, Locked, RenderedCell, TemplateError, TemplateSpec,
                       copy_columns, copy_page_setup, template_blocks,
                       render_value, block_repetitions, cell_range, copy_look, template_fill)

_CELL_LIMIT = 32767  # openpyxl cuts a string it stores to this many characters


class NotCompilable(Exception):
    """The layout (or one department's values) needs something the XML render does not do:
    the caller renders with openpyxl instead."""


# --- values as openpyxl binds and writes them --------------------------------------------------


def _bind(value) -> tuple[object, str]:
    """(value, data type) as openpyxl's ``cell.value = value`` stores it."""
    if value is None:
        return None, "n"
    if isinstance(value, bool):
        return value, "b"
    if isinstance(value, (int, float)):
        return value, "n"
    if isinstance(value, str):
        value = value[:_CELL_LIMIT]
        if len(value) > 1 and value.startswith("="):
            return value, "f"
        if value in _ERROR_CODES:
            raise NotCompilable("an error value")
        return value, "s"
    raise NotCompilable(f"a value of type {type(value).__name__}")


_ERROR_CODES = ('#NULL!', '#DIV/0!', '#VALUE!', '#REF!', '#NAME?', '#NUM!', '#N/A')


def _bind_text(value) -> tuple[object, str]:
    """(value, data type) as ``ooxml.text.set_text`` stores it: a string is always a string."""
    if not isinstance(value, str):
        return _bind(value)
    return stored_text(value)[:_CELL_LIMIT], "s"


@functools.lru_cache(maxsize=None)
def _letter(column: int) -> str:
    """The letters of the 1-based ``column``."""
    return column_letter(column - 1)


def _text(text: str) -> str:
    """Element text as lxml writes it: ``& < >`` escaped, a carriage return as a reference (a
    parser would read a raw one as a line feed)."""
    text = xml_escape(text)
    return text.replace("\r", "&#13;") if "\r" in text else text


def _number(value) -> str:
    return "%.16g" % value


def _attribute(text: str) -> str:
    return xml_escape(text, quote=False).replace('"', "&quot;").replace("\n", "&#10;") \
        .replace("\r", "&#13;").replace("\t", "&#9;")


def _cell_xml(ref: str, value, kind: str, style: int | None) -> str:
    s = f' s="{style}"' if style is not None else ""
    if kind == "f":
        return f'<c r="{ref}"{s}><f>{_text(value[1:])}</f><v/></c>'
    if kind == "s":
        if value == "":
            return f'<c r="{ref}"{s} t="inlineStr"/>'
        space = ' xml:space="preserve"' if value != value.strip() else ""
        return f'<c r="{ref}"{s} t="inlineStr"><is><t{space}>{_text(value)}</t></is></c>'
    if value is None:
        return f'<c r="{ref}"{s} t="{kind}"/>'
    return f'<c r="{ref}"{s} t="{kind}"><v>{_number(value)}</v></c>'


# --- the compiled layout ------------------------------------------------------------------------


@dataclass
class _TemplateCell:
    column: int          # output column (the template's minus the control column)
    value: object
    style: int | None    # index of the template cell's look, None for no look
    data: bool           # the value holds a placeholder
    coordinate: str


@dataclass
class _TemplateRow:
    """A template row compiled: its literal cells as XML ('\\x00' for the row number), the cells
    rendered per department (placeholders) in column order between them, and what the literal
    cells give the locked-content fingerprint."""

    number: int
    attributes: str                  # ' ht="…" customHeight="1"' or ''
    parts: list                      # str (literal cells' XML) or _TemplateCell (rendered)
    rendered: list[_TemplateCell]
    locked: list[tuple[int, object]]  # (column, value as a reader sees it) of the literal cells


def _compile_row(number: int, cells: list[_TemplateCell], height: float | None) -> _TemplateRow:

    parts: list = []
    rendered, locked = [], []
    for cell in cells:
        # A literal holding the cover's total mark is rewritten per department, like a placeholder.
        if cell.data or (isinstance(cell.value, str) and BLANKS_MARK in cell.value):
            parts.append(cell)
            rendered.append(cell)
            continue
        value, kind = _bind(cell.value)  # refuses a type the XML render does not write
        if value is not None and kind != "f":
            locked.append((cell.column, stored_value(value)))
        if value is None and cell.style is None:
            continue  # openpyxl writes no element for an empty cell without a look
        xml = _cell_xml(f"{_letter(cell.column)}\x00", value, kind, cell.style)
        if parts and isinstance(parts[-1], str):
            parts[-1] += xml
        else:
            parts.append(xml)
    attributes = f' ht="{_number(height)}" customHeight="1"' if height else ""
    return _TemplateRow(number, attributes, parts, rendered, locked)


@dataclass
class _SheetTemplate:
    label: str
    blocks: list
    rows: dict[int, _TemplateRow]
    merges: list[tuple[int, int, int, int]]   # (min_row, min_col, max_row, max_col), template order
    print_titles: tuple[int, int] | None
    max_col: int
    head: str = ""       # <worksheet …><sheetPr …> before <dimension>
    views: str = ""      # after <dimension/> up to <sheetData>
    protection: str = ""
    printing: str = ""   # printOptions, pageMargins, pageSetup …


@dataclass
class _Sheet:
    """One output sheet while a department is rendered."""

    title: str
    template: _SheetTemplate
    # (row, col) → [value, type, look] of the cells rendered from placeholders
    cells: dict[tuple[int, int], list] = field(default_factory=dict)
    rows: list[tuple[int, _TemplateRow]] = field(default_factory=list)  # output row, its template row
    merges_xml: str = ""
    links: dict[tuple[int, int], str] = field(default_factory=dict)
    print_titles: tuple[int, int] | None = None
    validations: list = field(default_factory=list)   # [DataValidation, [coordinates]]
    blanks: list[str] = field(default_factory=list)   # coordinates highlighted while blank


_VARIABLE_TAIL = ("mergeCells", "conditionalFormatting", "dataValidations", "hyperlinks")
_BEFORE_MERGES = ("sheetProtection", "scenarios", "autoFilter")
_AFTER_LINKS = ("printOptions", "pageMargins", "pageSetup", "headerFooter", "rowBreaks", "colBreaks")
_ELEMENT = re.compile(r"<(\w+)\b[^>]*?(?:/>|>.*?</\1>)", re.S)


def _fragments(xml: str, sheet: _SheetTemplate) -> None:
    """Cut the constant fragments of a sheet out of one openpyxl render of it."""
    start = xml.index("<dimension")
    sheet.head = xml[:start]
    sheet.views = xml[xml.index("/>", start) + 2:xml.index("<sheetData")]
    tail_at = xml.find("</sheetData>")
    tail = xml[tail_at + len("</sheetData>"):] if tail_at >= 0 else xml[xml.index("<sheetData/>") + 12:]
    tail = tail[:tail.rindex("</worksheet>")]
    before, after = [], []
    for match in _ELEMENT.finditer(tail):
        name = match.group(1)
        if name in _BEFORE_MERGES:
            before.append(match.group(0))
        elif name in _AFTER_LINKS:
            after.append(match.group(0))
        elif name not in _VARIABLE_TAIL:
            raise NotCompilable(f"<{name}> in a sheet")
    sheet.protection, sheet.printing = "".join(before), "".join(after)


class CompiledLayout:
    """A layout compiled for one plan and settings: renders a department's workbook as bytes."""

    def __init__(self, plan: Plan, settings: Settings, spec: TemplateSpec):
        self.plan, self.settings, self.spec = plan, settings, spec
        wb = spec.load_workbook()
        roles = spec.sheets
        self.roles = [r for r in ("cover", "project", "evaluation") if r in roles]
        self.sheets: dict[str, _SheetTemplate] = {}
        self.style_source: dict[int, tuple[str, str]] = {}
        for role in self.roles:
            if roles[role] not in wb.sheetnames:
                raise NotCompilable(f"no sheet {roles[role]}")
            self.sheets[role] = self._compile_sheet(wb[roles[role]], roles[role])
        self.taken = set(roles.values()) | set(wb.sheetnames) | {METADATA_SHEET}
        self.fills = {label: template_fill(wb, spec, label, default) for label, default in
                      (("入力欄", "FFF9E5"), ("未入力", "FCE4D6"), ("参照のみ", "F2F2F2"))}
        self._styles: dict[tuple, tuple[bytes, dict, int | None]] = {}
        self._validations: dict[tuple, object] = {}
        self._shared: dict[tuple, object] = {}
        self._shapes: dict[tuple, tuple] = {}
        self._validation_tails: dict[tuple, str] = {}
        # The template workbook, read, now gives the parts and fragments that are the same for
        # every department (a skeleton: its sheets with the render's settings and no cells) and
        # the style sheet (openpyxl keeps the template's styles as they were loaded).
        looks = wb.create_sheet("__looks")
        sources = {}
        for i, (base, (title, coordinate)) in enumerate(sorted(self.style_source.items()), start=1):
            sources[base] = looks.cell(i, 1)
            copy_look(wb[title][coordinate], sources[base])
        skeleton = self._skeleton(wb, settings)
        self._cut(skeleton)
        with zipfile.ZipFile(skeleton) as zf:
            base = zf.read("xl/styles.xml").decode("utf-8")
        self.looks = _Looks(wb, looks, sources, base, self._variants(), self.fills)

    # compile -----------------------------------------------------------------------------------

    def _variants(self) -> list[tuple]:
        """Every look an input or reference cell can take: a placeholder cell's look with the
        reference fill or with the look of an input of each kind."""
        bases = {c.style for sheet in self.sheets.values() for row in sheet.rows.values()
                 for c in row.rendered}
        mods = ["ref"] + [("input", k) for k in FieldKind]
        return [(mod, base) for base in sorted(bases, key=lambda b: -1 if b is None else b) for mod in mods]

    def _compile_sheet(self, ws, label: str) -> _SheetTemplate:
        max_col = ws.max_column
        rows: dict[int, _TemplateRow] = {}
        for row in range(1, ws.max_row + 1):
            cells = []
            for col in range(2, max_col + 1):
                src = ws.cell(row, col)
                style = src.style_id if src.has_style else None
                if style is not None:
                    self.style_source.setdefault(style, (ws.title, src.coordinate))
                data = isinstance(src.value, str) and "{{" in src.value
                cells.append(_TemplateCell(col - 1, src.value, style, data, src.coordinate))
            rows[row] = _compile_row(row, cells, ws.row_dimensions[row].height)
        merges = [(m.min_row, m.min_col, m.max_row, m.max_col) for m in ws.merged_cells.ranges]
        titles = None
        if ws.print_title_rows:
            first, last = (int(x) for x in re.findall(r"\d+", ws.print_title_rows)[:2])
            titles = (first, last)
        if ws.print_title_cols:
            raise NotCompilable("print title columns")
        return _SheetTemplate(label, template_blocks(ws), rows, merges, titles, max_col)

    def _skeleton(self, wb, settings: Settings) -> io.BytesIO:
        """The template workbook saved as render_workbook leaves it, without cells: a sheet per
        role with the template's columns, page set-up and view (the same functions), the
        template sheets removed, protection and the metadata sheet's marker row."""
        from .metadata import write_metadata_sheet
        roles = self.spec.sheets
        templates = {role: wb[roles[role]] for role in self.roles}
        made = {role: wb.create_sheet(f"__{role}") for role in self.roles if role != "cover"}
        made["cover"] = wb.create_sheet("__cover", 0)
        for role, ws in made.items():
            copy_columns(templates[role], ws, templates[role].max_column)
            copy_page_setup(templates[role], ws, {})
        styles = [wb[roles["styles"]]] if roles.get("styles") in wb.sheetnames else []
        for ws in list(templates.values()) + styles:
            wb.remove(ws)
        protect_workbook(wb, settings.sheet_password)
        wb.active = 0
        write_metadata_sheet(wb, None, settings.key_bytes)
        wb.calculation.fullCalcOnLoad = True
        buffer = io.BytesIO()
        wb.save(buffer)
        return buffer

    def _cut(self, buffer: io.BytesIO) -> None:
        with zipfile.ZipFile(buffer) as zf:
            parts = sheet_parts(zf)
            names = zf.namelist()
            extra = [n for n in names if not (n.startswith("xl/worksheets/") or n in _KNOWN_PARTS)]
            if extra:
                raise NotCompilable(f"parts {extra}")
            by_role = {role: f"__{role}" for role in self.roles}
            by_role[METADATA_SHEET] = METADATA_SHEET
            for role, title in by_role.items():
                xml = zf.read(parts[title]).decode("utf-8")
                if role == METADATA_SHEET:
                    self.metadata_sheet = _SheetTemplate("", [], {}, [], None, 0)
                    _fragments(xml, self.metadata_sheet)
                else:
                    _fragments(xml, self.sheets[role])
            self.raw = {n: raw_entry(buffer, zf.getinfo(n)) for n in ("docProps/app.xml", "xl/theme/theme1.xml",
                                                                      "_rels/.rels")}
            self.core = zf.read("docProps/core.xml").decode("utf-8")
            workbook = zf.read("xl/workbook.xml").decode("utf-8")
            self.workbook_head = workbook[:workbook.index("<sheets>")]
            tail = workbook[workbook.index("</sheets>") + len("</sheets>"):]
            self.workbook_tail = re.sub(r"<definedNames\s*/>|<definedNames>.*?</definedNames>", "", tail,
                                        count=1, flags=re.S)
            types = zf.read("[Content_Types].xml").decode("utf-8")
            sheet_types = re.findall(r'<Override PartName="/xl/worksheets/[^"]*"[^>]*/>', types)
            at = types.index(sheet_types[0])
            self.types_head = types[:at]
            self.types_tail = types[at:].replace("".join(sheet_types), "", 1)
            self.sheet_type = sheet_types[0]

    # render ------------------------------------------------------------------------------------

    def render(self, department: str, projects: list[Project], history=None) -> tuple[bytes, int]:
        """The department's workbook (bytes) and its number of input cells."""

        context = RenderContext(self.plan, department, self.spec, history, None, {}, projects)
        taken = set(self.taken)
        roles = self.spec.sheets
        sheets: list[_Sheet] = []
        rendered: list[RenderedCell] = []
        if "project" in self.sheets:
            keys = taken_keys(taken)
            for project in recipient_projects(context):
                title = sheet_name(f"{project.id} {project.name}", taken, keys=keys)
                context.sheet_of_project[project.id] = title
                sheet = _Sheet(title, self.sheets["project"])
                rendered += self._render_sheet(sheet, placeholder_resolver(context, project),
                                               block_items(context, project), {})
                sheets.append(sheet)
        evaluation_title = sheet_name(roles["evaluation"], taken - {roles["evaluation"]})
        evaluation = _Sheet(evaluation_title, self.sheets["evaluation"])
        rendered += self._render_sheet(evaluation, placeholder_resolver(context, None),
                                       block_items(context, None), {})
        sheets.append(evaluation)
        by_title = {s.title: s for s in sheets}
        render_order: dict = {}
        for item in rendered:
            if item.reference:
                cell = by_title[item.sheet].cells[(item.row, item.column)]
                cell[2] = ("ref", cell[2])
                render_order.setdefault(cell[2], None)
        names = []
        shared: dict[tuple, list] = {}
        for item, record in input_records(context, [r for r in rendered if r.input]):
            sheet = by_title[item.sheet]
            names.append((record.name, cell_range(item.sheet, item.coordinate)))
            cell = sheet.cells[(item.row, item.column)]
            cell[2] = (("input", record.kind), cell[2])
            render_order.setdefault(cell[2], None)
            # A validation depends on the input's kind, label, unit and choices only: made once.
            made = (record.kind, record.label, record.unit, tuple(record.choices or ()))
            dv = self._validations.get(made) or self._validations.setdefault(
                made, input_validation(record.kind, record, self.plan))
            key = (sheet.title, dv.type, dv.operator, dv.formula1, dv.formula2, dv.allow_blank,
                   dv.showErrorMessage, dv.showInputMessage, dv.errorStyle, dv.errorTitle, dv.error,
                   dv.promptTitle, dv.prompt)
            if key not in shared:
                shared[key] = [made, []]
                sheet.validations.append(shared[key])
            shared[key][1].append(item.coordinate)
            if record.required:
                sheet.blanks.append(item.coordinate)
        cover_title = sheet_name(roles["cover"], taken - {roles["cover"]})
        cover = _Sheet(cover_title, self.sheets["cover"])
        self._render_sheet(cover, placeholder_resolver(context, None), block_items(context, None),
                           {"evaluation_sheet": evaluation_title})
        self._resolve_blank_totals(cover, context, resolve_total_text)
        sheets.insert(0, cover)
        metadata = metadata_data(self.plan, department, self.spec, context, [s.title for s in sheets],
                                 {s.title: _locked(s) for s in sheets},
                                 {s.title: len(s.validations) for s in sheets})
        varied = {}  # sheet → positions of its cells with an input or reference look
        for item in rendered:
            varied.setdefault(item.sheet, []).append((item.row, item.column))
        write_order = {s.cells[position][2]: None for s in sheets for position in sorted(varied.get(s.title, ()))}
        styles, looks, dxf = self._styles_for(tuple(render_order), tuple(write_order),
                                              any(s.blanks for s in sheets))
        return self._package(sheets, names, metadata, styles, looks, dxf), len(context.inputs)

    def _render_sheet(self, sheet: _Sheet, resolve, items, base: dict) -> list[RenderedCell]:
        """template.render_sheet at XML level: the same blocks, values and rows, and the same
        template-invalid error (naming the layout's file, sheet and cell) for a bad placeholder."""
        try:
            return self._render_rows(sheet, resolve, items, base)
        except TemplateError as exc:
            raise exc.at(self.spec.workbook, sheet.template.label) from None

    def _render_rows(self, sheet: _Sheet, resolve, items, base: dict) -> list[RenderedCell]:
        template = sheet.template
        inputs: list[RenderedCell] = []
        row_map: dict[int, list[int]] = {}
        out_row = 1
        for block in template.blocks:
            for item in block_repetitions(block, items):
                context = {**base, **item}
                for tpl_row in block.rows:
                    row = template.rows[tpl_row]
                    for src in row.rendered:
                        rendered = render_value(src.value, resolve, context, src.coordinate)
                        self._place(sheet, out_row, src, rendered, inputs)
                    sheet.rows.append((out_row, row))
                    row_map.setdefault(tpl_row, []).append(out_row)
                    out_row += 1
        # Merged ranges and print titles follow from how often each block repeats: made once
        # per such shape of the sheet.
        shape = (template.label, tuple(len(v) for v in row_map.values()))
        if shape not in self._shapes:
            self._shapes[shape] = self._shape(template, row_map)
        sheet.merges_xml, sheet.print_titles = self._shapes[shape]
        return inputs

    @staticmethod
    def _place(sheet: _Sheet, row: int, src: _TemplateCell, rendered, inputs: list[RenderedCell]) -> None:
        look = src.style
        if isinstance(rendered, Input):
            inputs.append(RenderedCell(sheet.title, row, src.column, rendered))
            value = (None, "n")
        elif isinstance(rendered, Formula):
            value = _bind(rendered.text)
        elif isinstance(rendered, Link):
            value = _bind_text(rendered.text)
            sheet.links[(row, src.column)] = f"#{rendered.target}"
            if value[0] is None:
                value = _bind(f"#{rendered.target}")
        elif isinstance(rendered, Locked):
            value = _bind_text(rendered.value)
            if rendered.reference:
                inputs.append(RenderedCell(sheet.title, row, src.column, reference=True))
        elif src.data:
            value = _bind_text(rendered)
        else:
            value = _bind(rendered)
        sheet.cells[(row, src.column)] = [value[0], value[1], look]

    @staticmethod
    def _shape(template: _SheetTemplate, row_map: dict[int, list[int]]) -> tuple[str, tuple | None]:
        """(the <mergeCells> element, the print title rows) of a sheet rendered with ``row_map``
        (template row → output rows): template._copy_merges and copy_page_setup. Ranges inside
        a block repeat with it, others stretch; kept as openpyxl keeps them (a set of ranges, a
        range inside another one skipped), so they are written in the same order."""
        ranges: set[tuple[int, int, int, int]] = set()

        def merge(top, bottom, left, right):
            if top == bottom and left == right:
                return
            if any(r[0] <= top and r[1] <= left and bottom <= r[2] and right <= r[3] for r in ranges):
                return
            ranges.add((top, left, bottom, right))

        for min_row, min_col, max_row, max_col in template.merges:
            if max_col < 2:
                continue
            left, right = max(min_col, 2) - 1, max_col - 1
            rows = range(min_row, max_row + 1)
            counts = {len(row_map.get(r, [])) for r in rows}
            if len(counts) == 1 and counts != {1}:
                for k in range(counts.pop()):
                    merge(row_map[min_row][k], row_map[max_row][k], left, right)
                continue
            present = [row_map[r] for r in rows if row_map.get(r)]
            if present:
                merge(min(present[0]), max(present[-1]), left, right)
        merges = (f'<mergeCells count="{len(ranges)}">' + "".join(
            f'<mergeCell ref="{_range(m)}"/>' for m in ranges) + "</mergeCells>") if ranges else ""
        titles = None
        if template.print_titles:
            first, last = template.print_titles
            mapped = [r for t in range(first, last + 1) for r in row_map.get(t, [])]
            if mapped:
                titles = (min(mapped), max(mapped))
        return merges, titles

    @staticmethod
    def _resolve_blank_totals(cover: _Sheet, context, total_text) -> None:
        """render._resolve_blank_totals on an XML-rendered cover."""

        cells = sorted(cover.cells.items())
        replace = total_text(context, [(f"{column_letter(c - 1)}{r}", cell[0]) for (r, c), cell in cells])
        for _, cell in cells:
            if isinstance(cell[0], str) and BLANKS_MARK in cell[0]:
                cell[0], cell[1] = _bind(replace(cell[0]))

    # styles ------------------------------------------------------------------------------------

    def _styles_for(self, render_order: tuple, write_order: tuple, blanks: bool):
        """(styles.xml, look → style index, dxf index) for a department whose cells first take
        the input and reference looks in ``render_order`` and are first written in
        ``write_order``, as the openpyxl render registers them (cached per order)."""
        key = (render_order, write_order, blanks)
        if key not in self._styles:
            styles, looks, dxf = self.looks.styles(render_order, write_order, blanks)
            self._styles[key] = deflated_entry("xl/styles.xml", styles), looks, dxf
        return self._styles[key]

    # package -----------------------------------------------------------------------------------

    def _package(self, sheets: list[_Sheet], names, metadata: WorkbookMetadata, styles, looks: dict,
                 dxf) -> bytes:
        out = io.BytesIO()
        writer = PackageWriter(out)
        writer.copy(self.raw["docProps/app.xml"])
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        writer.write("docProps/core.xml", re.sub(r"(<dcterms:modified[^>]*>)[^<]*", rf"\g<1>{now}",
                                                 self.core).encode("utf-8"))
        writer.copy(self.raw["xl/theme/theme1.xml"])
        for number, sheet in enumerate(sheets, start=1):
            xml, rels = self._sheet_xml(sheet, looks, dxf)
            writer.write(f"xl/worksheets/sheet{number}.xml", xml.encode("utf-8"))
            if rels:
                writer.write(f"xl/worksheets/_rels/sheet{number}.xml.rels", rels.encode("utf-8"))
        count = len(sheets) + 1
        writer.write(f"xl/worksheets/sheet{count}.xml",
                     self._metadata_xml(metadata_rows(metadata.to_dict(), self.settings.key_bytes)).encode("utf-8"))
        writer.copy(styles)
        writer.copy(self.raw["_rels/.rels"])
        writer.write("xl/workbook.xml", self._workbook_xml(sheets, names).encode("utf-8"))
        writer.copy(self._by_count("xl/_rels/workbook.xml.rels", count))
        writer.copy(self._by_count("[Content_Types].xml", count))
        writer.close()
        return out.getvalue()

    def _by_count(self, name: str, count: int):
        """The workbook's relationships or content types for ``count`` sheets, deflated once."""
        if (name, count) not in self._shared:
            if name == "[Content_Types].xml":
                overrides = "".join(self.sheet_type.replace("sheet1.xml", f"sheet{n}.xml")
                                    for n in range(1, count + 1))
                content = self.types_head + overrides + self.types_tail
            else:
                content = _workbook_rels(count)
            self._shared[(name, count)] = deflated_entry(name, content.encode("utf-8"))
        return self._shared[(name, count)]

    def _sheet_xml(self, sheet: _Sheet, looks: dict, dxf) -> tuple[str, str]:
        template = sheet.template
        links = []
        body = []
        cells = sheet.cells
        every_row = template.max_col >= 2  # each row holds cells (openpyxl writes it, even empty)
        for r, row in sheet.rows:
            number = str(r)
            pieces = []
            for part in row.parts:
                if part.__class__ is str:
                    pieces.append(part.replace("\x00", number))
                    continue
                value, kind, look = cells[(r, part.column)]
                style = looks[look] if isinstance(look, tuple) else look
                ref = _letter(part.column) + number
                if (r, part.column) in sheet.links:
                    links.append((ref, sheet.links[(r, part.column)]))
                if value is not None or style is not None:
                    pieces.append(_cell_xml(ref, value, kind, style))
            if every_row or row.attributes:
                body.append(f'<row r="{number}"{row.attributes}>{"".join(pieces)}</row>')
        dimension = f"A1:{_letter(template.max_col - 1)}{sheet.rows[-1][0]}" \
            if every_row and sheet.rows else "A1:A1"
        parts = [template.head, f'<dimension ref="{dimension}"/>', template.views,
                 "<sheetData>", *body, "</sheetData>", template.protection]
        parts.append(sheet.merges_xml)
        for priority, coordinate in enumerate(sheet.blanks, start=1):
            parts.append(f'<conditionalFormatting sqref="{coordinate}"><cfRule type="expression" '
                         f'priority="{priority}" dxfId="{dxf}"><formula>'
                         f'{_text(blank_condition(coordinate))}</formula></cfRule></conditionalFormatting>')
        if sheet.validations:
            parts.append(f'<dataValidations count="{len(sheet.validations)}">'
                         + "".join(self._validation_xml(made, refs) for made, refs in sheet.validations)
                         + "</dataValidations>")
        rels = ""
        if links:
            parts.append("<hyperlinks>" + "".join(
                f'<hyperlink xmlns:r="{_NS_R}" ref="{ref}" r:id="rId{i}"/>'
                for i, (ref, _) in enumerate(links, start=1)) + "</hyperlinks>")
            rels = (f'<Relationships xmlns="{_NS_PKG}">' + "".join(
                f'<Relationship Type="{_NS_R}/hyperlink" Target="{_attribute(target)}" '
                f'TargetMode="External" Id="rId{i}"/>' for i, (_, target) in enumerate(links, start=1))
                + "</Relationships>")
        parts += [template.printing, "</worksheet>"]
        return "".join(parts), rels

    def _validation_xml(self, made: tuple, coordinates: list[str]) -> str:
        """The <dataValidation> of a validation (made once per kind, label, unit and choices)
        for these cells."""
        if made not in self._validation_tails:
            self._validation_tails[made] = _validation_xml(self._validations[made], "\x00")
        return self._validation_tails[made].replace("\x00", _sqref(coordinates), 1)

    def _metadata_xml(self, rows: list[list]) -> str:
        body = []
        for r, row in enumerate(rows, start=1):
            cells = []
            for c, value in enumerate(row):
                stored, kind = _bind_text(value)
                cells.append(_cell_xml(f"{column_letter(c)}{r}", stored, kind, None))
            body.append(f'<row r="{r}">{"".join(cells)}</row>')
        width = max(len(row) for row in rows)
        sheet = self.metadata_sheet
        return "".join([sheet.head, f'<dimension ref="A1:{column_letter(width - 1)}{len(rows)}"/>',
                        sheet.views, "<sheetData>", *body, "</sheetData>", sheet.protection,
                        sheet.printing, "</worksheet>"])

    def _workbook_xml(self, sheets: list[_Sheet], names) -> str:
        entries = [(s.title, "visible") for s in sheets] + [(METADATA_SHEET, "veryHidden")]
        listed = "".join(f'<sheet xmlns:r="{_NS_R}" name="{_attribute(title)}" sheetId="{i}" '
                         f'state="{state}" r:id="rId{i}"/>' for i, (title, state) in enumerate(entries, start=1))
        defined = [f'<definedName name="{name}">{_text(text)}</definedName>' for name, text in names]
        for index, sheet in enumerate(sheets):
            if sheet.print_titles:
                quoted = "'" + sheet.title.replace("'", "''") + "'"
                first, last = sheet.print_titles
                defined.append(f'<definedName name="_xlnm.Print_Titles" localSheetId="{index}">'
                               f'{_text(quoted)}!${first}:${last}</definedName>')
        block = f"<definedNames>{''.join(defined)}</definedNames>" if defined else ""
        return f"{self.workbook_head}<sheets>{listed}</sheets>{block}{self.workbook_tail}"


_XF = re.compile(r"<xf\b[^>]*?(?:/>|>.*?</xf>)", re.S)
_FILL = re.compile(r"<fill>.*?</fill>|<fill/>", re.S)
_DXF = re.compile(r"<dxf>.*?</dxf>|<dxf/>", re.S)
_NUMFMT = re.compile(r'<numFmt numFmtId="(\d+)" formatCode="([^"]*)"/>')


def _section(xml: str, name: str) -> tuple[int, int]:
    """Where the element ``name`` of a style sheet starts and ends (equal when absent)."""
    match = re.search(rf"<{name}\b[^>]*?(?:/>|>.*?</{name}>)", xml, re.S)
    if match is None:
        at = xml.index("<cellStyles") if name == "dxfs" else -1
        if at < 0:
            raise NotCompilable(f"no <{name}> in the style sheet")
        return at, at
    return match.start(), match.end()


def _xf_ids(xf: str) -> tuple[int, int]:
    return int(re.search(r'numFmtId="(\d+)"', xf).group(1)), int(re.search(r'fillId="(\d+)"', xf).group(1))


class _Looks:
    """The style sheet of a department as openpyxl writes it, without an openpyxl render.

    openpyxl keeps the template's lists (fonts, fills, number formats, cell formats, differential
    formats) and appends what a render adds: a fill or number format in the order cells first
    take it, a cell format in the order cells are first written, the blank highlight's
    differential format. Compiling saves the template's style sheet once as it is (``base``) and
    once with every look a cell can take (``full``); a department's sheet is ``full`` with those
    lists rebuilt in the department's order."""

    def __init__(self, wb, ws, source: dict, base: str, variants: list[tuple], fills: dict):
        """``wb``: the template workbook (styles as loaded), ``ws`` its sheet holding a cell of
        each look of the template (``source``: look → cell), ``base`` its style sheet as saved;
        the workbook is consumed."""

        for other in [s for s in wb.worksheets if s is not ws]:
            wb.remove(other)
        self.base = base
        cells = {}
        for i, (mod, base) in enumerate(variants, start=1):
            cell = cells[(mod, base)] = ws.cell(i, 2)
            if base is not None:
                copy_look(source[base], cell)
            if mod == "ref":
                reference_look(cell, fills["参照のみ"])
            else:
                input_look(cell, mod[1], fills["入力欄"])
        ws.conditional_formatting.add("C1", blank_rule("C1", fills["未入力"]))
        self.full = self._save(wb)
        full_xfs = _XF.findall(self.full[slice(*_section(self.full, "cellXfs"))])
        self.variant_xf = {v: full_xfs[cell.style_id] for v, cell in cells.items()}
        self.full_fills = _FILL.findall(self.full[slice(*_section(self.full, "fills"))])
        self.full_formats = dict(_NUMFMT.findall(self.full))
        self.blank_dxf = _DXF.findall(self.full[slice(*_section(self.full, "dxfs"))])[-1]
        self.base_xfs = _XF.findall(self.base[slice(*_section(self.base, "cellXfs"))])
        self.base_fills = _FILL.findall(self.base[slice(*_section(self.base, "fills"))])
        self.base_formats = [code for _, code in _NUMFMT.findall(self.base)]
        self.base_dxfs = _DXF.findall(self.base[slice(*_section(self.base, "dxfs"))])

    @staticmethod
    def _save(wb) -> str:
        buffer = io.BytesIO()
        wb.save(buffer)
        with zipfile.ZipFile(buffer) as zf:
            return zf.read("xl/styles.xml").decode("utf-8")

    def styles(self, render_order: tuple, write_order: tuple, blanks: bool):
        """(styles.xml, look → index, dxf index) for one department's order of looks."""
        fills, formats = list(self.base_fills), list(self.base_formats)
        for look in render_order:  # fills and number formats: in the order cells first take them
            number, fill = _xf_ids(self.variant_xf[look])
            if self.full_fills[fill] not in fills:
                fills.append(self.full_fills[fill])
            code = self.full_formats.get(str(number))
            if code is not None and code not in formats:
                formats.append(code)
        xfs, index = list(self.base_xfs), {}
        for look in write_order:  # cell formats: in the order cells are first written
            xf = self.variant_xf[look]
            number, fill = _xf_ids(xf)
            code = self.full_formats.get(str(number))
            if code is not None:
                number = 164 + formats.index(code)
            xf = re.sub(r'numFmtId="\d+"', f'numFmtId="{number}"', xf, count=1)
            xf = re.sub(r'fillId="\d+"', f'fillId="{fills.index(self.full_fills[fill])}"', xf, count=1)
            if xf not in xfs:
                xfs.append(xf)
            index[look] = xfs.index(xf)
        dxfs = list(self.base_dxfs)
        if blanks and self.blank_dxf not in dxfs:
            dxfs.append(self.blank_dxf)
        dxf = dxfs.index(self.blank_dxf) if blanks else None
        sections = {
            "numFmts": f'<numFmts count="{len(formats)}">' + "".join(
                f'<numFmt numFmtId="{164 + i}" formatCode="{code}"/>' for i, code in enumerate(formats))
            + "</numFmts>" if formats else self.base[slice(*_section(self.base, "numFmts"))],
            "fills": f'<fills count="{len(fills)}">{"".join(fills)}</fills>',
            "cellXfs": f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>',
            "dxfs": f'<dxfs count="{len(dxfs)}">{"".join(dxfs)}</dxfs>' if dxfs else
            self.base[slice(*_section(self.base, "dxfs"))],
        }
        xml = self.full
        for name in ("dxfs", "cellXfs", "fills", "numFmts"):  # from the end: offsets stay valid
            start, end = _section(xml, name)
            xml = xml[:start] + sections[name] + xml[end:]
        return xml.encode("utf-8"), index, dxf


_KNOWN_PARTS = {"docProps/app.xml", "docProps/core.xml", "xl/theme/theme1.xml", "xl/styles.xml",
                "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "[Content_Types].xml"}
_NS_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"


def _range(merge: tuple[int, int, int, int]) -> str:
    top, left, bottom, right = merge
    return f"{column_letter(left - 1)}{top}:{column_letter(right - 1)}{bottom}"


def _workbook_rels(count: int) -> str:
    sheets = "".join(f'<Relationship Type="{_NS_R}/worksheet" Target="/xl/worksheets/sheet{i}.xml" Id="rId{i}"/>'
                     for i in range(1, count + 1))
    return (f'<Relationships xmlns="{_NS_PKG}">{sheets}'
            f'<Relationship Type="{_NS_R}/styles" Target="styles.xml" Id="rId{count + 1}"/>'
            f'<Relationship Type="{_NS_R}/theme" Target="theme/theme1.xml" Id="rId{count + 2}"/>'
            "</Relationships>")


def _sqref(coordinates: list[str]) -> str:
    """The sqref openpyxl writes for cells: sorted by column, then row (MultiCellRange)."""
    def key(ref: str):
        letters = ref.rstrip("0123456789")
        return (len(letters), letters, int(ref[len(letters):]))
    return " ".join(sorted(dict.fromkeys(coordinates), key=key))


def _validation_xml(dv, sqref: str) -> str:
    """A <dataValidation> element as openpyxl writes ``dv`` applied to ``sqref``."""
    attrs = [("sqref", sqref)]
    for name in ("showDropDown", "showInputMessage", "showErrorMessage", "allowBlank"):
        value = getattr(dv, name)
        if value is not None:
            attrs.append((name, "1" if value else "0"))
    for name in ("errorTitle", "error", "promptTitle", "prompt", "type", "errorStyle", "imeMode", "operator"):
        value = getattr(dv, name)
        if value is not None:
            attrs.append((name, str(value)))
    opening = "<dataValidation " + " ".join(f'{k}="{_attribute(v)}"' for k, v in attrs)
    formulas = "".join(f"<{n}>{_text(str(getattr(dv, n)))}</{n}>" for n in ("formula1", "formula2")
                       if getattr(dv, n) is not None)
    return f"{opening}>{formulas}</dataValidation>" if formulas else f"{opening}/>"


def _locked(sheet: _Sheet) -> dict[int, list]:
    """render.locked_cells for an XML-rendered sheet: row → [(column, value)] of the locked,
    non-formula cells with a value, as a reader sees them (an input cell holds no value)."""
    rows: dict[int, list] = {}
    cells = sheet.cells
    for r, row in sheet.rows:
        locked = list(row.locked)
        for src in row.rendered:
            value, kind, _ = cells[(r, src.column)]
            if value is not None and kind != "f":
                locked.append((src.column, stored_value(value)))
        if locked:
            rows[r] = locked
    return rows


def compile_layout(plan: Plan, settings: Settings, spec: TemplateSpec) -> CompiledLayout | None:
    """The layout compiled for this plan, or None when it needs the openpyxl render."""
    if spec.recipient != "department":
        return None
    try:
        return CompiledLayout(plan, settings, spec)
    except NotCompilable:
        return None

