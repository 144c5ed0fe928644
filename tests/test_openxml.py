"""Excel opens every file xlplan writes without repair.

Two walls, over every kind of file xlplan writes (each layout's department workbook, stamped
copies, second-year prefilled workbooks, return copies, committee scoring forms, the merged
workbook with and without committee results, the coordinator panel with its VBA project, the
plan master written by ``xlplan init``, and the same kinds again for a plan whose text is
awkward on purpose):

1. ``openxml-audit``, a pure-Python port of the Open XML SDK validator: package structure,
   relationships, content types, every part against the ECMA-376 schema (element order,
   attribute types) and the SDK's semantic checks. No error is accepted except the known false
   positives listed in :data:`KNOWN_FALSE_POSITIVES`, each with its reason.
2. :func:`excel_rule_violations`: the rules Excel applies on opening that the SDK validator does
   not check (measured: it passes a workbook with rows or cells out of order, sheet names that
   differ only in case, a sheet name with ``:`` or 40 characters, a style index past the end of
   the style table). Each of these makes Excel offer to repair the file.

Files made by LibreOffice are not ours and are not checked here; neither are the returned files
the demo simulates (they stand in for what departments send).
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from xml.etree import ElementTree as ET

import pytest
from openpyxl import load_workbook

openxml_audit = pytest.importorskip("openxml_audit")

from xlplan.archive import Archive, ArchiveHistory  # noqa: E402
from xlplan.collect import collect  # noqa: E402
from xlplan.demo import run_demo  # noqa: E402
from xlplan.feedback import write_feedback  # noqa: E402
from xlplan.generate import generate  # noqa: E402
from xlplan.ooxml.text import sheet_name as sheet_title  # noqa: E402
from xlplan.merge import write_merged  # noqa: E402
from xlplan.metadata import METADATA_SHEET, parse_metadata_rows  # noqa: E402
from xlplan.panel import PANEL_NAME, build_panel, project_defaults  # noqa: E402
from xlplan.plan import load_plan  # noqa: E402
from xlplan.project import init_project, merged_path  # noqa: E402
from xlplan.sample import city_plan  # noqa: E402
from xlplan.scoring import generate_scoring  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

# --- the one place where findings of openxml-audit are accepted --------------------------------

# CT_Font (ECMA-376 Part 1, sml.xsd; styles.xml <font>) is <xsd:choice maxOccurs="unbounded">
# over b, i, strike, condense, extend, outline, shadow, u, vertAlign, sz, color, name, family,
# charset, scheme, each minOccurs 0 maxOccurs 1: a repeated choice, so the children may come in
# any order (so may CT_RPrElt's, the <rPr> of a rich-text run, with rFont in place of name).
# The Open XML SDK models it as a fixed sequence (b first, scheme last) and flags openpyxl's
# order (name, charset, family, b, …, color, sz, …). Accepted only for these element names;
# excel_rule_violations still checks that no child appears twice.
CT_FONT_CHILDREN = ("b", "i", "strike", "condense", "extend", "outline", "shadow", "u", "vertAlign",
                    "sz", "color", "name", "family", "charset", "scheme")
CT_RPRELT_CHILDREN = ("rFont",) + CT_FONT_CHILDREN[:11] + CT_FONT_CHILDREN[12:]


def _font_child_order(error) -> bool:
    found = re.fullmatch(r"Unexpected element '(\w+)' found", error.description)
    parent = re.search(r"/(font|rPr)\[\d+\]$", error.path or "")
    return (error.error_type.value == "schema" and found is not None and parent is not None
            and found.group(1) in (CT_FONT_CHILDREN if parent.group(1) == "font" else CT_RPRELT_CHILDREN))


def _inline_strings(error) -> bool:
    return error.severity.value == "warning" and error.id == "Excel_InlineStrCells"


@dataclass(frozen=True)
class FalsePositive:
    """One kind of openxml-audit finding that is no problem for Excel: why, and which."""

    reason: str
    matches: Callable  # openxml_audit ValidationError → bool


KNOWN_FALSE_POSITIVES = [
    FalsePositive(
        "openpyxl writes a font's children as name, family, b, color, sz…; CT_Font in ECMA-376 "
        "is a repeated choice (any order); only the SDK models it as a sequence. Excel opens "
        "every openpyxl workbook's fonts without repair.", _font_child_order),
    FalsePositive(
        "a warning, not an error: text cells are inline strings (t=\"inlineStr\", a cell type "
        "of ECMA-376 §18.18.11 written by openpyxl, by XlsxWriter's constant-memory mode and by "
        "xlplan's stamped and spliced rows). Excel opens them without repair and moves them "
        "to its shared-string table when it next saves.", _inline_strings),
]


def audit_problems(path: Path) -> list[str]:
    """openxml-audit's errors and warnings on ``path`` that are not known false positives."""
    result = _validator().validate(str(path))
    return [f"{e.severity.value} {e.part_uri} {e.path}: {e.description}" for e in result.errors
            if not any(fp.matches(e) for fp in KNOWN_FALSE_POSITIVES)]


