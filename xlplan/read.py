"""Read a returned workbook without ever writing to it: one small cell model over two engines.

* python-calamine reads every cell value (the fast engine; cached values of formulas, shared
  strings without furigana runs).
* The zip parts are read directly, with defusedxml or byte-level regular expressions, for what
  calamine does not expose: sheet and workbook protection, data validations, defined names,
  which cells hold formulas, and the last-saved time.

Any failure becomes a finding on the file; nothing here raises for a bad file.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import os
import re
import stat
import traceback
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET
from openpyxl.utils.cell import get_column_letter

from .access import access_problem
from .findings import Finding
from .ooxml.package import sheet_entries
from .metadata import (METADATA_SHEET, MetadataError, canonical_value, metadata_rows,
                       parse_metadata_rows, row_hash, verify)
from .schema import MetadataUnsupported, PlanRef, WorkbookMetadata, claimed_plan

NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
NS_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Excel's grid: columns A..XFD, rows 1..1,048,576. A reference outside it is a damaged file.
EXCEL_COLUMNS = 16_384
EXCEL_ROWS = 1_048_576
ZIP_MAGIC = b"PK\x03\x04"


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


@dataclass
class Cell:
    """The cell model both engines are reduced to: where, what value, and its formula if any."""

    sheet: str
    coordinate: str
    value: object
    formula: str | None = None
    percent_format: bool = False


@dataclass
class Returned:
    """Everything read from one returned file, before any content check."""

    path: Path
    size: int = 0
    sha256: str = ""
    kind: str = "unknown"
    last_saved: dt.datetime | None = None
    # Typed once the signature verified; ``claimed_plan`` is what the metadata names even
    # when it does not verify (another plan's file cannot verify with this plan's key).
    metadata: WorkbookMetadata | None = None
    claimed_plan: PlanRef | None = None
    signature_ok: bool | None = None
    cells: dict[str, Cell] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    damaged: bool = False
    # The traceback of a bug of xlplan met while reading (an ``internal-error`` finding says
    # so); ``log_internal_error`` writes it to the project's error log.
    internal_error: str = ""

    @property
    def readable(self) -> bool:
        """True when the file is an xlplan workbook whose signed metadata could be trusted and
        every part needed could be read."""
        return self.metadata is not None and bool(self.signature_ok) and not self.damaged

    @property
    def department(self) -> str:
        """The department named in verified metadata ('' when unknown or not trustworthy:
        a forged file must not be credited to the department it names)."""
        if not self.signature_ok or self.metadata is None:
            return ""
        return self.metadata.department

    def finding(self, code: str, **kw) -> Finding:
        """Record a finding on this file (department filled in when known)."""
        kw.setdefault("department", self.department)
        f = Finding(code, file=self.path.name, **kw)
        self.findings.append(f)
        return f


def file_digest(path: Path) -> tuple[int, str]:
    """(size, sha256 hex) of a file, read in blocks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


def sniff(path: Path) -> str:
    """What the bytes are, whatever the file is called: xlsx, ods, xlsb, xls, encrypted, text …"""
    with open(path, "rb") as fh:
        return sniff_bytes(fh.read())


def sniff_bytes(data: bytes) -> str:
    """What a file's bytes are (see ``sniff``)."""
    head = data[:8]
    if head.startswith(OLE_MAGIC):
        # An OLE file is either a legacy .xls or an encrypted OOXML package; the latter has
        # an "EncryptedPackage" stream whose UTF-16 name appears in the directory.
        return "encrypted" if "EncryptedPackage".encode("utf-16-le") in data else "xls"
    if not head:
        return "empty"
    if head.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                names = set(z.namelist())
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            return "broken-zip"
        if "xl/workbook.xml" in names:
            return "xlsx"
        if "xl/workbook.bin" in names:
            return "xlsb"
        if "content.xml" in names and "mimetype" in names:
            return "ods"
        return "zip"
    if head.startswith(b"PK"):
        return "broken-zip"
    if head[:5].lower() in (b"<?xml", b"<html") or head[:2] == b"\xff\xfe":
        return "text"
    try:
        data[:4096].decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "unknown"


