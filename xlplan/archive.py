"""Storage of a project: the content-addressed archive folder and its SQLite database.

Every file collected (``xlplan.collect``) is kept in ``archive/<2 hex>/<sha256><suffix>`` and
recorded with who sent it (the department from the signed metadata, not the file name), when,
under which name, its hash and size, and the result of the checks (findings and normalised
values). Nothing a department sent is ever lost or overwritten: the archive only grows.

* The same content twice is recognised by its hash and recorded once (each sighting is kept).
* Of several submissions from one department for one year, the current one is the newest by the
  last-saved time inside the file where that time is plausible (``xlplan.savetime``), then by
  collection order; the coordinator can override that choice (``choose``).
* A file is taken in once: copied into a temporary file of the archive while it is hashed, and
  refused (:class:`FileChanging`) when it changed meanwhile. So the archive holds what its hash
  says; ``verify_copies`` proves it later (``collect --recheck``).
* One connection per operation (:meth:`Archive.connection`): each call opens its own, commits
  or rolls back, and closes it, so no connection stays open on the object, none is shared
  between threads, and none is inherited by the reading processes. A file is recorded in one
  transaction, so an interrupted run leaves the database consistent. Inside a
  :meth:`Archive.session` block the operations of its thread reuse one connection (still one
  transaction each), closed when the block ends: collect takes its inbox in, and records each
  group of results, in one session, never while a reading process starts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import re
import sqlite3
import stat
import sys
import threading
import uuid
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .access import NotRegularFile
from .errors import XlplanError
from .findings import Finding
from .plan import Plan
from .read import file_digest
from .runlock import ProjectLock
from .savetime import instant, plausible
from .settings import Settings
from .status import Status, status_of_counted

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, archived_path TEXT NOT NULL,
    kind TEXT, last_saved TEXT, first_collected TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256 TEXT NOT NULL REFERENCES files(sha256),
    year TEXT NOT NULL,
    original_name TEXT NOT NULL, source_path TEXT NOT NULL, file_mtime TEXT,
    collected_at TEXT NOT NULL, department TEXT NOT NULL DEFAULT '',
    form_year TEXT NOT NULL DEFAULT '', plan_id TEXT NOT NULL DEFAULT '',
    template_version INTEGER, readable INTEGER NOT NULL, errors INTEGER NOT NULL,
    warnings INTEGER NOT NULL, kind TEXT NOT NULL DEFAULT 'department',
    member TEXT NOT NULL DEFAULT '', UNIQUE (sha256, year));
CREATE TABLE IF NOT EXISTS sightings (
    sha256 TEXT NOT NULL, year TEXT NOT NULL, original_name TEXT NOT NULL,
    source_path TEXT NOT NULL, seen_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS findings (
    submission_id INTEGER NOT NULL REFERENCES submissions(id), seq INTEGER NOT NULL,
    code TEXT NOT NULL, severity TEXT NOT NULL, file TEXT, department TEXT, project TEXT,
    field TEXT, sheet TEXT, cell TEXT, value TEXT, expected TEXT, detail TEXT, detail_en TEXT,
    expected_en TEXT);
CREATE TABLE IF NOT EXISTS cell_values (
    submission_id INTEGER NOT NULL REFERENCES submissions(id), seq INTEGER NOT NULL,
    department TEXT, project TEXT, indicator_no INTEGER, indicator TEXT, field TEXT, label TEXT,
    year TEXT, planned TEXT, target REAL, raw TEXT, value TEXT, number REAL, unit TEXT, kind TEXT,
    changes TEXT, sheet TEXT, cell TEXT);
CREATE TABLE IF NOT EXISTS choices (
    year TEXT NOT NULL, department TEXT NOT NULL, submission_id INTEGER NOT NULL,
    chosen_at TEXT NOT NULL, PRIMARY KEY (year, department));
CREATE INDEX IF NOT EXISTS findings_by_submission ON findings(submission_id);
CREATE INDEX IF NOT EXISTS values_by_submission ON cell_values(submission_id);
CREATE INDEX IF NOT EXISTS values_by_project ON cell_values(project, submission_id);
"""