@functools.cache
def _validator():
    return openxml_audit.OpenXmlValidator(max_errors=200)


# --- Excel's own rules, which the SDK validator does not check ---------------------------------

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
MAX_ROW, MAX_COL, MAX_TEXT = 1_048_576, 16_384, 32_767
# Excel's limits on a data validation, in UTF-16 units, as XlsxWriter enforces them.
DATA_VALIDATION_LIMITS = {"promptTitle": 32, "errorTitle": 32, "prompt": 255, "error": 255}
_REF = re.compile(r"\$?([A-Z]{1,3})\$?([0-9]+)")


def _units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _column(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def _cell_ref(ref: str) -> tuple[int, int] | None:
    """(row, column) of an A1 reference within Excel's grid, None otherwise."""
    m = _REF.fullmatch(ref or "")
    if not m:
        return None
    row, col = int(m.group(2)), _column(m.group(1))
    return (row, col) if 1 <= row <= MAX_ROW and 1 <= col <= MAX_COL else None


def _range(ref: str) -> tuple[int, int, int, int] | None:
    """(first row, first col, last row, last col) of an A1 range, None when out of the grid."""
    ends = [_cell_ref(part) for part in ref.split(":")]
    if len(ends) not in (1, 2) or None in ends:
        return None
    (r1, c1), (r2, c2) = ends[0], ends[-1]
    return (r1, c1, r2, c2) if r1 <= r2 and c1 <= c2 else None


def sheet_name_problems(names: list[str]) -> list[str]:
    """Why Excel would refuse these sheet names: 1–31 characters, none of []:*?/\\, no
    apostrophe at either end, not 'History', unique ignoring case."""
    problems, seen = [], {}
    for name in names:
        if not 1 <= len(name) <= 31:
            problems.append(f"sheet name {name!r}: {len(name)} characters")
        if re.search(r"[\[\]:*?/\\]", name):
            problems.append(f"sheet name {name!r}: a character Excel forbids")
        if name.startswith("'") or name.endswith("'"):
            problems.append(f"sheet name {name!r}: apostrophe at an end")
        if name.casefold() == "history":
            problems.append(f"sheet name {name!r}: reserved by Excel")
        if name.casefold() in seen:
            problems.append(f"sheet names {seen[name.casefold()]!r} and {name!r} are the same to Excel")
        seen.setdefault(name.casefold(), name)
    return problems


def _sheet_parts(zf: zipfile.ZipFile) -> list[tuple[str, str]]:
    """(sheet name, worksheet part) in workbook order."""
    workbook = ET.fromstring(zf.read("xl/workbook.xml"))
    rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels}
    parts = []
    for sheet in workbook.find("m:sheets", NS):
        target = targets[sheet.get(_R_ID)]
        parts.append((sheet.get("name"), target.lstrip("/") if target.startswith("/") else "xl/" + target))
    return parts


