"""How the workbooks in this folder were made: with xlplan as it was before the typed,
versioned metadata schema (issue 15), i.e. workbooks "already sent" whose metadata carries
no ``schema_version``. Kept for the record; running it again with a later xlplan would make
workbooks of the later schema, which is not what these fixtures are for.

    python tests/data/metadata_v1/make_fixtures.py OUT_DIR

writes into OUT_DIR: the project (settings with the signing key, plan master, layouts,
including a custom one), the department workbooks of every layout as sent, filled copies
(simulated departments, mistakes included), a scoring form sent and filled, a return copy
(feedback), and ``expected.json``: what ``check`` reported for every workbook then.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

from openpyxl import load_workbook

# The example's custom layout (volunteer registrations, with a declared sum check).
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "examples"))

from custom_layout import add_volunteer_layout  # noqa: E402

from xlplan.archive import Archive  # noqa: E402
from xlplan.check import check_returned, template_versions  # noqa: E402
from xlplan.feedback import write_feedback  # noqa: E402
from xlplan.generate import generate  # noqa: E402
from xlplan.plan import load_plan  # noqa: E402
from xlplan.project import init_project  # noqa: E402
from xlplan.read import read_returned  # noqa: E402
from xlplan.scoring import generate_scoring  # noqa: E402
from xlplan.settings import load_settings  # noqa: E402
from xlplan.simulate import fill_workbook, simulate_scoring  # noqa: E402

LAYOUTS = {"3-1-2": "活動報告", "1-2-1": "指標", "2-1-1": "indicators", "3-1-1": "相談件数",
           "3-2-2": "volunteer"}
SENT = [("department", "福祉課"), ("activity", "福祉課"), ("indicators", "社会福祉協議会"),
        ("counts", "健康づくり課"), ("volunteer", None)]


def _set_layouts(master: Path) -> None:
    wb = load_workbook(master)
    ws = wb["事業"]
    col = {c.value: c.column for c in ws[1]}
    for row in range(2, ws.max_row + 1):
        layout = LAYOUTS.get(ws.cell(row, 1).value)
        if layout:
            ws.cell(row, col["様式"]).value = layout
    wb.save(master)


def make(out: Path) -> None:
    """Write the fixtures into ``out`` (see the module's docstring)."""
    work = Path(tempfile.mkdtemp())
    project = init_project(work / "project")
    add_volunteer_layout(project.settings.templates_dir)
    _set_layouts(project.master)
    plan = load_plan(project.master)
    generated = {(f.layout, f.department): f for f in generate(plan, project.outbox, project.settings)}
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(project.root / "xlplan.toml", out / "xlplan.toml")
    shutil.copy2(project.master, out / "計画マスタ.xlsx")
    shutil.copytree(project.settings.templates_dir, out / "workbook_templates")
    sent, filled = out / "sent", out / "returned"
    sent.mkdir()
    filled.mkdir()
    rng = random.Random(15)
    for layout, department in SENT:
        f = generated[next(k for k in generated if k[0] == layout and department in (None, k[1]))]
        shutil.copy2(f.path, sent / f.path.name)
        fill_workbook(f.path, filled / f"filled_{f.path.name}", plan, rng, mistakes=2)
    archive = Archive.for_settings(project.settings)
    archive.collect([filled], project.settings, plan)
    copies = write_feedback(archive, plan, project.settings, work / "feedback")
    shutil.copy2(copies[0].path, sent / copies[0].path.name)
    forms = generate_scoring(plan, work / "scoring", project.settings, archive, members=["1", "2"])
    shutil.copy2(forms[0].path, sent / forms[0].path.name)
    scored = simulate_scoring({forms[0].member.id: forms[0].path}, plan, work / "scored", missing=0)
    shutil.copy2(scored[0].path, filled / f"filled_{forms[0].path.name}")
    _record(out)
    shutil.rmtree(work)


def _record(out: Path) -> None:
    """expected.json: per workbook, the findings (code, severity, sheet, cell, value) and the
    value rows check gave, and the department and layout version it named."""
    settings = load_settings(out / "xlplan.toml")
    plan = load_plan(out / "計画マスタ.xlsx")
    versions = template_versions(settings)
    expected = {"versions": versions, "files": {}}
    for path in sorted((out / "sent").glob("*.xlsx")) + sorted((out / "returned").glob("*.xlsx")):
        returned = read_returned(path, settings.key_bytes)
        findings, values = check_returned(returned, plan, settings, versions,
                                          collected_at="2026-12-31T00:00:00+00:00")
        expected["files"][str(path.relative_to(out))] = {
            "department": returned.department, "readable": returned.readable,
            "findings": [[f.code, f.severity, f.sheet, f.cell, _plain(f.value)] for f in findings],
            "values": [{k: _plain(v) for k, v in row.items()} for row in values],
        }
    (out / "expected.json").write_text(json.dumps(expected, ensure_ascii=False, indent=1, sort_keys=True),
                                       encoding="utf-8")


def _plain(value):
    """A value as JSON keeps it (numbers and text as they are, anything else as text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


if __name__ == "__main__":
    make(Path(sys.argv[1]))
