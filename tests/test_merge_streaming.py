"""The merged workbook's sheets streamed through xlplan.ooxml.worksheet (not XlsxWriter's cells):
the 要確認 sheet with its hyperlinks, and what that buys.

- a 要確認 sheet streamed with its links reads exactly as the one XlsxWriter writes itself
  (golden description: values, looks, heights, every hyperlink's target and place), with the
  links cut across many chunks of the spool;
- every link of a merged workbook's 要確認 jumps to its finding's archived file, sheet and cell;
- writing the links holds none of them in memory: ten times the findings, the same peak.
"""

from __future__ import annotations

import os
import sys
import tracemalloc
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from openpyxl import load_workbook

from test_archive import fill
from xlplan.archive import Archive
from xlplan.collect import collect
from xlplan.merge import FINDING_COLUMNS, layout, tables, write_merged, writer
from xlplan.ooxml import worksheet
from xlplan.ooxml.package import sheet_parts

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import golden  # noqa: E402

SHEETS = ["評価表", "1-1-1 福祉教育推進事業", "O'Brien's sheet", "空白 と #記号"]
STORED = ["archive/4d/" + "4d" * 32 + ".xlsx", "archive/ab/" + "ab" * 32 + ".xlsx", "",
          "my files/100% [draft] #2.xlsx"]


def _finding(i: int) -> dict:
    """A 要確認 row: errors and warnings, with and without a sheet and cell, with and without a
    stored file (an unreadable file's finding has no place to jump to)."""
    sheet = SHEETS[i % len(SHEETS)] if i % 7 else ""
    return {"重要度": "エラー" if i % 3 == 0 else "警告", "コード": "score-out-of-range", "担当課": f"課{i % 50}",
            "ファイル": f"課{i % 50}.xlsx", "事業": "1-1-1", "項目": "達成度", "シート": sheet,
            "セル": f"C{i + 2}" if sheet else "", "入力値": i, "内容": f"達成度は 1〜5 で入力してください（{i}）",
            "保管先": STORED[i % len(STORED)]}


def _write_findings(path: Path, count: int, streamed: bool) -> None:
    """The 要確認 sheet of ``count`` findings, through the row stream or XlsxWriter's cells."""
    archive = Archive(path.parent / "project")
    row_files = writer.RowFiles(path.parent)
    try:
        wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                             "strings_to_urls": False})
        formats = layout.Formats(wb)
        table = tables.Table("要確認", FINDING_COLUMNS, lambda: (_finding(i) for i in range(count)))
        widths, wrap = layout.sheet_layout(table)
        writer.table_sheet(wb, formats, table, widths, wrap=wrap,
                           dress=writer._finding_links(archive, path.parent, formats),
                           row_files=row_files if streamed else None)
        wb.close()
        row_files.splice(path)
    finally:
        row_files.remove()


def test_streamed_finding_links_are_the_links_xlsxwriter_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(worksheet, "_CHUNK", 256)  # the links cross many chunks of the spool
    paths = {}
    for way in ("stream", "xlsxwriter"):
        folder = tmp_path / way
        folder.mkdir()
        paths[way] = folder / "集計.xlsx"
        _write_findings(paths[way], 300, way == "stream")
        assert sorted(p.name for p in folder.iterdir()) == ["project", "集計.xlsx"]  # no spool left
    described = {way: golden.describe_workbook(p) for way, p in paths.items()}
    links = described["stream"]["sheets"]["要確認"]["hyperlinks"]
    assert len(links) == sum(1 for i in range(300) if STORED[i % len(STORED)])
    assert golden.compare({"集計.xlsx": described["xlsxwriter"]}, {"集計.xlsx": described["stream"]}) == []
    with zipfile.ZipFile(paths["stream"]) as z:
        part = sheet_parts(z)["要確認"]
        xml = z.read(part).decode()
        assert z.testzip() is None
    assert xml.index("</sheetData>") < xml.index("<autoFilter") < xml.index("<hyperlinks>") \
        < xml.index("<pageMargins")


@pytest.mark.slow
def test_every_finding_links_to_its_file_sheet_and_cell(project, generated, tmp_path, monkeypatch):
    """Findings of several departments' files in the merged workbook: each link of 要確認 opens
    the department's archived file at the sheet and cell of its row."""
    monkeypatch.setattr(worksheet, "_CHUNK", 128)
    plan, files = generated
    wrong = {("2-2-1", "eval_score", None): 6, ("3-1-2", "result", 1): "たくさん",
             ("3-1-2", "eval_score", None): 9}
    for department in ("福祉課", "長寿社会課", "児童保育課"):
        if department in files:
            fill(plan, files[department].path, project.inbox / f"{department}.xlsx", wrong)
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    out = write_merged(archive, plan, project.settings, tmp_path / "集計" / "集計.xlsx")
    current = {s.department: s for s in archive.current(plan).values()}
    ws = load_workbook(out)["要確認"]
    header = [c.value for c in ws[1]]
    col = {name: header.index(name) + 1 for name in ("重要度", "担当課", "シート", "セル", "内容", "保管先")}
    linked = 0
    for r in range(2, ws.max_row + 1):
        cell = ws.cell(r, col["内容"])
        sheet, ref = ws.cell(r, col["シート"]).value, ws.cell(r, col["セル"]).value
        stored = current[ws.cell(r, col["担当課"]).value].archived_path
        assert ws.cell(r, col["保管先"]).value == stored
        target = cell.hyperlink.target.replace("\\", "/")
        assert not os.path.isabs(target)
        assert (out.parent / target).resolve() == (project.root / stored).resolve()
        assert cell.hyperlink.location == (f"'{sheet}'!{ref}" if sheet and ref else None)
        assert cell.font.u == "single" and cell.font.color.rgb.endswith("0563C1")
        error = ws.cell(r, col["重要度"])
        assert (error.fill.fgColor.rgb.endswith("FCE4D6")) == (error.value == "エラー")
        linked += 1
    assert linked >= 4 and len({ws.cell(r, col["担当課"]).value for r in range(2, ws.max_row + 1)}) >= 2


def _peak(tmp_path: Path, count: int, streamed: bool) -> int:
    folder = tmp_path / f"{count}-{streamed}"
    folder.mkdir()
    tracemalloc.start()
    try:
        _write_findings(folder / "集計.xlsx", count, streamed)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_finding_links_are_written_without_holding_them(tmp_path, monkeypatch):
    """Four times the findings, the same peak: the links go to the spool as rows come (XlsxWriter
    keeps every link of a sheet until the sheet is written: measured here as the contrast).
    Both sizes fill more than a chunk of the spool and the row-height cache (what is bounded)."""
    monkeypatch.setattr(worksheet, "_CHUNK", 1 << 15)
    small, large = _peak(tmp_path, 5000, True), _peak(tmp_path, 20000, True)
    held_small, held_large = _peak(tmp_path, 800, False), _peak(tmp_path, 8000, False)
    assert held_large - held_small > 4_000_000  # the measure sees ~0.8 KB a held link
    assert large - small < 300_000
