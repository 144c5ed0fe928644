"""Cell values of a workbook taken from the one scan of its sheet parts, python-calamine's
answer for everything else.

The bulk scan (:func:`.reader.scan_sheet`) already matches every cell tag of a sheet written in
the plain form and the value right after it. For the forms whose value is unambiguous — a
number written as a plain decimal in a cell without a date format, a shared or inline string
of plain runs, a boolean, the cached value of a formula — the value is taken from that match,
exactly as python-calamine gives it (the test suite compares both readers cell by cell over
every workbook it has and over generated ones). A sheet holding anything else (a date format,
an error, a rich inline string, a number written another way, ``_xHHHH_`` escapes, a control
character, a far cell) is read by python-calamine, as are workbooks whose sheets were not
plain: the second reader is opened only when a sheet needs it.

Why: reading every value a second time in the native reader was a quarter of the time of
checking a returned workbook (it decompresses and parses every sheet part again).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable

from .text import xml_unescape

# A number as every common writer stores it; anything else ('1_0', ' 2.5 ', 'inf', '+1', '1.')
# is read by python-calamine, whose parsing differs from Python's float() there.
_DECIMAL = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
# Text python-calamine would change beyond the XML entities: ``_xHHHH_`` escapes, a raw carriage
# return (XML turns it into a line feed), characters a worksheet cannot hold.
_NOT_PLAIN_TEXT = re.compile(rb"_x|\r")
_UNUSUAL_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_SPACE = " \t\r\n"
_REFERENCE = re.compile(rb"&(?:#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|lt|gt|amp|quot|apos);")

# Built-in number formats that show dates or times (ECMA-376 18.8.30 and the East Asian ones):
# a number in such a cell is a date to python-calamine.
_DATE_BUILTINS = frozenset([*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59), *range(71, 82)])
# Quoted text, escaped characters, bracketed sections ([Red], [$-411], [>=100]) but not the
# elapsed-time ones ([h], [mm], [ss]: a duration), and the word General: what is left of a
# format code shows a date or time when it holds one of the letters below.
_QUOTED_OR_ESCAPED = re.compile(r'"[^"]*"|\\.|\[(?![hms]+\])[^\]]*\]|General', re.I)


def may_show_date(format_id: int, code: str | None) -> bool:
    """True when a number format may show a date or a time (so a number under it may be read
    as one): a built-in date format, or a format code with a date or time letter outside
    quotes, escapes and brackets. Generous on purpose: a false 'may' only means the other
    reader reads that sheet."""
    if code is None:
        return format_id in _DATE_BUILTINS or format_id >= 164  # an id without its code
    letters = _QUOTED_OR_ESCAPED.sub("", code)
    return any(ch in "dmyhsegDMYHSEGbB" for ch in letters) or format_id in _DATE_BUILTINS


def plain_number(text: bytes) -> float | None:
    """The value of a number cell's ``<v>``, or None when it is not written as a plain decimal."""
    return float(text) if _DECIMAL.fullmatch(text) else None


def plain_text(raw: bytes, preserve: bool) -> str | None:
    """The text of one ``<t>`` element's content as python-calamine gives it (entities decoded;
    XML white space at both ends dropped unless ``xml:space="preserve"``), or None when the
    text is not plain (see ``_NOT_PLAIN_TEXT``)."""
    # Headings and choices recur in every file of a form: short texts are remembered (long
    # ones, such as the metadata's JSON, differ per file and would only fill the memory).
    return _short_text(raw, preserve) if len(raw) <= 512 else _text(raw, preserve)


@lru_cache(maxsize=2048)  # a form's texts, used by every file, stay; one file's own pass through
def _short_text(raw: bytes, preserve: bool) -> str | None:
    return _text(raw, preserve)


