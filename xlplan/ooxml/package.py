"""Writing a workbook package (a zip of XML parts): copy what did not change, write what did.

A workbook that is only partly rewritten (a stamped copy of a prototype, a saved workbook with
rows spliced into some sheets) keeps every unchanged entry as it was stored, still compressed,
so it costs no decompression and no recompression; the changed parts are deflated anew, either
from bytes or streamed from chunks (a sheet of a million cells never has to be in memory).

Nothing here knows about plans: the rules are the zip format's and the package's (each part
name once; sheets found through the workbook's relationships).
"""

from __future__ import annotations

import os
import struct
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterable

from defusedxml import ElementTree as SafeET

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_ZIP32_LIMIT = 0xFFFFFFFF  # sizes and offsets of a zip without the ZIP64 extension
_CHUNK = 1 << 20
_UTF8_NAME = 0x800

_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_NS_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"


@dataclass(frozen=True)
class RawEntry:
    """One stored entry of a zip: its name and its bytes as compressed, ready to be copied."""

    name: str
    method: int
    crc: int
    size: int        # uncompressed
    raw: bytes       # compressed, as stored
    date_time: tuple[int, int, int, int, int, int]


def raw_entry(source: BinaryIO, info: zipfile.ZipInfo) -> RawEntry:
    """The entry ``info`` of the zip file ``source`` (seekable), read past its local header."""
    source.seek(info.header_offset)
    header = _LOCAL.unpack(source.read(_LOCAL.size))
    if header[0] != 0x04034B50:
        raise zipfile.BadZipFile(f"no local header for {info.filename}")
    source.seek(header[9] + header[10], 1)
    raw = source.read(info.compress_size)
    return RawEntry(info.filename, info.compress_type, info.CRC, info.file_size, raw, info.date_time)


def deflated_entry(name: str, content: bytes, date_time: tuple | None = None) -> RawEntry:
    """An entry made from ``content``, deflated once, to be copied into many packages as it is
    (a part that many workbooks share: a style sheet, a theme)."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    raw = compressor.compress(content) + compressor.flush()
    return RawEntry(name, zipfile.ZIP_DEFLATED, zlib.crc32(content), len(content), raw,
                    tuple(date_time or time.localtime()[:6]))


def raw_entries(source: BinaryIO) -> list[RawEntry]:
    """Every entry of the zip file ``source``, in stored order, still compressed."""
    with zipfile.ZipFile(source) as zf:
        infos = zf.infolist()
    return [raw_entry(source, info) for info in infos]


def _dos_time(date_time: tuple | None = None) -> tuple[int, int]:
    t = date_time or time.localtime()[:6]
    year, month, day, hour, minute, second = t
    return (hour << 11) | (minute << 5) | (second // 2), ((max(year, 1980) - 1980) << 9) | (month << 5) | day


class PackageWriter:
    """A zip written entry by entry into a binary file: raw copies, bytes, or streamed chunks.

    A part name can be written once only (a package with two parts of one name is one that
    Excel repairs). New entries are deflated at zlib's default level and carry the time given
    (now by default); copied entries keep theirs."""

    def __init__(self, out: BinaryIO, date_time: tuple | None = None):
        self.out = out
        self.date_time = date_time
        self.names: set[str] = set()
        self.central: list[bytes] = []

    def _claim(self, name: str) -> bytes:
        if name in self.names:
            raise ValueError(f"duplicate part in package: {name}")
        self.names.add(name)
        return name.encode("utf-8")

    def _entry(self, name: str, method: int, crc: int, size: int, compressed: int,
               date_time: tuple | None, header_at: int, encoded: bytes) -> tuple[int, int, int]:
        if max(size, compressed, header_at) > _ZIP32_LIMIT:
            raise ValueError(f"part too large for a workbook package: {name}")
        flags = 0 if encoded.isascii() else _UTF8_NAME
        mod_time, mod_date = _dos_time(date_time or self.date_time)
        self.central.append(_CENTRAL.pack(0x02014B50, 20, 20, flags, method, mod_time, mod_date, crc,
                                          compressed, size, len(encoded), 0, 0, 0, 0, 0, header_at)
                            + encoded)
        return flags, mod_time, mod_date

    def copy(self, entry: RawEntry) -> None:
        """Copy a stored entry as it is (no decompression)."""
        encoded = self._claim(entry.name)
        at = self.out.tell()
        flags, mod_time, mod_date = self._entry(entry.name, entry.method, entry.crc, entry.size,
                                                len(entry.raw), entry.date_time, at, encoded)
        self.out.write(_LOCAL.pack(0x04034B50, 20, flags, entry.method, mod_time, mod_date, entry.crc,
                                   len(entry.raw), entry.size, len(encoded), 0))
        self.out.write(encoded)
        self.out.write(entry.raw)

    def write(self, name: str, content: bytes) -> None:
        """A new entry holding ``content``, deflated."""
        self.write_chunks(name, [content])

    def write_chunks(self, name: str, chunks: Iterable[bytes]) -> None:
        """A new entry holding the concatenated ``chunks``, deflated as they come (the local
        header is written first and completed once the sizes are known)."""
        encoded = self._claim(name)
        at = self.out.tell()
        self.out.write(b"\0" * (_LOCAL.size + len(encoded)))
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        crc = size = compressed = 0
        for chunk in chunks:
            crc, size = zlib.crc32(chunk, crc), size + len(chunk)
            data = compressor.compress(chunk)
            compressed += len(data)
            self.out.write(data)
        data = compressor.flush()
        compressed += len(data)
        self.out.write(data)
        end = self.out.tell()
        flags, mod_time, mod_date = self._entry(name, zipfile.ZIP_DEFLATED, crc, size, compressed,
                                                None, at, encoded)
        self.out.seek(at)
        self.out.write(_LOCAL.pack(0x04034B50, 20, flags, zipfile.ZIP_DEFLATED, mod_time, mod_date, crc,
                                   compressed, size, len(encoded), 0))
        self.out.write(encoded)
        self.out.seek(end)

    def close(self) -> None:
        """Write the central directory (the zip is complete afterwards)."""
        start = self.out.tell()
        directory = b"".join(self.central)
        if start + len(directory) > _ZIP32_LIMIT or len(self.central) > 0xFFFF:
            raise ValueError("package too large")
        self.out.write(directory)
        self.out.write(_END.pack(0x06054B50, 0, 0, len(self.central), len(self.central), len(directory),
                                 start, 0))


def sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → its worksheet part (e.g. 'xl/worksheets/sheet3.xml'), found through the
    workbook's relationships, never guessed from the sheet order."""
    workbook = SafeET.fromstring(zf.read("xl/workbook.xml"))
    rels = SafeET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    return {name: part for name, part, _ in sheet_entries(workbook, rels)}


