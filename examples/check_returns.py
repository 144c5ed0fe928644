"""Example: check returned workbooks and analyse the normalised values with pandas.

    python examples/check_returns.py
"""

import tempfile
from pathlib import Path

import xlplan
from xlplan.simulate import simulate_returns

project = xlplan.init_project(Path(tempfile.mkdtemp()) / "project")
plan = xlplan.load_plan(project.master)
files = xlplan.generate(plan, project.outbox, project.settings)
# Stand-in for the departments: fill the workbooks (with some typical mistakes).
simulate_returns({f.department: f.path for f in files}, plan, project.inbox)

result = xlplan.check_files([project.inbox], project.settings, plan)
for finding in result.findings[:5]:
    print(finding.code, finding.file, finding.location(), finding.message())

results = result.values[result.values["field"] == "result"]
print(results[["department", "project", "indicator", "year", "planned", "raw", "value", "unit"]]
      .head(10).to_string())
print("exit status would be", result.exit_code)
