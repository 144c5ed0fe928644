"""The collect use case: inbox → take in → read → check → record (and ``recheck``).

Every file the inbox rule admits (``xlplan.inbox``) is copied into the archive while it is
hashed (``Archive.take_in``: the file is read once, and refused as ``file-changing`` when it
changed meanwhile); content seen before, in the archive or earlier in the batch, is only noted
as a sighting. The new copies are then read — in child processes, several for a large batch
(``xlplan.check.read_many``), or by a ``reader`` such as ``xlplan.cluster.dask_reader`` — and
each is checked and recorded in its own transaction as its result arrives, so an interrupted
run leaves the archive consistent and running collect again completes it. One run at a time
per project (the archive's ``lock``).

Storage (files and database) is :class:`xlplan.archive.Archive`; this module holds no
database connection of its own: each storage call opens and closes one, so none is open
while the reading processes start.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .access import access_problem
from .archive import Archive, FileChanging, SourceUnreadable, Submission, utc_now
from .check import Reader, check_returned, read_with, template_versions
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
        pending, reread = _take_in_all(archive, scan.files, plan.year.short, summary)
        copies = [p.archived for p in pending] + [archive.root / s.archived_path for s in reread]
        versions = template_versions(settings)
        # Without a callback of the caller's, a bar on the terminal (tqdm; see xlplan.progress).
        report = progress or ProgressCallback("回収・チェック", "collecting")
        results = read_with(reader, copies, settings.key_bytes, limits, workers)
        for index, returned in enumerate(results, start=1):
            if index <= len(pending):
                item = pending[index - 1]
                report(index, len(copies), item.path)
                summary.new.append(_record_new(archive, item, returned, plan, settings, versions))
            else:
                old = reread[index - len(pending) - 1]
                report(index, len(copies), Path(old.original_name))
                summary.repaired.append(_replace_results(archive, old, returned, plan, settings, versions))
        if isinstance(report, ProgressCallback):
            report.close()
        return summary


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


def _record_new(archive: Archive, item: _Pending, returned, plan: Plan, settings: Settings,
                versions) -> Submission:
    """Check a new file's read copy and record it (one transaction)."""
    collected_at = utc_now()
    findings, values = _check(archive, returned, item.path, plan, settings, versions,
                              collected_at=collected_at)
    return archive.record(item.path, item.sha256, item.size, item.archived, plan.year.short,
                          returned, findings, values, item.mtime, collected_at)


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
        versions = template_versions(settings)
        report = progress or ProgressCallback("再チェック", "rechecking")
        results = read_with(reader, [archive.root / s.archived_path for s in recorded],
                            settings.key_bytes, limits, workers)
        done = []
        for index, (old, returned) in enumerate(zip(recorded, results), start=1):
            report(index, len(recorded), Path(old.original_name))
            done.append(_replace_results(archive, old, returned, plan, settings, versions))
        if isinstance(report, ProgressCallback):
            report.close()
        return done


def _replace_results(archive: Archive, old: Submission, returned, plan: Plan, settings: Settings,
                     versions) -> Submission:
    """Check a copy read again and replace its submission's record in place (findings,
    values, department and status; when and under which name it came in are kept)."""
    findings, values = _check(archive, returned, Path(old.source_path), plan, settings, versions,
                              before=old.id, collected_at=old.collected_at)
    return archive.replace_results(old.id, returned, findings, values)


def _check(archive: Archive, returned, path: Path, plan: Plan, settings: Settings, versions,
           before: int | None = None, collected_at: str | None = None) -> tuple[list[Finding], list[dict]]:
    """Findings and values of a read archived copy, which findings name as the file the
    department sent (``path``): what we keep is what we checked."""
    returned.path = path
    for f in returned.findings:
        f.file = path.name
    findings, values = check_returned(returned, plan, settings, versions, collected_at)
    findings += _duplicate_member(archive, returned, plan.year.short, path, before)
    return findings, values


def _duplicate_member(archive: Archive, returned, year: str, path: Path,
                      before: int | None = None) -> list[Finding]:
    """A committee member who already sent a form this year: say so (the newest counts).
    ``before``: count only submissions recorded before this one (a recheck)."""
    meta = returned.metadata
    if not returned.readable or not meta.is_scoring:
        return []
    earlier = archive.scoring_forms_before(year, str(meta.member), before)
    if not earlier:
        return []
    return [Finding("duplicate-member-submission", file=path.name, department=returned.department,
                    detail=f"{earlier + 1} 件目", detail_en=f"the {ordinal(earlier + 1)}")]
