"""The panel's VBA project: xlwings' own, saved by Excel, taken from the installed package.

xlplan writes no VBA binary any more: :func:`xlplan.panel.xlwings_vba_project` extracts
``xl/vbaProject.bin`` from xlwings' ``quickstart_standalone.xlsm`` (as XlsxWriter's
``vba_extract`` does) with the code names of the workbook Excel saved it in, and
:func:`xlplan.panel.build_panel` gives the panel those code names (``set_vba_name``), as Excel
requires of a workbook that takes over another workbook's project. Also here: the licence
that lets the panel carry xlwings' project, and ``read_bas`` for ``macros/*.bas``.
"""

from __future__ import annotations

import importlib.metadata
import io
import re
import zipfile
from pathlib import Path

import pytest
import xlsxwriter

from xlplan.panel import (
    PANEL_MACRO,
    PANEL_NAME,
    build_panel,
    read_bas,
    xlwings_quickstart_path,
    xlwings_vba_project,
)

ROOT = Path(__file__).resolve().parent.parent
MACROS = ROOT / "macros"


def _code_names(path: Path) -> tuple[str, list[str]]:
    """The code names a workbook package declares: workbook, then each sheet in order."""
    with zipfile.ZipFile(path) as z:
        book = re.search(r'<workbookPr[^>]*codeName="(\w+)"', z.read("xl/workbook.xml").decode()).group(1)
        count = len(re.findall(r"<sheet ", z.read("xl/workbook.xml").decode()))
        sheets = [re.search(r'<sheetPr[^>]*codeName="(\w+)"', z.read(f"xl/worksheets/sheet{n}.xml").decode()).group(1)
                  for n in range(1, count + 1)]
    return book, sheets


def _excel_like_source(path: Path, book_name: str, sheet_names: list[str]) -> Path:
    """An .xlsm whose project comes from xlwings' quickstart but whose workbook declares
    other code names (as a workbook saved by a Excel in another language, or renamed in VBA)."""
    project = xlwings_vba_project()
    wb = xlsxwriter.Workbook(str(path))
    wb.add_vba_project(io.BytesIO(project.data), is_stream=True)
    wb.set_vba_name(book_name)
    for i, name in enumerate(sheet_names, start=1):
        wb.add_worksheet(f"S{i}").set_vba_name(name)
    wb.close()
    return path


def test_the_quickstart_project_and_its_code_names():
    project = xlwings_vba_project()
    assert project.data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # a compound file (OLE)
    with zipfile.ZipFile(xlwings_quickstart_path()) as z:
        assert project.data == z.read("xl/vbaProject.bin")
    assert (project.workbook_code_name, project.sheet_code_names) == _code_names(xlwings_quickstart_path())
    assert project.workbook_code_name == "ThisWorkbook" and project.sheet_code_names == ["Sheet1", "Sheet2"]


def test_the_panel_takes_the_code_names_of_the_project_it_carries(tmp_path):
    """Excel's rule (XlsxWriter: set_vba_name): the workbook's and the sheets' code names must
    be those of the workbook the project was extracted from; a third sheet gets a free name."""
    source = _excel_like_source(tmp_path / "source.xlsm", "DieseArbeitsmappe", ["Tabelle1", "Tabelle2"])
    project = xlwings_vba_project(source)
    assert (project.workbook_code_name, project.sheet_code_names) == ("DieseArbeitsmappe", ["Tabelle1", "Tabelle2"])
    panel = build_panel(tmp_path / "out" / PANEL_NAME, vba_source=source)
    assert _code_names(panel) == ("DieseArbeitsmappe", ["Tabelle1", "Tabelle2", "Sheet1"])
    default = build_panel(tmp_path / "default" / PANEL_NAME)
    assert _code_names(default) == ("ThisWorkbook", ["Sheet1", "Sheet2", "Sheet3"])


def test_xlwings_licence_allows_the_panel_to_carry_its_project():
    """BSD 3-clause for everything but xlwings.pro: the quickstart is in the open part, and the
    notice travels inside the module the panel carries (redistribution in binary form)."""
    dist = importlib.metadata.distribution("xlwings")
    licence = next(f for f in dist.files if f.name == "LICENSE.txt")
    text = licence.locate().read_text(encoding="utf-8")
    assert "except\nthe pro folder" in text and "BSD 3-clause" in text
    assert not any(part == "pro" for part in Path(str(xlwings_quickstart_path())).parts[-2:])
    from oletools import olevba

    parser = olevba.VBA_Parser(str(xlwings_quickstart_path()))
    try:
        found = {name: code for _, _, name, code in parser.extract_macros()}
    finally:
        parser.close()
    assert "'xlwings is distributed under a BSD 3-clause license." in found["xlwings.bas"]
    assert "Redistributions in binary form must reproduce the above copyright notice" in found["xlwings.bas"]
    assert f"Sub {PANEL_MACRO}()" in found["Module1.bas"]


def test_read_bas_needs_the_name_attribute(tmp_path):
    path = tmp_path / "x.bas"
    path.write_bytes(b"Sub A()\r\nEnd Sub\r\n")
    with pytest.raises(ValueError):
        read_bas(path)
    path.write_bytes(b'Attribute VB_Name = "Mod_1"\nSub A()\rEnd Sub\n')
    assert read_bas(path) == ("Mod_1", 'Attribute VB_Name = "Mod_1"\r\nSub A()\r\nEnd Sub\r\n')


def test_panel_buttons_bas_is_ascii_crlf_with_the_six_subs():
    raw = (MACROS / "PanelButtons.bas").read_bytes()
    raw.decode("ascii")
    assert raw.startswith(b'Attribute VB_Name = "PanelButtons"\r\n')
    assert raw.count(b"\n") == raw.count(b"\r\n") and raw.endswith(b"\r\n")
    name, source = read_bas(MACROS / "PanelButtons.bas")
    assert name == "PanelButtons"
    subs = dict(re.findall(r'Sub (\w+)\(\)\r\n    RunPython "import xlplan\.excel; xlplan\.excel\.(\w+)\(\)"', source))
    assert subs == {
        "GenerateWorkbooks": "generate",
        "CollectAndCheck": "collect",
        "MergeResults": "merge",
        "WriteFeedback": "feedback",
        "CheckOneFile": "check_one",
        "GenerateScoringForms": "generate_scoring",
    }
