"""The collect use case: inbox → take in → read → check → record (and ``recheck``).

Every file the inbox rule admits (``xlplan.inbox``) is copied into the archive while it is
hashed (``Archive.take_in``: the file is read once, and refused as ``file-changing`` when it
changed meanwhile); content seen before, in the archive or earlier in the batch, is only noted
as a sighting. The new copies are then read — in child processes, several for a large batch
(``xlplan.check.check_many``: each file is checked in the process that read it), or by a
``reader`` such as ``xlplan.cluster.dask_reader`` (then checked here) — and each is recorded in
its own transaction, so an interrupted run leaves the archive consistent and running collect
again completes it. One run at a time per project (the archive's ``lock``).

Storage (files and database) is :class:`xlplan.archive.Archive`; this module holds no
database connection of its own. The take-in, and each group of results recorded, run in one
``Archive.session`` (one connection reused, one transaction per operation), opened and
closed between pulls from the reading generator: the reading processes start inside a pull,
so none is open while they start.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

from .access import access_problem
from .archive import Archive, FileChanging, SourceUnreadable, Submission, utc_now
from .check import CheckContext, Checked, FileFacts, ProcessReader, Reader, check_many, template_versions
from .findings import Finding
from .language import ordinal
from .inbox import scan_inbox
from .plan import Plan
from .progress import ProgressCallback
from .read import Limits
from .settings import Settings


@dataclass
class CollectSummary:
    """What one collect run did: submissions recorded, names of files whose content was
    recorded before, how many files were read, the notices on files not recorded (file-skipped,
    file-changing, file-inaccessible), and submissions whose damaged or missing archived copy
    was replaced by the same content arriving again (and which were read again)."""

    new: list[Submission]
    known: list[str]
    total_files: int
    notices: list[Finding] = field(default_factory=list)
    repaired: list[Submission] = field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        """Whether a recorded workbook has errors, or a workbook could not be opened."""
        return any(s.errors for s in self.new) or any(f.severity == "error" for f in self.notices)


@dataclass
class _Pending:
    """A file taken in whose content is new for the year: to be read and recorded."""

    path: Path
    sha256: str
    size: int
    archived: Path
    mtime: str | None


def collect(archive: Archive, inbox: Iterable[Path | str], settings: Settings, plan: Plan,
            limits: Limits = Limits(), progress=None, workers: int | None = None,
            reader: Reader | None = None) -> CollectSummary:
    """Archive, read, check and record every file of the inbox for the plan's year.

    First every file is copied into the archive while it is hashed (content seen before,
    in the database or earlier in this batch, is only noted as a sighting; a file that
    changed while it was read, or that cannot be opened, gets a notice and is left for
    the next run); then the new copies are read — across processes for a large batch —
    and each is checked and recorded in its own transaction as its result arrives. A
    recorded submission whose archived copy is missing or does not match its hash gets
    the copy that just arrived and is read again.

    Links, special files and cover letters are not read (``xlplan.inbox``).

    ``reader(paths, key, limits)`` replaces the reading step (it must yield one ``Returned``
    per path, in order): ``xlplan.cluster.dask_reader`` reads on a Dask cluster, while
    checking and the database step stay here.
    """
    with archive.lock:
        scan = scan_inbox(inbox)
        summary = CollectSummary([], [], len(scan.files), list(scan.skipped))
        with archive.session():  # no reading process runs yet
            pending, reread = _take_in_all(archive, scan.files, plan.year.short, summary)
        copies = [p.archived for p in pending] + [archive.root / s.archived_path for s in reread]
        # A new file's collection time is the moment it is checked (in its reading process, or
        # here for a reader of the caller's): after it was taken in, seconds before it is
        # recorded, and the same time its last-saved time was checked against. A file read
        # again keeps the time it was first collected.
        times = [None] * len(pending) + [s.collected_at for s in reread]
        context = CheckContext(plan, settings, template_versions(settings), clock=utc_now)
        # Without a callback of the caller's, a bar on the terminal (tqdm; see xlplan.progress).
        report = progress or ProgressCallback("回収・チェック", "collecting")
        results = check_many(reader or ProcessReader(workers), copies, settings.key_bytes, limits,
                             context, times)
        for group in _groups(enumerate(results, start=1)):
            with archive.session():
                for index, checked in group:
                    if index <= len(pending):
                        item = pending[index - 1]
                        report(index, len(copies), item.path)
                        summary.new.append(_record_new(archive, item, checked, plan.year.short))
                    else:
                        old = reread[index - len(pending) - 1]
                        report(index, len(copies), Path(old.original_name))
                        summary.repaired.append(_replace_results(archive, old, checked))
        if isinstance(report, ProgressCallback):
            report.close()
        return summary


GROUP = 8  # results recorded in one session of the archive (each file in its own transaction)

T = TypeVar("T")


def _groups(results: Iterable[T], size: int = GROUP) -> Iterator[list[T]]:
    """The results in lists of up to ``size``, each pulled whole before the caller uses it: a
    reading process may start during a pull, so the caller opens the archive's session only
    between pulls. When the reading stops with an exception (a cluster gone, Ctrl-C), the
    results that arrived before it are still given, then the exception is raised."""
    results = iter(results)
    while True:
        group: list[T] = []
        try:
            group.extend(islice(results, size))
        except BaseException:
            if group:
                yield group  # recorded before the run stops: every file that arrived counts
            raise
        if not group:
            return
        yield group


def _take_in_all(archive: Archive, files: list[Path], year: str,
                 summary: CollectSummary) -> tuple[list[_Pending], list[Submission]]:
    """Take every inbox file into the archive: the new contents to read and record, and the
    recorded submissions whose missing or damaged copy the same content just replaced (to read
    again). Known contents are noted as sightings; notices go into ``summary``."""
    pending: list[_Pending] = []
    reread: list[Submission] = []
    batch: set[str] = set()
    for path in files:
        taken = _take_in_or_notice(archive, path, summary.notices)
        if taken is None:
            continue
        size, sha, tmp, mtime = taken
        recorded = archive.recorded(sha, year)
        if recorded is not None or sha in batch:
            archive.add_sighting(sha, year, path)
            summary.known.append(path.name)
        if sha in batch:
            tmp.unlink()
            continue
        # The copy goes where the archive keeps this content (a content first sent in another
        # year keeps its place); one that is missing or damaged is replaced.
        archived = archive.archived_path(sha) or archive.target(sha, path.suffix)
        repaired = archive.place(tmp, archived, sha)
        if recorded is not None:
            if repaired:
                reread.append(recorded)
            continue
        batch.add(sha)
        pending.append(_Pending(path, sha, size, archived, mtime))
    return pending, reread


def _take_in_or_notice(archive: Archive, path: Path, notices: list[Finding]):
    """``Archive.take_in``, with the file's modification time; None (and a notice) when the
    file changed while it was read or cannot be opened: the batch goes on."""
    try:
        size, sha, tmp = archive.take_in(path)
    except FileChanging:
        notices.append(Finding("file-changing", file=path.name, value=str(path)))
        return None
    except SourceUnreadable as exc:  # the one rule check and the panel follow too
        notices.append(access_problem(path, exc.__cause__))
        return None
    try:
        mtime = dt.datetime.fromtimestamp(os.stat(path, follow_symlinks=False).st_mtime,
                                          dt.timezone.utc).isoformat(timespec="seconds")
    except OSError:
        mtime = None
    return size, sha, tmp, mtime


def _record_new(archive: Archive, item: _Pending, checked: Checked, year: str) -> Submission:
    """Record a new file's checked copy (one transaction)."""
    findings, facts = _findings_as_sent(archive, checked, item.path, year)
    return archive.record(item.path, item.sha256, item.size, item.archived, year, facts,
                          findings, checked.values, item.mtime, checked.collected_at)


