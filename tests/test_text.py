"""Text in every file xlplan writes (xlplan.ooxml.text): characters a worksheet cannot hold,
text that looks like a formula, SpreadsheetML's _xHHHH_ escape, sheet names and CSV fields."""

from __future__ import annotations

import csv
import io
import random
import re
import unicodedata
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook
from openpyxl.cell.rich_text import CellRichText
from python_calamine import CalamineWorkbook

from xlplan.archive import Archive, ArchiveHistory
from xlplan.collect import collect
from xlplan.check import check_files
from xlplan.feedback import write_feedback
from xlplan.generate import generate
from xlplan.merge import write_merged
from xlplan.metadata import METADATA_SHEET, parse_metadata_rows
from xlplan.ooxml.text import (CELL_LIMIT, clean_text, csv_field, decode_escapes, looks_like_formula,
                               set_text, sheet_key, sheet_name, write_text, xlsxwriter_text)
from xlplan.plan import load_plan
from xlplan.scoring import generate_scoring
from xlplan.simulate import fill_workbook
from xlplan.stamp import _with_rows

# --- what a user reads back -------------------------------------------------------------------


def _calamine_values(path: Path, sheet: int = 0) -> list:
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(sheet).to_python(skip_empty_area=False)
    return [row[0] if row else None for row in rows]


def _openpyxl_cells(path: Path):
    """Each cell of column A as (text as Excel shows it, openpyxl data type). openpyxl does
    not decode SpreadsheetML's _xHHHH_ escape in plain inline strings (it gives the stored
    text: decoded here as Excel does); of a rich string it gives the runs' stored text joined
    (write_text leaves nothing to decode in a run)."""
    plain = load_workbook(path).worksheets[0]
    rich = load_workbook(path, rich_text=True).worksheets[0]
    out = []
    for (cell,), (styled,) in zip(plain.iter_rows(max_col=1), rich.iter_rows(max_col=1)):
        value = cell.value
        if isinstance(value, str) and not isinstance(styled.value, CellRichText):
            value = decode_escapes(value)
        out.append((value, cell.data_type))
    return out


# Any str, with the pieces that matter more often than chance would give them.
_PIECES = st.sampled_from(["_x0041_", "_x005F_", "_x005f_", "_x000B_", "_x000D_", "_x", "=", "+", "-", "@", "＝",
                           "<r>", "</r>", "\r", "\r\n", "\n", "\t", " ", "&", "<", ">", '"', "'", "\x0b",
                           "\x00", "\ufffe", "\ud800", "HYPERLINK(", "=1+1"])
_ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=())
TEXTS = st.lists(st.one_of(st.text(_ANY_CHAR, max_size=8), _PIECES), max_size=8).map("".join)
_FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_read_back(path: Path, texts: list[str], stored=clean_text) -> None:
    expected = [stored(t) or None for t in texts]  # a cell holding "" is no cell at all
    calamine = _calamine_values(path) + [None] * len(texts)
    assert [v if v != "" else None for v in calamine[:len(texts)]] == expected
    cells = _openpyxl_cells(path) + [(None, "n")] * len(texts)
    assert [c[0] if c[0] != "" else None for c in cells[:len(texts)]] == expected
    assert all(kind != "f" for _, kind in cells)  # never a formula


@_FAST
@given(st.lists(TEXTS, min_size=1, max_size=12))
@pytest.mark.slow
def test_any_text_through_openpyxl_reads_back_cleaned_and_as_text(tmp_path_factory, texts):
    """The generate / prefill / feedback / scoring path (openpyxl cells set by set_text)."""
    path = tmp_path_factory.mktemp("o") / "o.xlsx"
    wb = Workbook()
    for r, text in enumerate(texts, start=1):
        set_text(wb.active.cell(r, 1), text)
    wb.save(path)
    _check_read_back(path, texts)


@_FAST
@given(st.lists(TEXTS, min_size=1, max_size=12))
@pytest.mark.slow
def test_any_text_through_xlsxwriter_reads_back_cleaned_and_as_text(tmp_path_factory, texts):
    """The merged workbook's path (XlsxWriter, as merge writes it: constant memory)."""
    path = tmp_path_factory.mktemp("x") / "x.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False})
    ws = wb.add_worksheet()
    fmt = wb.add_format({"font_name": "游ゴシック"})
    for r, text in enumerate(texts):
        write_text(ws, r, 0, text, fmt if r % 2 else None)
    wb.close()
    _check_read_back(path, texts, xlsxwriter_text)


