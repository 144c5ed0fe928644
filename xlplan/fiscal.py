"""Japanese fiscal years (年度) and era names (和暦).

A fiscal year runs from 1 April to 31 March and is named by the western year it starts in:
FY2024 = 令和6年度 = 2024-04-01 … 2025-03-31. Plans and workbooks write years in many forms
(R6, 令和６年度, 2024, FY2024 …); ``parse_fiscal_year`` accepts all of them and rejects the rest
with a ``FiscalYearError`` whose message tells the user, in Japanese, what could not be read.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

# Bounds for a year written as a western number. A bare "6" must not pass as the year 6.
MIN_WESTERN_YEAR = 1900
MAX_WESTERN_YEAR = 2200

EXAMPLES_JA = "例: R6、令和6年度、2024、FY2024"
EXAMPLES_EN = "e.g. R6, 2024, FY2024 or the era name"
PERIOD_EXAMPLES_JA = "例: R5～R9、令和5年度～令和9年度、2023-2027"
PERIOD_EXAMPLES_EN = "e.g. R5-R9, 2023-2027"


class Era(NamedTuple):
    """One Japanese era: its names, the western year of its year 1, and its last year."""

    name: str
    letter: str
    first: int
    last: int | None  # western year of its last (partial) year; None for the current era

    @property
    def max_year(self) -> int | None:
        """Largest era year that exists (平成31, 昭和64), or None for the current era."""
        return None if self.last is None else self.last - self.first + 1


# Newest first, so that a western year is labelled with the era it belongs to as a fiscal
# year: 2019 is 令和元年度 although 1 April 2019 was still 平成31年.
ERAS: tuple[Era, ...] = (
    Era("令和", "R", 2019, None),
    Era("平成", "H", 1989, 2019),
    Era("昭和", "S", 1926, 1989),
    Era("大正", "T", 1912, 1926),
    Era("明治", "M", 1868, 1912),
)
_ERA_BY_KEY = {key: era for era in ERAS for key in (era.name, era.letter)}

# Applied after NFKC and removal of all whitespace, so full-width forms and "FY 2024" need no
# patterns of their own.
_ERA_KEYS = "|".join([e.name for e in ERAS] + [e.letter for e in ERAS])
_ERA_RE = re.compile(rf"^({_ERA_KEYS})\.?(元|\d{{1,3}})(?:\((\d{{4}})\))?(?:年度|年)?$",
                     re.IGNORECASE)
_WESTERN_RE = re.compile(r"^(?:FY)?(\d{4})(?:年度|年)?$", re.IGNORECASE)
_ERA_PREFIX_RE = re.compile(rf"^({_ERA_KEYS})", re.IGNORECASE)
_PERIOD_SPLIT_RE = re.compile(r"から|~|〜|-|–|—|―|−|‐")


class FiscalYearError(ValueError):
    """A fiscal year or period could not be read; the message is for the user: ``str()`` is
    Japanese, ``text(lang)`` either language (``en`` holds the English)."""

    def __init__(self, message: str, value: object = None, en: str | None = None):
        super().__init__(message)
        self.value = value
        self.en = en or message

    def text(self, lang: str | None = None) -> str:
        """The message in the chosen language."""
        from .language import pick

        return pick(str(self), self.en, lang)


def _unreadable(value: object) -> FiscalYearError:
    return FiscalYearError(f"年度「{_show(value)}」を読み取れません（{EXAMPLES_JA}）", value,
                           en=f"The year '{_show(value)}' cannot be read ({EXAMPLES_EN})")


def _show(value: object) -> str:
    try:
        return str(value).strip()
    except Exception:  # a broken __str__ must not hide the real error message
        return repr(type(value))


def era_to_western(era: str, era_year: int) -> int | None:
    """Western year of an era year ('令和'/'R', 6 → 2024), or None if that year does not exist."""
    found = _ERA_BY_KEY.get(era) or _ERA_BY_KEY.get(era.upper())
    if found is None or era_year < 1:
        return None
    if found.max_year is not None and era_year > found.max_year:
        return None
    return found.first + era_year - 1


@functools.lru_cache(maxsize=None)  # asked for every year label of every rendered cell
def era_of(year: int) -> Era:
    """The era a fiscal year starting in ``year`` is labelled with."""
    for era in ERAS:
        if year >= era.first:
            return era
    raise FiscalYearError(f"{year}年は和暦で表せません（明治より前）", year,
                          en=f"The year {year} has no Japanese era name (before Meiji)")


@dataclass(frozen=True, order=True)
class FiscalYear:
    """A fiscal year (年度), identified by the western year in which it starts (April)."""

    year: int

    def __post_init__(self):
        # bool is an int subclass; True must not become a year.
        if not isinstance(self.year, int) or isinstance(self.year, bool):
            raise _unreadable(self.year)
        if not ERAS[-1].first <= self.year <= dt.MAXYEAR - 1:
            raise _unreadable(self.year)

    @property
    def era(self) -> Era:
        """The era this fiscal year is labelled with."""
        return era_of(self.year)

    @property
    def era_year(self) -> int:
        """The year within its era (令和6年度 → 6)."""
        return self.year - self.era.first + 1

    @property
    def short(self) -> str:
        """Short label such as 'R6' or 'H30'."""
        return f"{self.era.letter}{self.era_year}"

    @property
    def label_ja(self) -> str:
        """Japanese label such as '令和6年度' or '令和元年度'."""
        number = "元" if self.era_year == 1 else str(self.era_year)
        return f"{self.era.name}{number}年度"

    @property
    def label_en(self) -> str:
        """English label such as 'FY2024'."""
        return f"FY{self.year}"

    @property
    def start_date(self) -> dt.date:
        """First day: 1 April of the start year."""
        return dt.date(self.year, 4, 1)

    @property
    def end_date(self) -> dt.date:
        """Last day: 31 March of the following year."""
        return dt.date(self.year + 1, 3, 31)

    @classmethod
    def containing(cls, day: dt.date) -> FiscalYear:
        """The fiscal year a calendar date falls in (January–March belong to the previous one)."""
        return cls(day.year if day.month >= 4 else day.year - 1)

    def __str__(self) -> str:
        return self.short

    def __add__(self, other):
        if isinstance(other, int) and not isinstance(other, bool):
            return FiscalYear(self.year + other)
        return NotImplemented

    __radd__ = __add__

    def __sub__(self, other):
        if isinstance(other, FiscalYear):
            return self.year - other.year
        if isinstance(other, int) and not isinstance(other, bool):
            return FiscalYear(self.year - other)
        return NotImplemented


def parse_fiscal_year(value: object) -> FiscalYear:
    """Read a fiscal year written in any usual form; raise FiscalYearError otherwise.

    Accepts a FiscalYear, an int or integral float in 1900..2200 (2024, 2024.0), and strings
    such as 'R6', 'Ｒ６', 'R.6', '令和6年度', '令和元年度', 'H31', '2024', '２０２４年度',
    'FY2024' or 'FY 2024'.
    """
    if isinstance(value, FiscalYear):
        return value
    if isinstance(value, bool):
        raise _unreadable(value)
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise _unreadable(value)
        return _from_western(int(value), value)
    if isinstance(value, int):
        return _from_western(value, value)
    if isinstance(value, str):
        return _parse_text(value)
    raise _unreadable(value)


def _from_western(year: int, original: object) -> FiscalYear:
    if not MIN_WESTERN_YEAR <= year <= MAX_WESTERN_YEAR:
        raise _unreadable(original)
    return FiscalYear(year)


def _compact(text: str) -> str:
    """NFKC (full-width → ASCII) and all whitespace removed."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def _parse_text(text: str) -> FiscalYear:
    compact = _compact(text)
    western = _WESTERN_RE.match(compact)
    if western:
        return _from_western(int(western.group(1)), text)
    era = _ERA_RE.match(compact)
    if era:
        return _from_era(era, text)
    raise _unreadable(text)