def _style_problems(zf: zipfile.ZipFile) -> tuple[list[str], int]:
    styles = ET.fromstring(zf.read("xl/styles.xml"))
    problems = []
    for font in styles.iter(f"{{{NS['m']}}}font"):
        children = [child.tag.split("}")[1] for child in font]
        if len(set(children)) != len(children) or not set(children) <= set(CT_FONT_CHILDREN):
            problems.append(f"styles.xml: font children {children}")
    cell_xfs = styles.find("m:cellXfs", NS)
    return problems, len(cell_xfs) if cell_xfs is not None else 0


def _worksheet_problems(name: str, xml: bytes, n_styles: int, n_strings: int) -> list[str]:
    problems = []
    root = ET.fromstring(xml)
    last_row = 0
    for row in root.find("m:sheetData", NS):
        r = int(row.get("r", last_row + 1))
        if not last_row < r <= MAX_ROW:
            problems.append(f"{name}: row {r} after row {last_row}")
        last_row, last_col = r, 0
        for c in row:
            ref = _cell_ref(c.get("r")) if c.get("r") else (r, last_col + 1)
            if ref is None or ref[0] != r or ref[1] <= last_col:
                problems.append(f"{name}!{c.get('r')}: cell out of order or out of the grid (row {r})")
                continue
            last_col = ref[1]
            if int(c.get("s", 0)) >= n_styles:
                problems.append(f"{name}!{c.get('r')}: style {c.get('s')} of {n_styles}")
            if c.get("t") == "s" and not 0 <= int(c.findtext("m:v", "-1", NS)) < n_strings:
                problems.append(f"{name}!{c.get('r')}: shared string index past the table")
            text = "".join(t.text or "" for t in c.iter(f"{{{NS['m']}}}t"))
            if _units(text) > MAX_TEXT:
                problems.append(f"{name}!{c.get('r')}: text over {MAX_TEXT} characters")
    merged = [(_range(m.get("ref")), m.get("ref")) for m in root.iterfind("m:mergeCells/m:mergeCell", NS)]
    for i, (box, ref) in enumerate(merged):
        if box is None:
            problems.append(f"{name}: merged range {ref} out of the grid")
            continue
        for other, other_ref in merged[:i]:
            if other and not (box[2] < other[0] or other[2] < box[0] or box[3] < other[1] or other[3] < box[1]):
                problems.append(f"{name}: merged ranges {other_ref} and {ref} overlap")
    for dv in root.iterfind("m:dataValidations/m:dataValidation", NS):
        formula = dv.findtext("m:formula1", "", NS)
        # Past Excel's limits a validation is "unreadable content": Excel repairs the file by
        # removing it (a literal list "a,b,c" of 255 units; see DATA_VALIDATION_LIMITS).
        if dv.get("type") == "list" and formula.startswith('"'):
            if _units(formula) - 2 > 255:
                problems.append(f"{name}: list validation of {_units(formula) - 2} characters")
            if not re.fullmatch(r'"(?:[^"]|"")*"', formula):
                problems.append(f"{name}: list validation {formula!r} is not one quoted text")
        for attribute, limit in DATA_VALIDATION_LIMITS.items():
            if _units(dv.get(attribute, "")) > limit:
                problems.append(f"{name}: validation {attribute} of {_units(dv.get(attribute))} characters")
        if any(_range(ref) is None for ref in dv.get("sqref", "").split()):
            problems.append(f"{name}: validation range {dv.get('sqref')!r}")
    return problems


def excel_rule_violations(path: Path) -> list[str]:
    """What would make Excel repair ``path`` that the Open XML SDK does not check: sheet
    names, defined names, row and cell order, references within the grid, style and shared
    string indices, text length, overlapping merged ranges, long literal list validations."""
    with zipfile.ZipFile(path) as zf:
        sheets = _sheet_parts(zf)
        problems = sheet_name_problems([name for name, _ in sheets])
        workbook = ET.fromstring(zf.read("xl/workbook.xml"))
        defined = [(d.get("localSheetId"), d.get("name").casefold())
                   for d in workbook.iterfind("m:definedNames/m:definedName", NS)]
        if len(set(defined)) != len(defined):
            problems.append("a defined name is defined twice")
        style_problems, n_styles = _style_problems(zf)
        problems += style_problems
        n_strings = 0
        if "xl/sharedStrings.xml" in zf.namelist():
            n_strings = len(ET.fromstring(zf.read("xl/sharedStrings.xml")))
        for name, part in sheets:
            if part in zf.namelist() and b"<worksheet" in zf.read(part)[:2000]:
                problems += _worksheet_problems(name, zf.read(part), n_styles, n_strings)
    return problems