# What a file is instead of an xlsx workbook, in Japanese and English.
_KIND_DETAIL = {
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


def unreadable(path: Path | str, detail: str, detail_en: str = "") -> Returned:
    """A file whose reading failed outside ``read_returned`` (its process died, a cluster task
    failed): size and hash when the file is there, and one ``unreadable-file`` finding."""
    result = Returned(Path(path))
    try:
        result.size, result.sha256 = file_digest(result.path)
    except OSError:
        pass
    result.finding("unreadable-file", detail=detail, detail_en=detail_en)
    return result


class _Refused(Exception):
    """A file that cannot be read as a whole, with the reason for the department (Japanese
    and English) and where, when the reason is one place."""

    def __init__(self, ja: str, en: str, sheet: str = "", cell: str = ""):
        super().__init__(ja)
        self.ja, self.en, self.sheet, self.cell = ja, en, sheet, cell


def read_returned(path: Path | str, key: bytes | None = None, limits: Limits = Limits()) -> Returned:
    """Read one returned file into a Returned record; never raises, never writes to the file.

    Only a regular file is read (a link, a pipe or a device is refused without waiting on
    it), and it is read once: what is hashed is what is checked. A damaged file is
    ``unreadable-file`` with the reason; a bug of xlplan is ``internal-error`` (see
    ``log_internal_error``), never blamed on the sender."""
    path = Path(path)
    result = Returned(path)
    try:
        try:
            data = _read_regular_file(path, limits)
        except OSError as exc:  # refused or gone: the one rule of check, collect and the panel
            result.damaged = True
            result.findings.append(access_problem(path, exc))
            return result
        result.size, result.sha256 = len(data), hashlib.sha256(data).hexdigest()
        result.kind = sniff_bytes(data)
        if result.kind == "encrypted":
            result.finding("encrypted-file")
            return result
        if result.kind != "xlsx":
            ja, en = _KIND_DETAIL.get(result.kind, _KIND_DETAIL["unknown"])
            raise _Refused(ja, en)
        _read_package(result, data, key, limits)
    except _Refused as exc:
        _damaged(result, exc)
    except Exception as exc:  # noqa: BLE001 - a bug of xlplan: reported as such, never raised
        _internal_error(result, exc)
    except BaseException as exc:  # a panic inside the native reader (pyo3's PanicException)
        if type(exc).__name__ != "PanicException":
            raise
        _damaged(result, _Refused("セルの値を読み取れません（ブックの内容が壊れています）",
                                  "the cell values cannot be read (the workbook's content is damaged)"))
    return result


def _read_regular_file(path: Path, limits: Limits) -> bytes:
    """The bytes of a regular file, refusing links, pipes, devices and oversized files without
    blocking on them (no following of links, opened non-blocking, checked on the open file)."""
    st = os.lstat(path)  # OSError: access_problem, the rule collect follows too
    if not stat.S_ISREG(st.st_mode):
        what = ("リンク（ショートカット）", "a link") if stat.S_ISLNK(st.st_mode) else \
            ("フォルダ", "a folder") if stat.S_ISDIR(st.st_mode) else \
            ("名前付きパイプ・デバイスなどの特殊なファイル", "a pipe, a device or another special file")
        raise _Refused(f"通常のファイルではありません（{what[0]}）", f"it is not a regular file ({what[1]})")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    with open(fd, "rb", closefd=True) as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):  # replaced between the two looks
            raise _Refused("通常のファイルではありません", "it is not a regular file")
        if st.st_size > limits.max_file_bytes:
            raise _Refused(f"大きすぎます（{st.st_size:,} バイト）", f"it is too large ({st.st_size:,} bytes)")
        data = fh.read(limits.max_file_bytes + 1)
    if len(data) > limits.max_file_bytes:
        raise _Refused(f"大きすぎます（{len(data):,} バイト以上）", f"it is too large ({len(data):,} bytes or more)")
    return data


def _damaged(result: Returned, exc: _Refused) -> None:
    """A file that failed part-way is unreadable as a whole: no half-read values, and no
    findings about cells of a file that could not be read."""
    result.damaged = True
    result.cells.clear()
    result.findings[:] = [f for f in result.findings if f.code in _KEPT_WHEN_DAMAGED]
    result.finding("unreadable-file", detail=exc.ja, detail_en=exc.en, sheet=exc.sheet, cell=exc.cell)


# Findings about the file as a whole that stay true when its reading stops later.
_KEPT_WHEN_DAMAGED = ("signature-invalid", "macro-content")


def _internal_error(result: Returned, exc: BaseException) -> None:
    """A bug of xlplan met on this file: an ``internal-error`` finding (not the sender's
    fault) and the traceback kept for the error log."""
    result.damaged = True
    result.cells.clear()
    result.findings[:] = [f for f in result.findings if f.code in _KEPT_WHEN_DAMAGED]
    result.internal_error = "".join(traceback.format_exception(exc))
    result.finding("internal-error", detail="エラーログに未記録", detail_en="not written to the error log yet")


def log_internal_error(returned: Returned, project_dir: Path | str | None) -> Path | None:
    """Write the traceback of a bug met while reading ``returned`` to the error log of the
    project (see ``xlplan.errorlog``) and name the log in its ``internal-error`` finding.
    Does nothing for a file read without one; a traceback is written once."""
    if not returned.internal_error:
        return None
    from .errorlog import write_error_log

    where = write_error_log(returned.internal_error, f"reading {returned.path}", project_dir)
    shown = str(where) if where else "（書き込めませんでした）"
    for f in returned.findings:
        if f.code == "internal-error":
            f.detail = shown
            f.detail_en = str(where) if where else "(the log could not be written)"
    returned.internal_error = ""
    return where


