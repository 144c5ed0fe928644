"""xlplan.vba: MS-OVBA compression, the MS-CFB writer and the built vbaProject.bin.

Independent checks: the byte strings of [MS-OVBA] 3.2 (compression examples) and the
CMG/DPB/GC values of the project shipped in xlwings' quickstart workbook
(2.4.3 obfuscation); oletools' own decompressor and VBA parser (olevba); olefile's
compound file reader; LibreOffice opening the .xlsm that XlsxWriter builds around the
project.
"""

from __future__ import annotations

import re
import struct
import zipfile
from pathlib import Path

import olefile
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xlplan.vba import (
    build_compound_file,
    build_vba_project,
    compress,
    decompress,
    decrypt_data,
    encrypt_data,
    module_source,
    read_bas,
)

olevba = pytest.importorskip("oletools.olevba", reason="oletools not installed: pip install oletools")

ROOT = Path(__file__).resolve().parent.parent
MACROS = ROOT / "macros"
CHUNK = 4096


def _xlwings_dir() -> Path:
    import xlwings

    return Path(xlwings.__file__).resolve().parent


def _xlwings_bas() -> Path:
    path = _xlwings_dir() / "xlwings.bas"
    assert path.is_file(), f"xlwings ships no xlwings.bas at {path}"
    return path


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace("\n", " "))


def _oletools_decompress(data: bytes) -> bytes:
    """oletools' independent implementation of MS-OVBA 2.4.1.3 decompression."""
    return bytes(olevba.decompress_stream(bytearray(data)))


# ------------------------------------------------------------------ [MS-OVBA] 3.2 examples

# 3.2.1 No Compression, 3.2.2 Normal Compression, 3.2.3 Maximum Compression
SPEC_EXAMPLES = [
    (
        b"abcdefghijklmnopqrstuv.",
        "01 19 B0 00 61 62 63 64 65 66 67 68 00 69 6A 6B 6C 6D 6E 6F 70 00 71 72 73 74 75 76 2E",
    ),
    (
        b"#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa",
        "01 2F B0 00 23 61 61 61 62 63 64 65 82 66 00 70 61 67 68 69 6A 01 38 08 61 6B 6C 00 20 6D"
        " 6E 6F 70 06 71 02 70 04 00 72 73 74 75 76 10 77 78 79 7A 00 2C",
    ),
    (b"a" * 73, "01 03 B0 02 61 45 00"),
]


@pytest.mark.parametrize("plain, packed", SPEC_EXAMPLES, ids=["no-compression", "normal", "maximum"])
def test_spec_examples_compress_to_the_published_bytes(plain, packed):
    assert compress(plain) == _hex(packed)
    assert decompress(_hex(packed)) == plain


def test_empty_input_is_a_bare_signature():
    assert compress(b"") == b"\x01"
    assert decompress(b"\x01") == b""


def test_decompress_rejects_what_is_not_a_container():
    with pytest.raises(ValueError):
        decompress(b"")
    with pytest.raises(ValueError):
        decompress(b"\x02\x19\xb0")
    with pytest.raises(ValueError):  # chunk signature bits 12-14 must be 0b011
        decompress(b"\x01\x19\x00abc")


def _chunks(container: bytes) -> list[tuple[bool, int]]:
    """(compressed?, size) of each CompressedChunk of a container."""
    out, pos = [], 1
    while pos < len(container):
        (header,) = struct.unpack_from("<H", container, pos)
        assert (header >> 12) & 0b111 == 0b011
        size = (header & 0x0FFF) + 3
        compressed = bool(header >> 15)
        out.append((compressed, size))
        pos += size if compressed else 2 + CHUNK
    assert pos == len(container)
    return out


def _check_round_trip(data: bytes, *, exact: bool = True) -> bytes:
    packed = compress(data)
    assert packed[:1] == b"\x01"  # 2.4.1.1.1 SignatureByte
    chunks = _chunks(packed)
    assert len(chunks) == -(-len(data) // CHUNK)
    assert all(size <= 4098 for _, size in chunks)
    out = decompress(packed)
    assert _oletools_decompress(packed)[: len(data)] == data  # an independent decoder agrees
    if exact:
        assert out == data
    else:
        # A raw (incompressible) last chunk is padded with 0x00 to 4096 bytes, as the spec's
        # 2.4.1.3.10 says; anything else must round-trip exactly.
        assert out[: len(data)] == data
        padding = out[len(data) :]
        if padding:
            assert padding == bytes(len(padding))
            assert chunks[-1][0] is False and len(out) % CHUNK == 0
        else:
            assert out == data
    return packed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=20 * 1024))
