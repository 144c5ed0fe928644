"""Excel's limits on what a workbook holds, and text cut to fit them.

Past these limits Excel does not open a file as written: it reports unreadable content and
repairs the workbook (dropping the data validation, cutting the cell). Excel counts text in
UTF-16 units, so an emoji counts two.
"""

from __future__ import annotations

CELL_TEXT_LIMIT = 32767
# An in-cell drop-down list is stored as one text "a,b,c".
LIST_LIMIT = 255
# A data validation's titles and messages (XlsxWriter refuses longer ones for the same reason).
VALIDATION_TEXT_LIMITS = {"promptTitle": 32, "errorTitle": 32, "prompt": 255, "error": 255}


def utf16_length(text: str) -> int:
    """Length as Excel counts it (UTF-16 units)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def cut_text(text: str | None, limit: int, mark: str = "…") -> str | None:
    """``text`` within ``limit`` UTF-16 units, ending in ``mark`` when it had to be cut."""
    if text is None or utf16_length(text) <= limit:
        return text
    keep = limit - utf16_length(mark)
    text = text[:keep]
    while utf16_length(text) > keep:
        text = text[:-1]
    return text + mark
