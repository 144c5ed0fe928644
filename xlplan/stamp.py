"""Zip-level copies of one rendered workbook: how ``generate`` writes many departments fast.

Rendering a workbook with openpyxl costs a few hundred milliseconds; a prefecture sending the
same survey workbook to 1,741 municipalities would spend most of an hour on it. Departments that
get the same projects in the same layout receive workbooks that differ only in the department's
name and in the signed metadata. So ``generate`` renders such a group once, with a marker in place
of the name (a *prototype*), and writes each department's file by copying the prototype's zip
entries as they are (still compressed) and rewriting only the parts that hold the marker, plus
the metadata sheet, which is signed per department.

Nothing here knows about plans or layouts: a :class:`Prototype` is the saved workbook bytes, the
metadata with the marker in it, and the locked cells that hold the marker (so the per-row
fingerprint can be recomputed for the real name).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import secrets
import struct
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from .metadata import METADATA_SHEET, metadata_rows, row_hash
from .ooxml.text import cell_xml_text, clean_text, inline_string_cell



def new_marker() -> str:
    """A fresh marker for the recipient's name: ASCII letters and digits only, so every XML
    writer stores it as it is (openpyxl with lxml writes other characters as references), and
    random, so no plan text can contain it."""
    return _MARKER_PREFIX + secrets.token_hex(12)


_MARKER_PREFIX = "xlplanrecipient"


def is_marker(text: str | None) -> bool:
    """True for a name made by ``new_marker`` (a prototype's stand-in for its recipients)."""
    return bool(text) and text.startswith(_MARKER_PREFIX) and len(text) == len(_MARKER_PREFIX) + 24


_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")


class NotStampable(Exception):
    """The marker ended up somewhere a per-department copy cannot rewrite (a sheet name, a
    defined name): the caller renders each department in full instead."""


@dataclass
class _Entry:
    name: str
    method: int
    crc: int
    size: int
    raw: bytes                       # the compressed bytes as stored in the prototype
    pieces: list[bytes] | None = None  # the uncompressed part split at the marker, if it holds one


@dataclass
class Prototype:
    """One rendered workbook with a marker for the recipient's name, ready to be stamped."""

    marker: str
    entries: list[_Entry]
    metadata_part: str
    metadata_xml: bytes
    metadata: dict
    # (sheet, row) → the row's locked (column, value) cells, for the rows whose text holds the marker
    marked_rows: dict[tuple[str, int], list[tuple[int, object]]] = field(default_factory=dict)

    @classmethod
    def from_workbook_bytes(cls, data: bytes, marker: str, metadata: dict,
                            marked_rows: dict[tuple[str, int], list[tuple[int, object]]]) -> "Prototype":
        """Index a saved prototype (openpyxl output with ``marker`` for the name and a metadata
        sheet holding only its marker row)."""
        marker_bytes = marker.encode("ascii")
        entries = []
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            metadata_part = _sheet_part(zf, METADATA_SHEET)
            for info in zf.infolist():
                content = zf.read(info)
                if info.filename == "xl/workbook.xml" and marker_bytes in content:
                    raise NotStampable("marker in a sheet or defined name")
                pieces = content.split(marker_bytes) if marker_bytes in content else None
                entries.append(_Entry(info.filename, info.compress_type, info.CRC, info.file_size,
                                      _raw_bytes(data, info), pieces))
            metadata_xml = zf.read(metadata_part)
        return cls(marker, entries, metadata_part, metadata_xml, metadata, marked_rows)

    def stamp(self, recipient: str, key: bytes) -> bytes:
        """The workbook for ``recipient``: marker replaced, metadata fingerprinted and signed."""
        # The marker stands in cell text (shared or inline strings): the name goes there as
        # set_text would have stored it (quotes escaped too, for an attribute).
        replacement = cell_xml_text(recipient).replace('"', "&quot;").replace("'", "&apos;").encode("utf-8")
        parts: list[tuple[str, bytes | _Entry]] = []
        for entry in self.entries:
            if entry.name == self.metadata_part:
                parts.append((entry.name, self._metadata_sheet(recipient, key)))
            elif entry.pieces is not None:
                parts.append((entry.name, replacement.join(entry.pieces)))
            else:
                parts.append((entry.name, entry))
        return _write_zip(parts)

    def _metadata_sheet(self, recipient: str, key: bytes) -> bytes:
        data = _replace_marker(self.metadata, self.marker, recipient)
        data["generated_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        fingerprint = {sheet: dict(rows) for sheet, rows in data["fingerprint"].items()}
        for (sheet, row), cells in self.marked_rows.items():
            shown = clean_text(recipient)  # what a reader of the stamped cell sees
            real = [(col, v.replace(self.marker, shown) if isinstance(v, str) else v)
                    for col, v in cells]
            digest = row_hash(real)
            if digest:
                fingerprint.setdefault(sheet, {})[str(row)] = digest
            else:
                fingerprint.get(sheet, {}).pop(str(row), None)
        data["fingerprint"] = fingerprint
        return _with_rows(self.metadata_xml, metadata_rows(data, key))


def _replace_marker(value, marker: str, recipient: str):
    if isinstance(value, str):
        return value.replace(marker, recipient)
    if isinstance(value, dict):
        return {k: _replace_marker(v, marker, recipient) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_marker(v, marker, recipient) for v in value]
    return value


def _sheet_part(zf: zipfile.ZipFile, title: str) -> str:
    """The zip member of the sheet called ``title`` (workbook.xml → its relationship)."""
    workbook = zf.read("xl/workbook.xml").decode("utf-8")
    rels = zf.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    match = re.search(r'<sheet\b[^>]*\bname="' + re.escape(title) + r'"[^>]*\br:id="([^"]+)"', workbook) or \
        re.search(r'<sheet\b[^>]*\br:id="([^"]+)"[^>]*\bname="' + re.escape(title) + '"', workbook)
    if not match:
        raise NotStampable(f"no sheet {title}")
    rel = re.search(r'<Relationship\b[^>]*\bId="' + re.escape(match.group(1)) + r'"[^>]*/>', rels)
    target = re.search(r'\bTarget="([^"]+)"', rel.group(0)).group(1) if rel else ""
    return target.lstrip("/") if target.startswith("/") else "xl/" + target


def _raw_bytes(data: bytes, info: zipfile.ZipInfo) -> bytes:
    """The entry's compressed bytes, read past its local header."""
    header = _LOCAL.unpack_from(data, info.header_offset)
    start = info.header_offset + _LOCAL.size + header[9] + header[10]
    return data[start:start + info.compress_size]


def _cell_xml(ref: str, value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<c r="{ref}"><v>{value}</v></c>'
    return inline_string_cell(ref, str(value))


def _with_rows(sheet_xml: bytes, rows: list[list]) -> bytes:
    """The sheet XML with its cells replaced by ``rows`` (inline strings, starting at A1)."""
    body = "".join(
        f'<row r="{r}">' + "".join(_cell_xml(f"{chr(65 + c)}{r}", v) for c, v in enumerate(row)) + "</row>"
        for r, row in enumerate(rows, start=1))
    text = sheet_xml.decode("utf-8")
    text, found = re.subn(r"<sheetData\s*/>|<sheetData>.*?</sheetData>",
                          lambda _: f"<sheetData>{body}</sheetData>", text, count=1, flags=re.S)
    if not found:
        raise NotStampable("metadata sheet without sheetData")
    text = re.sub(r'<dimension ref="[^"]*"\s*/>', f'<dimension ref="A1:B{len(rows)}"/>', text, count=1)
    return text.encode("utf-8")


def _dos_time() -> tuple[int, int]:
    t = time.localtime()
    return ((t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2),
            ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday)


def _write_zip(parts: list[tuple[str, bytes | _Entry]]) -> bytes:
    """A zip archive: entries copied compressed as they are, new content deflated."""
    out = io.BytesIO()
    central = []
    mod_time, mod_date = _dos_time()
    for name, content in parts:
        if isinstance(content, _Entry):
            method, crc, size, raw = content.method, content.crc, content.size, content.raw
        else:
            compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
            method, crc, size = zipfile.ZIP_DEFLATED, zlib.crc32(content), len(content)
            raw = compressor.compress(content) + compressor.flush()
        encoded = name.encode("utf-8")
        flags = 0x800 if not encoded.isascii() else 0
        offset = out.tell()
        out.write(_LOCAL.pack(0x04034B50, 20, flags, method, mod_time, mod_date, crc, len(raw), size,
                              len(encoded), 0))
        out.write(encoded)
        out.write(raw)
        central.append(_CENTRAL.pack(0x02014B50, 20, 20, flags, method, mod_time, mod_date, crc, len(raw),
                                     size, len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
    start = out.tell()
    directory = b"".join(central)
    out.write(directory)
    out.write(_END.pack(0x06054B50, 0, 0, len(central), len(central), len(directory), start, 0))
    return out.getvalue()