def test_round_trip_random_bytes(data):
    _check_round_trip(data, exact=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(b"ab \r\n"), max_size=20 * 1024).map(bytes))
def test_round_trip_small_alphabet(data):
    _check_round_trip(data)


WORDS = [b"Dim ", b"    ", b"End Sub\r\n", b"RunPython ", b'"', b"aaaa", b"x", b"\r\n", b"Sub ", b"()", b"'"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(WORDS), max_size=4000).map(b"".join))
def test_round_trip_repetitive_text(data):
    _check_round_trip(data)


@pytest.mark.parametrize("size", [1, 2, 3, 100, 101, 4095, 4096, 4097, 8192, 20000])
def test_round_trip_runs_of_one_byte(size):
    # Long runs need CopyTokens up to MaximumLength = (0xFFFF >> BitCount) + 3 at every
    # BitCount; the ms-ovba-compression bug (0xFFFF << BitCount + 3) breaks these.
    packed = _check_round_trip(b"a" * size)
    assert len(packed) < 60 + size // 20


def test_random_chunks_are_stored_raw_and_full_chunks_round_trip_exactly():
    import random

    data = random.Random(1).randbytes(3 * CHUNK)
    packed = _check_round_trip(data)
    assert _chunks(packed) == [(False, 4098)] * 3


def test_incompressible_last_chunk_is_padded_as_the_spec_says():
    import random

    data = random.Random(2).randbytes(CHUNK + 4000)
    out = decompress(compress(data))
    assert out == data + bytes(96)


def _vba_source(size: int) -> bytes:
    lines = ['Attribute VB_Name = "Big"', "Option Explicit", ""]
    i = 0
    while sum(len(line) + 2 for line in lines) < size:
        lines += [
            f"' Button {i}: runs step {i % 7} of the plan cycle",
            f"Public Sub Step{i}(Optional ByVal force As Boolean = False)",
            f"    Dim result{i} As Variant",
            f'    If force Then RunPython "import xlplan.excel; xlplan.excel.step({i}, force=True)"',
            f'    RunPython "import xlplan.excel; xlplan.excel.step({i})"',
            "End Sub",
            "",
        ]
        i += 1
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def test_round_trip_10kb_vba_source():
    source = _vba_source(10 * 1024)
    assert len(source) >= 10 * 1024
    packed = _check_round_trip(source)
    assert all(compressed for compressed, _ in _chunks(packed))
    assert len(packed) < len(source) // 2


def test_round_trip_xlwings_module():
    source = _xlwings_bas().read_bytes()
    packed = _check_round_trip(source)
    assert len(packed) < len(source) // 2


def test_decompress_streams_saved_by_excel():
    """The dir and xlwings streams of the project in xlwings' quickstart workbook (not ours)."""
    path = _xlwings_dir() / "quickstart_standalone.xlsm"
    if not path.is_file():
        pytest.skip(f"xlwings ships no {path.name}")
    with zipfile.ZipFile(path) as zf:
        ole = olefile.OleFileIO(zf.read("xl/vbaProject.bin"))
    checked = 0
    for entry in ole.listdir():
        name = "/".join(entry)
        if name == "VBA/dir":
            data = ole.openstream(name).read()
            assert decompress(data) == _oletools_decompress(data)
            checked += 1
        elif name == "VBA/xlwings":  # MODULEOFFSET 0 in that file: the stream is all source
            data = ole.openstream(name).read()
            source = decompress(data)
            assert source == _oletools_decompress(data)
            assert source.startswith(b'Attribute VB_Name = "xlwings"')
            assert decompress(compress(source)) == source
            checked += 1
    assert checked == 2


# ------------------------------------------------------------------ [MS-OVBA] 2.4.3


