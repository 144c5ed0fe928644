"""Golden comparison (tools/golden.py): two demo runs of the same code describe equal, and every
kind of change a refactoring could make by mistake shows up as a readable difference.

The modified copies are made by rewriting one XML part inside the zip (as a bug in a hand-written
writer would), never by loading and saving with openpyxl.
"""

from __future__ import annotations

import re
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import golden  # noqa: E402

DEPARTMENT = "配布/R6_健康づくり課_事業シート・評価表.xlsx"
NEXT_YEAR = "配布_R7/R7_長寿社会課_事業シート・評価表.xlsx"
SCORING = "配布/中間評価/R6_中間評価票_01_青木 一郎.xlsx"
RETURN_COPY = "差し戻し/差し戻し_R6_児童保育課_事業シート・評価表.xlsx"
COUNTS = f"{golden.LAYOUTS_DIR}/R6_健康づくり課_相談件数.xlsx"
MERGED = "集計/集計_R6.xlsx"

# Every output kind the golden comparison has to cover: folder (or file name part) → what it is.
OUTPUT_KINDS = {
    "配布/R6_": "department workbooks (事業シート layout)",
    f"{golden.LAYOUTS_DIR}/R6_福祉課_活動報告": "activity layout",
    f"{golden.LAYOUTS_DIR}/R6_社会福祉協議会_指標実績": "indicators layout",
    f"{golden.LAYOUTS_DIR}/R6_健康づくり課_相談件数": "counts layout",
    "配布_R7/": "next-year workbooks prefilled with this year's results",
    "配布/中間評価/": "committee scoring forms",
    "差し戻し/": "return copies",
    "集計/集計_R6": "merged workbook",
    "集計/集計_R7": "merged workbook of the next year (推移 over two years)",
    "集計/csv/": "merged tables as CSV",
}


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    """Two demo runs (with the other layouts) of the same code, and their snapshots."""
    runs = []
    for name in ("first", "second"):
        folder = golden.run_golden_demo(tmp_path_factory.mktemp(name) / "demo")
        runs.append((folder, golden.snapshot(folder)))
    return runs


