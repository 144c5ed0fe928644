"""Excel's limits on what a workbook holds, and text cut to fit them.

Past these limits Excel does not open a file as written: it reports unreadable content and
repairs the workbook (dropping the data validation, cutting the cell). Excel counts text in
UTF-16 units, so an emoji counts two.
"""

from __future__ import annotations

from .ooxml.text import CELL_LIMIT, cut_text, utf16_length  # noqa: F401 - one counting of UTF-16 units

CELL_TEXT_LIMIT = CELL_LIMIT
# An in-cell drop-down list is stored as one text "a,b,c".
LIST_LIMIT = 255
# A data validation's titles and messages (XlsxWriter refuses longer ones for the same reason).
VALIDATION_TEXT_LIMITS = {"promptTitle": 32, "errorTitle": 32, "prompt": 255, "error": 255}
