"""Generated department workbooks: locked layout, validations, names, metadata, restyled templates."""

from __future__ import annotations

import re

import zipfile

import pytest
from openpyxl import load_workbook

from xlplan.generate import generate
from xlplan.metadata import METADATA_SHEET, parse_metadata_rows, verify
from xlplan.plan import load_plan


def _metadata(path):
    wb = load_workbook(path)
    rows = [list(r) for r in wb[METADATA_SHEET].iter_rows(values_only=True)]
    return wb, *parse_metadata_rows(rows)


def test_one_file_per_department_named_with_year(generated, project):
    plan, files = generated
    expected = {d for d in plan.department_names() if plan.projects_for(d)}
    assert set(files) == expected
    for dept, f in files.items():
        assert f.path.parent == project.outbox
        assert f.path.name.startswith(f"R6_{dept}_")
        assert f.path.suffix == ".xlsx"


def test_sheets_cover_projects_evaluation_and_hidden_metadata(generated):
    plan, files = generated
    f = files["長寿社会課"]
    wb = load_workbook(f.path)
    projects = plan.projects_for("長寿社会課")
    assert wb.sheetnames[0] == "表紙"
    assert wb.sheetnames[1:1 + len(projects)] == [f"{p.id} {p.name}"[:31] for p in projects]
    assert wb.sheetnames[-2:] == ["評価表", METADATA_SHEET]
    assert wb[METADATA_SHEET].sheet_state == "veryHidden"
    assert wb.vba_archive is None  # no macros in a department workbook


def test_everything_locked_but_this_years_inputs(generated):
    plan, files = generated
    wb, data, _ = _metadata(files["社会福祉協議会"].path)
    inputs = {(f["sheet"], f["cell"]) for f in data["fields"]}
    assert wb.security.lockStructure
    for ws in wb.worksheets:
        assert ws.protection.sheet, ws.title
        for row in ws.iter_rows():
            for cell in row:
                if cell.coordinate in ws.merged_cells:
                    continue
                assert cell.protection.locked == ((ws.title, cell.coordinate) not in inputs), \
                    (ws.title, cell.coordinate)
    years = {f["year"] for f in data["fields"] if f["year"]}
    assert years == {"R6"}


def test_defined_names_point_at_input_cells(generated):
    _, files = generated
    wb, data, _ = _metadata(files["長寿社会課"].path)
    assert data["fields"], "no input cells recorded"
    for field in data["fields"]:
        dn = wb.defined_names[field["name"]]
        (sheet, ref), = list(dn.destinations)
        assert sheet == field["sheet"]
        assert ref.replace("$", "") == field["cell"]


def test_validations_by_field_kind(generated):
    plan, files = generated
    wb, data, _ = _metadata(files["福祉課"].path)
    by_cell = {}
    for ws in wb.worksheets:
        for dv in ws.data_validations.dataValidation:
            for rng in dv.sqref.ranges:
                by_cell[(ws.title, rng.coord)] = dv
    kinds = {}
    for field in data["fields"]:
        dv = by_cell[(field["sheet"], field["cell"])]
        kinds[field["kind"]] = dv
        assert dv.prompt, field
    assert kinds["score"].type == "whole" and (kinds["score"].formula1, kinds["score"].formula2) == ("1", "5")
    assert "1～5" in kinds["score"].error
    assert kinds["choice"].type == "list"
    assert kinds["choice"].formula1 == '"' + ",".join(plan.direction_choices) + '"'
    assert kinds["quantity"].type == "decimal" and kinds["quantity"].formula1 == "0"
    assert kinds["percent"].type == "decimal"
    assert kinds["milestone"].type is None  # free text with a prompt


def test_required_inputs_highlighted_and_counted_on_cover(generated):
    _, files = generated
    wb, data, _ = _metadata(files["長寿社会課"].path)
    required = [f for f in data["fields"] if f["required"]]
    formatted = set()
    for ws in wb.worksheets:
        for rng in ws.conditional_formatting:
            formatted |= {(ws.title, str(r)) for r in rng.sqref.ranges}
    assert {(f["sheet"], f["cell"]) for f in required} <= formatted
    cover = wb["表紙"]
    formulas = [c.value for row in cover.iter_rows() for c in row
                if isinstance(c.value, str) and c.value.startswith("=")]
    counted = "".join(formulas)
    # The cover counts the required cells only (by name, or a run of them as one range) and
    # none of the optional ones: the same cells check reports as missing when blank.
    for f in data["fields"]:
        column = re.sub(r"[0-9]", "", f["cell"])
        if f["required"]:
            assert f["name"] in counted or f"'{f['sheet']}'!${column}$" in counted, f
        else:
            assert f["name"] not in counted, f
    assert any(v.startswith("=IF(SUM(") for v in formulas)


def test_metadata_is_signed_and_secrets_stay_out(generated, project):
    _, files = generated
    path = files["長寿社会課"].path
    _, data, signature = _metadata(path)
    key = project.settings.key_bytes
    assert verify(data, signature, key)
    assert data["department"] == "長寿社会課" and data["year"] == "R6"
    assert data["template"] == {"id": "department", "version": 1}
    forged = dict(data, department="福祉課")
    assert not verify(forged, signature, key)
    with zipfile.ZipFile(path) as z:
        blob = b"".join(z.read(n) for n in z.namelist())
    assert project.settings.signing_key.encode() not in blob
    assert project.settings.sheet_password.encode() not in blob