def recheck(archive: Archive, settings: Settings, plan: Plan, limits: Limits = Limits(),
            progress=None, workers: int | None = None, reader: Reader | None = None) -> list[Submission]:
    """Read and check again every file recorded for the plan's year, against the plan and
    settings as they are now, and replace each file's record in place (its findings,
    values, department and status; when and under which name it came in are kept).

    For after the coordinator fixed the master (a department that was missing, a target),
    or after a file was recorded unreadable because its reading process died. The
    archived copies are read; nothing in the archive changes. One transaction per file,
    as in ``collect``. A copy that is missing or does not match its hash is not read
    (``Archive.verify_copies`` lists them)."""
    with archive.lock:
        year = plan.year.short
        # A copy removed from the archive by hand, or damaged, cannot be read again: its
        # record stays (``verify_copies`` lists them).
        missing = {s.id for s, _ in archive.verify_copies(year)}
        recorded = [s for s in archive.submissions(year) if s.id not in missing]
        context = CheckContext(plan, settings, template_versions(settings))
        report = progress or ProgressCallback("再チェック", "rechecking")
        results = check_many(reader or ProcessReader(workers), [archive.root / s.archived_path for s in recorded],
                             settings.key_bytes, limits, context, [s.collected_at for s in recorded])
        done = []
        for group in _groups(enumerate(zip(recorded, results), start=1)):
            with archive.session():
                for index, (old, checked) in group:
                    report(index, len(recorded), Path(old.original_name))
                    done.append(_replace_results(archive, old, checked))
        if isinstance(report, ProgressCallback):
            report.close()
        return done


def _replace_results(archive: Archive, old: Submission, checked: Checked) -> Submission:
    """Replace a submission's record in place with what checking its copy again found
    (findings, values, department and status; when and under which name it came in are kept)."""
    findings, facts = _findings_as_sent(archive, checked, Path(old.source_path), old.year, before=old.id)
    return archive.replace_results(old.id, facts, findings, checked.values)


def _findings_as_sent(archive: Archive, checked: Checked, path: Path, year: str,
                      before: int | None = None) -> tuple[list[Finding], FileFacts]:
    """The findings of a checked archived copy named as the file the department sent
    (``path``), with what only the archive knows (a committee member's earlier forms)."""
    checked.as_sent(path)
    findings = checked.findings + _duplicate_member(archive, checked.facts, year, path, before)
    return findings, checked.facts


def _duplicate_member(archive: Archive, facts: FileFacts, year: str, path: Path,
                      before: int | None = None) -> list[Finding]:
    """A committee member who already sent a form this year: say so (the newest counts).
    ``before``: count only submissions recorded before this one (a recheck)."""
    if not facts.readable or not facts.is_scoring:
        return []
    earlier = archive.scoring_forms_before(year, str(facts.member), before)
    if not earlier:
        return []
    return [Finding("duplicate-member-submission", file=path.name, department=facts.department,
                    detail=f"{earlier + 1} 件目", detail_en=f"the {ordinal(earlier + 1)}")]
