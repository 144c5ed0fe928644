"""The XML render of a compiled layout is the openpyxl render, part for part.

The openpyxl render (``render.build_workbook``) stays the reference and the fallback; the XML
render (``xlplan.xmlrender``) must give the same package: the same part names, and each part the
same in canonical XML (C14N 2.0: attribute order, character references and empty-element forms
normalised). Genuinely volatile values, and only those, are left out of the comparison:

* ``docProps/core.xml``: ``dcterms:modified`` (the time of saving);
* the metadata sheet: ``generated_at`` in its JSON, and so its signature (both renders' signatures
  are checked to be valid instead).

Compared over the sample plan in every built-in department layout, the custom layout of
examples/custom_layout.py, a city plan (every department has projects of its own) and plans made
by hypothesis with awkward text (``& < > " '``, control characters, 32,767-character values,
long names).
"""

from __future__ import annotations

import io
import re
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings as hsettings, strategies as st

from xlplan.generate import generate
from xlplan.render import build_workbook
from xlplan.metadata import METADATA_SHEET, parse_metadata_rows, verify
from xlplan.ooxml.package import sheet_parts
from xlplan.ooxml.text import decode_escapes
from xlplan.read import read_returned
from xlplan.sample import city_plan, sample_plan
from xlplan.settings import Settings
from xlplan.template import load_template_spec
from xlplan.xmlrender import CompiledLayout, compile_layout

ROOT = Path(__file__).resolve().parent.parent
DEPARTMENT_LAYOUTS = ["department", "activity", "counts", "indicators"]
KEY = "11" * 32


def _settings(tmp_path: Path) -> Settings:
    return Settings(tmp_path, KEY, "pw")


def _openpyxl_render(plan, department, settings, spec, projects, history=None) -> bytes:
    wb, _ = build_workbook(plan, department, settings, spec, history, projects=projects)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _canonical(part: str, data: bytes) -> str:
    text = ET.canonicalize(data.decode("utf-8"))
    if part == "docProps/core.xml":
        text = re.sub(r"(<dcterms:modified[^>]*>)[^<]*", r"\1", text)
    return text


_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def _metadata_sheet(data: bytes) -> tuple[str, dict]:
    """(the sheet without its cells, the metadata without generated_at); the signature is
    checked to be valid."""
    root = ET.fromstring(data)
    rows = [[decode_escapes("".join(c.itertext())) for c in row.iter(f"{_NS}c")]
            for row in root.iter(f"{_NS}row")]
    metadata, signature = parse_metadata_rows(rows)
    assert verify(metadata, signature, bytes.fromhex(KEY))
    metadata = dict(metadata)
    metadata.pop("generated_at")
    shell = re.sub(r"<sheetData>.*</sheetData>", "", ET.canonicalize(data.decode("utf-8")), flags=re.S)
    return shell, metadata


def assert_same_parts(reference: bytes, rendered: bytes) -> None:
    """Both packages hold the same parts, equal in canonical XML but for the volatile values."""
    with zipfile.ZipFile(io.BytesIO(reference)) as a, zipfile.ZipFile(io.BytesIO(rendered)) as b:
        assert b.testzip() is None
        assert sorted(a.namelist()) == sorted(b.namelist())
        metadata_part = sheet_parts(a)[METADATA_SHEET]
        assert sheet_parts(b)[METADATA_SHEET] == metadata_part
        for name in a.namelist():
            if name == metadata_part:
                assert _metadata_sheet(a.read(name)) == _metadata_sheet(b.read(name))
            else:
                assert _canonical(name, a.read(name)) == _canonical(name, b.read(name)), name


def _check_plan(plan, settings, layout: str, folder: Path | None = None, departments=None) -> int:
    spec = load_template_spec(layout, folder)
    names = departments or [d for d in plan.department_names() if plan.projects_for(d)]
    compiled = None
    compared = 0
    for department in names:
        projects = [p for p in plan.projects_for(department) if plan.layout_of(p) == layout] or \
            plan.projects_for(department)
        compiled = compiled or CompiledLayout(plan, settings, spec)
        data, inputs = compiled.render(department, projects)
        assert_same_parts(_openpyxl_render(plan, department, settings, spec, projects), data)
        compared += 1
    return compared


@pytest.mark.parametrize("layout", DEPARTMENT_LAYOUTS)
def test_sample_plan_in_every_builtin_layout(layout, tmp_path):
    """Every department of the demo plan, in each built-in department layout."""
    assert _check_plan(sample_plan(), _settings(tmp_path), layout) == 6


def test_city_plan_every_department_its_own_projects(tmp_path):
    """A city plan (seeds 000 and 003): every department reports on projects of its own."""
    plan = city_plan(12, 5)
    assert _check_plan(plan, _settings(tmp_path), "department") == 12


def test_custom_layout_of_the_example(tmp_path):
    """The volunteer layout that examples/custom_layout.py writes (no styles sheet: default
    colours, fills added by the render)."""
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from custom_layout import add_volunteer_layout
    finally:
        sys.path.pop(0)
    folder = tmp_path / "layouts"
    folder.mkdir()
    add_volunteer_layout(folder)
    plan = sample_plan()
    for project in plan.projects:
        project.layout = "volunteer"
    assert _check_plan(plan, _settings(tmp_path), "volunteer", folder) == 6


def test_history_prefills_past_years(tmp_path):
    """Values a department reported in earlier years are shown (reference look) alike."""

    class History:
        def value(self, department, project, field_name, indicator, year):
            return {"result": 12.5, "do": "前年度の取組み & <報告>"}.get(field_name)

    plan = sample_plan()
    settings = _settings(tmp_path)
    spec = load_template_spec("department")
    department = plan.department_names()[0]
    projects = plan.projects_for(department)
    compiled = CompiledLayout(plan, settings, spec)
    data, _ = compiled.render(department, projects, History())
    assert_same_parts(_openpyxl_render(plan, department, settings, spec, projects, History()), data)