DB_NAME = "xlplan.sqlite"
ARCHIVE_DIR = "archive"


def utc_now() -> str:
    """The time now in UTC, to the second, as the database keeps times."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# What json.dumps escapes in a text (ensure_ascii=False): a text without any is its characters
# between quotes.
_JSON_ESCAPED = re.compile(r'[\x00-\x1f"\\]')


def _json(value) -> str | None:
    """Raw values keep their type through the database (int, float, text, date)."""
    if value is None:
        return None
    # Most values are text or whole numbers: written without the JSON encoder (a tenth of a
    # collect's time), as the same characters json.dumps writes.
    kind = type(value)
    if kind is str and not _JSON_ESCAPED.search(value):
        return f'"{value}"'
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return json.dumps({"date": value.isoformat()})
    return json.dumps(value, ensure_ascii=False)


def from_json(text: str | None):
    """Inverse of the raw-value encoding."""
    if text is None:
        return None
    # Most values are text or whole numbers: those are decoded without the JSON parser, which
    # was a quarter of a merge's time. A JSON string without a backslash is its characters
    # between the quotes (json.dumps escapes quotes, backslashes and control characters).
    if text[:1] == '"' and "\\" not in text:
        return text[1:-1]
    if text.isascii() and text.isdigit() and len(text) < 16:
        return int(text)
    value = json.loads(text)
    if isinstance(value, dict) and "date" in value:
        return dt.date.fromisoformat(value["date"][:10])
    return value


@dataclass(slots=True)  # slots: a merge of thousands of departments holds two lists of these
class Submission:
    """One archived file for one evaluation year, as recorded."""

    id: int
    sha256: str
    year: str
    original_name: str
    source_path: str
    file_mtime: str | None
    collected_at: str
    department: str
    form_year: str
    plan_id: str
    template_version: int | None
    readable: bool
    errors: int
    warnings: int
    archived_path: str
    last_saved: str | None
    kind: str = "department"
    member: str = ""
    generated_at: str | None = None

    def sort_key(self) -> tuple:
        """Newest last: a plausible last-saved time inside the file (compared as instants:
        09:30+09:00 is before 01:00Z), then collection order. A submission whose time is
        absent or implausible (``xlplan.savetime``) is ordered by collection order only, after
        none with a time that can be believed: a time set to 2099 wins nothing."""
        trusted = plausible(self.last_saved, self.generated_at, self.collected_at)
        return (trusted, instant(self.last_saved) if trusted else 0.0, self.id)


class NoArchive(XlplanError):
    """The project has no database yet (nothing was collected), or no submission for a year."""


class FileChanging(Exception):
    """A file changed while it was taken in (it is still being written)."""


class SourceUnreadable(Exception):
    """A file to take in could not be opened or read (the OSError is its cause)."""


_CHUNK = 1 << 20


class Archive:
    """The SQLite store and the archive folder of a project."""

    def __init__(self, root: Path, db_path: Path | None = None, lock_wait: float = 60.0):
        self.root = Path(root)
        self.db_path = Path(db_path) if db_path else self.root / DB_NAME
        self.archive_dir = self.root / ARCHIVE_DIR
        # One run at a time per project: collect, recheck, choose and the writers that read
        # the archive (merge, feedback, scoring forms) hold it while they run.
        self.lock = ProjectLock(self.root, lock_wait)
        # Called after each chunk copied from the inbox (tests: a file that changes meanwhile).
        self.after_chunk: Callable[[Path], None] | None = None
        self._session: _Session | None = None  # while a ``session`` block runs
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with self.connection() as db:
            db.executescript(SCHEMA)
            _migrate(db)

    @classmethod
    def for_settings(cls, settings: Settings) -> "Archive":
        """The archive of a project: ``[store] path`` in xlplan.toml, or xlplan.sqlite beside
        it; made when missing (for ``collect``)."""
        return cls(settings.project_dir, settings.db_path, settings.lock_wait)

    @classmethod
    def existing(cls, settings: Settings) -> "Archive | None":
        """The archive of a project when something was ever collected into it, else None.
        Never makes a database: a command that only reads must not leave an empty one."""
        if not has_database(settings.db_path):
            return None
        return cls.for_settings(settings)

    @classmethod
    def require(cls, settings: Settings) -> "Archive":
        """The archive of a project for a command that reads it (merge, feedback, status,
        choose, generate-scoring); NoArchive with a message when nothing was collected yet."""
        archive = cls.existing(settings)
        if archive is None:
            raise NoArchive("nothing-collected", database=settings.db_path)
        return archive

    @classmethod
    def opened(cls, settings: Settings, how: str) -> "Archive | None":
        """The archive as a command takes it: 'create' (collect), 'require' (commands that read
        it: NoArchive when nothing was collected), 'existing' (None when nothing was)."""
        return {"create": cls.for_settings, "require": cls.require, "existing": cls.existing}[how](settings)

    def require_submissions(self, plan: Plan) -> None:
        """NoArchive when no file at all was collected for the plan's year: a merge from that
        would call every department 未提出 and replace a good merged workbook with nothing."""
        if not self.submissions(plan.year.short):
            raise NoArchive("nothing-collected-for-year", year=plan.year, database=self.db_path)

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation: what the block writes is committed when it ends,
        rolled back when it raises, and the connection is closed either way. Nothing keeps
        a connection between operations (so none is shared between threads, or inherited by
        the processes that read files) — except inside a ``session`` block, whose thread's
        operations reuse its connection, each still committed or rolled back as it ends."""
        session = self._session
        if session is not None and session.thread == threading.get_ident() and not session.busy:
            session.busy = True
            try:
                with session.db:
                    yield session.db
            finally:
                session.busy = False
            return
        db = self._connect()
        try:
            with db:
                yield db
        finally:
            db.close()

    @contextmanager
    def session(self) -> Iterator[None]:
        """Operations of this thread inside the block reuse one connection, closed when the
        block ends: each operation is still its own transaction (a file recorded is committed
        before the next one starts), but the connection's opening, and the checkpoint SQLite
        makes when the last connection to the database closes, are paid once per block.

        Nothing may fork while the block runs (a child would inherit the connection): collect
        opens one for the take-in, before the reading processes start, and one per group of
        results, between pulls from the reading generator. Another thread's operations, and
        one nested in an operation (a streamed query still running), get their own connection
        as outside a session; a session inside a session is the same session."""
        if self._session is not None:  # this thread's (the same session) or another's (then
            yield                      # this thread's operations work as outside any)
            return
        self._session = _Session(threading.get_ident(), self._connect())
        try:
            yield
        finally:
            session, self._session = self._session, None
            session.db.close()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.db_path, timeout=30)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL keeps the database consistent through a killed process or a
            # crash; only the last commits before a power cut may be lost, and collect
            # completes them when run again. FULL would wait for the disk at every file.
            db.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            db.close()
            raise
        return db

    # --- files ----------------------------------------------------------------------------

    def take_in(self, path: Path) -> tuple[int, str, Path]:
        """Copy an inbox file into the archive's incoming folder, hashing the bytes as they are
        copied (the file is read once): (size, sha256, the copy). Raises FileChanging when the
        file changed while it was read (its size or time, before and after, or the bytes read
        against its size), SourceUnreadable when it cannot be opened or read. Links and special
        files are never opened (O_NOFOLLOW, and the opened file must be a regular one)."""
        incoming = self.archive_dir / ".incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        # A name no other run can take, even one that did not hold the lock.
        tmp = incoming / f".{os.getpid()}-{uuid.uuid4().hex}.part"
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
                         | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            raise SourceUnreadable() from exc
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                raise SourceUnreadable() from NotRegularFile()
            h, size = hashlib.sha256(), 0
            with open(tmp, "wb") as out:
                while True:
                    try:
                        block = os.read(fd, _CHUNK)
                    except OSError as exc:
                        raise SourceUnreadable() from exc
                    if not block:
                        break
                    h.update(block)
                    out.write(block)
                    size += len(block)
                    if self.after_chunk is not None:
                        self.after_chunk(path)
                out.flush()
                os.fsync(out.fileno())  # what the database will say is in the archive, is
            after = os.fstat(fd)
            try:
                now = os.stat(path, follow_symlinks=False)
            except OSError:
                raise FileChanging() from None  # renamed or removed meanwhile
            if not (_same(before, after) and _same(before, now) and size == before.st_size):
                raise FileChanging()
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        return size, h.hexdigest(), tmp

    def target(self, sha256: str, suffix: str) -> Path:
        """Where the archive keeps a content first seen under a name with ``suffix``."""
        return self.archive_dir / sha256[:2] / f"{sha256}{suffix.lower()[:10]}"

    def place(self, tmp: Path, target: Path, sha256: str) -> bool:
        """Put a verified copy at ``target``, unless a copy that matches its hash is there
        already (then the new one is dropped). True when the copy was put in place (there was
        none, or a damaged one: a record made from that is read again)."""
        if target.is_file() and file_digest(target)[1] == sha256:
            tmp.unlink()
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
        return True

    def archived_path(self, sha256: str) -> Path | None:
        """Where the archive keeps a content already recorded (any year), or None."""
        with self.connection() as db:
            row = db.execute("SELECT archived_path FROM files WHERE sha256=?", (sha256,)).fetchone()
        return self.root / row[0] if row else None

    def missing_copies(self, year: str) -> list[Submission]:
        """Submissions of a year whose archived copy is no longer in the archive folder."""
        return [s for s in self.submissions(year) if not (self.root / s.archived_path).is_file()]

    def verify_copies(self, year: str) -> list[tuple[Submission, str]]:
        """Submissions of a year whose archived copy is missing ('missing') or whose bytes do
        not hash to the recorded sha256 ('mismatch'): every copy is read and hashed."""
        problems = []
        for s in self.submissions(year):
            copy = self.root / s.archived_path
            try:
                if file_digest(copy)[1] != s.sha256:
                    problems.append((s, "mismatch"))
            except OSError:
                problems.append((s, "missing"))
        return problems

    # --- recording ------------------------------------------------------------------------

    def recorded(self, sha256: str, year: str) -> Submission | None:
        """The submission that recorded a content for a year, or None."""
        with self.connection() as db:
            row = db.execute(self._SUBMISSION_SQL + " WHERE s.sha256=? AND s.year=?",
                             (sha256, year)).fetchone()
        return _submission(row) if row is not None else None

    def add_sighting(self, sha256: str, year: str, path: Path) -> None:
        """Note that a content already recorded arrived again (under ``path``)."""
        with self.connection() as db:
            db.execute("INSERT INTO sightings VALUES (?,?,?,?,?)",
                       (sha256, year, Path(path).name, str(path), utc_now()))

    def record(self, path: Path, sha256: str, size: int, archived: Path, year: str, facts,
               findings: list[Finding], values: list[dict], mtime: str | None,
               collected_at: str) -> Submission:
        """Record a file taken in (archived at ``archived``) with what reading and checking it
        found (``facts``: an ``xlplan.check.FileFacts``), in one transaction: all of it is
        recorded, or none of it."""
        last_saved = facts.last_saved.isoformat() if facts.last_saved else None
        with self.connection() as db:
            db.execute("INSERT OR IGNORE INTO files VALUES (?,?,?,?,?,?)",
                       (sha256, size, str(archived.relative_to(self.root)), facts.kind,
                        last_saved, utc_now()))
            cur = db.execute(
                "INSERT INTO submissions (sha256, year, original_name, source_path, file_mtime,"
                " collected_at, department, form_year, plan_id, template_version, readable,"
                " errors, warnings, kind, member, generated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (sha256, year, path.name, str(path), mtime, collected_at,
                 *_submission_columns(facts, findings)))
            sid = cur.lastrowid
            _insert_results(db, sid, findings, values)
            return _submission(db.execute(self._SUBMISSION_SQL + " WHERE s.id=?", (sid,)).fetchone())

    def replace_results(self, sid: int, facts, findings: list[Finding],
                        values: list[dict]) -> Submission:
        """Replace a submission's record with what reading its copy again found (``facts``: an
        ``xlplan.check.FileFacts``; findings, values, department and status; when and under
        which name it came in are kept), in one transaction."""
        with self.connection() as db:
            db.execute(
                "UPDATE submissions SET department=?, form_year=?, plan_id=?, template_version=?,"
                " readable=?, errors=?, warnings=?, kind=?, member=?, generated_at=? WHERE id=?",
                (*_submission_columns(facts, findings), sid))
            db.execute("DELETE FROM findings WHERE submission_id=?", (sid,))
            db.execute("DELETE FROM cell_values WHERE submission_id=?", (sid,))
            _insert_results(db, sid, findings, values)
            return _submission(db.execute(self._SUBMISSION_SQL + " WHERE s.id=?", (sid,)).fetchone())

    def scoring_forms_before(self, year: str, member: str, before: int | None = None) -> int:
        """How many readable scoring forms of a committee member were recorded for a year
        (``before``: only those recorded before that submission id)."""
        with self.connection() as db:
            return db.execute("SELECT COUNT(*) FROM submissions WHERE year=? AND kind='scoring' "
                              "AND member=? AND readable=1 AND id < ?",
                              (year, member, before or 2 ** 62)).fetchone()[0]

    # --- querying -----------------------------------------------------------------------

    _SUBMISSION_SQL = ("SELECT s.*, f.archived_path, f.last_saved FROM submissions s "
                       "JOIN files f ON f.sha256 = s.sha256")

    def submission(self, sid: int) -> Submission:
        """One submission by id."""
        with self.connection() as db:
            row = db.execute(self._SUBMISSION_SQL + " WHERE s.id=?", (sid,)).fetchone()
        return _submission(row)

    def submissions(self, year: str) -> list[Submission]:
        """Every submission recorded for a year, in collection order."""
        with self.connection() as db:
            rows = db.execute(self._SUBMISSION_SQL + " WHERE s.year=? ORDER BY s.id", (year,))
            return [_submission(r) for r in rows]

    def current(self, plan: Plan, kind: str = "department") -> dict[str, Submission]:
        """The submission that counts per department (or per committee member id for
        kind='scoring'): the coordinator's choice, else the newest readable one of the right
        plan and year."""
        year = plan.year.short
        recipients = {m.id for m in plan.members} if kind == "scoring" else set(plan.department_names())
        candidates: dict[str, list[Submission]] = {}
        recorded = self.submissions(year)
        for s in recorded:
            if s.readable and s.kind == kind and s.form_year == year and s.plan_id == plan.plan_id:
                key = s.member if kind == "scoring" else s.department
                if key in recipients:  # a form for someone not in the master counts for nobody
                    candidates.setdefault(key, []).append(s)
        chosen = {d: max(subs, key=Submission.sort_key) for d, subs in candidates.items()}
        by_id = {s.id: s for s in recorded}
        for pinned_key, sid in self.pins(year).items():
            choice = by_id.get(sid) or self.submission(sid)
            key = choice.member if kind == "scoring" else choice.department
            if choice.kind == kind and key == pinned_key:
                chosen[key] = choice
        return chosen

    def department_current(self, plan: Plan) -> dict[tuple[str, str], Submission]:
        """(layout, department) → the submission that counts, for every department layout the
        plan uses (most plans: one layout, so one entry per department)."""
        layouts = {plan.layout_of(p) for p in plan.projects}
        return {(layout, dept): sub for layout in sorted(layouts)
                for dept, sub in self.current(plan, layout).items()}

    def choose(self, year: str, department: str, submission_id: int) -> None:
        """Override which submission counts for a department (the coordinator's decision).
        The choice stays until lifted with ``unpin``, even when newer files come in."""
        with self.lock, self.connection() as db:
            db.execute("INSERT OR REPLACE INTO choices VALUES (?,?,?,?)",
                       (year, department, submission_id, utc_now()))

    def unpin(self, year: str, department: str) -> bool:
        """Lift the coordinator's choice: the newest submission counts again. True when there
        was a choice to lift."""
        with self.lock, self.connection() as db:
            return db.execute("DELETE FROM choices WHERE year=? AND department=?",
                              (year, department)).rowcount > 0

    def pins(self, year: str) -> dict[str, int]:
        """The coordinator's choices of a year: department (or member id) → submission id."""
        with self.connection() as db:
            return {r["department"]: r["submission_id"]
                    for r in db.execute("SELECT department, submission_id FROM choices WHERE year=?", (year,))}

    def _rows(self, table: str, submission_ids: Iterable[int], project: str | None = None,
              columns: tuple[str, ...] | None = None):
        """Rows of ``findings`` or ``cell_values`` for submissions (optionally of one project,
        only some columns), in recorded order, one at a time: queried in slices, so thousands
        of ids stay under SQLite's limit on parameters."""
        ids = sorted(set(submission_ids))
        where = " AND project=?" if project is not None else ""
        wanted = ", ".join(c for c in columns if c.isidentifier()) if columns else "*"
        with self.connection() as db:
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                marks = ",".join("?" * len(part))
                params = part + ([project] if project is not None else [])
                yield from db.execute(f"SELECT {wanted} FROM {table} WHERE submission_id IN "
                                      f"({marks}){where} ORDER BY submission_id, seq", params)

    def iter_values(self, submission_ids: Iterable[int], project: str | None = None,
                    columns: tuple[str, ...] | None = None):
        """Normalised values of submissions (optionally of one project, optionally only some
        columns), one at a time: the merge streams them, so its memory does not grow with the
        number of departments."""
        for r in self._rows("cell_values", submission_ids, project, columns):
            record = dict(r)
            for name in ("raw", "value"):
                if name in record:
                    record[name] = from_json(record[name])
            yield record

    def findings(self, submission_ids: Iterable[int]) -> list[Finding]:
        """Findings of submissions, in recorded order."""
        return [Finding(r["code"], file=r["file"] or "", department=r["department"] or "",
                        project=r["project"] or "", field=r["field"] or "", sheet=r["sheet"] or "",
                        cell=r["cell"] or "", value=from_json(r["value"]), expected=r["expected"] or "",
                        detail=r["detail"] or "", detail_en=r["detail_en"] or "",
                        expected_en=r["expected_en"] or "")
                for r in self._rows("findings", submission_ids)]

    def values(self, submission_ids: Iterable[int]) -> list[dict]:
        """Normalised values of submissions (raw and value decoded), in recorded order."""
        return list(self.iter_values(submission_ids))


