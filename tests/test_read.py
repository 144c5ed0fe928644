"""The reader's own contract (``xlplan.read``): what a returned file becomes before any check.

* The cell model: each input cell as (sheet, coordinate, value, formula, percent format), the
  value with the type the department's application stored (number, text, date, bool), a
  formula's cached value beside the formula.
* Sniffing: what the bytes are, whatever the file is called.
* ``Returned``: readable only when signed metadata verifies and nothing is damaged; a file
  credited to a department only when its signature verifies.
* Limits: a file beyond a size limit is refused as a finding, never read.
* Reading never writes, never raises, and hashes what it read.
(Damaged and hostile files: test_read_safety.py; random damage: test_properties.py.)
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from xlplan.read import Limits, file_digest, read_returned, sniff, sniff_bytes, unreadable

from test_corpus import rewrite_zip

DEPARTMENT = "福祉課"  # its workbook has every field kind


@pytest.fixture
def workbook(project, generated) -> tuple[object, Path, dict]:
    """(plan, the department's generated workbook, its input cells as read from it)."""
    plan, files = generated
    path = files[DEPARTMENT].path
    return plan, path, read_returned(path, project.settings.key_bytes).cells


def _zip(names: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in names.items():
            z.writestr(name, data)
    return buf.getvalue()


OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
SNIFFED = {
    "xlsx": _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}),
    "xlsb": _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.bin": b"\x00"}),
    "ods": _zip({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<x/>"}),
    "zip": _zip({"readme.txt": b"hello"}),
    "broken-zip": b"PK\x03\x04" + b"\x00" * 40,
    "xls": OLE + b"\x00" * 512 + "Workbook".encode("utf-16-le"),
    "encrypted": OLE + b"\x00" * 512 + "EncryptedPackage".encode("utf-16-le"),
    "empty": b"",
    "text": "課名,実績\n福祉課,120\n".encode("utf-8"),
    "unknown": bytes(range(128, 256)) * 4,
}


@pytest.mark.parametrize("kind", SNIFFED)
def test_sniffing_tells_what_the_bytes_are_whatever_the_name(kind, tmp_path):
    data = SNIFFED[kind]
    assert sniff_bytes(data) == kind
    path = tmp_path / "福祉課.xlsx"  # every one called .xlsx, as a department may name it
    path.write_bytes(data)
    assert sniff(path) == kind


@pytest.mark.parametrize("kind", [k for k in SNIFFED if k != "xlsx"])
def test_a_file_that_is_no_xlsx_workbook_is_one_finding_saying_what_it_is(kind, tmp_path):
    path = tmp_path / "福祉課.xlsx"
    path.write_bytes(SNIFFED[kind])
    returned = read_returned(path, b"key")
    assert returned.kind == kind and not returned.readable and returned.cells == {}
    [finding] = returned.findings
    assert finding.code == ("encrypted-file" if kind == "encrypted" else "unreadable-file")
    assert finding.file == "福祉課.xlsx" and finding.department == ""
    assert finding.message("ja") and finding.message("en") != finding.message("ja")
    assert (returned.size, returned.sha256) == file_digest(path)


def test_the_cell_model_keeps_place_type_formula_and_percent_format(project, workbook, tmp_path):
    plan, path, fields = workbook
    wb = load_workbook(path)
    # One input of each stored type; a formula with no cached value (as openpyxl saves it);
    # a number the department formatted as a percentage (Excel shows 0.5 as 50%).
    names = list(fields)
    typed = {names[0]: 42, names[1]: 2.5, names[2]: "テキスト\n二行目", names[3]: dt.datetime(2024, 5, 1),
             names[4]: True, names[5]: "=1+1", names[6]: 0.5}
    for name, value in typed.items():
        c = fields[name]
        wb[c.sheet][c.coordinate] = value
    wb[fields[names[6]].sheet][fields[names[6]].coordinate].number_format = "0%"
    out = tmp_path / "typed.xlsx"
    wb.save(out)

    returned = read_returned(out, project.settings.key_bytes)
    assert returned.readable and returned.department == DEPARTMENT
    assert set(returned.cells) == set(fields)
    for name, cell in returned.cells.items():
        assert (cell.sheet, cell.coordinate) == (fields[name].sheet, fields[name].coordinate)
    got = {name: returned.cells[name].value for name in typed}
    assert got[names[0]] == 42 and type(got[names[0]]) in (int, float)
    assert got[names[1]] == 2.5
    assert got[names[2]] == "テキスト\n二行目"
    assert got[names[3]] in (dt.datetime(2024, 5, 1), dt.date(2024, 5, 1))
    assert got[names[4]] is True
    formula = returned.cells[names[5]]
    assert formula.formula is not None and "1+1" in formula.formula and formula.value in (None, "")
    assert all(returned.cells[n].formula is None for n in names[:5])
    assert got[names[6]] == 0.5
    assert [n for n, c in returned.cells.items() if c.percent_format] == [names[6]]


def test_returned_is_readable_and_credited_only_when_its_signature_verifies(project, workbook):
    plan, path, _ = workbook
    good = read_returned(path, project.settings.key_bytes)
    assert good.readable and good.signature_ok and good.department == DEPARTMENT
    assert good.claimed_plan.id == plan.plan_id
    assert good.finding("value-normalised").department == DEPARTMENT

    forged = read_returned(path, b"another project's key")
    assert forged.metadata is None  # nothing a file that does not verify says is taken as fact
    assert forged.signature_ok is False and not forged.readable
    assert forged.department == ""  # a file that does not verify is credited to nobody
    assert forged.claimed_plan.id == plan.plan_id  # still told which plan it claims
    assert forged.finding("value-normalised").department == ""


def test_reading_never_writes_and_hashes_what_it_read(project, workbook):
    _, path, _ = workbook
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    returned = read_returned(path, project.settings.key_bytes)
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before
    assert (returned.size, returned.sha256) == file_digest(path)
    assert returned.kind == "xlsx" and returned.last_saved is not None


@pytest.mark.parametrize("limit", [
    Limits(max_file_bytes=1000),
    Limits(max_entries=3),
    Limits(max_unzipped_bytes=10_000),
], ids=["file-bytes", "entries", "unzipped-bytes"])
def test_a_file_beyond_a_limit_is_refused_as_one_finding(project, workbook, limit):
    _, path, _ = workbook
    assert read_returned(path, project.settings.key_bytes).readable  # within the default limits
    returned = read_returned(path, project.settings.key_bytes, limit)
    assert not returned.readable and returned.cells == {}
    assert [f.code for f in returned.findings] == ["unreadable-file"]
    assert returned.findings[0].message("en") and returned.sha256 in ("", file_digest(path)[1])


def test_unreadable_records_size_hash_and_the_reason(tmp_path):
    path = tmp_path / "a.xlsx"
    path.write_bytes(b"PK")
    returned = unreadable(path, "読み取り中に停止しました", "reading stopped")
    assert (returned.size, returned.sha256) == file_digest(path)
    [f] = returned.findings
    assert f.code == "unreadable-file" and "reading stopped" in f.message("en")
    gone = unreadable(tmp_path / "gone.xlsx", "x", "x")  # removed meanwhile: still a record
    assert gone.size == 0 and [f.code for f in gone.findings] == ["unreadable-file"]


def test_a_sheet_in_another_namespace_is_refused_not_read_as_empty(project, workbook, tmp_path):
    """The case a property test once found (issue 15): damage changed one digit of a worksheet's
    SpreadsheetML namespace. python-calamine ignores namespaces and read the sheet's text,
    openpyxl (like Excel) read nothing there; the reader now refuses the sheet, naming it."""
    _, path, fields = workbook
    sheet = next(iter(fields.values())).sheet
    wb = load_workbook(path)
    index = wb.sheetnames.index(sheet)
    part = f"xl/worksheets/sheet{index + 1}.xml"
    damaged = tmp_path / "namespace.xlsx"

    def edit(name: str, data: bytes) -> bytes:
        if name != part:
            return data
        return data.replace(b"spreadsheetml/2006/main", b"spreadsheetml/2007/main", 1)

    rewrite_zip(path, damaged, edit)
    assert load_workbook(damaged)[sheet].max_row <= 1  # the reference reads nothing there
    returned = read_returned(damaged, project.settings.key_bytes)
    assert not returned.readable
    [finding] = [f for f in returned.findings if f.code == "unreadable-file"]
    assert finding.sheet == sheet and "SpreadsheetML" in finding.message("en")