@_FAST
@given(st.lists(TEXTS, min_size=1, max_size=12))
@pytest.mark.slow
def test_any_text_through_hand_written_xml_reads_back_cleaned_and_as_text(tmp_path_factory, texts):
    """The hand-written cells (stamp's metadata rows, merge's row streams: inline_string_cell)."""
    path = tmp_path_factory.mktemp("h") / "h.xlsx"
    wb = Workbook()
    wb.active["A1"] = "placeholder"
    buffer = io.BytesIO()
    wb.save(buffer)
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = _with_rows(data, [[t] for t in texts])
            dst.writestr(info, data)
    _check_read_back(path, texts)


@_FAST
@given(st.lists(TEXTS, min_size=1, max_size=12))
def test_any_text_through_csv_reads_back_as_text(tmp_path_factory, texts):
    path = tmp_path_factory.mktemp("c") / "c.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows([[csv_field(t)] for t in texts])
    with open(path, encoding="utf-8-sig", newline="") as fh:
        back = [row[0] if row else "" for row in csv.reader(fh)]
    for text, field in zip(texts, back):
        cleaned = clean_text(text)
        assert field == ("'" + cleaned if looks_like_formula(cleaned) else cleaned)
        assert not looks_like_formula(field) or field.startswith("'")


def test_what_the_libraries_escape_themselves(tmp_path):
    """The facts the writers rely on (a library upgrade that changes them fails here):
    XlsxWriter escapes _xHHHH_ and CR itself (write_text must not, or it would double-escape),
    openpyxl escapes nothing (set_text must)."""
    path = tmp_path / "x.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet()
    ws.write_string(0, 0, "_x0041_")
    ws.write_string(1, 0, "a\rb")
    wb.close()
    assert _calamine_values(path) == ["_x0041_", "a\rb"]
    path = tmp_path / "o.xlsx"
    wb = Workbook()
    wb.active["A1"] = "_x0041_"
    wb.save(path)
    assert _calamine_values(path) == ["A"]


def test_cut_text_stays_within_excels_cell_limit(tmp_path):
    path = tmp_path / "long.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    write_text(wb.add_worksheet(), 0, 0, "😀" * CELL_LIMIT)
    wb.close()
    assert len(_calamine_values(path)[0].encode("utf-16-le")) // 2 <= CELL_LIMIT


# --- the formula rule -----------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["=1+1", "+1+1", "-1+1", "@SUM(1)", "＝1+1", "＋1+1", "－1+1", "＠SUM(1)",
                                  " =1+1", "\t=1+1", "\n=1+1", "\r=1+1", "　=1+1", '=HYPERLINK("http://x","c")'])
def test_formula_looking_text(text):
    assert looks_like_formula(text)


@pytest.mark.parametrize("text", ["-3", "+3", "-1.5", "1+1", "30地区", "→", "", "'=1+1", "a=1"])
def test_text_that_is_no_formula(text):
    assert not looks_like_formula(text)


def test_csv_opened_in_libreoffice_shows_every_dangerous_cell_as_text(libreoffice, tmp_path):
    """What LibreOffice evaluates on opening a CSV (its import dialog's options, with
    "evaluate formulas" and "trim spaces" on) never comes out of xlplan's CSV as a formula."""
    dangerous = ["=1+1", "+1+1", "-1+1", "@SUM(1)", "＝1+1", " =1+1", "\t=1+1", "\n=1+1", "\r=1+1",
                 '=HYPERLINK("http://example.invalid/","c")', "=1+1 ", "\u3000=1+1"]
    numbers = [-3, 2.5]
    path = tmp_path / "t.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["value"])
        for value in dangerous + numbers:
            w.writerow([csv_field(value)])
    for options in ("44,34,76,1,,1041,false,true,false,false,false",
                    "44,34,76,1,,1041,false,true,false,false,true,-1,true"):
        cells = libreoffice.inspect(path, filter="Text - txt - csv (StarCalc)",
                                    filter_options=options)["sheets"][0]["cells"]
        for row, value in enumerate(dangerous + numbers, start=2):
            cell = cells[f"A{row}"]
            if isinstance(value, str):
                assert cell["type"] == "TEXT", (value, cell)
            else:
                assert cell["type"] == "VALUE" and cell["value"] == value


# --- sheet names ------------------------------------------------------------------------------

