"""差し戻し (``xlplan.feedback``): the return copy a department gets when its file needs fixing.

What the department sees: a fresh copy of its own workbook (never its file saved over) with
every value it typed back in its cell, each problem cell coloured and commented with the
message, a 要修正 sheet listing every problem with a link to its cell, signed and protected like
any department workbook (so the corrected file comes back through the same checks), and a file
Excel opens without repair.
"""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from xlplan.archive import Archive
from xlplan.check import check_files
from xlplan.collect import collect
from xlplan.feedback import SHEET_NAME, write_feedback
from xlplan.fiscal import parse_fiscal_year
from xlplan.read import file_digest, read_returned

from test_archive import _spec, fill, filled  # noqa: F401 - filled is a fixture

MISTAKES = {("2-2-1", "eval_score", None): 6, ("3-1-2", "direction", None): "継続する",
            ("3-2-1", "result", 1): "A", ("3-2-1", "issues", None): None,
            ("3-1-2", "result", 1): "１２０人"}


def _finding_key(f):
    return (f.code, f.project, f.field, f.sheet, f.cell)


def _cache_formula_value(path: Path, sheet_title: str, ref: str, cached: str) -> None:
    """Give a formula cell written by openpyxl the cached value Excel would have saved."""
    wb = load_workbook(path)
    index = wb.sheetnames.index(sheet_title)
    part = None
    with zipfile.ZipFile(path) as z:
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
        book = z.read("xl/workbook.xml").decode()
        rid = re.findall(r'<sheet [^>]*r:id="([^"]+)"', book)[index]
        target = re.search(rf'Id="{rid}"[^>]*Target="([^"]+)"|Target="([^"]+)"[^>]*Id="{rid}"', rels)
        part = "xl/" + (target.group(1) or target.group(2)).lstrip("/").removeprefix("xl/")
        items = [(i, z.read(i.filename)) for i in z.infolist()]
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
        for info, data in items:
            if info.filename == part:
                data, n = re.subn(rf'(<c r="{ref}"[^>]*>\s*<f>[^<]*</f>)\s*(?:<v\s*/>|<v></v>)?'.encode(),
                                  rb"\g<1><v>" + cached.encode() + rb"</v>", data)
                assert n == 1, "formula cell not found"
            out.writestr(info, data)
    os.replace(tmp, path)


@pytest.mark.slow
def test_feedback_copy_lists_the_problems_and_checks_the_same(project, generated, filled, tmp_path):
    plan, files = generated
    for department in ("児童保育課", "学校教育課"):
        shutil.copy2(filled[department], project.inbox / f"{department}.xlsx")
    mistakes = {("2-2-1", "eval_score", None): 6, ("3-1-2", "direction", None): "継続する",
                ("3-2-1", "result", 1): "A", ("3-2-1", "issues", None): None,
                ("3-1-2", "result", 1): "１２０人"}
    original = project.inbox / "福祉課.xlsx"
    fields = fill(plan, files["福祉課"].path, original, mistakes,
                  texts={("2-2-1", "eval_comment", None): "=見直しが必要"})
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    sub = archive.current(plan)["福祉課"]
    recorded = archive.findings([sub.id])
    assert {f.code for f in recorded} == {"score-out-of-range", "invalid-choice", "not-a-number",
                                          "missing-text", "result-far-from-target", "value-normalised"}

    written = write_feedback(archive, plan, project.settings, tmp_path / "差し戻し")
    assert [f.department for f in written] == ["福祉課"]  # the clean departments get nothing
    copy = written[0].path
    assert copy.name == "差し戻し_R6_福祉課_事業シート・評価表.xlsx"
    problems = [f for f in recorded if f.severity in ("error", "warning")]
    assert written[0].findings == len(problems) == 5

    wb = load_workbook(copy)
    assert wb.sheetnames[1] == "要修正"
    ws = wb["要修正"]
    listed = [r for r in ws.iter_rows(min_row=4, values_only=True) if r[0] is not None]
    assert [r[0] for r in listed] == list(range(1, len(problems) + 1))
    assert [r[6] for r in listed] == [f.message("ja") for f in problems]
    assert [r[1] for r in listed] == ["エラー" if f.severity == "error" else "警告" for f in problems]
    for f in problems:
        comment = wb[f.sheet][f.cell].comment
        assert comment is not None and f.message("ja") in comment.text, f.code
        assert wb[f.sheet][f.cell].fill.fgColor.rgb.endswith("FFC7CE")
    # The department's values are back in their cells, as typed (text stays text).
    comment_cell = _spec(fields, "2-2-1", "eval_comment")
    assert wb[comment_cell["sheet"]][comment_cell["cell"]].value == "=見直しが必要"
    assert wb[comment_cell["sheet"]][comment_cell["cell"]].data_type == "s"
    result_cell = _spec(fields, "3-1-2", "result", 1)
    assert wb[result_cell["sheet"]][result_cell["cell"]].value == "１２０人"

    returned = read_returned(copy, project.settings.key_bytes)
    assert returned.signature_ok and returned.readable and returned.department == "福祉課"
    result = check_files([copy], project.settings, plan)
    assert "layout-changed" not in {f.code for f in result.findings}
    assert sorted(_finding_key(f) for f in result.findings) == sorted(_finding_key(f) for f in recorded)


