"""Layouts as files: load a template workbook and render its sheets with row blocks and placeholders.

How a template marks its fields (documented in the README):

* Column A of every template sheet is the control column; it is removed from the output.
  ``each indicator`` / ``each year`` / ``each project`` in column A make that row part of a block
  that is repeated once per indicator, plan year or project. Consecutive rows with the same tag
  form one block (the 計画 and 結果 rows of an indicator, for example). Other text in column A is
  a comment.
* ``{{name}}`` in a cell is replaced by a value of the plan (``{{project.name}}``) or becomes an
  input cell (``{{input.achievement}}``, ``{{result[2]}}`` in the evaluated year …). A cell that
  holds exactly one placeholder keeps the value's type (numbers stay numbers).
* Merged cells inside a block are repeated with it; merged cells that span a block stretch.
* Fonts, fills, borders, widths, heights, wording and page setup are taken from the template.
"""

from __future__ import annotations

import re
import tomllib
import weakref
from copy import copy
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.worksheet.merge import MergedCellRange

from .errors import Place, Words, XlplanError
from .plan import choice_list_problem
from .schema import FieldKind
from .ooxml.text import set_text

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
BLOCK_TAG = re.compile(r"^\s*each\s+([a-z_]+)\s*$")


# What can be wrong with a layout (the problem template-invalid names), in Japanese and
# English: the one table of these words. {…} are the problem's values.
TEMPLATE_PROBLEMS: dict[str, tuple[str, str]] = {
    "layout-name": ("様式名「{name}」は使えません（半角英小文字・数字・_ - のみ）",
                    "the layout name '{name}' cannot be used (lower-case letters, digits, _ and - only)"),
    "declaration-missing": ("様式「{name}」の宣言ファイルがありません",
                            "the declaration of the layout '{name}' is missing"),
    "declaration-unreadable": ("宣言を読み取れません（{reason}）", "the declaration cannot be read ({reason})"),
    "field-kind": ("項目 {name} の kind「{kind}」は使えません（{kinds}）",
                   "the kind '{kind}' of the field {name} cannot be used ({kinds})"),
    "field-choices": ("項目 {name} の選択肢: {reason}", "the choices of the field {name}: {reason}"),
    "check-fields": ("チェックの項目が宣言されていません: {names}", "a check names fields that are not declared: {names}"),
    "workbook-missing": ("宣言に書かれたブック {name} がありません", "the workbook {name} it names is missing"),
    "not-a-workbook": ("Excel のブック（.xlsx）ではないか、壊れています", "it is not an Excel workbook (.xlsx), or it is damaged"),
    "sheet-missing": ("シート「{name}」がありません", "it has no sheet '{name}'"),
    "unknown-placeholder": ("不明な項目 {{{{{name}}}}}", "unknown placeholder {{{{{name}}}}}"),
    "placeholder-with-text": ("「{name}」は他の文字と同じセルに置けません", "{name} cannot share its cell with other text"),
    "unknown-block": ("列 A の「each {name}」は不明な繰り返しです（each indicator、each year、each project）",
                      "'each {name}' in column A is an unknown repetition (each indicator, each year, each project)"),
}


class TemplateError(XlplanError):
    """A layout cannot be used: template-invalid naming the file, the sheet and cell when the
    problem is in one, and the problem (a key of TEMPLATE_PROBLEMS with its values; a value
    may be Words, shown in the language of the message)."""

    def __init__(self, problem: str, file: str | Path = "", sheet: str = "", cell: str = "", **values):
        ja, en = TEMPLATE_PROBLEMS[problem]
        shown = {lang: {k: v.text(lang) if isinstance(v, Words) else v for k, v in values.items()}
                 for lang in ("ja", "en")}
        super().__init__("template-invalid", file=file, place=Place(sheet, cell),
                         problem=Words(ja.format(**shown["ja"]), en.format(**shown["en"])))
        self.problem, self.values = problem, values
        self.file, self.sheet, self.cell = file, sheet, cell

    def at(self, file: str | Path = "", sheet: str = "", cell: str = "") -> "TemplateError":
        """The same problem with the file, sheet or cell filled in where it was not known."""
        return TemplateError(self.problem, self.file or file, self.sheet or sheet, self.cell or cell,
                             **self.values)