def test_protection_fields_of_a_shipped_project_decrypt_as_not_protected():
    path = _xlwings_dir() / "quickstart_standalone.xlsm"
    if not path.is_file():
        pytest.skip(f"xlwings ships no {path.name}")
    with zipfile.ZipFile(path) as zf:
        text = olefile.OleFileIO(zf.read("xl/vbaProject.bin")).openstream("PROJECT").read().decode("cp1252")
    fields = dict(re.findall(r'^(ID|CMG|DPB|GC)="([^"]*)"', text, re.M))
    key = sum(fields["ID"].encode()) & 0xFF
    assert decrypt_data(bytes.fromhex(fields["CMG"])) == (key, bytes(4))
    assert decrypt_data(bytes.fromhex(fields["DPB"])) == (key, b"\x00")
    assert decrypt_data(bytes.fromhex(fields["GC"])) == (key, b"\xff")


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 255), st.binary(max_size=40))
def test_encrypt_decrypt_round_trip(seed, data):
    pid = "{5CF9CDAB-B77B-4FE4-BD7E-D29900070E1B}"
    enc = encrypt_data(pid, data, seed=seed)
    assert len(enc) == 3 + (seed & 6) // 2 + 4 + len(data)
    assert decrypt_data(enc) == (sum(pid.encode()) & 0xFF, data)


# ------------------------------------------------------------------ [MS-CFB] writer


def test_compound_file_with_many_and_large_streams_reads_back():
    import random

    rnd = random.Random(3)
    streams = {f"S{i:02d}": rnd.randbytes(rnd.randrange(0, 5000)) for i in range(40)}
    streams["Big/Large"] = rnd.randbytes(200_000)  # several FAT sectors
    streams["Big/Exactly4096"] = rnd.randbytes(4096)  # the mini stream cutoff itself
    streams["Big/Mini4095"] = rnd.randbytes(4095)
    data = build_compound_file(streams)
    assert len(data) % 512 == 0
    ole = olefile.OleFileIO(data, raise_defects=olefile.DEFECT_INCORRECT)
    assert sorted("/".join(e) for e in ole.listdir()) == sorted(streams)
    for name, blob in streams.items():
        assert ole.openstream(name).read() == blob, name
    assert ole.get_type("Big") == olefile.STGTY_STORAGE


def test_compound_file_rejects_long_or_duplicate_names():
    with pytest.raises(ValueError):
        build_compound_file({"x" * 32: b""})
    with pytest.raises(ValueError):
        build_compound_file({"dir": b"1", "DIR": b"2"})


# ------------------------------------------------------------------ the VBA project


def _sources() -> dict[str, str]:
    """PanelButtons (macros/*.bas) and xlwings' module, as the panel workbook carries them."""
    mods = dict(read_bas(p) for p in sorted(MACROS.glob("*.bas")))
    name, source = read_bas(_xlwings_bas())
    mods[name] = source
    return mods


DOCUMENTS = {"ThisWorkbook": "", "Sheet1": ""}
SUB_RE = re.compile(
    r"^[ \t]*(?:(?:Public|Private|Friend)[ \t]+)?(?:Static[ \t]+)?(?:Sub|Function)[ \t]+(\w+)", re.M | re.I
)


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


def test_read_bas_needs_the_name_attribute(tmp_path):
    path = tmp_path / "x.bas"
    path.write_bytes(b"Sub A()\r\nEnd Sub\r\n")
    with pytest.raises(ValueError):
        read_bas(path)
    path.write_bytes(b'Attribute VB_Name = "Mod_1"\nSub A()\nEnd Sub\n')
    assert read_bas(path) == ("Mod_1", 'Attribute VB_Name = "Mod_1"\r\nSub A()\r\nEnd Sub\r\n')


def test_module_source_attributes():
    assert module_source("M", "Sub A()\nEnd Sub") == 'Attribute VB_Name = "M"\r\nSub A()\r\nEnd Sub\r\n'
    assert module_source("M", 'Attribute VB_Name = "M"\r\nSub A()\r\nEnd Sub\r\n').count("Attribute") == 1
    with pytest.raises(ValueError):
        module_source("M", 'Attribute VB_Name = "Other"\r\n')
    doc = module_source("ThisWorkbook", "", "document").split("\r\n")
    assert doc[:8] == [
        'Attribute VB_Name = "ThisWorkbook"',
        'Attribute VB_Base = "0{00020819-0000-0000-C000-000000000046}"',
        "Attribute VB_GlobalNameSpace = False",
        "Attribute VB_Creatable = False",
        "Attribute VB_PredeclaredId = True",
        "Attribute VB_Exposed = True",
        "Attribute VB_TemplateDerived = False",
        "Attribute VB_Customizable = True",
    ]
    assert 'VB_Base = "0{00020820-0000-0000-C000-000000000046}"' in module_source("Sheet1", "", "document")


@pytest.fixture(scope="module")
def project_bin() -> bytes:
    return build_vba_project(_sources(), DOCUMENTS)


