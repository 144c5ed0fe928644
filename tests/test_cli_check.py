"""``xlplan check`` from the command line: JSON and table output, languages, exit status.

Every run is a real subprocess (``python -m xlplan.cli``) so that stderr is exactly what a user
sees; none of them may show a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from xlplan.read import read_returned

DEPT = "健康づくり課"
FINDING_KEYS = {"file", "department", "project", "field", "sheet", "cell", "value", "message",
                "code", "severity"}


def run(*args, cwd=None, lang=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("XLPLAN_LANG", "XLPLAN_DEBUG")}
    if lang:
        env["XLPLAN_LANG"] = lang
    proc = subprocess.run([sys.executable, "-m", "xlplan.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, encoding="utf-8", env=env, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout
    return proc


def _relock_structure(src: Path, out: Path) -> Path:
    """LibreOffice 7.4 saves ``<workbookProtection/>`` without lockStructure (it does not keep
    the structure lock); put it back, as Excel would have kept it."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "xl/workbook.xml":
                assert b"<workbookProtection/>" in data
                data = data.replace(b"<workbookProtection/>",
                                    b'<workbookProtection lockStructure="true"/>')
            zout.writestr(info, data)
    return out


def _fill_correctly(libreoffice, src: Path, out: Path, key: bytes) -> Path:
    """Type a valid value into every input of the workbook through LibreOffice."""
    fields = read_returned(src, key).metadata.to_dict()["fields"]
    values = []
    for f in fields:
        value = {"quantity": "1", "percent": "80", "milestone": "実施", "score": "4",
                 "choice": "継続"}.get(f["kind"], f"{f['label']}について記入しました。")
        values.append({"name": f["name"], "value": value,
                       "mode": "type" if f["kind"] in ("quantity", "score") else "paste"})
    return libreoffice.fill(src, out, values)


@pytest.fixture
def clean_file(generated, project, libreoffice, tmp_path):
    plan, files = generated
    src = files[DEPT].path
    lo_file = _fill_correctly(libreoffice, src, tmp_path / "lo.xlsx", project.settings.key_bytes)
    folder = tmp_path / "clean"
    folder.mkdir()
    return _relock_structure(lo_file, folder / src.name), lo_file


@pytest.mark.slow
def test_json_output_has_findings_and_files(generated, project):
    proc = run("check", project.outbox, "--project", project.root, "--format", "json")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert set(data) == {"findings", "files"}
    assert data["findings"]
    for f in data["findings"]:
        assert FINDING_KEYS <= set(f), f
        assert f["severity"] in ("error", "warning", "info")
        assert f["message"]
    _, files = generated
    assert {f["file"] for f in data["files"]} == {f.path.name for f in files.values()}
    first = next(f for f in data["findings"] if f["code"] == "missing-result")
    assert first["sheet"] and first["cell"] and first["department"] and first["project"]
    assert "入力されていません" in first["message"]


@pytest.mark.slow
def test_lang_en_gives_english_messages(generated, project):
    proc = run("--lang", "en", "check", project.outbox, "--project", project.root,
               "--format", "json")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    msg = next(f["message"] for f in data["findings"] if f["code"] == "missing-result")
    assert msg.startswith("No result was entered for")
    assert all(f["message"].isascii() or f["code"] in ("missing-result", "missing-text")
               for f in data["findings"])


@pytest.mark.slow
def test_table_output_in_japanese(generated, project):
    _, files = generated
    path = files[DEPT].path
    proc = run("check", path, "--project", project.root)
    assert proc.returncode == 1
    assert "エラー" in proc.stdout
    assert "G10" in proc.stdout  # the first result cell of the project sheet
    assert "ファイル 1 件を確認しました" in proc.stdout


def test_clean_file_exits_0(clean_file, project):
    clean, _ = clean_file
    proc = run("check", clean.parent, "--project", project.root, "--format", "json")
    assert proc.returncode == 0, proc.stdout
    data = json.loads(proc.stdout)
    assert [f for f in data["findings"] if f["severity"] != "info"] == []
    assert [f["status"] for f in data["files"]] == ["ok"]
    table = run("check", clean, "--project", project.root)
    assert table.returncode == 0


def test_libreoffice_saved_file_is_clean_as_saved(clean_file, project):
    """LibreOffice drops the workbook-structure lock on save; an honest file must still pass."""
    _, lo_file = clean_file
    proc = run("check", lo_file, "--project", project.root, "--format", "json")
    assert proc.returncode == 0, proc.stdout
    findings = json.loads(proc.stdout)["findings"]
    assert [f for f in findings if f["severity"] != "info"] == []


@pytest.mark.slow
def test_missing_settings_exit_2(generated, tmp_path):
    _, files = generated
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run("check", files[DEPT].path, cwd=empty)
    assert proc.returncode == 2
    assert proc.stderr.strip()
    assert proc.stdout == ""


@pytest.mark.slow
def test_missing_path_exit_2(project, tmp_path):
    missing = tmp_path / "no-such-folder"
    proc = run("check", missing, "--project", project.root)
    assert proc.returncode == 2
    assert "見つかりません" in proc.stderr and "no-such-folder" in proc.stderr
    proc = run("--lang", "en", "check", missing, "--project", project.root)
    assert proc.returncode == 2
    assert "Not found" in proc.stderr


@pytest.mark.slow
def test_bad_files_exit_1_without_traceback(project, tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "empty.xlsx").write_bytes(b"")
    (folder / "text.xlsx").write_text("a,b\n1,2\n", encoding="utf-8")
    proc = run("check", folder, "--project", project.root, "--format", "json")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert sorted(f["code"] for f in data["findings"]) == ["unreadable-file"] * 2
    assert {f["status"] for f in data["files"]} == {"unreadable"}
