"""Read a returned workbook without ever writing to it, into one small cell model.

The package itself (its bytes within limits, the sheets, the one scan of each sheet part against
Excel's grid, defined names, styles, the last-saved time, the values through python-calamine) is
read by :mod:`xlplan.ooxml.reader`, which knows nothing of plans. This module does the plan's
part: the signed metadata sheet, the input cells the metadata names, and the layout compared with
the signed fingerprint.

Any failure becomes a finding on the file; nothing here raises for a bad file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .access import access_problem
from .findings import Finding
from .metadata import (METADATA_SHEET, MetadataError, canonical_value, read_metadata_rows,
                       row_hash, same_signature)
from .ooxml.reader import (Limits, Package, Refused, SheetScan, WorkbookValues, cell_position,
                           not_a_workbook, read_regular_file, sniff_bytes,
                           sniff_package)
from .schema import MetadataUnsupported, PlanRef, WorkbookMetadata, claimed_plan

__all__ = ["Cell", "Limits", "Returned", "file_digest", "log_internal_error", "read_returned", "sniff",
           "sniff_bytes", "unreadable"]


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
            data = read_regular_file(path, limits)
        except OSError as exc:  # refused or gone: the one rule of check, collect and the panel
            result.damaged = True
            result.findings.append(access_problem(path, exc))
            return result
        result.size, result.sha256 = len(data), hashlib.sha256(data).hexdigest()
        result.kind, opened = sniff_package(data)
        if result.kind != "xlsx" and opened is not None:
            opened.close()
        if result.kind == "encrypted":
            result.finding("encrypted-file")
            return result
        if result.kind != "xlsx":
            raise not_a_workbook(result.kind)
        _read_package(result, Package(data, limits, opened), key)
    except Refused as exc:
        _damaged(result, exc)
    except Exception as exc:  # noqa: BLE001 - a bug of xlplan: reported as such, never raised
        _internal_error(result, exc)
    except BaseException as exc:  # a panic inside the native reader (pyo3's PanicException)
        if type(exc).__name__ != "PanicException":
            raise
        _damaged(result, Refused("セルの値を読み取れません（ブックの内容が壊れています）",
                                  "the cell values cannot be read (the workbook's content is damaged)"))
    return result


def _damaged(result: Returned, exc: Refused) -> None:
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


def _read_package(result: Returned, pkg: Package, key: bytes | None) -> None:
    with pkg:
        _note_macros(result, pkg)
        # Every sheet is scanned before the native value reader sees the file (a cell outside
        # Excel's grid or a huge shared-string count makes it abort the whole process); the same
        # scan gives the formulas, styles, protection and validations the layout check needs.
        scans = pkg.scan()
        result.last_saved = pkg.last_saved()
        with pkg.values(scans) as values:
            if METADATA_SHEET not in pkg.sheet_names():
                result.finding("not-xlplan-file")
                return
            if not _read_metadata(result, values.rows(METADATA_SHEET), key):
                return
            _read_fields(result, pkg, values, scans)
            _check_layout(result, pkg, values, scans)
            _report_far_cells(result, scans)


def _read_metadata(result: Returned, rows: list[list], key: bytes | None) -> bool:
    """Verify the metadata sheet and type its JSON into ``result.metadata``; False (with the
    finding) when the file cannot be trusted or understood."""
    try:
        stored, signature, expected = read_metadata_rows(rows, key)
    except MetadataError:
        result.finding("signature-invalid")
        return False
    result.claimed_plan = claimed_plan(stored)
    # The signature covers the JSON as stored (so files of every schema version verify); the
    # rest of the sheet (the marker, the format version, any other cell) must be exactly what
    # xlplan wrote with it.
    result.signature_ok = bool(expected) and same_signature(expected[1][1], signature) and \
        _trimmed(rows) == _trimmed(expected)
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


def _note_macros(result: Returned, pkg: Package) -> None:
    """A workbook re-saved with macros: xlplan never runs them, but the coordinator must know."""
    found = pkg.macro_parts()
    if found:
        result.finding("macro-content", detail="、".join(found[:3]), detail_en=", ".join(found[:3]))


def _report_far_cells(result: Returned, scans: dict[str, SheetScan]) -> None:
    """Values far outside the form (left out of the grid): the form was changed there."""
    for sheet, scan in scans.items():
        if not scan.far_refs:
            continue
        refs = scan.far_refs
        shown = "、".join(refs[:5]) + ("…" if len(refs) > 5 else "")
        result.finding("layout-changed", sheet=sheet, cell=refs[0],
                       detail=f"シート「{sheet}」の様式の外（{shown}）に値があります",
                       detail_en=f"sheet '{sheet}' has values far outside the form ({', '.join(refs[:5])})")


def _read_fields(result: Returned, pkg: Package, values: WorkbookValues,
                 scans: dict[str, SheetScan]) -> None:
    sheets = set(pkg.sheet_names())
    percent = pkg.percent_styles()
    for spec in result.metadata.fields:
        where = dict(project=spec.project, field=spec.label, sheet=spec.sheet, cell=spec.cell)
        target = pkg.resolve_name(spec.name)
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
        value = values.grid(sheet).get(cell_position(coordinate) or (0, 0))
        xml = scans[sheet]
        result.cells[spec.name] = Cell(sheet, coordinate, value, xml.formulas.get(coordinate),
                                       xml.style(coordinate) in percent)


def _check_layout(result: Returned, pkg: Package, values: WorkbookValues,
                  scans: dict[str, SheetScan]) -> None:
    """Protection, sheets, validations and the locked content against the signed fingerprint."""
    meta = result.metadata
    present = dict.fromkeys(pkg.sheet_names())
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
        xml = scans[sheet]
        if not xml.protected:
            result.finding("layout-changed", sheet=sheet, detail=f"シート「{sheet}」の保護が解除されています",
                           detail_en=f"the protection of sheet '{sheet}' was removed")
        for f in meta.fields:
            if f.sheet == sheet and not xml.validated.covers(f.cell) and f.kind.validation_required:
                result.finding("layout-changed", sheet=sheet, cell=f.cell, project=f.project,
                               field=f.label, detail="入力規則（ドロップダウン・範囲）が削除されています",
                               detail_en="the cell's data validation (list or range) was removed")
        _compare_rows(result, sheet, values.grid(sheet), xml.formulas, inputs,
                      meta.fingerprint.get(sheet, {}))


def _compare_rows(result: Returned, sheet: str, grid, formulas, inputs, expected: dict) -> None:
    # The department's inputs and the cells computed by formulas are not fixed content.
    skip = {cell_position(c) for s, c in inputs if s == sheet} | {cell_position(c) for c in formulas}
    rows: dict[int, list] = {}
    for at, value in grid.items():
        if at not in skip:
            rows.setdefault(at[0], []).append((at[1], value))
    actual = {str(r): h for r, cells in rows.items() if (h := row_hash(cells))}
    changed = sorted({int(r) for r in set(actual) | set(expected) if actual.get(r) != expected.get(r)})
    if not changed:
        return
    where = "、".join(str(r) for r in changed[:5]) + ("…" if len(changed) > 5 else "")
    result.finding("layout-changed", sheet=sheet, cell=f"A{changed[0]}",
                   detail=f"シート「{sheet}」の固定部分（{where} 行目）が変更されています（行の挿入・削除や見出しの書き換え）",
                   detail_en=f"the fixed content of sheet '{sheet}' (row {where.replace('、', ', ')}) was changed "
                             "(rows inserted or deleted, or headings rewritten)")
