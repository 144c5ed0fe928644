"""Normalising what people type into cells, recording every change.

Cells arrive from python-calamine (numbers as float, empty as '' or None, error cells as strings
such as '#DIV/0!') or from openpyxl (int/float/str/datetime/bool). Each function here turns one
raw value into a ``Normalised`` record: the value as read, the value to use, what kind of entry
it is, which changes were made (so nothing is altered silently) and a finding code when the value
is not acceptable. The functions are pure and never raise, whatever they are given.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from .fiscal import ERAS, era_to_western

EXCEL_ERRORS = frozenset({
    "#N/A", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!",
    "#GETTING_DATA",
})
DEFAULT_MILESTONES = ("検討", "協議", "実施", "完了", "未実施", "作成", "実施済", "アンケート作成")
SAME_AS_BEFORE = frozenset({"→", "⇒", "同左", "〃"})
NONE_MARKS = frozenset({"-", "－", "ー", "―", "—", "–", "−", "‐", "なし"})
# What "blank" means, for check and for the workbook's cover formula alike (generate.py builds
# its blank test from this string): a cell holding only these characters is blank, and these
# are the characters stripped around a value. The control characters are what the spreadsheet
# function CLEAN removes (LibreOffice's removes U+007F–U+009F too; Excel's does not), the space
# is TRIM's; the rest are substituted one by one in the formula, so the list stays short to
# keep the cover's formula short: the spaces people paste (no-break, full-width) and the
# invisible zero-width space and byte-order mark. Other Unicode spaces (U+2003 …) are content.
CONTROL_CHARACTERS = "".join(map(chr, range(0x20))) + "".join(map(chr, range(0x7F, 0xA0)))
BLANK_CHARACTERS = CONTROL_CHARACTERS + " \u00a0\u3000\u200b\ufeff"

# Excel's 1900 date system counts 1900-02-29, which never existed; starting the count at
# 1899-12-30 gives the right date for every serial after 60 (all plausible ones).
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_SERIAL_RANGE = (30000, 80000)  # 1982-02-17 … 2119-01-10: anything else is not a date

# NFKC leaves these minus signs alone, but people paste them from word processors.
_MINUS_SIGNS = str.maketrans({"−": "-", "‐": "-", "‑": "-"})
# Mantissa (with optional thousands separators), optional exponent (Excel shows 1E+05), rest.
_NUMBER_RE = re.compile(
    r"^([+-]?(?:\d{1,3}(?:,\d{3})+|\d*)(?:\.\d+)?)((?:[eE][+-]?\d+)?)\s*(.*)$", re.DOTALL)
_SCORE_RE = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_DEPARTMENT_RE = re.compile(r"^【[^】]*】\s*(.+)$", re.DOTALL)
_ERA_KEYS = "|".join([e.name for e in ERAS] + [e.letter for e in ERAS])
_DATE_RE = re.compile(r"^(\d{4})[/.\-年](\d{1,2})[/.\-月](\d{1,2})日?$")
_ERA_DATE_RE = re.compile(
    rf"^({_ERA_KEYS})\.?(元|\d{{1,2}})[/.\-年](\d{{1,2}})[/.\-月](\d{{1,2}})日?$", re.IGNORECASE)
_OPENING = "([{【「『〔〈《"
_CLOSING = ")]}】」』〕〉》"
_BRACKETS = str.maketrans({**{c: "(" for c in _OPENING}, **{c: ")" for c in _CLOSING}})


@dataclass(frozen=True)
class Normalised:
    """One cell value as read (raw) and as it will be used (value), with what was changed."""

    raw: object
    value: object
    kind: str
    unit: str | None = None
    changes: tuple[str, ...] = ()
    problem: str | None = None

    @property
    def changed(self) -> bool:
        """True when reading the value changed it in a way recorded in ``changes``."""
        return bool(self.changes)


# --- helpers shared by every function -----------------------------------------------------

def is_excel_error(value: object) -> bool:
    """True for an Excel error value such as '#N/A' or '#DIV/0!'."""
    return isinstance(value, str) and value.strip().upper() in EXCEL_ERRORS


def is_blank_text(text: str) -> bool:
    """True when the text holds nothing but BLANK_CHARACTERS: a blank cell to check and cover."""
    return not text.strip(BLANK_CHARACTERS)


def _is_number(value: object) -> bool:
    # bool is an int subclass, but TRUE in a cell is not the number 1.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _special(raw: object) -> Normalised | None:
    """The result for a blank or an Excel error, or None when the value needs reading."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        # NaN is how pandas reports an empty cell.
        return Normalised(raw, None, "blank")
    if isinstance(raw, str) and is_blank_text(raw):
        return Normalised(raw, None, "blank")
    if is_excel_error(raw):
        return Normalised(raw, None, "error", changes=("excel-error",), problem="excel-error")
    return None