@pytest.mark.parametrize("cached", [True, False], ids=["formula-with-cached-value", "formula-without-cache"])
@pytest.mark.slow
def test_feedback_copy_of_a_formula_input_checks_clean_apart_from_the_formula(
        project, generated, tmp_path, cached):
    plan, files = generated
    original = project.inbox / "福祉課.xlsx"
    fields = fill(plan, files["福祉課"].path, original,
                  {("2-2-1", "result", 1): "=30*1", ("2-2-1", "eval_score", None): 6})
    formula = _spec(fields, "2-2-1", "result", 1)
    if cached:  # as Excel saves it: the formula and its value
        _cache_formula_value(original, formula["sheet"], formula["cell"], "30")
    archive = Archive.for_settings(project.settings)
    [sub] = collect(archive, [project.inbox], project.settings, plan).new
    recorded = archive.findings([sub.id])
    assert sorted(f.code for f in recorded) == ["formula-in-input", "score-out-of-range"]
    [fb] = write_feedback(archive, plan, project.settings, tmp_path / "fb")
    wb = load_workbook(fb.path)
    cell = wb[formula["sheet"]][formula["cell"]]
    assert cell.data_type != "f" and cell.comment is not None  # never a formula in the copy
    assert cell.value == (30 if cached else None)
    result = check_files([fb.path], project.settings, plan)
    expected = [_finding_key(f) for f in recorded if f.code != "formula-in-input"]
    if not cached:
        # Without a cached value the copy cannot know it: the cell is blank, and required.
        expected.append(("missing-result", "2-2-1", formula["label"], formula["sheet"], formula["cell"]))
    assert sorted(_finding_key(f) for f in result.findings) == sorted(expected)


@pytest.fixture
def returned_with_mistakes(project, generated, tmp_path):
    """福祉課 sent a file with MISTAKES (the other departments: nothing yet); it was collected
    and its 差し戻し copy written. (plan, fields, the file sent, archive, submission, copy)"""
    plan, files = generated
    sent = project.inbox / "福祉課.xlsx"
    fields = fill(plan, files["福祉課"].path, sent, MISTAKES,
                  texts={("2-2-1", "eval_comment", None): "=見直しが必要"})
    archive = Archive.for_settings(project.settings)
    [submission] = collect(archive, [project.inbox], project.settings, plan).new
    [copy] = write_feedback(archive, plan, project.settings, tmp_path / "差し戻し")
    return plan, fields, sent, archive, submission, copy


@pytest.mark.slow
def test_nothing_the_department_typed_is_lost_in_its_copy(project, returned_with_mistakes):
    plan, fields, sent, archive, submission, copy = returned_with_mistakes
    original = read_returned(sent, project.settings.key_bytes)
    again = read_returned(copy.path, project.settings.key_bytes)
    assert again.readable and again.department == "福祉課"
    typed = {name: (c.sheet, c.coordinate, c.value) for name, c in original.cells.items()}
    back = {name: (c.sheet, c.coordinate, c.value) for name, c in again.cells.items()}
    assert back == typed  # every input cell, the wrong values too, at the same place
    assert len(typed) == len(fields)