def _from_era(match: re.Match, original: str) -> FiscalYear:
    era, number, western = match.groups()
    year = era_to_western(era, 1 if number == "元" else int(number))
    if year is None or year > MAX_WESTERN_YEAR:
        raise _unreadable(original)
    # '令和6(2024)年度' names the year twice; the two must agree.
    if western is not None and int(western) != year:
        raise _unreadable(original)
    return FiscalYear(year)


def fiscal_years(start: object, end: object) -> list[FiscalYear]:
    """Every fiscal year from start to end inclusive (both in any form parse_fiscal_year reads)."""
    first, last = parse_fiscal_year(start), parse_fiscal_year(end)
    _check_order(first, last)
    return [FiscalYear(y) for y in range(first.year, last.year + 1)]


def _check_order(first: FiscalYear, last: FiscalYear) -> None:
    if last < first:
        raise FiscalYearError(
            f"終了年度（{last.label_ja}）が開始年度（{first.label_ja}）より前です", last,
            en=f"The last year ({last.label_en}) is before the first year ({first.label_en})")


def parse_period(text: object) -> tuple[FiscalYear, FiscalYear]:
    """Read a plan period such as 'R5～R9', '令和5年度から令和9年度' or '2023-2027'.

    The second year may omit the era when the first names one ('令和3年度～7年度').
    """
    parts = _split_period(text)
    if parts is None:
        raise FiscalYearError(f"期間「{_show(text)}」を読み取れません（{PERIOD_EXAMPLES_JA}）",
                              text, en=f"The period '{_show(text)}' cannot be read ({PERIOD_EXAMPLES_EN})")
    first_text, last_text = parts
    first = parse_fiscal_year(first_text)
    last = parse_fiscal_year(_inherit_era(first_text, last_text))
    _check_order(first, last)
    return first, last


def _split_period(text: object) -> tuple[str, str] | None:
    if not isinstance(text, str):
        return None
    compact = _compact(text).removesuffix("まで")
    parts = _PERIOD_SPLIT_RE.split(compact)
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]


def _inherit_era(first: str, last: str) -> str:
    """Give an era-less second year ('7年度') the era of the first ('令和3年度')."""
    era = _ERA_PREFIX_RE.match(first)
    if era and re.fullmatch(r"(元|\d{1,3})(年度|年)?", last):
        return era.group(1) + last
    return last


def format_period(start: object, end: object, lang: str = "ja") -> str:
    """A period as text: '令和5年度～令和9年度' (ja) or 'FY2023–FY2027' (en)."""
    first, last = parse_fiscal_year(start), parse_fiscal_year(end)
    if (lang or "ja").lower().startswith("en"):
        return f"{first.label_en}–{last.label_en}"
    return f"{first.label_ja}～{last.label_ja}"
