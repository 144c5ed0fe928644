"""Streamed worksheet parts: rows of cells written as SpreadsheetML into a file of their own,
then spliced into a worksheet part another writer (XlsxWriter) saved, with its merged ranges.

Why: a table of a million cells written cell by cell through XlsxWriter costs ~24 µs a cell;
written here, ~3 µs (see :mod:`xlplan.merge.writer`). The looks of the cells stay XlsxWriter's:
each row file refers to its styles by a *token*; the caller writes one probe cell per token
through XlsxWriter's public API on the row after the streamed rows (``probe_row``), and the
splice reads the style index XlsxWriter gave each probe from the saved sheet, removes the probe
row and writes the rows with those indexes. No private attribute of XlsxWriter is needed.

Nothing here knows about plans: cells, rows, styles, merged ranges, the package's part order.
"""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Hashable, Iterable, Iterator

from .text import CELL_LIMIT, inline_string_cell, within_cell_limit, xml_escape

_CHUNK = 1 << 20
_MARK = "\x00"  # around a style token in a row file: never in XML text (cell_xml_text marks it)
_DEFAULT_ROW_PIXELS = 20  # the default row height (15 pt): rows of that height get no ht


def column_letter(index: int) -> str:
    """The letters of the 0-based column ``index`` (0 → A, 26 → AA)."""
    if 0 <= index < len(_LETTERS):
        return _LETTERS[index]
    return _letters(index)


def _letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


_LETTERS = [_letters(i) for i in range(702)]  # A … ZZ: every column a layout or table uses


def column_index(letters: str) -> int:
    """The 0-based index of the column ``letters`` (A → 0)."""
    index = 0
    for char in letters:
        index = index * 26 + ord(char) - 64
    return index - 1


def row_height_attributes(height: float | None) -> str:
    """The ``ht``/``customHeight`` attributes of a row ``height`` points high, rounded to whole
    pixels (as Excel stores heights); none for the default height."""
    if not height:
        return ""
    pixels = int(height * 4.0 / 3.0 + 0.5)
    if pixels == _DEFAULT_ROW_PIXELS:
        return ""
    return f' ht="{pixels * 0.75:.16g}" customHeight="1"'


class Spool:
    """A temporary file holding what many sheets stream, one sheet after the other, each in a
    :class:`Segment` of it: one file for hundreds of small sheets rather than a file each
    (creating and deleting a file costs more than writing a small sheet). One segment is
    written at a time."""

    def __init__(self, folder: Path, suffix: str):
        fd, name = tempfile.mkstemp(prefix=".~xlplan-rows-", suffix=suffix, dir=folder)
        self.path = Path(name)
        self.fh = open(fd, "wb", buffering=_CHUNK)
        self.writing: Segment | None = None

    def segment(self) -> "Segment":
        """A new segment, from the end of the file (the one before must be finished)."""
        if self.writing is not None:
            raise ValueError("a segment of this spool is still being written")
        self.writing = Segment(self, self.fh.tell())
        return self.writing

    def remove(self) -> None:
        """Close and delete the file."""
        self.fh.close()
        self.path.unlink(missing_ok=True)


class Segment:
    """The part of a :class:`Spool` one sheet wrote: text in, bytes out."""

    def __init__(self, spool: Spool, start: int):
        self.spool, self.start, self.end = spool, start, None

    def write(self, text: str) -> None:
        """Append ``text`` (UTF-8)."""
        self.spool.fh.write(text.encode("utf-8"))

    def finish(self) -> None:
        """End the segment (idempotent): the spool takes the next one."""
        if self.end is None:
            self.end = self.spool.fh.tell()
            self.spool.writing = None

    def chunks(self) -> Iterator[bytes]:
        """The segment's bytes, in chunks (finished first)."""
        self.finish()
        self.spool.fh.flush()
        left = self.end - self.start
        with open(self.spool.path, "rb") as fh:
            fh.seek(self.start)
            while left > 0 and (chunk := fh.read(min(_CHUNK, left))):
                left -= len(chunk)
                yield chunk


