"""The coordinator's control workbook (``xlplan_panel.xlsm``): settings, buttons, results.

The panel is the one workbook with macros. It carries

* sheet ``設定``: the settings (label in column A, value in column B, a note in column C), each
  value cell with a workbook-level defined name (``xlplan_project``, ``xlplan_master``,
  ``xlplan_inbox``, ``xlplan_year``, ``xlplan_out``, ``xlplan_check_file``, ``xlplan_action``),
  and six form buttons, one per :data:`BUTTONS` entry, ALL bound to the one macro
  :data:`PANEL_MACRO`;
* sheet ``状況``: the message cell ``xlplan_message``, the submission status table at
  ``xlplan_status`` and the findings table at ``xlplan_findings`` (written by
  :mod:`xlplan.excel`);
* sheet ``xlwings.conf``: the key/value settings xlwings' VBA reads (``Interpreter_Win``,
  ``Interpreter_Mac``, ``PYTHONPATH``; keys from A1 down in column A, values in column B);
* the VBA project of xlwings' own ``quickstart_standalone.xlsm``, taken from the installed
  xlwings package when the panel is built (never stored in this repository): saved and
  compiled by Excel, it holds the xlwings module (same version as the Python side) and
  ``Module1.SampleCall``, which runs ``RunPython "import <workbook name>;<workbook name>.main()"``.

So every button runs :data:`PANEL_COMMAND`: the top-level module :mod:`xlplan_panel` (shipped
with xlplan, named after the panel file) calls :func:`xlplan.excel.main`, which finds out
which button was pressed (``Application.Caller``) and runs that button's action. The panel
therefore works only under its own name ``xlplan_panel.xlsm``. ``macros/*.bas`` stays the
module a coordinator imports into a workbook of their own (one Sub per button). Department
workbooks never carry macros; only this panel.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import io
import re
import sys
import zipfile
from pathlib import Path
from typing import NamedTuple

from defusedxml import ElementTree as SafeET

from .files import atomic_write
from .errors import XlplanError
from .ooxml.text import write_text

__all__ = [
    "BUTTONS", "Button", "PANEL_NAME", "PANEL_MODULE", "PANEL_MACRO", "PANEL_COMMAND",
    "SETTING_NAMES", "SETTINGS_SHEET", "STATUS_SHEET", "CONF_SHEET", "STATUS_HEADER",
    "FINDINGS_HEADER", "PanelLockedError", "PanelNameError", "VbaProject", "XlwingsMissing", "build_panel", "python_command",
    "macro_sources", "macros_dir", "read_bas", "xlwings_quickstart_path", "xlwings_vba_project",
    "project_defaults",
]

PANEL_NAME = "xlplan_panel.xlsm"
# xlwings' SampleCall imports the module named like the workbook: xlplan_panel.xlsm runs
# ``import xlplan_panel;xlplan_panel.main()`` (the module ships with xlplan: xlplan_panel.py).
PANEL_MODULE = Path(PANEL_NAME).stem
PANEL_MACRO = "SampleCall"
PANEL_COMMAND = f"import {PANEL_MODULE};{PANEL_MODULE}.main()"
QUICKSTART = "quickstart_standalone.xlsm"
SETTINGS_SHEET, STATUS_SHEET, CONF_SHEET = "設定", "状況", "xlwings.conf"


class Button(NamedTuple):
    """One button of the panel: its Japanese caption (which :func:`xlplan.excel.main` reads
    to know the action), the Sub of ``macros/PanelButtons.bas`` for a workbook of the
    coordinator's own, and the :mod:`xlplan.excel` function both run."""

    caption: str
    sub: str
    entry_point: str


BUTTONS: list[Button] = [
    Button("配布ファイル作成", "GenerateWorkbooks", "generate"),
    Button("回収・チェック", "CollectAndCheck", "collect"),
    Button("集計", "MergeResults", "merge"),
    Button("差し戻し作成", "WriteFeedback", "feedback"),
    Button("1ファイル確認", "CheckOneFile", "check_one"),
    Button("中間評価票作成", "GenerateScoringForms", "generate_scoring"),
]

