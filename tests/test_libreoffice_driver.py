"""Tests of the LibreOffice test helper (tests/libreoffice.py + tests/uno_driver.py).

They need LibreOffice and python3-uno; the ``libreoffice`` fixture skips them otherwise
(or fails them when XLPLAN_REQUIRE_LIBREOFFICE=1).
"""

from __future__ import annotations

import openpyxl
import pytest
from openpyxl.styles import Protection
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation

from libreoffice import LibreOfficeError, pdf_to_png

OLE_MAGIC = b"\xD0\xCF\x11\xE0"


@pytest.fixture
def workbook(tmp_path):
    """Protected sheet 'Plan' (password pw): B2 and C3 unlocked, B2 whole 1-5; very hidden 'Secret'."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Plan"
    ws["A1"] = "Score"
    ws["A2"] = "Evaluation (1-5)"
    ws["A3"] = "Note"
    ws["A4"] = "=B2*2"
    ws["B2"].protection = Protection(locked=False)
    ws["C3"].protection = Protection(locked=False)
    dv = DataValidation(
        type="whole",
        operator="between",
        formula1="1",
        formula2="5",
        showErrorMessage=True,
        errorTitle="Invalid",
        error="Enter a whole number from 1 to 5",
    )
    dv.add("B2")
    ws.add_data_validation(dv)
    ws.protection.sheet = True
    ws.protection.password = "pw"
    wb.defined_names["xp_score"] = DefinedName("xp_score", attr_text="Plan!$B$2")
    hidden = wb.create_sheet("Secret")
    hidden["A1"] = "internal"
    hidden.sheet_state = "veryHidden"
    path = tmp_path / "plan.xlsx"
    wb.save(path)
    return path


def sheet(info: dict, name: str) -> dict:
    return next(s for s in info["sheets"] if s["name"] == name)


def test_inspect_sees_protection_validation_names_and_hidden_sheet(libreoffice, workbook):
    info = libreoffice.inspect(workbook)

    plan = sheet(info, "Plan")
    assert plan["visible"] is True
    assert plan["protected"] is True
    cells = plan["cells"]
    assert cells["A1"] == {
        "locked": True,
        "type": "TEXT",
        "value": None,
        "string": "Score",
        "formula": None,
        "validation": None,
    }
    assert cells["A4"]["type"] == "FORMULA" and cells["A4"]["formula"] == "=B2*2"
    # B2 is empty: it is reported although LibreOffice's used area only covers content.
    b2 = cells["B2"]
    assert b2["locked"] is False and b2["type"] == "EMPTY"
    v = b2["validation"]
    assert v["type"] == "WHOLE" and v["operator"] == "BETWEEN"
    assert (v["formula1"], v["formula2"]) == ("1", "5")
    assert v["error_message"] == "Enter a whole number from 1 to 5" and v["show_error"] is True
    assert cells["C3"]["locked"] is False and cells["C3"]["validation"] is None
    assert cells["B1"]["validation"] is None  # default (ANY) validation reported as null

    assert info["named_ranges"]["xp_score"] == "$Plan.$B$2"
    assert info["structure_protected"] is False

    secret = sheet(info, "Secret")
    assert secret["visible"] is False
    assert secret["cells"]["A1"]["string"] == "internal"


def test_fill_by_name_and_cell_keeps_protection_and_source(libreoffice, workbook, tmp_path):
    before = workbook.read_bytes()
    out = tmp_path / "filled.xlsx"

    result = libreoffice.fill(
        workbook,
        out,
        [
            {"name": "xp_score", "value": "４", "mode": "type"},
            {"sheet": "Plan", "cell": "C3", "value": "３０地区", "mode": "paste"},
        ],
    )

    assert result == out and out.is_file()
    assert workbook.read_bytes() == before  # src untouched
    written = libreoffice.last_reply["written"]
    # LibreOffice's API parses typed text with en-US rules: a full-width digit stays text.
    assert written[0]["target"].startswith("xp_score") and written[0]["type"] == "TEXT"

    wb = openpyxl.load_workbook(out)
    ws = wb["Plan"]
    assert ws["B2"].value == "４"
    assert ws["C3"].value == "３０地区"
    assert ws.protection.sheet is True
    assert wb["Secret"].sheet_state in ("hidden", "veryHidden")

    again = sheet(libreoffice.inspect(out), "Plan")
    assert again["protected"] is True
    assert again["cells"]["B2"]["locked"] is False
    assert again["cells"]["B2"]["validation"]["type"] == "WHOLE"


def test_fill_type_mode_parses_numbers_and_apostrophe(libreoffice, workbook, tmp_path):
    out = libreoffice.fill(
        workbook,
        tmp_path / "typed.xlsx",
        [
            {"name": "xp_score", "value": "3"},
            {"sheet": "Plan", "cell": "C3", "value": "'30", "mode": "type"},
        ],
    )
    ws = openpyxl.load_workbook(out)["Plan"]
    assert ws["B2"].value == 3
    assert ws["C3"].value == "30"


def test_fill_paste_bypasses_validation(libreoffice, workbook, tmp_path):
    out = libreoffice.fill(workbook, tmp_path / "pasted.xlsx", [{"name": "xp_score", "value": 9, "mode": "paste"}])
    assert openpyxl.load_workbook(out)["Plan"]["B2"].value == 9


def test_fill_locked_cell_is_refused(libreoffice, workbook, tmp_path):
    with pytest.raises(LibreOfficeError, match="locked"):
        libreoffice.fill(workbook, tmp_path / "x.xlsx", [{"sheet": "Plan", "cell": "A1", "value": "x"}])
    with pytest.raises(LibreOfficeError, match="defined name not found"):
        libreoffice.fill(workbook, tmp_path / "x.xlsx", [{"name": "xp_nope", "value": "1"}])
    assert not (tmp_path / "x.xlsx").exists()


def test_fill_with_unprotect_password_leaves_sheet_unprotected(libreoffice, workbook, tmp_path):
    out = libreoffice.fill(
        workbook, tmp_path / "unprotected.xlsx", [{"sheet": "Plan", "cell": "A3", "value": "edited"}], unprotect_password="pw"
    )
    plan = sheet(libreoffice.inspect(out), "Plan")
    assert plan["protected"] is False
    assert plan["cells"]["A3"]["string"] == "edited"
    assert openpyxl.load_workbook(out)["Plan"].protection.sheet is False

    with pytest.raises(LibreOfficeError, match="wrong password"):
        libreoffice.fill(workbook, tmp_path / "y.xlsx", [], unprotect_password="nope")


def test_set_formulas_writes_formula_into_input(libreoffice, workbook, tmp_path):
    out = libreoffice.set_formulas(workbook, tmp_path / "formula.xlsx", [{"name": "xp_score", "value": "=SUM(1,2)"}])
    b2 = sheet(libreoffice.inspect(out), "Plan")["cells"]["B2"]
    assert b2["type"] == "FORMULA" and b2["value"] == 3.0
    ws = openpyxl.load_workbook(out)["Plan"]
    assert ws["B2"].value == "=SUM(1,2)"


def test_fill_in_place_only_when_asked(libreoffice, workbook):
    libreoffice.fill(workbook, workbook, [{"name": "xp_score", "value": "2"}])
    assert openpyxl.load_workbook(workbook)["Plan"]["B2"].value == 2


def test_to_pdf_and_png(libreoffice, workbook, tmp_path):
    pdf = libreoffice.to_pdf(workbook, tmp_path / "pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 500
    pngs = pdf_to_png(pdf, tmp_path / "png")
    if pngs:  # pdftoppm present
        assert pngs[0].read_bytes().startswith(b"\x89PNG")


def test_convert_to_xls_and_ods(libreoffice, workbook, tmp_path):
    xls = libreoffice.convert(workbook, tmp_path / "plan.xls", "MS Excel 97")
    assert xls.read_bytes().startswith(OLE_MAGIC)
    ods = libreoffice.convert(workbook, tmp_path / "plan.ods", "calc8")
    assert ods.read_bytes().startswith(b"PK")
    assert sheet(libreoffice.inspect(xls), "Plan")["protected"] is True


def test_errors_are_reported(libreoffice, tmp_path):
    with pytest.raises(LibreOfficeError, match="file not found"):
        libreoffice.inspect(tmp_path / "missing.xlsx")
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a workbook")
    with pytest.raises(LibreOfficeError):
        libreoffice.convert(bad, tmp_path / "bad.pdf", "no such filter")


def test_restarts_after_soffice_died(libreoffice, workbook):
    import os
    import signal

    os.killpg(libreoffice._proc.pid, signal.SIGKILL)
    libreoffice._proc.wait(timeout=10)
    info = libreoffice.inspect(workbook)
    assert sheet(info, "Plan")["protected"] is True
    assert libreoffice.alive()