@dataclass
class _Package:
    zip: zipfile.ZipFile
    sheets: list[tuple[str, str, str]]  # (name, part path, state)
    names: dict[str, str]
    parts: dict[str, bytes] = field(default_factory=dict)  # each sheet's XML, read once

    def part(self, sheet: str) -> str | None:
        return next((p for n, p, _ in self.sheets if n == sheet), None)

    def sheet_xml(self, sheet: str) -> bytes:
        """The XML of a sheet (read and checked by ``_guard``)."""
        return self.parts[self.part(sheet)]


def _check_sizes(z: zipfile.ZipFile, limits: Limits) -> None:
    infos = z.infolist()
    if len(infos) > limits.max_entries:
        raise _Refused(f"zip の項目が多すぎます（{len(infos)}）", f"the zip has too many entries ({len(infos)})")
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > limits.max_unzipped_bytes or total / packed > limits.max_ratio and total > 10 << 20:
        raise _Refused("展開後のサイズが異常に大きい（zip 爆弾の可能性）ため読み取りません",
                       "it unpacks to an abnormal size (a possible zip bomb) and is not read")
    seen: set[str] = set()
    for info in infos:
        # Two entries of one name: readers disagree on which one counts (Python takes the
        # last, others the first), so what is verified might not be what is read.
        if info.filename in seen:
            raise _Refused(f"zip の中に同じ名前の項目が 2 つあります（{info.filename}）",
                           f"the zip holds two entries named {info.filename}")
        seen.add(info.filename)


def _read_part(z: zipfile.ZipFile, name: str) -> bytes:
    """One part of the package; a missing or undecompressable part refuses the file."""
    try:
        return z.read(name)
    except KeyError:
        raise _Refused(f"ブックに必要な部分「{name}」がありません", f"the part {name} the workbook needs is missing")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError,
            NotImplementedError) as exc:
        # CRC error, cut-off or corrupt deflate data, an encrypted or unknown compression
        raise _Refused(f"zip の中の「{name}」が壊れています", f"the part {name} inside the zip is damaged") from exc


def _parse_xml(data: bytes, name: str):
    """A part parsed by defusedxml; malformed XML or a DTD/entity refuses the file."""
    try:
        return SafeET.fromstring(data)
    except DefusedXmlException as exc:
        raise _Refused(f"「{name}」に許可されていない XML の定義（DTD・エンティティ）があります",
                       f"the part {name} holds XML definitions that are not allowed (DTD, entities)") from exc
    except (SafeET.ParseError, ValueError, UnicodeError) as exc:
        raise _Refused(f"「{name}」の XML が壊れています", f"the XML of the part {name} is damaged") from exc


def _open_package(data: bytes, limits: Limits) -> _Package:
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _Refused(*_KIND_DETAIL["broken-zip"]) from exc
    _check_sizes(z, limits)
    workbook = _parse_xml(_read_part(z, "xl/workbook.xml"), "xl/workbook.xml")
    sheets = _sheets(z, workbook)
    names = {}
    for dn in workbook.iter(f"{NS_MAIN}definedName"):
        if dn.get("localSheetId") is None and dn.text:
            names[dn.get("name", "")] = dn.text
    return _Package(z, sheets, names)


def package_sheets(z: zipfile.ZipFile) -> list[tuple[str, str, str]]:
    """(name, part, state) of every sheet of an xlsx package, in workbook order, the part
    found through the workbook's relationships (e.g. 'xl/worksheets/sheet3.xml')."""
    return _sheets(z, SafeET.fromstring(z.read("xl/workbook.xml")))


def _sheets(z: zipfile.ZipFile, workbook) -> list[tuple[str, str, str]]:
    rels_name = "xl/_rels/workbook.xml.rels"
    return sheet_entries(workbook, _parse_xml(_read_part(z, rels_name), rels_name))


def _read_package(result: Returned, data: bytes, key: bytes | None, limits: Limits) -> None:
    pkg = _open_package(data, limits)
    with pkg.zip:
        _note_macros(result, pkg.zip)
        # Every sheet is checked before the native value reader sees the file: a cell outside
        # Excel's grid or a huge shared-string count makes it abort the whole process.
        far = _guard(pkg, limits)
        result.last_saved = _last_saved(pkg.zip)
        values = _SheetValues(_bounded_package(pkg, far) if far else data)
        try:
            if METADATA_SHEET not in {n for n, _, _ in pkg.sheets}:
                result.finding("not-xlplan-file")
                return
            if not _read_metadata(result, values.rows(METADATA_SHEET), key):
                return
            xml_cache: dict[str, _SheetXml] = {}  # each sheet's XML is scanned once
            _read_fields(result, pkg, values, xml_cache)
            _check_layout(result, pkg, values, xml_cache)
            _report_far_cells(result, far)
        finally:
            values.close()