# --- the files: the demo's cycle, every layout, a custom layout, the panel, awkward text --------

LAYOUT_OF = {"3-1-2": "activity", "1-2-1": "indicators", "2-1-1": "indicators", "3-1-1": "counts"}


def _edit_master(master: Path, edit) -> None:
    """Edit the master as a coordinator would in Excel (openpyxl stands in)."""
    wb = load_workbook(master)
    edit(wb)
    wb.save(master)


def _set_layouts(wb) -> None:
    ws = wb["事業"]
    col = {c.value: c.column for c in ws[1]}
    for row in range(2, ws.max_row + 1):
        pid = ws.cell(row, 1).value
        if pid in LAYOUT_OF:
            ws.cell(row, col["様式"]).value = LAYOUT_OF[pid]


# Text chosen to exercise every hand-written writer's escaping: XML's five special characters,
# text that reads like Excel's _xHHHH_ escape, an emoji (two UTF-16 units), leading and trailing
# spaces, and a name whose 31st character, where a sheet name is cut, is an apostrophe.
AWKWARD_DEPARTMENT = "福祉課 <R&D> \"A\" 'B'"
AWKWARD_NAME = "ア" * 24 + "'居場所' & <交流> _x0041_ 😀 "


def _awkward(wb) -> None:
    projects = wb["事業"]
    col = {c.value: c.column for c in projects[1]}
    for row in range(2, projects.max_row + 1):
        cell = projects.cell(row, col["担当課"])
        cell.value = cell.value.replace("福祉課", AWKWARD_DEPARTMENT) if cell.value else cell.value
        if projects.cell(row, 1).value == "1-1-1":
            projects.cell(row, col["事業名"]).value = AWKWARD_NAME
            projects.cell(row, col["現状と課題"]).value = "  前後に空白 & <b>太字</b> _x000D_ \"引用\"  "
    # Two project numbers that differ only in case: their sheet names too (Excel: the same name).
    renumber = {"3-1-1": "S-1", "3-1-2": "s-1"}
    for ws, id_col in ((projects, 1), (wb["指標"], 1)):
        for row in range(2, ws.max_row + 1):
            pid = ws.cell(row, id_col).value
            if pid in renumber:
                ws.cell(row, id_col).value = renumber[pid]
                if ws is projects:
                    ws.cell(row, col["事業名"]).value = "相談支援"
    departments = wb["担当課"]
    for row in range(2, departments.max_row + 1):
        if departments.cell(row, 1).value == "福祉課":
            departments.cell(row, 1).value = AWKWARD_DEPARTMENT
    # A long indicator; choices within the drop-down's 255 characters whose error message
    # (which lists them) passes Excel's 255; score descriptions whose prompt passes 255.
    wb["指標"].cell(2, 3).value = "地区ごとに説明会を開催し、参加者アンケートで理解度を確認したうえで計画に反映させた地区の数" * 6
    choices = wb["選択肢"]
    for row, text in enumerate(AWKWARD_CHOICES, start=2):
        choices.cell(row, 1).value = text
        choices.cell(row, 3).value = text * 3 if row <= 6 else None


AWKWARD_CHOICES = ["継続（事業内容を一部見直して継続する）", '見直し（"縮小"して継続）'] + [
    f"方向性その{i}：関係機関と協議のうえ判断する" for i in range(1, 10)] + ["終了（事業を終えて他の事業に統合する）"]