# The file each template workbook was opened from, so that a problem found while rendering
# one of its sheets names the file.
_OPENED_FROM: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@dataclass
class TemplateSpec:
    """A layout declaration (the .toml beside a template workbook)."""

    id: str
    version: int
    title: str
    workbook: Path
    sheets: dict[str, str]
    declaration: Path
    fields: dict[str, dict] = field(default_factory=dict)
    checks: list[dict] = field(default_factory=list)
    recipient: str = "department"

    def load_workbook(self):
        """Open the template workbook (a fresh copy each call: rendering edits it in memory)."""
        try:
            wb = load_workbook(self.workbook)
        except Exception as exc:  # any failure to open is the layout's problem, never a traceback
            raise TemplateError("not-a-workbook", self.workbook) from exc
        _OPENED_FROM[wb] = self.workbook
        return wb

    def require_sheets(self, wb, roles) -> None:
        """template-invalid when the workbook lacks the sheet of one of ``roles``."""
        for role in roles:
            if self.sheets.get(role) not in wb.sheetnames:
                raise TemplateError("sheet-missing", self.workbook, name=str(self.sheets.get(role)))


def builtin_templates_dir() -> Path:
    """The folder of the layouts shipped with xlplan (workbook_templates/ of the source tree)."""
    return Path(str(resources.files("xlplan.workbook_templates")))


LAYOUT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
FIELD_KINDS = {k.value for k in FieldKind.declarable()}


def load_template_spec(layout_id: str = "department", folder: Path | None = None) -> TemplateSpec:
    """Read the declaration ``<folder>/<layout_id>.toml``; the coordinator's folder wins over the built-in one.

    Besides the sheets, a declaration may declare its own input fields (``[fields.<name>]`` with
    kind, label, required, unit, choices) placed with ``{{input.<name>}}``, and checks across
    fields (``[[checks]]`` with kind "sum", total and parts: a breakdown that must add up).
    """
    candidates = [Path(folder)] if folder else []
    candidates.append(builtin_templates_dir())
    if not LAYOUT_ID.match(layout_id or ""):
        raise TemplateError("layout-name", candidates[0], name=str(layout_id))
    for base in candidates:
        declaration = base / f"{layout_id}.toml"
        if declaration.is_file():
            break
    else:
        raise TemplateError("declaration-missing", candidates[0] / f"{layout_id}.toml", name=layout_id)
    try:
        data = tomllib.loads(declaration.read_text(encoding="utf-8"))
        spec = TemplateSpec(
            id=str(data["id"]), version=int(data["version"]), title=str(data.get("title", "")),
            workbook=declaration.parent / data["workbook"], sheets=dict(data["sheets"]),
            declaration=declaration, fields=dict(data.get("fields", {})),
            checks=list(data.get("checks", [])), recipient=str(data.get("recipient", "department")))
    except (KeyError, ValueError, TypeError, tomllib.TOMLDecodeError) as exc:
        raise TemplateError("declaration-unreadable", declaration,
                            reason=Words(*_declaration_problem(exc))) from exc
    for name, declared in spec.fields.items():
        if declared.get("kind", FieldKind.TEXT) not in FIELD_KINDS:
            raise TemplateError("field-kind", declaration, name=name, kind=str(declared.get("kind")),
                                kinds=", ".join(sorted(FIELD_KINDS)))
    for name, declared in spec.fields.items():
        problem = choice_list_problem([str(c) for c in declared.get("choices") or []])
        if problem:
            raise TemplateError("field-choices", declaration, name=name, reason=Words(*problem))
    for check in spec.checks:
        unknown = [f for f in [check.get("total"), *check.get("parts", [])] if f not in spec.fields]
        if check.get("kind") != "sum" or unknown:
            raise TemplateError("check-fields", declaration, names=", ".join(map(str, unknown)) or str(check))
    if not spec.workbook.is_file():
        raise TemplateError("workbook-missing", declaration, name=spec.workbook.name)
    return spec