def _submission_columns(facts, findings: list[Finding]) -> tuple:
    """department, form_year, plan_id, template_version, readable, errors, warnings, kind,
    member, generated_at: what a submission's row says about its file's content and checks.
    The plan is the one the file claims (also when it does not verify: another plan's file);
    everything else only from verified metadata (a readable file)."""
    ok = facts.readable
    return (facts.department if ok else "", facts.form_year if ok else "", facts.plan_id,
            facts.template_version if ok else None, int(ok),
            sum(f.severity == "error" for f in findings), sum(f.severity == "warning" for f in findings),
            facts.form_kind if ok else "", (facts.member or "") if ok else "",
            facts.generated_at if ok else None)


def _insert_results(db, sid: int, findings: list[Finding], values: list[dict]) -> None:
    """A submission's findings and normalised values (inside the caller's transaction)."""
    db.executemany(
        "INSERT INTO findings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(sid, i, f.code, f.severity, f.file, f.department, f.project, f.field, f.sheet,
          f.cell, _json(f.value), f.expected, f.detail, f.detail_en, f.expected_en) for i, f in enumerate(findings)])
    db.executemany(
        "INSERT INTO cell_values VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(sid, i, v["department"], v["project"], v["indicator_no"], v["indicator"],
          v["field"], v["label"], v["year"], v["planned"], v["target"], _json(v["raw"]),
          _json(v["value"]), v["value"] if isinstance(v["value"], (int, float))
          and not isinstance(v["value"], bool) else None, v["unit"], v["kind"],
          v["changes"], v["sheet"], v["cell"]) for i, v in enumerate(values)])


