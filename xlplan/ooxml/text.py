"""Text as xlplan writes it: into a cell (openpyxl, XlsxWriter or hand-written SpreadsheetML),
as a sheet name, or as a CSV field. Each rule of the formats lives here once.

1. **Characters a worksheet cannot hold** (those XML 1.0 forbids: U+0000–U+0008, U+000B, U+000C,
   U+000E–U+001F, U+FFFE, U+FFFF, and lone surrogates) are shown as a visible mark, so the reader
   of a workbook sees where something was: a C0 control character as its Unicode control picture
   (U+000B → ␋, U+0000 → ␀), the others as U+FFFD (�). Tab, line feed and carriage return stay.
   ``clean_text`` does it; ``unstorable_characters`` names them (for the reader's finding).
2. **Text is always text.** Every writer stores a string as a string cell (inline or shared
   string), never as a formula: ``set_text`` (openpyxl), ``write_text`` (XlsxWriter),
   ``inline_string_cell`` (hand-written XML). In a CSV, where the application decides, a field
   that an application would evaluate (``looks_like_formula``) gets a leading apostrophe.
3. **SpreadsheetML's own escape.** Excel (and python-calamine, LibreOffice) read ``_xHHHH_``
   inside a string as the character U+HHHH. A literal ``_x0041_`` is therefore stored as
   ``_x005F_x0041_`` (the underscore escaped), and a carriage return as ``_x000D_`` (an XML
   parser would turn a raw one into a line feed). Of the libraries: openpyxl 3.1 escapes
   nothing, so ``set_text`` escapes; XlsxWriter escapes ``_xHHHH_`` and carriage returns
   itself, so ``write_text`` must not (it would double-escape), except where XlsxWriter's
   escape is wrong (``_x005F_x0041_``: two escapes sharing an underscore), see ``write_text``.
4. **Sheet names** Excel accepts: ``sheet_name``.
5. **XML's own escape**, both ways: ``xml_escape`` for what xlplan writes, ``xml_unescape`` for
   text taken from another writer's raw bytes (predefined entities and numeric references).
"""

from __future__ import annotations

import re
import unicodedata

CELL_LIMIT = 32767  # characters (UTF-16 units) a cell holds in Excel

_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
# An underscore that starts something Excel would decode (each such underscore, also one that
# ends the escape before it: "_x005F_x0041_" holds two).
_ESCAPE_START = re.compile(r"_(?=x[0-9a-fA-F]{4}_)")
_ENCODED = re.compile(r"_x([0-9a-fA-F]{4})_")
# Two escape-like sequences sharing an underscore: the place XlsxWriter's escape goes wrong.
_CHAINED = re.compile(r"(?<=_x[0-9a-fA-F]{4})(?=_x[0-9a-fA-F]{4}_)")


def _mark(char: str) -> str:
    code = ord(char)
    return chr(0x2400 + code) if code < 0x20 else "\ufffd"


def clean_text(text: str) -> str:
    """``text`` with every character a worksheet cannot hold replaced by a visible mark."""
    if not _UNSTORABLE.search(text):
        return text
    return _UNSTORABLE.sub(lambda m: _mark(m.group()), text)


def unstorable_characters(text: str) -> list[str]:
    """The characters of ``text`` a worksheet cannot hold, as 'U+000B' (each once, in order)."""
    return list(dict.fromkeys(f"U+{ord(c):04X}" for c in _UNSTORABLE.findall(text)))


def encode_escapes(text: str) -> str:
    """Text in SpreadsheetML's string escape: what Excel would decode escaped, CR as _x000D_."""
    if "_x" in text:
        text = _ESCAPE_START.sub("_x005F_", text)
    if "\r" in text:
        text = text.replace("\r", "_x000D_")
    return text


def decode_escapes(text: str) -> str:
    """A string as Excel reads it from a cell's XML (``_xHHHH_`` → U+HHHH, left to right)."""
    if "_x" not in text:
        return text
    return _ENCODED.sub(lambda m: chr(int(m.group(1), 16)), text)