def _read_metadata(result: Returned, rows: list[list], key: bytes | None) -> bool:
    """Verify the metadata sheet and type its JSON into ``result.metadata``; False (with the
    finding) when the file cannot be trusted or understood."""
    try:
        stored, signature = parse_metadata_rows(rows)
    except MetadataError:
        result.finding("signature-invalid")
        return False
    result.claimed_plan = claimed_plan(stored)
    # The signature covers the JSON as stored (so files of every schema version verify); the
    # rest of the sheet (the marker, the format version, any other cell) must be exactly what
    # xlplan wrote with it.
    result.signature_ok = key is not None and verify(stored, signature, key) and \
        _trimmed(rows) == _trimmed(metadata_rows(stored, key))
    if not result.signature_ok:
        result.finding("signature-invalid")
        return False
    try:
        result.metadata = WorkbookMetadata.from_dict(stored)
    except MetadataUnsupported as exc:
        result.finding("metadata-unsupported", detail=exc.ja, detail_en=exc.en)
        return False
    return True


def _trimmed(rows: list[list]) -> list[list[str]]:
    """Rows as canonical text, without trailing blank cells and rows (for comparing what two
    readers or a reader and a writer hold)."""
    out = []
    for row in rows:
        cells = [canonical_value(v) for v in row]
        while cells and cells[-1] == "":
            cells.pop()
        out.append(cells)
    while out and not out[-1]:
        out.pop()
    return out


# --- macros ---------------------------------------------------------------------------------

_MACRO_PARTS = re.compile(r"(^|/)vbaProject\.bin$|^xl/macrosheets/|(^|/)vbaProjectSignature", re.I)


def _note_macros(result: Returned, z: zipfile.ZipFile) -> None:
    """A workbook re-saved with macros (a VBA project, Excel 4 macro sheets, or declared
    macro-enabled): xlplan never runs them, but the coordinator must know."""
    found = sorted({n for n in z.namelist() if _MACRO_PARTS.search(n)})
    try:
        types = z.read("[Content_Types].xml") if "[Content_Types].xml" in z.namelist() else b""
    except Exception:  # noqa: BLE001 - a damaged part is reported by the reading itself
        types = b""
    if re.search(rb"macroEnabled|vnd\.ms-office\.vbaProject|vnd\.ms-excel\.macrosheet", types, re.I):
        found.append("[Content_Types].xml: macro-enabled")
    if found:
        shown = "、".join(found[:3])
        result.finding("macro-content", detail=shown, detail_en=", ".join(found[:3]))


# --- the guard in front of the native reader ------------------------------------------------

# The start and end tags of sheetData that place a value: rows and cells, plus the elements
# that carry references (dimension, merged cells, data validations).
_SHEET_TAG = re.compile(rb"<(/?)(?:[A-Za-z_][\w.-]*:)?(row|c|dimension|mergeCell|dataValidation)(?=[\s/>])"
                        rb"(?:\s+r=\"([^\"]*)\")?([^>]*?)(/?)>")  # r, when first, without a second search