_BUTTON_NOTES = {
    "generate": "計画マスタから担当課ごとの入力用ファイルを「配布」フォルダに作成します（xlplan generate）。",
    "collect": "回収フォルダの全ファイルを保管庫に複製・記録してチェックし、提出状況と指摘を「状況」シートに表示します（xlplan collect）。",
    "merge": "保管庫から集計ファイル 集計_<年度>.xlsx を作成します（xlplan merge）。",
    "feedback": "要修正の課ごとに差し戻し用ファイルを「差し戻し」フォルダに作成します（xlplan feedback）。",
    "check_one": "「確認するファイル」の 1 ファイルだけをチェックします。保管はしません（xlplan check）。",
    "generate_scoring": "推進会議委員ごとの中間評価票を「配布/中間評価」フォルダに作成します（xlplan generate-scoring）。",
}

# (setting key, defined name, label, note)
SETTINGS_ROWS: list[tuple[str, str, str, str]] = [
    ("project", "xlplan_project", "プロジェクトフォルダ",
     "設定ファイル xlplan.toml のあるフォルダ。空欄なら計画マスタのフォルダ、次にこのファイルのフォルダを探します。"),
    ("master", "xlplan_master", "計画マスタ",
     "計画マスタ（.xlsx）のパス。必須です。相対パスはこのファイルのフォルダから数えます。"),
    ("inbox", "xlplan_inbox", "回収フォルダ",
     "各課から届いたファイルを置くフォルダ（「回収・チェック」で使用）。空欄ならプロジェクトフォルダの「回収」。"),
    ("year", "xlplan_year", "評価年度",
     "R6、令和6年度、2024 など。空欄なら計画マスタの評価年度。"),
    ("out", "xlplan_out", "集計の出力フォルダ",
     "「集計」で 集計_<年度>.xlsx を書き出すフォルダ。空欄ならプロジェクトフォルダの「集計」。"),
    ("check_file", "xlplan_check_file", "確認するファイル",
     "「1ファイル確認」でチェックするファイル（またはフォルダ）のパス。"),
    ("action", "xlplan_action", "操作（ボタンを判別できないとき）",
     "通常は空欄。どのボタンが押されたか xlwings が伝えられないとき（macOS、マクロ一覧からの実行）だけ、"
     "ここで選んだ操作を実行します。"),
]
SETTING_NAMES: dict[str, str] = {key: name for key, name, _, _ in SETTINGS_ROWS}
FIRST_SETTING_ROW = 4  # 1-based Excel row of the first setting

# The status table is the one every view shows (xlplan.status.panel_rows: the same words and
# local times as `xlplan status`); the findings table sits to its right.
STATUS_HEADER = ["担当課", "状況", "ID", "ファイル", "保存", "エラー", "警告", "集計", "備考"]
FINDINGS_HEADER = ["重要度", "コード", "ファイル", "場所", "内容"]

_PANEL_SHEETS = (SETTINGS_SHEET, STATUS_SHEET, CONF_SHEET)


class PanelLockedError(XlplanError, PermissionError):
    """The panel file cannot be replaced (open in Excel): a copy under another name would
    not work, since the macro imports the module named after the file (panel-open)."""

    def __init__(self, path: Path):
        super().__init__("panel-open", path=path)
        self.path = path


class PanelNameError(XlplanError, ValueError):
    """The panel asked for under another file name than :data:`PANEL_NAME`."""


def python_command(entry_point: str) -> str:
    """The exact Python statement a Sub of ``macros/PanelButtons.bas`` passes to xlwings'
    ``RunPython`` (a workbook of the coordinator's own; the panel runs :data:`PANEL_COMMAND`)."""
    return f"import xlplan.excel; xlplan.excel.{entry_point}()"


def macros_dir() -> Path:
    """The folder of the panel's VBA sources (``macros/`` of the source tree, installed as the
    data package ``xlplan.macros``)."""
    try:
        folder = Path(str(importlib.resources.files("xlplan.macros")))
        if any(folder.glob("*.bas")):
            return folder
    except ModuleNotFoundError:
        pass
    # An editable install made before xlplan.macros was declared: the source tree's folder.
    return Path(__file__).resolve().parent.parent / "macros"


