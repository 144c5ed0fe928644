"""The reading side of xlplan.ooxml: text unescaped as XML defines it, and the one scan of a
sheet part, whose bulk path must decide exactly as the careful tag-by-tag scan does."""

from __future__ import annotations

import random
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

from xlplan.ooxml import reader
from xlplan.ooxml.package import sheet_parts
from xlplan.ooxml.reader import Limits, Package, Refused, scan_sheet
from xlplan.ooxml.text import xml_escape, xml_unescape
from xlplan.read import read_returned

DEPT = "健康づくり課"


def test_xml_unescape_reads_numeric_references_and_named_entities_once():
    assert xml_unescape("&#31532;2&#x671F; &lt;&gt;&amp;&quot;&apos;") == "第2期 <>&\"'"
    assert xml_unescape("&amp;lt; &amp;#65;") == "&lt; &#65;"  # one pass, left to right
    assert xml_unescape("&#0; &#x110000; &nbsp;") == "&#0; &#x110000; &nbsp;"  # no character: kept
    for text in ("a < b & c > d", "\"'", "第2期", "&#65;"):
        assert xml_unescape(xml_escape(text, quote=True)) == text


def test_a_formula_in_an_input_cell_is_shown_as_typed_whatever_the_writer_escaped(project, generated, tmp_path):
    """openpyxl (like other writers) stores non-ASCII characters of a formula as numeric
    character references: the formula the finding shows is the one the department typed."""
    plan, files = generated
    source = files[DEPT].path
    wb = openpyxl.load_workbook(source)
    name = next(n for n in wb.defined_names)
    sheet, cell = next(wb.defined_names[name].destinations)
    formula = '=IF(A1="済","完了 <済>","")&"第2期"'
    wb[sheet][cell.replace("$", "")].value = formula
    out = tmp_path / "formula.xlsx"
    wb.save(out)
    with zipfile.ZipFile(out) as z:
        assert b"&#28168;" in z.read(sheet_parts(z)[sheet])  # the writer's escape, as in the field
    returned = read_returned(out, project.settings.key_bytes)
    assert returned.cells[name].formula == formula


# --- the bulk scan decides as the careful scan -------------------------------------------------

def _careful(monkeypatch_ctx, *args):
    with monkeypatch_ctx.context() as m:
        m.setattr(reader, "_fast_scan", lambda *a: False)
        return _outcome(*args)


def _outcome(name, part, data, strings, budget):
    """What a scan concludes, comparable between the two paths."""
    try:
        scan = scan_sheet(name, part, data, strings, budget)
    except Refused as exc:
        return ("refused", exc.ja, exc.en, exc.sheet, exc.cell)
    return ("read", scan.formulas, scan.styles, scan.protected, sorted(scan.validated.boxes),
            scan.far_refs, scan.without_far_cells() if scan.far_refs else b"")


