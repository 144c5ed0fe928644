"""Values taken from the scan (xlplan.ooxml.values) are python-calamine's values, cell for cell.

Every sheet the scan reads by itself must give what python-calamine gives for it — the same
values of the same types at the same places; anything it cannot read that way must go to
python-calamine (the sheet's plain grid is None). Checked on random packages written at XML
level (numbers written every way, booleans, errors, dates, formulas' cached values, shared and
inline strings with entities, references, white space, escapes, rich and phonetic runs, number
formats of every kind), on the workbooks xlplan generates, fills and merges, and on workbooks
LibreOffice saved.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, strategies as st
from python_calamine import CalamineError, CalamineWorkbook

from xlplan.ooxml.reader import Package, Refused
from xlplan.ooxml.values import may_show_date, plain_number

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
TYPES = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
         'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
         'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
         '"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
         'main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
         'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.'
         'xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
         '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.'
         'spreadsheetml.styles+xml"/></Types>')
ROOT_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
             'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
             'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
WORKBOOK = (f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
            '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')
WORKBOOK_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                 f'package/2006/relationships"><Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/'
                 f'sheet1.xml"/><Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>'
                 f'<Relationship Id="rId3" Type="{REL}/styles" Target="styles.xml"/></Relationships>')

# Pieces of the XML text of a <t> or <v>: what writers put there, and what is easy to get wrong.
TEXT_PIECES = ["a", "Z", "7", "あ", "課", "　", " ", "\t", "\n", "\r\n", "\r", "&amp;", "&lt;", "&gt;", "&quot;",
               "&apos;", "&#32;", "&#10;", "&#13;", "&#9;", "&#x41;", "&#12354;", "&#x3000;", "_x000D_",
               "_x005F_", "_x0041_", "_", "x", "=SUM(A1)", "-", "1", ".", "%", "&#11;", "&#1;"]
xml_text = st.lists(st.sampled_from(TEXT_PIECES), max_size=6).map("".join)
preserve = st.sampled_from(["", ' xml:space="preserve"'])
NUMBERS = ["0", "1", "-0", "2.5", "-3.25", "1E3", "1e-5", "12345678901234567890", "0.1", " 2 ", "1_0",
           "inf", "nan", "abc", ".5", "+1", "1.", "", "0x10", "1,5", "１"]


RUN_PROPERTIES = ["", '<rPr><b val="true"/><sz val="11"/></rPr>']


@st.composite
def string_items(draw):
    """A shared-string item as writers write it: one text, rich runs, phonetic runs."""
    form = draw(st.sampled_from(["plain", "rich", "phonetic", "empty", "rich-phonetic"]))
    if form == "empty":
        return "<si><t/></si>"
    runs = [f"<t{draw(preserve)}>{draw(xml_text)}</t>"]
    if form.startswith("rich"):
        runs = ["<r>" + draw(st.sampled_from(RUN_PROPERTIES)) + f"<t{draw(preserve)}>{draw(xml_text)}</t></r>"
                for _ in range(draw(st.integers(1, 3)))]
    if form.endswith("phonetic"):
        runs.append(f'<rPh sb="0" eb="1"><t>{draw(xml_text)}</t></rPh><phoneticPr fontId="1"/>')
    return "<si>" + "".join(runs) + "</si>"


@st.composite
def cells(draw, strings: int, styles: int):
    """The XML of one cell of row 1 (its reference added by the caller)."""
    # (a style index past the style sheet too: both readers take it as General)
    style = draw(st.one_of(st.just(""), st.integers(0, styles + 2).map(lambda s: f' s="{s}"')))
    kind = draw(st.sampled_from(["n", "none", "s", "b", "str", "inline", "rich-inline", "e", "d", "formula",
                                 "formula-str", "shared-formula", "empty"]))
    if kind in ("n", "none"):
        t = ' t="n"' if kind == "n" else ""
        return f"{style}{t}><v>{draw(st.sampled_from(NUMBERS))}</v></c>"
    if kind == "s":
        return f'{style} t="s"><v>{draw(st.integers(0, strings - 1))}</v></c>'
    if kind == "b":
        return f'{style} t="b"><v>{draw(st.sampled_from(["0", "1", "true", "2"]))}</v></c>'
    if kind == "str":
        return f'{style} t="str"><v>{draw(xml_text)}</v></c>'
    if kind == "inline":
        return f'{style} t="inlineStr"><is><t{draw(preserve)}>{draw(xml_text)}</t></is></c>'
    if kind == "rich-inline":
        return f'{style} t="inlineStr"><is><r><t>{draw(xml_text)}</t></r><r><t>{draw(xml_text)}</t></r></is></c>'
    if kind == "e":
        return f'{style} t="e"><v>{draw(st.sampled_from(["#N/A", "#DIV/0!", "#VALUE!"]))}</v></c>'
    if kind == "d":
        return f'{style} t="d"><v>2024-0{draw(st.integers(1, 9))}-02T00:00:00</v></c>'
    if kind == "formula":
        return f'{style}><f>A1+1</f><v>{draw(st.sampled_from(NUMBERS))}</v></c>'
    if kind == "shared-formula":  # as Excel writes a formula filled across cells
        return f'{style}><f t="shared" si="0"/><v>{draw(st.sampled_from(NUMBERS))}</v></c>'
    if kind == "formula-str":
        return f'{style} t="str"><f>"x"&amp;A1</f><v>{draw(xml_text)}</v></c>'
    return f"{style}/>"


FORMATS = ["General", "0.0", "#,##0", "#,##0.##", "0%", "@", "yyyy/m/d", "[$-411]ggge\"年\"m\"月\"d\"日\"",
           "h:mm", "mm:ss", "0.00E+00", '0"件"', "[Red]0", "d-mmm", "[h]:mm", '"Day "0', "\\d0", "[h]", "[ss]"]


@st.composite
def packages(draw):
    """A whole xlsx package (bytes) of one sheet with a random row of cells."""
    sst = draw(st.lists(string_items(), min_size=1, max_size=6))
    formats = draw(st.lists(st.sampled_from(FORMATS), min_size=1, max_size=3))
    builtins = draw(st.lists(st.sampled_from([0, 1, 2, 9, 10, 14, 22, 31, 49, 57]), min_size=1, max_size=3))
    xfs = [f'<xf numFmtId="{164 + i}"/>' for i in range(len(formats))] + [f'<xf numFmtId="{b}"/>' for b in builtins]
    row = "".join(f'<c r="{chr(65 + i)}1"' + draw(cells(len(sst), len(xfs)))
                  for i in range(draw(st.integers(1, 8))))
    # As Excel writes a sheet: markup-compatibility namespaces, rows with spans and dyDescent.
    excel = draw(st.booleans())
    root = (f'<worksheet xmlns="{MAIN}" xmlns:r="{REL}" xmlns:mc="http://schemas.openxmlformats.org/'
            'markup-compatibility/2006" mc:Ignorable="x14ac" xmlns:x14ac="http://schemas.microsoft.com/'
            'office/spreadsheetml/2009/9/ac">' if excel else f'<worksheet xmlns="{MAIN}">')
    row_attributes = ' spans="1:8" x14ac:dyDescent="0.4"' if excel else ""
    sheet = (f'<?xml version="1.0" encoding="UTF-8"?>{root}<sheetData><row r="1"{row_attributes}>{row}'
             '</row></sheetData></worksheet>')
    strings = (f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}" count="{len(sst)}" '
               f'uniqueCount="{len(sst)}">' + "".join(sst) + "</sst>")
    styles = (f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{MAIN}"><numFmts count="{len(formats)}">'
              + "".join(f'<numFmt numFmtId="{164 + i}" formatCode="{_attribute(code)}"/>'
                        for i, code in enumerate(formats))
              + f'</numFmts><cellXfs count="{len(xfs)}">' + "".join(xfs) + "</cellXfs></styleSheet>")
    return _package(sheet, strings, styles)


def _package(sheet: str, strings: str, styles: str) -> bytes:
    """An xlsx package (bytes) of one sheet "S" with its shared strings and styles."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, text in [("[Content_Types].xml", TYPES), ("_rels/.rels", ROOT_RELS), ("xl/workbook.xml", WORKBOOK),
                           ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS), ("xl/worksheets/sheet1.xml", sheet),
                           ("xl/sharedStrings.xml", strings), ("xl/styles.xml", styles)]:
            z.writestr(name, text)
    return out.getvalue()