AWKWARD = st.text(alphabet=st.sampled_from(list("&<>\"' _x0041_\t\n\r\x00\x01\x0b\x1f\ufffe\u3000福祉=A1-+@")
                                         + ["\U0001F600", "\ud800"]), min_size=0, max_size=40)


@hsettings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate], suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(department=AWKWARD.filter(lambda s: s.strip()), name=AWKWARD, issues=AWKWARD, unit=AWKWARD,
       long_text=st.booleans(), layout=st.sampled_from(DEPARTMENT_LAYOUTS))
def test_awkward_text_renders_alike(tmp_path, department, name, issues, unit, long_text, layout):
    """Department and project names, texts and units with XML's special characters, control
    characters, escapes Excel decodes, formulas-looking text, 32,767-character values and long
    sheet names: the XML render writes what the openpyxl render writes."""
    plan = sample_plan()
    original = plan.department_names()[0]
    plan.departments[0].name = department
    for project in plan.projects:
        project.departments = [department if d == original else d for d in project.departments]
    project = plan.projects_for(department)[0]
    project.name = name * 20 if long_text else name
    project.issues = ("_x0041_&" * 5000 + issues)[:32767] if long_text else issues
    if project.indicators:
        project.indicators[0].unit = unit
        project.indicators[0].name = issues
    settings = _settings(tmp_path)
    assert _check_plan(plan, settings, layout, departments=[department]) == 1


def test_generate_writes_the_xml_render_and_it_reads_back(tmp_path):
    """generate uses the XML render for departments with projects of their own: each file has
    the department's name and a valid signature, and check finds only the blanks."""
    from xlplan.check import check_files
    from xlplan.plan import load_plan  # noqa: F401  (the plan is built here, not read)

    plan = city_plan(4, 3)
    settings = _settings(tmp_path)
    files = generate(plan, tmp_path / "out", settings)
    assert len(files) == 4
    for f in files:
        returned = read_returned(f.path, settings.key_bytes)
        assert returned.signature_ok and returned.department == f.department
        assert len(returned.metadata.fields) == f.inputs
    result = check_files([tmp_path / "out"], settings, plan)
    assert {x.code for x in result.findings} <= {"missing-result", "missing-text", "score-missing"}


def test_restyled_layout_outside_the_compiler_falls_back_to_openpyxl(tmp_path):
    """A coordinator's restyled layout with what the compiler does not handle (a date typed in
    the template, print title columns) is rendered with openpyxl: generate writes the same
    workbook as the openpyxl render."""
    import datetime as dt
    import shutil

    from openpyxl import load_workbook

    folder = tmp_path / "layouts"
    folder.mkdir()
    builtin = load_template_spec("department")
    shutil.copy(builtin.declaration, folder / "department.toml")
    wb = load_workbook(builtin.workbook)
    cover = wb[builtin.sheets["cover"]]
    cover.cell(cover.max_row + 1, 2).value = dt.date(2025, 4, 1)
    wb[builtin.sheets["project"]].print_title_cols = "B:C"
    wb.save(folder / "department.xlsx")
    plan = city_plan(2, 2)
    settings = _settings(tmp_path)
    spec = load_template_spec("department", folder)
    assert compile_layout(plan, settings, spec) is None
    files = generate(plan, tmp_path / "out", settings, templates_dir=folder)
    for f in files:
        reference = _openpyxl_render(plan, f.department, settings, spec, plan.projects_for(f.department))
        assert_same_parts(reference, f.path.read_bytes())


def test_metadata_sheet_parse_helper_reads_signature():
    """The comparison's own reader of the metadata sheet sees what read.py sees."""
    plan = sample_plan()
    with pytest.raises(AssertionError):
        assert_same_parts(_openpyxl_render(plan, plan.department_names()[0], Settings(Path("."), KEY, "pw"),
                                           load_template_spec("department"), plan.projects_for(plan.department_names()[0])),
                          _openpyxl_render(plan, plan.department_names()[1], Settings(Path("."), KEY, "pw"),
                                           load_template_spec("department"), plan.projects_for(plan.department_names()[1])))



def test_libreoffice_types_into_an_xml_rendered_workbook_and_check_reads_it(libreoffice, tmp_path):
    """A city-plan workbook (rendered at XML level: no department shares its projects) opened in
    LibreOffice, every input typed and saved: read back exactly, signature valid, no layout
    change and no error."""
    from test_libreoffice_workbooks import _fields, _valid_entry

    from xlplan.check import check_files
    from xlplan.findings import ERROR

    plan = city_plan(3, 4)
    settings = _settings(tmp_path)
    files = generate(plan, tmp_path / "out", settings, departments=[plan.department_names()[1]])
    src = files[0].path
    fields = _fields(src)
    expected, values = {}, []
    for i, f in enumerate(fields):
        typed, value = _valid_entry(f, i, plan)
        expected[f["name"]] = value
        values.append({"name": f["name"], "value": typed, "mode": "type"})
    (tmp_path / "back").mkdir()
    out = libreoffice.fill(src, tmp_path / "back" / src.name, values)
    returned = read_returned(out, settings.key_bytes)
    assert returned.signature_ok is True and returned.department == files[0].department
    result = check_files([out], settings, plan)
    assert [f for f in result.findings if f.severity == ERROR or f.code == "layout-changed"] == []
    by_cell = {(r.sheet, r.cell): r.value for r in result.values.itertuples()}
    assert {f["name"]: by_cell[(f["sheet"], f["cell"])] for f in fields} == expected
