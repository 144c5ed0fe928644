"""Tests for xlplan.normalise: every change is recorded, nothing raises."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xlplan.normalise import (
    BLANK_CHARACTERS,
    Normalised,
    is_excel_error,
    normalise_choice,
    normalise_date,
    normalise_quantity,
    normalise_score,
    normalise_text,
)

EXCEL_ERRORS = ["#N/A", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!",
                "#CALC!", "#GETTING_DATA"]
CHOICES = ("継続", "継続（一部見直し）", "見直し", "終了")
FULL_WIDTH = str.maketrans("0123456789,", "０１２３４５６７８９，")


def check(result, value, kind, unit=None, changes=(), problem=None):
    """Assert every field of a Normalised (value compared with its type)."""
    assert result.value == value, result
    assert type(result.value) is type(value), result
    assert result.kind == kind, result
    assert result.unit == unit, result
    assert result.changes == tuple(changes), result
    assert result.problem == problem, result
    assert result.changed == bool(changes)


# --- normalise_text -------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [None, "", " ", "\u3000", " \t\n\u3000 "])
def test_text_blank(raw):
    check(normalise_text(raw), None, "blank")


@pytest.mark.parametrize("raw, value, changes", [
    ("地域の見守り", "地域の見守り", ()),
    ("  地域の見守り\u3000", "地域の見守り", ("whitespace",)),
    ("一行目\r\n二行目", "一行目\n二行目", ("line-breaks",)),
    ("一行目\r二行目", "一行目\n二行目", ("line-breaks",)),
    (" 一行目\r\n二行目 ", "一行目\n二行目", ("whitespace", "line-breaks")),
    ("全角ＡＢＣ　１２３", "全角ＡＢＣ　１２３", ()),  # wording is never NFKC-converted
    ("一行目\n二行目", "一行目\n二行目", ()),
])
def test_text_strings(raw, value, changes):
    check(normalise_text(raw), value, "text", changes=changes)


@pytest.mark.parametrize("raw, value", [
    (2.0, "2"), (2, "2"), (2.5, "2.5"), (-3.0, "-3"), (True, "TRUE"),
    (dt.date(2024, 4, 1), "2024-04-01"), (dt.datetime(2024, 4, 1), "2024-04-01"),
])
def test_text_from_other_types(raw, value):
    result = normalise_text(raw)
    check(result, value, "text")
    assert result.raw is raw


@pytest.mark.parametrize("raw", EXCEL_ERRORS + [" #N/A "])
def test_text_excel_errors(raw):
    check(normalise_text(raw), None, "error", changes=("excel-error",), problem="excel-error")


def test_is_excel_error():
    assert all(is_excel_error(e) for e in EXCEL_ERRORS)
    assert not is_excel_error("#1")
    assert not is_excel_error("N/A")
    assert not is_excel_error(None)
    assert not is_excel_error(7)


# --- normalise_quantity ---------------------------------------------------------------------

@pytest.mark.parametrize("raw, value, unit, changes", [
    (2.0, 2, None, ()),
    (2, 2, None, ()),
    (1.5, 1.5, None, ()),
    ("30", 30, None, ()),
    ("３０", 30, None, ("full-width",)),
    ("－１", -1, None, ("full-width",)),
    ("-1", -1, None, ()),
    ("１．５", 1.5, None, ("full-width",)),
    ("1,540名", 1540, "名", ("thousands-separator", "unit-stripped")),
    ("１，５４０", 1540, None, ("full-width", "thousands-separator")),
    ("30地区", 30, "地区", ("unit-stripped",)),
    ("12回", 12, "回", ("unit-stripped",)),
    ("1ケース", 1, "ケース", ("unit-stripped",)),
    ("19人", 19, "人", ("unit-stripped",)),
    ("３０地区", 30, "地区", ("full-width", "unit-stripped")),
    (" 30 地区 ", 30, "地区", ("whitespace", "unit-stripped")),
    ("1E+05", 100000, None, ()),
])
def test_quantity_numbers(raw, value, unit, changes):
    check(normalise_quantity(raw), value, "number", unit=unit, changes=changes)


def test_quantity_expected_unit_matches():
    check(normalise_quantity("30地区", "地区"), 30, "number", unit="地区", changes=("unit-stripped",))
    # comparison ignores width and spaces
    check(normalise_quantity("5ｋｇ", "kg"), 5, "number", unit="kg",
          changes=("full-width", "unit-stripped"))
    check(normalise_quantity("30", "地区"), 30, "number")


def test_quantity_unit_mismatch_still_parses():
    check(normalise_quantity("30回", "地区"), 30, "number", unit="回", changes=("unit-stripped",),
          problem="unit-mismatch")


@pytest.mark.parametrize("raw, value, unit, changes", [
    ("89.1%", 89.1, "%", ("unit-stripped",)),
    ("８９．１％", 89.1, "%", ("full-width", "unit-stripped")),
    (0.891, 89.1, None, ("percent-scaled",)),
    (0.5, 50, None, ("percent-scaled",)),
    (0.07, 7, None, ("percent-scaled",)),  # 0.07 * 100 == 7.000000000000001 in floats
    (0.291, 29.1, None, ("percent-scaled",)),
    (1.0, 100, None, ("percent-scaled",)),
    (89.1, 89.1, None, ()),
    (0.0, 0, None, ()),
    (1, 1, None, ()),  # an int never came from a %-formatted cell read by calamine
])
def test_quantity_percent(raw, value, unit, changes):
    check(normalise_quantity(raw, percent=True), value, "number", unit=unit, changes=changes)


def test_quantity_percent_only_when_asked():
    check(normalise_quantity(0.891), 0.891, "number")
    check(normalise_quantity("30人", percent=True), 30, "number", unit="人",
          changes=("unit-stripped",), problem="unit-mismatch")


@pytest.mark.parametrize("raw", ["→", "⇒", "同左", "〃", " → "])
def test_quantity_same_as_before(raw):
    result = normalise_quantity(raw)
    assert result.kind == "same-as-before"
    assert result.value is None
    assert result.problem is None


def test_quantity_same_as_before_can_be_refused():
    check(normalise_quantity("→", allow_same_as_before=False), "→", "text", problem="not-a-number")


@pytest.mark.parametrize("raw", ["-", "－", "ー", "―", "—", "–", "なし"])
def test_quantity_none(raw):
    check(normalise_quantity(raw), None, "none")


@pytest.mark.parametrize("raw", ["検討", "協議", "実施", "完了", "未実施", "作成", "実施済", "アンケート作成"])
def test_quantity_default_milestones(raw):
    check(normalise_quantity(raw), raw, "milestone")


def test_quantity_custom_milestone():
    check(normalise_quantity(" 計画策定 ", milestones=("計画策定",)), "計画策定", "milestone",
          changes=("whitespace",))
    check(normalise_quantity("計画策定"), "計画策定", "text", problem="not-a-number")


@pytest.mark.parametrize("raw", ["A", "たくさん", "約30", "1.5.3", "15,40", "30/40", "e5"])
def test_quantity_not_a_number(raw):
    check(normalise_quantity(raw), raw, "text", problem="not-a-number")


def test_quantity_not_a_number_keeps_original_wording():
    check(normalise_quantity(" たくさん "), "たくさん", "text", changes=("whitespace",),
          problem="not-a-number")
    check(normalise_quantity(True), "TRUE", "text", problem="not-a-number")


@pytest.mark.parametrize("raw", [None, "", "  ", "\u3000", float("nan")])
def test_quantity_blank(raw):
    check(normalise_quantity(raw, "地区"), None, "blank")


@pytest.mark.parametrize("raw", EXCEL_ERRORS)
def test_quantity_excel_error(raw):
    check(normalise_quantity(raw), None, "error", changes=("excel-error",), problem="excel-error")


def test_quantity_negative_accepted():
    check(normalise_quantity(-5.0), -5, "number")


# --- normalise_score ------------------------------------------------------------------------

@pytest.mark.parametrize("raw, changes", [
    (4.0, ()), (4, ()), ("4", ()), ("４", ("full-width",)), ("4点", ("unit-stripped",)),
    ("【健康づくり課】 4", ("department-prefix",)), ("【健康づくり課】4", ("department-prefix",)),
    ("④", ("full-width",)), (" 4 ", ("whitespace",)),
    ("【健康づくり課】４点", ("department-prefix", "full-width", "unit-stripped")),
])
def test_score_four(raw, changes):
    check(normalise_score(raw), 4, "score", changes=changes)


@pytest.mark.parametrize("raw, value", [("①", 1), ("②", 2), ("③", 3), ("⑤", 5)])
def test_score_circled_digits(raw, value):
    check(normalise_score(raw), value, "score", changes=("full-width",))


@pytest.mark.parametrize("raw, value", [
    ("4.5", 4.5), (4.5, 4.5), (6, 6), (0, 0), (-1, -1), ("6", 6), ("⑥", 6), (6.0, 6),
])
def test_score_out_of_range(raw, value):
    result = normalise_score(raw)
    assert result.value == value and type(result.value) is type(value)
    assert result.kind == "score"
    assert result.problem == "score-out-of-range"


def test_score_custom_range():
    check(normalise_score(0, low=0, high=3), 0, "score")
    assert normalise_score(4, low=0, high=3).problem == "score-out-of-range"


@pytest.mark.parametrize("raw", ["A", "よい", "4回", "【健康づくり課】よい", True])
def test_score_not_a_number(raw):
    result = normalise_score(raw)
    assert result.kind == "text"
    assert result.problem == "not-a-number"
    assert result.value == (raw if isinstance(raw, str) else "TRUE")


@pytest.mark.parametrize("raw", [None, "", "\u3000"])
def test_score_blank(raw):
    check(normalise_score(raw), None, "blank")


def test_score_excel_error():
    check(normalise_score("#VALUE!"), None, "error", changes=("excel-error",),
          problem="excel-error")


# --- normalise_choice -----------------------------------------------------------------------

@pytest.mark.parametrize("raw", CHOICES)
def test_choice_exact(raw):
    check(normalise_choice(raw, CHOICES), raw, "choice")


@pytest.mark.parametrize("raw, value", [
    ("継続(一部見直し)", "継続（一部見直し）"),
    ("継続 （一部見直し）", "継続（一部見直し）"),
    ("継続［一部見直し］", "継続（一部見直し）"),
    ("【継続】", "継続"),
    ("［見直し］", "見直し"),
    ("継続\u3000", "継続"),
    (" 終了 ", "終了"),
])
def test_choice_variants(raw, value):
    check(normalise_choice(raw, CHOICES), value, "choice", changes=("choice-variant",))


@pytest.mark.parametrize("raw, value", [("やめる", "やめる"), (" 拡充 ", "拡充"), ("(継続)(終了)", "(継続)(終了)")])
def test_choice_invalid(raw, value):
    result = normalise_choice(raw, CHOICES)
    assert result.value == value
    assert result.kind == "text"
    assert result.problem == "invalid-choice"


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_choice_blank(raw):
    check(normalise_choice(raw, CHOICES), None, "blank")


def test_choice_excel_error():
    check(normalise_choice("#N/A", CHOICES), None, "error", changes=("excel-error",),
          problem="excel-error")


# --- normalise_date -------------------------------------------------------------------------

APRIL_1 = dt.date(2024, 4, 1)


@pytest.mark.parametrize("raw, changes", [
    (dt.datetime(2024, 4, 1), ()),
    (dt.date(2024, 4, 1), ()),
    (45383, ("date-serial",)),
    (45383.0, ("date-serial",)),
    (45383.75, ("date-serial",)),
    ("2024/4/1", ()),
    ("2024-04-01", ()),
    ("2024年4月1日", ()),
    ("令和6年4月1日", ("era-year",)),
    ("R6.4.1", ("era-year",)),
    ("R6/4/1", ("era-year",)),
    ("２０２４／４／１", ("full-width",)),
    ("令和６年４月１日", ("full-width", "era-year")),
    (" 2024/4/1 ", ("whitespace",)),
])
def test_date_forms(raw, changes):
    result = normalise_date(raw)
    assert result.value == APRIL_1 and type(result.value) is dt.date
    assert result.kind == "date"
    assert result.changes == changes
    assert result.problem is None


def test_date_serial_uses_1900_system():
    assert normalise_date(36526).value == dt.date(2000, 1, 1)
    assert normalise_date(43831).value == dt.date(2020, 1, 1)


def test_date_era_boundaries():
    assert normalise_date("平成31年4月30日").value == dt.date(2019, 4, 30)
    assert normalise_date("令和元年5月1日").value == dt.date(2019, 5, 1)


@pytest.mark.parametrize("raw", ["明日", "2024/2/30", "2024/13/1", "平成32年4月1日", "4月1日", True])
def test_date_unparseable(raw):
    result = normalise_date(raw)
    assert result.kind == "text"
    assert result.problem == "not-a-number"


@pytest.mark.parametrize("raw", [100, 2024, 99999, -45383, 10 ** 400])
def test_date_implausible_serial(raw):
    result = normalise_date(raw)
    assert result.kind == "text"
    assert result.problem == "not-a-number"
    assert result.value == str(raw)


def test_extreme_numbers_do_not_raise():
    # built here: pytest cannot show a 5000-digit int in a test id
    for raw in (float("inf"), float("-inf"), 10 ** 5000, -(10 ** 5000)):
        for function in FUNCTIONS:
            assert function(raw).raw is raw


def test_date_blank_and_error():
    check(normalise_date(None), None, "blank")
    check(normalise_date(""), None, "blank")
    check(normalise_date("#REF!"), None, "error", changes=("excel-error",), problem="excel-error")


# --- properties ---------------------------------------------------------------------------

ANY_CELL = st.one_of(st.none(), st.text(), st.floats(allow_nan=True), st.integers(), st.booleans(),
                     st.dates())
FUNCTIONS = [
    normalise_text,
    normalise_quantity,
    lambda raw: normalise_quantity(raw, "地区"),
    lambda raw: normalise_quantity(raw, percent=True),
    normalise_score,
    lambda raw: normalise_choice(raw, CHOICES),
    normalise_date,
]


@given(ANY_CELL)
def test_nothing_ever_raises(raw):
    for function in FUNCTIONS:
        result = function(raw)
        assert isinstance(result, Normalised)
        assert result.raw is raw
        assert result.kind in {"blank", "number", "text", "milestone", "same-as-before", "none",
                               "error", "choice", "score", "date"}
    assert isinstance(is_excel_error(raw), bool)


UNITS = ["地区", "回", "名", "人", "ケース", "件", "%", "％", "か所"]


@given(st.integers(min_value=0, max_value=10 ** 7), st.booleans(), st.booleans(),
       st.sampled_from(UNITS), st.sampled_from(["", " ", "\u3000"]))
def test_formatted_integers_read_back(number, separators, full_width, unit, space):
    text = f"{number:,}" if separators else str(number)
    if full_width:
        text = text.translate(FULL_WIDTH)
    result = normalise_quantity(f"{text}{space}{unit}")
    assert result.value == number and type(result.value) is int
    assert result.kind == "number"
    assert result.problem is None
    assert "unit-stripped" in result.changes
    assert ("thousands-separator" in result.changes) == (separators and number >= 1000)


@given(st.text().filter(lambda s: s and s == s.strip(BLANK_CHARACTERS) and "\r" not in s
                        and not is_excel_error(s)))
def test_text_without_surrounding_space_is_unchanged(text):
    result = normalise_text(text)
    assert result.value == text
    assert result.changes == ()
    assert result.kind == "text"
