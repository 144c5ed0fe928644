"""Entry points of the coordinator panel's buttons (called by xlwings' ``RunPython``).

Every button of the panel ``xlplan_panel.xlsm`` runs the one Excel-compiled macro of
xlwings' standalone project, ``RunPython "import xlplan_panel;xlplan_panel.main()"``, and
:func:`main` finds the action: the caption of the button Excel names as
``Application.Caller`` (:func:`action_for`), else the action chosen in the panel's
``xlplan_action`` cell. A workbook of the coordinator's own with ``macros/PanelButtons.bas``
calls one entry point per button instead (``xlplan.excel.collect()``, ...). Both take the
calling workbook (``xlwings.Book.caller()``) and hand it to :func:`run`, which holds the
logic and is tested without Excel through :class:`FilePanel`:

* it reads the settings of the panel's ``設定`` sheet (through the defined names
  ``xlplan_project``, ``xlplan_master``, ...);
* it calls the same public API as the corresponding CLI command (``xlplan generate``,
  ``collect``, ``merge``, ``feedback``, ``check``, ``generate-scoring``), with the same
  default output folders;
* it writes back a Japanese message (``xlplan_message``), the submission status
  (``xlplan_status``, as ``xlplan status`` shows it) and, for 回収・チェック and
  1ファイル確認, the findings (``xlplan_findings``).

Nothing escapes as a Python traceback: every problem is a coded error of the catalogue
(xlplan.errors), whose message — the same words the CLI prints — is written after ``エラー:``
in the panel. The return code is the CLI's exit status (0 fine, 1 findings with errors, 2 could
not run).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .errors import XlplanError, file_system_error
from .ooxml.text import as_typed_text, clean_text, set_text
from .panel import BUTTONS, FINDINGS_HEADER, SETTING_NAMES, SETTINGS_ROWS, SETTINGS_SHEET, STATUS_HEADER

__all__ = [
    "ACTIONS", "FilePanel", "PanelIO", "XlwingsPanel", "action_for", "check_one", "collect",
    "feedback", "generate", "generate_scoring", "main", "merge", "run",
]

EXIT_OK, EXIT_FINDINGS, EXIT_FAILED = 0, 1, 2
ACTIONS = tuple(b.entry_point for b in BUTTONS)
_CAPTION = {b.entry_point: b.caption for b in BUTTONS}
_SEVERITY = {"error": "エラー", "warning": "警告", "info": "情報"}
# The label of each setting as the panel's 設定 sheet shows it.
_SETTING_LABEL = {key: label for key, _, label, _ in SETTINGS_ROWS}


@runtime_checkable
class PanelIO(Protocol):
    """What :func:`run` needs from the panel workbook."""

    def read_settings(self) -> dict:
        """``{"project", "master", "inbox", "year", "out", "check_file", "action"}`` (None when
        blank) plus ``"panel_dir"``: the folder of the panel workbook (or None), against
        which relative paths are resolved."""

    def write_message(self, text: str) -> None:
        """Replace the message cell's text."""

    def write_table(self, anchor_name: str, header: list[str], rows: list[list]) -> None:
        """Write ``header`` at the named cell and ``rows`` below it, clearing the old rows."""


