"""Every file is read in a child process, whatever the batch size: a reading process that dies
(out of memory, a crash in a native library) stops nothing. The file that killed it is
reported as unreadable, every other file is read, and nothing the dying process printed
reaches the terminal."""

from __future__ import annotations

import shutil

import pytest

from xlplan.check import check_files

from crashing import PANIC_TEXT, reader_dying_on


@pytest.mark.parametrize("count, workers", [(1, None), (3, None), (18, 2)])
def test_a_file_that_kills_its_reading_process_is_unreadable_and_the_batch_goes_on(
        project, generated, tmp_path, capfd, count, workers):
    plan, files = generated
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    sources = [f.path for f in files.values()]
    for i in range(count - 1):
        shutil.copy(sources[i % len(sources)], inbox / f"{i:02d}.xlsx")
    shutil.copy(sources[0], inbox / "00b-crash.xlsx")

    result = check_files([inbox], project.settings, plan,
                         reader=reader_dying_on("00b-crash.xlsx", workers))

    reports = {r.file: r for r in result.files}
    assert len(reports) == count
    assert reports["00b-crash.xlsx"].status == "unreadable"
    crash = [f for f in result.findings if f.file == "00b-crash.xlsx"]
    assert [f.code for f in crash] == ["unreadable-file"]
    assert "異常終了" in crash[0].message() and "stopped abnormally" in crash[0].message("en")
    others = [r for name, r in reports.items() if name != "00b-crash.xlsx"]
    assert all(r.status != "unreadable" and r.department for r in others)
    out, err = capfd.readouterr()
    assert "memory allocation" not in out + err and "backtrace" not in out + err
    assert PANIC_TEXT.splitlines()[0] not in err


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
