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
import hashlib
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from defusedxml import ElementTree as SafeET
from openpyxl.utils.cell import coordinate_from_string, column_index_from_string, get_column_letter

from .findings import Finding
from .metadata import METADATA_SHEET, MetadataError, parse_metadata_rows, row_hash, verify

NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
NS_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Limits:
    """Sizes beyond which a file is refused (zip bombs, absurd files); all configurable."""

    max_file_bytes: int = 50 * 1024 * 1024
    max_unzipped_bytes: int = 300 * 1024 * 1024
    max_ratio: int = 200
    max_entries: int = 5000


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
    metadata: dict | None = None
    signature_ok: bool | None = None
    cells: dict[str, Cell] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    damaged: bool = False

    @property
    def readable(self) -> bool:
        """True when the file is an xlplan workbook whose signed metadata could be trusted and
        every part needed could be read."""
        return self.metadata is not None and bool(self.signature_ok) and not self.damaged

    @property
    def department(self) -> str:
        """The department named in verified metadata ('' when unknown or not trustworthy:
        a forged file must not be credited to the department it names)."""
        if not self.signature_ok:
            return ""
        return str((self.metadata or {}).get("department", ""))

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
        head = fh.read(8)
        if head.startswith(OLE_MAGIC):
            # An OLE file is either a legacy .xls or an encrypted OOXML package; the latter has
            # an "EncryptedPackage" stream whose UTF-16 name appears in the directory.
            fh.seek(0)
            body = fh.read()
            return "encrypted" if "EncryptedPackage".encode("utf-16-le") in body else "xls"
    if not head:
        return "empty"
    if head.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
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
        with open(path, "rb") as fh:
            fh.read(4096).decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "unknown"


_KIND_DETAIL = {
    "xls": "Excel 97-2003 形式 (.xls) です。.xlsx 形式で保存し直してください",
    "xlsb": "Excel バイナリ形式 (.xlsb) です。.xlsx 形式で保存し直してください",
    "ods": "OpenDocument 形式 (.ods) です。.xlsx 形式で保存し直してください",
    "text": "テキスト（CSV など）で、Excel ブックではありません",
    "empty": "ファイルが空です（0 バイト）",
    "broken-zip": "ファイルが壊れているか途中までしかありません",
    "zip": "Excel ブックではない zip ファイルです",
    "unknown": "Excel ブックではありません",
}


def unreadable(path: Path | str, detail: str) -> Returned:
    """A file whose reading failed outside ``read_returned`` (its process died, a cluster task
    failed): size and hash when the file is there, and one ``unreadable-file`` finding."""
    result = Returned(Path(path))
    try:
        result.size, result.sha256 = file_digest(result.path)
    except OSError:
        pass
    result.finding("unreadable-file", detail=detail)
    return result


def read_returned(path: Path | str, key: bytes | None = None, limits: Limits = Limits()) -> Returned:
    """Read one returned file into a Returned record; never raises, never writes to the file."""
    path = Path(path)
    result = Returned(path)
    try:
        result.size, result.sha256 = file_digest(path)
    except OSError as exc:
        result.finding("unreadable-file", detail=f"開けません: {exc.strerror or exc}")
        return result
    if result.size > limits.max_file_bytes:
        result.finding("unreadable-file", detail=f"大きすぎます（{result.size:,} バイト）")
        return result
    try:
        result.kind = sniff(path)
    except OSError as exc:
        result.finding("unreadable-file", detail=f"開けません: {exc}")
        return result
    if result.kind == "encrypted":
        result.finding("encrypted-file")
        return result
    if result.kind != "xlsx":
        result.finding("unreadable-file", detail=_KIND_DETAIL.get(result.kind, result.kind))
        return result
    try:
        _read_package(result, key, limits)
    except _Refused as exc:
        _damaged(result, str(exc))
    except Exception as exc:  # a malformed part anywhere: a finding, and the batch goes on
        _damaged(result, f"内容を読み取れません（{type(exc).__name__}）")
    return result


def _damaged(result: Returned, detail: str) -> None:
    """A file that failed part-way is unreadable as a whole: no half-read values, and no
    findings about cells of a file that could not be read."""
    result.damaged = True
    result.cells.clear()
    result.findings[:] = [f for f in result.findings if f.code in ("signature-invalid",)]
    result.finding("unreadable-file", detail=detail)


class _Refused(Exception):
    pass


@dataclass
class _Package:
    zip: zipfile.ZipFile
    sheets: list[tuple[str, str, str]]  # (name, part path, state)
    names: dict[str, str]

    def part(self, sheet: str) -> str | None:
        return next((p for n, p, _ in self.sheets if n == sheet), None)