def _tidy_number(number: int | float) -> int | float:
    """2.0 → 2: spreadsheets hand over whole numbers as floats."""
    if isinstance(number, float) and number.is_integer() and abs(number) < 2 ** 53:
        return int(number)
    return number


def _as_text(raw: object) -> str | None:
    """Text for any raw value, as Excel would show it; None if it cannot be shown at all."""
    try:
        if isinstance(raw, str):
            return raw
        if isinstance(raw, bool):
            return "TRUE" if raw else "FALSE"
        if _is_number(raw):
            return str(_tidy_number(raw))
        if isinstance(raw, dt.datetime):
            return raw.date().isoformat() if raw.time() == dt.time() else raw.isoformat(" ")
        if isinstance(raw, (dt.date, dt.time)):
            return raw.isoformat()
        return str(raw)
    except Exception:  # huge ints (str() limit) or a broken __str__: report, never raise
        return None


def _strip(text: str, changes: list[str]) -> str:
    stripped = text.strip(BLANK_CHARACTERS)
    if stripped != text:
        changes.append("whitespace")
    return stripped


def _ascii_form(text: str, changes: list[str]) -> str:
    """Full-width digits, signs and units to ASCII (only where a number is expected)."""
    converted = unicodedata.normalize("NFKC", text).translate(_MINUS_SIGNS)
    if converted != text:
        changes.append("full-width")
    return converted


def _unreadable(raw: object, text: str | None, changes: list[str], problem: str) -> Normalised:
    return Normalised(raw, text, "text", changes=tuple(changes), problem=problem)


# --- text ---------------------------------------------------------------------------------

def normalise_text(raw: object) -> Normalised:
    """Free text: surrounding whitespace stripped, line breaks unified; wording kept as typed."""
    special = _special(raw)
    if special is not None:
        return special
    text = _as_text(raw)
    if text is None:
        return _unreadable(raw, None, [], "not-a-number")
    changes: list[str] = []
    text = _strip(text, changes)
    unified = text.replace("\r\n", "\n").replace("\r", "\n")
    if unified != text:
        changes.append("line-breaks")
    return Normalised(raw, unified, "text", changes=tuple(changes))


# --- quantities (indicator targets and results) ------------------------------------------

def normalise_quantity(raw: object, unit: str | None = None, *, percent: bool = False,
                       milestones: tuple[str, ...] = (), allow_same_as_before: bool = True
                       ) -> Normalised:
    """An indicator target or result: a number (with optional unit) or a recognised word.

    ``unit`` is the expected unit; ``percent=True`` means the expected unit is % and a fraction
    from a %-formatted cell (0.891) is scaled to 89.1.
    """
    special = _special(raw)
    if special is not None:
        return special
    expected = unit if unit else ("%" if percent else None)
    if _is_number(raw):
        return _quantity_from_number(raw, percent)
    text = _as_text(raw)
    if text is None:
        return _unreadable(raw, None, [], "not-a-number")
    changes: list[str] = []
    text = _strip(text, changes)
    word = _quantity_word(raw, text, changes, milestones, allow_same_as_before)
    return word or _quantity_from_text(raw, text, changes, expected)


def _quantity_from_number(raw: int | float, percent: bool) -> Normalised:
    if isinstance(raw, float) and not math.isfinite(raw):
        return _unreadable(raw, str(raw), [], "not-a-number")
    if percent and isinstance(raw, float) and 0 < raw <= 1:
        # Decimal avoids 0.891 * 100 == 89.10000000000001.
        scaled = float(Decimal(repr(raw)) * 100)
        return Normalised(raw, _tidy_number(scaled), "number", changes=("percent-scaled",))
    return Normalised(raw, _tidy_number(raw), "number")


