"""Errors as data: every stop of a run is a coded error of the catalogue (xlplan.errors).

* every error code of the catalogue is raised by some real input, and its English message has
  no Japanese but the user's own data;
* the CLI prints it in Japanese or English and, with ``--format json``, writes it as data
  (code, severity, params, message) with the documented exit status 2;
* the Excel panel writes the same message;
* a broken layout is ``template-invalid`` naming file, sheet and cell, from every command that
  loads layouts, never a traceback; ``settings-missing`` wherever the settings are absent.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock
from openpyxl import load_workbook

from xlplan import app
from xlplan.cli import main
from xlplan.errors import XlplanError
from xlplan.findings import CATALOGUE, Place, Words
from xlplan.plan import MASTER_WORDS_EN

from test_cli_language import CJK

ERROR_CODES = sorted(code for code, entry in CATALOGUE.items() if entry.is_error)
# Names of xlplan's own workbooks that a message quotes as Excel shows them (with an English
# gloss beside them): the panel's sheet 設定 and its 操作 row, the master's sheets.
WORKBOOK_WORDS = ["設定", "操作", *MASTER_WORDS_EN]


def _raised(call) -> XlplanError:
    """The coded error ``call`` stops with (failing when it returns)."""
    with pytest.raises(XlplanError) as caught:
        call()
    return caught.value


def _cli(capsys, *args) -> tuple[int, str, str]:
    """``xlplan args`` run in this process: (exit status, stdout, stderr)."""
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _without_root_powers(extra: str = "") -> list[str]:
    """A command prefix under which permissions hold even for root (util-linux setpriv)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be made to hold")
    caps = "-dac_override,-dac_read_search" + extra
    return ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", "--"]


