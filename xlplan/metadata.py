"""Hidden, signed metadata that lets xlplan recognise a returned workbook.

Every generated workbook carries a very hidden sheet ``_xlplan``:

    A1 "xlplan-metadata"   B1 format version
    A2 "signature"         B2 HMAC-SHA256 (hex) of the JSON below, with the coordinator's key
    A3.. "data"            B3.. the JSON, split into chunks (a cell holds at most 32,767 chars)

The JSON names the plan, layout and version, year, department, every input field with its
defined name and cell, and a fingerprint of the locked content (a hash per row of every sheet),
so the reader can tell a forged file, another department's file or an edited layout. What the
JSON holds is typed in ``xlplan.schema``; this module signs and stores it, and signs exactly
what is stored (the JSON as read), so files written by earlier versions keep verifying.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from functools import lru_cache

from .ooxml.text import set_text
from .schema import WorkbookMetadata

METADATA_SHEET = "_xlplan"
MARKER = "xlplan-metadata"
FORMAT_VERSION = 1
_CHUNK = 30000


def canonical_json(data: dict) -> str:
    """Deterministic JSON (sorted keys, no spaces) that signing and verifying agree on.

    The characters a worksheet cannot hold that JSON leaves as they are (U+FFFE, U+FFFF, lone
    surrogates) are written as JSON escapes: the metadata cell then stores exactly the signed
    text (the cell writer would replace them, and the signature would no longer match)."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return _UNSTORABLE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_UNSTORABLE_IN_JSON = re.compile("[\ufffe\uffff\ud800-\udfff]")


def sign(data: dict, key: bytes) -> str:
    """HMAC-SHA256 of the canonical JSON, hex."""
    return _sign_text(canonical_json(data), key)


def _sign_text(text: str, key: bytes) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def verify(data: dict, signature: str, key: bytes) -> bool:
    """True when the signature matches (constant-time comparison)."""
    return same_signature(sign(data, key), signature)


def same_signature(expected: str, signature) -> bool:
    """True when ``signature`` (as read, of any type) is ``expected`` (constant-time)."""
    # As bytes: compare_digest refuses str with non-ASCII characters, which a damaged or
    # forged signature cell can hold.
    return hmac.compare_digest(expected.encode(), str(signature or "").encode("utf-8"))


def canonical_value(value) -> str:
    """One cell value as the fingerprint sees it, whichever engine read it.

    openpyxl gives 30 where calamine gives 30.0, a date may come back as a datetime, and an
    application may save a string as a number: all are reduced to one text form.
    """
    if type(value) is str:  # most cells: text first
        return value.replace("\r\n", "\n").strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).replace("\r\n", "\n").strip()
    return text


def row_hash(cells: list[tuple[int, object]]) -> str:
    """Short hash of one row's locked content: (column, value) pairs, blanks ignored."""
    if all(type(v) is str for _, v in cells) and sum(len(v) for _, v in cells) <= 1024:
        # Headings recur in every file of a form: their hash is remembered. (Only short rows
        # of text: as keys, 1, 1.0 and True are one, but their texts differ.)
        return _text_row_hash(tuple(cells))
    return _row_hash(cells)


@lru_cache(maxsize=2048)  # a form's rows, in every file, stay; one file's own rows pass through
def _text_row_hash(cells: tuple[tuple[int, str], ...]) -> str:
    return _row_hash(cells)


def _row_hash(cells) -> str:
    parts = [f"{col}:{text}" for col, v in sorted(cells) if (text := canonical_value(v)) != ""]
    if not parts:
        return ""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:12]


def metadata_rows(data: dict, key: bytes) -> list[list]:
    """The metadata sheet's rows (label, value), signed with ``key``."""
    return _signed_rows(canonical_json(data), key)


def _signed_rows(text: str, key: bytes) -> list[list]:
    return [[MARKER, FORMAT_VERSION], ["signature", _sign_text(text, key)]] + [
        ["data", text[i:i + _CHUNK]] for i in range(0, max(len(text), 1), _CHUNK)]


def write_metadata_sheet(wb, metadata: WorkbookMetadata | None, key: bytes) -> None:
    """Add the very hidden metadata sheet to an openpyxl workbook, signed with ``key``.

    ``metadata=None`` writes the marker row only (a prototype that ``stamp`` signs per copy)."""
    ws = wb.create_sheet(METADATA_SHEET)
    ws.sheet_state = "veryHidden"
    rows = metadata_rows(metadata.to_dict(), key) if metadata is not None else [[MARKER, FORMAT_VERSION]]
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            # A chunk of the JSON is text even when it starts with "=" or holds "_x0041_".
            set_text(ws.cell(r, c), value)
    ws.protection.sheet = True


class MetadataError(Exception):
    """The metadata sheet is missing or cannot be parsed."""


def parse_metadata_rows(rows: list[list]) -> tuple[dict, str]:
    """(data, signature) from the metadata sheet's rows as any reader returns them: the JSON
    as stored, which the signature covers (``WorkbookMetadata.from_dict`` types it)."""
    data, signature, _ = _parse_rows(rows)
    return data, signature


def read_metadata_rows(rows: list[list], key: bytes | None) -> tuple[dict, str, list[list]]:
    """(data, signature, the rows xlplan writes for that JSON signed with ``key``) of a metadata
    sheet: the file verifies when the signatures and the rows agree (``[]`` without a key).

    The JSON text as stored is signed, not the data dumped again: the signature covers the
    canonical JSON, so a stored text that verifies is that text (and dumping every file's
    JSON again cost as much as the rest of the metadata's reading)."""
    data, signature, text = _parse_rows(rows)
    return data, signature, _signed_rows(text, key) if key is not None else []


def _parse_rows(rows: list[list]) -> tuple[dict, str, str]:
    if not rows or not rows[0] or str(rows[0][0]).strip() != MARKER:
        raise MetadataError("no marker")
    signature = ""
    chunks = []
    for row in rows[1:]:
        if len(row) < 2:
            continue
        label, value = str(row[0] or "").strip(), row[1]
        if label == "signature":
            signature = str(value or "")
        elif label == "data":
            chunks.append(str(value or ""))
    text = "".join(chunks)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise MetadataError(f"metadata JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise MetadataError("metadata is not an object")
    return data, signature, text


def unverified_metadata(rows: list[list]) -> WorkbookMetadata:
    """The typed metadata of a metadata sheet's rows, without checking the signature: for
    xlplan's own copies (the demo's simulated departments), never for a returned file."""
    data, _ = parse_metadata_rows(rows)
    return WorkbookMetadata.from_dict(data)