_ATTR = {name: re.compile(rb"(?:^|\s)" + name + rb"\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
         for name in (b"r", b"t", b"ref", b"sqref", b"uniqueCount")}
_XM_SQREF = re.compile(rb"<xm:sqref>([^<]*)</xm:sqref>")
_VALUE_AFTER = re.compile(rb"\s*<(?:[\w.-]+:)?v(?:\s[^>]*)?>([^<]*)</(?:[\w.-]+:)?v\s*>")
_CELL_END = re.compile(rb"</(?:[\w.-]+:)?c\s*>")
_CELL_REF = re.compile(r"\$?([A-Z]{1,3})\$?([0-9]{1,7})")


def _attr(attrs: bytes, name: bytes) -> str | None:
    m = _ATTR[name].search(attrs)
    if m is None:
        return None
    return (m.group(1) if m.group(1) is not None else m.group(2)).decode("utf-8", "replace")


def cell_position(ref: str) -> tuple[int, int] | None:
    """(row, column), both from 1, of a reference such as 'B7' or '$B$7' inside Excel's grid
    (A1..XFD1048576); None for anything else."""
    m = _CELL_REF.fullmatch(ref)
    if m is None:
        return None
    col = 0
    for ch in m.group(1):
        col = col * 26 + ord(ch) - 64
    row = int(m.group(2))
    return (row, col) if 1 <= row <= EXCEL_ROWS and 1 <= col <= EXCEL_COLUMNS else None


def _bad_reference(sheet: str, ref: str) -> _Refused:
    shown = ref if len(ref) <= 24 else ref[:24] + "…"
    return _Refused(f"シート「{sheet}」のセル番地「{shown}」が Excel の範囲（A1～XFD1048576）にないか正しくありません",
                    f"sheet '{sheet}' refers to a cell '{shown}' that is not a valid Excel cell (A1 to XFD1048576)",
                    sheet=sheet, cell=shown if cell_position(ref) else "")


def _check_range(sheet: str, ref: str) -> None:
    """A range 'A1:B2' or a cell 'A1' whose every corner lies in Excel's grid."""
    corners = ref.split(":")
    if len(corners) > 2 or not all(cell_position(c) for c in corners):
        raise _bad_reference(sheet, ref)


@dataclass
class _Far:
    """Cells of one sheet left out of the value reader's grid: the part and the byte spans of
    their elements, and their references for the finding."""

    part: str
    spans: list[tuple[int, int]]
    refs: list[str]


def _guard(pkg: _Package, limits: Limits) -> dict[str, _Far]:
    """Check every sheet part and the shared strings before the native reader opens the file.

    Refuses (a finding naming the sheet and cell) what Excel itself could not hold: a cell,
    row, dimension, merged range or validated range outside A1..XFD1048576, a shared-string
    count the part cannot hold, a shared-string index that is no index. Returns, per sheet,
    the cells to leave out of the value grid because it would exceed ``max_grid_cells``."""
    strings = _shared_string_count(pkg)
    far: dict[str, _Far] = {}
    for name, part, _ in pkg.sheets:
        if part in pkg.parts:
            continue
        data = pkg.parts[part] = _read_part(pkg.zip, part)
        _check_root(data, part, b"worksheet", name)
        cells = _scan_sheet(name, data, strings)
        left_out = _beyond_grid(name, cells, limits.max_grid_cells)
        if left_out:
            far[name] = _Far(part, [(c[2], _element_end(data, c[3])) for c in left_out],
                             [c[4] for c in left_out])
    return far


def _element_end(data: bytes, inner: int) -> int:
    """Where the cell element whose content starts at ``inner`` ends."""
    end = _CELL_END.search(data, inner)
    return end.end() if end else len(data)


def _shared_string_count(pkg: _Package) -> int:
    """How many shared strings the package holds (0 without a table); refuses a table whose
    declared count is larger than what it holds (the native reader reserves that much)."""
    name = "xl/sharedStrings.xml"
    if name not in pkg.zip.namelist():
        return 0
    data = _read_part(pkg.zip, name)
    _check_root(data, name, b"sst")
    held = len(re.findall(rb"<(?:[\w.-]+:)?si(?:\s[^>]*)?>", data))
    root = re.search(rb"<(?:[\w.-]+:)?sst\b([^>]*)>", data)
    declared = _attr(root.group(1), b"uniqueCount") if root else None
    if declared is not None and declared.strip().isdigit() and int(declared) > held + 1000:
        raise _Refused(f"共有文字列の表（{name}）の件数 {declared} が中身（{held} 件）と合いません",
                       f"the shared-string table ({name}) declares {declared} strings but holds {held}")
    return held


SPREADSHEETML = (b"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
                 b"http://purl.oclc.org/ooxml/spreadsheetml/main")  # transitional, strict
_ROOT = re.compile(rb"<(?![?!])(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)([^>]*)>")


def _check_root(data: bytes, part: str, local: bytes, sheet: str = "") -> None:
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
        raise _Refused(f"{where} が Excel の形式（SpreadsheetML）になっていません",
                       f"{where_en} is not in Excel's format (SpreadsheetML)", sheet=sheet)


def _scan_sheet(sheet: str, data: bytes, strings: int) -> list[tuple]:
    """Every reference of one sheet's XML checked against Excel's grid, and the cells with
    content as (row, column, start, inner, reference, has its own reference) — placed the
    way the value reader places them: by their own reference, else after the previous cell
    of the row. (One pass with one regular expression: this runs on every file.)"""
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
                raise _Refused(f"シート「{sheet}」のセルの属性が壊れています（ファイルが壊れています）",
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
                    raise _Refused(f"シート「{sheet}」に Excel の範囲（A1～XFD1048576）を超える位置のセルがあります",
                                   f"sheet '{sheet}' places a cell outside Excel's grid (A1 to XFD1048576)",
                                   sheet=sheet)
            if (row, col) <= last_cell:
                # Two cells at one place: readers disagree on which one counts.
                raise _out_of_order(sheet, f"{get_column_letter(col)}{row}")
            last_cell = (row, col)
            if empty:
                continue  # <c …/> holds no value: the value reader skips it altogether
            col_index = col
            if _CELL_END.match(data, m.end()):
                continue  # <c …></c>: no value either
            ref = f"{get_column_letter(col)}{row}"
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
                    raise _Refused(f"シート「{sheet}」の行番号「{shown}」が Excel の範囲（1～1048576）にないか正しくありません",
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


_CELL_TYPES = (b"b", b"d", b"e", b"inlineStr", b"n", b"s", b"str")  # ST_CellType
_POSITION = re.compile(rb"\$?([A-Z]{1,3})\$?([0-9]{1,7})")


@functools.lru_cache(maxsize=4096)
def _column_number(letters: bytes) -> int:
    col = 0
    for ch in letters:
        col = col * 26 + ch - 64
    return col


def _position(ref: bytes) -> tuple[int, int] | None:
    """``cell_position`` of a reference as bytes (the scan's hot path)."""
    m = _POSITION.fullmatch(ref)
    if m is None:
        return None
    row, col = int(m.group(2)), _column_number(m.group(1))
    return (row, col) if 1 <= row <= EXCEL_ROWS and 1 <= col <= EXCEL_COLUMNS else None


def _attr_bytes(attrs: bytes, name: bytes) -> bytes | None:
    m = _ATTR[name].search(attrs)
    if m is None:
        return None
    return m.group(1) if m.group(1) is not None else m.group(2)


def _out_of_order(sheet: str, where: str) -> _Refused:
    return _Refused(f"シート「{sheet}」の {where} が重複しているか順序が正しくありません（ファイルが壊れています）",
                    f"sheet '{sheet}': {where} appears twice or out of order (the file is damaged)",
                    sheet=sheet, cell=where if cell_position(where) else "")


def _check_string_index(sheet: str, ref: str, data: bytes, at: int, strings: int) -> None:
    """A shared-string cell's value must be a whole number below the table's size (the
    native reader reads 'abc' or '1.5' as string 0)."""
    v = _VALUE_AFTER.match(data, at)
    if v is None:
        return
    text = v.group(1).decode("utf-8", "replace")
    if not text.isdigit() or not text.isascii() or int(text) >= strings:
        shown = text if len(text) <= 24 else text[:24] + "…"
        raise _Refused(f"シート「{sheet}」のセル {ref} の文字列の番号「{shown}」が正しくありません（ファイルが壊れています）",
                       f"sheet '{sheet}', cell {ref}: the shared-string number '{shown}' is not valid (the file is damaged)",
                       sheet=sheet, cell=ref)


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
        raise _Refused(f"シート「{sheet}」の使われている範囲が大きすぎます（{len(cells):,} セル）",
                       f"sheet '{sheet}' uses too large a range ({len(cells):,} cells)", sheet=sheet)
    return sorted(left_out, key=lambda c: (c[0], c[1]))


def _bounded_package(pkg: _Package, far: dict[str, _Far]) -> bytes:
    """A copy of the package, in memory, whose sheets leave out their far cells: what the
    value reader is given instead of the file when a sheet's grid would be too large."""
    edited = {}
    for entry in far.values():
        data = pkg.parts[entry.part]
        pieces, at = [], 0
        for start, stop in sorted(entry.spans):
            pieces.append(data[at:start])
            at = stop
        pieces.append(data[at:])
        edited[entry.part] = b"".join(pieces)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in pkg.zip.infolist():
            z.writestr(info.filename, edited.get(info.filename) or _read_part(pkg.zip, info.filename))
    return out.getvalue()


def _report_far_cells(result: Returned, far: dict[str, _Far]) -> None:
    """Values far outside the form (left out of the grid): the form was changed there."""
    for sheet, entry in far.items():
        shown = "、".join(entry.refs[:5]) + ("…" if len(entry.refs) > 5 else "")
        result.finding("layout-changed", sheet=sheet, cell=entry.refs[0],
                       detail=f"シート「{sheet}」の様式の外（{shown}）に値があります",
                       detail_en=f"sheet '{sheet}' has values far outside the form ({', '.join(entry.refs[:5])})")


def _last_saved(z: zipfile.ZipFile) -> dt.datetime | None:
    """dcterms:modified of docProps/core.xml: when the application last saved the file."""
    if "docProps/core.xml" not in z.namelist():
        return None
    core = _read_part(z, "docProps/core.xml")
    match = re.search(rb"<dcterms:modified[^>]*>([^<]+)</dcterms:modified>", core)
    if not match:
        return None
    try:
        return dt.datetime.fromisoformat(match.group(1).decode("utf-8", "replace").strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def _calamine_failed(sheet: str) -> _Refused:
    return _Refused(f"シート「{sheet}」のセルの値を読み取れません（ブックの内容が壊れています）" if sheet else
                    "セルの値を読み取れません（ブックの内容が壊れています）",
                    f"the cell values of sheet '{sheet}' cannot be read (the workbook's content is damaged)"
                    if sheet else "the cell values cannot be read (the workbook's content is damaged)",
                    sheet=sheet)


class _SheetValues:
    """Cell values of a workbook through python-calamine, as {(row, col): value} per sheet.

    Given the file's bytes only after ``_guard`` checked them; its errors on bad content
    become the reason the file is unreadable."""

    def __init__(self, data: bytes):
        from python_calamine import CalamineError, CalamineWorkbook

        try:
            self.book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        except CalamineError as exc:
            raise _calamine_failed("") from exc
        self._cache: dict[str, dict[tuple[int, int], object]] = {}

    def close(self) -> None:
        self.book.close()

    def _python(self, sheet: str) -> list[list]:
        from python_calamine import CalamineError

        try:
            # skip_empty_area=False makes row 0 of the result row 1 of the sheet.
            return self.book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        except CalamineError as exc:
            raise _calamine_failed(sheet) from exc

    def grid(self, sheet: str) -> dict[tuple[int, int], object]:
        """Non-empty cells keyed by 1-based (row, column)."""
        if sheet not in self._cache:
            grid = {}
            for r, row in enumerate(self._python(sheet), start=1):
                for c, value in enumerate(row, start=1):
                    if value != "" and value is not None:
                        grid[(r, c)] = value
            self._cache[sheet] = grid
        return self._cache[sheet]

    def rows(self, sheet: str) -> list[list]:
        """The sheet as a list of rows (used for the metadata sheet)."""
        return [list(r) for r in self._python(sheet)]


_CELL_XML = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(/>|>(.*?)</(?:\w+:)?c>)", re.S)
_REF_ATTR = re.compile(rb'\br="([A-Z]+[0-9]+)"')
_STYLE_ATTR = re.compile(rb'\bs="([0-9]+)"')
_FORMULA = re.compile(rb"<(?:\w+:)?f\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?f>)", re.S)
_PROTECTION = re.compile(rb"<(?:\w+:)?sheetProtection\b([^>]*)>")
_SQREF = re.compile(rb'<(?:\w+:)?dataValidation\b[^>]*?\bsqref="([^"]*)"|<xm:sqref>([^<]*)</xm:sqref>')


@dataclass
class _SheetXml:
    formulas: dict[str, str]
    protected: bool
    validated: set[str]
    styles: dict[str, int]


# A cell's reference and style in one match, whichever order the writer put them in (Excel,
# LibreOffice and openpyxl write r before s; one findall instead of a loop over every cell).
_REF_AND_STYLE = re.compile(rb'<(?:\w+:)?c\b[^>]*?(?:\br="([A-Z]+[0-9]+)"[^>]*?\bs="([0-9]+)"'
                            rb'|\bs="([0-9]+)"[^>]*?\br="([A-Z]+[0-9]+)")')


# A cell formula element (<f>, <f t="shared" …/>), not <formula> of a conditional format.
_HAS_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")


def _sheet_xml(data: bytes) -> _SheetXml:
    """Formulas, protection, validated cells and styles of one sheet's XML."""
    formulas = {}
    styles: dict[str, int] = {}
    for ref, style, style2, ref2 in _REF_AND_STYLE.findall(data):
        styles[(ref or ref2).decode()] = int(style or style2)
    if _HAS_FORMULA.search(data):  # most sheets hold no formula: skip the per-cell pass
        for match in _CELL_XML.finditer(data):
            inner = match.group(3)
            if inner and _HAS_FORMULA.search(inner):
                ref = _REF_ATTR.search(match.group(1))
                f = _FORMULA.search(inner)
                if ref and f:
                    text = (f.group(1) or b"").decode("utf-8", "replace")
                    formulas[ref.group(1).decode()] = "=" + _unescape(text) if text else "=(shared)"
    prot = _PROTECTION.search(data)
    protected = bool(prot and re.search(rb'\bsheet="(1|true)"', prot.group(1)))
    validated: set[str] = set()
    for m in _SQREF.finditer(data):
        validated |= expand_sqref((m.group(1) or m.group(2) or b"").decode())
    return _SheetXml(formulas, protected, validated, styles)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace(
        "&apos;", "'").replace("&amp;", "&")


def expand_sqref(sqref: str, limit: int = 20000) -> set[str]:
    """'E12 G3:H4' → {'E12', 'G3', 'G4', 'H3', 'H4'} (large ranges are cut at ``limit`` cells)."""
    cells: set[str] = set()
    for part in sqref.replace("$", "").split():
        if ":" in part:
            a, b = part.split(":", 1)
            (r1, i1), (r2, i2) = cell_position(a) or (1, 1), cell_position(b) or (0, 0)
            if i1 > i2:
                continue
            for r in range(r1, r2 + 1):
                for c in range(i1, i2 + 1):
                    cells.add(f"{get_column_letter(c)}{r}")
                    if len(cells) >= limit:
                        return cells
        elif part:
            cells.add(part)
    return cells


def _resolve_name(pkg: _Package, name: str) -> tuple[str, str] | None:
    """A defined name's target as (sheet, 'E12'), or None when missing or not a single cell."""
    ref = pkg.names.get(name)
    if not ref or "!" not in ref:
        return None
    sheet, cell = ref.rsplit("!", 1)
    sheet = sheet.strip("'").replace("''", "'")
    cell = cell.replace("$", "")
    if ":" in cell:
        cell = cell.split(":", 1)[0]
    return (sheet, cell) if cell_position(cell) else None


def percent_styles(z: zipfile.ZipFile) -> set[int]:
    """Indexes of cell formats (cellXfs) whose number format shows a percentage."""
    if "xl/styles.xml" not in z.namelist():
        return set()
    root = _parse_xml(_read_part(z, "xl/styles.xml"), "xl/styles.xml")
    percent_ids = {9, 10}  # Excel's built-in 0% and 0.00%
    for fmt in root.iter(f"{NS_MAIN}numFmt"):
        code = re.sub(r'"[^"]*"|\\.', "", fmt.get("formatCode", ""))
        if "%" in code:
            percent_ids.add(_number(fmt.get("numFmtId"), -1))
    xfs = root.find(f"{NS_MAIN}cellXfs")
    if xfs is None:
        return set()
    return {i for i, xf in enumerate(xfs.iter(f"{NS_MAIN}xf"))
            if _number(xf.get("numFmtId"), 0) in percent_ids}


def _number(text: str | None, default: int) -> int:
    """A whole-number attribute, or ``default`` when it is missing or not a number (a format
    id that is no number formats nothing: the cell is not a percentage)."""
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() else default


def _read_fields(result: Returned, pkg: _Package, values: _SheetValues,
                 xml_cache: dict[str, "_SheetXml"]) -> None:
    sheets = {n for n, _, _ in pkg.sheets}
    percent = percent_styles(pkg.zip)
    for spec in result.metadata.fields:
        where = dict(project=spec.project, field=spec.label, sheet=spec.sheet, cell=spec.cell)
        target = _resolve_name(pkg, spec.name)
        if target is None or target[0] not in sheets:
            result.finding("layout-changed", **where,
                           detail=f"入力欄の名前 {spec.name} が削除されています",
                           detail_en=f"the name {spec.name} of the input cell was deleted")
            target = (spec.sheet, spec.cell) if spec.sheet in sheets else None
            if target is None:
                continue
        sheet, coordinate = target
        if (sheet, coordinate) != (spec.sheet, spec.cell):
            # The name follows rows moved in Excel, so it is read where it points now; but a
            # moved input means the protection was lifted and the layout edited.
            result.finding("layout-changed", **where,
                           detail=f"入力欄の位置が {spec.sheet}!{spec.cell} から "
                                  f"{sheet}!{coordinate} に変わっています",
                           detail_en=f"the input cell moved from {spec.sheet}!{spec.cell} "
                                     f"to {sheet}!{coordinate}")
        if sheet not in xml_cache:
            xml_cache[sheet] = _sheet_xml(pkg.sheet_xml(sheet))
        value = values.grid(sheet).get(cell_position(coordinate) or (0, 0))
        xml = xml_cache[sheet]
        result.cells[spec.name] = Cell(sheet, coordinate, value, xml.formulas.get(coordinate),
                                       xml.styles.get(coordinate, 0) in percent)


def _check_layout(result: Returned, pkg: _Package, values: _SheetValues,
                  xml_cache: dict[str, "_SheetXml"]) -> None:
    """Protection, sheets, validations and the locked content against the signed fingerprint."""
    meta = result.metadata
    present = {n: part for n, part, _ in pkg.sheets}
    # The workbook-structure lock itself is not checked: LibreOffice drops it on every save
    # (tested with 7.4), so it would flag honest files. What it protects, the list of sheets,
    # is compared directly below.
    expected = meta.sheets
    missing = [s for s in expected if s not in present]
    extra = [s for s in present if s not in expected and s != METADATA_SHEET]
    if missing:
        result.finding("layout-changed", value="、".join(missing),
                       detail="シートが削除または名前変更されています: " + "、".join(missing),
                       detail_en="sheets were deleted or renamed: " + ", ".join(missing))
    if extra:
        result.finding("layout-changed", value="、".join(extra),  # the department's sheet names
                       detail="シートが追加されています: " + "、".join(extra),
                       detail_en="sheets were added: " + ", ".join(extra))
    inputs = {(f.sheet, f.cell) for f in meta.fields}
    for sheet in expected:
        if sheet not in present:
            continue
        if sheet not in xml_cache:
            xml_cache[sheet] = _sheet_xml(pkg.sheet_xml(sheet))
        xml = xml_cache[sheet]
        if not xml.protected:
            result.finding("layout-changed", sheet=sheet, detail=f"シート「{sheet}」の保護が解除されています",
                           detail_en=f"the protection of sheet '{sheet}' was removed")
        for f in meta.fields:
            if f.sheet == sheet and f.cell not in xml.validated and f.kind.validation_required:
                result.finding("layout-changed", sheet=sheet, cell=f.cell, project=f.project,
                               field=f.label, detail="入力規則（ドロップダウン・範囲）が削除されています",
                               detail_en="the cell's data validation (list or range) was removed")
        _compare_rows(result, sheet, values.grid(sheet), xml.formulas, inputs,
                      meta.fingerprint.get(sheet, {}))


def _compare_rows(result: Returned, sheet: str, grid, formulas, inputs, expected: dict) -> None:
    rows: dict[int, list] = {}
    for (r, c), value in grid.items():
        coordinate = f"{get_column_letter(c)}{r}"
        if (sheet, coordinate) in inputs or coordinate in formulas:
            continue
        rows.setdefault(r, []).append((c, value))
    actual = {str(r): h for r, cells in rows.items() if (h := row_hash(cells))}
    changed = sorted({int(r) for r in set(actual) | set(expected) if actual.get(r) != expected.get(r)})
    if not changed:
        return
    where = "、".join(str(r) for r in changed[:5]) + ("…" if len(changed) > 5 else "")
    result.finding("layout-changed", sheet=sheet, cell=f"A{changed[0]}",
                   detail=f"シート「{sheet}」の固定部分（{where} 行目）が変更されています（行の挿入・削除や見出しの書き換え）",
                   detail_en=f"the fixed content of sheet '{sheet}' (row {where.replace('、', ', ')}) was changed "
                             "(rows inserted or deleted, or headings rewritten)")
