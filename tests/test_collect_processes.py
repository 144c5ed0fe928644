"""Checking in the reading processes (``xlplan.check.check_many``) and recording in sessions
(``Archive.session``): the findings, values and archive content are those of checking each file
in the calling process, a crash still costs one file, an interrupted run keeps what arrived, and
no database file is open in the collecting process whenever a reading process starts."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import sqlite3
import zipfile
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from xlplan.archive import Archive, _json
from xlplan.check import ProcessReader, check_files
from xlplan.collect import collect, recheck
from xlplan.read import file_digest, read_returned
from xlplan.simulate import fill_package

from crashing import reader_dying_on
from test_storage import open_database_files


def read_here(files, key, limits):
    """A reader of the caller's that yields plain ``Returned`` records (read in this process):
    its files are checked in the calling process, as every file was before."""
    return (read_returned(path, key, limits) for path in files)


def _corpus(plan, files: dict, inbox: Path, copies: int = 4) -> list[Path]:
    """Good and broken returns: filled workbooks with 0–2 mistakes each, one saved 'in 2099'
    (implausible-save-time), one sent twice, a text file and a cut-off workbook named .xlsx."""
    inbox.mkdir(parents=True, exist_ok=True)
    rng = random.Random(16)
    sources = [f.path for f in files.values()]
    made = []
    for i in range(copies * len(sources)):
        dst = inbox / f"{i:02d}_{sources[i % len(sources)].name}"
        saved = dt.datetime(2099, 1, 1, tzinfo=dt.timezone.utc) if i == 3 else None
        fill_package(sources[i % len(sources)], dst, plan, rng, mistakes=i % 3, saved_at=saved)
        made.append(dst)
    shutil.copy(made[0], inbox / "zz_resent.xlsx")
    (inbox / "zz_text.xlsx").write_text("これは Excel ではありません", encoding="utf-8")
    cut = inbox / "zz_cut.xlsx"
    cut.write_bytes(made[1].read_bytes()[:5000])
    with zipfile.ZipFile(made[2]) as z:
        assert z.testzip() is None  # the corpus's workbooks themselves are sound
    return made


def _archive_content(archive: Archive) -> dict[str, list[tuple]]:
    """Every row the archive holds, but the moments of the run (when collected, seen, chosen)."""
    tables = {
        "files": "SELECT sha256, size, archived_path, kind, last_saved FROM files ORDER BY sha256",
        "submissions": "SELECT id, sha256, year, original_name, source_path, file_mtime, department,"
                       " form_year, plan_id, template_version, readable, errors, warnings, kind,"
                       " member, generated_at FROM submissions ORDER BY id",
        "sightings": "SELECT sha256, year, original_name, source_path FROM sightings ORDER BY rowid",
        "findings": "SELECT * FROM findings ORDER BY submission_id, seq",
        "cell_values": "SELECT * FROM cell_values ORDER BY submission_id, seq",
    }
    with sqlite3.connect(archive.db_path) as db:
        content = {name: db.execute(sql).fetchall() for name, sql in tables.items()}
    db.close()
    return content


@pytest.mark.slow
def test_collect_records_what_checking_in_the_calling_process_records(project, generated, tmp_path):
    plan, files = generated
    inbox = tmp_path / "inbox"
    _corpus(plan, files, inbox)
    here, there = Archive(tmp_path / "here"), Archive(tmp_path / "there")
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    by_parent = collect(here, [inbox], project.settings, plan, reader=read_here)
    in_processes = collect(there, [inbox], project.settings, plan, workers=2)
    end = dt.datetime.now(dt.timezone.utc)

    content = _archive_content(there)
    assert content == _archive_content(here)
    assert len(content["submissions"]) == len(by_parent.new) == len(in_processes.new) == 4 * len(files) + 2
    assert in_processes.known == by_parent.known == ["zz_resent.xlsx"]
    codes = {row[2] for row in content["findings"]}
    assert {"implausible-save-time", "unreadable-file"} <= codes
    # Findings are named as the files the departments sent, never as the archived copies.
    assert {row[4] for row in content["findings"]} <= {p.name for p in inbox.iterdir()}
    # Each file's collection time is a moment of this run, the one its last-saved time was
    # checked against.
    for s in there.submissions(plan.year.short):
        assert start <= dt.datetime.fromisoformat(s.collected_at) <= end


@pytest.mark.slow
@pytest.mark.parametrize("keep_values", [True, False])
def test_check_finds_what_checking_in_the_calling_process_finds(project, generated, tmp_path, keep_values):
    plan, files = generated
    inbox = tmp_path / "inbox"
    _corpus(plan, files, inbox)
    by_parent = check_files([inbox], project.settings, plan, reader=read_here, keep_values=keep_values)
    in_processes = check_files([inbox], project.settings, plan, workers=2, keep_values=keep_values)
    assert in_processes.findings == by_parent.findings
    assert in_processes.files == by_parent.files
    assert in_processes.values.equals(by_parent.values)
    assert len(in_processes.values) == (len(by_parent.values) if keep_values else 0)
    assert any(r.status == "unreadable" for r in in_processes.files)
    assert in_processes.exit_code == by_parent.exit_code == 1


@pytest.mark.slow
def test_recheck_in_processes_replaces_each_record_with_what_the_calling_process_finds(
        project, generated, tmp_path):
    plan, files = generated
    inbox = tmp_path / "inbox"
    _corpus(plan, files, inbox, copies=2)
    here, there = Archive(tmp_path / "here"), Archive(tmp_path / "there")
    collect(here, [inbox], project.settings, plan, reader=read_here)
    collect(there, [inbox], project.settings, plan, workers=2)
    times = [s.collected_at for s in there.submissions(plan.year.short)]
    recheck(here, project.settings, plan, reader=read_here)
    recheck(there, project.settings, plan, workers=2)
    assert _archive_content(there) == _archive_content(here)
    assert [s.collected_at for s in there.submissions(plan.year.short)] == times  # kept


@pytest.mark.slow
def test_a_file_that_kills_its_checking_process_costs_that_file_only(project, generated, tmp_path):
    plan, files = generated
    inbox = tmp_path / "inbox"
    made = _corpus(plan, files, inbox, copies=2)
    victim = made[4]
    _, sha = file_digest(victim)
    clean, crashed = Archive(tmp_path / "clean"), Archive(tmp_path / "crashed")
    collect(clean, [inbox], project.settings, plan, workers=2)
    summary = collect(crashed, [inbox], project.settings, plan,
                      reader=reader_dying_on(f"{sha}.xlsx", 2))

    assert len(summary.new) == len(made) + 2
    dead = next(s for s in summary.new if s.original_name == victim.name)
    assert not dead.readable and dead.errors == 1
    [finding] = crashed.findings([dead.id])
    assert finding.code == "unreadable-file" and finding.file == victim.name
    assert "stopped abnormally" in finding.message("en")
    others = [s.id for s in summary.new if s.id != dead.id]
    assert crashed.findings(others) == clean.findings(others)
    assert crashed.values(others) == clean.values(others)


@pytest.mark.slow
def test_an_interrupted_collect_keeps_every_file_that_arrived(project, generated, tmp_path):
    plan, files = generated
    inbox = tmp_path / "inbox"
    _corpus(plan, files, inbox, copies=2)

    def dies_after_five(paths, key, limits):
        for path in paths[:5]:
            yield read_returned(path, key, limits)
        raise ConnectionError("the cluster went away")

    archive = Archive(tmp_path / "archive")
    with pytest.raises(ConnectionError):
        collect(archive, [inbox], project.settings, plan, reader=dies_after_five)
    assert len(archive.submissions(plan.year.short)) == 5
    assert open_database_files(archive.db_path) == []
    # Running collect again completes the run.
    summary = collect(archive, [inbox], project.settings, plan, workers=2)
    assert len(archive.submissions(plan.year.short)) == len(summary.new) + 5


# --- the archive's sessions ---------------------------------------------------------------

# Forks of this process while a test watches a database: {database: [its files open then]}.
_WATCHED: dict[str, list[list[str]]] = {}


def _before_fork() -> None:
    for db_path, seen in _WATCHED.items():
        seen.append(open_database_files(Path(db_path)))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork)


@pytest.mark.slow
@pytest.mark.parametrize("reader", [None, "crash"])
def test_no_database_file_is_open_whenever_a_reading_process_starts(project, generated, tmp_path, reader):
    plan, files = generated
    inbox = tmp_path / "inbox"
    made = _corpus(plan, files, inbox, copies=4)
    archive = Archive(tmp_path / "archive")
    if reader == "crash":  # the file's process dies: a new pool starts mid-run, then another
        reader = reader_dying_on(f"{file_digest(made[9])[1]}.xlsx", 2)
    _WATCHED[str(archive.db_path)] = forks = []
    try:
        collect(archive, [inbox], project.settings, plan, workers=2, reader=reader)
        recheck(archive, project.settings, plan, workers=2, reader=reader)
    finally:
        del _WATCHED[str(archive.db_path)]
    assert len(forks) >= 4  # the reading processes of collect and of recheck
    assert all(seen == [] for seen in forks), forks
    assert open_database_files(archive.db_path) == []


def test_a_session_reuses_one_connection_and_commits_each_operation(project, generated):
    plan, files = generated
    archive = Archive(project.root / "store")

    def seen_elsewhere() -> int:
        with closing(sqlite3.connect(archive.db_path)) as other:
            return other.execute("SELECT COUNT(*) FROM sightings").fetchone()[0]

    with archive.session():
        with archive.connection() as first:
            pass
        archive.add_sighting("ab" * 32, plan.year.short, project.inbox / "a.xlsx")
        assert seen_elsewhere() == 1  # committed when the operation ended
        with pytest.raises(sqlite3.IntegrityError):
            with archive.connection() as again:
                assert again is first
                again.execute("INSERT INTO sightings VALUES ('cd', 'R6', 'b', 'b', 'now')")
                again.execute("INSERT INTO files (sha256) VALUES ('only a hash')")  # NOT NULL columns
        assert seen_elsewhere() == 1  # that operation was rolled back, the first one stays
        with archive.connection() as outer, archive.connection() as nested:
            assert outer is first and nested is not first  # a nested operation: its own
        assert open_database_files(archive.db_path) != []  # the session's connection
    assert open_database_files(archive.db_path) == []
    assert archive.submissions(plan.year.short) == []


@pytest.mark.slow
def test_collect_opens_a_connection_per_group_of_files_not_per_operation(project, generated, tmp_path,
                                                                        monkeypatch):
    plan, files = generated
    inbox = tmp_path / "inbox"
    made = _corpus(plan, files, inbox, copies=4)
    archive = Archive(tmp_path / "archive")
    opened = []
    real_connect = sqlite3.connect

    def counting_connect(*args, **kwargs):
        opened.append(args[0] if args else kwargs.get("database"))
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", counting_connect)
    summary = collect(archive, [inbox], project.settings, plan, workers=2)
    files_read = len(summary.new)
    assert files_read == len(made) + 2
    # The take-in, each group of 8 results, and a few of the run's own.
    assert len(opened) <= 1 + -(-files_read // 8) + 3, len(opened)


# --- raw values as stored ------------------------------------------------------------------

@given(st.one_of(st.text(), st.text(st.characters(codec=None, categories=None)), st.integers(),
                 st.floats(), st.booleans(), st.none(), st.dates(), st.datetimes(),
                 st.lists(st.integers(), max_size=3)))
@example('say "hi"\\n')
@example("tab\there\x7f\u2028\ud800")
def test_raw_values_are_stored_as_the_json_encoder_writes_them(value):
    """The archive's encoding of a raw value is byte for byte what it was (json.dumps), so
    archives written before and after read back the same."""
    if isinstance(value, (dt.date, dt.datetime)):
        expected = json.dumps({"date": value.isoformat()})
    else:
        expected = None if value is None else json.dumps(value, ensure_ascii=False)
    assert _json(value) == expected