class Spools:
    """The spools of the sheets of one workbook, made when first needed: rows, hyperlinks and
    the links' relationships."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._spools: dict[str, Spool] = {}

    def segment(self, kind: str) -> Segment:
        """A new segment of the spool ``kind`` ('rows', 'links' or 'rels')."""
        if kind not in self._spools:
            self._spools[kind] = Spool(self.folder, "." + kind)
        return self._spools[kind].segment()

    def remove(self) -> None:
        """Close and delete every spool."""
        for spool in self._spools.values():
            spool.remove()


class RowFile:
    """The rows of one worksheet, written as ``<row>`` elements into a segment of a temporary
    file (``spools``, shared by the sheets of a workbook written one after the other; its own
    when none is given).

    ``looks[col]`` is the pair (text style, number style) of a column: any hashable keys the
    caller maps to its own formats; ``used`` lists the keys cells used, in order of first use.
    Values: None (no cell), bool, a finite int or float (a number), anything else as text (cut
    at the cell limit; NaN is no cell; an infinite number is its text in the number style)."""

    def __init__(self, sheet: str, folder: Path, looks: list[tuple[Hashable, Hashable]],
                 spools: Spools | None = None):
        self._own = spools is None
        self.spools = Spools(folder) if spools is None else spools
        self.fh = self.spools.segment("rows")
        self.sheet = sheet
        self.letters = [column_letter(c) for c in range(len(looks))]
        self.looks = looks
        self.tokens: list[list[str | None]] = [[None, None] for _ in looks]
        self.used: list[Hashable] = []
        self._token_of: dict[Hashable, str] = {}
        self.rows: tuple[int, int] | None = None  # first and last row written (0-based)
        self.cols: tuple[int, int] | None = None
        self.links: HyperlinkFile | None = None   # the sheet's hyperlinks, once one is written

    def _token(self, col: int, numeric: bool) -> str:
        token = self._key_token(self.looks[col][numeric])
        self.tokens[col][numeric] = token
        return token

    def _key_token(self, key: Hashable) -> str:
        token = self._token_of.get(key)
        if token is None:
            token = self._token_of[key] = f"{_MARK}{len(self.used)}{_MARK}"
            self.used.append(key)
        return token

    def write(self, r: int, values: list, height: float | None = None) -> None:
        """Write row ``r`` (0-based): one cell per value and the row's height in points."""
        number = str(r + 1)
        cells, cols = [], []
        for col, value in enumerate(values):
            if value is None:
                continue
            if type(value) is str and len(value) <= CELL_LIMIT // 2:
                # Most cells: short text. Inlined, as this loop runs once per cell of the sheet.
                style = self.tokens[col][0] or self._token(col, False)
                cell = inline_string_cell(f"{self.letters[col]}{number}", value, style)
            elif type(value) is int or (type(value) is float and math.isfinite(value)):
                style = self.tokens[col][1] or self._token(col, True)
                cell = f'<c r="{self.letters[col]}{number}" s="{style}"><v>{value:.16G}</v></c>'
            else:
                cell = self._cell(self.letters[col] + number, col, value)
                if cell is None:
                    continue
            cells.append(cell)
            cols.append(col)
        self._put_row(r, number, cells, height, cols)

    def write_cells(self, r: int, cells: Iterable[tuple[int, object, Hashable | None]],
                    height: float | None = None) -> None:
        """Write row ``r`` (0-based) from (column, value, style key) triples, in column order:
        each cell in its own style (None: no style), a None value with a style an empty styled
        cell (a border, a fill), a None value without one no cell. Values as in ``write``."""
        number = str(r + 1)
        parts, cols = [], []
        for col, value, key in cells:
            ref = column_letter(col) + number
            style = self._key_token(key) if key is not None else None
            if value is None:
                if style is None:
                    continue
                cell = f'<c r="{ref}" s="{style}"/>'
            else:
                cell = typed_cell(ref, value, style)
                if cell is None:
                    continue
            parts.append(cell)
            cols.append(col)
        self._put_row(r, number, parts, height, cols)

    def link(self, r: int, c: int, display: str, location: str | None = None,
             target: str | None = None) -> None:
        """A hyperlink on cell (``r``, ``c``) (0-based), whose text is ``display`` (the cell
        itself is written with the row): to ``location`` in this workbook ('Sheet'!A1), or to
        the file ``target`` (see ``file_link``), at ``location`` in it when given."""
        if self.links is None:
            self.links = HyperlinkFile(self.spools)
        self.links.add(column_letter(c) + str(r + 1), display, location, target)

    def _put_row(self, r: int, number: str, cells: list[str], height: float | None,
                 cols: list[int]) -> None:
        """Write one ``<row>`` of ``cells`` (in the columns ``cols``, in order), and widen the
        extent of the rows written."""
        ht = row_height_attributes(height)
        if not cells and not ht:
            return
        self.fh.write(f'<row r="{number}"{ht}>' + "".join(cells) + "</row>" if cells
                      else f'<row r="{number}"{ht}/>')
        self.rows = (r, r) if self.rows is None else (self.rows[0], r)
        if cols:
            first, last = cols[0], cols[-1]
            self.cols = (first, last) if self.cols is None else (min(self.cols[0], first), max(self.cols[1], last))

    def _cell(self, ref: str, col: int, value) -> str | None:
        if isinstance(value, float) and math.isnan(value):
            return None
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        return typed_cell(ref, value, self._token(col, numeric))

    def probe_row(self, after: int) -> int:
        """The 0-based row of the probe cells: after the streamed rows and after row ``after``
        (the last row the other writer wrote). Probe ``i`` goes into column ``i``."""
        return max(after, self.rows[1] if self.rows else after) + 1

    def close(self) -> None:
        """Finish the rows (idempotent)."""
        self.fh.finish()
        if self.links is not None:
            self.links.close()

    def remove(self) -> None:
        """Finish, and delete the temporary file when it is the row file's own."""
        self.close()
        if self._own:
            self.spools.remove()


