"""Example: a plan master with mistakes gives findings with sheet and cell, not a traceback.

    python examples/master_mistakes.py
"""

import tempfile
from pathlib import Path

from openpyxl import load_workbook

import xlplan

project = xlplan.init_project(Path(tempfile.mkdtemp()) / "project")
wb = load_workbook(project.master)
wb["事業"]["D2"] = None                 # a project with no department
wb["事業"]["A3"] = "1-1-1"              # a duplicate id
wb["指標"]["I1"] = "R10"                # a year outside the plan period R5–R9
wb.save(project.master)

plan, findings = xlplan.read_plan(project.master)
for f in findings:
    print(f"{f.code:28} {f.sheet}!{f.cell:5} {f.message()}")