def _cycle(root: Path, edit=None, awkward: bool = False) -> dict[str, list[Path]]:
    """A project with ``edit`` applied to its master: generate; collect the workbooks as if
    sent back (unfilled, or filled with awkward values); merge; return copies; and for an
    ``awkward`` plan also scoring forms and the next year's workbooks prefilled with them."""
    project = init_project(root)
    if edit is not None:
        _edit_master(project.master, edit)
    plan = load_plan(project.master)
    files = generate(plan, project.outbox, project.settings)
    returned = [_fill_awkwardly(f.path, project.inbox) if awkward else f.path for f in files]
    archive = Archive.for_settings(project.settings)
    collect(archive, [returned[0].parent], project.settings, plan)
    merged = write_merged(archive, plan, project.settings, merged_path(project.results, plan.year))
    feedback = write_feedback(archive, plan, project.settings, root / "差し戻し")
    out = {"generated": [f.path for f in files], "merged": [merged], "feedback": [f.path for f in feedback],
           "layouts": {f.path: f.layout for f in files}}
    if awkward:
        out["scoring"] = [f.path for f in generate_scoring(plan, root / "中間評価", project.settings, archive,
                                                           members=[plan.members[0].id])]
        next_year = plan.with_year(plan.year + 1)
        out["generated"] += [f.path for f in generate(next_year, root / "配布_翌年度", project.settings,
                                                      history=ArchiveHistory(archive, next_year))]
    return out


# What a department might type: text that reads like Excel's escapes and XML, an emoji, spaces
# at both ends, 20,000 characters (two departments' texts in one merged cell pass Excel's
# 32,767), and numbers with many digits or an exponent.
AWKWARD_TEXT = (" 前後に空白 _x0041_ & <b> \"引用\" 😀 " + "長文" * 10_000)[:20_000] + " "
AWKWARD_NUMBERS = [1e20, 12345.678901234567, 0.1 + 0.2]


def _fill_awkwardly(path: Path, inbox: Path) -> Path:
    """The department's workbook with every input filled (openpyxl stands in for Excel)."""
    wb = load_workbook(path)
    data, _ = parse_metadata_rows([list(r) for r in wb[METADATA_SHEET].iter_rows(values_only=True)])
    for i, field in enumerate(data["fields"]):
        cell = wb[field["sheet"]][field["cell"]]
        if field["kind"] in ("quantity", "percent"):
            cell.value = AWKWARD_NUMBERS[i % len(AWKWARD_NUMBERS)]
        elif field["kind"] == "score":
            cell.value = 3
        elif field["choices"]:
            cell.value = field["choices"][1]
        else:
            cell.value = AWKWARD_TEXT
    out = inbox / path.name
    wb.save(out)
    return out


@pytest.fixture(scope="session")
def outputs(tmp_path_factory) -> dict[str, list[Path]]:
    """Every kind of file xlplan writes, by kind (one demo run plus small extra projects)."""
    base = tmp_path_factory.mktemp("openxml")
    demo = run_demo(base / "demo")
    project = demo["project"]
    layouts = _cycle(base / "layouts", _set_layouts)
    kinds = {
        "master": [project.master],
        # The demo's departments that share their projects are stamped from one prototype; the
        # others (projects of their own) are written from the compiled layout (xlplan.xmlrender).
        "department (stamped)": [f.path for f in demo["files"] if _is_stamped(f.path)],
        "prefilled next year": [f.path for f in demo["next_year"]["files"]],
        "return copy": [f.path for f in demo["feedback"]] + layouts["feedback"],
        "scoring form": [f.path for f in demo["forms"]],
        "merged with committee": [demo["merged"]],
        "merged without committee": [demo["next_year"]["merged"]] + layouts["merged"],
        "panel": [build_panel(base / "panel" / PANEL_NAME, **project_defaults(project.root))],
    }
    for layout in ("activity", "indicators", "counts"):
        kinds[f"layout {layout}"] = [p for p, lay in layouts["layouts"].items() if lay == layout]
    kinds["custom layout"] = _custom_layout(base / "custom")
    # And a city plan: every department has projects of its own, none is stamped.
    kinds["department (XML render)"] = [f.path for f in demo["files"] if not _is_stamped(f.path)] + [
        f.path for f in generate(city_plan(3, 3), base / "city", project.settings)]
    return kinds


