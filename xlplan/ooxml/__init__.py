"""The hand-written bytes of a workbook package (SpreadsheetML text, sheet names, CSV fields).

Nothing here knows about plans, departments or layouts: these are the rules of the file formats
that every writer of xlplan follows, each in one place (see :mod:`xlplan.ooxml.text`).
"""