def test_project_streams(project_bin):
    ole = olefile.OleFileIO(project_bin, raise_defects=olefile.DEFECT_INCORRECT)
    names = {"/".join(e) for e in ole.listdir()}
    modules = ["ThisWorkbook", "Sheet1", "PanelButtons", "xlwings"]
    assert names == {"PROJECT", "PROJECTwm", "VBA/dir", "VBA/_VBA_PROJECT"} | {f"VBA/{m}" for m in modules}
    # 2.3.4.1: no performance cache, Version 0xFFFF
    assert ole.openstream("VBA/_VBA_PROJECT").read() == bytes.fromhex("CC61FFFF000100")
    project = ole.openstream("PROJECT").read().decode("ascii")
    lines = project.split("\r\n")
    assert re.fullmatch(r'ID="\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}"', lines[0])
    assert lines[1:5] == ["Document=ThisWorkbook/&H00000000", "Document=Sheet1/&H00000000", "Module=PanelButtons", "Module=xlwings"]
    assert 'Name="VBAProject"' in lines and "[Host Extender Info]" in lines and "[Workspace]" in lines
    fields = dict(re.findall(r'^(ID|CMG|DPB|GC)="([^"]*)"', project, re.M))
    key = sum(fields["ID"].encode()) & 0xFF
    assert decrypt_data(bytes.fromhex(fields["CMG"])) == (key, bytes(4))  # not protected
    assert decrypt_data(bytes.fromhex(fields["DPB"])) == (key, b"\x00")  # no password
    assert decrypt_data(bytes.fromhex(fields["GC"])) == (key, b"\xff")  # visible
    wm = ole.openstream("PROJECTwm").read()
    assert wm == b"".join(m.encode() + b"\0" + m.encode("utf-16-le") + b"\0\0" for m in modules) + b"\0\0"
    sources = _sources()
    for name in modules:
        stored = decompress(ole.openstream(f"VBA/{name}").read()).decode("ascii")
        kind = "document" if name in DOCUMENTS else "module"
        assert stored == module_source(name, sources.get(name, ""), kind)
    assert decompress(ole.openstream("VBA/PanelButtons").read()) == (MACROS / "PanelButtons.bas").read_bytes()


def _dir_records(data: bytes) -> list[tuple[int, bytes]]:
    """The dir stream as (Id, payload) records; PROJECTVERSION and the fixed-size ones as they are."""
    out, pos = [], 0
    while pos < len(data):
        rid, size = struct.unpack_from("<HI", data, pos)
        if rid == 0x0009:  # PROJECTVERSION: Reserved (4) is not a size; 10 bytes follow the Id
            out.append((rid, data[pos + 6 : pos + 12]))
            pos += 12
            continue
        out.append((rid, data[pos + 6 : pos + 6 + size]))
        pos += 6 + size
    assert pos == len(data)
    return out


def test_dir_stream_records(project_bin):
    ole = olefile.OleFileIO(project_bin)
    records = _dir_records(decompress(ole.openstream("VBA/dir").read()))
    ids = [rid for rid, _ in records]
    value = dict(records)
    assert ids[:4] == [0x0001, 0x0002, 0x0014, 0x0003]
    assert struct.unpack("<I", value[0x0002])[0] == 0x409 and struct.unpack("<H", value[0x0003])[0] == 1252
    assert value[0x0004] == b"VBAProject"
    assert b"stdole2.tlb" in value[0x000D]
    assert struct.unpack("<H", value[0x000F])[0] == 4
    names = [payload.decode() for rid, payload in records if rid == 0x0019]
    assert names == ["ThisWorkbook", "Sheet1", "PanelButtons", "xlwings"]
    offsets = [struct.unpack("<I", payload)[0] for rid, payload in records if rid == 0x0031]
    assert offsets == [0, 0, 0, 0]  # MODULEOFFSET: no performance cache before the source
    types = [rid for rid in ids if rid in (0x0021, 0x0022)]
    assert types == [0x0022, 0x0022, 0x0021, 0x0021]
    assert ids[-1] == 0x0010 and ids.count(0x002B) == 4


def test_build_is_deterministic_and_validates_names():
    assert build_vba_project({"M": "Sub A()\r\nEnd Sub"}) == build_vba_project({"M": "Sub A()\r\nEnd Sub"})
    with pytest.raises(ValueError):
        build_vba_project({"Sheet1": ""})  # clashes with the default document module
    with pytest.raises(ValueError):
        build_vba_project({"1bad": ""})