def _run_cli(*args, prefix=(), cwd=None):
    env = {k: v for k, v in os.environ.items() if k not in ("XLPLAN_LANG", "XLPLAN_DEBUG")}
    return subprocess.run([*prefix, sys.executable, "-m", "xlplan.cli", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


# --- a project with one collected workbook ----------------------------------------------------


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """A project (init), its plan, and one department's workbook collected for R6."""
    from xlplan.archive import Archive
    from xlplan.collect import collect
    from xlplan.generate import generate
    from xlplan.plan import load_plan
    from xlplan.project import init_project

    root = tmp_path_factory.mktemp("errors")
    project = init_project(root / "project")
    plan = load_plan(project.master)
    [made] = generate(plan, project.inbox, project.settings, departments=["福祉課"])
    collect(Archive.for_settings(project.settings), [project.inbox], project.settings, plan)
    return project, plan, made


def _opened(project, archive="require", year=None):
    from xlplan.settings import load_settings

    return app.open_project(load_settings(project.settings.path), project.master,
                            app.parse_year(year), archive)


# --- every error code from real input ---------------------------------------------------------


def _panel_errors(tmp_path: Path, project) -> list[XlplanError]:
    """The panel's own stops, as run() writes them (the error is rebuilt from the message's
    code: the panel shows it, the test needs the object)."""
    from xlplan.excel import FilePanel, _Context, run
    from xlplan.panel import PANEL_NAME, build_panel

    from test_panel import panel_cell

    found = [_raised(lambda: build_panel(tmp_path / "パネル.xlsm"))]          # panel-name
    panel = build_panel(tmp_path / "panel" / PANEL_NAME, project_dir=project.root)
    ctx = _Context(FilePanel(panel).read_settings())
    found.append(_raised(ctx.master))                                        # panel-setting-blank
    assert run("sort", FilePanel(panel)) == 2                                # panel-unknown-action
    error = XlplanError("panel-unknown-action", action="sort")
    assert panel_cell(panel, "xlplan_message") == f"エラー: 【sort】{error.message('ja')}"
    found.append(error)
    return found


def _xlwings_errors(tmp_path: Path, monkeypatch) -> list[XlplanError]:
    """xlwings absent, and an xlwings without its standalone quickstart workbook."""
    import importlib.util

    from xlplan.panel import xlwings_quickstart_path

    with monkeypatch.context() as m:
        m.setitem(sys.modules, "xlwings", None)                             # not installed
        missing = _raised(xlwings_quickstart_path)
    fake = tmp_path / "fake" / "xlwings"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("", encoding="utf-8")
    module = type(sys)("xlwings")
    module.__spec__ = importlib.util.spec_from_file_location("xlwings", fake / "__init__.py")
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "xlwings", module)                           # an incomplete install
        incomplete = _raised(xlwings_quickstart_path)
    return [missing, incomplete]


def _locked_output_errors(tmp_path: Path) -> list[XlplanError]:
    """The panel file (and every name beside it) owned by another user in a sticky folder, as
    a file open in Excel refuses to be replaced: panel-open, output-locked (subprocess: root
    loses the powers that would let it replace them)."""
    from xlplan.panel import PANEL_NAME

    errors = []
    for locked_names in ([PANEL_NAME], [PANEL_NAME] + [f"xlplan_panel ({n}).xlsm" for n in range(2, 10)]):
        folder = tmp_path / f"sticky{len(locked_names)}"
        folder.mkdir()
        for name in locked_names:
            (folder / name).write_bytes(b"open in Excel")
            os.chown(folder / name, 65534, 65534)
        os.chown(folder, 65534, 65534)
        os.chmod(folder, 0o1777)
        r = _run_cli("panel", "--out", folder, "--project", tmp_path / "project", "--lang", "en",
                     prefix=_without_root_powers(",-fowner"))
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        errors.append(r.stderr)
    # An output folder that cannot be written: file-system-error, not an internal error.
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    os.chmod(readonly, 0o555)
    r = _run_cli("generate", tmp_path / "project" / "計画マスタ.xlsx", "--out", readonly / "out",
                 "--project", tmp_path / "project", "--lang", "en", prefix=_without_root_powers())
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    errors.append(r.stderr.splitlines()[-1])
    return errors


@pytest.fixture(scope="module")
def every_error(collected, tmp_path_factory):
    """One or more coded errors per code, each raised by a real input."""
    from xlplan.archive import Archive
    from xlplan.files import atomic_write  # noqa: F401 - output-locked: see _locked_output_errors
    from xlplan.project import init_project
    from xlplan.runlock import ProjectLock
    from xlplan.settings import load_settings

    project, plan, made = collected
    tmp = tmp_path_factory.mktemp("every")
    found: list[XlplanError] = []
    empty = tmp / "empty"
    empty.mkdir()
    found.append(_raised(lambda: app.find_project_settings(empty, cwd=empty)))  # settings-missing
    bad = tmp / "bad" / "xlplan.toml"
    bad.parent.mkdir()
    bad.write_text(project.settings.path.read_text(encoding="utf-8").replace(
        "far_from_target_low = 0.5", 'far_from_target_low = "half"'), encoding="utf-8")
    found.append(_raised(lambda: load_settings(bad)))                        # settings-invalid
    found.append(_raised(lambda: app.parse_year("来年")))                   # year-invalid
    found.append(_raised(lambda: app.open_project(project.settings, tmp / "ない.xlsx")))
    text_master = tmp / "マスタ.xlsx"
    text_master.write_text("計画,R6\n", encoding="utf-8")
    found.append(_raised(lambda: app.open_project(project.settings, text_master)))  # master-invalid
    opened = _opened(project)
    found.append(_raised(lambda: app.check(opened, [tmp / "回収なし"])))    # path-not-found
    found.append(_raised(lambda: app.generate(opened, tmp / "o", ["福祉"])))  # department-not-in-master
    found.append(_raised(lambda: app.choose(opened, "福祉課")))              # choice-missing
    found.append(_raised(lambda: app.choose(opened, "福祉課", 999)))         # submission-not-found
    nobody = dataclasses.replace(opened, plan=dataclasses.replace(plan, members=[]))
    found.append(_raised(lambda: app.generate_scoring(nobody, tmp / "s")))  # no-committee-members
    fresh = init_project(tmp / "fresh")
    found.append(_raised(lambda: _opened(fresh)))                            # nothing-collected
    found.append(_raised(lambda: app.merge(_opened(project, year="R7"), tmp / "m.xlsx")))
    with FileLock(str(project.root / "xlplan.lock")):                       # project-busy
        found.append(_raised(lambda: ProjectLock(project.root, 0.1).__enter__()))
    found.append(_raised(lambda: init_project(project.root)))               # project-exists
    broken = tmp / "layouts"
    shutil.copytree(project.root / "workbook_templates", broken)
    wb = load_workbook(broken / "department.xlsx")
    wb["事業シート"]["C7"] = "{{project.budget}}"
    wb.save(broken / "department.xlsx")
    layouts = dataclasses.replace(opened, settings=dataclasses.replace(opened.settings, templates_dir=broken))
    found.append(_raised(lambda: app.generate(layouts, tmp / "g")))         # template-invalid
    found += _panel_errors(tmp, project)
    mp = pytest.MonkeyPatch()
    try:
        found += _xlwings_errors(tmp, mp)
    finally:
        mp.undo()
    return found, project, _locked_output_errors(project.root.parent)


def _interrupted_run(project) -> subprocess.CompletedProcess:
    """``xlplan demo`` interrupted with Ctrl+C (SIGINT) while it works."""
    out = project.root.parent / "demo-interrupted"
    env = {k: v for k, v in os.environ.items() if k not in ("XLPLAN_LANG", "XLPLAN_DEBUG")}
    proc = subprocess.Popen([sys.executable, "-m", "xlplan.cli", "demo", str(out), "--lang", "en"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not out.exists() and time.monotonic() < deadline:  # the command is running (imports done)
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _user_words(error: XlplanError) -> list[str]:
    """The user's data in an error: its text, path and list parameters."""
    words = []
    for name, kind in error.type.params.items():
        value = error.params[name]
        if kind in ("text", "path") and value:
            words.append(str(value))
        elif kind == "list":
            words += list(value)
        elif kind == "place" and value:
            words += [value.sheet, value.cell]
    return words


def _leftovers(english: str, words) -> list[str]:
    for word in sorted({w for w in [*words, *WORKBOOK_WORDS] if w}, key=len, reverse=True):
        english = english.replace(word, "")
    return CJK.findall(english)


@pytest.mark.slow
def test_every_error_code_is_raised_by_a_real_input(every_error, collected, capsys):
    found, project, locked = every_error
    codes = {e.code for e in found}
    # The panel file open elsewhere (panel-open), and every name beside an output taken
    # (output-locked): real refusals of the operating system, through the CLI.
    assert "Cannot write" in locked[0] and "close the panel open in Excel" in locked[0]
    assert "is it open in Excel or another program?" in locked[1]
    assert locked[2].endswith("cannot be read or written (permission denied). Check the place, its "
                              "permissions and the free disk space, then run again.")
    codes |= {"panel-open", "output-locked", "file-system-error"}
    # No button named by Excel (the xlwings side, with the stand-in Book of test_panel).
    from test_panel import FakeBook

    import xlplan.excel

    book = FakeBook(project.root / "xlplan_panel.xlsm", {"xlplan_master": str(project.master)}, caller=None)
    assert xlplan.excel.main(book) == 2
    assert book.status.cells[(2, 1)] == "エラー: " + XlplanError("panel-no-action").message("ja")
    codes.add("panel-no-action")
    # Ctrl+C: interrupted, exit 2.
    r = _interrupted_run(project)
    assert r.returncode == 2 and r.stderr.strip().endswith("Interrupted."), r.stderr[-500:]
    assert "Traceback" not in r.stderr
    codes.add("interrupted")
    # A bug of xlplan: the last resort names the error log (command-failed), exit 2.
    def boom(args):
        raise RuntimeError("boom")
    code = __import__("xlplan.cli", fromlist=["_run"])._run(
        argparse.Namespace(func=boom, lang="en", project=str(project.root), format="json"))
    out = capsys.readouterr()
    record = json.loads(out.out)["error"]
    assert code == 2 and record["code"] == "command-failed" and "boom" not in out.err
    assert Path(record["params"]["log"]).is_file() and "boom" in Path(record["params"]["log"]).read_text()
    codes.add("command-failed")
    assert codes == set(ERROR_CODES), sorted(set(ERROR_CODES) - codes)


@pytest.mark.slow
def test_every_error_speaks_english_without_japanese_but_the_users_data(every_error):
    found, _, locked = every_error
    for error in found:
        english, japanese = error.message("en"), error.message("ja")
        assert not _leftovers(english, _user_words(error)), (error.code, english)
        assert CJK.search(japanese), (error.code, japanese)
        record = error.to_dict("en")
        assert record["message"] == english and record["code"] == error.code
        assert record["severity"] == "error" and set(record["params"]) == set(error.type.params)
    for stderr in locked:  # paths without Japanese: nothing Japanese at all
        assert not CJK.search(stderr), stderr


def test_every_catalogue_example_of_an_error_renders_in_both_languages():
    for code in ERROR_CODES:
        entry = CATALOGUE[code]
        error = XlplanError(code, **entry.example)
        assert error.message("ja") != error.message("en") or not CJK.search(error.message("ja"))
        assert "{" not in error.message("en").replace("{{", "") or code == "template-invalid"


def test_errors_are_typed():
    with pytest.raises(TypeError):
        XlplanError("path-not-found", paths="回収")  # a list, not a string
    with pytest.raises(TypeError):
        XlplanError("path-not-found", folders=["回収"])  # not a parameter of the code
    with pytest.raises(KeyError):
        XlplanError("wrong-year")  # a finding, not an error
    with pytest.raises(TypeError):
        XlplanError("template-invalid", file="x.xlsx", place=("事業シート", "C7"), problem=Words("a", "b"))
    XlplanError("template-invalid", file="x.xlsx", place=Place("事業シート", "C7"), problem=Words("a", "b"))


# --- the CLI: message in the language, JSON as data, exit status 2 ---------------------------


@pytest.mark.slow
def test_check_json_emits_the_error_as_data(collected, tmp_path, capsys):
    project, _, _ = collected
    code, out, err = _cli(capsys, "check", tmp_path / "なし", "--project", project.root,
                          "--format", "json", "--lang", "en")
    assert code == 2
    payload = json.loads(out)
    assert payload["error"]["code"] == "path-not-found"
    assert payload["error"]["params"] == {"paths": [str(tmp_path / "なし")]}
    assert payload["error"]["message"] == f"Not found: {tmp_path / 'なし'}" == err.strip()
    assert payload["error"]["severity"] == "error" and payload["error"]["exit_status"] == 2
    code, out, err = _cli(capsys, "check", tmp_path, "--format", "json", "--project", tmp_path)
    assert code == 2 and json.loads(out)["error"]["code"] == "settings-missing"
    assert "設定ファイル xlplan.toml が見つかりません" in err


@pytest.mark.slow
def test_check_json_carries_the_plan_masters_findings(collected, tmp_path, capsys):
    project, _, _ = collected
    master = tmp_path / "マスタ.xlsx"
    master.write_text("計画,R6\n", encoding="utf-8")
    code, out, err = _cli(capsys, "check", project.inbox, "--project", project.root,
                          "--master", master, "--format", "json")
    payload = json.loads(out)
    assert code == 2 and payload["error"]["code"] == "master-invalid"
    assert payload["error"]["params"] == {"errors": 1}
    assert [f["code"] for f in payload["findings"]] == ["master-unreadable"]


@pytest.mark.slow
def test_settings_missing_wherever_the_settings_are_absent(tmp_path, capsys, collected, monkeypatch):
    """Every command that needs the project's settings, run where there are none."""
    project, _, _ = collected
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    lone = tmp_path / "lone" / "計画マスタ.xlsx"  # a master in a folder without settings
    lone.parent.mkdir()
    shutil.copy(project.master, lone)
    commands = [("generate", lone, "--project", empty), ("master", lone), ("check", project.inbox, "--project", empty),
                ("collect", project.inbox, "--project", empty), ("status", "--project", empty),
                ("choose", "--department", "福祉課", "--latest", "--project", empty),
                ("merge", "--project", empty), ("feedback", "--project", empty),
                ("generate-scoring", "--project", empty), ("panel", "--out", empty, "--project", empty)]
    for command in commands:
        for lang, words in (("ja", "設定ファイル xlplan.toml が見つかりません"), ("en", "No xlplan.toml settings file found")):
            code, out, err = _cli(capsys, *command, "--lang", lang)
            if command[0] == "master":  # reads the master alone: no settings needed
                assert code == 0, err
                continue
            assert code == 2 and words in err, (command, err)
    from xlplan.excel import FilePanel, run
    from xlplan.panel import PANEL_NAME, build_panel

    shutil.copy(project.master, empty / "m.xlsx")
    panel = build_panel(empty / "p" / PANEL_NAME, master=str(empty / "m.xlsx"))
    assert run("merge", FilePanel(panel)) == 2
    from test_panel import panel_cell

    assert "設定ファイル xlplan.toml が見つかりません" in panel_cell(panel, "xlplan_message")
    from xlplan.panel import project_defaults
    from xlplan.settings import load_settings

    for call in (lambda: project_defaults(empty), lambda: load_settings(empty / "xlplan.toml")):
        assert _raised(call).code == "settings-missing"


# --- template-invalid: a broken layout, from every command that loads layouts ----------------


def _break(folder: Path, how: str) -> tuple[str, str, str]:
    """Break the coordinator's department layout in ``folder`` the way ``how`` says; the file,
    sheet and cell a message must name."""
    workbook, declaration = folder / "department.xlsx", folder / "department.toml"
    if how == "declaration":
        declaration.write_text("id = \n", encoding="utf-8")
        return str(declaration), "", ""
    if how == "not-a-workbook":
        workbook.write_text("計画,R6\n", encoding="utf-8")
        return str(workbook), "", ""
    wb = load_workbook(workbook)
    if how == "unknown-placeholder":
        wb["事業シート"]["D9"] = "目標 {{target.nxt}}"
        place = ("事業シート", "D9")
    elif how == "unknown-block":
        row = next(r for r in range(1, wb["事業シート"].max_row + 1)
                   if str(wb["事業シート"].cell(r, 1).value or "").startswith("each"))
        wb["事業シート"].cell(row, 1).value = "each indicators"
        place = ("事業シート", f"A{row}")
    elif how == "sheet-missing":
        wb["事業シート"].title = "事業"
        place = ("事業シート", "")
    wb.save(workbook)
    return str(workbook), *place


BREAKAGES = ("declaration", "not-a-workbook", "unknown-placeholder", "unknown-block", "sheet-missing")


@pytest.mark.parametrize("how", BREAKAGES)
@pytest.mark.slow
def test_a_broken_layout_is_template_invalid_naming_file_sheet_and_cell(collected, tmp_path, capsys, how):
    project, _, _ = collected
    copy = tmp_path / "project"
    shutil.copytree(project.root, copy)
    file, sheet, cell = _break(copy / "workbook_templates", how)
    # generate (and merge, feedback: they render the department layout); check and collect
    # read the declarations only.
    commands = [("generate", copy / "計画マスタ.xlsx", "--out", tmp_path / "o"),
                ("merge", "--out", tmp_path / "m.xlsx"), ("feedback", "--out", tmp_path / "f")]
    if how == "declaration":
        commands += [("check", copy / "回収"), ("collect", copy / "回収")]
    for command in commands:
        for lang in ("ja", "en"):
            code, out, err = _cli(capsys, *command, "--project", copy, "--lang", lang)
            assert code == 2, (command, lang, out, err)
            [line] = [x for x in err.splitlines() if file in x]
            assert ("様式ファイル" if lang == "ja" else "The layout file") in line
            if sheet:
                assert (f"シート「{sheet}」" if lang == "ja" else f"sheet '{sheet}'") in line, line
            if cell:
                assert (f"セル {cell}" if lang == "ja" else f"cell {cell}") in line, line
            if lang == "en":
                assert not _leftovers(line, [file, sheet, "計画", "R6"]), line
            assert "Traceback" not in err
    if how == "declaration":
        code, out, _ = _cli(capsys, "check", copy / "回収", "--project", copy, "--format", "json")
        error = json.loads(out)["error"]
        assert code == 2 and error["code"] == "template-invalid" and error["params"]["file"] == file


@pytest.mark.slow
def test_the_panel_shows_the_same_message_for_a_broken_layout(collected, tmp_path):
    from xlplan.excel import FilePanel, run
    from xlplan.panel import PANEL_NAME, build_panel, project_defaults
    from xlplan.settings import load_settings

    from test_panel import panel_cell

    project, _, _ = collected
    copy = tmp_path / "project"
    shutil.copytree(project.root, copy)
    _break(copy / "workbook_templates", "unknown-placeholder")
    panel = build_panel(tmp_path / PANEL_NAME, **project_defaults(copy))
    expected = _raised(lambda: app.generate(_opened(type(project)(copy, copy / "計画マスタ.xlsx",
                                                                  load_settings(copy / "xlplan.toml")),
                                                    archive=None))).message("ja")
    for action in ("generate", "merge", "feedback"):
        assert run(action, FilePanel(panel)) == 2
        assert panel_cell(panel, "xlplan_message").endswith(expected), panel_cell(panel, "xlplan_message")


# --- one rule for a file that cannot be opened: check, collect and the panel ------------------


@pytest.mark.slow
def test_a_file_that_cannot_be_opened_is_file_inaccessible_in_check_collect_and_the_panel(collected, tmp_path):
    project, plan, made = collected
    copy = tmp_path / "project"
    shutil.copytree(project.root, copy)
    inbox = copy / "回収"
    locked = inbox / "locked.xlsx"
    shutil.copy(made.path, locked)
    os.chmod(locked, 0)
    prefix = _without_root_powers()
    lines = {}
    for command in ("check", "collect"):
        r = _run_cli(command, inbox, "--project", copy, "--lang", "en", prefix=prefix)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stdout + r.stderr
        [line] = [x for x in r.stdout.splitlines() if "locked.xlsx" in x and "cannot be opened" in x]
        lines[command] = line
        assert "permission denied" in line and "unreadable-file" not in r.stdout, r.stdout
    assert "file-inaccessible" in lines["check"]
    r = _run_cli("check", locked, "--project", copy, "--format", "json", prefix=prefix)
    [finding] = [f for f in json.loads(r.stdout)["findings"] if f["file"] == "locked.xlsx"]
    assert finding["code"] == "file-inaccessible" and finding["detail"] == "アクセスが拒否されました"
    # The panel's 1ファイル確認 and 回収・チェック, in a process without root's powers.
    from xlplan.panel import PANEL_NAME, build_panel, project_defaults

    from test_panel import set_setting

    panel = build_panel(tmp_path / PANEL_NAME, **project_defaults(copy))
    set_setting(panel, "xlplan_check_file", str(locked))
    script = ("import sys, json; from xlplan.excel import FilePanel, run; "
              "from test_panel import panel_table; "
              "codes = {a: (run(a, FilePanel(sys.argv[1])), [r[1] for r in panel_table(sys.argv[1], 'xlplan_findings')[1] "
              "if r[2] == 'locked.xlsx']) for a in ('check_one', 'collect')}; print(json.dumps(codes))")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent))
    r = subprocess.run([*prefix, sys.executable, "-c", script, str(panel)], capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1]) == {"check_one": [1, ["file-inaccessible"]],
                                                      "collect": [1, ["file-inaccessible"]]}
