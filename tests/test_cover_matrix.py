"""The cover's count of blank inputs is what check reports as missing, in every layout.

Every layout (department, activity, indicators, counts, the committee's scoring form and the
custom layout of examples/custom_layout.py) × LibreOffice × {blank, partly filled, full}: after
LibreOffice recalculates, the cover's status says 「未入力の欄が N か所」 with N the number of
missing-* findings check gives for the same file as LibreOffice saved it, and 「すべての欄が入力
されました」 exactly when N is 0. The plan has a year whose target is 「-」 (nothing to report),
and the partly filled files hold a full-width space (blank to check, so blank to the cover).
One LibreOffice session and one generated set of files serve the whole matrix.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from xlplan.check import check_files
from xlplan.generate import generate
from xlplan.render import RATINGS
from xlplan.metadata import METADATA_SHEET, parse_metadata_rows
from xlplan.plan import load_plan
from xlplan.project import init_project
from xlplan.scoring import generate_scoring

ROOT = Path(__file__).resolve().parent.parent
MISSING_CODES = {"missing-result", "missing-text", "score-missing"}
# layout → (department whose workbook is looked at, or None for the committee member "1")
WORKBOOKS = {"department": "長寿社会課", "activity": "福祉課", "indicators": "社会福祉協議会",
             "counts": "健康づくり課", "volunteer": "学校教育課", "scoring": None}
STATES = ("blank", "partly", "full")
COMPLETE_MESSAGE = "すべての欄が入力されました。保存して提出してください。"
STATUS = re.compile(r"未入力の欄が\s*(\d+)\s*か所")


def _custom_layout_module():
    spec = importlib.util.spec_from_file_location("custom_layout", ROOT / "examples" / "custom_layout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _edit_master(master: Path) -> None:
    """Layouts per project, and 「-」 as this year's (R6) target of one indicator in a
    department workbook and one in an indicators workbook."""
    wb = load_workbook(master)
    ws = wb["事業"]
    col = {c.value: c.column for c in ws[1]}
    layouts = {"3-1-2": "活動報告", "1-2-1": "指標", "2-1-1": "indicators", "3-1-1": "相談件数",
               "1-1-1": "volunteer"}
    for r in range(2, ws.max_row + 1):
        pid = ws.cell(r, col["事業番号"]).value
        if pid in layouts:
            ws.cell(r, col["様式"]).value = layouts[pid]
    wi = wb["指標"]
    icol = {c.value: c.column for c in wi[1]}
    for r in range(2, wi.max_row + 1):
        key = (wi.cell(r, icol["事業番号"]).value, wi.cell(r, icol["指標番号"]).value)
        if key in {("2-1-2", 1), ("1-2-1", 2)}:
            wi.cell(r, icol["R6"]).value = "-"
    wb.save(master)


@pytest.fixture(scope="session")
def matrix_files(tmp_path_factory):
    """(plan, settings, {layout: generated workbook}) for the whole matrix."""
    project = init_project(tmp_path_factory.mktemp("matrix") / "project")
    _custom_layout_module().add_volunteer_layout(project.settings.templates_dir)
    _edit_master(project.master)
    plan = load_plan(project.master)
    files = {(f.layout, f.department): f.path for f in generate(plan, project.outbox, project.settings)}
    paths = {layout: files[(layout, dept)] for layout, dept in WORKBOOKS.items() if dept}
    forms = generate_scoring(plan, project.outbox / "scoring", project.settings, members=["1"])
    paths["scoring"] = forms[0].path
    return plan, project.settings, paths


def _fields(path: Path) -> list[dict]:
    wb = load_workbook(path)
    data, _ = parse_metadata_rows([list(r) for r in wb[METADATA_SHEET].iter_rows(values_only=True)])
    return data["fields"]


def _answer(field: dict):
    """A valid answer for an input of this kind."""
    kind = field["kind"]
    if kind in ("quantity", "percent"):
        return 5
    if kind == "score":
        return 3
    if kind == "rating":
        return RATINGS[3]
    if kind == "choice":
        return field["choices"][0]
    if kind == "milestone":
        return "実施"
    return "記入しました"


def _values(fields: list[dict], state: str) -> list[dict]:
    """What a department types: nothing; every other required input (and a full-width space
    in one it has not filled); or every required input (optional ones stay blank)."""
    required = [f for f in fields if f["required"]]
    if state == "blank":
        chosen, spaces = [], []
    elif state == "partly":
        chosen, spaces = required[::2], required[1::2][:1]
    else:
        chosen, spaces = required, []
    return ([{"name": f["name"], "value": _answer(f), "mode": "paste"} for f in chosen]
            + [{"name": f["name"], "value": "\u3000", "mode": "paste"} for f in spaces])


def _cover_status(info: dict) -> str:
    cover = info["sheets"][0]
    texts = [c["string"] for c in cover["cells"].values() if c["type"] == "FORMULA"]
    status = [t for t in texts if t == COMPLETE_MESSAGE or STATUS.search(t or "")]
    assert len(status) == 1, texts
    return status[0]


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("layout", list(WORKBOOKS))
def test_cover_count_equals_missing_findings(libreoffice, matrix_files, tmp_path, layout, state):
    plan, settings, paths = matrix_files
    src = paths[layout]
    fields = _fields(src)
    out = tmp_path / src.name
    libreoffice.fill(src, out, _values(fields, state))

    result = check_files([out], settings, plan, keep_values=False)
    missing = [f for f in result.findings if f.code in MISSING_CODES]
    status = _cover_status(libreoffice.inspect(out))
    if missing:
        match = STATUS.search(status)
        assert match and int(match.group(1)) == len(missing), (status, [(f.code, f.cell) for f in missing])
    else:
        assert status == COMPLETE_MESSAGE
    if state == "blank":
        assert missing, "a blank form has required inputs"
    if state == "full":
        assert not missing


# What a department may leave in a required input: (label, value, driver mode, blank to check).
# The blank characters are normalise.BLANK_CHARACTERS, one case per class: the spaces TRIM,
# CLEAN and SUBSTITUTE each remove in the cover's formula; an em space is content to both.
# An Excel error is not blank (check reports excel-error) and must not break the count; nor is a
# formula, whatever it shows (check reports formula-in-input). LibreOffice keeps an apostrophe
# typed alone as the text "'".
CELL_CASES = (
    ("no-break space", "\u00a0", "paste", True),
    ("spaces of every width", " \u3000\u00a0 ", "paste", True),
    ("tab and line breaks", "\t\r\n", "paste", True),
    ("zero-width space", "\u200b", "paste", True),
    ("byte-order mark", "\ufeff", "paste", True),
    ("C1 control (NEL)", "\u0085", "paste", True),
    ("em space (content)", "\u2003", "paste", False),
    ("division by zero", "=1/0", "type", False),
    ("#N/A", "=NA()", "type", False),
    ("error as text", "#N/A", "paste", False),
    ("formula giving empty text", '=""', "type", False),
    ("formula giving spaces", '="  "', "type", False),
    ("apostrophe only", "'", "type", False),
    ("empty text", "", "paste", True),
    ("number 0", 0, "paste", False),
    ("text 0", "0", "paste", False),
    ("date", "2026-05-01", "type", False),
)
# Cases check reports (formula-in-input or excel-error) rather than calling them missing.
REPORTED_CASES = {"division by zero", "#N/A", "error as text", "formula giving empty text",
                  "formula giving spaces"}


@pytest.mark.parametrize("layout", list(WORKBOOKS))
def test_cover_agrees_with_check_cell_by_cell(libreoffice, matrix_files, tmp_path, layout):
    """Workbooks holding the cases in required inputs (the other required inputs filled, as
    many cases per workbook as it has required inputs but one): the cover counts exactly what
    check reports missing, and check reports missing exactly the cases blank to it."""
    plan, settings, paths = matrix_files
    src = paths[layout]
    required = [f for f in _fields(src) if f["required"]]
    size = len(required) - 1
    for first in range(0, len(CELL_CASES), size):
        _check_cases(libreoffice, plan, settings, src, required, CELL_CASES[first:first + size],
                     tmp_path / str(first) / src.name)


def _check_cases(libreoffice, plan, settings, src, required, chunk, out):
    cases = dict(zip((f["name"] for f in required), chunk))
    values = [{"name": name, "value": value, "mode": mode}
              for name, (_, value, mode, _) in cases.items()]
    values += [{"name": f["name"], "value": _answer(f), "mode": "paste"}
               for f in required if f["name"] not in cases]
    out.parent.mkdir()
    libreoffice.fill(src, out, values)

    result = check_files([out], settings, plan, keep_values=False)
    missing = {(f.sheet, f.cell) for f in result.findings if f.code in MISSING_CODES}
    status = _cover_status(libreoffice.inspect(out))
    match = STATUS.search(status)
    count = int(match.group(1)) if match else 0 if status == COMPLETE_MESSAGE else None
    assert count == len(missing), (status, sorted(missing), [c[0] for c in chunk])
    cell_of = {f["name"]: (f["sheet"], f["cell"]) for f in required}
    wrong = [case[0] for name, case in cases.items()
             if (cell_of[name] in missing) != case[3]]
    assert not wrong, "check disagrees with the blank rule"
    reported = {(f.sheet, f.cell) for f in result.findings if f.code in ("excel-error", "formula-in-input")}
    assert {cell_of[n] for n, c in cases.items() if c[0] in REPORTED_CASES} <= reported