def sheet_entries(workbook, rels) -> list[tuple[str, str, str]]:
    """(name, part, state) of every sheet, in workbook order, from the parsed ``xl/workbook.xml``
    and its relationships (callers parse them, each within its own limits)."""
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iter(f"{_NS_PKG_REL}Relationship")}
    entries = []
    for sheet in workbook.iter(f"{_NS_MAIN}sheet"):
        target = targets.get(sheet.get(f"{_NS_REL}id"), "")
        part = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
        entries.append((sheet.get("name", ""), _normpath(part), sheet.get("state", "visible")))
    return entries


def _normpath(part: str) -> str:
    """A part name with '.' and '..' resolved ('xl/worksheets/../x.xml' → 'xl/x.xml')."""
    out: list[str] = []
    for piece in part.split("/"):
        if piece == "..":
            if out:
                out.pop()
        elif piece not in ("", "."):
            out.append(piece)
    return "/".join(out)


def rewrite_package(path: Path, edits: dict[str, Callable[[bytes], Iterable[bytes]]],
                    added: dict[str, Iterable[bytes]] | None = None) -> None:
    """Rewrite the package at ``path`` in place (through a temporary file beside it): the part
    named by each key of ``edits`` becomes the chunks its function gives for the part's
    bytes; every other entry is copied raw, in the stored order; the parts ``added`` (name →
    chunks; none may exist already) are written at the end, dated as the package's first."""
    if not edits and not added:
        return
    fd, name = tempfile.mkstemp(prefix=".~xlplan-splice-", suffix=".xlsx", dir=path.parent)
    os.close(fd)
    rewritten = Path(name)
    try:
        with open(path, "rb") as src, zipfile.ZipFile(src) as zf, open(rewritten, "wb") as out:
            writer = PackageWriter(out)
            pending = dict(edits)
            infos = zf.infolist()
            for info in infos:
                edit = pending.pop(info.filename, None)
                if edit is None:
                    writer.copy(raw_entry(src, info))
                else:
                    writer.date_time = info.date_time
                    writer.write_chunks(info.filename, edit(zf.read(info)))
            if pending:
                raise ValueError(f"parts not found in the package: {sorted(pending)}")
            writer.date_time = infos[0].date_time if infos else None  # the package's own date
            for name, chunks in (added or {}).items():
                writer.write_chunks(name, chunks)  # a part already there: ValueError (duplicate)
            writer.close()
        os.replace(rewritten, path)
    finally:
        rewritten.unlink(missing_ok=True)