def _build_xlsm(path: Path, project: bytes) -> Path:
    import xlsxwriter

    bin_path = path.with_suffix(".bin")
    bin_path.write_bytes(project)
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Panel")
    wb.set_vba_name("ThisWorkbook")
    ws.set_vba_name("Sheet1")
    wb.add_vba_project(str(bin_path))
    ws.write("A1", "xlplan panel")
    for row, (macro, caption) in enumerate(
        [("GenerateWorkbooks", "Generate"), ("CollectAndCheck", "Collect"), ("MergeResults", "Merge")]
    ):
        ws.insert_button(2 + row * 3, 1, {"macro": macro, "caption": caption, "width": 160, "height": 36})
    wb.close()
    return path


@pytest.fixture(scope="module")
def panel_xlsm(tmp_path_factory, project_bin) -> Path:
    return _build_xlsm(tmp_path_factory.mktemp("vba") / "panel.xlsm", project_bin)


def test_olevba_extracts_exactly_the_sources(panel_xlsm):
    parser = olevba.VBA_Parser(str(panel_xlsm))
    try:
        assert parser.detect_vba_macros()
        found = {vba_filename: code for _, _, vba_filename, code in parser.extract_macros()}
    finally:
        parser.close()
    sources = _sources()
    expected = {f"{name}.cls": module_source(name, "", "document") for name in DOCUMENTS}
    expected |= {f"{name}.bas": module_source(name, src) for name, src in sources.items()}
    assert set(found) == set(expected)
    for name, code in found.items():
        assert code.splitlines() == expected[name].splitlines(), name  # the whole stored text
        # and, as olevba shows it (Attribute VB_ lines dropped), the source without them:
        body = [line for line in expected[name].splitlines() if not line.startswith("Attribute VB_")]
        assert olevba.filter_vba(code).splitlines() == body
    assert set(SUB_RE.findall("\n".join(found.values()))) == set(SUB_RE.findall("\n".join(sources.values())))
    assert {"GenerateWorkbooks", "CheckOneFile", "GenerateScoringForms", "RunPython"} <= set(
        SUB_RE.findall("\n".join(found.values()))
    )


def test_xlsm_package_refers_to_the_project_and_the_buttons(panel_xlsm, project_bin):
    with zipfile.ZipFile(panel_xlsm) as zf:
        assert zf.read("xl/vbaProject.bin") == project_bin
        assert b'codeName="ThisWorkbook"' in zf.read("xl/workbook.xml")
        assert b'codeName="Sheet1"' in zf.read("xl/worksheets/sheet1.xml")
        drawing = b"".join(zf.read(n) for n in zf.namelist() if n.endswith(".vml"))
        assert b"[0]!GenerateWorkbooks" in drawing and b"[0]!MergeResults" in drawing


def test_class_and_document_code_reach_olevba(tmp_path):
    project = build_vba_project(
        {"Main": "Sub Go()\r\n    MsgBox New Counter\r\nEnd Sub\r\n"},
        {"ThisWorkbook": "Private Sub Workbook_Open()\r\nEnd Sub\r\n", "Sheet1": ""},
        class_modules={"Counter": "Public Count As Long\r\n"},
        office_reference=True,
    )
    path = _build_xlsm(tmp_path / "c.xlsm", project)
    parser = olevba.VBA_Parser(str(path))
    try:
        found = {f: olevba.filter_vba(code) for _, _, f, code in parser.extract_macros()}
    finally:
        parser.close()
    assert found["ThisWorkbook.cls"].splitlines() == ["Private Sub Workbook_Open()", "End Sub"]
    assert found["Counter.cls"].splitlines() == ["Public Count As Long"]
    assert found["Main.bas"].splitlines()[0] == "Sub Go()"
    text = olefile.OleFileIO(project).openstream("PROJECT").read()
    assert b"Class=Counter\r\n" in text


def test_libreoffice_opens_the_panel(libreoffice, panel_xlsm):
    # Opens with macros never executed. Whether LibreOffice's VBA import sees the modules
    # would need a driver op reading doc.BasicLibraries.getByName("VBAProject").
    info = libreoffice.inspect(panel_xlsm)
    assert [s["name"] for s in info["sheets"]] == ["Panel"]
    assert info["sheets"][0]["cells"]["A1"]["string"] == "xlplan panel"
