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
import zipfile
from dataclasses import dataclass, field, replace

from .metadata import METADATA_SHEET, metadata_rows, row_hash
from .ooxml.package import PackageWriter, RawEntry, raw_entry, sheet_parts
from .ooxml.text import cell_xml_text, clean_text, inline_string_cell
from .schema import WorkbookMetadata


def new_marker() -> str:
    """A fresh marker for the recipient's name: ASCII letters and digits only, so every XML
    writer stores it as it is (openpyxl with lxml writes other characters as references), and
    random, so no plan text can contain it."""
    return _MARKER_PREFIX + secrets.token_hex(12)


_MARKER_PREFIX = "xlplanrecipient"


def is_marker(text: str | None) -> bool:
    """True for a name made by ``new_marker`` (a prototype's stand-in for its recipients)."""
    return bool(text) and text.startswith(_MARKER_PREFIX) and len(text) == len(_MARKER_PREFIX) + 24


class NotStampable(Exception):
    """The marker ended up somewhere a per-department copy cannot rewrite (a sheet name, a
    defined name): the caller renders each department in full instead."""


@dataclass
class _Entry:
    stored: RawEntry                   # the entry as stored in the prototype (copied raw)
    pieces: list[bytes] | None = None  # the uncompressed part split at the marker, if it holds one

    @property
    def name(self) -> str:
        """The part name."""
        return self.stored.name


@dataclass
class Prototype:
    """One rendered workbook with a marker for the recipient's name, ready to be stamped."""

    marker: str
    entries: list[_Entry]
    metadata_part: str
    metadata_xml: bytes
    metadata: WorkbookMetadata
    # (sheet, row) → the row's locked (column, value) cells, for the rows whose text holds the marker
    marked_rows: dict[tuple[str, int], list[tuple[int, object]]] = field(default_factory=dict)

    @classmethod
    def from_workbook_bytes(cls, data: bytes, marker: str, metadata: WorkbookMetadata,
                            marked_rows: dict[tuple[str, int], list[tuple[int, object]]]) -> "Prototype":
        """Index a saved prototype (openpyxl output with ``marker`` for the name and a metadata
        sheet holding only its marker row)."""
        marker_bytes = marker.encode("ascii")
        entries = []
        source = io.BytesIO(data)
        with zipfile.ZipFile(source) as zf:
            metadata_part = _sheet_part(zf, METADATA_SHEET)
            for info in zf.infolist():
                content = zf.read(info)
                if info.filename == "xl/workbook.xml" and marker_bytes in content:
                    raise NotStampable("marker in a sheet or defined name")
                pieces = content.split(marker_bytes) if marker_bytes in content else None
                entries.append(_Entry(raw_entry(source, info), pieces))
            metadata_xml = zf.read(metadata_part)
        return cls(marker, entries, metadata_part, metadata_xml, metadata, marked_rows)

    def stamp(self, recipient: str, key: bytes) -> bytes:
        """The workbook for ``recipient``: marker replaced, metadata fingerprinted and signed."""
        # The marker stands in cell text (shared or inline strings): the name goes there as
        # set_text would have stored it (quotes escaped too, for an attribute).
        replacement = cell_xml_text(recipient).replace('"', "&quot;").replace("'", "&apos;").encode("utf-8")
        out = io.BytesIO()
        writer = PackageWriter(out)
        for entry in self.entries:
            if entry.name == self.metadata_part:
                writer.write(entry.name, self._metadata_sheet(recipient, key))
            elif entry.pieces is not None:
                writer.write(entry.name, replacement.join(entry.pieces))
            else:
                writer.copy(entry.stored)  # unchanged: copied as stored, still compressed
        writer.close()
        return out.getvalue()

    def _metadata_sheet(self, recipient: str, key: bytes) -> bytes:
        data = self.metadata.with_text_replaced(self.marker, recipient)
        fingerprint = {sheet: dict(rows) for sheet, rows in data.fingerprint.items()}
        for (sheet, row), cells in self.marked_rows.items():
            shown = clean_text(recipient)  # what a reader of the stamped cell sees
            real = [(col, v.replace(self.marker, shown) if isinstance(v, str) else v)
                    for col, v in cells]
            digest = row_hash(real)
            if digest:
                fingerprint.setdefault(sheet, {})[str(row)] = digest
            else:
                fingerprint.get(sheet, {}).pop(str(row), None)
        data = replace(data, fingerprint=fingerprint,
                       generated_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
        return _with_rows(self.metadata_xml, metadata_rows(data.to_dict(), key))


def _sheet_part(zf: zipfile.ZipFile, title: str) -> str:
    """The zip member of the sheet called ``title`` (workbook.xml → its relationship)."""
    part = sheet_parts(zf).get(title)
    if not part:
        raise NotStampable(f"no sheet {title}")
    return part


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