def typed_cell(ref: str, value, style: str | None) -> str | None:
    """One ``<c>`` element as XlsxWriter writes a typed value in constant-memory mode: bool,
    a finite number, anything else as text (an infinite number as its text, cut at the cell
    limit); None for NaN (no cell)."""
    s = f' s="{style}"' if style is not None else ""
    if isinstance(value, bool):
        return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isnan(value):
            return None
        if math.isfinite(value):
            return f'<c r="{ref}"{s}><v>{value:.16G}</v></c>'
    return inline_string_cell(ref, within_cell_limit(value if isinstance(value, str) else str(value)), style)


_HYPERLINK_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink"
MAX_LINKS = 65530  # hyperlinks Excel keeps in one worksheet


class HyperlinkFile:
    """The ``<hyperlink>`` elements of one worksheet, written to a file as they come (a sheet of
    thousands of links never holds them in memory), and the relationships of the links to
    files (``rId1``, ``rId2``… in order), written to a second one (segments of ``spools``)."""

    def __init__(self, spools: Spools):
        self.fh = spools.segment("links")
        self.rels = spools.segment("rels")
        self.count = 0
        self.external = 0

    def add(self, ref: str, display: str, location: str | None, target: str | None) -> None:
        """One link (see ``RowFile.link``), with the attributes in XlsxWriter's order. Past
        Excel's 65,530 links in a sheet, none is added (XlsxWriter's rule too)."""
        if self.count >= MAX_LINKS:
            return
        attrs = f'ref="{ref}"'
        if target is not None:
            self.external += 1
            attrs += f' r:id="rId{self.external}"'
            self.rels.write(f'<Relationship Id="rId{self.external}" Type="{_HYPERLINK_REL}" '
                            f'Target="{_attribute(target)}" TargetMode="External"/>')
            if location:
                attrs += f' location="{_attribute(location)}"'
        else:
            attrs += f' location="{_attribute(location or "")}" display="{_attribute(display)}"'
        self.fh.write(f"<hyperlink {attrs}/>")
        self.count += 1

    def close(self) -> None:
        """Finish both segments (idempotent)."""
        self.fh.finish()
        self.rels.finish()


def _attribute(text: str) -> str:
    """Text as an XML attribute value, escaped as XlsxWriter escapes it (a line feed kept as
    a character reference)."""
    return xml_escape(text).replace('"', "&quot;").replace("\n", "&#xA;")


def file_link(path: str) -> tuple[str, str | None]:
    """(relationship target, location) of a link to the file ``path`` ('dir/file.xlsx', relative
    to the workbook, or absolute), optionally at '#location' in it: the form XlsxWriter gives an
    ``external:`` link (back-slashed, a few characters %-escaped, './' dropped), so a streamed
    link and one written through XlsxWriter are the same."""
    link, _, location = path.replace("/", "\\").partition("#")
    if link.startswith("\\\\") or (link[:1].isalpha() and link[1:2] == ":"):
        link = "file:///" + link
    if not re.search("%[0-9a-fA-F]{2}", link):
        for char, code in (("%", "%25"), ('"', "%22"), (" ", "%20"), ("<", "%3c"), (">", "%3e"),
                           ("[", "%5b"), ("]", "%5d"), ("^", "%5e"), ("`", "%60"), ("{", "%7b"),
                           ("}", "%7d")):
            link = link.replace(char, code)
    if link.startswith(".\\"):
        link = link[2:]
    return link, (location or None)