def _excel_accepts(names: list[str]) -> None:
    keys = [unicodedata.normalize("NFKC", n).casefold() for n in names]
    assert len(set(keys)) == len(keys), names
    for n in names:
        assert 0 < len(n.encode("utf-16-le")) // 2 <= 31, n
        assert not set(n) & set("[]:*?/\\"), n
        assert not n.startswith("'") and not n.endswith("'"), n
        assert n.casefold() != "history"


@pytest.mark.parametrize("texts", [
    ["A-1 事業", "a-1 事業"],
    ["'引用'", "1-1 '引用'", "'"],
    ["x" * 40, "x" * 40, "X" * 45],
    ["a[b]:c*d?e/f\\g", "History", "history", ""],
    ["Ａ事業", "A事業", "ａ事業"],
    ["1-1 " + "あ" * 26 + "'" + "い" * 5],
    ["😀" * 20, "😀" * 20],
])
def test_sheet_names_excel_accepts(texts):
    taken: set[str] = set()
    names = [sheet_name(t, taken) for t in texts]
    _excel_accepts(names)
    assert sheet_key(names[0]) == sheet_key(sheet_name(texts[0], set()))


# --- end to end on the sample project ---------------------------------------------------------------

def _fields(path: Path) -> list[dict]:
    wb = load_workbook(path)
    data, _ = parse_metadata_rows([list(r) for r in wb[METADATA_SHEET].iter_rows(values_only=True)])
    return data["fields"]


def _set_texts(path: Path, texts: dict[tuple[str, str], str]) -> None:
    """Type text into cells of a (test) workbook as Excel stores it: strings, written raw, so
    "_x000B_" in the text is what Excel writes for a vertical tab."""
    wb = load_workbook(path)
    for (sheet, ref), text in texts.items():
        cell = wb[sheet][ref]
        cell.value = text
        cell.data_type = "s"
    wb.save(path)


def _edit_master(path: Path, edit) -> None:
    wb = load_workbook(path)
    edit(wb)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    set_text(cell, cell.value)
    wb.save(path)


def _replace_everywhere(wb, old: str, new: str) -> None:
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and old in cell.value:
                    cell.value = cell.value.replace(old, new)


HYPERLINK = '=HYPERLINK("http://example.invalid/","click")'
CONTROL_XML = "行1_x000B_行2_x0001_終_x0000_"
CONTROL_SHOWN = "行1␋行2␁終␀"


def _formula_cells(path: Path) -> list[str]:
    """Formulas that evaluate the test's text (a quoted sheet name such as '1-1-1 =HYPERLINK(…)'
    in xlplan's own cover formulas only names a sheet)."""
    wb = load_workbook(path)
    live = [(ws.title, c.coordinate, re.sub(r"'(?:[^']|'')*'", "", c.value)) for ws in wb.worksheets
            for row in ws.iter_rows() for c in row if c.data_type == "f" and isinstance(c.value, str)]
    return [f"{sheet}!{ref}={text}" for sheet, ref, text in live if "HYPERLINK" in text or "1+1" in text]


