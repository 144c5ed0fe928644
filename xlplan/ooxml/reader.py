"""Reading a workbook package (an xlsx someone else saved) without trusting it.

The reading side of :mod:`xlplan.ooxml`: the bytes of a file are opened as a package within
limits (size, unpacked size, entries, one entry per name), its sheets found through the
workbook's relationships (the resolver the writing side uses, :func:`.package.sheet_entries`),
and every sheet part scanned once, before any native reader sees it, against Excel's grid
(``scan_sheet``). The same scan gives what a layout check needs from the XML (formulas, styles,
protection, validated ranges), so no sheet part is parsed twice. Cell values come from that
scan where every cell of a sheet is of a plain form (:mod:`.values`), else from python-calamine
(``SheetValues``), given only bytes the scan accepted (``WorkbookValues`` decides per sheet).

Anything wrong with the file raises :class:`Refused` with the reason in Japanese and English
(and the sheet and cell when the reason is one place). Nothing here knows about plans.
"""

from __future__ import annotations

import datetime as dt
import io
import operator
import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

import xml.etree.ElementTree as _FastET
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from .package import sheet_entries
from .text import xml_unescape
from .values import may_show_date, plain_grid, shared_strings
from .worksheet import column_letter

NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
# Excel's grid: columns A..XFD, rows 1..1,048,576. A reference outside it is a damaged file.
EXCEL_COLUMNS = 16_384
EXCEL_ROWS = 1_048_576
SPREADSHEETML = (b"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
                 b"http://purl.oclc.org/ooxml/spreadsheetml/main")  # transitional, strict


@dataclass(frozen=True)
class Limits:
    """Sizes beyond which a file is refused (zip bombs, absurd files); all configurable."""

    max_file_bytes: int = 50 * 1024 * 1024
    max_unzipped_bytes: int = 300 * 1024 * 1024
    max_ratio: int = 200
    max_entries: int = 5000
    # The most cells (rows × columns, counted from A1) one sheet is laid out with in memory:
    # the value reader builds a dense grid, so one value at XFD1048576 alone would ask for
    # 17 billion cells. Values beyond are left out (and reported); xlplan's forms use a few
    # thousand cells.
    max_grid_cells: int = 1_000_000


class Refused(Exception):
    """A file that cannot be read as a whole, with the reason (Japanese ``ja``, English
    ``en``) and where, when the reason is one place (``sheet``, ``cell``)."""

    def __init__(self, ja: str, en: str, sheet: str = "", cell: str = ""):
        super().__init__(ja)
        self.ja, self.en, self.sheet, self.cell = ja, en, sheet, cell


# --- what the bytes are ------------------------------------------------------------------------

def sniff_bytes(data: bytes) -> str:
    """What a file's bytes are, whatever the file is called: xlsx, ods, xlsb, xls, encrypted,
    text, empty, broken-zip, zip or unknown."""
    kind, opened = sniff_package(data)
    if opened is not None:
        opened.close()
    return kind


def sniff_package(data: bytes) -> tuple[str, zipfile.ZipFile | None]:
    """``sniff_bytes``, and for a zip the opened zip (for ``Package``, which need not read the
    zip's directory again); the caller closes it."""
    head = data[:8]
    if head.startswith(OLE_MAGIC):
        # An OLE file is either a legacy .xls or an encrypted OOXML package; the latter has
        # an "EncryptedPackage" stream whose UTF-16 name appears in the directory.
        return ("encrypted" if "EncryptedPackage".encode("utf-16-le") in data else "xls"), None
    if not head:
        return "empty", None
    if head.startswith(ZIP_MAGIC):
        try:
            z = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            return "broken-zip", None
        names = set(z.namelist())
        if "xl/workbook.xml" in names:
            return "xlsx", z
        if "xl/workbook.bin" in names:
            return "xlsb", z
        if "content.xml" in names and "mimetype" in names:
            return "ods", z
        return "zip", z
    if head.startswith(b"PK"):
        return "broken-zip", None
    if head[:5].lower() in (b"<?xml", b"<html") or head[:2] == b"\xff\xfe":
        return "text", None
    try:
        data[:4096].decode("utf-8")
        return "text", None
    except UnicodeDecodeError:
        return "unknown", None


# What a file is instead of an xlsx workbook, in Japanese and English.
KIND_DETAIL = {
    "xls": ("Excel 97-2003 形式 (.xls) です。.xlsx 形式で保存し直してください",
            "it is an Excel 97-2003 workbook (.xls); save it again as .xlsx"),
    "xlsb": ("Excel バイナリ形式 (.xlsb) です。.xlsx 形式で保存し直してください",
             "it is an Excel binary workbook (.xlsb); save it again as .xlsx"),
    "ods": ("OpenDocument 形式 (.ods) です。.xlsx 形式で保存し直してください",
            "it is an OpenDocument spreadsheet (.ods); save it again as .xlsx"),
    "text": ("テキスト（CSV など）で、Excel ブックではありません", "it is text (CSV or similar), not an Excel workbook"),
    "empty": ("ファイルが空です（0 バイト）", "the file is empty (0 bytes)"),
    "broken-zip": ("ファイルが壊れているか途中までしかありません", "the file is damaged or cut off"),
    "zip": ("Excel ブックではない zip ファイルです", "it is a zip file but not an Excel workbook"),
    "unknown": ("Excel ブックではありません", "it is not an Excel workbook"),
}


def not_a_workbook(kind: str) -> Refused:
    """Why a file of ``kind`` (see ``sniff_bytes``) is not read as a workbook."""
    return Refused(*KIND_DETAIL.get(kind, KIND_DETAIL["unknown"]))