def _attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def calamine_grids(data: bytes) -> dict[str, object]:
    """Every sheet's non-empty values as python-calamine reads them (or the error it raises)."""
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    grids = {}
    for name in book.sheet_names:
        try:
            rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        except (CalamineError, OverflowError, ValueError) as exc:  # (python-calamine's conversions)
            grids[name] = exc
            continue
        grids[name] = {(r, c): v for r, row in enumerate(rows, start=1) for c, v in enumerate(row, start=1)
                       if v != "" and v is not None}
    return grids


def compare(data: bytes) -> tuple[int, int]:
    """Assert that every sheet the scan reads by itself gives python-calamine's values, with
    their types; (sheets read by the scan, sheets left to python-calamine)."""
    try:
        pkg = Package(data)
        scans = pkg.scan()
    except Refused:
        return 0, 0  # refused before any value is read: nothing to compare
    expected = calamine_grids(pkg.value_bytes(scans))
    plain = native = 0
    with pkg.values(scans) as values:
        for name in pkg.sheet_names():
            own = values._plain_grid(name)  # noqa: SLF001 - the rule under test
            if own is None:
                native += 1
                continue
            plain += 1
            assert isinstance(expected[name], dict), expected[name]  # a sheet it refuses is its to refuse
            assert own == expected[name], name
            assert {k: type(v) for k, v in own.items()} == {k: type(v) for k, v in expected[name].items()}, name
    return plain, native


