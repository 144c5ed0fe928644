"""The merge in its three parts (xlplan.merge.tables / layout / writer).

- one registry of tables gives the order of the sheets, of the CSV files and of MergedTables;
- the rows spliced into the saved workbook are byte for byte the rows XlsxWriter writes itself,
  including the style index of every cell (read back from probe cells, no private attribute);
- the layout workbook's theme and indexed colours reach the merged 事業シート as RGB;
- no private attribute of XlsxWriter or openpyxl anywhere in xlplan/.
"""

from __future__ import annotations

import dataclasses
import re
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.styles.colors import Color

from test_archive import SPLICED_ROWS, _spliced_row, fill
from xlplan.archive import Archive
from xlplan.collect import collect
from xlplan.merge import TABLE_ORDER, TABLE_SPECS, MergedTables, merged_tables, write_csv, write_merged
from xlplan.merge import layout, tables, writer
from xlplan.ooxml.package import sheet_parts

XLPLAN = Path(__file__).resolve().parent.parent / "xlplan"


@pytest.mark.slow
def test_one_registry_orders_sheets_csv_files_and_merged_tables(project, generated, tmp_path):
    plan, files = generated
    fill(plan, files["福祉課"].path, project.inbox / "福祉課.xlsx")
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    out = write_merged(archive, plan, project.settings, tmp_path / "集計.xlsx", csv_dir=tmp_path / "csv")
    present = [name for name in TABLE_ORDER if name != "中間評価結果"]  # no committee replies here
    sheets = load_workbook(out, read_only=True).sheetnames
    assert sheets[:len(present)] == present
    assert sorted(p.stem for p in (tmp_path / "csv").iterdir()) == sorted(present)
    assert [p.stem for p in write_csv(merged_tables(archive, plan), tmp_path / "csv2")] == present
    assert [f.name for f in dataclasses.fields(MergedTables)] == [spec.attribute for spec in TABLE_SPECS]
    assert len(set(TABLE_ORDER)) == len(TABLE_ORDER) == len(TABLE_SPECS)


def _sheet_data(path: Path, title: str) -> str:
    with zipfile.ZipFile(path) as z:
        xml = z.read(sheet_parts(z)[title]).decode()
        styles = z.read("xl/styles.xml").decode()
    return re.search(r"<sheetData>.*</sheetData>", xml, re.S).group(0), \
        re.search(r'<dimension ref="[^"]*"/>', xml).group(0), styles


@pytest.mark.parametrize("titles", [(), ("題", "副題")])
def test_spliced_rows_are_the_rows_xlsxwriter_writes(tmp_path, titles):
    """The same table through the row file and through XlsxWriter's own cells: the same
    <sheetData> bytes (values, types, style indexes, heights), dimension and styles part."""
    rows = [_spliced_row(d, row) for d in ("A課", "B課") for row in SPLICED_ROWS]
    rows += [{**dict.fromkeys(tables.VALUE_COLUMNS), "担当課": "C課", "値": n, "項目": f"項目{n}"}
             for n in range(300)]
    table = tables.Table("入力値", tables.VALUE_COLUMNS, lambda: iter(rows))
    found = {}
    for way in ("stream", "xlsxwriter"):
        path = tmp_path / way / "t.xlsx"
        path.parent.mkdir()
        row_files = writer.RowFiles(path.parent)
        wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False})
        writer.table_sheet(wb, layout.Formats(wb), table, tables.SPECS_BY_NAME["入力値"].widths,
                           wrap=("項目",), titles=titles, row_files=row_files if way == "stream" else None)
        wb.close()
        row_files.splice(path)
        row_files.remove()
        assert [p.name for p in path.parent.iterdir()] == ["t.xlsx"]  # no row file left
        found[way] = _sheet_data(path, "入力値")
    assert found["stream"] == found["xlsxwriter"]
    assert 's="' in found["stream"][0] and "\x00" not in found["stream"][0]


@pytest.mark.slow
def test_project_sheet_merged_ranges_and_looks_survive(project, generated, tmp_path):
    """The merged 事業シート keep the layout's merged ranges (put in through ooxml, not
    XlsxWriter's internals) at their place in the worksheet's schema order."""
    plan, _ = generated
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.outbox], project.settings, plan)  # merge refuses an empty archive
    out = write_merged(archive, plan, project.settings, tmp_path / "集計.xlsx")
    wb = load_workbook(out)
    project_sheet = wb[wb.sheetnames[len(TABLE_ORDER) - 1]]
    assert project_sheet.merged_cells.ranges
    with zipfile.ZipFile(out) as z:
        xml = z.read(sheet_parts(z)[project_sheet.title]).decode()
    assert xml.index("</sheetData>") < xml.index("<mergeCells") < xml.index("<pageMargins")


def test_theme_and_indexed_colours_are_resolved_to_rgb(tmp_path):
    """XlsxWriter takes RGB only: the layout's theme colours (with their tint) and indexed
    colours are resolved through the workbook's theme, not dropped."""
    book = Workbook()
    ws = book.active
    ws["A1"].fill = PatternFill("solid", fgColor=Color(theme=4, tint=0.3999755851924192))
    ws["A2"].font = Font(color=Color(indexed=10))  # red in the indexed palette
    ws["A3"].font = Font(color=Color(theme=1))     # テキスト 1: XlsxWriter's default already
    ws["A4"].fill = PatternFill("solid", fgColor=Color(theme=4))
    book.save(tmp_path / "t.xlsx")
    loaded = load_workbook(tmp_path / "t.xlsx")
    theme = layout.theme_colours(loaded.loaded_theme)
    assert len(theme) == 12 and theme[1] == "000000" and theme[0] == "FFFFFF"
    sheet = loaded.active
    assert layout.look_of(sheet["A4"], theme)["bg_color"] == "#" + theme[4]
    assert layout.look_of(sheet["A1"], theme)["bg_color"] == "#95B3D7"  # accent1 4F81BD, 40 % lighter
    assert layout.look_of(sheet["A2"], theme)["font_color"] == "#FF0000"
    assert "font_color" not in layout.look_of(sheet["A3"], theme)


PRIVATE_USES = [r"_get_xf_index", r"\brow_info\b", r"\._style\b", r"\.merge\.append", r"\bws\.merge\b",
                r"\._[a-z]\w*_index\b"]


def test_no_private_attribute_of_xlsxwriter_or_openpyxl_in_xlplan():
    hits = [f"{path.relative_to(XLPLAN)}:{n}: {line.strip()}"
            for path in sorted(XLPLAN.rglob("*.py"))
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
            if not line.lstrip().startswith("#") and any(re.search(p, line) for p in PRIVATE_USES)]
    assert hits == []


def test_dependencies_are_pinned_to_tested_ranges():
    text = (XLPLAN.parent / "pyproject.toml").read_text(encoding="utf-8")
    for name in ("openpyxl", "xlsxwriter"):
        spec = re.search(rf'"{name}([^"]*)"', text).group(1)
        assert ">=" in spec and "<" in spec.replace("<=", ""), (name, spec)
