"""The archive's storage (``xlplan.archive``): no SQLite connection outlives an operation.

Every operation commits or rolls back, and opens and closes its own connection (or, inside
collect's sessions, reuses the session's, closed when the session ends): after any call
nothing of the database is open in this process (counted through ``/proc/self/fd``), a
failing write leaves nothing behind, and the processes that read the collected files never
inherit an open connection from the collect that started them (see also
``tests/test_collect_processes.py``).
"""

from __future__ import annotations

import functools
import os
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from xlplan.archive import Archive, ArchiveHistory, has_database, submission_status
from xlplan.check import read_many
from xlplan.collect import collect, recheck
from xlplan.feedback import write_feedback
from xlplan.merge import write_merged
from xlplan.read import read_returned

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")


def open_database_files(db_path: Path, pid: str = "self") -> list[str]:
    """The database's files (the database, its -wal and -shm) a process has open now."""
    names = {os.path.realpath(db_path) + suffix for suffix in ("", "-wal", "-shm", "-journal")}
    fds = Path(f"/proc/{pid}/fd")
    found = []
    for fd in fds.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target in names:
            found.append(target)
    return found


@pytest.fixture
def collected(project, generated):
    """A project with two department workbooks collected."""
    plan, files = generated
    for department in ("福祉課", "児童保育課"):
        shutil.copy(files[department].path, project.inbox / f"{department}.xlsx")
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    return project, plan, archive


@pytest.mark.slow
def test_no_connection_stays_open_after_any_archive_operation(collected, tmp_path):
    project, plan, archive = collected
    year = plan.year.short
    first = archive.submissions(year)[0]
    operations = {
        "open the archive": lambda: Archive.for_settings(project.settings),
        "collect again": lambda: collect(archive, [project.inbox], project.settings, plan),
        "recheck": lambda: recheck(archive, project.settings, plan),
        "submissions": lambda: archive.submissions(year),
        "submission": lambda: archive.submission(first.id),
        "recorded": lambda: archive.recorded(first.sha256, year),
        "archived_path": lambda: archive.archived_path(first.sha256),
        "add_sighting": lambda: archive.add_sighting(first.sha256, year, project.inbox / "x.xlsx"),
        "current": lambda: archive.department_current(plan),
        "scoring current": lambda: archive.current(plan, "scoring"),
        "choose": lambda: archive.choose(year, first.department, first.id),
        "pins": lambda: archive.pins(year),
        "unpin": lambda: archive.unpin(year, first.department),
        "findings": lambda: archive.findings([first.id]),
        "values": lambda: archive.values([first.id]),
        "iter_values read to the end": lambda: list(archive.iter_values([first.id], columns=("field",))),
        "iter_values given up half-way": lambda: _give_up_half_way(archive.iter_values([first.id])),
        "scoring forms": lambda: archive.scoring_forms_before(year, "1"),
        "verify_copies": lambda: archive.verify_copies(year),
        "status": lambda: submission_status(archive, plan),
        "earlier years": lambda: ArchiveHistory(archive, plan.with_year(plan.year + 1)
                                                ).value("福祉課", "x", "x", None, plan.year),
        "has_database": lambda: has_database(archive.db_path),
        "merge": lambda: write_merged(archive, plan, project.settings, tmp_path / "merged.xlsx"),
        "feedback": lambda: write_feedback(archive, plan, project.settings, tmp_path / "feedback"),
    }
    assert open_database_files(archive.db_path) == []
    left_open = {}
    for name, operation in operations.items():
        operation()
        still = open_database_files(archive.db_path)
        if still:
            left_open[name] = still
    assert left_open == {}


def _give_up_half_way(rows) -> None:
    """Take one row of a streamed query, then stop (as a merge that fails half-way does)."""
    next(rows)
    rows.close()