def test_indicator_grid_shows_targets_and_units(generated):
    plan, files = generated
    wb, data, _ = _metadata(files["社会福祉協議会"].path)
    result = next(f for f in data["fields"] if f["project"] == "2-1-1" and f["field"] == "result"
                  and f["indicator"] == 2)
    ws = wb[result["sheet"]]
    row = ws[result["cell"]].row
    plan_row = [c.value for c in ws[row - 1]]
    assert "地区アセスメントシートの作成" in plan_row
    assert "地区" in plan_row
    assert plan_row[-5:] == ["-", 5, 10, 15, 20]
    assert result["label"] == "地区アセスメントシートの作成（R6 結果）"
    assert result["unit"] == "地区"


@pytest.mark.parametrize("form", ["R7", "令和7年度", "2025", "FY2025"])
@pytest.mark.slow
def test_generate_another_year_opens_that_years_cells(project, form):
    plan = load_plan(project.master, year=form)
    files = generate(plan, project.outbox / "r7", project.settings, departments=["福祉課"])
    _, data, _ = _metadata(files[0].path)
    assert files[0].path.name.startswith("R7_福祉課_")
    assert {f["year"] for f in data["fields"] if f["year"]} == {"R7"}


@pytest.mark.slow
def test_restyled_template_changes_the_output(project):
    template = project.settings.templates_dir / "department.xlsx"
    wb = load_workbook(template)
    ws = wb["事業シート"]
    ws["C6"] = "現状・課題（令和版）"
    ws["C6"].font = ws["C6"].font.copy(name="BIZ UDゴシック", color="FFC00000")
    ws.column_dimensions["D"].width = 44
    wb["スタイル"]["B2"].fill = wb["スタイル"]["B2"].fill.copy(fgColor="FFCCFFCC")
    wb.save(template)
    plan = load_plan(project.master)
    files = generate(plan, project.outbox, project.settings, departments=["福祉課"])
    out, data, _ = _metadata(files[0].path)
    sheet = out[plan.projects_for("福祉課")[0].id + " " + plan.projects_for("福祉課")[0].name]
    label = next(c for row in sheet.iter_rows() for c in row if c.value == "現状・課題（令和版）")
    assert label.font.name == "BIZ UDゴシック"
    assert sheet.column_dimensions["C"].width == 44  # template column D, control column removed
    field = data["fields"][0]
    assert out[field["sheet"]][field["cell"]].fill.fgColor.rgb.endswith("CCFFCC")


def test_unknown_placeholder_in_template_is_reported(project):
    from xlplan.template import TemplateError

    template = project.settings.templates_dir / "department.xlsx"
    wb = load_workbook(template)
    wb["事業シート"]["C7"] = "{{project.budget}}"
    wb.save(template)
    with pytest.raises(TemplateError, match=r"事業シート.*C7.*project\.budget"):
        generate(load_plan(project.master), project.outbox, project.settings)


@pytest.mark.slow
def test_each_input_message_names_its_own_cell(generated):
    """Cells share a validation only when its input message is the same: the result cells of
    different indicators each name their own indicator (issue 14, item 3)."""
    _, files = generated
    for generated_file in files.values():
        wb, data, _ = _metadata(generated_file.path)
        for f in data["fields"]:
            ws = wb[f["sheet"]]
            covering = [dv for dv in ws.data_validations.dataValidation if f["cell"] in dv.sqref]
            assert len(covering) == 1, f
            assert covering[0].promptTitle == f["label"][:32], (f, covering[0].sqref)


# --- characters no worksheet can hold, in the plan's own text ---------------------------------


def _plan_with(project, edit):
    """The project's plan with ``edit(plan)`` applied (as if the master had carried such text,
    e.g. an Excel escape _x0001_ that a reader decodes to U+0001)."""
    plan = load_plan(project.master)
    edit(plan)
    return plan


def test_control_character_in_a_unit_is_shown_in_the_prompt_not_a_crash(project, tmp_path):
    """An indicator's unit holding U+0001: the workbook is written, the input message shows the
    character's visible mark (␁) as the cell text does."""
    def edit(plan):
        for p in plan.projects:
            for indicator in p.indicators:
                indicator.unit = "地区\x01"
    plan = _plan_with(project, edit)
    department = next(d for d in plan.department_names() if plan.projects_for(d))
    files = generate(plan, tmp_path / "out", project.settings, departments=[department])
    wb = load_workbook(files[0].path)
    prompts = [dv.prompt or "" for ws in wb.worksheets for dv in ws.data_validations.dataValidation]
    assert any("地区\u2401" in p for p in prompts)
    assert not any("\x01" in p for p in prompts)


def test_noncharacter_in_an_indicator_name_keeps_the_signature_valid(project, tmp_path):
    """An indicator name holding U+FFFE (a character no worksheet holds, that JSON leaves as it
    is; the metadata labels input cells with it): the metadata sheet stores exactly the signed
    text, so the signature is valid."""
    def edit(plan):
        plan.projects[0].indicators[0].name = "配食\ufffeサービス"
    plan = _plan_with(project, edit)
    department = plan.projects[0].departments[0]
    files = generate(plan, tmp_path / "out", project.settings, departments=[department])
    _, data, signature = _metadata(files[0].path)
    assert verify(data, signature, project.settings.key_bytes)