@dataclass
class SheetSplice:
    """What goes into one saved worksheet part: streamed rows (with the row of their probe
    cells, ``probe``, 0-based) and merged ranges ('A1:C2')."""

    rows: RowFile | None = None
    probe: int | None = None
    merges: list[str] = field(default_factory=list)


def split_sheet_data(xml: bytes) -> tuple[bytes, bytes]:
    """A worksheet part cut before ``</sheetData>`` (an empty ``<sheetData/>`` is opened)."""
    end = xml.find(b"</sheetData>")
    if end >= 0:
        return xml[:end], xml[end:]
    empty = xml.find(b"<sheetData/>")
    if empty < 0:
        raise ValueError("no <sheetData> in the worksheet part")
    return xml[:empty] + b"<sheetData>", b"</sheetData>" + xml[empty + len(b"<sheetData/>"):]


_CELL_REF = re.compile(rb'<c r="([A-Z]+)(\d+)"')
_PROBE_STYLE = re.compile(rb'<c r="([A-Z]+)\d+" s="(\d+)"')
_DIMENSION = re.compile(rb'<dimension ref="[^"]*"/>')
# The elements a worksheet may hold between </sheetData> and <mergeCells>, in schema order.
_BEFORE_MERGES = ("sheetCalcPr", "sheetProtection", "protectedRanges", "scenarios", "autoFilter",
                  "sortState", "dataConsolidate", "customSheetViews")
_BEFORE_HYPERLINKS = _BEFORE_MERGES + ("mergeCells", "phoneticPr", "conditionalFormatting",
                                       "dataValidations")


def _probe_styles(head: bytes, probe: int, count: int) -> tuple[bytes, dict[bytes, bytes]]:
    """The head without its probe row, and token number → style index read from the probes."""
    start = head.find(b'<row r="%d"' % (probe + 1))
    if start < 0:
        if count:
            raise ValueError("the probe row of the streamed styles is missing")
        return head, {}
    styles = {column_index(m.group(1).decode()): m.group(2) for m in _PROBE_STYLE.finditer(head, start)}
    missing = [i for i in range(count) if i not in styles]
    if missing:
        raise ValueError(f"probe cells without a style: {missing}")
    return head[:start], {str(i).encode(): styles[i] for i in range(count)}


def _dimension(head: bytes, rows: RowFile) -> bytes:
    """The ``<dimension>`` range of the other writer's cells widened to the streamed rows."""
    refs = [(column_index(m.group(1).decode()), int(m.group(2)) - 1) for m in _CELL_REF.finditer(head)]
    cols = [c for c, _ in refs] + (list(rows.cols) if rows.cols else [])
    rws = [r for _, r in refs] + (list(rows.rows) if rows.rows else [])
    if not rws:
        return b'<dimension ref="A1"/>'
    start = f"{column_letter(min(cols) if cols else 0)}{min(rws) + 1}"
    end = f"{column_letter(max(cols) if cols else 0)}{max(rws) + 1}"
    return f'<dimension ref="{start if start == end else start + ":" + end}"/>'.encode()


def merge_cells_xml(refs: list[str]) -> bytes:
    """The ``<mergeCells>`` element of these ranges."""
    return (f'<mergeCells count="{len(refs)}">' + "".join(f'<mergeCell ref="{ref}"/>' for ref in refs)
            + "</mergeCells>").encode()


def _after(tail: bytes, names: tuple[str, ...]) -> int:
    """Where in the part after ``</sheetData>`` an element goes that follows the elements
    ``names`` (schema order): after the last of them present."""
    at = len(b"</sheetData>")
    for name in names:
        match = re.compile(rb"<%s\b(?:[^>]*/>|.*?</%s>)" % (name.encode(), name.encode()), re.S).search(tail)
        if match:
            at = max(at, match.end())
    return at


def with_merge_cells(tail: bytes, refs: list[str]) -> bytes:
    """The part after ``</sheetData>`` with ``<mergeCells>`` at its place in schema order."""
    if not refs:
        return tail
    if b"<mergeCells" in tail:
        raise ValueError("the worksheet already has merged ranges")
    at = _after(tail, _BEFORE_MERGES)
    return tail[:at] + merge_cells_xml(refs) + tail[at:]


def _with_hyperlinks(tail: bytes, links: "HyperlinkFile | None") -> Iterator[bytes]:
    """The chunks of the part after ``</sheetData>`` with the streamed ``<hyperlinks>`` at its
    place in schema order (after merged ranges, conditional formats and validations)."""
    if links is None or not links.count:
        yield tail
        return
    if b"<hyperlinks" in tail:
        raise ValueError("the worksheet already has hyperlinks")
    at = _after(tail, _BEFORE_HYPERLINKS)
    yield tail[:at] + b"<hyperlinks>"
    yield from links.fh.chunks()
    yield b"</hyperlinks>" + tail[at:]


