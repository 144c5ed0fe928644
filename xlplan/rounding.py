"""One rounding for every average and rate xlplan shows: half up, on the decimal value.

Published tables round 3.25 to 3.3 and 3.65 to 3.7 (seed 003); Python's ``round()`` rounds
half to even on binary floats (3.25 → 3.2, 3.65 → 3.6). Every average (達成度, 評価点) and
every achievement rate goes through these functions, in the workbook, the CSV and the tables.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def _decimal(value) -> Decimal:
    # str() gives the shortest text of a float, i.e. the number as it was typed (80.5, not
    # 80.4999…), so the division below is exact on what the department wrote.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def round_half_up(value, places: int = 1) -> float:
    """``value`` rounded half up to ``places`` decimals: 3.25 → 3.3, 0.8335 → 0.834 (3)."""
    return float(_decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def average(numbers, places: int = 1) -> float | None:
    """The mean of the numbers, rounded half up (one decimal by default); None when empty."""
    numbers = list(numbers)
    if not numbers:
        return None
    return round_half_up(sum(_decimal(n) for n in numbers) / len(numbers), places)


def rate(number, target) -> float | None:
    """Achievement rate result ÷ target, rounded half up to one decimal of a percent
    (0.8333… → 0.833, shown as 83.3 %); None without both numbers or with a zero target."""
    if number is None or target is None or not target:
        return None
    return round_half_up(_decimal(number) / _decimal(target), 3)


def percent_text(value: float) -> str:
    """A rate as people read it in a message: 0.833 → '83.3%' (one decimal, as the workbook)."""
    return f"{round_half_up(_decimal(value) * 100, 1):.1f}%"