_MUTATIONS = [
    lambda d, rnd: re.sub(rb'r="[A-Z]+[0-9]+"', lambda m: rnd.choice(
        [m.group(), b'r="XFD1048576"', b'r="XFE1"', b'r="A0"', b'r="A1048577"', b'r="B2"', b'r="a1"',
         b'r="$A$1"', b'r="AAAA1"', b'r="A01"']) if rnd.random() < 0.05 else m.group(), d),
    lambda d, rnd: re.sub(rb'<row r="[0-9]+"', lambda m: rnd.choice(
        [m.group(), b'<row r="0"', b'<row r="1048577"', b'<row r="3"', b"<row", b'<row  r="4"']) if rnd.random() < 0.1
        else m.group(), d),
    lambda d, rnd: re.sub(rb' t="[a-zA-Z]+"', lambda m: rnd.choice(
        [m.group(), b' t="s"', b' t="x"', b' t="inlineStr"', b' t="str"', b""]) if rnd.random() < 0.1 else m.group(), d),
    lambda d, rnd: re.sub(rb"<c ", lambda m: rnd.choice([b"<c ", b"<x:c ", b"<c\n", b"<c  "])
                          if rnd.random() < 0.02 else m.group(), d),
    lambda d, rnd: re.sub(rb"<v>[^<]*</v>", lambda m: rnd.choice(
        [m.group(), b"<v>0</v>", b"<v>1.5</v>", b"<v>abc</v>", b"<v></v>", b"<v>99999</v>"]) if rnd.random() < 0.1
        else m.group(), d),
    lambda d, rnd: re.sub(rb'(sqref|ref)="[^"]*"', lambda m: m.group(1) + rnd.choice(
        [b'="A1:B2"', b'="A1:XFE2"', b'="C3 D4:E5"', b'="A1:B2:C3"', b'=""', b'="Z9"']) if rnd.random() < 0.2
        else m.group(), d),
    lambda d, rnd: d.replace(b"</sheetData>", b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>')
    if rnd.random() < 0.5 else d,
    lambda d, rnd: d.replace(b'<sheetProtection sheet="1"', b'<sheetProtection sheet="0"') if rnd.random() < 0.3 else d,
    lambda d, rnd: _flip(d, rnd),
]


def _flip(data: bytes, rnd: random.Random) -> bytes:
    start = data.find(b"<sheetData")
    if start < 0:
        return data
    at = rnd.randrange(start, len(data))
    return data[:at] + bytes([rnd.choice(b'<>"/ :=0123456789ABCDXFrst')]) + data[at + 1:]


@pytest.fixture
def sheet_samples(generated, project, tmp_path):
    """(sheet, part, bytes) of every sheet of a generated workbook and of one filled in."""
    from xlplan.simulate import fill_workbook

    plan, files = generated
    filled = tmp_path / "filled.xlsx"
    fill_workbook(files[DEPT].path, filled, plan, random.Random(3), mistakes=1)
    samples = []
    for path in (files[DEPT].path, filled):
        with zipfile.ZipFile(path) as z:
            samples += [(name, part, z.read(part)) for name, part in sheet_parts(z).items()]
    return samples


def test_the_bulk_scan_and_the_careful_scan_agree_on_every_damage(sheet_samples, monkeypatch):
    """Seeded damage of real sheet parts: references outside the grid, rows and cells out of
    order, unknown types, prefixes and odd spacing, bad shared-string indexes, ranges, a far
    value, lifted protection, flipped bytes. Whatever the bulk path accepts must be read
    exactly as the careful scan reads it; whatever it does not accept is left to the careful
    scan, which gives the reason."""
    rnd = random.Random(20261202)
    bulk = cases = 0
    for _ in range(600):
        name, part, data = rnd.choice(sheet_samples)
        for mutate in rnd.sample(_MUTATIONS, rnd.randint(1, 3)):
            data = mutate(data, rnd)
        strings, budget = rnd.choice([0, 1, 100]), rnd.choice([1_000_000, 50])
        scan = reader.SheetScan(name, part, data)
        try:
            reader.check_root(data, part, b"worksheet", name)
            bulk += reader._fast_scan(scan, data, strings, budget)
        except Refused:
            pass
        assert _outcome(name, part, data, strings, budget) == _careful(monkeypatch, name, part, data, strings, budget)
        cases += 1
    assert bulk > cases // 4  # the bulk path is exercised, not only the fallback


def test_a_package_scans_each_sheet_once_and_names_its_parts_like_the_writer(generated):
    _, files = generated
    data = Path(files[DEPT].path).read_bytes()
    with Package(data, Limits()) as pkg, zipfile.ZipFile(files[DEPT].path) as z:
        assert {s.name: s.part for s in pkg.sheets} == sheet_parts(z)
        scans = pkg.scan()
        assert list(scans) == pkg.sheet_names()
        assert all(s.protected for n, s in scans.items())
        assert pkg.value_bytes(scans) is data  # nothing far: the file's own bytes


# --- XML parsing: no document type declaration, whichever parser reads the part ---------------

_LAUGHS = ('<!DOCTYPE workbook [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
           '<!ENTITY c SYSTEM "file:///etc/passwd">]>')


def _with_part(src: Path, out: Path, part: str, change) -> Path:
    from test_corpus import rewrite_zip

    rewrite_zip(src, out, lambda name, data: change(data) if name == part else data)
    return out


@pytest.mark.parametrize("part", ["xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/styles.xml"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_part_declaring_a_dtd_or_entities_is_refused_in_any_encoding(project, generated, tmp_path, part, encoding):
    plan, files = generated

    def change(data: bytes) -> bytes:
        text = data.decode("utf-8")
        body = text[text.index("?>") + 2:] if text.startswith("<?xml") else text
        return (f'<?xml version="1.0" encoding="{encoding}"?>' + _LAUGHS + body).encode(encoding)

    out = _with_part(files[DEPT].path, tmp_path / "dtd.xlsx", part, change)
    returned = read_returned(out, project.settings.key_bytes)
    [finding] = [f for f in returned.findings if f.code == "unreadable-file"]
    assert not returned.cells and not returned.readable
    if part != "xl/styles.xml" or encoding == "utf-8":
        # (calamine, reading the styles before xlplan does, stops at a UTF-16 styles part first)
        assert "DTD" in finding.detail and part in finding.detail_en


def test_parse_xml_reads_every_encoding_and_refuses_any_dtd():
    """Plain UTF-8 goes to expat's C parser, anything else to defusedxml: both read the same
    tree, and a document type declaration is refused whichever way it is written."""
    from xlplan.ooxml.reader import parse_xml

    body = '<sheets xmlns="urn:x"><sheet name="第2期 &amp; &#x7B2C;"/></sheets>'
    for data in (body.encode(), ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + body).encode(),
                 b"\xef\xbb\xbf" + body.encode(), ('<?xml version="1.0" encoding="UTF-16"?>' + body).encode("utf-16")):
        root = parse_xml(data, "part")
        assert [e.get("name") for e in root] == ["第2期 & 第"]
    for data in ((_LAUGHS + body).encode(), ("<?xml version='1.0'?>" + _LAUGHS + body).encode(),
                 ('<?xml version="1.0" encoding="UTF-16"?>' + _LAUGHS + body).encode("utf-16"),
                 ("<!-- x -->" + _LAUGHS + body).encode()):
        with pytest.raises(Refused) as refused:
            parse_xml(data, "part")
        assert "DTD" in refused.value.ja