@pytest.fixture(scope="session")
def awkward_outputs(tmp_path_factory) -> list[Path]:
    """Generated, merged, return-copy and scoring files of a plan whose names and text are
    awkward on purpose (see _awkward)."""
    awkward = _cycle(tmp_path_factory.mktemp("awkward"), _awkward, awkward=True)
    return awkward["generated"] + awkward["merged"] + awkward["feedback"] + awkward["scoring"]


def _custom_layout(folder: Path) -> list[Path]:
    """examples/custom_layout.py as a user runs it (its temporary project under ``folder``)."""
    folder.mkdir()
    env = dict(os.environ, TMPDIR=str(folder))
    subprocess.run([sys.executable, str(REPO / "examples" / "custom_layout.py")], env=env, check=True,
                   capture_output=True, timeout=300)
    return sorted(folder.glob("*/project/配布/*ボランティア登録状況*.xlsx"))


KINDS = ["master", "department (stamped)", "department (XML render)", "layout activity", "layout indicators", "layout counts",
         "custom layout", "prefilled next year", "return copy", "scoring form", "merged with committee",
         "merged without committee", "panel", "awkward text"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.slow
def test_excel_opens_every_output_without_repair(request, kind):
    paths = request.getfixturevalue("awkward_outputs") if kind == "awkward text" else \
        request.getfixturevalue("outputs")[kind]
    assert paths, f"no {kind} file was written"
    problems = {p.name: audit_problems(p) + excel_rule_violations(p) for p in paths}
    assert {name: found for name, found in problems.items() if found} == {}


@pytest.mark.slow
def test_the_outputs_are_what_their_kind_says(outputs, awkward_outputs):
    """The matrix holds what it claims: prefilled and committee workbooks, the VBA project,
    and awkward names that reached the sheet names and the stamped text."""
    with zipfile.ZipFile(outputs["panel"][0]) as zf:
        assert "xl/vbaProject.bin" in zf.namelist()
    stamped = {p: _is_stamped(p) for p in outputs["department (stamped)"] + outputs["prefilled next year"]}
    assert outputs["department (stamped)"] and all(stamped[p] for p in outputs["department (stamped)"])
    assert not any(_is_stamped(p) for p in outputs["department (XML render)"])
    assert not all(stamped[p] for p in outputs["prefilled next year"]), "some are rendered in full"
    with_committee = load_workbook(outputs["merged with committee"][0], read_only=True).sheetnames
    without = load_workbook(outputs["merged without committee"][0], read_only=True).sheetnames
    assert set(with_committee) - set(without), "the committee's results add a sheet"
    assert any("R&D" in p.name for p in awkward_outputs)
    # The committee's summary of many departments' long texts is cut, saying where the rest is.
    forms = [p for p in awkward_outputs if "中間評価票" in p.name]
    texts = [c.value for row in load_workbook(forms[0]).worksheets[1].iter_rows() for c in row
             if isinstance(c.value, str)]
    assert any(text.endswith("全文は集計ファイルを参照）") for text in texts)
    names = [n for p in awkward_outputs for n in load_workbook(p, read_only=True).sheetnames]
    assert any(n.lower().startswith("s-1") for n in names)


def _is_stamped(path: Path) -> bool:
    """True for a copy written by xlplan.stamp (its metadata sheet is stamp's own XML, whose
    number cells carry no type), False for a workbook openpyxl saved (``t="n"``)."""
    with zipfile.ZipFile(path) as zf:
        part = dict(_sheet_parts(zf))["_xlplan"]
        return b'<c r="B1"><v>' in zf.read(part)


# --- the checks themselves find what they claim to find ----------------------------------------


def _rewrite(src: Path, dst: Path, part: str, change) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, change(data) if info.filename == part else data)
    return dst