def read_regular_file(path, limits: Limits) -> bytes:
    """The bytes of a regular file, refusing links, pipes, devices and oversized files without
    blocking on them (no following of links, opened non-blocking, checked on the open file).
    A file that cannot be opened or read raises the operating system's ``OSError`` (the
    caller tells the user why, as for any file it is given)."""
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        what = ("リンク（ショートカット）", "a link") if stat.S_ISLNK(st.st_mode) else \
            ("フォルダ", "a folder") if stat.S_ISDIR(st.st_mode) else \
            ("名前付きパイプ・デバイスなどの特殊なファイル", "a pipe, a device or another special file")
        raise Refused(f"通常のファイルではありません（{what[0]}）", f"it is not a regular file ({what[1]})")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    with open(fd, "rb", closefd=True) as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):  # replaced between the two looks
            raise Refused("通常のファイルではありません", "it is not a regular file")
        if st.st_size > limits.max_file_bytes:
            raise Refused(f"大きすぎます（{st.st_size:,} バイト）", f"it is too large ({st.st_size:,} bytes)")
        data = fh.read(limits.max_file_bytes + 1)
    if len(data) > limits.max_file_bytes:
        raise Refused(f"大きすぎます（{len(data):,} バイト以上）", f"it is too large ({len(data):,} bytes or more)")
    return data


# --- references ----------------------------------------------------------------------------------

_CELL_REF = re.compile(r"\$?([A-Z]{1,3})\$?([0-9]{1,7})")


def cell_position(ref: str) -> tuple[int, int] | None:
    """(row, column), both from 1, of a reference such as 'B7' or '$B$7' inside Excel's grid
    (A1..XFD1048576); None for anything else."""
    # No reference is longer than '$XFD$1048576': a longer text is none (and is not cached).
    return _cell_position(ref) if len(ref) <= 12 else None


@lru_cache(maxsize=1 << 16)  # the same references recur in every file of a form
def _cell_position(ref: str) -> tuple[int, int] | None:
    m = _CELL_REF.fullmatch(ref)
    if m is None:
        return None
    row, col = int(m.group(2)), _column_number(m.group(1).encode())
    return (row, col) if 1 <= row <= EXCEL_ROWS and 1 <= col <= EXCEL_COLUMNS else None


def cell_reference(row: int, col: int) -> str:
    """'E12' for (12, 5)."""
    return f"{_letters(col)}{row}"


@lru_cache(maxsize=EXCEL_COLUMNS)
def _letters(col: int) -> str:
    return column_letter(col - 1)


@lru_cache(maxsize=EXCEL_COLUMNS)
def _column_number(letters: bytes) -> int:
    col = 0
    for ch in letters:
        col = col * 26 + ch - 64
    return col


class Ranges:
    """A set of cells given as ranges (a validation's sqref): which cells it covers."""

    def __init__(self, boxes: tuple[tuple[int, int, int, int], ...] = ()):
        self.boxes = boxes  # (first row, first column, last row, last column)
        self._cells: frozenset | None = None

    @classmethod
    def parse(cls, sqrefs) -> "Ranges":
        """The ranges of sqref texts such as 'E12 G3:H4' ('$' ignored, unreadable pieces left out)."""
        boxes = []
        for sqref in sqrefs:
            for piece in sqref.replace("$", "").split():
                first, _, last = piece.partition(":")
                a, b = cell_position(first), cell_position(last or first)
                if a and b:
                    boxes.append((a[0], a[1], b[0], b[1]))
        return cls(tuple(boxes))

    def covers(self, ref: str) -> bool:
        """True when the cell ``ref`` lies in one of the ranges."""
        at = cell_position(ref)
        if at is None:
            return False
        if self._cells is None and sum((r2 - r1 + 1) * (c2 - c1 + 1) for r1, c1, r2, c2 in self.boxes
                                       if r2 >= r1 and c2 >= c1) <= 10_000:
            # A form's validations cover a few cells: one set answers every question.
            self._cells = frozenset((r, c) for r1, c1, r2, c2 in self.boxes
                                    for r in range(r1, r2 + 1) for c in range(c1, c2 + 1))
        if self._cells is not None:
            return at in self._cells
        row, col = at
        return any(r1 <= row <= r2 and c1 <= col <= c2 for r1, c1, r2, c2 in self.boxes)


# --- the package ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SheetEntry:
    """One sheet of a workbook: its name, its worksheet part and its state (visible, hidden…)."""

    name: str
    part: str
    state: str


def _check_sizes(z: zipfile.ZipFile, limits: Limits) -> None:
    infos = z.infolist()
    if len(infos) > limits.max_entries:
        raise Refused(f"zip の項目が多すぎます（{len(infos)}）", f"the zip has too many entries ({len(infos)})")
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > limits.max_unzipped_bytes or total / packed > limits.max_ratio and total > 10 << 20:
        raise Refused("展開後のサイズが異常に大きい（zip 爆弾の可能性）ため読み取りません",
                      "it unpacks to an abnormal size (a possible zip bomb) and is not read")
    seen: set[str] = set()
    for info in infos:
        # Two entries of one name: readers disagree on which one counts (Python takes the
        # last, others the first), so what is verified might not be what is read.
        if info.filename in seen:
            raise Refused(f"zip の中に同じ名前の項目が 2 つあります（{info.filename}）",
                          f"the zip holds two entries named {info.filename}")
        seen.add(info.filename)


_UTF8_START = re.compile(rb"(?:\xef\xbb\xbf)?(?:<\?xml(?:\s+version\s*=\s*[\"'][^\"']*[\"'])?"
                         rb"(?:\s+encoding\s*=\s*[\"'](?i:utf-8)[\"'])?(?:\s+standalone\s*=\s*[\"'][^\"']*[\"'])?\s*\?>)?\s*<[^!?]")


def parse_xml(data: bytes, name: str):
    """A part parsed safely; malformed XML or a DTD/entity refuses the file.

    A UTF-8 part without a document type declaration can declare no entity and name no
    external resource, so expat's C parser reads it as safely as defusedxml's (Python)
    parser, which reads everything else and refuses any DTD."""
    try:
        if _UTF8_START.match(data) and b"<!DOCTYPE" not in data:
            return _FastET.fromstring(data)
        return SafeET.fromstring(data)
    except DefusedXmlException as exc:
        raise Refused(f"「{name}」に許可されていない XML の定義（DTD・エンティティ）があります",
                      f"the part {name} holds XML definitions that are not allowed (DTD, entities)") from exc
    except (SafeET.ParseError, _FastET.ParseError, ValueError, UnicodeError) as exc:
        raise Refused(f"「{name}」の XML が壊れています", f"the XML of the part {name} is damaged") from exc