@pytest.mark.slow
def test_control_characters_and_formula_text_of_a_department_go_through_the_year(project, generated, tmp_path):
    plan, files = generated
    returned = project.inbox / "福祉課.xlsx"
    fill_workbook(files["福祉課"].path, returned, plan, random.Random(3), mistakes=0)
    fields = _fields(returned)
    do = [f for f in fields if f["field"] == "do"]
    control, link = do[0], do[1]
    _set_texts(returned, {(control["sheet"], control["cell"]): CONTROL_XML,
                          (link["sheet"], link["cell"]): HYPERLINK})

    # check: one control-character warning, at the cell, showing where the characters were
    found = [f for f in check_files([returned], project.settings, plan).findings if f.code == "control-character"]
    assert [(f.sheet, f.cell, f.value, f.severity) for f in found] == [
        (control["sheet"], control["cell"], CONTROL_SHOWN, "warning")]
    assert "U+000B" in found[0].message("ja") and "U+0000" in found[0].message("en")

    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)

    # merge, feedback, scoring forms, next year's workbooks: all written
    merged = write_merged(archive, plan, project.settings, tmp_path / "集計_R6.xlsx", csv_dir=tmp_path / "csv")
    values = [v for name in ("入力値",) for v in CalamineWorkbook.from_path(str(merged))
              .get_sheet_by_name(name).to_python() for v in v]
    assert CONTROL_SHOWN in values and HYPERLINK in values
    assert _formula_cells(merged) == []
    feedback = write_feedback(archive, plan, project.settings, tmp_path / "feedback", severities=("warning", "error"))
    assert [f.department for f in feedback] == ["福祉課"]
    back = load_workbook(feedback[0].path)
    assert back[control["sheet"]][control["cell"]].value == CONTROL_SHOWN
    assert back[link["sheet"]][link["cell"]].data_type == "s"
    assert generate_scoring(plan, tmp_path / "scoring", project.settings, archive)

    plan7 = load_plan(project.master, year="R7")
    out = generate(plan7, tmp_path / "R7", project.settings, departments=["福祉課"],
                   history=ArchiveHistory(archive, plan7))
    path7 = out[0].path
    assert _formula_cells(path7) == []
    wb7 = load_workbook(path7)
    shown = {}
    for f in _fields(path7):
        if f["field"] == "do":
            cell = wb7[f["sheet"]][f["cell"]]
            above = wb7[f["sheet"]].cell(cell.row - 1, cell.column)
            shown[(f["project"], above.value)] = above
    prefilled = [c for (_, v), c in shown.items() if v == HYPERLINK]
    assert prefilled and prefilled[0].data_type == "s" and prefilled[0].protection.locked
    assert any(v == CONTROL_SHOWN for _, v in shown)
    # and the prefilled workbook is the department's own, unchanged when it comes back
    again = check_files([path7], project.settings, plan7).findings
    assert not [f for f in again if f.code == "layout-changed"]


@pytest.mark.slow
def test_formula_looking_names_in_the_master_stay_text(project, tmp_path):
    """A department called "=1+1課" and a project called "=HYPERLINK(…)": text in the generated
    workbooks and in the merged 事業シート, never formulas."""
    _edit_master(project.master, lambda wb: (_replace_everywhere(wb, "福祉課", "=1+1課"),
                                             _replace_everywhere(wb, "福祉教育推進事業", HYPERLINK)))
    plan = load_plan(project.master)
    files = {f.department: f for f in generate(plan, project.outbox, project.settings)}
    assert "=1+1課" in files
    for f in files.values():
        assert _formula_cells(f.path) == [], f.path.name
    names = [v for row in CalamineWorkbook.from_path(str(files["=1+1課"].path)).get_sheet_by_index(0).to_python()
             for v in row]
    assert any(isinstance(v, str) and "=1+1課" in v for v in names)
    returned = project.inbox / "dept.xlsx"
    fill_workbook(files["=1+1課"].path, returned, plan, random.Random(1), mistakes=0)
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    assert not [f for f in check_files([returned], project.settings, plan).findings if f.severity == "error"]
    merged = write_merged(archive, plan, project.settings, tmp_path / "集計_R6.xlsx")
    assert _formula_cells(merged) == []


@pytest.mark.slow
def test_sheet_names_from_the_master_that_excel_would_reject(project, generated, tmp_path):
    """Project ids equal ignoring case, names with an apostrophe at an end, forbidden
    characters, names over 31 characters: generate and merge give names Excel accepts."""
    def edit(wb):
        ws = wb["事業"]
        # "A-1 ああ…あ'" is 31 characters ending in an apostrophe, equal to "a-1 ああ…あ'" but for case.
        long = "あ" * 26 + "'いい"
        renames = {"1-1-1": ("A-1", long), "1-2-1": ("a-1", long), "2-1-1": ("2-1-1", "'支援[会議]:*?/\\'")}
        for row in ws.iter_rows(min_row=2):
            if row[0].value in renames:
                row[0].value, row[2].value = renames[row[0].value]
        for row in wb["指標"].iter_rows(min_row=2):
            if row[0].value in renames:
                row[0].value = renames[row[0].value][0]
    _edit_master(project.master, edit)
    plan = load_plan(project.master)
    files = generate(plan, project.outbox, project.settings)
    for f in files:
        _excel_accepts(load_workbook(f.path).sheetnames)
    both = next(f for f in files if {"A-1", "a-1"} <= set(f.projects))
    returned = project.inbox / "both.xlsx"
    fill_workbook(both.path, returned, plan, random.Random(2), mistakes=0)
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    assert not [f for f in archive.findings([s.id for s in archive.department_current(plan).values()])
                if f.code == "layout-changed"]
    merged = write_merged(archive, plan, project.settings, tmp_path / "集計_R6.xlsx")
    _excel_accepts(load_workbook(merged, read_only=True).sheetnames)