def test_a_failing_operation_rolls_back_and_closes(collected):
    project, plan, archive = collected
    before = len(archive.submissions(plan.year.short))
    with pytest.raises(sqlite3.IntegrityError):
        with archive.connection() as db:
            db.execute("INSERT INTO choices VALUES (?,?,?,?)", (plan.year.short, "福祉課", 1, "now"))
            db.execute("INSERT INTO files (sha256) VALUES ('only a hash')")  # NOT NULL columns
    assert open_database_files(archive.db_path) == []
    assert archive.pins(plan.year.short) == {}  # the first insert was rolled back with it
    assert len(archive.submissions(plan.year.short)) == before


class CountsOpenDatabase:
    """``read_one`` for ``read_many``: reads a file as ``read_returned`` does, and writes into
    ``log_dir`` how many of the database's files its (reading) process has open."""

    def __init__(self, db_path: Path, log_dir: Path):
        self.db_path, self.log_dir = db_path, log_dir

    def __call__(self, path: Path, key: bytes, limits):
        count = len(open_database_files(self.db_path))
        (self.log_dir / f"{os.getpid()}-{Path(path).stem}").write_text(str(count))
        return read_returned(path, key, limits)


def _read(files, key, limits, read_one, workers):
    return read_many(files, key, limits, workers, read_one=read_one)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_reading_processes_inherit_no_database_connection(project, generated, tmp_path, workers):
    plan, files = generated
    for department, f in files.items():
        shutil.copy(f.path, project.inbox / f"{department}.xlsx")
    archive = Archive.for_settings(project.settings)
    log_dir = tmp_path / "counts"
    log_dir.mkdir()
    reader = functools.partial(_read, read_one=CountsOpenDatabase(archive.db_path, log_dir),
                               workers=workers)
    summary = collect(archive, [project.inbox], project.settings, plan, reader=reader)
    assert len(summary.new) == len(files)
    counts = {p.name: int(p.read_text()) for p in log_dir.iterdir()}
    assert len(counts) == len(files)
    assert set(counts.values()) == {0}, counts


def test_opening_the_archive_of_an_earlier_xlplan_adds_the_new_columns(tmp_path):
    root = tmp_path / "old"
    root.mkdir()
    with sqlite3.connect(root / "xlplan.sqlite") as db:  # the schema before kind and English
        db.executescript("""
            CREATE TABLE files (sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL,
                archived_path TEXT NOT NULL, kind TEXT, last_saved TEXT, first_collected TEXT NOT NULL);
            CREATE TABLE submissions (id INTEGER PRIMARY KEY AUTOINCREMENT, sha256 TEXT NOT NULL,
                year TEXT NOT NULL, original_name TEXT NOT NULL, source_path TEXT NOT NULL,
                file_mtime TEXT, collected_at TEXT NOT NULL, department TEXT NOT NULL DEFAULT '',
                form_year TEXT NOT NULL DEFAULT '', plan_id TEXT NOT NULL DEFAULT '',
                template_version INTEGER, readable INTEGER NOT NULL, errors INTEGER NOT NULL,
                warnings INTEGER NOT NULL, UNIQUE (sha256, year));
            CREATE TABLE findings (submission_id INTEGER NOT NULL, seq INTEGER NOT NULL,
                code TEXT NOT NULL, severity TEXT NOT NULL, file TEXT, department TEXT,
                project TEXT, field TEXT, sheet TEXT, cell TEXT, value TEXT, expected TEXT, detail TEXT);
            INSERT INTO files VALUES ('ab', 1, 'archive/ab/ab.xlsx', 'xlsx', NULL, '2024-01-01');
            INSERT INTO submissions (sha256, year, original_name, source_path, collected_at,
                readable, errors, warnings) VALUES ('ab', 'R6', '福祉課.xlsx', '/in/福祉課.xlsx',
                '2024-01-01', 1, 0, 0);
        """)
    db.close()
    archive = Archive(root)
    [old] = archive.submissions("R6")
    assert (old.original_name, old.kind, old.member, old.generated_at) == ("福祉課.xlsx", "department", "", None)
    assert archive.findings([old.id]) == []
    assert open_database_files(archive.db_path) == []