def read_bas(path: str | Path) -> tuple[str, str]:
    """Read an exported VBA module file (.bas: ASCII/cp1252 text, CRLF lines).

    Returns ``(name, source)``: the name from its ``Attribute VB_Name = "..."`` line and the
    whole text with CRLF line ends. Raises ValueError when the file has no such line.
    """
    text = Path(path).read_bytes().decode("cp1252")
    found = re.search(r'^Attribute VB_Name\s*=\s*"([^"]+)"', text, re.M)
    if found is None:
        raise ValueError(f"{path}: no 'Attribute VB_Name = \"...\"' line at the top")
    return found.group(1), text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def macro_sources() -> dict[str, str]:
    """``{module name: source}`` of every ``macros/*.bas`` (CRLF, attribute lines kept)."""
    return dict(read_bas(p) for p in sorted(macros_dir().glob("*.bas")))


class XlwingsMissing(XlplanError, FileNotFoundError):
    """xlwings or its standalone quickstart is not installed; a message in Japanese and English."""


def xlwings_quickstart_path() -> Path:
    """xlwings' ``quickstart_standalone.xlsm`` in the installed xlwings package (found without
    importing xlwings, which needs Excel on some platforms)."""
    spec = importlib.util.find_spec("xlwings")
    if spec is None or not spec.origin:
        raise XlwingsMissing("xlwings-missing")
    path = Path(spec.origin).resolve().parent / QUICKSTART
    if not path.is_file():
        raise XlwingsMissing("xlwings-incomplete", file=QUICKSTART, folder=path.parent)
    return path


class VbaProject(NamedTuple):
    """A VBA project saved by Excel, as XlsxWriter's ``add_vba_project`` takes it, with the
    code names of the workbook that saved it (Excel needs the same code names in the new
    workbook: ``set_vba_name``)."""

    data: bytes
    workbook_code_name: str
    sheet_code_names: list[str]


_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def xlwings_vba_project(xlsm: Path | str | None = None) -> VbaProject:
    """The VBA project of an Excel-saved .xlsm (default: xlwings' standalone quickstart),
    extracted as XlsxWriter's ``vba_extract`` does (the zip member ``xl/vbaProject.bin``),
    with the code names of its workbook and of its sheets in sheet order."""
    from .read import package_sheets

    xlsm = Path(xlsm) if xlsm is not None else xlwings_quickstart_path()
    with zipfile.ZipFile(xlsm) as package:
        data = package.read("xl/vbaProject.bin")
        book_name = _code_name(package.read("xl/workbook.xml"), "workbookPr") or "ThisWorkbook"
        sheets = [_code_name(package.read(part), "sheetPr") or f"Sheet{n}"
                  for n, (_, part, _) in enumerate(package_sheets(package), start=1)]
    return VbaProject(data, book_name, sheets)


def _code_name(xml: bytes, element: str) -> str | None:
    """The ``codeName`` attribute of the part's ``workbookPr`` / ``sheetPr`` (None if absent)."""
    found = SafeET.fromstring(xml).find(f"{_MAIN_NS}{element}")
    return found.get("codeName") if found is not None else None


def _default_interpreters() -> dict[str, str]:
    """Interpreter_Win / Interpreter_Mac for the xlwings.conf sheet.

    Built on Windows (or macOS), the panel names the Python that runs this code: the one
    xlplan is installed in, which is the one RunPython must start. Built elsewhere,
    Interpreter_Win is ``python`` (xlwings' own default) and the coordinator sets it.
    """
    win = sys.executable if sys.platform == "win32" and sys.executable else "python"
    mac = sys.executable if sys.platform == "darwin" and sys.executable else ""
    return {"Interpreter_Win": win, "Interpreter_Mac": mac}