def _quantity_word(raw, text, changes, milestones, allow_same_as_before) -> Normalised | None:
    """'→', '-', '検討' …: entries that are words by design, not numbers."""
    ascii_text = unicodedata.normalize("NFKC", text)
    forms = (text, ascii_text)
    if allow_same_as_before and any(f in SAME_AS_BEFORE for f in forms):
        return Normalised(raw, None, "same-as-before", changes=tuple(changes))
    if any(f in NONE_MARKS for f in forms):
        return Normalised(raw, None, "none", changes=tuple(changes))
    for word in (*milestones, *DEFAULT_MILESTONES):
        if word in forms or unicodedata.normalize("NFKC", word) == ascii_text:
            extra = [] if word == text else ["full-width"]
            return Normalised(raw, word, "milestone", changes=tuple(changes + extra))
    return None


def _quantity_from_text(raw, text: str, changes: list[str], expected: str | None) -> Normalised:
    steps = list(changes)
    parsed = _split_number(_ascii_form(text, steps), steps)
    if parsed is None:
        return _unreadable(raw, text, changes, "not-a-number")
    number, found_unit = parsed
    problem = None
    if found_unit and expected and _unit_key(found_unit) != _unit_key(expected):
        problem = "unit-mismatch"
    return Normalised(raw, number, "number", unit=found_unit, changes=tuple(steps),
                      problem=problem)


def _split_number(text: str, changes: list[str]) -> tuple[int | float, str | None] | None:
    """'1,540名' → (1540, '名'); None when the text does not start with a whole number."""
    match = _NUMBER_RE.match(text)
    if not match or not any(c.isdigit() for c in match.group(1)):
        return None
    digits, exponent, unit = match.group(1), match.group(2), match.group(3).strip()
    if unit and not _looks_like_unit(unit):
        return None
    number = _to_number(digits.replace(",", "") + exponent)
    if number is None:
        return None
    if "," in digits:
        changes.append("thousands-separator")
    if unit:
        changes.append("unit-stripped")
    return number, unit or None


def _looks_like_unit(text: str) -> bool:
    # '30地区', '89.1%', '20℃' (NFKC '°C'); not '1.5.3' or '30/40'.
    return text[0].isalpha() or text[0] in "%‰°"


def _to_number(digits: str) -> int | float | None:
    try:
        is_float = "." in digits or "e" in digits.lower()
        number = float(digits) if is_float else int(digits)
    except ValueError:  # more digits than Python converts (int max_str_digits)
        return None
    if isinstance(number, float) and not math.isfinite(number):
        return None
    return _tidy_number(number)


def _unit_key(unit: str) -> str:
    return "".join(unicodedata.normalize("NFKC", unit).split())


# --- scores (達成度) ------------------------------------------------------------------------

def normalise_score(raw: object, low: int = 1, high: int = 5) -> Normalised:
    """A whole-number score from low to high ('4', '４', '4点', '④', '【課名】4' all give 4)."""
    special = _special(raw)
    if special is not None:
        return special
    if _is_number(raw):
        return _score_from_number(raw, raw, (), low, high)
    text = _as_text(raw)
    if text is None:
        return _unreadable(raw, None, [], "not-a-number")
    changes: list[str] = []
    text = _strip(text, changes)
    steps = list(changes)  # kept apart: an unreadable score keeps only the stripping
    number = _score_text_number(text, steps)
    if number is None:
        return _unreadable(raw, text, changes, "not-a-number")
    return _score_from_number(raw, number, tuple(steps), low, high)


def _score_text_number(text: str, changes: list[str]) -> int | float | None:
    """The number in a score text, recording each step; None if there is none."""
    prefixed = _DEPARTMENT_RE.match(text)
    if prefixed:
        # Merged workbooks prefix each department's entry with 【課名】.
        text = prefixed.group(1).strip()
        changes.append("department-prefix")
    text = _ascii_form(text, changes)  # NFKC also turns ①…⑤ into 1…5
    if text.endswith("点"):
        text = text[:-1].strip()
        changes.append("unit-stripped")
    return _to_number(text) if _SCORE_RE.match(text) else None


def _score_from_number(raw, number, changes, low: int, high: int) -> Normalised:
    if isinstance(number, float) and not math.isfinite(number):
        return _unreadable(raw, str(number), list(changes), "not-a-number")
    value = _tidy_number(number)
    in_range = isinstance(value, int) and low <= value <= high
    return Normalised(raw, value, "score", changes=tuple(changes),
                      problem=None if in_range else "score-out-of-range")


# --- committee ratings (中間評価) -----------------------------------------------------------

