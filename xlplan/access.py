"""One rule for an inbox file that cannot be opened or read, for ``check``, ``collect`` and the
panel alike: which finding it is, and in what words.

A file the operating system refuses (permission denied), one removed before it could be read,
one that fails with a read error: ``file-inaccessible`` (error; the coordinator fixes the access
and runs again — the department need not send anything). A file another program holds open for
writing (Windows' sharing or lock violation): ``file-changing``, read by the next collect.
"""

from __future__ import annotations

from pathlib import Path

from .findings import Finding

# Windows: another program (a mail client, a sync tool) has the file open for writing
# (ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION): being written, not forbidden.
_BEING_WRITTEN = (32, 33)


class NotRegularFile(OSError):
    """The path turned out not to be a regular file when it was opened (replaced meanwhile)."""


def access_problem(path: Path | str, error: BaseException | None) -> Finding:
    """The finding for ``path`` that could not be opened or read because of ``error``."""
    path = Path(path)
    if getattr(error, "winerror", None) in _BEING_WRITTEN:
        return Finding("file-changing", file=path.name, value=str(path))
    return Finding("file-inaccessible", file=path.name, value=str(path), **_reason(error))


def _reason(error: BaseException | None) -> dict:
    """detail and detail_en of an OS error opening or reading a file."""
    if isinstance(error, PermissionError):
        return dict(detail="アクセスが拒否されました", detail_en="permission denied")
    if isinstance(error, FileNotFoundError):
        return dict(detail="読み取る前に削除されました", detail_en="it was removed before it could be read")
    if isinstance(error, NotRegularFile):
        return dict(detail="通常のファイルではなくなっていました", detail_en="it was no longer a regular file")
    text = getattr(error, "strerror", None) or str(error or "")
    return dict(detail=f"読み取りエラー: {text}", detail_en=f"read error: {text}")
