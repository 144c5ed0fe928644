"""Nothing a department sends can stop the reading: references outside Excel's grid, shared-
string tricks, duplicate zip entries, macros, pipes and devices, another plan's file — each
is a finding on its file, with the reason in Japanese and English, and a bug of xlplan is
reported as xlplan's (issue 13 items 2, 13, 14; issue 14 items 9, 10).

Files that made python-calamine abort the process are only ever checked through the CLI in
a subprocess here: a regression must fail this test, not kill the test run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from xlplan.check import check_files
from xlplan.generate import generate
from xlplan.project import init_project
from xlplan.read import read_returned

from test_corpus import rewrite_zip

DEPT = "健康づくり課"
PSHEET = "3-1-1 産前産後ヘルパー派遣事業"
PROJECT_PART = "xl/worksheets/sheet2.xml"
META_PART = "xl/worksheets/sheet4.xml"
SST_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
PYTHON_NAMES = re.compile(r"Error\b|Exception|Calamine|KeyError|Traceback")
NATIVE_NOISE = ("memory allocation", "panicked", "backtrace", "RUST_BACKTRACE")


def run_cli(*args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("XLPLAN_LANG", "XLPLAN_DEBUG")}
    return subprocess.run([sys.executable, "-m", "xlplan.cli", *map(str, args)], capture_output=True,
                          text=True, encoding="utf-8", env=env, timeout=300)


@pytest.fixture
def source(generated) -> Path:
    _, files = generated
    return files[DEPT].path


def add_row(part: str, row: str, cell_xml: str):
    """An edit for rewrite_zip: one more row holding ``cell_xml`` at the end of a sheet."""
    def edit(name: str, data: bytes) -> bytes:
        if name != part:
            return data
        return data.replace(b"</sheetData>", f'<row r="{row}">{cell_xml}</row></sheetData>'.encode())
    return edit


def value_at(ref: str, row: str | None = None) -> tuple[str, str]:
    return (row or re.sub(r"[A-Z]+", "", ref), f'<c r="{ref}"><v>7</v></c>')


def assert_bilingual(finding) -> None:
    ja, en = finding.message("ja"), finding.message("en")
    assert not PYTHON_NAMES.search(ja) and not PYTHON_NAMES.search(en), (ja, en)
    assert not re.search(r"[\u3040-\u30ff]", en.replace(PSHEET, "").replace("_xlplan", "")), en


# --- item 2: references outside Excel's grid, checked before the native reader ---------------

OUTSIDE = {  # file name: (part, row attribute, cell xml, sheet, cell named by the finding)
    "xfd1048577.xlsx": (PROJECT_PART, *value_at("XFD1048577"), PSHEET, ""),
    "xfe1.xlsx": (PROJECT_PART, *value_at("XFE1", "500"), PSHEET, ""),
    "aaaa1.xlsx": (PROJECT_PART, *value_at("AAAA1", "500"), PSHEET, ""),
    "row-huge.xlsx": (PROJECT_PART, *value_at("XFD99999999999"), PSHEET, ""),
    "q1048577.xlsx": (PROJECT_PART, *value_at("Q1048577"), PSHEET, ""),
    "meta-xfe1.xlsx": (META_PART, *value_at("XFE1", "9"), "_xlplan", ""),
    "no-ref-huge-row.xlsx": (PROJECT_PART, "99999999999", "<c><v>7</v></c>", PSHEET, ""),
}


@pytest.mark.slow
def test_references_outside_excels_grid_are_findings_not_aborts(source, project, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name, (part, row, cell, _, _) in OUTSIDE.items():
        rewrite_zip(source, inbox / name, add_row(part, row, cell))
    # A dimension and a merged range outside the grid.
    def dimension(name, data):
        return re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFE99999999999"', data) \
            if name == PROJECT_PART else data
    rewrite_zip(source, inbox / "dimension.xlsx", dimension)
    def merged(name, data):
        return data.replace(b"</sheetData>", b'</sheetData><mergeCells count="1"><mergeCell ref="A1:AAAA1"/>'
                            b'</mergeCells>') if name == PROJECT_PART else data
    rewrite_zip(source, inbox / "merged.xlsx", merged)

    proc = run_cli("check", inbox, "--project", project.root, "--format", "json")

    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    for noise in NATIVE_NOISE:
        assert noise not in proc.stderr + proc.stdout
    report = json.loads(proc.stdout)
    by_file = {}
    for f in report["findings"]:
        by_file.setdefault(f["file"], []).append(f)
    expected = {**{n: v[3] for n, v in OUTSIDE.items()}, "dimension.xlsx": PSHEET, "merged.xlsx": PSHEET}
    assert set(by_file) == set(expected)
    for name, sheet in expected.items():
        (finding,) = by_file[name]
        assert finding["code"] == "unreadable-file" and finding["sheet"] == sheet, finding
        assert "Excel の範囲" in finding["message"] and "1048576" in finding["message"], finding
    files = {f["file"]: f for f in report["files"]}
    assert all(f["status"] == "unreadable" for f in files.values())


@pytest.mark.slow
def test_check_of_a_file_with_a_value_at_xfd1048576_exits_1_with_the_finding(source, project, tmp_path):
    """The 24 KB file of the issue: a legal cell, far away. It used to abort `check` (-6)."""
    path = tmp_path / "far.xlsx"
    rewrite_zip(source, path, add_row(META_PART, *value_at("XFD1048576")))
    proc = run_cli("check", path, "--project", project.root, "--format", "json")
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    for noise in NATIVE_NOISE:
        assert noise not in proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    (finding,) = [f for f in findings if not f["code"].startswith("missing-")]  # a blank form
    assert (finding["code"], finding["sheet"], finding["cell"]) == ("layout-changed", "_xlplan", "XFD1048576")


# Peak memory of the probe's own address space (VmHWM). Not getrusage's ru_maxrss: Linux keeps
# that across fork and exec, so the probe would report the test runner's size (400 MB late in
# a whole-suite run) instead of its own.
MEMORY_PROBE = """
import json, sys
from xlplan.read import read_returned
r = read_returned(sys.argv[1], bytes.fromhex(sys.argv[2]))
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"findings": [(f.code, f.sheet, f.cell, f.message("en")) for f in r.findings],
                  "cells": len(r.cells), "rss_mb": hwm // 1024}))