@given(packages())
def test_values_from_the_scan_are_calamines(data):
    compare(data)


def test_random_packages_are_mostly_read_by_the_scan():
    """The rule is not vacuous: plain cells are read by the scan, the rest by python-calamine."""
    plain = [
        '<c r="A1" t="s"><v>0</v></c><c r="B1"><v>2.5</v></c><c r="C1" t="inlineStr"><is><t>あ &amp; b</t></is></c>'
        '<c r="D1" t="b"><v>1</v></c><c r="E1"><f>B1*2</f><v>5</v></c><c r="F1" s="1"/>',
    ]
    for row in plain:
        assert compare(_one_row(row)) == (1, 0)
    for row in ['<c r="A1"><v> 2 </v></c>', '<c r="A1" t="e"><v>#N/A</v></c>',
                '<c r="A1" t="inlineStr"><is><t>a_x000D_b</t></is></c>', '<c r="A1" s="1"><v>45000</v></c>']:
        assert compare(_one_row(row, date_style=True)) == (0, 1), row


def _one_row(row: str, date_style: bool = False, format_id: int = 14) -> bytes:
    sheet = (f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}"><sheetData><row r="1">{row}'
             '</row></sheetData></worksheet>')
    fmt = format_id if date_style else 0
    styles = (f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{MAIN}"><cellXfs count="2">'
              f'<xf numFmtId="0"/><xf numFmtId="{fmt}"/></cellXfs></styleSheet>')
    strings = (f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}" count="1" uniqueCount="1">'
               '<si><t>課</t><rPh sb="0" eb="1"><t>カ</t></rPh><phoneticPr fontId="1"/></si></sst>')
    return _package(sheet, strings, styles)


@pytest.mark.parametrize("code, dated", [("General", False), ("0.0", False), ('#,##0"件"', False), ("0%", False),
                                         ("yyyy/m/d", True), ('[$-411]ggge"年"m"月"d"日"', True), ("h:mm", True),
                                         ("[Red]0", False), ('"mm"0', False), ("\\d0", False), ("[h]", True),
                                         ("[Red][mm]", True), ("[ss]", True), ("[>=100]0", False)])
def test_number_formats_that_may_show_dates(code, dated):
    assert may_show_date(164, code) is dated


def test_plain_numbers_are_what_both_readers_agree_on():
    assert plain_number(b"1E3") == 1000.0 and plain_number(b"-0") == 0.0
    assert [plain_number(t) for t in (b" 2", b"1_0", b"inf", b"+1", b"1.", b".5", b"")] == [None] * 7


def test_every_workbook_xlplan_writes_is_read_by_the_scan(generated, tmp_path):
    """Generated and filled (at XML level, as the benchmark corpus) workbooks of every
    department: every sheet read by the scan, with python-calamine's values."""
    import random

    from xlplan.simulate import fill_package

    plan, files = generated
    assert files
    for i, made in enumerate(files.values()):
        filled = tmp_path / made.path.name
        fill_package(made.path, filled, plan, random.Random(i), mistakes=i % 3)
        for data in (made.path.read_bytes(), filled.read_bytes()):
            plain, native = compare(data)
            assert plain > 0 and native == 0, made.path.name


@pytest.mark.libreoffice
def test_workbooks_libreoffice_saved_are_read_by_the_scan(generated, libreoffice, tmp_path):
    """LibreOffice writes shared strings with rich runs and 'General' as a custom format: a
    workbook it filled and saved is read by the scan, sheet for sheet as python-calamine."""
    plan, files = generated
    made = next(iter(files.values()))
    saved = libreoffice.fill(made.path, tmp_path / "saved.xlsx",
                             [{"name": made_input, "value": value} for made_input, value in
                              _some_inputs(made.path)])
    plain, native = compare(Path(saved).read_bytes())
    assert plain > 0 and native == 0


def _some_inputs(path: Path) -> list[tuple[str, object]]:
    """A text and numbers typed into the first input cells of a generated workbook (a date
    typed would get a date format: that sheet is python-calamine's)."""
    import re

    with zipfile.ZipFile(path) as z:
        names = re.findall(r'<definedName name="(xp_[^"]+)"', z.read("xl/workbook.xml").decode())
    return list(zip(names[:3], ["あ & b  ", "12.5", "3"]))


def test_a_value_calamine_cannot_convert_is_a_damaged_sheet_not_a_crash():
    """'inf' in a time-formatted cell: python-calamine raises OverflowError while converting;
    that is the file's damage (Refused naming the sheet), not a bug of xlplan."""
    from xlplan.ooxml.reader import SheetValues

    data = _one_row('<c r="A1" s="1"><v>inf</v></c>', date_style=True, format_id=46)  # [h]:mm:ss
    with SheetValues(data) as values, pytest.raises(Refused) as caught:
        values.rows("S")
    assert caught.value.sheet == "S"
