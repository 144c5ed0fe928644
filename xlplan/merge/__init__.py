"""Merge the current submissions of a year from the archive into the coordinator's workbook.

``merged_tables`` gives the tables as pandas DataFrames (for analysis); ``write_merged`` writes
the consolidated workbook: 提出状況, 要確認, 一覧 (seed 003's 資料No.3), 指標, 基本目標別 with
charts, 推移, 入力値, 中間評価結果 when members replied, and one 事業シート per project with every
department's entries, ready to print. Text a department typed is always written as text, never
as a formula.

Three parts, data flowing one way: :mod:`.tables` (archive → rows; the registry of tables),
:mod:`.layout` (formats, widths, page set-up, charts, the layout workbook's looks),
:mod:`.writer` (the workbook through XlsxWriter's public API and :mod:`xlplan.ooxml`; CSV).
"""

from .layout import DATE_TIMES, FONT, ONE_DECIMAL, measure_label
from .tables import (FINDING_COLUMNS, INDICATOR_COLUMNS, TABLE_ORDER, TABLE_SPECS, VALUE_COLUMNS,
                     MergedTables, MergeSource, Table, TableSpec, merged_tables, overview_columns,
                     table_sources, trend_table)
from .writer import EXCEL_CELL_LIMIT, put, write_csv, write_merged, write_table_csv

__all__ = ["DATE_TIMES", "EXCEL_CELL_LIMIT", "FINDING_COLUMNS", "FONT", "INDICATOR_COLUMNS", "ONE_DECIMAL",
           "TABLE_ORDER", "TABLE_SPECS", "VALUE_COLUMNS", "MergeSource", "MergedTables", "Table", "TableSpec",
           "measure_label", "merged_tables", "overview_columns", "put", "table_sources", "trend_table",
           "write_csv", "write_merged", "write_table_csv"]