class Package:
    """An xlsx package opened from its bytes within ``limits``: its sheets (through the
    workbook's relationships) and its workbook-level defined names. Parts are read on demand;
    a missing or damaged part refuses the file."""

    def __init__(self, data: bytes, limits: Limits = Limits(), opened: zipfile.ZipFile | None = None):
        """``opened``: the zip of ``data`` when ``sniff_package`` already opened it."""
        try:
            self.zip = opened if opened is not None else zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise not_a_workbook("broken-zip") from exc
        self.data = data
        self.limits = limits
        _check_sizes(self.zip, limits)
        self.names_in_zip = set(self.zip.namelist())
        workbook = parse_xml(self.part("xl/workbook.xml"), "xl/workbook.xml")
        rels_name = "xl/_rels/workbook.xml.rels"
        self.sheets = [SheetEntry(*e) for e in sheet_entries(workbook, parse_xml(self.part(rels_name), rels_name))]
        self.defined_names: dict[str, str] = {}
        self._number_formats: tuple[dict[int, str], list[int]] | None = None
        for dn in workbook.iter(f"{NS_MAIN}definedName"):
            if dn.get("localSheetId") is None and dn.text:
                self.defined_names[dn.get("name", "")] = dn.text

    def __enter__(self) -> "Package":
        return self

    def __exit__(self, *exc) -> None:
        self.zip.close()

    def has(self, name: str) -> bool:
        """True when the package holds a part of that name."""
        return name in self.names_in_zip

    def part(self, name: str) -> bytes:
        """One part of the package; a missing or undecompressable part refuses the file."""
        try:
            return self.zip.read(name)
        except KeyError:
            raise Refused(f"ブックに必要な部分「{name}」がありません", f"the part {name} the workbook needs is missing")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError,
                NotImplementedError) as exc:
            # CRC error, cut-off or corrupt deflate data, an encrypted or unknown compression
            raise Refused(f"zip の中の「{name}」が壊れています", f"the part {name} inside the zip is damaged") from exc

    def sheet_names(self) -> list[str]:
        """The sheets' names in workbook order."""
        return [s.name for s in self.sheets]

    def resolve_name(self, name: str) -> tuple[str, str] | None:
        """A workbook-level defined name's target as (sheet, 'E12'), or None when it is missing
        or not a cell (a range gives its first cell)."""
        ref = self.defined_names.get(name)
        if not ref or "!" not in ref:
            return None
        sheet, cell = ref.rsplit("!", 1)
        sheet = sheet.strip("'").replace("''", "'")
        cell = cell.replace("$", "").split(":", 1)[0]
        return (sheet, cell) if cell_position(cell) else None

    def percent_styles(self) -> set[int]:
        """Indexes of cell formats (cellXfs) whose number format shows a percentage."""
        percent_ids = {9, 10}  # Excel's built-in 0% and 0.00%
        codes, xfs = self.number_formats()
        for format_id, code in codes.items():
            if "%" in re.sub(r'"[^"]*"|\\.', "", code):
                percent_ids.add(format_id)
        return {i for i, format_id in enumerate(xfs) if format_id in percent_ids}

    def number_formats(self) -> tuple[dict[int, str], list[int]]:
        """({custom number format id: its code}, the number format id of each cell format
        (cellXfs) in order); empty without a style sheet."""
        if self._number_formats is None:
            codes: dict[int, str] = {}
            xf_formats: list[int] = []
            if self.has("xl/styles.xml"):
                root = parse_xml(self.part("xl/styles.xml"), "xl/styles.xml")
                for fmt in root.iter(f"{NS_MAIN}numFmt"):
                    codes[_number(fmt.get("numFmtId"), -1)] = fmt.get("formatCode", "")
                xfs = root.find(f"{NS_MAIN}cellXfs")
                if xfs is not None:
                    xf_formats = [_number(xf.get("numFmtId"), 0) for xf in xfs.iter(f"{NS_MAIN}xf")]
            self._number_formats = (codes, xf_formats)
        return self._number_formats

    def values(self, scans: dict[str, "SheetScan"]) -> "WorkbookValues":
        """The cell values of the scanned sheets (``WorkbookValues``; close it, or use ``with``)."""
        return WorkbookValues(self, scans)

    def last_saved(self) -> dt.datetime | None:
        """dcterms:modified of docProps/core.xml: when the application last saved the file."""
        if not self.has("docProps/core.xml"):
            return None
        match = re.search(rb"<dcterms:modified[^>]*>([^<]+)</dcterms:modified>", self.part("docProps/core.xml"))
        if not match:
            return None
        try:
            return dt.datetime.fromisoformat(match.group(1).decode("utf-8", "replace").strip().replace("Z", "+00:00"))
        except ValueError:
            return None

    def macro_parts(self) -> list[str]:
        """What makes the workbook one with macros: a VBA project, Excel 4 macro sheets, a
        signature of either, or a content type declared macro-enabled (empty for none)."""
        found = sorted(n for n in self.names_in_zip if _MACRO_PARTS.search(n))
        try:
            types = self.part("[Content_Types].xml") if self.has("[Content_Types].xml") else b""
        except Refused:  # a damaged part is reported by the reading itself
            types = b""
        if re.search(rb"macroEnabled|vnd\.ms-office\.vbaProject|vnd\.ms-excel\.macrosheet", types, re.I):
            found.append("[Content_Types].xml: macro-enabled")
        return found

    def shared_string_count(self) -> int:
        """How many shared strings the package holds (0 without a table); refuses a table whose
        declared count is larger than what it holds (the native reader reserves that much)."""
        name = "xl/sharedStrings.xml"
        if not self.has(name):
            return 0
        data = self.part(name)
        check_root(data, name, b"sst")
        held = len(re.findall(rb"<(?:[\w.-]+:)?si(?:\s[^>]*)?>", data))
        root = re.search(rb"<(?:[\w.-]+:)?sst\b([^>]*)>", data)
        declared = _attr(root.group(1), b"uniqueCount") if root else None
        if declared is not None and declared.strip().isdigit() and int(declared) > held + 1000:
            raise Refused(f"共有文字列の表（{name}）の件数 {declared} が中身（{held} 件）と合いません",
                          f"the shared-string table ({name}) declares {declared} strings but holds {held}")
        return held

    def scan(self) -> dict[str, "SheetScan"]:
        """Every sheet part scanned once (``scan_sheet``), in workbook order, keyed by sheet name."""
        strings = self.shared_string_count()
        scans: dict[str, SheetScan] = {}
        for entry in self.sheets:
            if entry.name not in scans:
                scans[entry.name] = scan_sheet(entry.name, entry.part, self.part(entry.part), strings,
                                               self.limits.max_grid_cells)
        return scans

    def value_bytes(self, scans: dict[str, "SheetScan"]) -> bytes:
        """What the value reader is given: the file's own bytes, or, when a sheet's grid would be
        too large, a copy (in memory) whose sheets leave out their far cells."""
        far = {s.part: s for s in scans.values() if s.far_spans}
        if not far:
            return self.data
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for info in self.zip.infolist():
                scan = far.get(info.filename)
                z.writestr(info.filename, scan.without_far_cells() if scan else self.part(info.filename))
        return out.getvalue()


