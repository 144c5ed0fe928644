"""Safe file output: atomic writes, names Windows accepts, and a fallback when a file is open."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Callable

from .errors import XlplanError

_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def safe_filename(text: str, limit: int = 120) -> str:
    """A file name part that Windows, macOS and Linux accept (unsafe characters become ＿)."""
    cleaned = _UNSAFE.sub("＿", str(text)).strip().rstrip(".")
    return cleaned[:limit] or "_"


class OutputLocked(XlplanError, PermissionError):
    """Neither the output nor any copy beside it could be written (output-locked)."""

    def __init__(self, path: Path):
        super().__init__("output-locked", path=path)


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Write through a temporary file in the same folder, then rename over ``path``.

    A reader never sees a half-written file. When ``path`` is locked (open in Excel on
    Windows), the file is written beside it as ``name (2).xlsx`` and that path is returned.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".~xlplan-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); give it the permissions a plain save would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        for candidate in _candidates(path):
            try:
                os.replace(tmp, candidate)
                return candidate
            except PermissionError:
                continue
        raise OutputLocked(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _candidates(path: Path):
    yield path
    for n in range(2, 10):
        yield path.with_name(f"{path.stem} ({n}){path.suffix}")
