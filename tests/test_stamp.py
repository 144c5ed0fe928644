"""Departments that get the same projects are written by stamping one rendered prototype.

The stamped file must be the workbook a full render gives for that department: the same XML in
every part (but the file times and the signed metadata), same values, a valid signature naming the
department. Names with XML's special characters must survive.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import replace

import pytest
import python_calamine

from xlplan.check import check_files
from xlplan.generate import generate
from xlplan.render import build_workbook
from xlplan.plan import load_plan
from xlplan.read import read_returned
from xlplan.template import load_template_spec


def _parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None  # every CRC matches: the copied entries are intact
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _canonical(part: bytes) -> bytes:
    """An XML part in canonical form (C14N 2.0): '&#26085;' and '日' compare equal, as they are
    for every reader (openpyxl writes either, depending on whether lxml is installed)."""
    try:
        return ET.canonicalize(part.decode("utf-8")).encode("utf-8")
    except (ET.ParseError, UnicodeDecodeError):
        return part


def _full_render(plan, project, department, layout, project_ids) -> bytes:
    spec = load_template_spec(layout, project.settings.templates_dir)
    wb, _ = build_workbook(plan, department, project.settings, spec,
                           projects=[p for p in plan.projects if p.id in project_ids])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _values(data: bytes) -> dict[str, list]:
    wb = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    return {name: wb.get_sheet_by_name(name).to_python() for name in wb.sheet_names}


@pytest.mark.slow
def test_stamped_workbook_is_the_full_render_of_that_department(project, generated):
    plan, files = generated
    for department in list(files)[:3]:
        f = files[department]
        stamped = _parts(f.path.read_bytes())
        full = _parts(_full_render(plan, project, department, f.layout, f.projects))
        assert stamped.keys() == full.keys()
        metadata_part = "xl/worksheets/sheet%d.xml" % len(
            [n for n in full if n.startswith("xl/worksheets/sheet")])
        differing = {n for n in full if _canonical(stamped[n]) != _canonical(full[n])}
        # Only the file times and the metadata sheet (signed with a time) may differ.
        assert differing <= {"docProps/core.xml", metadata_part}, differing
        a = read_returned(f.path, project.settings.key_bytes)
        assert a.signature_ok and a.department == department
        tmp = f.path.with_name("full.xlsx")
        tmp.write_bytes(_full_render(plan, project, department, f.layout, f.projects))
        b = read_returned(tmp, project.settings.key_bytes)
        tmp.unlink()
        assert replace(a.metadata, generated_at=None) == replace(b.metadata, generated_at=None)


@pytest.mark.slow
def test_department_name_with_xml_special_characters(project):
    """A department called 'A&B <課> "引用" 'x'' in the master gets exactly that name."""
    from openpyxl import load_workbook

    nasty = 'A&B <課> "引用" \'x\''
    original = load_plan(project.master).department_names()[0]
    wb = load_workbook(project.master)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and original in cell.value:
                    cell.value = cell.value.replace(original, nasty)
    wb.save(project.master)
    plan = load_plan(project.master)
    assert nasty in plan.department_names()
    files = generate(plan, project.outbox, project.settings, departments=[nasty])
    data = files[0].path.read_bytes()
    returned = read_returned(files[0].path, project.settings.key_bytes)
    assert returned.signature_ok and returned.department == nasty
    cover = next(iter(_values(data).values()))
    assert any(nasty in str(v) for row in cover for v in row)
    # The per-row fingerprint was recomputed for the real name: no layout change is reported,
    # only the blanks of a workbook nobody has filled.
    result = check_files([files[0].path], project.settings, plan)
    assert {f.code for f in result.findings} <= {"missing-result", "missing-text", "score-missing"}
    assert result.findings


@pytest.mark.slow
def test_shared_projects_render_once_and_every_copy_checks_clean(project, tmp_path):
    """Every department of a group gets its own name and signature from one prototype."""
    plan = load_plan(project.master)
    out = tmp_path / "out"
    files = generate(plan, out, project.settings)
    departments = {read_returned(f.path, project.settings.key_bytes).department for f in files}
    assert departments == {f.department for f in files}
    result = check_files([out], project.settings, plan)
    # Blank inputs are all there is to report in a workbook nobody has filled yet.
    assert {f.code for f in result.findings} <= {"missing-result", "missing-text", "score-missing"}
    assert len(result.files) == len(files)


def test_a_project_sent_to_many_departments_names_the_recipient_and_a_count(project, tmp_path):
    """A survey-like project shared by 12 departments: each workbook's 担当課 cell names its own
    department and how many others share it (not all 12 names), stamped or rendered in full."""
    from xlplan.plan import Department

    plan = load_plan(project.master)
    shared = plan.projects[0]
    extra = [f"調査{i:02d}課" for i in range(1, 13 - len(shared.departments))]
    plan.departments += [Department(name) for name in extra]
    shared.departments = list(shared.departments) + extra
    assert len(shared.departments) == 12
    files = {f.department: f for f in generate(plan, tmp_path / "out", project.settings,
                                               departments=[shared.departments[0], extra[3]])}
    for department, f in files.items():
        values = _values(f.path.read_bytes())
        cells = [v for rows in values.values() for row in rows for v in row if isinstance(v, str)]
        assert f"{department}ほか11担当" in cells
        assert not any(extra[-1] in v for v in cells if department != extra[-1])
    result = check_files([tmp_path / "out"], project.settings, plan)
    assert {f.code for f in result.findings} <= {"missing-result", "missing-text", "score-missing"}