def _declaration_problem(exc: Exception) -> tuple[str, str]:
    """What is wrong with a layout declaration, in words (Japanese, English)."""
    if isinstance(exc, tomllib.TOMLDecodeError):
        where = re.search(r"line (\d+), column (\d+)", str(exc))
        if where:
            return (f"{where[1]} 行目 {where[2]} 文字目の書き方に誤りがあります",
                    f"a syntax error at line {where[1]}, column {where[2]}")
        return "TOML の書き方に誤りがあります", "a TOML syntax error"
    if isinstance(exc, KeyError):
        return f"必要な項目 {exc.args[0]} がありません", f"the required key {exc.args[0]} is missing"
    return "値の形式が正しくありません（version は整数、sheets は表）", \
        "a value has the wrong form (version must be a whole number, sheets a table)"


def available_layouts(folder: Path | None = None) -> list[str]:
    """Ids of every layout declared in ``folder`` or shipped with xlplan."""
    bases = ([Path(folder)] if folder else []) + [builtin_templates_dir()]
    ids = {p.stem for base in bases if base.is_dir() for p in base.glob("*.toml")}
    return sorted(i for i in ids if LAYOUT_ID.match(i))


# --- rendering --------------------------------------------------------------------------------


@dataclass
class Input:
    """A placeholder that becomes an input cell; ``field`` identifies it for the generator."""

    field: str
    payload: dict = field(default_factory=dict)


@dataclass
class Formula:
    """A placeholder rendered as a formula (e.g. the cover's count of blank inputs)."""

    text: str


@dataclass
class Link:
    """A placeholder rendered as text with an internal hyperlink (to a sheet of the workbook)."""

    text: str
    target: str


@dataclass
class Locked:
    """A value written into a locked cell, optionally with the 'reference only' look."""

    value: object
    reference: bool = False


Resolver = Callable[[str, dict], object]


@dataclass
class RenderedCell:
    """Where an Input placeholder landed in the output."""

    sheet: str
    row: int
    column: int
    input: Input | None = None
    reference: bool = False

    @property
    def coordinate(self) -> str:
        """A1 address of the cell."""
        return f"{get_column_letter(self.column)}{self.row}"


@dataclass
class _Block:
    tag: str | None
    rows: list[int]


def template_blocks(ws) -> list[_Block]:
    blocks: list[_Block] = []
    for row in range(1, ws.max_row + 1):
        control = ws.cell(row, 1).value
        match = BLOCK_TAG.match(str(control)) if isinstance(control, str) else None
        tag = match.group(1) if match else None
        if blocks and blocks[-1].tag == tag and tag is not None:
            blocks[-1].rows.append(row)
        else:
            blocks.append(_Block(tag, [row]))
    return blocks


def sheet_rows(template_ws, items: Callable[[str], list], base: dict,
               label: str | None = None) -> Iterator[tuple[int, int, dict]]:
    """(output row, template row, context) of every row a render writes, in order: the
    template's rows, each block's rows once per item of its list (``items(tag)``), the item
    merged into ``base`` as the context of its rows. Output rows are 1-based. An unknown
    block names the layout's file, sheet (``label``, else its title) and cell, whoever renders
    (generate, merge)."""
    out_row = 1
    for block in template_blocks(template_ws):
        try:
            repetitions = block_repetitions(block, items)
        except TemplateError as exc:
            raise in_layout_sheet(exc, template_ws, label) from None
        for item in repetitions:
            context = {**base, **item}
            for tpl_row in block.rows:
                yield out_row, tpl_row, context
                out_row += 1


def render_sheet(template_ws, out_ws, resolve: Resolver, items: Callable[[str], list],
                 base: dict, label: str | None = None) -> list[RenderedCell]:
    """Render one template sheet into ``out_ws``; return the input and reference-only cells.

    ``resolve(key, context)`` gives each placeholder's value; ``items(tag)`` gives the list a
    block repeats over, each item a dict merged into the context. ``label`` names the template
    sheet in error messages.
    """
    try:
        return _render_sheet(template_ws, out_ws, resolve, items, base, label or template_ws.title)
    except TemplateError as exc:
        raise in_layout_sheet(exc, template_ws, label) from None


def in_layout_sheet(exc: TemplateError, template_ws, label: str | None = None) -> TemplateError:
    """``exc`` naming the layout's file and the template sheet (``label``, else its title)."""
    return exc.at(_OPENED_FROM.get(template_ws.parent, ""), label or template_ws.title)