def _rewrite(src: Path, dst: Path, part: str, edit) -> None:
    """Copy the package ``src`` to ``dst`` with ``edit(xml text) -> xml text`` applied to one part."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == part:
                changed = edit(data.decode("utf-8"))
                assert changed != data.decode("utf-8"), f"the edit did not apply to {part}"
                data = changed.encode("utf-8")
            zout.writestr(info, data)


def _changed(demo: Path, rel: str, tmp_path: Path, part_of, edit) -> list[str]:
    """The differences golden reports between a demo file and a copy with one part edited."""
    src = demo / rel
    dst = tmp_path / "changed" / Path(rel).name
    part = part_of(src)
    _rewrite(src, dst, part, edit)
    return golden.compare(golden.snapshot(src), golden.snapshot(dst))


def _sheet(name: str):
    return lambda path: golden.sheet_parts(path)[name]


@pytest.mark.slow
def test_two_demo_runs_describe_equal_over_every_output_kind(demos):
    (first, before), (second, after) = demos
    for prefix, kind in OUTPUT_KINDS.items():
        assert any(name.startswith(prefix) for name in before), f"no {kind} in the snapshot"
    assert not [name for name, d in before.items() if "unreadable" in d]
    # The runs really differ in bytes (new key and password, times) ...
    with zipfile.ZipFile(first / DEPARTMENT) as a, zipfile.ZipFile(second / DEPARTMENT) as b:
        assert any(a.read(n) != b.read(n) for n in a.namelist())
    # ... and the description masks exactly that, so nothing else is left to differ.
    assert golden.compare(before, after) == []
    assert before == after


@pytest.mark.slow
def test_a_changed_value_in_a_scoring_form_is_reported_at_its_cell(demos, tmp_path):
    demo = demos[0][0]
    lines = _changed(demo, SCORING, tmp_path, _sheet("評価票"),
                     lambda xml: re.sub(r'<c r="A3"( s="\d+")?[^>]*>.*?</c>', lambda m: (
                         f'<c r="A3"{m.group(1) or ""} t="inlineStr"><is><t>基本目標（変更）</t></is></c>'),
                         xml, count=1, flags=re.S))
    assert lines == [f'{Path(SCORING).name}: 評価票!A3: value: "基本目標" → "基本目標（変更）"']


@pytest.mark.slow
def test_a_style_change_is_reported_as_the_property_that_changed(demos, tmp_path):
    demo = demos[0][0]
    # The fill of the department's input cells (pale yellow) turned red.
    lines = _changed(demo, DEPARTMENT, tmp_path, lambda _: "xl/styles.xml",
                     lambda xml: xml.replace("FFF9E5", "FF0000"))
    assert lines, "a changed fill went unnoticed"
    assert all(": style.fill.patternFill.fgColor.rgb: \"FFF9E5\" → \"FF0000\"" in line
               for line in lines)
    assert any(line.startswith(f"{Path(DEPARTMENT).name}: 3-1-1 産前産後ヘルパー派遣事業!G10: ")
               for line in lines)


@pytest.mark.slow
def test_a_removed_validation_in_a_next_year_workbook_is_reported(demos, tmp_path):
    demo = demos[0][0]
    sheet = next(n for n in golden.sheet_parts(demo / NEXT_YEAR) if n[0].isdigit())
    lines = _changed(demo, NEXT_YEAR, tmp_path, _sheet(sheet),
                     lambda xml: re.sub(r"<dataValidation [^>]*>.*?</dataValidation>", "", xml,
                                        count=1, flags=re.S))
    assert len(lines) == 1
    assert re.match(rf"{re.escape(Path(NEXT_YEAR).name)}: {re.escape(sheet)}: validations/\S+: "
                    r"\{.* → \(absent\)$", lines[0])


@pytest.mark.slow
def test_a_changed_defined_name_in_a_return_copy_is_reported(demos, tmp_path):
    demo = demos[0][0]

    def move_first_input(xml: str) -> str:
        return re.sub(r"(<definedName name=\"xp_[^\"]+\"[^>]*>[^<]*\$)(\d+)(<)",
                      lambda m: f"{m.group(1)}{int(m.group(2)) + 1}{m.group(3)}", xml, count=1)

    lines = _changed(demo, RETURN_COPY, tmp_path, lambda _: "xl/workbook.xml", move_first_input)
    assert len(lines) == 1
    assert re.match(rf"{re.escape(Path(RETURN_COPY).name)}: workbook/defined_names/xp_\w+/value: ",
                    lines[0])


@pytest.mark.slow
def test_lifted_protection_is_reported_for_sheet_and_workbook(demos, tmp_path):
    demo = demos[0][0]
    sheet = next(n for n in golden.sheet_parts(demo / COUNTS) if n not in ("表紙", "_xlplan"))
    lines = _changed(demo, COUNTS, tmp_path, _sheet(sheet),
                     lambda xml: re.sub(r"<sheetProtection [^>]*/>", "", xml))
    assert lines == [f"{Path(COUNTS).name}: {sheet}: protection: "
                     + lines[0].split(": protection: ")[1]]
    assert lines[0].endswith("→ null")
    lines = _changed(demo, COUNTS, tmp_path, lambda _: "xl/workbook.xml",
                     lambda xml: re.sub(r"<workbookProtection [^>]*/>", "", xml))
    assert len(lines) == 1 and "workbook/protection:" in lines[0] and lines[0].endswith("→ null")


@pytest.mark.slow
def test_a_renumbered_style_table_compares_equal(demos, tmp_path):
    """The same look through another style index (a writer that numbers its styles differently)
    is no difference: styles are compared as properties."""
    demo = demos[0][0]
    src = demo / DEPARTMENT
    with zipfile.ZipFile(src) as z:
        styles = z.read("xl/styles.xml").decode("utf-8")
    xfs = re.search(r"<cellXfs count=\"(\d+)\">(.*?)</cellXfs>", styles, re.S)
    count = int(xfs.group(1))
    xf_list = re.findall(r"<xf [^>]*?(?:/>|>.*?</xf>)", xfs.group(2), re.S)
    assert len(xf_list) == count
    part = golden.sheet_parts(src)["表紙"]
    with zipfile.ZipFile(src) as z:
        used = re.search(r'<c r="A1" s="(\d+)"', z.read(part).decode("utf-8")).group(1)
    staged = tmp_path / "staged.xlsx"
    _rewrite(src, staged, "xl/styles.xml", lambda xml: xml.replace(
        xfs.group(0), f'<cellXfs count="{count + 1}">{xfs.group(2)}{xf_list[int(used)]}</cellXfs>'))
    renumbered = tmp_path / "renumbered" / src.name
    # Every cell of 表紙 with A1's style now points at the copy (a new, higher index).
    _rewrite(staged, renumbered, part, lambda xml: xml.replace(f' s="{used}"', f' s="{count}"'))
    assert golden.compare(golden.snapshot(src), golden.snapshot(renumbered)) == []


@pytest.mark.slow
def test_cli_snapshot_then_compare_folders(demos, tmp_path, capsys):
    demo = demos[0][0]
    before, after = tmp_path / "before", tmp_path / "after"
    for folder in (before, after):
        (folder / "集計").mkdir(parents=True)
        shutil.copy(demo / MERGED, folder / MERGED)
    snap = tmp_path / "before.json"
    assert golden.main(["snapshot", str(before), "--out", str(snap)]) == 0
    assert golden.main(["compare", str(snap), str(after)]) == 0
    assert "no differences" in capsys.readouterr().out
    part = golden.sheet_parts(after / MERGED)["指標"]
    _rewrite(demo / MERGED, after / MERGED, part, lambda xml: re.sub(
        r"(<c r=\"[A-Z]+\d+\"(?: s=\"\d+\")?><v>)(\d+)(</v>)",
        lambda m: f"{m.group(1)}{int(m.group(2)) + 1}{m.group(3)}", xml, count=1))
    assert golden.main(["compare", str(snap), str(after)]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^集計/集計_R6\.xlsx: 指標![A-Z]+\d+: value: (\d+) → (\d+)$", out, re.M)
    assert "1 difference(s)" in out


@pytest.mark.slow
def test_spellings_excel_reads_the_same_compare_equal(demos, tmp_path):
    """Defaults written out or left away, text as characters or character references: what one
    writer spells differently from another (openpyxl, XlsxWriter, the ooxml layer) is no change."""
    demo = demos[0][0]
    src = demo / DEPARTMENT
    sheet = "3-1-1 産前産後ヘルパー派遣事業"

    def respell(xml: str) -> str:
        xml = re.sub(r' (showDropDown="0"|errorStyle="stop"|formatCells="1"|deleteRows="1")', "", xml)
        if "&#" in xml:  # written as character references: turn them into characters
            return re.sub(r"&#(\d+);", lambda m: chr(int(m.group(1))), xml)
        return re.sub(r"[^\x00-\x7f]", lambda m: f"&#{ord(m.group(0))};", xml)

    respelled = tmp_path / "respelled" / src.name
    _rewrite(src, respelled, golden.sheet_parts(src)[sheet], respell)
    assert golden.compare(golden.snapshot(src), golden.snapshot(respelled)) == []


def test_rich_text_runs_are_compared(tmp_path):
    """A cell whose text is partly bold (as a coordinator may format a layout) keeps its runs."""
    import xlsxwriter

    path = tmp_path / "rich" / "rich.xlsx"
    path.parent.mkdir()
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("表紙")
    ws.write_rich_string("A1", "提出期限: ", wb.add_format({"bold": True}), "7月31日")
    wb.close()
    cell = golden.snapshot(path)["rich.xlsx"]["sheets"]["表紙"]["cells"]["A1"]
    assert cell["value"] == "提出期限: 7月31日"
    assert [run["text"] for run in cell["runs"]] == ["提出期限: ", "7月31日"]
    plain = tmp_path / "plain" / "rich.xlsx"
    _rewrite(path, plain, "xl/sharedStrings.xml", lambda xml: xml.replace("<b/>", ""))
    lines = golden.compare(golden.snapshot(path), golden.snapshot(plain))
    assert lines and all(line.startswith("rich.xlsx: 表紙!A1: runs.1.font.b") for line in lines)