def _clean(value: Any) -> Any:
    """A settings cell's value: None for blank, text stripped, 2024.0 as "2024"."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value
    text = str(value).strip()
    return text or None


# ---------------------------------------------------------------------------------- panels

# Settings a workbook may lack: a panel made before xlplan_action existed, or a workbook of
# the coordinator's own with macros/PanelButtons.bas (which names its action by the Sub).
_OPTIONAL_SETTINGS = {"action"}


def _has_setting(names, key: str, name: str) -> bool:
    """Whether to read setting ``key``: always, unless it is optional and ``name`` is not
    defined in the workbook (``names``: xlwings' ``book.names`` or openpyxl's)."""
    return key not in _OPTIONAL_SETTINGS or name in names


class XlwingsPanel:
    """The panel open in Excel, through xlwings (``book`` is an ``xlwings.Book``)."""

    def __init__(self, book):
        self.book = book

    def _range(self, name: str):
        return self.book.names[name].refers_to_range

    def read_settings(self) -> dict:
        values = {key: _clean(self._range(name).value) for key, name in SETTING_NAMES.items()
                  if _has_setting(self.book.names, key, name)}
        try:
            full = Path(self.book.fullname)
            values["panel_dir"] = full.parent if full.parent != Path("") and full.is_absolute() else None
        except Exception:  # e.g. a workbook on SharePoint (URL) or never saved
            values["panel_dir"] = None
        return values

    def write_message(self, text: str) -> None:
        self._range("xlplan_message").value = as_typed_text(clean_text(text))

    def pressed_caption(self) -> str | None:
        """The caption of the button that started this run, or None when Excel does not say.

        ``Application.Caller`` (through xlwings' ``app.api``, Windows) is the name of the
        form button whose macro is running. On macOS (xlwings' ``app.api`` is AppleScript,
        without Caller) or when the macro was started from the macro list, there is no
        button name and the answer is None.
        """
        try:
            caller = self.book.app.api.Caller
        except Exception:  # macOS (AppleScript api) or no macro running
            return None
        if not isinstance(caller, str) or not caller:
            return None
        try:
            shape = self.book.sheets[SETTINGS_SHEET].shapes[caller]
        except Exception:  # not a shape of 設定 (another workbook's macro)
            return None
        return _shape_caption(shape)

    def write_table(self, anchor_name: str, header: list[str], rows: list[list]) -> None:
        anchor = self._range(anchor_name)
        sheet = anchor.sheet
        width = len(header)
        last = sheet.used_range.last_cell.row
        if last > anchor.row:
            sheet.range((anchor.row + 1, anchor.column), (last, anchor.column + width - 1)).clear_contents()
        anchor.resize(1, width).value = [header]
        if rows:
            # Excel parses a value set through xlwings as if typed: text it would evaluate (a
            # file name such as "=cmd|…") gets the apostrophe that keeps it text.
            data = [[as_typed_text(clean_text(v) if isinstance(v, str) else v) for v in r] + [None] * (width - len(r))
                    for r in rows]
            sheet.range((anchor.row + 1, anchor.column)).resize(len(data), width).value = data


def _shape_caption(shape) -> str | None:
    """The caption of a sheet's button: xlwings' ``Shape.text`` (TextFrame2), else Excel's
    ``TextFrame.Characters().Text``, the one a Forms button is known to answer."""
    try:
        text = shape.text
    except Exception:  # a Forms control may refuse TextFrame2
        text = None
    if not text:
        try:
            text = shape.api.TextFrame.Characters().Text
        except Exception:
            return None
    return str(text).strip() or None


class FilePanel:
    """The panel as a file (openpyxl, VBA project and buttons kept): for tests, and for
    running a button's action without Excel. Each write saves the panel file."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def _load(self):
        from openpyxl import load_workbook

        return load_workbook(self.path, keep_vba=True)

    @staticmethod
    def _cell(wb, name: str):
        defined = wb.defined_names[name]
        sheet, ref = next(iter(defined.destinations))
        ws = wb[sheet]
        return ws, ws[ref.replace("$", "")]

    def read_settings(self) -> dict:
        wb = self._load()
        try:
            values = {key: _clean(self._cell(wb, name)[1].value) for key, name in SETTING_NAMES.items()
                      if _has_setting(wb.defined_names, key, name)}
        finally:
            wb.close()
        values["panel_dir"] = self.path.resolve().parent
        return values

    def _save(self, wb) -> None:
        from .files import atomic_write

        atomic_write(self.path, wb.save)

    @staticmethod
    def _put(cell, value) -> None:
        set_text(cell, value)  # text, never a formula

    def write_message(self, text: str) -> None:
        wb = self._load()
        self._put(self._cell(wb, "xlplan_message")[1], text)
        self._save(wb)

    def write_table(self, anchor_name: str, header: list[str], rows: list[list]) -> None:
        wb = self._load()
        ws, anchor = self._cell(wb, anchor_name)
        width = len(header)
        for r in range(anchor.row + 1, max(ws.max_row, anchor.row) + 1):
            for c in range(anchor.column, anchor.column + width):
                ws.cell(r, c).value = None
        for c, text in enumerate(header):
            self._put(ws.cell(anchor.row, anchor.column + c), text)
        for i, row in enumerate(rows, start=1):
            for c, value in enumerate(row):
                self._put(ws.cell(anchor.row + i, anchor.column + c), value)
        self._save(wb)


# ---------------------------------------------------------------------------------- logic

class _Context:
    """Settings of the panel resolved into paths, the project settings and the plan."""

    def __init__(self, values: dict):
        self.values = values
        self.base = values.get("panel_dir")

    def path(self, key: str) -> Path | None:
        value = self.values.get(key)
        if value is None:
            return None
        path = Path(str(value)).expanduser()
        if not path.is_absolute() and self.base is not None:
            path = Path(self.base) / path
        return path

    def settings(self):
        from .app import find_project_settings

        return find_project_settings(self.path("project"), self.master(), cwd=self.base)

    def required_path(self, key: str) -> Path:
        """The path of setting ``key``: panel-setting-blank when it is blank."""
        path = self.path(key)
        if path is None:
            raise XlplanError("panel-setting-blank", setting=_SETTING_LABEL[key])
        return path

    def master(self) -> Path:
        master = self.required_path("master")
        if not master.is_file():
            raise XlplanError("master-not-found", path=master)
        return master

    def year(self):
        from .app import parse_year

        value = self.values.get("year")
        return parse_year(value if value is None or isinstance(value, (int, str)) else str(value))

    def project(self, panel: PanelIO, archive: str | None = "require",
                code_when_invalid: int = EXIT_FAILED):
        """The project context (app.open_project) in the year asked for; master errors go to
        the findings table and stop the action with ``code_when_invalid``."""
        from .app import PlanInvalid, open_project

        settings = self.settings()
        year = self.year()
        try:
            return open_project(settings, self.master(), year, archive)
        except PlanInvalid as exc:
            panel.write_table("xlplan_findings", FINDINGS_HEADER, _finding_rows(exc.findings))
            raise PlanInvalid(exc.findings, code_when_invalid) from None


def _error_message(exc: XlplanError) -> str:
    """A stop as the panel tells it: the catalogue's message (the CLI's words), and for the
    plan master its first errors (all of them are in the findings table)."""
    text = exc.message("ja")
    errors = [f for f in getattr(exc, "findings", []) if f.severity == "error"]
    if errors:
        text += "（「状況」シートの指摘一覧）\n" + "\n".join(
            f"・{_where(f) or '-'}: {f.message('ja')}" for f in errors[:5])
        text += f"\n（ほか {len(errors) - 5} 件）" if len(errors) > 5 else ""
    return text


def _where(f) -> str:
    if not f.cell:
        return f.sheet or ""
    return f"{f.sheet}!{f.cell}" if f.sheet else f.cell


def _finding_rows(findings) -> list[list]:
    return [[_SEVERITY.get(f.severity, f.severity), f.code, f.file or "", _where(f), f.message("ja")]
            for f in findings]


def _status_rows(plan, archive, settings) -> list[list]:
    """The submission status as ``xlplan status`` prints it (the same rows, words and local
    times: app.status, xlplan.status), one row per department, version or file."""
    from . import app
    from .status import panel_rows

    return panel_rows(app.status(app.Project(settings, plan, [], archive), "ja"))


def _write_status(panel: PanelIO, project) -> list[list]:
    """Write the status table; return its rows (empty without an archive)."""
    if project.archive is None:
        return []
    rows = _status_rows(project.plan, project.archive, project.settings)
    panel.write_table("xlplan_status", STATUS_HEADER, rows)
    return rows


def _do_generate(ctx: _Context, panel: PanelIO) -> tuple[int, str]:
    from . import app
    from .archive import Archive

    project = ctx.project(panel, archive=None, code_when_invalid=EXIT_FINDINGS)  # as `xlplan generate`: 1
    result = app.generate(project)
    lines = [f"・{f.department}: {f.path.name}（事業 {len(f.projects)} 件、入力欄 {f.inputs} か所）"
             for f in result.files]
    project.archive = Archive.existing(project.settings)  # the status, when something was collected
    _write_status(panel, project)
    panel.write_table("xlplan_findings", FINDINGS_HEADER, _finding_rows(result.warnings))
    notes = [f"※ {f.message('ja')}" for f in result.warnings]
    return EXIT_OK, (f"{len(result.files)} 課分の入力用ファイルを作成しました（{project.plan.year.label_ja}）。\n"
                     f"出力先: {result.out}\n" + "\n".join(lines + notes))


def _do_collect(ctx: _Context, panel: PanelIO) -> tuple[int, str]:
    from . import app
    from .project import INBOX

    project = ctx.project(panel, archive="create")
    inbox = ctx.path("inbox") or project.settings.project_dir / INBOX
    result = app.collect(project, [inbox])
    summary = result.summary
    panel.write_table("xlplan_findings", FINDINGS_HEADER, _finding_rows(result.findings))
    rows = _write_status(panel, project)
    with_errors = sum(1 for s in summary.new if s.errors)
    text = (f"回収・チェックしました（{project.plan.year.label_ja}）: 新規 {len(summary.new)} ファイル"
            f"（エラーのあるファイル {with_errors} 件）")
    if summary.known:
        text += f"、回収済みと同じ内容のため記録のみ {len(summary.known)} ファイル"
    if summary.repaired:
        text += f"、保管庫のファイルを修復して読み直し {len(summary.repaired)} ファイル"
    if summary.notices:
        text += f"、回収しなかったファイル {len(summary.notices)} 件（指摘一覧に理由）"
    text += f"。\n回収フォルダ: {inbox}\n保管庫: {project.archive.db_path}\n"
    text += "提出状況と指摘は下の表のとおりです。" if summary.new else "新しいファイルはありませんでした。"
    # A pinned choice (xlplan choose) hides newer files: say so where the coordinator looks.
    note = STATUS_HEADER.index("備考")
    text += "".join(f"\n※ {r[0]}: {r[note]}" for r in rows if r[note])
    return (EXIT_FINDINGS if result.has_errors else EXIT_OK), text


def _do_merge(ctx: _Context, panel: PanelIO) -> tuple[int, str]:
    from . import app
    from .project import RESULTS, merged_path

    project = ctx.project(panel)
    out = merged_path(ctx.path("out") or project.settings.project_dir / RESULTS, project.plan.year)
    result = app.merge(project, out)
    _write_status(panel, project)
    text = f"集計ファイルを作成しました（{project.plan.year.label_ja}）: {result.written}"
    if result.written != result.asked:
        text += f"\n{result.asked.name} は開かれているため、{result.written.name} に書き込みました。"
    return EXIT_OK, text


def _do_feedback(ctx: _Context, panel: PanelIO) -> tuple[int, str]:
    from . import app

    project = ctx.project(panel)
    result = app.feedback(project)
    _write_status(panel, project)
    lines = [f"・{f.department}: {f.path.name}（要修正 {f.findings} 件）" for f in result.files]
    return EXIT_OK, (f"差し戻し用ファイル {len(result.files)} 件を作成しました（{project.plan.year.label_ja}）。\n"
                     f"出力先: {result.out}\n" + "\n".join(lines))


def _do_check_one(ctx: _Context, panel: PanelIO) -> tuple[int, str]:
    from . import app
    from .findings import count_by_severity

    project = ctx.project(panel, archive=None)
    target = ctx.required_path("check_file")
    result = app.check(project, [target])
    panel.write_table("xlplan_findings", FINDINGS_HEADER, _finding_rows(result.findings))
    counts = count_by_severity(result.findings)
    return result.exit_code, (
        f"ファイル {len(result.files)} 件を確認しました（{project.plan.year.label_ja}、保管はしていません）: {target.name}\n"
        f"エラー {counts['error']} 件、警告 {counts['warning']} 件、情報 {counts['info']} 件。指摘は下の表のとおりです。")


def _do_generate_scoring(ctx: _Context, panel: PanelIO) -> tuple[int, str]:
    from . import app

    project = ctx.project(panel, archive="existing")
    result = app.generate_scoring(project)
    _write_status(panel, project)
    lines = [f"・{f.member.name}: {f.path.name}（施策 {f.measures} 件）" for f in result.files]
    note = app.NOT_COLLECTED_SCORING_JA + "\n" if result.nothing_collected else ""
    return EXIT_OK, (f"中間評価票 {len(result.files)} 件を作成しました（{project.plan.year.label_ja}）。\n{note}"
                     f"出力先: {result.out}\n" + "\n".join(lines))


_HANDLERS = {
    "generate": _do_generate,
    "collect": _do_collect,
    "merge": _do_merge,
    "feedback": _do_feedback,
    "check_one": _do_check_one,
    "generate_scoring": _do_generate_scoring,
}


def run(action: str, panel: PanelIO) -> int:
    """Run one button's action against ``panel``; return the CLI's exit status (0/1/2).

    Never raises: any problem is written to the panel's message cell as ``エラー: …``.
    """
    caption = _CAPTION.get(action, action)
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    try:
        handler = _HANDLERS.get(action)
        if handler is None:
            raise XlplanError("panel-unknown-action", action=str(action))
        ctx = _Context(panel.read_settings())
        code, text = handler(ctx, panel)
        message = f"【{caption}】{stamp}\n{text}"
    except XlplanError as exc:  # settings, master, no archive yet, another run busy: as the CLI
        code, message = exc.exit_status, f"エラー: 【{caption}】{_error_message(exc)}"
    except Exception as exc:  # last resort, as the CLI: the message and the error log, never a traceback
        error = (isinstance(exc, OSError) and file_system_error(exc)) or _internal_error(action)
        code, message = error.exit_status, f"エラー: 【{caption}】{error.message('ja')}"
    try:
        panel.write_message(message)
    except Exception:  # the panel itself cannot be written to: nothing left to tell
        pass
    return code


# ---------------------------------------------------------------------------- entry points

def _internal_error(action: str) -> XlplanError:
    """command-failed for a bug met by a button, its traceback in the error log."""
    import traceback

    from .errorlog import write_error_log
    from .errors import internal_error

    return internal_error(write_error_log(traceback.format_exc(), f"xlplan panel {action}", None))


def action_for(pressed: str | None, chosen: str | None) -> str | None:
    """The action (an :data:`ACTIONS` entry) of the panel button with caption ``pressed``, else
    of the caption (or action name) ``chosen`` in the panel's ``xlplan_action`` cell; None
    when neither names one. A button of the panel always wins over the cell."""
    by_caption = {b.caption: b.entry_point for b in BUTTONS}
    for text in (pressed, chosen):
        key = _clean(text)
        if key in by_caption:
            return by_caption[key]
        if key in ACTIONS:
            return key
    return None


def _book_panel(book) -> XlwingsPanel:
    if book is None:
        import xlwings  # only in Excel: the tests and Linux never need it

        book = xlwings.Book.caller()
    return XlwingsPanel(book)


def _entry(action: str, book) -> int:
    try:
        panel = _book_panel(book)
    except Exception:  # not called from Excel: nothing to write to
        return EXIT_FAILED
    return run(action, panel)


def main(book=None) -> int:
    """Every button of ``xlplan_panel.xlsm`` (through ``xlplan_panel.main()``): run the action
    of the button pressed, else the one chosen in ``xlplan_action``; the message says which
    ran. With neither, the message asks to choose the action (exit status 2)."""
    try:
        panel = _book_panel(book)
    except Exception:  # not called from Excel: nothing to write to
        return EXIT_FAILED
    try:
        chosen = panel.read_settings().get("action")
    except Exception:  # run() reads the settings again and reports the problem
        chosen = None
    action = action_for(panel.pressed_caption(), chosen)
    if action is None:
        try:
            panel.write_message(f"エラー: {XlplanError('panel-no-action').message('ja')}")
        except Exception:  # the panel itself cannot be written to: nothing left to tell
            pass
        return EXIT_FAILED
    return run(action, panel)


def generate(book=None) -> int:
    """配布ファイル作成: the department workbooks into the project's 配布 folder."""
    return _entry("generate", book)


def collect(book=None) -> int:
    """回収・チェック: archive and check the inbox; status and findings into the panel."""
    return _entry("collect", book)


def merge(book=None) -> int:
    """集計: the merged workbook 集計_<year>.xlsx."""
    return _entry("merge", book)


def feedback(book=None) -> int:
    """差し戻し作成: return copies for departments with findings."""
    return _entry("feedback", book)


def check_one(book=None) -> int:
    """1ファイル確認: check the file named in the panel (not archived)."""
    return _entry("check_one", book)


def generate_scoring(book=None) -> int:
    """中間評価票作成: one scoring form per committee member."""
    return _entry("generate_scoring", book)