def _render_sheet(template_ws, out_ws, resolve: Resolver, items: Callable[[str], list],
                  base: dict, label: str) -> list[RenderedCell]:
    inputs: list[RenderedCell] = []
    row_map: dict[int, list[int]] = {}
    max_col = template_ws.max_column
    for out_row, tpl_row, context in sheet_rows(template_ws, items, base, label):
        for col in range(2, max_col + 1):
            src = template_ws.cell(tpl_row, col)
            dst = out_ws.cell(out_row, col - 1)
            if src.has_style:
                copy_look(src, dst)
            rendered = render_value(src.value, resolve, context, src.coordinate)
            # A value from a placeholder is data (plan, department, history): text.
            # The template's own cells keep what the layout's author put there.
            _place(out_ws, dst, rendered, inputs, is_placeholder(src.value))
        height = template_ws.row_dimensions[tpl_row].height
        if height:
            out_ws.row_dimensions[out_row].height = height
        row_map.setdefault(tpl_row, []).append(out_row)
    _copy_merges(template_ws, out_ws, row_map)
    copy_columns(template_ws, out_ws, max_col)
    copy_page_setup(template_ws, out_ws, row_map)
    return inputs


def is_placeholder(value) -> bool:
    """Whether a template cell's value holds a placeholder (its rendered value is data)."""
    return isinstance(value, str) and "{{" in value


def block_repetitions(block: _Block, items: Callable[[str], list]) -> list[dict]:
    """The contexts a block of template rows is rendered with: once for rows outside a block,
    else one per item; template-invalid naming the tag's cell for an unknown ``each …``."""
    if block.tag is None:
        return [{}]
    try:
        return items(block.tag)
    except TemplateError as exc:
        raise exc.at(cell=f"A{block.rows[0]}") from None


def render_value(value, resolve: Resolver, context: dict, coordinate: str):
    """A template cell's value with its placeholders resolved (a whole-cell placeholder gives
    the resolved object: Input, Formula, Link, Locked or a value); template-invalid (naming
    the cell) for an unknown placeholder or an input sharing its cell with text."""
    if not is_placeholder(value):
        return value
    whole = PLACEHOLDER.fullmatch(value.strip())
    try:
        if whole:
            return resolve(whole.group(1), context)
        def text_of(match):
            result = resolve(match.group(1), context)
            if isinstance(result, (Input, Formula)):
                raise TemplateError("placeholder-with-text", name=match.group(0))
            if isinstance(result, Link):
                return result.text
            if isinstance(result, Locked):
                result = result.value
            return "" if result is None else str(result)
        return PLACEHOLDER.sub(text_of, value)
    except TemplateError as exc:
        raise exc.at(cell=coordinate) from None
    except KeyError as exc:
        raise TemplateError("unknown-placeholder", cell=coordinate, name=str(exc.args[0])) from exc


_render_value = render_value  # the name the XML render (xlplan.xmlrender) imports


def _place(ws, cell, rendered, inputs: list[RenderedCell], data: bool = True) -> None:
    if isinstance(rendered, Input):
        inputs.append(RenderedCell(ws.title, cell.row, cell.column, rendered))
        cell.value = None
    elif isinstance(rendered, Formula):
        cell.value = rendered.text
    elif isinstance(rendered, Link):
        set_text(cell, rendered.text)
        cell.hyperlink = f"#{rendered.target}"
    elif isinstance(rendered, Locked):
        set_text(cell, rendered.value)  # a prefilled value: what a department typed is text
        if rendered.reference:
            inputs.append(RenderedCell(ws.title, cell.row, cell.column, reference=True))
    elif data:
        set_text(cell, rendered)
    else:
        cell.value = rendered


def copy_look(src, dst) -> None:
    """Give the openpyxl cell ``dst`` the look of ``src`` through the public style attributes
    (the named style first: setting it resets the others to the named style's)."""
    if dst.style != src.style:
        dst.style = src.style
    dst.font, dst.fill, dst.border = copy(src.font), copy(src.fill), copy(src.border)
    dst.alignment, dst.protection = copy(src.alignment), copy(src.protection)
    dst.number_format = src.number_format
    dst.quotePrefix, dst.pivotButton = src.quotePrefix, src.pivotButton