def xml_escape(text: str, quote: bool = False) -> str:
    """``& < >`` (and with ``quote`` the quotes) as XML character references."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if quote:
        text = text.replace('"', "&quot;").replace("'", "&apos;")
    return text


_REFERENCE = re.compile(r"&(?:#[xX]([0-9a-fA-F]{1,6})|#([0-9]{1,7})|(lt|gt|amp|quot|apos));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def xml_unescape(text: str) -> str:
    """Text of an XML element or attribute taken from the raw bytes: the five predefined
    entities and numeric character references (``&#31532;``, ``&#x7B2C;``, as openpyxl and
    others write non-ASCII text) decoded, in one left-to-right pass (``&amp;lt;`` stays
    ``&lt;``). A reference to no Unicode character is left as it is."""
    if "&" not in text:
        return text
    return _REFERENCE.sub(_reference, text)


def _reference(match: re.Match) -> str:
    hexa, decimal, name = match.groups()
    if name:
        return _NAMED[name]
    code = int(hexa, 16) if hexa else int(decimal)
    return chr(code) if 0 < code <= 0x10FFFF else match.group()


_PLAIN = re.compile(r"[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]|_x")


def cell_xml_text(text: str) -> str:
    """The content of a ``<t>`` element for ``text``: cleaned, escaped for Excel and for XML."""
    if not _PLAIN.search(text):  # most text: nothing to do (this runs once per merged cell)
        return text
    return xml_escape(encode_escapes(clean_text(text)))


def inline_string_cell(ref: str, text: str, style: str | None = None) -> str:
    """A complete ``<c t="inlineStr">`` element holding ``text`` as text (never a formula)."""
    body = cell_xml_text(text)
    # Leading or trailing white space needs xml:space="preserve" (XlsxWriter's rule).
    space = ' xml:space="preserve"' if body[:1].isspace() or body[-1:].isspace() else ""
    s = f' s="{style}"' if style is not None else ""
    return f'<c r="{ref}"{s} t="inlineStr"><is><t{space}>{body}</t></is></c>'


def utf16_length(text: str) -> int:
    """The length Excel counts: UTF-16 units (an emoji counts twice)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def within_cell_limit(text: str, limit: int = CELL_LIMIT) -> str:
    """``text`` cut to ``limit`` (Excel's cell limit), counted in UTF-16 units."""
    if len(text) <= limit // 2 or utf16_length(text) <= limit:
        return text
    units = 0
    for i, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:i]
    return text


def cut_text(text: str | None, limit: int, mark: str = "…") -> str | None:
    """``text`` within ``limit`` UTF-16 units, ending in ``mark`` (an ellipsis, or a note saying
    where the whole text is) when it had to be cut."""
    if text is None or len(text) <= limit // 2 or utf16_length(text) <= limit:
        return text
    return within_cell_limit(text, limit - utf16_length(mark)) + mark


def set_text(cell, value) -> None:
    """Put a string into an openpyxl cell as a string cell, never a formula; anything else as
    it is. openpyxl would take text starting with "=" for a formula and refuses control
    characters; its public ``data_type`` marks the cell as a string after the assignment.
    The cell then holds the stored (escaped) form: ``stored_value`` gives the text back."""
    if not isinstance(value, str):
        cell.value = value
        return
    cell.value = stored_text(value)
    cell.data_type = "s"


def stored_text(text: str) -> str:
    """The form ``set_text`` stores ``text`` in: unstorable characters marked, ``_xHHHH_``
    literals escaped, and white-space-only text escaped whole."""
    stored = encode_escapes(clean_text(text))
    if stored and not stored.strip():
        # openpyxl marks no white-space-only text xml:space="preserve", and a reader may then
        # drop it: such text is stored escaped (" " as _x0020_), which every reader decodes.
        stored = "".join(f"_x{ord(c):04X}_" for c in stored)
    return stored


def stored_value(value):
    """The value of an openpyxl cell as a reader of the saved file will see it (a string
    written by ``set_text`` decoded back; any other value as it is)."""
    return decode_escapes(value) if isinstance(value, str) else value


def write_text(ws, row: int, col: int, text: str, fmt=None) -> None:
    """Write ``text`` into an XlsxWriter worksheet as a string cell (never a formula).

    XlsxWriter escapes ``_xHHHH_`` and CR itself (so the text goes in unescaped), but it
    cannot store two escape-like sequences sharing an underscore (``_x005F_x0041_``: it
    escapes the first only), and it takes a text of the form ``<r>…</r>`` for rich-string XML
    (constant-memory mode). Such text is written as a rich string whose runs cut every
    escape-like sequence in two: a run is decoded on its own, so no run holds anything to
    decode or to escape. XlsxWriter escapes rich-string runs twice, so a carriage return
    cannot be stored in one: in such (rare) text it becomes a line feed (``xlsxwriter_text``)."""
    text = xlsxwriter_text(text)
    if not _needs_runs(text):
        ws.write_string(row, col, text, fmt)
        return
    rich = text.startswith("<r>") and text.endswith("</r>")
    cuts = sorted({m.start() + 2 for m in _ESCAPE_START.finditer(text)} | ({1} if rich else set()))
    pieces = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]
    if len(pieces) == 2:  # XlsxWriter takes three fragments or more
        first, second = pieces
        pieces = [first[:1], first[1:], second] if len(first) > 1 else [first, second[:1], second[1:]]
    fragments = [part for piece in pieces for part in ((fmt, piece) if fmt is not None else (piece,))]
    ws.write_rich_string(row, col, *fragments, *([fmt] if fmt is not None else []))


