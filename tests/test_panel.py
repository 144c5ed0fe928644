"""The coordinator panel (xlplan_panel.xlsm) and the entry points of its buttons.

What is proved here, on Linux without Excel: the panel's package (sheets, defined names,
every button bound to xlwings' one compiled macro, the VBA project olevba extracts: xlwings'
own, taken from the installed package), the module the macro imports, which button runs
which action (``Application.Caller`` through a stand-in xlwings Book), the VBA sources of
``macros/``, and that every button's Python side — run through ``FilePanel`` against a real
panel file — produces the same outputs as the CLI command it stands for. Whether Excel
runs the macro and RunPython is for real Excel (README, "Excel のボタン").
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

import xlplan
import xlplan.excel
from xlplan.cli import main
from xlplan.excel import FilePanel, PanelIO, XlwingsPanel, action_for, run
from xlplan.panel import (
    BUTTONS,
    CONF_SHEET,
    FINDINGS_HEADER,
    PANEL_COMMAND,
    PANEL_MACRO,
    PANEL_MODULE,
    PANEL_NAME,
    SETTINGS_SHEET,
    PanelLockedError,
    STATUS_HEADER,
    build_panel,
    macro_sources,
    macros_dir,
    project_defaults,
    python_command,
    read_bas,
    xlwings_quickstart_path,
    xlwings_vba_project,
)

ROOT = Path(__file__).resolve().parent.parent
MACROS = ROOT / "macros"
SUB_RE = re.compile(
    r"^[ \t]*(?:(?:Public|Private|Friend)[ \t]+)?(?:Static[ \t]+)?(?:Sub|Function)[ \t]+(\w+)", re.M | re.I
)
NAMES = ["xlplan_project", "xlplan_master", "xlplan_inbox", "xlplan_year", "xlplan_out",
         "xlplan_check_file", "xlplan_action", "xlplan_message", "xlplan_status", "xlplan_findings"]


# ------------------------------------------------------------------------------ helpers

def cli(*args) -> tuple[int, str, str]:
    """Run the CLI in-process; (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def _destination(wb, name):
    sheet, ref = next(iter(wb.defined_names[name].destinations))
    return wb[sheet], ref.replace("$", "")


def panel_cell(path: Path, name: str):
    wb = load_workbook(path)
    ws, ref = _destination(wb, name)
    return ws[ref].value


def set_setting(path: Path, name: str, value) -> None:
    wb = load_workbook(path, keep_vba=True)
    ws, ref = _destination(wb, name)
    ws[ref].value = value
    wb.save(path)


def panel_table(path: Path, name: str) -> tuple[list, list[list]]:
    wb = load_workbook(path)
    ws, ref = _destination(wb, name)
    anchor = ws[ref]
    width = len(STATUS_HEADER if name == "xlplan_status" else FINDINGS_HEADER)
    header = [ws.cell(anchor.row, anchor.column + c).value for c in range(width)]
    rows, r = [], anchor.row + 1
    while ws.cell(r, anchor.column).value is not None:
        rows.append([ws.cell(r, anchor.column + c).value for c in range(width)])
        r += 1
    return header, rows


def metadata_of(path: Path, settings) -> dict:
    meta = xlplan.read_returned(path, settings.key_bytes).metadata.to_dict()
    meta.pop("generated_at", None)
    return meta


def sheet_values(path: Path) -> dict[str, list[tuple]]:
    """Every sheet's cell values; the 回収日時 column (when each run collected) left out."""
    wb = load_workbook(path)
    out = {}
    for ws in wb:
        rows = [list(row) for row in ws.iter_rows(values_only=True)]
        drop = [i for i, v in enumerate(rows[0] if rows else []) if v == "回収日時"]
        out[ws.title] = [tuple(v for i, v in enumerate(row) if i not in drop) for row in rows]
    return out


def cli_status_lines(stdout: str) -> list[tuple]:
    """(department, status, ID, file name) of each line `xlplan status` prints (columns are
    separated by two or more spaces; the ※ notes under a pinned line are left out)."""
    lines = []
    for line in stdout.splitlines()[1:]:
        parts = re.split(r"\s{2,}", line.strip(), maxsplit=3)
        if parts[0].startswith("※"):
            continue
        if len(parts) < 3:
            lines.append((parts[0], parts[1], None, ""))
            continue
        file = re.split(r"（保存| \(saved", parts[3])[0] if len(parts) > 3 else ""
        lines.append((parts[0], parts[1], int(parts[2].removeprefix("ID ")), file))
    return lines


def sub_names(sources) -> set[str]:
    return set(SUB_RE.findall("\n".join(sources)))


# ------------------------------------------------------------------------------ the package

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("panel")
    project = xlplan.init_project(root / "project")
    path = build_panel(root / "out" / PANEL_NAME, **project_defaults(project.root))
    return project, path


def test_panel_has_the_sheets_names_and_settings(built):
    project, path = built
    wb = load_workbook(path, keep_vba=True)
    assert wb.sheetnames == ["設定", "状況", CONF_SHEET]
    assert set(NAMES) <= set(wb.defined_names)
    assert _destination(wb, "xlplan_master")[0].title == "設定"
    assert {_destination(wb, n)[0].title for n in ("xlplan_message", "xlplan_status", "xlplan_findings")} == {"状況"}
    settings = FilePanel(path).read_settings()
    assert settings["project"] == str(project.root.resolve())
    assert Path(settings["master"]) == project.master.resolve()
    assert Path(settings["inbox"]) == project.inbox.resolve()
    assert settings["year"] == "R6" and Path(settings["out"]) == project.results.resolve()
    assert settings["check_file"] is None and settings["action"] is None
    assert panel_table(path, "xlplan_status")[0] == STATUS_HEADER
    assert panel_table(path, "xlplan_findings")[0] == FINDINGS_HEADER
    ws = wb["設定"]
    for row in range(4, 11):  # label in A, value in B (named), a Japanese note in C
        assert ws.cell(row, 1).value and ws.cell(row, 3).value
        assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", ws.cell(row, 3).value)


def test_panel_package_has_the_vba_project_and_six_buttons(built):
    _, path = built
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert "xl/vbaProject.bin" in names
        assert b"macroEnabled" in zf.read("[Content_Types].xml")
        # the workbook's code name is the one of the workbook Excel saved the project from
        assert b'codeName="ThisWorkbook"' in zf.read("xl/workbook.xml")
        assert zf.read("xl/vbaProject.bin") == xlwings_vba_project().data  # byte for byte
        with zipfile.ZipFile(xlwings_quickstart_path()) as quickstart:
            assert zf.read("xl/vbaProject.bin") == quickstart.read("xl/vbaProject.bin")
        vml = [n for n in names if re.fullmatch(r"xl/drawings/vmlDrawing\d*\.vml", n)]
        assert vml
        drawing = b"".join(zf.read(n) for n in vml).decode("utf-8")
        code_names = [re.search(rb'<sheetPr[^>]*codeName="(\w+)"', zf.read(f"xl/worksheets/sheet{n}.xml")).group(1)
                      for n in (1, 2, 3)]
    assert code_names[:2] == [n.encode() for n in xlwings_vba_project().sheet_code_names] == [b"Sheet1", b"Sheet2"]
    assert code_names[2] == b"Sheet3"
    macros = re.findall(r"<x:FmlaMacro>\[0\]!(\w+)</x:FmlaMacro>", drawing)
    assert macros == [PANEL_MACRO] * len(BUTTONS)  # every button runs the one compiled macro
    for b in BUTTONS:
        assert b.caption in drawing


def _olevba_modules(path) -> dict[str, str]:
    from oletools import olevba  # a test dependency: missing, the test fails

    parser = olevba.VBA_Parser(str(path))
    try:
        return {name: code for _, _, name, code in parser.extract_macros()}
    finally:
        parser.close()


def test_the_panel_macro_imports_the_module_named_after_the_panel(built):
    _, path = built
    found = _olevba_modules(path)
    assert set(found) == {"ThisWorkbook.cls", "Sheet1.cls", "Sheet2.cls", "Module1.bas", "xlwings.bas", "Dictionary.cls"}
    sample = found["Module1.bas"]
    assert sub_names([sample]) == {PANEL_MACRO}
    # SampleCall: module = workbook name without its extension; RunPython "import m;m.main()"
    assert "mymodule = Left(ThisWorkbook.Name, (InStrRev(ThisWorkbook.Name, \".\", -1, vbTextCompare) - 1))" in sample
    assert 'RunPython "import " & mymodule & ";" & mymodule & ".main()"' in sample
    assert PANEL_COMMAND == f"import {Path(PANEL_NAME).stem};{Path(PANEL_NAME).stem}.main()"
    # that module ships with xlplan and hands over to xlplan.excel.main
    module = __import__(PANEL_MODULE)
    assert module.main is xlplan.excel.main
    # the xlwings module is the installed package's own: the same version as the Python side
    import xlwings

    assert f"'Version: {xlwings.__version__}" in found["xlwings.bas"]
    installed = read_bas(xlwings_quickstart_path().parent / "xlwings.bas")[1]
    def code(text):
        return [line for line in text.splitlines() if line.strip() and not line.startswith("Attribute VB_")]

    assert code(found["xlwings.bas"]) == code(installed)


@contextlib.contextmanager
def immutable(path: Path):
    """The file cannot be replaced while inside (Linux ``chattr +i``: what a file open in
    Excel is on Windows for ``os.replace``: PermissionError)."""
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here (needs root on ext4/xfs)")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_locked_panel_is_an_error_not_a_renamed_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("XLPLAN_LANG", "ja")  # `--lang en` sets it in-process: restored after the test
    project = xlplan.init_project(tmp_path / "p")
    out = tmp_path / "o"
    assert cli("panel", "--out", out, "--project", project.root)[0] == 0
    with immutable(out / PANEL_NAME):
        with pytest.raises(PanelLockedError, match="閉じて"):
            build_panel(out / PANEL_NAME)
        code, _, err = cli("panel", "--out", out, "--project", project.root)
        assert code == 2 and "閉じて" in err and "Traceback" not in err
        code, _, err = cli("--lang", "en", "panel", "--out", out, "--project", project.root)
        assert code == 2 and "close the panel open in Excel" in err
    assert sorted(p.name for p in out.iterdir()) == [PANEL_NAME]  # no "xlplan_panel (2).xlsm"


def test_panel_must_keep_its_name(tmp_path):
    with pytest.raises(ValueError, match=PANEL_MODULE):
        build_panel(tmp_path / "p.xlsm")
    assert not list(tmp_path.iterdir())
    assert FilePanel(build_panel(tmp_path / PANEL_NAME)).read_settings()["master"] is None


def test_xlwings_conf_sheet_has_keys_xlwings_reads(built):
    _, path = built
    ws = load_workbook(path)[CONF_SHEET]
    keys = []
    row = 1
    while ws.cell(row, 1).value:  # xlwings reads A1 down to the first blank cell
        keys.append(ws.cell(row, 1).value)
        assert ws.cell(row, 3).value  # a Japanese explanation beside
        row += 1
    assert keys == ["Interpreter_Win", "Interpreter_Mac", "PYTHONPATH"]
    vba = _olevba_modules(path)["xlwings.bas"]  # the module in the panel itself
    assert 'Set sht = wb.Sheets(PROJECT_NAME & ".conf")' in vba and 'PROJECT_NAME As String = "xlwings"' in vba
    for key in keys:  # GetConfigFromSheet upper-cases the keys; GetConfig asks for these
        assert f'GetConfig("{key.upper()}"' in vba


def test_macros_are_ascii_crlf_and_packaged():
    assert macros_dir().is_dir() and (macros_dir() / "PanelButtons.bas").is_file()
    for p in MACROS.glob("*.bas"):
        raw = p.read_bytes()
        raw.decode("ascii")
        assert raw.startswith(b"Attribute VB_Name = ")
        assert raw.count(b"\n") == raw.count(b"\r\n") and raw.endswith(b"\r\n")
    assert set(macro_sources()) == {read_bas(p)[0] for p in MACROS.glob("*.bas")}


def test_every_sub_calls_python_command_of_an_entry_point():
    name, source = read_bas(MACROS / "PanelButtons.bas")
    assert name == "PanelButtons"
    bodies = dict(re.findall(r'Sub (\w+)\(\)\r\n    RunPython "([^"]*)"\r\nEnd Sub', source))
    assert bodies == {b.sub: python_command(b.entry_point) for b in BUTTONS}
    assert sub_names([source]) == {b.sub for b in BUTTONS}
    for b in BUTTONS:
        assert python_command(b.entry_point) == f"import xlplan.excel; xlplan.excel.{b.entry_point}()"
        func = getattr(xlplan.excel, b.entry_point)
        assert callable(func) and list(inspect.signature(func).parameters) == ["book"]
    assert list(inspect.signature(xlplan.excel.main).parameters) == ["book"]
    assert isinstance(FilePanel("x.xlsm"), PanelIO) and isinstance(XlwingsPanel(None), PanelIO)


def test_cli_panel_command(tmp_path):
    project = xlplan.init_project(tmp_path / "p")
    code, out, _ = cli("panel", "--out", tmp_path / "o", "--project", project.root)
    assert code == 0 and PANEL_NAME in out
    settings = FilePanel(tmp_path / "o" / PANEL_NAME).read_settings()
    assert Path(settings["master"]) == project.master.resolve() and settings["year"] == "R6"
    code, _, err = cli("panel", "--out", tmp_path / "o2", "--project", tmp_path / "nowhere")
    assert code == 2 and "xlplan.toml" in err


# ------------------------------------------------------------------ buttons = CLI commands

@pytest.fixture(scope="module")
def cycle(tmp_path_factory):
    """The year's cycle run once through the panel's buttons (FilePanel) and once by the CLI
    on a copy of the same project; everything the tests compare."""
    root = tmp_path_factory.mktemp("cycle")
    project = xlplan.init_project(root / "project")
    panel = build_panel(root / "panel" / PANEL_NAME, **project_defaults(project.root))
    fp = FilePanel(panel)
    r: dict = {"project": project, "panel": panel}

    def press(action):
        code = run(action, fp)
        r[action] = {"code": code, "message": panel_cell(panel, "xlplan_message"),
                     "status": panel_table(panel, "xlplan_status")[1],
                     "findings": panel_table(panel, "xlplan_findings")[1]}

    press("generate")
    r["cli_generate"] = cli("generate", project.master, "--out", root / "cli_out", "--project", project.root)
    plan = xlplan.load_plan(project.master)
    from xlplan.simulate import simulate_returns

    generated = {p.name.split("_")[1]: p for p in project.outbox.glob("*.xlsx")}
    simulate_returns(generated, plan, project.inbox)
    copy = root / "cli_project"
    shutil.copytree(project.root, copy)
    r["copy"] = copy

    press("collect")
    r["cli_collect"] = cli("collect", copy / "回収", "--project", copy)
    r["cli_status"] = cli("status", "--project", copy)
    press("merge")
    r["cli_merge"] = cli("merge", "--project", copy)
    press("feedback")
    r["cli_feedback"] = cli("feedback", "--project", copy)
    press("generate_scoring")
    r["cli_scoring"] = cli("generate-scoring", "--project", copy)

    target = next(p for p in sorted(project.inbox.glob("*.xlsx")))
    set_setting(panel, "xlplan_check_file", str(target))
    press("check_one")
    r["check_target"] = target
    r["cli_check"] = cli("check", target, "--format", "json", "--project", project.root)
    return r


@pytest.mark.slow
def test_generate_button_writes_what_xlplan_generate_writes(cycle):
    project = cycle["project"]
    code, out, err = cycle["cli_generate"]
    assert code == 0 == cycle["generate"]["code"], err
    mine = sorted(p.name for p in project.outbox.glob("*.xlsx"))
    theirs = sorted(p.name for p in (project.root.parent / "cli_out").glob("*.xlsx"))
    assert mine == theirs and len(mine) == 6
    for name in mine:
        assert metadata_of(project.outbox / name, project.settings) == metadata_of(
            project.root.parent / "cli_out" / name, project.settings)
        with zipfile.ZipFile(project.outbox / name) as zf:  # department workbooks: never macros
            assert not any("vba" in n.lower() for n in zf.namelist())
    message = cycle["generate"]["message"]
    assert "6 課分" in message and str(project.outbox) in message and "配布ファイル作成" in message


@pytest.mark.slow
def test_collect_button_gives_the_status_of_xlplan_status(cycle):
    code, out, err = cycle["cli_collect"]
    assert cycle["collect"]["code"] == code, err
    assert code == 1  # the simulated returns hold mistakes
    rows = cycle["collect"]["status"]
    cli_lines = cli_status_lines(cycle["cli_status"][1])
    mine = [(r[0], r[1], r[2], r[3] or "") for r in rows]
    assert mine == cli_lines
    assert {r[1] for r in rows} >= {"未提出", "要修正"}
    message = cycle["collect"]["message"]
    assert message.startswith("【回収・チェック】") and "新規" in message and "ファイル" in message
    findings = cycle["collect"]["findings"]
    assert findings and {f[0] for f in findings} <= {"エラー", "警告", "情報"}
    assert all(f[1] in xlplan.CATALOGUE for f in findings)


@pytest.mark.slow
def test_merge_button_writes_the_tables_of_xlplan_merge(cycle):
    project, copy = cycle["project"], cycle["copy"]
    assert cycle["cli_merge"][0] == 0 == cycle["merge"]["code"]
    mine = project.results / "集計_R6.xlsx"
    theirs = copy / "集計" / "集計_R6.xlsx"
    assert mine.exists() and theirs.exists()
    a, b = sheet_values(mine), sheet_values(theirs)
    assert list(a) == list(b)
    for sheet in a:
        assert a[sheet] == b[sheet], sheet
    assert str(mine) in cycle["merge"]["message"]


@pytest.mark.slow
def test_feedback_and_scoring_buttons_write_the_files_of_the_cli(cycle):
    project, copy = cycle["project"], cycle["copy"]
    assert cycle["cli_feedback"][0] == 0 == cycle["feedback"]["code"]
    mine = sorted(p.name for p in (project.root / "差し戻し").glob("*.xlsx"))
    assert mine and mine == sorted(p.name for p in (copy / "差し戻し").glob("*.xlsx"))
    assert f"{len(mine)} 件" in cycle["feedback"]["message"]
    assert cycle["cli_scoring"][0] == 0 == cycle["generate_scoring"]["code"]
    mine = sorted(p.name for p in (project.outbox / "中間評価").glob("*.xlsx"))
    assert mine and mine == sorted(p.name for p in (copy / "配布" / "中間評価").glob("*.xlsx"))
    assert f"中間評価票 {len(mine)} 件" in cycle["generate_scoring"]["message"]


@pytest.mark.slow
def test_check_one_button_gives_the_findings_of_xlplan_check(cycle):
    code, out, _ = cycle["cli_check"]
    assert cycle["check_one"]["code"] == code
    expected = [[{"error": "エラー", "warning": "警告", "info": "情報"}[f["severity"]], f["code"], f["file"],
                 f"{f['sheet']}!{f['cell']}" if f["cell"] else f["sheet"], f["message"]]
                for f in json.loads(out)["findings"]]
    got = [[v if v is not None else "" for v in row] for row in cycle["check_one"]["findings"]]
    assert got == expected and got
    assert cycle["check_target"].name in cycle["check_one"]["message"]


@pytest.mark.slow
def test_buttons_keep_the_panel_a_macro_workbook(cycle):
    panel = cycle["panel"]
    with zipfile.ZipFile(panel) as zf:
        assert "xl/vbaProject.bin" in zf.namelist()
        drawing = b"".join(zf.read(n) for n in zf.namelist() if n.endswith(".vml"))
    assert drawing.count(f"[0]!{PANEL_MACRO}".encode()) == len(BUTTONS)
    assert load_workbook(panel).sheetnames == ["設定", "状況", CONF_SHEET]


# ------------------------------------------------------------------------ errors as messages

def test_missing_master_is_a_message_not_an_exception(tmp_path):
    project = xlplan.init_project(tmp_path / "p")
    panel = build_panel(tmp_path / PANEL_NAME, project_dir=project.root)
    for action in [b.entry_point for b in BUTTONS]:
        assert run(action, FilePanel(panel)) == 2
        message = panel_cell(panel, "xlplan_message")
        assert message.startswith("エラー") and "計画マスタ" in message and "Traceback" not in message
    set_setting(panel, "xlplan_master", str(tmp_path / "ない.xlsx"))
    assert run("collect", FilePanel(panel)) == 2
    assert panel_cell(panel, "xlplan_message").startswith("エラー") and "ない.xlsx" in panel_cell(panel, "xlplan_message")


@pytest.mark.slow
def test_bad_year_missing_settings_and_a_broken_master(tmp_path):
    project = xlplan.init_project(tmp_path / "p")
    panel = build_panel(tmp_path / PANEL_NAME, **project_defaults(project.root))
    set_setting(panel, "xlplan_year", "来年")
    assert run("merge", FilePanel(panel)) == 2
    assert panel_cell(panel, "xlplan_message").startswith("エラー") and "来年" in panel_cell(panel, "xlplan_message")
    set_setting(panel, "xlplan_year", 2024)  # a number typed into the cell
    assert run("generate", FilePanel(panel)) == 0
    assert "令和6年度" in panel_cell(panel, "xlplan_message")

    broken = tmp_path / "p" / "壊れたマスタ.xlsx"
    Workbook().save(broken)
    set_setting(panel, "xlplan_master", str(broken))
    cli_code = cli("generate", broken, "--out", tmp_path / "o", "--project", project.root)[0]
    assert run("generate", FilePanel(panel)) == cli_code == 1
    message = panel_cell(panel, "xlplan_message")
    assert message.startswith("エラー") and "計画マスタに誤りがあります" in message
    assert panel_table(panel, "xlplan_findings")[1][0][1] == "master-missing-sheet"
    assert run("collect", FilePanel(panel)) == 2

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lone = build_panel(elsewhere / PANEL_NAME, master=str(broken.with_name("x.xlsx")))
    shutil.copy(project.master, broken.with_name("x.xlsx"))
    (tmp_path / "p" / "xlplan.toml").rename(tmp_path / "p" / "xlplan.toml.bak")
    assert run("merge", FilePanel(lone)) == 2
    assert "xlplan.toml" in panel_cell(lone, "xlplan_message")


@pytest.mark.slow
def test_relative_paths_are_read_from_the_panel_folder(tmp_path):
    project = xlplan.init_project(tmp_path / "p")
    panel = build_panel(tmp_path / "p" / PANEL_NAME, master="計画マスタ.xlsx")
    assert run("generate", FilePanel(panel)) == 0
    assert len(list(project.outbox.glob("*.xlsx"))) == 6


class BrokenPanel:
    def __init__(self):
        self.messages = []

    def read_settings(self):
        raise RuntimeError("boom")

    def write_message(self, text):
        self.messages.append(text)

    def write_table(self, anchor_name, header, rows):
        raise AssertionError("not reached")


def test_no_exception_escapes_run():
    panel = BrokenPanel()
    assert run("collect", panel) == 2
    # A bug of xlplan: command-failed naming the error log, which holds the traceback.
    message = panel.messages[-1]
    assert message.startswith("エラー") and "xlplan の内部エラーです" in message and "boom" not in message
    log = Path(message.split("詳しい記録: ")[1])
    assert "RuntimeError: boom" in log.read_text(encoding="utf-8")
    assert run("no-such-button", panel) == 2


# ------------------------------------------------------- the xlwings side, with a stand-in Book

class FakeSheet:
    def __init__(self):
        self.cells: dict[tuple[int, int], object] = {}

    def range(self, a, b=None):
        b = b or a
        return FakeRange(self, a[0], a[1], b[0] - a[0] + 1, b[1] - a[1] + 1)

    @property
    def used_range(self):
        last = max((r for r, _ in self.cells), default=1)
        return type("U", (), {"last_cell": FakeRange(self, last, 1)})()


class FakeRange:
    """The part of xlwings.Range that XlwingsPanel uses."""

    def __init__(self, sheet, row, column, rows=1, columns=1):
        self.sheet, self.row, self.column, self.rows, self.columns = sheet, row, column, rows, columns

    def resize(self, rows, columns):
        return FakeRange(self.sheet, self.row, self.column, rows, columns)

    def clear_contents(self):
        for r in range(self.row, self.row + self.rows):
            for c in range(self.column, self.column + self.columns):
                self.sheet.cells.pop((r, c), None)

    @property
    def value(self):
        return self.sheet.cells.get((self.row, self.column))

    @value.setter
    def value(self, v):
        grid = v if isinstance(v, list) else [[v]]
        for i, row in enumerate(grid):
            for j, x in enumerate(row):
                if x is None:
                    self.sheet.cells.pop((self.row + i, self.column + j), None)
                else:
                    self.sheet.cells[(self.row + i, self.column + j)] = x


class FakeApi:
    """Excel's Application as xlwings' ``app.api`` shows it: ``Caller`` is the name of the form
    button whose macro runs (Windows); on macOS the AppleScript api has no Caller at all."""

    def __init__(self, caller):
        self._caller = caller

    @property
    def Caller(self):  # noqa: N802 - Excel's name
        if isinstance(self._caller, Exception):
            raise self._caller
        return self._caller


class FakeShapes:
    """``sheet.shapes`` of xlwings. ``forms=True``: shapes whose xlwings ``text`` (TextFrame2)
    fails, as a Forms button may, and whose caption Excel gives through
    ``api.TextFrame.Characters().Text``."""

    def __init__(self, texts: dict[str, str], forms: bool = False):
        self.texts, self.forms = texts, forms

    def __getitem__(self, name):
        text = self.texts[name]  # KeyError as xlwings' own
        if not self.forms:
            return type("Shape", (), {"text": text})()
        characters = type("Characters", (), {"Text": text})()
        frame = type("TextFrame", (), {"Characters": lambda self: characters})()

        def refuse(self):
            raise RuntimeError("TextFrame2 is not available for this object")

        return type("Shape", (), {"text": property(refuse), "api": type("Api", (), {"TextFrame": frame})()})()


class FakeBook:
    def __init__(self, fullname, settings: dict, caller=None, shapes: dict[str, str] | None = None,
                 forms: bool = False):
        self.fullname = str(fullname)
        self.app = type("App", (), {"api": FakeApi(caller)})()
        self.sheets = {SETTINGS_SHEET: type("S", (), {"shapes": FakeShapes(shapes or {}, forms)})()}
        setting, status = FakeSheet(), FakeSheet()
        places = {"xlplan_message": (status, 2, 1), "xlplan_status": (status, 5, 1),
                  "xlplan_findings": (status, 5, 7)}
        for i, name in enumerate(["xlplan_project", "xlplan_master", "xlplan_inbox", "xlplan_year",
                                  "xlplan_out", "xlplan_check_file", "xlplan_action"]):
            places[name] = (setting, 4 + i, 2)
            if settings.get(name) is not None:
                setting.cells[(4 + i, 2)] = settings[name]
        self.status = status
        self.names = {n: type("N", (), {"refers_to_range": FakeRange(s, r, c)})() for n, (s, r, c) in places.items()}


def test_entry_points_through_the_xlwings_panel(tmp_path):
    project = xlplan.init_project(tmp_path / "p")
    target = tmp_path / "=cmd.xlsx"  # a file name that would be a formula in a cell
    target.write_bytes(b"not a workbook")
    book = FakeBook(tmp_path / PANEL_NAME, {"xlplan_master": str(project.master), "xlplan_year": 2024.0,
                                            "xlplan_check_file": str(target)})
    assert xlplan.excel.check_one(book) == cli("check", target, "--project", project.root)[0] == 1
    cells = book.status.cells
    assert cells[(2, 1)].startswith("【1ファイル確認】")
    assert [cells[(5, 7 + i)] for i in range(5)] == FINDINGS_HEADER
    assert cells[(6, 8)] == "unreadable-file" and cells[(6, 9)] == "'=cmd.xlsx"
    assert xlplan.excel.collect(book) == 0  # the empty 回収 folder of the project
    assert cells[(5, 1)] == "担当課" and cells[(6, 2)] == "未提出"
    assert (6, 7) not in cells  # the findings of the earlier run were cleared
    book.names["xlplan_master"].refers_to_range.value = None
    assert xlplan.excel.merge(book) == 2 and cells[(2, 1)].startswith("エラー")


# ------------------------------------------------------- one macro, the action from the button

# Excel names the panel's buttons (not the file): the test uses names of either language.
BUTTON_NAMES = {b.caption: f"ボタン {i}" if i % 2 else f"Button {i}" for i, b in enumerate(BUTTONS, start=1)}


def test_action_for_every_button_and_the_chosen_action():
    for b in BUTTONS:
        assert action_for(b.caption, None) == b.entry_point
        assert action_for(f" {b.caption} ", None) == b.entry_point  # caption text as Excel returns it
        assert action_for(None, b.caption) == b.entry_point  # chosen in the dropdown
        assert action_for(None, b.entry_point) == b.entry_point
        for other in BUTTONS:  # the button pressed wins over the cell
            assert action_for(b.caption, other.caption) == b.entry_point
    assert action_for(None, None) is None
    assert action_for("Button 1", None) is None and action_for("存在しない", "xx") is None


@pytest.mark.parametrize("forms", [False, True], ids=["shape text", "forms caption"])
@pytest.mark.parametrize("button", BUTTONS, ids=[b.entry_point for b in BUTTONS])
@pytest.mark.slow
def test_main_runs_the_action_of_the_button_excel_names(tmp_path, button, forms):
    project = xlplan.init_project(tmp_path / "p")
    other = next(b for b in BUTTONS if b != button)
    book = FakeBook(tmp_path / PANEL_NAME, {"xlplan_master": str(project.master), "xlplan_action": other.caption},
                    caller=BUTTON_NAMES[button.caption], shapes={v: k for k, v in BUTTON_NAMES.items()}, forms=forms)
    xlplan_panel = __import__(PANEL_MODULE)
    code = xlplan_panel.main(book)
    message = book.status.cells[(2, 1)]
    assert message.startswith(f"【{button.caption}】") or message.startswith(f"エラー: 【{button.caption}】"), message
    assert code in (0, 1, 2) and "Traceback" not in message


@pytest.mark.slow
def test_main_without_a_caller_runs_the_chosen_action_or_asks_for_one(tmp_path):
    project = xlplan.init_project(tmp_path / "p")
    for caller in (AttributeError("Caller"), -2146826265, None, "Macro1"):  # macOS, macro list, unknown
        book = FakeBook(tmp_path / PANEL_NAME, {"xlplan_master": str(project.master)}, caller=caller)
        assert xlplan.excel.main(book) == 2
        message = book.status.cells[(2, 1)]
        assert message.startswith("エラー") and "操作" in message
        book.names["xlplan_action"].refers_to_range.value = "配布ファイル作成"
        assert xlplan.excel.main(book) == 0
        assert book.status.cells[(2, 1)].startswith("【配布ファイル作成】")
    assert len(list(project.outbox.glob("*.xlsx"))) == 6


def test_panel_dropdown_offers_the_button_captions(built):
    _, path = built
    wb = load_workbook(path)
    ws, cell = _destination(wb, "xlplan_action")
    lists = [dv for dv in ws.data_validations.dataValidation if str(dv.sqref) == cell]
    assert len(lists) == 1 and lists[0].type == "list"
    assert lists[0].formula1 == '"' + ",".join(b.caption for b in BUTTONS) + '"'


@pytest.mark.slow
def test_a_workbook_without_the_action_cell_still_runs(tmp_path):
    """A panel made before xlplan_action, or a workbook of one's own with PanelButtons.bas."""
    project = xlplan.init_project(tmp_path / "p")
    book = FakeBook(tmp_path / PANEL_NAME, {"xlplan_master": str(project.master)},
                    caller="Button 3", shapes={"Button 3": "集計"})
    del book.names["xlplan_action"]
    assert "action" not in XlwingsPanel(book).read_settings()
    assert xlplan.excel.generate(book) == 0  # a PanelButtons.bas Sub
    assert book.status.cells[(2, 1)].startswith("【配布ファイル作成】")
    xlplan.excel.main(book)  # the panel's one macro
    # 集計 ran (and refused: nothing was collected in this fresh project).
    assert book.status.cells[(2, 1)].startswith(("【集計】", "エラー: 【集計】まだ回収していません"))
