"""Next year's sheets show earlier years' reported results and DO texts, locked."""

from __future__ import annotations

import random

import pytest
from openpyxl import load_workbook

from xlplan.archive import Archive, ArchiveHistory
from xlplan.collect import collect
from xlplan.generate import generate
from xlplan.metadata import METADATA_SHEET, parse_metadata_rows
from xlplan.plan import load_plan
from xlplan.simulate import fill_workbook


def _fields(path):
    wb = load_workbook(path)
    data, _ = parse_metadata_rows([list(r) for r in wb[METADATA_SHEET].iter_rows(values_only=True)])
    return wb, data["fields"]


@pytest.mark.slow
def test_r7_sheets_show_r6_results_locked(project, generated):
    plan, files = generated
    returned = project.inbox / "福祉課.xlsx"
    fill_workbook(files["福祉課"].path, returned, plan, random.Random(3), mistakes=0)
    _, r6_fields = _fields(returned)
    wb6 = load_workbook(returned)
    written = {(f["project"], f["field"], f["indicator"]): wb6[f["sheet"]][f["cell"]].value
               for f in r6_fields}
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)

    plan7 = load_plan(project.master, year="R7")
    out = generate(plan7, project.outbox / "R7", project.settings, departments=["福祉課"],
                   history=ArchiveHistory(archive, plan7))
    wb7, r7_fields = _fields(out[0].path)
    assert {f["year"] for f in r7_fields if f["year"]} == {"R7"}
    checked = 0
    for f in r7_fields:
        if f["field"] not in ("result", "do"):
            continue
        ws = wb7[f["sheet"]]
        cell = ws[f["cell"]]
        # The R6 column (results) or row (DO) sits one column left / one row above R7's input.
        past = ws.cell(cell.row, cell.column - 1) if f["field"] == "result" else ws.cell(cell.row - 1, cell.column)
        expected = written[(f["project"], f["field"], f["indicator"])]
        assert past.value == expected, (f["label"], past.value, expected)
        assert past.protection.locked
        assert cell.value is None and not cell.protection.locked
        checked += 1
    assert checked >= 5


@pytest.mark.slow
def test_without_history_earlier_years_stay_blank(project, generated):
    plan7 = load_plan(project.master, year="R7")
    out = generate(plan7, project.outbox / "R7", project.settings, departments=["福祉課"])
    wb7, fields = _fields(out[0].path)
    f = next(f for f in fields if f["field"] == "result")
    ws = wb7[f["sheet"]]
    assert ws.cell(ws[f["cell"]].row, ws[f["cell"]].column - 1).value is None


@pytest.mark.slow
def test_cli_generate_uses_the_projects_archive(project, generated):
    from xlplan.cli import main

    plan, files = generated
    returned = project.inbox / "福祉課.xlsx"
    fill_workbook(files["福祉課"].path, returned, plan, random.Random(5), mistakes=0)
    assert main(["collect", str(project.inbox), "--project", str(project.root)]) == 0
    assert main(["generate", str(project.master), "--year", "令和7年度", "--out",
                 str(project.outbox / "R7"), "--department", "福祉課"]) == 0
    wb7, fields = _fields(next((project.outbox / "R7").glob("R7_福祉課_*.xlsx")))
    do = next(f for f in fields if f["field"] == "do")
    ws = wb7[do["sheet"]]
    assert ws.cell(ws[do["cell"]].row - 1, ws[do["cell"]].column).value  # R6's DO text is shown