ABSTAIN_WORDS = ("評価しない", "評価なし", "評価できない", "該当なし")
_CIRCLED = "①②③④⑤"


def normalise_rating(raw: object, labels=()) -> Normalised:
    """A committee member's rating: '④できている' (a dropdown label) or 4 → 4; '評価しない' →
    kind 'abstain' (left unscored on purpose, value None); anything else as normalise_score."""
    text = _as_text(raw) if not _is_number(raw) else None
    if text is not None:
        stripped = "".join(text.split())
        if stripped in ABSTAIN_WORDS:
            return Normalised(raw, None, "abstain")
        if stripped and stripped[0] in _CIRCLED and (stripped in labels or len(stripped) > 1):
            return Normalised(raw, _CIRCLED.index(stripped[0]) + 1, "score",
                              changes=("choice-variant",) if stripped not in labels else ())
    return normalise_score(raw)


# --- choices (方向性 …) ---------------------------------------------------------------------

def normalise_choice(raw: object, choices) -> Normalised:
    """One of a fixed list of choices; spacing, width and bracket variants map to the choice."""
    special = _special(raw)
    if special is not None:
        return special
    text = _as_text(raw)
    if text is None:
        return _unreadable(raw, None, [], "invalid-choice")
    options = [str(c) for c in choices]
    if text in options:
        return Normalised(raw, text, "choice")
    key = _choice_key(text)
    for option in options:
        if _choice_key(option) == key:
            return Normalised(raw, option, "choice", changes=("choice-variant",))
    changes: list[str] = []
    return _unreadable(raw, _strip(text, changes), changes, "invalid-choice")


def _choice_key(text: str) -> str:
    """Comparison form: NFKC, no whitespace, one bracket style, outer brackets dropped."""
    key = "".join(unicodedata.normalize("NFKC", text).split()).translate(_BRACKETS)
    while len(key) > 2 and key[0] == "(" and _closes_at_end(key):
        key = key[1:-1]
    return key


def _closes_at_end(key: str) -> bool:
    """True when the bracket opening key is closed by its last character: '(a)', not '(a)(b)'."""
    depth = 0
    for index, char in enumerate(key):
        depth += (char == "(") - (char == ")")
        if depth == 0:
            return index == len(key) - 1
    return False


# --- dates ---------------------------------------------------------------------------------

def normalise_date(raw: object) -> Normalised:
    """A date: a date cell, an Excel serial number, or text such as '2024/4/1' or '令和6年4月1日'."""
    special = _special(raw)
    if special is not None:
        return special
    if isinstance(raw, dt.datetime):
        return Normalised(raw, raw.date(), "date")
    if isinstance(raw, dt.date):
        return Normalised(raw, raw, "date")
    if _is_number(raw):
        return _date_from_serial(raw)
    text = _as_text(raw)
    if text is None:
        return _unreadable(raw, None, [], "not-a-number")
    return _date_from_text(raw, text)


def _date_from_serial(raw: int | float) -> Normalised:
    low, high = _SERIAL_RANGE
    # Compare before anything converts to float: huge ints overflow, NaN fails the range.
    if not low <= raw <= high:
        return _unreadable(raw, _as_text(raw), [], "not-a-number")
    day = _EXCEL_EPOCH + dt.timedelta(days=int(raw))  # the fraction is the time of day
    return Normalised(raw, day, "date", changes=("date-serial",))


def _date_from_text(raw: object, text: str) -> Normalised:
    changes: list[str] = []
    text = _strip(text, changes)
    steps = list(changes)
    ascii_text = _ascii_form(text, steps)
    day = _western_date(ascii_text) or _era_date(ascii_text, steps)
    if day is None:
        return _unreadable(raw, text, changes, "not-a-number")
    return Normalised(raw, day, "date", changes=tuple(steps))


def _western_date(text: str) -> dt.date | None:
    match = _DATE_RE.match(text)
    return _make_date(*map(int, match.groups())) if match else None


def _era_date(text: str, changes: list[str]) -> dt.date | None:
    match = _ERA_DATE_RE.match(text)
    if not match:
        return None
    era, number, month, day = match.groups()
    year = era_to_western(era, 1 if number == "元" else int(number))
    result = _make_date(year, int(month), int(day)) if year else None
    if result is not None:
        changes.append("era-year")
    return result


def _make_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:  # 2024/2/30 and the like
        return None
