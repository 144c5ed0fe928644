"""The Python module the coordinator panel ``xlplan_panel.xlsm`` imports.

The panel's VBA (xlwings' Excel-compiled standalone project) runs, for every button,
``RunPython "import <workbook name>;<workbook name>.main()"``: this module is named after
the panel file, and :func:`main` hands over to :func:`xlplan.excel.main`, which reads which
button was pressed and runs its action.
"""

from xlplan.excel import main

__all__ = ["main"]