def _migrate(db) -> None:
    """Bring a database made by an earlier xlplan up to this schema (columns added since)."""
    have = {r["name"] for r in db.execute("PRAGMA table_info(submissions)")}
    if "kind" not in have:
        db.execute("ALTER TABLE submissions ADD COLUMN kind TEXT NOT NULL DEFAULT 'department'")
    if "member" not in have:
        db.execute("ALTER TABLE submissions ADD COLUMN member TEXT NOT NULL DEFAULT ''")
    if "generated_at" not in have:
        db.execute("ALTER TABLE submissions ADD COLUMN generated_at TEXT")
    finding_columns = {r["name"] for r in db.execute("PRAGMA table_info(findings)")}
    for column in ("detail_en", "expected_en"):  # English beside the Japanese
        if column not in finding_columns:
            db.execute(f"ALTER TABLE findings ADD COLUMN {column} TEXT")


def _submission(row) -> Submission:
    # The fields every submission of a year shares (year, plan, layout, department…) are
    # interned: a merge of thousands of departments holds one copy of each, not thousands.
    return Submission(
        id=row["id"], sha256=row["sha256"], year=_shared(row["year"]), original_name=row["original_name"],
        source_path=row["source_path"], file_mtime=row["file_mtime"],
        collected_at=row["collected_at"], department=_shared(row["department"]),
        form_year=_shared(row["form_year"]), plan_id=_shared(row["plan_id"]),
        template_version=_shared(row["template_version"]),
        readable=bool(row["readable"]), errors=row["errors"], warnings=row["warnings"],
        archived_path=row["archived_path"], last_saved=row["last_saved"], kind=_shared(row["kind"]),
        member=_shared(row["member"]), generated_at=row["generated_at"])