_MACRO_PARTS = re.compile(r"(^|/)vbaProject\.bin$|^xl/macrosheets/|(^|/)vbaProjectSignature", re.I)


def _number(text: str | None, default: int) -> int:
    """A whole-number attribute, or ``default`` when it is missing or not a number (a format
    id that is no number formats nothing: the cell is not a percentage)."""
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() else default


_ROOT = re.compile(rb"<(?![?!])(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)([^>]*)>")


def check_root(data: bytes, part: str, local: bytes, sheet: str = "") -> None:
    """The part's root element is SpreadsheetML's ``local`` (worksheet, sst). The native
    reader ignores namespaces, Excel does not: a sheet whose namespace was damaged would be
    read by one and be empty for the other."""
    root = _ROOT.search(data)
    namespace = None
    if root is not None and root.group(2) == local:
        declared = b"xmlns" + (b":" + root.group(1) if root.group(1) else b"")
        m = re.search(rb"(?:^|\s)" + re.escape(declared) + rb"\s*=\s*[\"']([^\"']*)[\"']", root.group(3))
        namespace = m.group(1) if m else None
    if namespace not in SPREADSHEETML:
        where = f"シート「{sheet}」（{part}）" if sheet else part
        where_en = f"sheet '{sheet}' ({part})" if sheet else part
        raise Refused(f"{where} が Excel の形式（SpreadsheetML）になっていません",
                      f"{where_en} is not in Excel's format (SpreadsheetML)", sheet=sheet)


# --- one scan of a sheet part -------------------------------------------------------------------

@dataclass
class SheetScan:
    """What one scan of a sheet part found: the cells it holds formulas in (reference → the
    formula, '=(shared)' for a cell sharing another's), each cell's style index, whether the
    sheet is protected, the ranges with a data validation, and the cells left out of the
    value grid (far outside the form: their references, and their byte spans in the part)."""

    name: str
    part: str
    data: bytes
    formulas: dict[str, str] = field(default_factory=dict)
    styles: dict[bytes, bytes] = field(default_factory=dict)
    protected: bool = False
    validated: Ranges = field(default_factory=Ranges)
    far_refs: list[str] = field(default_factory=list)
    far_spans: list[tuple[int, int]] = field(default_factory=list)
    # From the bulk scan only: every matched cell tag and the cached value after each formula,
    # from which ``values.plain_grid`` takes the sheet's values (None: the careful scan ran).
    cells: list[tuple] | None = None
    formula_values: dict[bytes, bytes] = field(default_factory=dict)

    def style(self, ref: str) -> int:
        """The style (cellXfs index) of the cell ``ref``; 0 when it has none."""
        return int(self.styles.get(ref.encode("ascii", "replace"), b"0"))

    def without_far_cells(self) -> bytes:
        """The part with the elements of its far cells cut out."""
        pieces, at = [], 0
        for start, stop in sorted(self.far_spans):
            pieces.append(self.data[at:start])
            at = stop
        pieces.append(self.data[at:])
        return b"".join(pieces)


def scan_sheet(name: str, part: str, data: bytes, strings: int, max_grid_cells: int) -> SheetScan:
    """Check one sheet part against Excel's grid before the native reader opens it, and take
    from it what a layout check needs (one scan: the part is never parsed again).

    Refuses (``Refused`` naming the sheet and cell) what Excel itself could not hold: a cell,
    row, dimension, merged range or validated range outside A1..XFD1048576, rows or cells out
    of order or twice, a damaged cell attribute, a shared-string index that is no index below
    ``strings``, a damaged namespace. Values that would stretch the value grid beyond
    ``max_grid_cells`` are left out (``far_refs``)."""
    check_root(data, part, b"worksheet", name)
    scan = SheetScan(name, part, data)
    # The common case (cells as Excel, LibreOffice, openpyxl and XlsxWriter write them) is
    # checked in bulk; anything else, or anything wrong, goes through the careful scan, which
    # gives the exact reason.
    if not _fast_scan(scan, data, strings, max_grid_cells):
        cells = _careful_scan(name, data, strings)
        left_out = _beyond_grid(name, cells, max_grid_cells)
        scan.far_refs = [c[4] for c in left_out]
        scan.far_spans = [(c[2], _element_end(data, c[3])) for c in left_out]
        scan.styles = {(ref or ref2): (style or style2) for ref, style, style2, ref2 in _REF_AND_STYLE.findall(data)}
        scan.validated = Ranges.parse(_validated_sqrefs(data, _ANY_VALIDATION_TAG))
        prot = _PROTECTION.search(data)
        scan.protected = bool(prot and _attr(prot.group(1), b"sheet") in ("1", "true"))
        _formulas(scan, data)
    return scan


