"""The writing side of xlplan.ooxml: the package (zip) writer and streamed worksheet parts.

- entries that did not change are copied byte for byte as stored (still compressed);
- changed or added entries are valid (zipfile reads them, CRCs check);
- a part name can be written once only;
- rows streamed into a saved sheet keep the style indexes of their probes, whatever the chunk
  boundaries, and merged ranges land at their place in the schema order.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from xlplan.ooxml import worksheet
from xlplan.ooxml.package import PackageWriter, raw_entries, raw_entry, rewrite_package, sheet_parts


def _source_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", b"<Types/>" * 50, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
        z.writestr("xl/stored.bin", bytes(range(256)) * 4, compress_type=zipfile.ZIP_STORED)
        z.writestr("xl/fast.xml", b"<a>" + b"x" * 5000 + b"</a>", compress_type=zipfile.ZIP_DEFLATED,
                   compresslevel=1)
        z.writestr("xl/changed.xml", b"<old/>", compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("xl/\u65e5\u672c\u8a9e.xml", "<名前/>".encode(), compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def test_unchanged_entries_are_copied_raw_and_changed_ones_are_valid():
    data = _source_zip()
    out = io.BytesIO()
    writer = PackageWriter(out)
    for entry in raw_entries(io.BytesIO(data)):
        if entry.name == "xl/changed.xml":
            writer.write(entry.name, b"<new>" + "新しい".encode() + b"</new>")
        else:
            writer.copy(entry)
    writer.write_chunks("xl/added.xml", (b"<r>%d</r>" % i for i in range(10000)))
    writer.close()
    before = {e.name: e for e in raw_entries(io.BytesIO(data))}
    after = {e.name: e for e in raw_entries(io.BytesIO(out.getvalue()))}
    for name in ("[Content_Types].xml", "xl/stored.bin", "xl/fast.xml", "xl/日本語.xml"):
        assert (after[name].raw, after[name].method, after[name].crc) == \
               (before[name].raw, before[name].method, before[name].crc), name  # byte for byte
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as z:
        assert z.testzip() is None
        assert [i.filename for i in z.infolist()] == list(before) + ["xl/added.xml"]
        assert z.read("xl/changed.xml").decode() == "<new>新しい</new>"
        assert z.read("xl/added.xml") == b"".join(b"<r>%d</r>" % i for i in range(10000))
        assert z.read("xl/日本語.xml").decode() == "<名前/>"


def test_a_part_name_is_written_once_only():
    writer = PackageWriter(io.BytesIO())
    writer.write("xl/workbook.xml", b"<a/>")
    with pytest.raises(ValueError, match="duplicate"):
        writer.write("xl/workbook.xml", b"<b/>")
    entry = raw_entries(io.BytesIO(_source_zip()))[0]
    writer.copy(entry)
    with pytest.raises(ValueError, match="duplicate"):
        writer.copy(entry)
    with pytest.raises(ValueError, match="duplicate"):
        writer.write_chunks(entry.name, [b"x"])


def test_rewrite_package_keeps_the_file_when_a_part_is_missing(tmp_path):
    path = tmp_path / "p.zip"
    path.write_bytes(_source_zip())
    with pytest.raises(ValueError, match="not found"):
        rewrite_package(path, {"xl/missing.xml": lambda xml: [xml]})
    assert path.read_bytes() == _source_zip() and [p.name for p in tmp_path.iterdir()] == ["p.zip"]
    rewrite_package(path, {"xl/changed.xml": lambda xml: [xml.replace(b"old", b"new")]})
    with zipfile.ZipFile(path) as z, open(path, "rb") as fh:
        assert z.read("xl/changed.xml") == b"<new/>"
        assert raw_entry(fh, z.getinfo("xl/fast.xml")).raw == \
            {e.name: e for e in raw_entries(io.BytesIO(_source_zip()))}["xl/fast.xml"].raw


def test_sheet_parts_follow_the_relationships():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("xl/workbook.xml", '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                   'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
                   '<sheet name="一" sheetId="1" r:id="rId7"/><sheet name="&amp;二" sheetId="2" r:id="rId1"/>'
                   '</sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels",
                   '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   '<Relationship Id="rId1" Target="worksheets/sheet1.xml"/>'
                   '<Relationship Id="rId7" Target="/xl/worksheets/../worksheets/sheet9.xml"/></Relationships>')
    with zipfile.ZipFile(out) as z:
        assert sheet_parts(z) == {"一": "xl/worksheets/sheet9.xml", "&二": "xl/worksheets/sheet1.xml"}


def test_streamed_rows_take_their_probes_styles_across_chunk_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(worksheet, "_CHUNK", 7)  # tokens cut in two between chunks, every few bytes
    rows = worksheet.RowFile("s", tmp_path, [("text", "number"), ("text2", "number")])
    rows.write(1, ["a", 1])
    rows.write(2, [None, 2.5], height=30)
    rows.write(3, [True, "b"])
    rows.close()
    probe = rows.probe_row(0)
    assert rows.used == ["text", "number", "text2"] and probe == 4
    saved = (b'<worksheet><dimension ref="A1:B1"/><sheetData><row r="1"><c r="A1" s="1" t="inlineStr">'
             b'<is><t>h</t></is></c></row><row r="5"><c r="A5" s="7"/><c r="B5" s="8"/><c r="C5" s="9"/></row>'
             b'</sheetData><autoFilter ref="A1:B4"/><pageMargins/></worksheet>')
    xml = b"".join(worksheet.spliced_sheet(saved, worksheet.SheetSplice(rows, probe, ["A1:B1"])))
    assert xml == (b'<worksheet><dimension ref="A1:B4"/><sheetData><row r="1"><c r="A1" s="1" t="inlineStr">'
                   b'<is><t>h</t></is></c></row>'
                   b'<row r="2"><c r="A2" s="7" t="inlineStr"><is><t>a</t></is></c><c r="B2" s="8"><v>1</v></c></row>'
                   b'<row r="3" ht="30" customHeight="1"><c r="B3" s="8"><v>2.5</v></c></row>'
                   b'<row r="4"><c r="A4" s="7" t="b"><v>1</v></c><c r="B4" s="9" t="inlineStr"><is><t>b</t></is></c>'
                   b'</row></sheetData><autoFilter ref="A1:B4"/><mergeCells count="1"><mergeCell ref="A1:B1"/>'
                   b'</mergeCells><pageMargins/></worksheet>')
    rows.remove()
    assert list(tmp_path.iterdir()) == []  # the spool is deleted


def test_a_missing_probe_is_an_error_not_a_wrong_style(tmp_path):
    rows = worksheet.RowFile("s", tmp_path, [("text", "number")])
    rows.write(1, ["a"])
    rows.close()
    saved = b'<worksheet><dimension ref="A1"/><sheetData></sheetData></worksheet>'
    with pytest.raises(ValueError, match="probe"):
        b"".join(worksheet.spliced_sheet(saved, worksheet.SheetSplice(rows, rows.probe_row(0))))
    rows.remove()


def test_column_letters_round_trip():
    for index, letters in ((0, "A"), (25, "Z"), (26, "AA"), (701, "ZZ"), (702, "AAA"), (16383, "XFD")):
        assert worksheet.column_letter(index) == letters and worksheet.column_index(letters) == index