def merged_ranges(template_ws, row_map: dict[int, list[int]]) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) of the rendered sheet's merged ranges (1-based, columns of the
    output): the template's, repeated with the block they lie in (``row_map``: template row →
    its output rows); single cells left out."""
    ranges = []
    for merged in template_ws.merged_cells.ranges:
        if merged.max_col < 2:
            continue
        min_col, max_col = max(merged.min_col, 2) - 1, merged.max_col - 1
        rows = range(merged.min_row, merged.max_row + 1)
        counts = {len(row_map.get(r, [])) for r in rows}
        if len(counts) == 1 and counts != {1}:
            # The merge lies inside one repeated block: repeat it with the block.
            for k in range(counts.pop()):
                top, bottom = row_map[merged.min_row][k], row_map[merged.max_row][k]
                ranges.append((top, bottom, min_col, max_col))
            continue
        present = [row_map[r] for r in rows if row_map.get(r)]
        if not present:
            continue
        ranges.append((min(present[0]), max(present[-1]), min_col, max_col))
    return [r for r in ranges if not (r[0] == r[1] and r[2] == r[3])]


def _copy_merges(template_ws, out_ws, row_map: dict[int, list[int]]) -> None:
    for top, bottom, left, right in merged_ranges(template_ws, row_map):
        _merge(out_ws, top, bottom, left, right)


def _merge(ws, top, bottom, left, right) -> None:
    if top == bottom and left == right:
        return
    # Register the range without openpyxl's merge_cells(): that re-styles every edge cell
    # (slow, and it would overwrite the borders copied from the template). The covered
    # cells already carry the template's styles and no values.
    ws.merged_cells.add(MergedCellRange(ws, CellRange(min_col=left, min_row=top, max_col=right,
                                                      max_row=bottom).coord))


def copy_columns(template_ws, out_ws, max_col: int) -> None:
    for col in range(2, max_col + 1):
        letter = get_column_letter(col)
        dim = template_ws.column_dimensions.get(letter)
        if dim is not None and dim.width:
            out_ws.column_dimensions[get_column_letter(col - 1)].width = dim.width


def copy_page_setup(template_ws, out_ws, row_map) -> None:
    src, dst = template_ws.page_setup, out_ws.page_setup
    dst.orientation = src.orientation or "portrait"
    dst.paperSize = out_ws.PAPERSIZE_A4
    dst.fitToWidth = 1
    dst.fitToHeight = 0
    out_ws.sheet_properties.pageSetUpPr.fitToPage = True
    out_ws.page_margins = copy(template_ws.page_margins)
    out_ws.print_options.horizontalCentered = True
    out_ws.sheet_view.showGridLines = template_ws.sheet_view.showGridLines
    titles = print_title_rows(template_ws, row_map)
    if titles:
        out_ws.print_title_rows = f"{titles[0]}:{titles[1]}"


def print_title_rows(template_ws, row_map: dict[int, list[int]]) -> tuple[int, int] | None:
    """(first, last) output rows repeated on every printed page: the template's print titles
    mapped through ``row_map`` (None when it has none)."""
    titles = template_ws.print_title_rows
    if not titles:
        return None
    first, last = (int(x) for x in re.findall(r"\d+", titles)[:2])
    mapped = [r for t in range(first, last + 1) for r in row_map.get(t, [])]
    return (min(mapped), max(mapped)) if mapped else None


def template_fill(wb, spec: TemplateSpec, label: str, default: str) -> str:
    """Colour (RGB hex) of a sample cell on the template's styles sheet, looked up by its label."""
    name = spec.sheets.get("styles")
    if name and name in wb.sheetnames:
        for row in wb[name].iter_rows(min_col=1, max_col=2):
            if str(row[0].value or "").strip().startswith(label):
                color = row[1].fill.fgColor
                if row[1].fill.fill_type == "solid" and color is not None and color.type == "rgb":
                    return str(color.rgb)[-6:]
    return default


def cell_range(sheet: str, coordinate: str) -> str:
    """An absolute reference for a defined name: 'シート'!$E$12 (of a range, its first cell)."""
    column, row = _FIRST_CELL.match(coordinate).groups()
    quoted = "'" + sheet.replace("'", "''") + "'"
    return f"{quoted}!${column.upper()}${row}"


_FIRST_CELL = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d+)")
