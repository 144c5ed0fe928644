"""Example: make a project folder, read the plan master and generate department workbooks.

    python examples/generate_workbooks.py [FOLDER]
"""

import sys
import tempfile
from pathlib import Path

import xlplan

folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "project"
project = xlplan.init_project(folder)                 # sample master + new key and password
plan = xlplan.load_plan(project.master, year="令和6年度")  # any year form: R6, 2024, FY2024
print(plan.name, plan.start.short, "-", plan.end.short, "evaluating", plan.year.label_ja)

files = xlplan.generate(plan, project.outbox, project.settings)
for f in files:
    print(f.department, f.path.name, len(f.projects), "projects", f.inputs, "input cells")