def check_well_formed(sheet: str, part: str, data: bytes) -> None:
    """Refuse a sheet part that is not well-formed XML, or that declares a DTD (entities).

    For the sheets whose values python-calamine reads (``WorkbookValues``): it reads some
    damaged XML leniently (a flipped byte can join a cell's text to another's), where Excel
    and openpyxl refuse it. Streamed through expat: no tree, little memory. (A sheet whose
    values the scan reads needs no such pass: damage to a value's text makes it not plain.)"""
    from xml.parsers import expat

    def refuse(*_args):
        raise ValueError("DTD")

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(data, True)
    except (expat.ExpatError, ValueError) as exc:
        raise Refused(f"シート「{sheet}」の XML が壊れています（{part}）",
                      f"the XML of sheet '{sheet}' is damaged ({part})", sheet=sheet) from exc


# The start and end tags of sheetData that place a value: rows and cells, plus the elements
# that carry references (dimension, merged cells, data validations).
_SHEET_TAG = re.compile(rb"<(/?)(?:[A-Za-z_][\w.-]*:)?(row|c|dimension|mergeCell|dataValidation)(?=[\s/>])"
                        rb"(?:\s+r=\"([^\"]*)\")?([^>]*?)(/?)>")  # r, when first, without a second search
_ATTR = {name: re.compile(rb"(?:^|\s)" + name + rb"\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
         for name in (b"r", b"t", b"ref", b"sqref", b"uniqueCount", b"sheet")}
_XM_SQREF = re.compile(rb"<xm:sqref>([^<]*)</xm:sqref>")
_VALUE_AFTER = re.compile(rb"\s*<(?:[\w.-]+:)?v(?:\s[^>]*)?>([^<]*)</(?:[\w.-]+:)?v\s*>")
_CELL_END = re.compile(rb"</(?:[\w.-]+:)?c\s*>")
_CELL_TYPES = (b"b", b"d", b"e", b"inlineStr", b"n", b"s", b"str")  # ST_CellType
_POSITION = re.compile(rb"\$?([A-Z]{1,3})\$?([0-9]{1,7})")

# The bulk check: every cell tag of the form <c r="B7" s="3" t="s">, attributes in that order
# (r always, a type Excel knows), and the value right after a shared-string cell's tag; rows as
# <row r="7" …>; no element the scan looks at written with a namespace prefix. A tag of another
# form matches the second branch (an empty first group) and sends the sheet to the careful scan.
_CELLS = re.compile(rb'<c(?: r="([A-Z]{1,3}[0-9]{1,7})"(?: s="([0-9]{1,9})")?(?: t="(b|d|e|inlineStr|n|s|str)")?'
                    rb'(/>|></c\s*>|>)(?:<v>([^<]*)</v>|(<is><t(?: xml:space="preserve")?>[^<]*</t></is>))?|[\s/>])')
_ROWS = re.compile(rb'<row(?: r="([0-9]{1,7})"(?=[\s/>])|[\s/>])')
_UNUSUAL = re.compile(rb":(?:c|row|dimension|mergeCell|dataValidation|sheetProtection|f|v|sqref)[\s/>]")
_OTHER_TAGS = re.compile(rb'<(dimension|mergeCell|dataValidation|sheetProtection|f)(?=[\s/>])(?: (s?ref)="([^">]*)")?([^>]*)>')
_ANY_VALIDATION_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?dataValidation(?=[\s/>])([^>]*)>")


class _RefKeys(dict):
    """row × 16,384 + column of a plain reference such as b'B7' (so that keys sort as Excel
    orders cells), or -1 outside Excel's grid: ``_REF_KEYS[ref]``. The same references recur
    in every file of a form, so they are remembered (a dict's own lookup: this runs for every
    cell of every file)."""

    def __missing__(self, ref: bytes) -> int:
        if len(self) >= 1 << 17:
            self.clear()
        at = _position(ref)
        key = self[ref] = at[0] * EXCEL_COLUMNS + at[1] if at else -1
        return key


_REF_KEYS = _RefKeys()


def _row_and_column(ref: bytes) -> tuple[int, int]:
    """1-based (row, column) of a reference the bulk scan accepted (its key is known)."""
    row, column = divmod(_REF_KEYS[ref] - 1, EXCEL_COLUMNS)
    return row, column + 1


def _fast_scan(scan: SheetScan, data: bytes, strings: int, max_grid_cells: int) -> bool:
    """The careful scan's checks done in bulk for a sheet whose every cell and row tag has the
    plain form, with the sheet's styles, protection and validated ranges; True when the sheet
    passed, False when the careful scan must decide (an unusual form, or a problem to
    report: the careful scan words it)."""
    if _UNUSUAL.search(data):
        return False
    cells = _CELLS.findall(data)
    if cells and not _plain_cells_fit(cells, strings, max_grid_cells):
        return False
    rows = _ROWS.findall(data)
    if b"" in rows:
        return False
    numbers = list(map(int, rows))
    if numbers and (numbers[0] < 1 or numbers[-1] > EXCEL_ROWS or not all(map(operator.lt, numbers, numbers[1:]))):
        return False
    sqrefs, protection, formulas = [], None, False
    for tag, first, value, attrs in _OTHER_TAGS.findall(data):
        # A ref or sqref written first is taken from the match (no search of the attributes).
        if tag == b"dataValidation":
            sqrefs.append(value.decode("utf-8", "replace") if first == b"sqref" else _attr(attrs, b"sqref") or "")
        elif tag == b"sheetProtection":
            if protection is None:
                protection = (b" %s=\"%s\"" % (first, value) if first else b"") + attrs
        elif tag == b"f":
            formulas = True
        else:
            ref = value.decode("utf-8", "replace") if first == b"ref" else _attr(attrs, b"ref")
            if ref is not None and not _in_grid(ref.strip()):
                return False
    if not all(_in_grid(piece) for sqref in sqrefs for piece in sqref.split()):
        return False
    scan.styles = {c[0]: c[1] for c in cells if c[1]}
    scan.cells = cells
    scan.validated = Ranges.parse(sqrefs)
    scan.protected = protection is not None and _attr(protection, b"sheet") in ("1", "true")
    if formulas:
        _plain_formulas(scan, data)
    return True


def _plain_cells_fit(cells: list[tuple], strings: int, max_grid_cells: int) -> bool:
    """Plain cells (``_CELLS`` matches of the first branch) inside Excel's grid, in order, each
    once, their shared-string indexes valid, and their values within the value grid's budget."""
    refs = [c[0] for c in cells]
    if b"" in refs:
        return False  # a cell tag of another form
    keys = list(map(_REF_KEYS.__getitem__, refs))
    if -1 in keys or not all(map(operator.lt, keys, keys[1:])):
        return False
    # A shared-string cell with content must be followed by its <v>, holding an index.
    for value in [c[4] for c in cells if c[2] == b"s" and c[3] == b">"]:
        if not value.isdigit() or int(value) >= strings:
            return False
    # The cells are in order, so the last one with content has the largest row.
    last = next((k for k, c in zip(reversed(keys), reversed(cells)) if c[3] == b">"), None)
    if last is None or (last // EXCEL_COLUMNS) * EXCEL_COLUMNS <= max_grid_cells:
        return True
    content = [k for k, c in zip(keys, cells) if c[3] == b">"]
    return (last // EXCEL_COLUMNS) * max(k % EXCEL_COLUMNS for k in content) <= max_grid_cells


def _validated_sqrefs(data: bytes, tag: re.Pattern) -> list[str]:
    """The sqref of every data validation (its attribute, or Excel's x14 <xm:sqref>)."""
    sqrefs = [_attr(attrs, b"sqref") or "" for attrs in tag.findall(data)]
    return sqrefs + [m.decode("utf-8", "replace") for m in _XM_SQREF.findall(data)]


def _in_grid(ref: str) -> bool:
    """A range 'A1:B2' or a cell 'A1' whose every corner lies in Excel's grid."""
    return len(ref) <= 25 and _short_in_grid(ref)  # (a longer text is no range, and not cached)


@lru_cache(maxsize=1 << 16)
def _short_in_grid(ref: str) -> bool:
    corners = ref.split(":")
    return len(corners) <= 2 and all(cell_position(c) for c in corners)


# Formulas, protection and validations: what a layout check reads from the XML.
_CELL_XML = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(/>|>(.*?)</(?:\w+:)?c>)", re.S)
_REF_ATTR = re.compile(rb'\br="([A-Z]+[0-9]+)"')
_FORMULA = re.compile(rb"<(?:\w+:)?f\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?f>)", re.S)
# A cell formula element (<f>, <f t="shared" …/>), not <formula> of a conditional format.
_HAS_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_PROTECTION = re.compile(rb"<(?:\w+:)?sheetProtection\b([^>]*)>")
# A cell's reference and style in one match, whichever order the writer put them in.
_REF_AND_STYLE = re.compile(rb'<(?:\w+:)?c\b[^>]*?(?:\br="([A-Z]+[0-9]+)"[^>]*?\bs="([0-9]+)"'
                            rb'|\bs="([0-9]+)"[^>]*?\br="([A-Z]+[0-9]+)")')


def _formulas(scan: SheetScan, data: bytes) -> None:
    """The formulas of a sheet part's cells."""
    if _HAS_FORMULA.search(data):  # most sheets hold no formula: skip the per-cell pass
        for match in _CELL_XML.finditer(data):
            inner = match.group(3)
            if inner and _HAS_FORMULA.search(inner):
                ref = _REF_ATTR.search(match.group(1))
                f = _FORMULA.search(inner)
                if ref and f:
                    text = (f.group(1) or b"").decode("utf-8", "replace")
                    scan.formulas[ref.group(1).decode()] = "=" + xml_unescape(text) if text else "=(shared)"


# In a sheet of the plain form (no prefixed element; every cell tag starts <c r="…"), a cell's
# formula: found by itself, its cell found backwards from it (most cells hold none, so this
# costs what the formulas cost, not what the cells cost).
_PLAIN_FORMULA = re.compile(rb"<f(?=[\s/>])[^>]*?(?:/>|>([^<]*)</f\s*>)(?:<v>([^<]*)</v>)?")
_PLAIN_CELL_START = re.compile(rb'<c r="([A-Z]{1,3}[0-9]{1,7})"[^>]*?(?<!/)>')


def _plain_formulas(scan: SheetScan, data: bytes) -> None:
    """``_formulas`` for a sheet the bulk scan accepted (the same result; tested on both)."""
    for m in _PLAIN_FORMULA.finditer(data):
        start = data.rfind(b"<c ", 0, m.start())
        cell = _PLAIN_CELL_START.match(data, start) if start >= 0 else None
        if cell is None or b"</c" in data[cell.end():m.start()]:
            continue  # not inside a cell's element (the careful pass would not count it either)
        text = (m.group(1) or b"").decode("utf-8", "replace")
        scan.formulas[cell.group(1).decode()] = "=" + xml_unescape(text) if text else "=(shared)"
        scan.formula_values[cell.group(1)] = m.group(2) or b""


def _attr(attrs: bytes, name: bytes) -> str | None:
    m = _ATTR[name].search(attrs)
    if m is None:
        return None
    return (m.group(1) if m.group(1) is not None else m.group(2)).decode("utf-8", "replace")


def _attr_bytes(attrs: bytes, name: bytes) -> bytes | None:
    m = _ATTR[name].search(attrs)
    if m is None:
        return None
    return m.group(1) if m.group(1) is not None else m.group(2)


def _bad_reference(sheet: str, ref: str) -> Refused:
    shown = ref if len(ref) <= 24 else ref[:24] + "…"
    return Refused(f"シート「{sheet}」のセル番地「{shown}」が Excel の範囲（A1～XFD1048576）にないか正しくありません",
                   f"sheet '{sheet}' refers to a cell '{shown}' that is not a valid Excel cell (A1 to XFD1048576)",
                   sheet=sheet, cell=shown if cell_position(ref) else "")


def _check_range(sheet: str, ref: str) -> None:
    """A range 'A1:B2' or a cell 'A1' whose every corner lies in Excel's grid."""
    if not _in_grid(ref):
        raise _bad_reference(sheet, ref)


def _position(ref: bytes) -> tuple[int, int] | None:
    """``cell_position`` of a reference as bytes."""
    m = _POSITION.fullmatch(ref)
    if m is None:
        return None
    row, col = int(m.group(2)), _column_number(m.group(1))
    return (row, col) if 1 <= row <= EXCEL_ROWS and 1 <= col <= EXCEL_COLUMNS else None


def _out_of_order(sheet: str, where: str) -> Refused:
    return Refused(f"シート「{sheet}」の {where} が重複しているか順序が正しくありません（ファイルが壊れています）",
                   f"sheet '{sheet}': {where} appears twice or out of order (the file is damaged)",
                   sheet=sheet, cell=where if cell_position(where) else "")


def _careful_scan(sheet: str, data: bytes, strings: int) -> list[tuple]:
    """Every reference of one sheet's XML checked against Excel's grid, tag by tag, and the
    cells with content as (row, column, start, inner, reference, has its own reference) —
    placed the way the value reader places them: by their own reference, else after the
    previous cell of the row."""
    cells = []
    row_index, col_index = 0, 0  # 0-based, as the value reader counts
    last_row, last_cell = 0, (0, 0)  # Excel keeps rows and cells in order, each once
    for m in _SHEET_TAG.finditer(data):
        closing, tag, first_r, attrs, empty = m.groups()
        if tag == b"c":
            if closing:
                continue
            if attrs.count(b'"') % 2 or attrs.count(b"'") % 2 or (
                    b"t=" in attrs and _attr_bytes(attrs, b"t") not in _CELL_TYPES):
                # A '>' inside an attribute, or a type Excel does not know: Excel calls the
                # file corrupt, and the readers disagree on what the cell holds.
                raise Refused(f"シート「{sheet}」のセルの属性が壊れています（ファイルが壊れています）",
                              f"sheet '{sheet}' has a cell with damaged attributes (the file is damaged)",
                              sheet=sheet)
            r = first_r if first_r is not None else _attr_bytes(attrs, b"r")
            if r is not None:
                position = _position(r)
                if position is None:
                    raise _bad_reference(sheet, r.decode("utf-8", "replace"))
                row, col = position
            else:
                row, col = row_index + 1, col_index + 1
                if row > EXCEL_ROWS or col > EXCEL_COLUMNS:
                    raise Refused(f"シート「{sheet}」に Excel の範囲（A1～XFD1048576）を超える位置のセルがあります",
                                  f"sheet '{sheet}' places a cell outside Excel's grid (A1 to XFD1048576)",
                                  sheet=sheet)
            if (row, col) <= last_cell:
                # Two cells at one place: readers disagree on which one counts.
                raise _out_of_order(sheet, cell_reference(row, col))
            last_cell = (row, col)
            if empty:
                continue  # <c …/> holds no value: the value reader skips it altogether
            col_index = col
            if _CELL_END.match(data, m.end()):
                continue  # <c …></c>: no value either
            ref = cell_reference(row, col)
            if (b't="s"' in attrs or b"t='s'" in attrs) and _attr(attrs, b"t") == "s":
                _check_string_index(sheet, ref, data, m.end(), strings)
            cells.append((row, col, m.start(), m.end(), ref, r is not None))
        elif tag == b"row":
            if closing:
                row_index, col_index = row_index + 1, 0
                continue
            r = first_r if first_r is not None else _attr_bytes(attrs, b"r")
            if r is not None:
                if not r.isdigit() or not 1 <= int(r) <= EXCEL_ROWS:
                    shown = r[:24].decode("utf-8", "replace")
                    raise Refused(f"シート「{sheet}」の行番号「{shown}」が Excel の範囲（1～1048576）にないか正しくありません",
                                  f"sheet '{sheet}' has a row number '{shown}' outside Excel's rows (1 to 1048576)",
                                  sheet=sheet)
                if int(r) <= last_row:
                    raise _out_of_order(sheet, r.decode())
                last_row = int(r)
                if not empty:
                    row_index = int(r) - 1
        elif tag in (b"dimension", b"mergeCell"):
            ref = _attr(attrs, b"ref")
            if ref is not None:
                _check_range(sheet, ref.strip())
        elif not closing:  # dataValidation
            for piece in (_attr(attrs, b"sqref") or "").split():
                _check_range(sheet, piece)
    for m in _XM_SQREF.finditer(data):
        for piece in m.group(1).decode("utf-8", "replace").split():
            _check_range(sheet, piece)
    return cells


def _check_string_index(sheet: str, ref: str, data: bytes, at: int, strings: int) -> None:
    """A shared-string cell's value must be a whole number below the table's size (the
    native reader reads 'abc' or '1.5' as string 0)."""
    v = _VALUE_AFTER.match(data, at)
    if v is None:
        return
    text = v.group(1).decode("utf-8", "replace")
    if not text.isdigit() or not text.isascii() or int(text) >= strings:
        shown = text if len(text) <= 24 else text[:24] + "…"
        raise Refused(f"シート「{sheet}」のセル {ref} の文字列の番号「{shown}」が正しくありません（ファイルが壊れています）",
                      f"sheet '{sheet}', cell {ref}: the shared-string number '{shown}' is not valid (the file is damaged)",
                      sheet=sheet, cell=ref)


def _element_end(data: bytes, inner: int) -> int:
    """Where the cell element whose content starts at ``inner`` ends."""
    end = _CELL_END.search(data, inner)
    return end.end() if end else len(data)


def _beyond_grid(sheet: str, cells: list[tuple], budget: int) -> list[tuple]:
    """The cells to leave out so that the sheet's grid, from A1 to its last row and column
    with a value, holds at most ``budget`` cells: the cells that stretch the grid most (row ×
    column) go first, until the rest fits. Empty when the sheet fits (every honest form)."""
    if not cells or max(c[0] for c in cells) * max(c[1] for c in cells) <= budget:
        return []
    ordered = sorted(cells, key=lambda c: c[0] * c[1], reverse=True)
    # The grid of what is left after leaving out the first k cells, for every k.
    rows = cols = 0
    grid_after = [0] * (len(ordered) + 1)
    for k in range(len(ordered) - 1, -1, -1):
        rows, cols = max(rows, ordered[k][0]), max(cols, ordered[k][1])
        grid_after[k] = rows * cols
    k = next(k for k in range(len(ordered) + 1) if grid_after[k] <= budget)
    left_out = ordered[:k]
    if len(left_out) > 1000 or any(not c[5] for c in left_out):
        # Thousands of far values, or far cells placed by position alone: no form looks
        # like this, and cutting them out would shift the others.
        raise Refused(f"シート「{sheet}」の使われている範囲が大きすぎます（{len(cells):,} セル）",
                      f"sheet '{sheet}' uses too large a range ({len(cells):,} cells)", sheet=sheet)
    return sorted(left_out, key=lambda c: (c[0], c[1]))


# --- values ----------------------------------------------------------------------------------------

def _values_failed(sheet: str) -> Refused:
    return Refused(f"シート「{sheet}」のセルの値を読み取れません（ブックの内容が壊れています）" if sheet else
                   "セルの値を読み取れません（ブックの内容が壊れています）",
                   f"the cell values of sheet '{sheet}' cannot be read (the workbook's content is damaged)"
                   if sheet else "the cell values cannot be read (the workbook's content is damaged)",
                   sheet=sheet)


class SheetValues:
    """Cell values of a workbook through python-calamine, as {(row, col): value} per sheet.

    To be given only bytes the scan accepted (``Package.value_bytes``); its errors on bad
    content become ``Refused``."""

    def __init__(self, data: bytes):
        from python_calamine import CalamineError, CalamineWorkbook

        try:
            self.book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        except CalamineError as exc:
            raise _values_failed("") from exc
        self._cache: dict[str, dict[tuple[int, int], object]] = {}

    def __enter__(self) -> "SheetValues":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close python-calamine's workbook."""
        self.book.close()

    def rows(self, sheet: str) -> list[list]:
        """The sheet as a list of rows, row 0 being the sheet's row 1."""
        from python_calamine import CalamineError

        try:
            # skip_empty_area=False makes row 0 of the result row 1 of the sheet.
            return self.book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        except (CalamineError, OverflowError, ValueError) as exc:
            # OverflowError, ValueError: a value python-calamine cannot turn into Python's
            # (a duration or date beyond Python's range, such as 'inf' in a time cell)
            raise _values_failed(sheet) from exc

    def grid(self, sheet: str) -> dict[tuple[int, int], object]:
        """Non-empty cells keyed by 1-based (row, column)."""
        if sheet not in self._cache:
            self._cache[sheet] = {(r, c): value
                                  for r, row in enumerate(self.rows(sheet), start=1)
                                  for c, value in enumerate(row, start=1)
                                  if value != "" and value is not None}
        return self._cache[sheet]


class WorkbookValues:
    """The values of a package's sheets, as {(row, col): value} per sheet: taken from the scan
    for a sheet whose cells are all of a plain form (:mod:`.values`), else from python-calamine
    (``SheetValues``, opened only when a sheet needs it, given only bytes the scan accepted)."""

    def __init__(self, pkg: Package, scans: dict[str, SheetScan]):
        self.pkg, self.scans = pkg, scans
        self._plain_grids: dict[str, dict[tuple[int, int], object] | None] = {}
        self._native: SheetValues | None = None
        self._native_sheets: set[str] = set()
        self._strings: list[str | None] | None = None
        self._date_styles: frozenset[bytes] | None = None

    def __enter__(self) -> "WorkbookValues":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close python-calamine's workbook if a sheet needed it."""
        if self._native is not None:
            self._native.close()
            self._native = None

    def grid(self, sheet: str) -> dict[tuple[int, int], object]:
        """Non-empty cells keyed by 1-based (row, column)."""
        grid = self._plain(sheet)
        return grid if grid is not None else self._native_for(sheet).grid(sheet)

    def rows(self, sheet: str) -> list[list]:
        """The sheet as a list of rows (row 0 is the sheet's row 1), blanks as ''."""
        grid = self._plain(sheet)
        if grid is None:
            return self._native_for(sheet).rows(sheet)
        if not grid:
            return []
        height, width = max(r for r, _ in grid), max(c for _, c in grid)
        rows = [[""] * width for _ in range(height)]
        for (r, c), value in grid.items():
            rows[r - 1][c - 1] = value
        return rows

    def _plain(self, sheet: str) -> dict[tuple[int, int], object] | None:
        """The sheet's values taken from the scan (worked out once), or None when it is not plain."""
        if sheet not in self._plain_grids:
            self._plain_grids[sheet] = self._plain_grid(sheet)
        return self._plain_grids[sheet]

    def _native_for(self, sheet: str) -> SheetValues:
        """python-calamine, for a sheet that is not plain: its XML checked well-formed first."""
        if sheet not in self._native_sheets:
            scan = self.scans.get(sheet)
            if scan is not None:
                check_well_formed(sheet, scan.part, scan.data)
            self._native_sheets.add(sheet)
        return self.native()

    def native(self) -> SheetValues:
        """python-calamine's reading of the whole package (opened on first use)."""
        if self._native is None:
            self._native = SheetValues(self.pkg.value_bytes(self.scans))
        return self._native

    def _plain_grid(self, sheet: str) -> dict[tuple[int, int], object] | None:
        scan = self.scans.get(sheet)
        if scan is None or scan.cells is None:
            return None
        if self._strings is None:
            name = "xl/sharedStrings.xml"
            self._strings = shared_strings(self.pkg.part(name)) if self.pkg.has(name) else []
            self._date_styles = self._styles_showing_dates()
        return plain_grid(scan.cells, scan.formula_values, self._strings, self._date_styles, _row_and_column)

    def _styles_showing_dates(self) -> frozenset[bytes]:
        """The style attributes (b"3"; b"" for a cell without one) whose number format may show
        a date: a number in such a cell is read by python-calamine."""
        codes, xfs = self.pkg.number_formats()
        dated = {str(i).encode() for i, format_id in enumerate(xfs)
                 if format_id and may_show_date(format_id, codes.get(format_id))}
        if b"0" in dated:
            dated.add(b"")
        return frozenset(dated)