def _needs_runs(text: str) -> bool:
    return (text.startswith("<r>") and text.endswith("</r>")) or ("_x" in text and bool(_CHAINED.search(text)))


def xlsxwriter_text(text: str) -> str:
    """The text ``write_text`` stores: cleaned, within the cell limit, and in the rare text it
    must write as a rich string, carriage returns as line feeds."""
    text = within_cell_limit(clean_text(text))
    return text.replace("\r", "\n") if "\r" in text and _needs_runs(text) else text


# --- CSV --------------------------------------------------------------------------------------

# What opens a CSV field as a formula. LibreOffice 7.4 (tested with tests/libreoffice.py):
# a field starting with "=", and with "trim spaces" on also one starting with white space and
# "="; "+", "-", "@" and full-width signs stay text. Excel (OWASP's CSV-injection rule): a field
# starting with "=", "+", "-", "@", tab or carriage return; Japanese Excel also takes a
# full-width "＝＋－＠" typed at the start of a cell for a formula, so those count too (NFKC).
_TRIGGERS = frozenset("=+-@")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def looks_like_formula(text: str) -> bool:
    """True for text that Excel or LibreOffice would evaluate as a formula if it were typed or
    read from a CSV (a plain signed number such as "-3" is a number, not a formula)."""
    if text[:1] in ("\t", "\r"):
        return True
    key = unicodedata.normalize("NFKC", text.lstrip())
    return bool(key) and key[0] in _TRIGGERS and not _PLAIN_NUMBER.fullmatch(key)


def as_typed_text(value):
    """A value as it may be typed into a cell or a CSV field: text that an application would
    evaluate gets a leading apostrophe (Excel's mark for text); other values unchanged."""
    if isinstance(value, str) and looks_like_formula(value):
        return "'" + value
    return value


def csv_field(value) -> object:
    """One CSV field: text cleaned and neutralised (``as_typed_text``), numbers unchanged."""
    if isinstance(value, str):
        return as_typed_text(clean_text(value))
    return value


# --- sheet names --------------------------------------------------------------------------------

SHEET_NAME_LIMIT = 31
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
RESERVED_SHEET_NAMES = ("History",)  # Excel keeps it for its change-tracking sheet


def sheet_key(name: str) -> str:
    """The form in which Excel compares sheet names: without case (casefold), and, to be safe
    with Japanese Excel, without the full-width/half-width difference (NFKC)."""
    return unicodedata.normalize("NFKC", name).casefold()


def sheet_name(text: str, taken: set[str], fallback: str = "Sheet", keys: set[str] | None = None) -> str:
    """A sheet name Excel accepts, made from ``text`` and added to ``taken``: at most 31
    characters, none of ``[]:*?/\\`` or characters a worksheet cannot hold, no apostrophe at
    either end, not empty, not "History", and unique among ``taken`` ignoring case (with a
    "(2)", "(3)" … suffix).

    A caller naming many sheets passes ``keys`` (``taken_keys(taken)``, kept up to date here), so
    each name costs the same in a workbook of 5,000 sheets as in one of five."""
    base = _SHEET_FORBIDDEN.sub("_", _UNSTORABLE.sub("_", text))
    base = within_cell_limit(base.strip("'"), SHEET_NAME_LIMIT).strip("'") or fallback
    if keys is None:
        keys = taken_keys(taken)
    title, n = base, 2
    while sheet_key(title) in keys:
        suffix = f"({n})"
        title, n = within_cell_limit(base, SHEET_NAME_LIMIT - len(suffix)).rstrip("'") + suffix, n + 1
    taken.add(title)
    keys.add(sheet_key(title))
    return title


def taken_keys(taken: set[str]) -> set[str]:
    """The names a new sheet name must differ from, as Excel compares them: every name in
    ``taken`` and the reserved ones (see sheet_name)."""
    return {sheet_key(t) for t in taken} | {sheet_key(r) for r in RESERVED_SHEET_NAMES}
