"""The coordinator panel's buttons, run in a real LibreOffice (headless, through UNO).

What LibreOffice gives us: it imports the .xlsm's VBA project as the Basic library
"VBAProject" (modules in VBA mode) when the document is loaded with macros enabled, and
imports each XlsxWriter button (a VML form control with macro ``[0]!SubName``) as a form
command button whose click (``XActionListener.actionPerformed``) is bound to
``vnd.sun.star.script:VBAProject.<Module>.<Sub>?language=Basic&location=document``.
LibreOffice resolves the macro name against the imported modules while loading: a name
that matches no Sub leaves the button with NO script bound.

The panel's VBA project is xlwings' own, saved by Excel (``quickstart_standalone.xlsm``):
every button is bound to its ``Module1.SampleCall``, which calls ``RunPython`` with the
import of the module named after the workbook. Excel's xlwings module does not run in
LibreOffice (Windows API declarations etc.), so the press replaces it, in the loaded
document only, with a stand-in ``RunPython`` that writes its command into a cell; pressing a
button must then leave exactly :data:`xlplan.panel.PANEL_COMMAND` in the cell. (Which
action runs is Python's part, from ``Application.Caller``: tests/test_panel.py.)

Needs LibreOffice + python3-uno (the ``libreoffice`` fixture skips otherwise, and fails with
``XLPLAN_REQUIRE_LIBREOFFICE=1``). ``xlplan.panel`` is imported at the top: if it does not
import, every test here fails.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

import xlplan.panel as panel
from libreoffice import LibreOfficeError

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = "VBAProject"

SUB_RE = re.compile(r"^[ \t]*(?:(?:Public|Private|Friend)[ \t]+)?(?:Static[ \t]+)?Sub[ \t]+(\w+)", re.M | re.I)

# RunPython's stand-in writes its argument into the panel's message cell: A2 of the
# second sheet, the status sheet 状況 (defined name xlplan_message). ASCII only.
STATUS_INDEX = 2  # 1-based, as VBA counts
TARGET_CELL = "A2"
STANDIN_SOURCE = (
    "Option VBASupport 1\n"
    "Function RunPython(ByVal cmd As String)\n"
    f'    ThisWorkbook.Worksheets({STATUS_INDEX}).Range("{TARGET_CELL}").Value = cmd\n'
    "End Function\n"
)
# xlwings' Dictionary class (a Mac stand-in for Scripting.Dictionary) does not compile in
# LibreOffice either; RunPython's stand-in does not need it.
STANDIN = {LIBRARY: {"xlwings": STANDIN_SOURCE, "Dictionary": "Option VBASupport 1\n"}}


# ------------------------------------------------------------------ the check


def subs_by_module(modules: dict[str, str]) -> dict[str, set[str]]:
    """``{module: {Sub names}}`` of VBA/Basic sources."""
    return {name: set(SUB_RE.findall(source)) for name, source in modules.items()}


def declared_macros(path: Path) -> dict[str, str]:
    """``{caption: macro}`` of the buttons as the file itself declares them (VML ``x:FmlaMacro``)."""
    found: dict[str, str] = {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if not (name.startswith("xl/drawings/") and name.endswith(".vml")):
                continue
            vml = z.read(name).decode("utf-8")
            for shape in re.findall(r"<v:shape\b.*?</v:shape>", vml, re.S):
                macro = re.search(r"<x:FmlaMacro>(.*?)</x:FmlaMacro>", shape, re.S)
                if macro is None:
                    continue
                caption = re.sub(r"<[^>]+>", "", "".join(re.findall(r"<v:textbox\b.*?</v:textbox>", shape, re.S)))
                found[caption.strip()] = macro.group(1).split("!")[-1]
    return found


def button_binding_problems(
    buttons: list[dict], modules: dict[str, str], declared: dict[str, str] | None = None
) -> list[str]:
    """Why any button (as LibreOffice bound it) would not run a Sub of the VBA project; [] if all do.

    ``buttons`` from ``LibreOffice.buttons``, ``modules`` from ``LibreOffice.basic_modules``;
    ``declared`` (from :func:`declared_macros`) only makes the messages name the macro the
    file asks for.
    """
    subs = subs_by_module(modules)
    problems = []
    for b in buttons:
        where = f"button {b['label']!r} on sheet {b['sheet']!r}"
        asked = f" (the file names macro {declared[b['label']]!r})" if declared and b["label"] in declared else ""
        if not b["script"]:
            problems.append(f"{where} is bound to no macro: LibreOffice found no Sub for it{asked}")
        elif b["library"] != LIBRARY or b["location"] != "document" or b["language"] != "Basic":
            problems.append(f"{where} is bound to {b['script']!r}, not to the document's {LIBRARY}{asked}")
        elif b["module"] not in subs:
            problems.append(f"{where} is bound to module {b['module']!r}, which the project lacks{asked}")
        elif b["sub"] not in subs[b["module"]]:
            problems.append(f"{where} is bound to {b['module']}.{b['sub']}, which is no Sub of that module{asked}")
    return problems


# ------------------------------------------------------------------ workbooks


def build_xlsm(path: Path, buttons: list[tuple[str, str]]) -> Path:
    """An .xlsm made with XlsxWriter and xlwings' compiled project: sheet "パネル" with
    ``(caption, macro)`` buttons, sheet "状況"."""
    project = panel.xlwings_vba_project()
    bin_path = path.with_suffix(".bin")
    bin_path.write_bytes(project.data)
    wb = xlsxwriter.Workbook(str(path))
    wb.add_vba_project(str(bin_path))
    wb.set_vba_name(project.workbook_code_name)
    ws = wb.add_worksheet("パネル")
    ws.set_vba_name(project.sheet_code_names[0])
    ws.write("A1", "xlplan")
    status = wb.add_worksheet("状況")
    status.set_vba_name(project.sheet_code_names[1])
    for i, (caption, macro) in enumerate(buttons):
        ws.insert_button(f"B{2 + 3 * i}", {"macro": macro, "caption": caption, "width": 160, "height": 30})
    wb.close()
    return path


def read_cell(path: Path, sheet_index: int, cell: str):
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return wb.worksheets[sheet_index][cell].value
    finally:
        wb.close()


# ------------------------------------------------------------------ hand-built workbooks (no build_panel)


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    """A good hand-built workbook (two buttons on SampleCall) and one whose second button
    names NoSuchSub."""
    d = tmp_path_factory.mktemp("handmade")
    good = build_xlsm(d / "good.xlsm", [("Button A", panel.PANEL_MACRO), ("Button B", panel.PANEL_MACRO)])
    bad = build_xlsm(d / "bad.xlsm", [("配布ファイル作成", panel.PANEL_MACRO), ("存在しない", "NoSuchSub")])
    return good, bad


def test_handmade_workbook_passes_the_check(libreoffice, handmade):
    good, _ = handmade
    modules = libreoffice.basic_modules(good)
    buttons = libreoffice.buttons(good)
    assert [(b["module"], b["sub"]) for b in buttons] == [("Module1", panel.PANEL_MACRO)] * 2
    assert button_binding_problems(buttons, modules, declared_macros(good)) == []


def test_button_bound_to_a_missing_sub_is_caught(libreoffice, handmade):
    _, bad = handmade
    modules = libreoffice.basic_modules(bad)
    buttons = libreoffice.buttons(bad)
    assert [b["label"] for b in buttons] == ["配布ファイル作成", "存在しない"]
    assert declared_macros(bad) == {"配布ファイル作成": panel.PANEL_MACRO, "存在しない": "NoSuchSub"}
    # LibreOffice drops the binding of a macro name it cannot resolve.
    assert buttons[1]["script"] is None and buttons[1]["events"] == []
    problems = button_binding_problems(buttons, modules, declared_macros(bad))
    assert len(problems) == 1
    assert "'存在しない'" in problems[0] and "NoSuchSub" in problems[0] and "no macro" in problems[0]
    # ... and pressing it is an error, not a silent no-op.
    with pytest.raises(LibreOfficeError, match="bound to no script"):
        libreoffice.press(bad, bad.with_name("pressed.xlsx"), "パネル", "存在しない")


def test_check_catches_a_binding_to_a_sub_the_sources_lack():
    """The pure check, on bindings LibreOffice could produce for other projects."""
    buttons = [
        {"sheet": "S", "label": "a", "script": "vnd.sun.star.script:VBAProject.PanelButtons.Gone?language=Basic&location=document",
         "library": "VBAProject", "module": "PanelButtons", "sub": "Gone", "language": "Basic", "location": "document"},
        {"sheet": "S", "label": "b", "script": "vnd.sun.star.script:Standard.Module1.X?language=Basic&location=application",
         "library": "Standard", "module": "Module1", "sub": "X", "language": "Basic", "location": "application"},
        {"sheet": "S", "label": "c", "script": "vnd.sun.star.script:VBAProject.Other.X?language=Basic&location=document",
         "library": "VBAProject", "module": "Other", "sub": "X", "language": "Basic", "location": "document"},
    ]
    problems = button_binding_problems(buttons, {"PanelButtons": "Sub Here()\nEnd Sub\n"})
    assert len(problems) == 3
    assert "PanelButtons.Gone" in problems[0] and "Standard" in problems[1] and "'Other'" in problems[2]


def test_press_click_and_script_and_guarded_agree(libreoffice, handmade, tmp_path):
    good, _ = handmade
    # SampleCall imports the module named like the workbook: here "good"
    for how in ("click", "script", "guarded"):
        out = tmp_path / f"{how}.xlsx"
        reply = libreoffice.press(good, out, "パネル", "Button A", how=how, modules=STANDIN)
        assert reply["button"]["sub"] == panel.PANEL_MACRO
        assert read_cell(out, STATUS_INDEX - 1, TARGET_CELL) == "import good;good.main()", how


def test_guarded_press_reports_basic_errors(libreoffice, handmade, tmp_path):
    good, _ = handmade
    failing = {LIBRARY: {"xlwings": 'Option VBASupport 1\nFunction RunPython(ByVal cmd As String)\n'
                                    '    Err.Raise 1000, , "boom: " & cmd\nEnd Function\n',
                         "Dictionary": "Option VBASupport 1\n"}}
    with pytest.raises(LibreOfficeError, match="Basic error 1000: boom: import good;good.main"):
        libreoffice.press(good, tmp_path / "out.xlsx", "パネル", "Button A", how="guarded", modules=failing)
    # A click reports nothing (headless LibreOffice swallows Basic errors): the cell stays empty.
    libreoffice.press(good, tmp_path / "clicked.xlsx", "パネル", "Button A", modules=failing)
    assert read_cell(tmp_path / "clicked.xlsx", STATUS_INDEX - 1, TARGET_CELL) is None


def test_xlwings_own_modules_do_not_run_in_libreoffice(libreoffice, handmade, tmp_path):
    """Why the presses use a stand-in: unchanged, the project does not compile here."""
    good, _ = handmade
    with pytest.raises(LibreOfficeError, match="did not run"):
        libreoffice.press(good, tmp_path / "out.xlsx", "パネル", "Button A", how="guarded")


# ------------------------------------------------------------------ the panel from xlplan.panel


@pytest.fixture(scope="module")
def real_panel(tmp_path_factory):
    return panel.build_panel(tmp_path_factory.mktemp("panel_real") / panel.PANEL_NAME)


def test_libreoffice_sees_xlwings_modules_in_the_panel(libreoffice, real_panel):
    info = libreoffice.inspect(real_panel)
    assert info["sheets"]
    modules = libreoffice.basic_modules(real_panel)
    assert {"Module1", "xlwings", "Dictionary"} <= set(modules)
    assert subs_by_module(modules)["Module1"] == {panel.PANEL_MACRO}
    # LibreOffice cannot compile xlwings' module (only its presence is checked) ...
    assert re.search(r"^\s*(Public\s+)?Function\s+RunPython\b", modules["xlwings"], re.M | re.I)
    assert modules["Module1"].startswith("Rem Attribute VBA_ModuleType=VBAModule\nOption VBASupport 1\n")


def test_every_panel_button_is_bound_to_the_one_macro(libreoffice, real_panel):
    modules = libreoffice.basic_modules(real_panel)
    buttons = libreoffice.buttons(real_panel)
    # ... but it binds the buttons all the same: binding needs the Sub names, not compiled code.
    assert button_binding_problems(buttons, modules, declared_macros(real_panel)) == []
    assert [b["label"] for b in buttons] == [b.caption for b in panel.BUTTONS]
    assert {(b["module"], b["sub"]) for b in buttons} == {("Module1", panel.PANEL_MACRO)}
    assert {b["sheet"] for b in buttons} == {panel.SETTINGS_SHEET}


@pytest.mark.parametrize("caption", [b.caption for b in panel.BUTTONS])
def test_pressing_a_button_runs_the_panel_command(libreoffice, real_panel, tmp_path, caption):
    out = tmp_path / "pressed.xlsx"
    before = read_cell(real_panel, STATUS_INDEX - 1, TARGET_CELL)
    assert before != panel.PANEL_COMMAND
    reply = libreoffice.press(real_panel, out, panel.SETTINGS_SHEET, caption, modules=STANDIN)
    assert reply["button"]["sub"] == panel.PANEL_MACRO
    wb = openpyxl.load_workbook(out, read_only=True)
    try:
        assert wb.sheetnames[STATUS_INDEX - 1] == panel.STATUS_SHEET
    finally:
        wb.close()
    # the module named after the panel file: the one xlplan ships (xlplan_panel.py)
    assert read_cell(out, STATUS_INDEX - 1, TARGET_CELL) == panel.PANEL_COMMAND == "import xlplan_panel;xlplan_panel.main()"


def test_panel_buttons_bas_binds_in_a_workbook_of_ones_own(libreoffice, tmp_path):
    """macros/PanelButtons.bas, imported into a workbook of the coordinator's own (here: into
    the loaded panel, beside xlwings' module): each Sub runs its entry point's command."""
    name, source = panel.read_bas(panel.macros_dir() / "PanelButtons.bas")
    body_lines = "\n".join(line for line in source.splitlines() if not line.startswith("Attribute VB_"))
    modules = {LIBRARY: {**STANDIN[LIBRARY], name: "Option VBASupport 1\n" + body_lines + "\n",
                         "Module1": "Option VBASupport 1\nSub SampleCall()\n    PanelButtons.CollectAndCheck\nEnd Sub\n"}}
    path = panel.build_panel(tmp_path / panel.PANEL_NAME)
    out = tmp_path / "own.xlsx"
    libreoffice.press(path, out, panel.SETTINGS_SHEET, panel.BUTTONS[1].caption, how="guarded", modules=modules)
    assert read_cell(out, STATUS_INDEX - 1, TARGET_CELL) == panel.python_command("collect")