def _shared(text):
    """One copy of a short text many records hold (``sys.intern``)."""
    return sys.intern(text) if isinstance(text, str) else text


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    """The same file content by its size and time (to the nanosecond the system keeps)."""
    return (a.st_size, a.st_mtime_ns) == (b.st_size, b.st_mtime_ns)


@dataclass
class _Session:
    """The connection of an ``Archive.session`` block, the thread that opened it, and whether an
    operation is using it now."""

    thread: int
    db: sqlite3.Connection
    busy: bool = False


def has_database(path: Path) -> bool:
    """Whether ``path`` is an xlplan database that holds the tables (opened read-only, so
    that asking never makes one)."""
    if not Path(path).is_file():
        return False
    try:
        with closing(sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)) as db:
            return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='submissions'"
                              ).fetchone() is not None
    except sqlite3.Error:
        return False


@dataclass
class DepartmentStatus:
    """One line of the submission status: a department in one layout (``kind`` is the layout
    id), or a committee member (kind 'scoring'; ``department`` then holds the member's name).

    ``submission`` counts (None: nothing came in); ``others`` are the department's other
    versions, not used; ``pinned`` when the coordinator chose the one that counts
    (``choose``), and then ``newer`` lists versions saved after the chosen one."""

    department: str
    state: "Status"
    submission: Submission | None
    submissions: int
    kind: str = "department"
    member: str = ""
    others: list[Submission] = field(default_factory=list)
    pinned: bool = False
    newer: list[Submission] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The status word in Japanese (提出済, 要確認, 要修正, 未提出)."""
        return self.state.text("ja")


def _line(name: str, kind: str, key: str, current: Submission | None, versions: list[Submission],
          pins: dict[str, int], member: str = "") -> DepartmentStatus:
    """A department's (or member's) line from the submission that counts and every version."""
    pinned = current is not None and pins.get(key) == current.id
    newer = [s for s in versions if pinned and s.sort_key() > current.sort_key()]
    others = [s for s in versions if current is None or s.id != current.id]
    return DepartmentStatus(name, status_of_counted(current), current, len(versions), kind, member,
                            others, pinned, newer)


def submission_status(archive: Archive, plan: Plan,
                      current: dict[tuple[str, str], Submission] | None = None,
                      ) -> tuple[list[DepartmentStatus], list[Submission]]:
    """Per department (master order) and layout, then per committee member once any scoring
    form was collected: status, the submission that counts, every other version it sent,
    and whether the coordinator pinned the choice; plus files that count for nobody
    (unreadable, another year's or plan's form, a sender not in the master).

    ``current`` is ``archive.department_current(plan)`` when the caller has it already: the
    lines then hold those very submissions (a merge of thousands keeps one copy of each)."""
    year = plan.year.short
    if current is None:
        current = archive.department_current(plan)
    counted = {s.id: s for s in current.values()}
    all_subs = [counted.get(s.id, s) for s in archive.submissions(year)]  # one object per submission
    pins = archive.pins(year)
    members = archive.current(plan, "scoring")
    valid = [s for s in all_subs if s.readable and s.form_year == year and s.plan_id == plan.plan_id]
    versions: dict[tuple[str, str], list[Submission]] = {}
    for s in valid:
        versions.setdefault((s.kind, s.member if s.kind == "scoring" else s.department), []).append(s)
    lines = [_line(d, layout, d, current.get((layout, d)), versions.get((layout, d), []), pins)
             for d in plan.department_names() for layout in plan.layouts_for(d)]
    if members or any(s.kind == "scoring" for s in all_subs):
        lines += [_line(m.name, "scoring", m.id, members.get(m.id), versions.get(("scoring", m.id), []),
                        pins, m.id) for m in plan.members]
    listed = {s.id for line in lines for s in ([line.submission] if line.submission else []) + line.others}
    return lines, [s for s in all_subs if s.id not in listed]


class ArchiveHistory:
    """Earlier years' reported values, for prefilling next year's sheets (locked).

    For each earlier year of the plan, the submission that counts for the department in that
    year gives its results and DO texts; a year nobody reported stays blank.
    """

    def __init__(self, archive: Archive, plan: Plan):
        self.archive, self.plan = archive, plan
        self._by_year: dict[str, dict[tuple, object]] = {}

    def _year_values(self, year) -> dict[tuple, object]:
        key = year.short
        if key not in self._by_year:
            current = self.archive.department_current(self.plan.with_year(year))
            values = {}
            for v in self.archive.values([s.id for s in current.values()]):
                if v["kind"] in ("blank", "error"):
                    continue
                # Fields with no year of their own (texts, declared fields) belong to the form's year.
                values[(v["department"], v["project"], v["field"], v["indicator_no"], v["year"] or key)] = (
                    v["value"] if v["value"] is not None else v["raw"])
            self._by_year[key] = values
        return self._by_year[key]

    def value(self, department: str, project: str, field: str, indicator: int | None, year):
        """The value a department reported for a field in an earlier year, or None."""
        return self._year_values(year).get((department, project, field, indicator, year.short))