def _text(raw: bytes, preserve: bool) -> str | None:
    if _NOT_PLAIN_TEXT.search(raw):
        return None
    if raw.count(b"&") != len(_REFERENCE.findall(raw)):
        return None  # an '&' that starts no reference: damaged XML (python-calamine says so)
    try:
        text = xml_unescape(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None  # a damaged part: python-calamine says what is wrong with it
    if _UNUSUAL_CHARACTER.search(text):
        return None
    return text if preserve else text.strip(_XML_SPACE)


def plain_value_text(raw: bytes) -> str | None:
    """The text of a ``<v>`` (a formula's text result): decoded, never trimmed; None when not plain."""
    return plain_text(raw, preserve=True)


# --- shared strings ----------------------------------------------------------------------------

_SI = re.compile(rb"<si>(.*?)</si>|<si/>", re.S)
# A string item: plain text runs, rich runs with their formatting, phonetic (furigana) runs and
# properties, which are not part of the text (Excel adds them to Japanese text typed with an IME).
_PHONETIC = re.compile(rb"<rPh\b[^>]*>.*?</rPh>|<phoneticPr\b[^>]*/>", re.S)
_RUN_PROPERTIES = re.compile(rb"<rPr>.*?</rPr>|<rPr/>", re.S)
_T = re.compile(rb'<t( xml:space="preserve")?>([^<]*)</t>|<t/>')
_RUN_TAGS = re.compile(rb"</?r>")


def shared_strings(data: bytes) -> list[str | None]:
    """The texts of a shared-string table (``xl/sharedStrings.xml``), in order; None for an
    item of a form not read here (python-calamine reads the sheets that use it)."""
    items = [_item_text(m.group(1)) if m.group(1) is not None else "" for m in _SI.finditer(data)]
    if len(items) != len(_ANY_SI.findall(data)):
        return []  # an item of another form (prefixed, with attributes): indexes would shift
    return items


_ANY_SI = re.compile(rb"<(?:[\w.-]+:)?si[\s/>]")


def _item_text(item: bytes) -> str | None:
    item = _RUN_TAGS.sub(b"", _RUN_PROPERTIES.sub(b"", _PHONETIC.sub(b"", item)))
    pieces, at = [], 0
    for m in _T.finditer(item):
        if item[at:m.start()].strip():
            return None  # something else between the runs
        at = m.end()
        if m.group(2) is not None:
            text = plain_text(m.group(2), bool(m.group(1)))
            if text is None:
                return None
            pieces.append(text)
    if item[at:].strip():
        return None
    return "".join(pieces)


def plain_grid(cells: list[tuple], formula_values: dict[bytes, bytes], strings: list[str | None],
               date_styles: frozenset[bytes],
               position: Callable[[bytes], tuple[int, int]]) -> dict[tuple[int, int], object] | None:
    """Non-empty values of a sheet the bulk scan accepted, keyed by 1-based (row, column), from
    its matched cell tags (``reader._CELLS``: reference, style, type, how the tag closes, the
    ``<v>`` and the ``<is>`` right after it) and its formulas' cached values; None when a cell
    holds a value of a form only python-calamine reads. ``position``: the reader's (row, column)
    of a reference the scan accepted."""
    grid: dict[tuple[int, int], object] = {}
    count = len(strings)
    for ref, style, kind, close, v, inline in cells:
        if close != b">":
            continue  # <c …/> or <c …></c>: no value
        # The two forms most cells have, inline here (this runs for every cell of every file).
        if kind == b"s" and v.isdigit() and int(v) < count:
            value = strings[int(v)]
        elif not kind and v and style not in date_styles:
            value = plain_number(v)
        else:
            value = _cell_value(ref, style, kind, v, inline, formula_values, strings, date_styles)
        if value is None:
            return None
        if value != "":
            grid[position(ref)] = value
    return grid


_MISSING = object()
_INLINE = re.compile(rb'<is><t( xml:space="preserve")?>([^<]*)</t></is>')


def _cell_value(ref, style, kind, v, inline, formula_values, strings, date_styles):
    if inline:
        m = _INLINE.fullmatch(inline)
        return plain_text(m.group(2), bool(m.group(1))) if kind == b"inlineStr" else None
    if not v:
        v = formula_values.get(ref, _MISSING)
        if v is _MISSING:
            return None  # content of another form: a rich string, an empty <v> …
    if kind == b"s":
        index = int(v) if v.isdigit() else -1  # (the scan checked the index)
        return strings[index] if 0 <= index < len(strings) else None
    if kind in (b"", b"n"):
        if not v:
            return ""  # a formula without a cached value
        return plain_number(v) if style not in date_styles else None
    if kind == b"b":
        return {b"1": True, b"0": False}.get(v)
    if kind == b"str":
        return plain_value_text(v)
    return None  # inlineStr without <is>, e (an error), d (an ISO date): python-calamine's rendering
