"""Which files of an inbox xlplan reads: one rule for ``check`` and ``collect``.

Read: regular files inside the folders named (sub-folders too), and regular files named.
Never opened, and listed as 対象外 (a ``file-skipped`` notice, severity info, with the reason):
links (symbolic links, Windows shortcuts), FIFOs, devices, sockets, files that resolve outside
the folder named, and documents sent beside the workbooks (cover letters: .txt, .docx, .pdf,
mail .msg …). Skipped without a word: hidden files and folders (names starting with ``.``,
which covers xlplan's own temporary files), Excel's lock files (``~$…``), and the files
Windows and macOS leave in folders (Thumbs.db, desktop.ini).

A document is judged by its name *and* its content: a ``.docx`` whose bytes are an Excel
workbook is a workbook (renamed by mistake) and is read. Anything else that is not a document
is meant as a workbook: a .xls, .ods, .xlsb, broken, encrypted or foreign file stays an error,
because the department must send it again.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .findings import Finding
from .read import sniff

# Files the system or Excel leaves in folders: not sent by anyone, not worth a line.
_SYSTEM_FILES = {"thumbs.db", "desktop.ini", "ehthumbs.db", "icon\r"}
# Documents people send with a workbook; not workbooks unless their content says so.
DOCUMENT_SUFFIXES = {".txt", ".doc", ".docx", ".docm", ".rtf", ".odt", ".pdf", ".msg", ".eml",
                     ".htm", ".html", ".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff",
                     ".heic", ".ppt", ".pptx", ".odp"}
_SHORTCUT_SUFFIXES = {".lnk", ".url"}

_REASONS = {
    "link": ("リンク（ショートカット）です。リンク先のファイルそのものを回収フォルダに置いてください",
             "a link (shortcut); put the file itself into the inbox"),
    "outside": ("回収フォルダの外にあるファイルを指しています", "it resolves to a file outside the inbox"),
    "fifo": ("通常のファイルではありません（名前付きパイプ）", "not a regular file (a named pipe)"),
    "device": ("通常のファイルではありません（デバイス）", "not a regular file (a device)"),
    "socket": ("通常のファイルではありません（ソケット）", "not a regular file (a socket)"),
    "special": ("通常のファイルではありません", "not a regular file"),
    "document": ("Excel ブックではない書類（送付状など）です", "a document that is not a workbook (a cover letter or the like)"),
    "unreachable": ("フォルダの中を読み取れません", "the folder cannot be listed"),
}


@dataclass
class Inbox:
    """The files to read, and the files left alone with the reason (``file-skipped``)."""

    files: list[Path] = field(default_factory=list)
    skipped: list[Finding] = field(default_factory=list)

    def skip(self, path: Path, reason: str, extra: str = "") -> None:
        """List ``path`` as 対象外 for ``reason`` (a key of _REASONS)."""
        ja, en = _REASONS[reason]
        self.skipped.append(Finding("file-skipped", file=path.name, value=str(path),
                                    detail=ja + extra, detail_en=en + extra))


def scan_inbox(inputs: Iterable[Path | str]) -> Inbox:
    """The files of ``inputs`` (files and folders) that xlplan reads, in a stable order, and
    the ones it leaves alone (see the module's docstring). Nothing is opened but the head of
    a regular file named like a document."""
    inbox = Inbox()
    for item in inputs:
        item = Path(item)
        # A folder the user named is taken as it is (it may be a mounted or linked share);
        # everything inside it is judged without following links. Files named are read in
        # the order given, a folder's files in the order of their paths.
        if item.is_dir():
            found = Inbox()
            _walk(item, Path(os.path.realpath(item)), found)
            inbox.files += sorted(found.files)
            inbox.skipped += found.skipped
        else:
            _judge(item, Path(os.path.realpath(item.parent)), inbox)
    return inbox


def _silent(name: str) -> bool:
    return name.startswith((".", "~$")) or name.lower() in _SYSTEM_FILES


def _walk(folder: Path, root: Path, inbox: Inbox) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        inbox.skip(folder, "unreachable", f"（{exc.strerror or exc}）")
        return
    for entry in entries:
        if _silent(entry.name):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False) and not _is_junction(entry):
            _walk(path, root, inbox)
        else:
            _judge(path, root, inbox)


def _is_junction(entry: os.DirEntry) -> bool:
    # A Windows junction is a link to a folder that is_symlink does not see (before 3.12).
    is_junction = getattr(entry, "is_junction", None)
    return bool(is_junction and is_junction())


def _judge(path: Path, root: Path, inbox: Inbox) -> None:
    """Read ``path``, skip it silently, or list it as 対象外."""
    if _silent(path.name):
        return
    try:
        info = os.lstat(path)
    except OSError:
        inbox.files.append(path)  # gone or unreadable: collect and check report it per file
        return
    kind = _special_kind(info.st_mode)
    if kind:
        inbox.skip(path, kind)
    elif path.suffix.lower() in _SHORTCUT_SUFFIXES:
        inbox.skip(path, "link")
    elif not _inside(path, root):
        inbox.skip(path, "outside")
    elif path.suffix.lower() in DOCUMENT_SUFFIXES and not _is_workbook(path):
        inbox.skip(path, "document")
    else:
        inbox.files.append(path)


def _special_kind(mode: int) -> str:
    """'' for a regular file, else why it is not read."""
    if stat.S_ISREG(mode):
        return ""
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special"


def _inside(path: Path, root: Path) -> bool:
    """Whether the file really lies under ``root`` (a linked folder on the way would not)."""
    try:
        Path(os.path.realpath(path)).relative_to(root)
        return True
    except ValueError:
        return False


def _is_workbook(path: Path) -> bool:
    """A document-named file whose bytes are an Excel workbook (renamed by mistake)."""
    try:
        return sniff(path) == "xlsx"
    except OSError:
        return False


def collect_paths(inputs: Iterable[Path | str]) -> list[Path]:
    """The files ``check`` and ``collect`` read from ``inputs`` (see ``scan_inbox``)."""
    return scan_inbox(inputs).files