def _check_sizes(z: zipfile.ZipFile, limits: Limits) -> None:
    infos = z.infolist()
    if len(infos) > limits.max_entries:
        raise _Refused(f"zip の項目が多すぎます（{len(infos)}）")
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > limits.max_unzipped_bytes or total / packed > limits.max_ratio and total > 10 << 20:
        raise _Refused("展開後のサイズが異常に大きい（zip 爆弾の可能性）ため読み取りません")


def _open_package(path: Path, limits: Limits) -> _Package:
    z = zipfile.ZipFile(path)
    _check_sizes(z, limits)
    workbook = SafeET.fromstring(z.read("xl/workbook.xml"))
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
    rels = SafeET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iter(f"{NS_PKG_REL}Relationship")}
    sheets = []
    for s in workbook.iter(f"{NS_MAIN}sheet"):
        target = targets.get(s.get(f"{NS_REL}id"), "")
        part = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
        sheets.append((s.get("name", ""), _normpath(part), s.get("state", "visible")))
    return sheets


def _normpath(part: str) -> str:
    out: list[str] = []
    for piece in part.split("/"):
        if piece == "..":
            if out:
                out.pop()
        elif piece not in ("", "."):
            out.append(piece)
    return "/".join(out)


def _read_package(result: Returned, key: bytes | None, limits: Limits) -> None:
    pkg = _open_package(result.path, limits)
    with pkg.zip:
        result.last_saved = _last_saved(pkg.zip)
        values = _SheetValues(result.path)
        try:
            if METADATA_SHEET not in {n for n, _, _ in pkg.sheets}:
                result.finding("not-xlplan-file")
                return
            try:
                result.metadata, signature = parse_metadata_rows(values.rows(METADATA_SHEET))
            except MetadataError:
                result.finding("signature-invalid")
                return
            result.signature_ok = key is not None and verify(result.metadata, signature, key)
            if not result.signature_ok:
                result.finding("signature-invalid")
                return
            xml_cache: dict[str, _SheetXml] = {}  # each sheet's XML is scanned once
            _read_fields(result, pkg, values, xml_cache)
            _check_layout(result, pkg, values, xml_cache)
        finally:
            values.close()


def _last_saved(z: zipfile.ZipFile) -> dt.datetime | None:
    """dcterms:modified of docProps/core.xml: when the application last saved the file."""
    try:
        core = z.read("docProps/core.xml")
    except KeyError:
        return None
    match = re.search(rb"<dcterms:modified[^>]*>([^<]+)</dcterms:modified>", core)
    if not match:
        return None
    try:
        return dt.datetime.fromisoformat(match.group(1).decode().strip().replace("Z", "+00:00"))
    except ValueError:
        return None


class _SheetValues:
    """Cell values of a workbook through python-calamine, as {(row, col): value} per sheet."""

    def __init__(self, path: Path):
        from python_calamine import CalamineWorkbook

        self.book = CalamineWorkbook.from_path(str(path))
        self._cache: dict[str, dict[tuple[int, int], object]] = {}

    def close(self) -> None:
        self.book.close()

    def grid(self, sheet: str) -> dict[tuple[int, int], object]:
        """Non-empty cells keyed by 1-based (row, column)."""
        if sheet not in self._cache:
            # skip_empty_area=False makes row 0 of the result row 1 of the sheet.
            ws = self.book.get_sheet_by_name(sheet)
            grid = {}
            for r, row in enumerate(ws.to_python(skip_empty_area=False), start=1):
                for c, value in enumerate(row, start=1):
                    if value != "" and value is not None:
                        grid[(r, c)] = value
            self._cache[sheet] = grid
        return self._cache[sheet]

    def rows(self, sheet: str) -> list[list]:
        """The sheet as a list of rows (used for the metadata sheet)."""
        ws = self.book.get_sheet_by_name(sheet)
        return [list(r) for r in ws.to_python(skip_empty_area=False)]


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


def _sheet_xml(z: zipfile.ZipFile, part: str) -> _SheetXml:
    data = z.read(part)
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
            (c1, r1), (c2, r2) = coordinate_from_string(a), coordinate_from_string(b)
            i1, i2 = column_index_from_string(c1), column_index_from_string(c2)
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
    return (sheet, cell) if re.fullmatch(r"[A-Z]+[0-9]+", cell) else None