def project_defaults(project_dir: Path | str) -> dict[str, str]:
    """The panel settings of a project folder, as ``xlplan panel`` prefills them:
    project folder, its plan master, ``回収``, the master's evaluation year, ``集計``.
    Raises SettingsError when the folder has no xlplan.toml."""
    from .plan import read_plan
    from .project import INBOX, RESULTS
    from .settings import load_settings

    root = Path(project_dir).resolve()
    settings = load_settings(root / "xlplan.toml")
    values = {"project_dir": str(root), "inbox": str(root / INBOX), "out_dir": str(root / RESULTS)}
    if settings.master is not None:
        values["master"] = str(settings.master)
        if settings.master.exists():
            plan, _ = read_plan(settings.master)
            if plan is not None:
                values["year"] = plan.year.short
    return values


def _sheet_code_names(project: VbaProject) -> dict[str, str]:
    """The code name of each panel sheet: the project's own sheet modules first, then the
    next free ``SheetN`` (Excel adds the document module of a sheet the project lacks)."""
    names = list(project.sheet_code_names)
    n = 1
    while len(names) < len(_PANEL_SHEETS):
        if f"Sheet{n}" not in names:
            names.append(f"Sheet{n}")
        n += 1
    return dict(zip(_PANEL_SHEETS, names))


def _text(value) -> str:
    return "" if value is None else str(value)