@pytest.mark.parametrize("change, expected", [
    (lambda x: re.sub(rb"(<row [^>]*>)(<c .*?</c>)(<c .*?</c>)", rb"\1\3\2", x, count=1), "out of order"),
    (lambda x: re.sub(rb'(<row r=")1(")', rb"\g<1>7\2", x, count=1), "after row"),
    (lambda x: re.sub(rb' s="\d+"', b' s="9999"', x, count=1), "style 9999"),
])
@pytest.mark.slow
def test_excel_rules_catch_what_the_sdk_validator_passes(outputs, tmp_path, change, expected):
    master = outputs["master"][0]
    with zipfile.ZipFile(master) as zf:
        part = _sheet_parts(zf)[0][1]
    broken = _rewrite(master, tmp_path / "broken.xlsx", part, change)
    assert audit_problems(broken) == []
    assert any(expected in p for p in excel_rule_violations(broken))


def test_sheet_names_excel_refuses_are_found():
    assert sheet_name_problems(["事業", "一覧"]) == []
    for names in (["Sheet", "SHEET"], ["a:b"], ["x" * 32], ["'abc"], ["abc'"], ["History"], [""]):
        assert sheet_name_problems(names), names


def test_sheet_titles_are_valid_for_excel():
    """generate and merge name a sheet per project: the name stays valid and unique for Excel
    whatever the project's number and name."""
    taken: set[str] = set()
    titles = [sheet_title(text, taken) for text in
              ("S-1 相談支援", "s-1 相談支援", "'引用'", "x" * 30 + "'y", "a:b/c?*[d]", "History", "")]
    assert sheet_name_problems(titles) == []


@pytest.mark.slow
def test_the_panel_vba_project_is_a_sound_compound_file(outputs):
    """openxml-audit checks only that vbaProject.bin starts with the compound-file signature;
    olefile, told to refuse any structural defect, reads the whole project and every module
    stream that the project's dir stream lists."""
    olefile = pytest.importorskip("olefile")
    olevba = pytest.importorskip("oletools.olevba")
    panel = outputs["panel"][0]
    with zipfile.ZipFile(panel) as zf:
        data = zf.read("xl/vbaProject.bin")
    ole = olefile.OleFileIO(data, raise_defects=olefile.DEFECT_INCORRECT)
    streams = {"/".join(s) for s in ole.listdir()}
    assert {"PROJECT", "PROJECTwm", "VBA/dir", "VBA/_VBA_PROJECT"} <= streams
    for stream in streams:
        ole.openstream(stream).read()
    macros = list(olevba.VBA_Parser(str(panel)).extract_macros())
    assert {stream for _, stream, _, _ in macros} <= streams
    assert {"Module1.bas", "xlwings.bas", "ThisWorkbook.cls"} <= {name for _, _, name, _ in macros}
    assert all(code.strip() for _, _, _, code in macros)


def test_choices_excel_cannot_list_are_a_master_error(tmp_path):
    """Choices that do not fit Excel's drop-down (255 characters in all, no comma inside one)
    stop generation with a message on the master's 選択肢 sheet, instead of workbooks Excel
    repairs by dropping the validation."""
    from xlplan.plan import PlanError, read_plan

    def set_choices(choices):
        def edit(wb):
            for row, text in enumerate(choices, start=2):
                wb["選択肢"].cell(row, 1).value = text
        return edit

    for choices, words in ((["継続"] + [f"方向性その{i}：関係機関と協議のうえ判断する" for i in range(12)], "255"),
                           (["継続", "見直し,縮小"], "カンマ")):
        project = init_project(tmp_path / words)
        _edit_master(project.master, set_choices(choices))
        _, findings = read_plan(project.master)
        found = [f for f in findings if f.code == "master-invalid-value" and f.sheet == "選択肢"]
        assert found and words in found[0].message(), [f.message() for f in findings]
        assert found[0].detail_en
        with pytest.raises(PlanError):
            load_plan(project.master)


def test_layout_choices_excel_cannot_list_are_refused(tmp_path):
    from xlplan.template import TemplateError, load_template_spec

    project = init_project(tmp_path / "project")
    declaration = project.settings.templates_dir / "indicators.toml"
    text = declaration.read_text(encoding="utf-8")
    assert "choices" in text
    declaration.write_text(re.sub(r"choices = \[", 'choices = ["継続,縮小", ', text, count=1), encoding="utf-8")
    with pytest.raises(TemplateError, match="カンマ"):
        load_template_spec("indicators", project.settings.templates_dir)
