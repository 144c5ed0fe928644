"""One run at a time per project, and the leftovers of runs that were killed.

collect, recheck, choose, merge, feedback and generate-scoring take the project's lock
(``xlplan.lock`` beside xlplan.toml) for as long as they run: a second run waits up to
``[run] lock_wait_seconds`` (default 60) and then stops with a message. The lock is the
operating system's (``filelock``: fcntl on Linux and macOS, msvcrt on Windows), so a run that
was killed never leaves a stale lock behind.

Whoever takes the lock first removes the temporary files that killed runs left (only names
xlplan itself gives them, and only older than ``LEFTOVER_AGE``): no run can still be writing
them, because every run that writes them holds the lock.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import XlplanError

LOCK_NAME = "xlplan.lock"
LEFTOVER_AGE = 10 * 60  # seconds
# Folders of a project where runs write temporary files (see files.atomic_write, merge's row
# files, Archive's incoming copies), relative to the project folder.
_WORK_FOLDERS = ("集計", "差し戻し", "配布", "配布/中間評価", "archive/.incoming")


class ProjectBusy(XlplanError):
    """Another run holds the project's lock and did not finish in time."""


class ProjectLock:
    """The lock of one project folder; re-entrant (a run that holds it may take it again)."""

    def __init__(self, project_dir: Path, wait: float = 60.0):
        self.project_dir = Path(project_dir)
        self.path = self.project_dir / LOCK_NAME
        self.wait = wait
        self._lock = FileLock(str(self.path))
        self._depth = 0

    def __enter__(self) -> "ProjectLock":
        self.project_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=self.wait)
        except Timeout:
            raise ProjectBusy("project-busy", seconds=self.wait, lock=self.path) from None
        self._depth += 1
        if self._depth == 1:
            remove_leftovers([self.project_dir / f for f in _WORK_FOLDERS] + _archive_folders(self.project_dir))
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        self._lock.release()

    @property
    def held(self) -> bool:
        """Whether this process holds the lock now."""
        return self._depth > 0


def is_leftover(name: str) -> bool:
    """A temporary file name that only xlplan gives: ``.~xlplan-…`` (atomic writes, the
    merge's row and splice files) and ``….part`` (archive copies being made)."""
    return name.startswith(".~xlplan-") or (name.endswith(".part") and name.startswith("."))


def remove_leftovers(folders, older_than: float = LEFTOVER_AGE) -> list[Path]:
    """Delete xlplan's own temporary files older than ``older_than`` seconds in ``folders``
    (not below them); call only while holding the project's lock. Returns what was removed."""
    removed = []
    limit = time.time() - older_than
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if (is_leftover(entry.name) and entry.is_file(follow_symlinks=False)
                        and entry.stat(follow_symlinks=False).st_mtime < limit):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
            except OSError:
                continue  # gone meanwhile, or not ours to remove: leave it
    return removed


def _archive_folders(project_dir: Path) -> list[Path]:
    # Copies of killed runs of earlier versions were made beside their target (archive/ab/).
    archive = project_dir / "archive"
    try:
        return [Path(e.path) for e in os.scandir(archive) if len(e.name) == 2 and e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