def build_panel(path: Path | str, *, project_dir: Path | str | None = None, master: Path | str | None = None,
                inbox: Path | str | None = None, year: str | None = None, out_dir: Path | str | None = None,
                vba_source: Path | str | None = None) -> Path:
    """Write the coordinator's control workbook at ``path`` (file name :data:`PANEL_NAME`);
    return the path written.

    The given settings are written as they are (blank when None). The VBA project comes from
    ``vba_source`` (an Excel-saved .xlsm whose macro :data:`PANEL_MACRO` runs RunPython), by
    default the installed xlwings' standalone quickstart. Written atomically. Raises
    :class:`PanelNameError` for another file name and :class:`PanelLockedError` when the panel is open
    in Excel (a copy named ``xlplan_panel (2).xlsm`` could not import its Python module).
    """
    import xlsxwriter

    path = Path(path)
    if path.name != PANEL_NAME:
        raise PanelNameError("panel-name", expected=PANEL_NAME, name=path.name)
    project = xlwings_vba_project(vba_source)
    code_names = _sheet_code_names(project)
    values = {"project": project_dir, "master": master, "inbox": inbox, "year": year,
              "out": out_dir, "check_file": None, "action": None}

    def write(target: Path) -> None:
        wb = xlsxwriter.Workbook(str(target), {"strings_to_formulas": False, "strings_to_urls": False})
        wb.set_vba_name(project.workbook_code_name)
        wb.add_vba_project(io.BytesIO(project.data), is_stream=True)
        title = wb.add_format({"bold": True, "font_size": 14})
        bold = wb.add_format({"bold": True})
        head = wb.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1})
        label = wb.add_format({"bold": True, "border": 1, "valign": "vcenter"})
        value = wb.add_format({"border": 1, "bg_color": "#FFF2CC", "valign": "vcenter"})
        note = wb.add_format({"text_wrap": True, "valign": "vcenter", "font_color": "#404040"})
        message = wb.add_format({"text_wrap": True, "valign": "top", "border": 1, "bg_color": "#F2F2F2"})

        # --- 設定 -------------------------------------------------------------------------
        ws = wb.add_worksheet(SETTINGS_SHEET)
        ws.set_vba_name(code_names[SETTINGS_SHEET])
        ws.set_column("A:A", 30)
        ws.set_column("B:B", 60)
        ws.set_column("C:C", 70)
        ws.write("A1", "xlplan 事務局パネル", title)
        ws.write("A2", "黄色の欄に設定を入力し、下のボタンを押してください。結果は「状況」シートに表示されます。")
        ws.write_row("A3", ["項目", "値", "説明"], head)
        for i, (key, name, text, explanation) in enumerate(SETTINGS_ROWS):
            row = FIRST_SETTING_ROW - 1 + i  # 0-based
            ws.write_string(row, 0, text, label)
            write_text(ws, row, 1, _text(values[key]), value)  # a folder name is the user's text
            ws.write_string(row, 2, explanation, note)
            ws.set_row(row, 30)
            wb.define_name(name, f"='{SETTINGS_SHEET}'!$B${row + 1}")
            if key == "action":
                ws.data_validation(row, 1, row, 1, {"validate": "list", "source": [b.caption for b in BUTTONS]})
        first_button_row = FIRST_SETTING_ROW + len(SETTINGS_ROWS) + 2  # 0-based, after a gap
        ws.write(first_button_row - 1, 0, "ボタン", bold)
        for i, button in enumerate(BUTTONS):
            row = first_button_row + 3 * i
            ws.insert_button(row, 0, {"macro": PANEL_MACRO, "caption": button.caption,
                                      "width": 200, "height": 44, "x_offset": 2, "y_offset": 4})
            ws.write_string(row, 1, _BUTTON_NOTES[button.entry_point], note)
        ws.activate()

        # --- 状況 -------------------------------------------------------------------------
        st = wb.add_worksheet(STATUS_SHEET)
        st.set_vba_name(code_names[STATUS_SHEET])
        for col, width in zip("ABCDEFGHIJKLMNO", (18, 16, 6, 36, 16, 6, 6, 10, 40, 3, 8, 26, 36, 24, 80)):
            st.set_column(f"{col}:{col}", width)
        st.write("A1", "実行結果", title)
        st.merge_range("A2:O2", "", message)
        st.write_string("A2", "（まだ実行していません）", message)
        st.set_row(1, 75)
        wb.define_name("xlplan_message", f"='{STATUS_SHEET}'!$A$2")
        st.write("A4", "提出状況", bold)
        st.write_row("A5", STATUS_HEADER, head)
        wb.define_name("xlplan_status", f"='{STATUS_SHEET}'!$A$5")
        st.write("K4", "指摘（回収・チェック／1ファイル確認）", bold)
        st.write_row("K5", FINDINGS_HEADER, head)
        wb.define_name("xlplan_findings", f"='{STATUS_SHEET}'!$K$5")

        # --- xlwings.conf -------------------------------------------------------------------
        # xlwings' VBA (GetConfigFromSheet) reads column A from A1 down to the first blank
        # cell as keys (case-insensitive) and column B as their values; a key present here
        # overrides the add-in / user settings (%USERPROFILE%\.xlwings\xlwings.conf).
        cf = wb.add_worksheet(CONF_SHEET)
        cf.set_vba_name(code_names[CONF_SHEET])
        cf.set_column("A:A", 20)
        cf.set_column("B:B", 50)
        cf.set_column("C:C", 90)
        interpreters = _default_interpreters()
        conf = [
            ("Interpreter_Win", interpreters["Interpreter_Win"],
             "Windows: xlplan をインストールした python.exe のフルパス（例 C:\\Users\\…\\Python311\\python.exe）。"
             "「python」のままなら PATH 上の Python を使います。"),
            ("Interpreter_Mac", interpreters["Interpreter_Mac"],
             "macOS: python のフルパス（例 /usr/local/bin/python3）。Windows だけで使うなら空欄のまま。"),
            ("PYTHONPATH", "",
             "xlplan を pip install していない場合だけ、xlplan のソースのフォルダを入力します。通常は空欄。"),
        ]
        for row, (key, val, explanation) in enumerate(conf):
            cf.write_string(row, 0, key)
            write_text(cf, row, 1, val)
            cf.write_string(row, 2, explanation, note)
        notes = [
            "このシートは xlwings の設定です（シート名「xlwings.conf」を変えないでください）。",
            "A 列の 1 行目から空白行までがキー、B 列が値です。キーの間に空白行を入れないでください。",
            "ここにあるキーは、xlwings アドインや xlwings config（ユーザーフォルダの .xlwings\\xlwings.conf）の設定より優先されます。",
            "アドイン側の設定を使いたいキーは、行ごと削除してください（空欄の値も「空欄」として優先されます）。",
        ]
        for i, text in enumerate(notes):
            cf.write_string(len(conf) + 2 + i, 2, text)
        wb.close()

    written = atomic_write(path, write)
    if written != path:  # locked: the copy under another name could not run its buttons
        written.unlink()
        raise PanelLockedError(path)
    return written