@pytest.mark.slow
def test_every_problem_is_marked_at_its_cell_and_listed_with_a_link_to_it(returned_with_mistakes):
    plan, fields, sent, archive, submission, copy = returned_with_mistakes
    problems = [f for f in archive.findings([submission.id]) if f.severity in ("error", "warning")]
    wb = load_workbook(copy.path)
    listed = [row for row in wb[SHEET_NAME].iter_rows(min_row=4) if row[0].value is not None]
    assert len(listed) == len(problems) == copy.findings
    for f, row in zip(problems, listed):
        cell = wb[f.sheet][f.cell]
        assert cell.fill.fgColor.rgb.endswith("FFC7CE") and f.message("ja") in cell.comment.text
        where = row[4]
        assert where.value == f"{f.sheet}!{f.cell}"
        link = where.hyperlink  # a link inside the workbook ("#'sheet'!cell"), as Excel follows it
        assert (link.location or link.target.removeprefix("#")) == f"'{f.sheet}'!{f.cell}"
    marked = {(ws.title, c.coordinate) for ws in wb.worksheets for r in ws.iter_rows() for c in r
              if c.comment is not None}
    assert marked == {(f.sheet, f.cell) for f in problems}  # nothing else is marked


@pytest.mark.slow
def test_two_problems_in_one_cell_share_its_comment(project, generated, tmp_path):
    plan, files = generated
    # Far above the target and written with a unit: two findings on one cell.
    fields = fill(plan, files["福祉課"].path, project.inbox / "福祉課.xlsx",
                  {("3-1-2", "result", 1): "１２０人"})
    result = _spec(fields, "3-1-2", "result", 1)
    archive = Archive.for_settings(project.settings)
    [submission] = collect(archive, [project.inbox], project.settings, plan).new
    recorded = archive.findings([submission.id])
    [copy] = write_feedback(archive, plan, project.settings, tmp_path / "fb", severities=("error", "warning", "info"))
    on_cell = [f for f in recorded if (f.sheet, f.cell) == (result["sheet"], result["cell"])]
    assert {f.code for f in on_cell} == {"result-far-from-target", "value-normalised"}
    comment = load_workbook(copy.path)[result["sheet"]][result["cell"]].comment.text
    assert all(f.message("ja") in comment for f in on_cell)


def _target(plan, field: dict):
    """The plan's target for the year of a result cell (a field as ``fill`` lists it), or None."""
    project = plan.project(field["project"])
    indicator = next((i for i in project.indicators if i.no == field["indicator"]), None) if project else None
    target = indicator.target_for(parse_fiscal_year(field["year"])) if indicator else None
    return target.value if target else None


@pytest.mark.slow
def test_only_departments_with_something_to_fix_get_a_copy(project, generated, tmp_path):
    plan, files = generated
    for department in ("児童保育課", "学校教育課"):  # clean
        fill(plan, files[department].path, project.inbox / f"{department}.xlsx")
    fill(plan, files["福祉課"].path, project.inbox / "福祉課.xlsx", {("2-2-1", "eval_score", None): 6})
    # 長寿社会課: one result ten times its target, a warning only.
    fields = fill(plan, files["長寿社会課"].path, project.inbox / "長寿社会課.xlsx")
    far = next(f for f in fields if f["field"] == "result" and isinstance(_target(plan, f), int)
               and _target(plan, f) > 0)
    fill(plan, files["長寿社会課"].path, project.inbox / "長寿社会課.xlsx",
         {(far["project"], "result", far["indicator"]): _target(plan, far) * 10})
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    written = write_feedback(archive, plan, project.settings, tmp_path / "all")
    assert sorted(f.department for f in written) == ["福祉課", "長寿社会課"]
    errors_only = write_feedback(archive, plan, project.settings, tmp_path / "errors", severities=("error",))
    assert [f.department for f in errors_only] == ["福祉課"]  # 長寿社会課 has warnings only
    assert sorted(p.name for p in (tmp_path / "errors").iterdir()) == [errors_only[0].path.name]


@pytest.mark.slow
def test_the_departments_own_file_and_its_archived_copy_are_never_touched(project, returned_with_mistakes,
                                                                        tmp_path):
    plan, fields, sent, archive, submission, copy = returned_with_mistakes
    kept = archive.root / submission.archived_path
    before = {p: (file_digest(p), os.stat(p).st_mtime_ns) for p in (sent, kept)}
    again = write_feedback(archive, plan, project.settings, copy.path.parent)  # written again
    assert {p: (file_digest(p), os.stat(p).st_mtime_ns) for p in (sent, kept)} == before
    assert file_digest(kept)[1] == submission.sha256
    assert [f.path for f in again] == [copy.path]
    assert sorted(copy.path.parent.iterdir()) == [copy.path]  # no leftover beside it


@pytest.mark.slow
def test_a_return_copy_opens_in_excel_without_repair(returned_with_mistakes):
    from test_openxml import audit_problems, excel_rule_violations

    copy = returned_with_mistakes[-1]
    assert audit_problems(copy.path) == []
    assert excel_rule_violations(copy.path) == []