_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"


def hyperlink_relationships(rows: RowFile) -> Iterator[bytes] | None:
    """The chunks of the worksheet's relationships part for its streamed links to files, or
    None when it has none (the part is then not needed). The other writer must have made no
    relationships part for the sheet (its links would clash with these ids)."""
    links = rows.links
    if links is None or not links.external:
        return None
    links.close()

    def chunks() -> Iterator[bytes]:
        yield (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
               b'<Relationships xmlns="%s">' % _PACKAGE_RELS.encode())
        yield from links.rels.chunks()
        yield b"</Relationships>"
    return chunks()


def relationships_part(part: str) -> str:
    """The name of the relationships part of ``part`` ('xl/worksheets/_rels/sheet1.xml.rels')."""
    folder, _, name = part.rpartition("/")
    return f"{folder}/_rels/{name}.rels" if folder else f"_rels/{name}.rels"


def _restyled(rows: RowFile, styles: dict[bytes, bytes]) -> Iterator[bytes]:
    """The row file's bytes with each style token replaced by its style index."""
    carry = b""
    for chunk in rows.fh.chunks():
        parts = (carry + chunk).split(b"\x00")
        carry = b"\x00" + parts.pop() if len(parts) % 2 == 0 else b""  # a token cut in two
        parts[1::2] = [styles[token] for token in parts[1::2]]
        yield b"".join(parts)
    if carry:
        raise ValueError("row file ends inside a style token")


def spliced_sheet(xml: bytes, splice: SheetSplice) -> Iterator[bytes]:
    """The chunks of the worksheet part ``xml`` with the splice's rows (after the rows it holds),
    their hyperlinks and the merged ranges put in, its probe row removed and its
    ``<dimension>`` widened. Links to files need the relationships part
    (``hyperlink_relationships``) written beside it."""
    head, tail = split_sheet_data(xml)
    rows = splice.rows
    if rows is not None:
        rows.close()
        head, styles = _probe_styles(head, splice.probe, len(rows.used)) if splice.probe is not None \
            else (head, {})
        head = _DIMENSION.sub(lambda _: _dimension(head, rows), head, count=1)
    yield head
    if rows is not None:
        yield from _restyled(rows, styles)
    yield from _with_hyperlinks(with_merge_cells(tail, splice.merges), rows.links if rows is not None else None)


def _cell_element(ref: str, value, style: str | None) -> str:
    """One ``<c>`` element for ``value`` as an application saving a typed entry stores it:
    None an empty (styled) cell, bool, a finite number, text starting with '=' a formula
    (what typing it does), any other text an inline string."""
    s = f' s="{style}"' if style is not None else ""
    if value is None:
        return f'<c r="{ref}"{s}/>'
    if isinstance(value, bool):
        return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)) and math.isfinite(value):
        return f'<c r="{ref}"{s}><v>{value!r}</v></c>'
    text = str(value)
    if text.startswith("=") and len(text) > 1:
        return f'<c r="{ref}"{s}><f>{xml_escape(text[1:])}</f><v></v></c>'
    return inline_string_cell(ref, within_cell_limit(text), style)


_STYLE_ATTR = re.compile(rb'\ss="(\d+)"')


def set_cells(xml: bytes, values: dict[str, object]) -> bytes:
    """The worksheet part ``xml`` with the cells ``values`` (reference 'C5' → value) replaced,
    each keeping its style: how a person typing into existing (input) cells changes a sheet.

    Every cell must already be in the part (ValueError otherwise): an input cell of a
    generated workbook always is, with its unlocked style."""
    if not values:
        return xml
    pieces, at = [], 0
    found = []
    for ref in values:
        match = re.search(rb'<c r="%s"(?=[\s/>])' % ref.encode("ascii"), xml)
        if match is None:
            raise ValueError(f"no cell {ref} in the worksheet part")
        found.append((match.start(), ref))
    for start, ref in sorted(found):
        head_end = xml.index(b">", start)
        end = head_end + 1 if xml[head_end - 1:head_end] == b"/" else xml.index(b"</c>", head_end) + 4
        style = _STYLE_ATTR.search(xml, start, head_end)
        pieces.append(xml[at:start])
        pieces.append(_cell_element(ref, values[ref], style.group(1).decode() if style else None)
                      .encode("utf-8"))
        at = end
    pieces.append(xml[at:])
    return b"".join(pieces)
