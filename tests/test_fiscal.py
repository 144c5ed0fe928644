"""Tests for xlplan.fiscal: fiscal years, era names and plan periods."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xlplan.fiscal import (
    FiscalYear,
    FiscalYearError,
    era_to_western,
    fiscal_years,
    format_period,
    parse_fiscal_year,
    parse_period,
)

FY2024_FORMS = [
    "R6", "r6", "R06", "R.6", "Ｒ６", "令和6年度", "令和６年度", "令和6年", "令和6",
    "2024", "２０２４", "2024年度", "FY2024", "fy2024", "FY 2024", "  R6  ", "\u3000令和6年度\u3000",
    "令和6（2024）年度", 2024, 2024.0,
]


@pytest.mark.parametrize("value", FY2024_FORMS)
def test_every_form_of_fy2024_parses(value):
    assert parse_fiscal_year(value) == FiscalYear(2024)


@pytest.mark.parametrize("value, year", [
    ("令和元年度", 2019), ("R1", 2019), ("H31", 2019), ("平成31年度", 2019), ("H30", 2018),
    ("平成元年度", 1989), ("S64", 1989), ("昭和63年度", 1988), ("S1", 1926), ("h30", 2018),
])
def test_era_years(value, year):
    assert parse_fiscal_year(value).year == year


def test_fiscal_year_instance_is_returned_as_is():
    fy = FiscalYear(2024)
    assert parse_fiscal_year(fy) is fy


@pytest.mark.parametrize("value", [
    "", "   ", "R0", "令和0年度", "6", 6, 6.0, "来年", "平成32", "平成32年度", "昭和65", "H32",
    "R", "FY", "2024.5", 2024.5, 1899, 2201, "1899", "FY2201", True, None, float("nan"),
    float("inf"), dt.date(2024, 4, 1), "令和6（2023）年度", "R6-R7",
])
def test_rejections(value):
    with pytest.raises(FiscalYearError):
        parse_fiscal_year(value)


def test_error_message_is_japanese_and_names_the_value():
    with pytest.raises(FiscalYearError) as info:
        parse_fiscal_year("来年")
    message = str(info.value)
    assert "来年" in message
    assert "読み取れません" in message
    assert "R6" in message and "FY2024" in message
    assert isinstance(info.value, ValueError)
    assert info.value.value == "来年"


@pytest.mark.parametrize("year, short, label_ja", [
    (2024, "R6", "令和6年度"), (2019, "R1", "令和元年度"), (2018, "H30", "平成30年度"),
    (1989, "H1", "平成元年度"), (1988, "S63", "昭和63年度"), (1926, "S1", "昭和元年度"),
])
def test_labels(year, short, label_ja):
    fy = FiscalYear(year)
    assert fy.short == short
    assert str(fy) == short
    assert fy.label_ja == label_ja
    assert fy.label_en == f"FY{year}"


def test_ordering_and_arithmetic():
    r5, r6 = FiscalYear(2023), FiscalYear(2024)
    assert r5 < r6 and r6 > r5 and r5 <= r5
    assert sorted([r6, r5]) == [r5, r6]
    assert r5 + 1 == r6
    assert 1 + r5 == r6
    assert r6 - 1 == r5
    assert isinstance(r5 + 1, FiscalYear)
    assert r6 - r5 == 1
    assert hash(FiscalYear(2024)) == hash(r6)
    with pytest.raises(TypeError):
        r5 + 1.5
    with pytest.raises(TypeError):
        r5 + True


def test_constructor_rejects_non_int():
    with pytest.raises(FiscalYearError):
        FiscalYear("2024")
    with pytest.raises(FiscalYearError):
        FiscalYear(True)


def test_start_and_end_dates():
    fy = FiscalYear(2024)
    assert fy.start_date == dt.date(2024, 4, 1)
    assert fy.end_date == dt.date(2025, 3, 31)


@pytest.mark.parametrize("day, year", [
    (dt.date(2024, 3, 31), 2023), (dt.date(2024, 4, 1), 2024), (dt.date(2024, 12, 31), 2024),
    (dt.date(2025, 1, 1), 2024), (dt.datetime(2024, 3, 31, 23, 59), 2023),
])
def test_containing(day, year):
    assert FiscalYear.containing(day) == FiscalYear(year)


def test_fiscal_years_inclusive():
    assert fiscal_years("R5", "R9") == [FiscalYear(y) for y in range(2023, 2028)]
    assert fiscal_years(2024, "令和6年度") == [FiscalYear(2024)]
    assert fiscal_years("H30", "R2") == [FiscalYear(2018), FiscalYear(2019), FiscalYear(2020)]


def test_fiscal_years_end_before_start():
    with pytest.raises(FiscalYearError) as info:
        fiscal_years("R9", "R5")
    assert "前" in str(info.value)


def test_fiscal_years_bad_input():
    with pytest.raises(FiscalYearError):
        fiscal_years("R5", "来年")


@pytest.mark.parametrize("text", [
    "R5–R9", "R5-R9", "R5~R9", "R5～R9", "R5〜R9", "令和5年度～令和9年度", "令和5年度から令和9年度",
    "令和5年度から令和9年度まで", "2023-2027", "FY2023–FY2027", "R5 - R9", "令和5年度～9年度",
])
def test_parse_period(text):
    assert parse_period(text) == (FiscalYear(2023), FiscalYear(2027))


def test_parse_period_inherits_era():
    assert parse_period("令和3年度～7年度") == (FiscalYear(2021), FiscalYear(2025))
    assert parse_period("H30～R2") == (FiscalYear(2018), FiscalYear(2020))


@pytest.mark.parametrize("text", ["R5", "", "R5～", "R9～R5", "R5～R7～R9", "来年から再来年", None, 2023])
def test_parse_period_rejections(text):
    with pytest.raises(FiscalYearError):
        parse_period(text)


def test_format_period():
    assert format_period("R5", "R9") == "令和5年度～令和9年度"
    assert format_period(2023, 2027, lang="en") == "FY2023–FY2027"
    assert format_period("R1", "R1") == "令和元年度～令和元年度"
    assert parse_period(format_period("R5", "R9")) == (FiscalYear(2023), FiscalYear(2027))
    assert parse_period(format_period("R5", "R9", "en")) == (FiscalYear(2023), FiscalYear(2027))


def test_era_to_western():
    assert era_to_western("令和", 6) == 2024
    assert era_to_western("r", 6) == 2024
    assert era_to_western("平成", 31) == 2019
    assert era_to_western("平成", 32) is None
    assert era_to_western("昭和", 0) is None
    assert era_to_western("X", 1) is None


@given(st.integers(min_value=1989, max_value=2100))
def test_every_label_round_trips(year):
    fy = FiscalYear(year)
    for text in (fy.short, fy.label_ja, fy.label_en, str(year)):
        assert parse_fiscal_year(text) == fy


@given(st.integers(min_value=1989, max_value=2100), st.integers(min_value=0, max_value=50))
def test_addition_matches_year_arithmetic(year, n):
    assert (FiscalYear(year) + n).year == year + n
    assert (FiscalYear(year) + n) - n == FiscalYear(year)


@given(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_containing_is_within_bounds(day):
    fy = FiscalYear.containing(day)
    assert fy.start_date <= day <= fy.end_date