@pytest.mark.slow
def test_text_cut_in_the_values_sheet_points_to_the_archived_file(project, generated, tmp_path):
    plan, files = generated
    returned = project.inbox / "福祉課.xlsx"
    fill_workbook(files["福祉課"].path, returned, plan, random.Random(3), mistakes=0)
    do = next(f for f in _fields(returned) if f["field"] == "do")
    # Within Excel's 32,767 characters as Python counts them, beyond them as Excel counts.
    _set_texts(returned, {(do["sheet"], do["cell"]): "😀" * 20000})
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    merged = write_merged(archive, plan, project.settings, tmp_path / "集計_R6.xlsx", csv_dir=tmp_path / "csv")
    rows = CalamineWorkbook.from_path(str(merged)).get_sheet_by_name("入力値").to_python()
    cut = [v for row in rows for v in row if isinstance(v, str) and v.startswith("😀" * 100)]
    stored = next(iter(archive.department_current(plan).values())).archived_path
    assert cut and all(len(v.encode("utf-16-le")) // 2 <= CELL_LIMIT for v in cut)
    assert all(stored in v and do["sheet"] in v and do["cell"] in v and "「入力値」" not in v for v in cut), \
        [(v[-150:], stored) for v in cut]
    with open(tmp_path / "csv" / "入力値.csv", encoding="utf-8-sig") as fh:
        assert "😀" * 20000 in fh.read()  # the CSV keeps the whole text


@pytest.mark.parametrize("name", ["=1+1課", "福祉_x0041_課", "改行\x0b課", "@課&<課>\"'"])
@pytest.mark.slow
def test_stamped_department_names_are_text_and_keep_the_fingerprint(project, tmp_path, name):
    """generate's per-department copies of one rendered workbook (stamp): the name written
    into the cells reads back as the cleaned text, never a formula, and the signed
    fingerprint of the locked cells still matches."""
    from xlplan.generate import _prototype
    from xlplan.read import read_returned
    from xlplan.template import load_template_spec

    plan = load_plan(project.master)
    spec = load_template_spec("department", project.settings.templates_dir)
    prototype = _prototype(plan, project.settings, spec, None, plan.projects_for("福祉課"))
    path = tmp_path / "stamped.xlsx"
    path.write_bytes(prototype.stamp(name, project.settings.key_bytes))
    assert _formula_cells(path) == []
    texts = [v for ws in CalamineWorkbook.from_path(str(path)).sheet_names[:1]
             for row in CalamineWorkbook.from_path(str(path)).get_sheet_by_name(ws).to_python() for v in row]
    assert any(isinstance(v, str) and clean_text(name) in v for v in texts)
    returned = read_returned(path, project.settings.key_bytes)
    assert returned.readable and returned.department == name
    assert [f.code for f in returned.findings] == []


def test_libreoffice_shows_formula_looking_master_text_as_text(libreoffice, project, tmp_path):
    """Opened in LibreOffice, a department workbook and the merged workbook show the names
    "=1+1課" and "=HYPERLINK(…)" as typed: text cells, nothing evaluated."""
    _edit_master(project.master, lambda wb: (_replace_everywhere(wb, "福祉課", "=1+1課"),
                                             _replace_everywhere(wb, "福祉教育推進事業", HYPERLINK)))
    plan = load_plan(project.master)
    files = generate(plan, project.outbox, project.settings, departments=["=1+1課", "学校教育課"])
    archive = Archive.for_settings(project.settings)
    # merge refuses a year with nothing collected: the (blank) returns come in first.
    collect(archive, [f.path for f in files], project.settings, plan)
    merged = write_merged(archive, plan, project.settings, tmp_path / "集計_R6.xlsx")
    for path in [f.path for f in files] + [merged]:
        cells = [c for sheet in libreoffice.inspect(path)["sheets"] for c in sheet["cells"].values()]
        shown = [c for c in cells if "=1+1課" in (c["string"] or "") or HYPERLINK in (c["string"] or "")]
        assert shown, path.name
        assert all(c["type"] == "TEXT" for c in shown), path.name
        assert not [c for c in cells if c["type"] == "FORMULA"
                    and "HYPERLINK" in re.sub(r"'(?:[^']|'')*'", "", c["formula"] or "")]