def percent_styles(z: zipfile.ZipFile) -> set[int]:
    """Indexes of cell formats (cellXfs) whose number format shows a percentage."""
    try:
        root = SafeET.fromstring(z.read("xl/styles.xml"))
    except KeyError:
        return set()
    percent_ids = {9, 10}  # Excel's built-in 0% and 0.00%
    for fmt in root.iter(f"{NS_MAIN}numFmt"):
        code = re.sub(r'"[^"]*"|\\.', "", fmt.get("formatCode", ""))
        if "%" in code:
            percent_ids.add(int(fmt.get("numFmtId", "-1")))
    xfs = root.find(f"{NS_MAIN}cellXfs")
    if xfs is None:
        return set()
    return {i for i, xf in enumerate(xfs.iter(f"{NS_MAIN}xf"))
            if int(xf.get("numFmtId", "0")) in percent_ids}


def _read_fields(result: Returned, pkg: _Package, values: _SheetValues,
                 xml_cache: dict[str, "_SheetXml"]) -> None:
    sheets = {n for n, _, _ in pkg.sheets}
    percent = percent_styles(pkg.zip)
    for spec in result.metadata.get("fields", []):
        target = _resolve_name(pkg, spec["name"])
        if target is None or target[0] not in sheets:
            result.finding("layout-changed", project=spec.get("project", ""), field=spec.get("label", ""),
                           sheet=spec.get("sheet", ""), cell=spec.get("cell", ""),
                           detail=f"入力欄の名前 {spec['name']} が削除されています")
            target = (spec["sheet"], spec["cell"]) if spec.get("sheet") in sheets else None
            if target is None:
                continue
        sheet, coordinate = target
        if (sheet, coordinate) != (spec.get("sheet"), spec.get("cell")):
            # The name follows rows moved in Excel, so it is read where it points now; but a
            # moved input means the protection was lifted and the layout edited.
            result.finding("layout-changed", project=spec.get("project", ""),
                           field=spec.get("label", ""), sheet=spec.get("sheet", ""),
                           cell=spec.get("cell", ""),
                           detail=f"入力欄の位置が {spec.get('sheet')}!{spec.get('cell')} から "
                                  f"{sheet}!{coordinate} に変わっています")
        if sheet not in xml_cache:
            xml_cache[sheet] = _sheet_xml(pkg.zip, pkg.part(sheet))
        col, row = coordinate_from_string(coordinate)
        value = values.grid(sheet).get((row, column_index_from_string(col)))
        xml = xml_cache[sheet]
        result.cells[spec["name"]] = Cell(sheet, coordinate, value, xml.formulas.get(coordinate),
                                          xml.styles.get(coordinate, 0) in percent)


def _check_layout(result: Returned, pkg: _Package, values: _SheetValues,
                  xml_cache: dict[str, "_SheetXml"]) -> None:
    """Protection, sheets, validations and the locked content against the signed fingerprint."""
    meta = result.metadata
    present = {n: part for n, part, _ in pkg.sheets}
    # The workbook-structure lock itself is not checked: LibreOffice drops it on every save
    # (tested with 7.4), so it would flag honest files. What it protects, the list of sheets,
    # is compared directly below.
    expected = meta.get("sheets", [])
    missing = [s for s in expected if s not in present]
    extra = [s for s in present if s not in expected and s != METADATA_SHEET]
    if missing:
        result.finding("layout-changed", detail="シートが削除または名前変更されています: " + "、".join(missing))
    if extra:
        result.finding("layout-changed", detail="シートが追加されています: " + "、".join(extra))
    inputs = {(f["sheet"], f["cell"]) for f in meta.get("fields", [])}
    fingerprint = meta.get("fingerprint", {})
    for sheet in expected:
        if sheet not in present:
            continue
        if sheet not in xml_cache:
            xml_cache[sheet] = _sheet_xml(pkg.zip, present[sheet])
        xml = xml_cache[sheet]
        if not xml.protected:
            result.finding("layout-changed", sheet=sheet, detail=f"シート「{sheet}」の保護が解除されています")
        for f in meta.get("fields", []):
            if f["sheet"] == sheet and f["cell"] not in xml.validated and f["kind"] != "text":
                result.finding("layout-changed", sheet=sheet, cell=f["cell"], project=f.get("project", ""),
                               field=f.get("label", ""), detail="入力規則（ドロップダウン・範囲）が削除されています")
        _compare_rows(result, sheet, values.grid(sheet), xml.formulas, inputs,
                      fingerprint.get(sheet, {}))


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
                   detail=f"シート「{sheet}」の固定部分（{where} 行目）が変更されています（行の挿入・削除や見出しの書き換え）")
