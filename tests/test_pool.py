"""A reading process that dies (out of memory, a crash in a native library) stops nothing:
the file that killed it is reported as unreadable and every other file is read."""

from __future__ import annotations

import shutil

from xlplan.check import check_files


def test_a_file_that_kills_its_reading_process_is_unreadable_and_the_batch_goes_on(
        project, generated, tmp_path, monkeypatch):
    plan, files = generated
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    sources = [f.path for f in files.values()]
    for i in range(18):  # enough files for the process pool (16 or more)
        shutil.copy(sources[i % len(sources)], inbox / f"{i:02d}.xlsx")
    shutil.copy(sources[0], inbox / "07b-crash.xlsx")
    monkeypatch.setenv("XLPLAN_TEST_KILL_READING", "07b-crash.xlsx")

    result = check_files([inbox], project.settings, plan, workers=2)

    reports = {r.file: r for r in result.files}
    assert len(reports) == 19
    assert reports["07b-crash.xlsx"].status == "unreadable"
    crash = [f for f in result.findings if f.file == "07b-crash.xlsx"]
    assert [f.code for f in crash] == ["unreadable-file"]
    assert "異常終了" in crash[0].message()
    others = [r for name, r in reports.items() if name != "07b-crash.xlsx"]
    assert all(r.status != "unreadable" and r.department for r in others)


def test_without_a_crash_the_pool_reads_what_one_process_reads(project, generated, tmp_path):
    plan, files = generated
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for i, f in enumerate(list(files.values()) * 3):
        shutil.copy(f.path, inbox / f"{i:02d}.xlsx")
    pooled = check_files([inbox], project.settings, plan, workers=2)
    single = check_files([inbox], project.settings, plan, workers=1)
    assert [(r.file, r.status, r.department) for r in pooled.files] == \
        [(r.file, r.status, r.department) for r in single.files]
    assert len(pooled.values) == len(single.values)