"""


@pytest.mark.parametrize("refs", [["XFD1048576"], ["A1048576", "XFD1"], ["XFD1048576", "XFC1048575", "B900000"]])
@pytest.mark.slow
def test_far_legal_cells_are_left_out_of_the_grid_and_memory_stays_small(source, project, tmp_path, refs):
    """Excel allows XFD1048576; the value reader lays a sheet out as a dense grid, so the
    far cells are left out (and reported) and the rest of the file is read as usual."""
    path = tmp_path / "far.xlsx"

    def edit(name, data):
        if name != PROJECT_PART:
            return data
        for ref in sorted(refs, key=lambda r: int(re.sub("[A-Z]+", "", r))):
            row, cell = re.sub("[A-Z]+", "", ref), f'<c r="{ref}"><v>7</v></c>'.encode()
            existing = re.search(rf'<row r="{row}"[^>]*>.*?(</row>)'.encode(), data, re.S)
            if existing:  # a row of the form: the far cell is its last
                data = data[:existing.start(1)] + cell + data[existing.start(1):]
            else:
                data = data.replace(b"</sheetData>", f'<row r="{row}">'.encode() + cell + b"</row></sheetData>")
        return data
    rewrite_zip(source, path, edit)
    proc = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path), project.settings.signing_key],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout)
    assert got["rss_mb"] < 400, got
    assert got["cells"] == 13  # every input of the form was read
    layout = {f[2] for f in got["findings"] if f[0] == "layout-changed" and f[1] == PSHEET}
    assert len(got["findings"]) == len(layout), got
    # Each far value is named: left out of the grid (its own cell), or read as a change of
    # its row (XFD1 fits in the grid: row 1 of the form changed).
    messages = " ".join(f[3] for f in got["findings"])
    for ref in refs:
        assert ref in messages or f"A{re.sub('[A-Z]+', '', ref)}" in layout, (ref, got)


# --- item 13: shared strings, duplicate entries, macros, pipes and devices --------------------


def with_shared_strings(src: Path, out: Path, index: str, unique_count: str = "2") -> Path:
    """The workbook with a shared-string table of two strings and a locked cell that points
    into it with ``index`` (as Excel and LibreOffice store text)."""
    def edit(name, data):
        if name == "xl/_rels/workbook.xml.rels":
            return data.replace(b"</Relationships>", f'<Relationship Id="rIdSST" Type="{SST_TYPE}" '
                                f'Target="sharedStrings.xml"/></Relationships>'.encode())
        return add_row(PROJECT_PART, "500", f'<c r="B500" t="s"><v>{index}</v></c>')(name, data)
    rewrite_zip(src, out, edit)
    with zipfile.ZipFile(out, "a") as z:
        z.writestr("xl/sharedStrings.xml", (
            '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
            f'spreadsheetml/2006/main" count="2" uniqueCount="{unique_count}"><si><t>最初の文字列</t></si>'
            '<si><t>二つ目</t></si></sst>').encode())
    return out


@pytest.mark.parametrize("index", ["abc", "1.5", "-1", "2", " 1"])
def test_a_shared_string_index_that_is_no_index_makes_the_file_unreadable(source, project, generated, tmp_path, index):
    plan, _ = generated
    path = with_shared_strings(source, tmp_path / "sst.xlsx", index)
    result = check_files([path], project.settings, plan)
    (finding,) = result.findings
    assert (finding.code, finding.sheet, finding.cell) == ("unreadable-file", PSHEET, "B500")
    assert "文字列の番号" in finding.message("ja") and "shared-string number" in finding.message("en")
    assert_bilingual(finding)


def test_a_valid_shared_string_index_is_read(source, project, generated, tmp_path):
    plan, _ = generated
    path = with_shared_strings(source, tmp_path / "sst.xlsx", "1")
    codes = [(f.code, f.cell) for f in check_files([path], project.settings, plan).findings
             if not f.code.startswith("missing-")]  # a blank form
    assert codes == [("layout-changed", "A500")]  # a value where the form has none, read as such


@pytest.mark.slow
def test_a_shared_string_count_larger_than_the_table_is_refused(source, project, tmp_path):
    """python-calamine reserves room for the declared count first: 4294967295 aborted it."""
    path = with_shared_strings(source, tmp_path / "sst.xlsx", "1", unique_count="4294967295")
    proc = run_cli("--lang", "en", "check", path, "--project", project.root, "--format", "json")
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    (finding,) = json.loads(proc.stdout)["findings"]
    assert finding["code"] == "unreadable-file" and "4294967295" in finding["message"]


def test_duplicate_zip_entries_make_the_file_unreadable(source, project, generated, tmp_path):
    """Python's zipfile reads the last of two same-named entries, other readers the first:
    the signed content and the read content could differ."""
    plan, _ = generated
    path = tmp_path / "dup.xlsx"
    path.write_bytes(source.read_bytes())
    with zipfile.ZipFile(source) as z:
        sheet = z.read(PROJECT_PART)
    with pytest.warns(UserWarning), zipfile.ZipFile(path, "a") as z:
        z.writestr(PROJECT_PART, sheet)
    (finding,) = check_files([path], project.settings, plan).findings
    assert finding.code == "unreadable-file" and PROJECT_PART in finding.message("ja")
    assert "two entries" in finding.message("en")


@pytest.mark.parametrize("how", ["vba-part", "content-type"])
def test_a_workbook_carrying_macros_is_a_warning_and_its_values_are_read(source, project, generated, tmp_path, how):
    plan, _ = generated
    path = tmp_path / "macro.xlsx"
    if how == "vba-part":
        path.write_bytes(source.read_bytes())
        with zipfile.ZipFile(path, "a") as z:
            z.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0 not run")
    else:
        rewrite_zip(source, path, lambda n, d: d.replace(
            b"spreadsheetml.sheet.main+xml", b"sheet.macroEnabled.main+xml") if n == "[Content_Types].xml" else d)
    plain = check_files([source], project.settings, plan)
    result = check_files([path], project.settings, plan)
    macro = [f for f in result.findings if f.code == "macro-content"]
    assert len(macro) == 1 and macro[0].severity == "warning" and macro[0].department == DEPT
    assert sorted(f.code for f in result.findings if f.code != "macro-content") == \
        sorted(f.code for f in plain.findings)
    assert_bilingual(macro[0])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_pipe_a_device_or_a_link_is_refused_without_waiting(project, generated, tmp_path, source):
    plan, _ = generated
    fifo = tmp_path / "pipe.xlsx"
    os.mkfifo(fifo)
    link = tmp_path / "link.xlsx"
    link.symlink_to(source)
    done = {}

    def read_all():
        done["results"] = [read_returned(p, project.settings.key_bytes) for p in (fifo, Path("/dev/zero"), link)]
    worker = threading.Thread(target=read_all, daemon=True)
    worker.start()
    worker.join(20)
    assert "results" in done, "reading a pipe or a device blocked"
    for returned in done["results"]:
        (finding,) = returned.findings
        assert finding.code == "unreadable-file" and "通常のファイルではありません" in finding.message("ja")
        assert "not a regular file" in finding.message("en")


# --- item 14: the department's damage and xlplan's bugs told apart ---------------------------


def test_damaged_content_is_explained_without_python_names(source, project, generated, tmp_path):
    plan, _ = generated
    cases = {
        "bad-number.xlsx": add_row(PROJECT_PART, "500", '<c r="B500" t="n"><v>abc</v></c>'),
        "bad-type.xlsx": add_row(PROJECT_PART, "500", '<c r="B500" t="zz"><v>1</v></c>'),
        "bad-styles.xlsx": lambda n, d: d[:200] if n == "xl/styles.xml" else d,
        "bad-rels.xlsx": lambda n, d: d[:50] if n == "xl/_rels/workbook.xml.rels" else d,
    }
    for name, edit in cases.items():
        rewrite_zip(source, tmp_path / name, edit)
    result = check_files([tmp_path / n for n in cases], project.settings, plan)
    assert {f.file for f in result.findings} == set(cases)
    for f in result.findings:
        assert f.code == "unreadable-file", f
        assert_bilingual(f)


def test_a_bug_of_xlplan_is_an_internal_error_logged_in_the_project(source, project, generated, monkeypatch):
    """A bug met while reading is not the department's fault: `internal-error`, and the
    traceback is in <project>/logs/xlplan-errors.log, named by the message."""
    import xlplan.read

    plan, _ = generated

    def broken(*args, **kwargs):
        raise RuntimeError("a bug of xlplan")
    monkeypatch.setattr(xlplan.read, "_check_layout", broken)  # the reading processes inherit it (fork)
    result = check_files([source], project.settings, plan)
    (finding,) = result.findings
    log = project.root / "logs" / "xlplan-errors.log"
    assert finding.code == "internal-error" and finding.severity == "error"
    assert str(log) in finding.message("ja") and str(log) in finding.message("en")
    assert "提出されたファイルの誤りではありません" in finding.message("ja")
    assert "not a mistake of the sender" in finding.message("en")
    text = log.read_text(encoding="utf-8")
    assert "Traceback" in text and "a bug of xlplan" in text and source.name in text
    assert result.files[0].status == "unreadable"


def test_the_cli_writes_its_own_crash_to_the_log_and_shows_no_traceback(project, generated, monkeypatch, capsys):
    import xlplan.check
    from xlplan.cli import main

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug of xlplan")
    monkeypatch.setattr(xlplan.check, "check_files", broken)
    _, files = generated
    code = main(["check", str(files[DEPT].path), "--project", str(project.root)])
    err = capsys.readouterr().err
    log = project.root / "logs" / "xlplan-errors.log"
    assert code != 0 and "Traceback" not in err and str(log) in err
    assert "ZeroDivisionError" in log.read_text(encoding="utf-8")


# --- issue 14 item 9: another plan's file -----------------------------------------------------


def test_a_file_of_another_plan_is_wrong_plan_not_tampered(project, generated, tmp_path):
    plan, _ = generated
    other = init_project(tmp_path / "other")  # its own key
    old_plan = dataclasses.replace(plan, plan_id="old-plan-1", name="第1期みどり市地域福祉計画")
    (theirs,) = generate(old_plan, tmp_path / "out", other.settings, departments=[DEPT])
    result = check_files([theirs.path], project.settings, plan)
    (finding,) = result.findings
    assert finding.code == "wrong-plan" and finding.department == ""
    assert "第1期みどり市地域福祉計画" in finding.message("ja")
    assert result.files[0].department == ""


def test_a_forged_file_of_this_plan_is_still_tampered(project, generated, tmp_path):
    plan, _ = generated
    other = init_project(tmp_path / "other")
    (forged,) = generate(plan, tmp_path / "out", other.settings, departments=[DEPT])
    (finding,) = check_files([forged.path], project.settings, plan).findings
    assert finding.code == "signature-invalid" and finding.department == ""


def test_a_signature_with_a_japanese_character_is_tampered_not_a_bug(source, project, generated, tmp_path):
    """Found by the fuzzer: the signature cell with a kanji in it made the comparison raise."""
    plan, _ = generated
    path = tmp_path / "sig.xlsx"

    def edit(name, data):
        if name != META_PART:
            return data
        return re.sub(rb'(<c r="B2"[^>]*><is><t[^>]*>)[0-9a-f]', "\\1地".encode(), data)
    rewrite_zip(source, path, edit)
    (finding,) = check_files([path], project.settings, plan).findings
    assert finding.code == "signature-invalid"


@pytest.mark.parametrize("attribute", ['t="inlineS>r"', 't="zz"', 't="s'])
def test_a_cell_with_damaged_attributes_makes_the_file_unreadable(source, project, generated, tmp_path, attribute):
    """Found by the fuzzer: `t="inlineS>r"` is well-formed XML; python-calamine read the
    cell's text, openpyxl and Excel do not."""
    plan, _ = generated
    path = tmp_path / "attr.xlsx"
    rewrite_zip(source, path, lambda n, d: d.replace(b'<c r="B2" t="inlineStr">', f'<c r="B2" {attribute}>'.encode())
                if n == META_PART else d)
    (finding,) = check_files([path], project.settings, plan).findings
    assert finding.code == "unreadable-file" and finding.sheet == "_xlplan"
    assert "damaged attributes" in finding.message("en")
