"""The plan master: the sample reads back whole, and mistakes become findings with cells."""

from __future__ import annotations

import datetime as dt

import pytest
from openpyxl import load_workbook

from xlplan.fiscal import parse_fiscal_year
from xlplan.plan import PlanError, load_plan, read_plan
from xlplan.sample import sample_plan, write_master


@pytest.fixture
def master(tmp_path):
    return write_master(sample_plan(), tmp_path / "計画マスタ.xlsx")


def _edit(path, sheet, cell, value):
    wb = load_workbook(path)
    wb[sheet][cell] = value
    wb.save(path)


def _codes(findings):
    return sorted((f.code, f.sheet, f.cell) for f in findings)


def test_sample_master_round_trips(master):
    plan, findings = read_plan(master)
    assert findings == []
    expected = sample_plan()
    assert plan.name == expected.name
    assert [y.short for y in plan.years] == ["R5", "R6", "R7", "R8", "R9"]
    assert plan.year == parse_fiscal_year("令和6年度")
    assert plan.deadline == dt.date(2025, 7, 31)
    assert [p.id for p in plan.projects] == [p.id for p in expected.projects]
    care = plan.project("2-1-1")
    assert care.departments == ["社会福祉協議会", "長寿社会課"]
    sheet = care.indicators[1]
    assert sheet.unit == "地区"
    assert sheet.targets[parse_fiscal_year("R5")].kind == "none"
    assert sheet.targets[parse_fiscal_year("R7")].value == 10
    survey = plan.project("3-1-1").indicators[1]
    assert survey.is_milestone
    # "→" in R7 means the R6 target continues.
    assert survey.target_for(parse_fiscal_year("R7")).text == "実施"


def test_project_without_department(master):
    _edit(master, "事業", "D2", None)
    plan, findings = read_plan(master)
    assert ("project-without-department", "事業", "D2") in _codes(findings)


def test_duplicate_project_id_names_first_place(master):
    _edit(master, "事業", "A3", "1-1-1")
    _, findings = read_plan(master)
    dup = [f for f in findings if f.code == "duplicate-id"]
    assert [(f.sheet, f.cell, f.value, f.detail) for f in dup] == [("事業", "A3", "1-1-1", "事業!A2")]


def test_year_outside_period_in_indicator_header(master):
    _edit(master, "指標", "I1", "令和10年度")
    _, findings = read_plan(master)
    assert ("year-outside-period", "指標", "I1") in _codes(findings)


def test_evaluation_year_outside_period(master):
    _edit(master, "計画", "B7", "FY2030")
    _, findings = read_plan(master)
    assert ("year-outside-period", "計画", "B7") in _codes(findings)
    with pytest.raises(PlanError):
        load_plan(master)


def test_department_used_but_not_listed(master):
    _edit(master, "事業", "D3", "社会福祉協議会、総務課")
    _, findings = read_plan(master)
    found = [f for f in findings if f.code == "department-not-listed"]
    assert [(f.cell, f.value, f.project) for f in found] == [("D3", "総務課", "1-2-1")]


def test_id_turned_into_date_by_excel(master):
    _edit(master, "施策の方向性", "A2", dt.datetime(2026, 1, 1))
    _, findings = read_plan(master)
    assert ("master-invalid-value", "施策の方向性", "A2") in _codes(findings)


def test_missing_sheet_and_unreadable_file(master, tmp_path):
    wb = load_workbook(master)
    del wb["指標"]
    wb.save(master)
    _, findings = read_plan(master)
    assert ("master-missing-sheet", "", "") in _codes(findings)
    junk = tmp_path / "junk.xlsx"
    junk.write_text("not a workbook")
    plan, findings = read_plan(junk)
    assert plan is None and [f.code for f in findings] == ["master-unreadable"]


@pytest.mark.parametrize("form", ["R7", "令和7年度", "2025", "FY2025", "Ｒ７"])
def test_every_year_form_in_the_master(master, form):
    _edit(master, "計画", "B7", form)
    plan = load_plan(master)
    assert plan.year.short == "R7"


def test_findings_have_japanese_and_english_messages(master):
    _edit(master, "事業", "D2", None)
    _, findings = read_plan(master)
    f = next(f for f in findings if f.code == "project-without-department")
    assert f.message("ja") == "事業「1-1-1」に担当課が指定されていません。"
    assert f.message("en") == "Project '1-1-1' has no responsible department."
