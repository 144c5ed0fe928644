"""Findings are data: a catalogue of stable codes, and the Finding records that cite them.

Every problem xlplan reports (in a plan master, in a returned workbook) is a ``Finding`` whose
``code`` is a key of ``CATALOGUE``. Every problem that stops a run (no settings, a broken layout,
nothing collected yet …) is a coded error (``xlplan.errors.XlplanError``) whose code is a
catalogue entry too, with typed parameters (``FindingType.params``). The catalogue holds the
severity and the Japanese and English title and message template; the README's table of codes is
generated from it, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import PurePath
from typing import Callable, Iterable

from .fiscal import FiscalYear
from .language import current_lang  # noqa: F401  (re-exported: findings speak the chosen language)

ERROR = "error"
WARNING = "warning"
INFO = "info"
SEVERITIES = (ERROR, WARNING, INFO)


@dataclass(frozen=True)
class FindingType:
    """One entry of the catalogue: what a code means and how it is worded."""

    code: str
    severity: str
    stage: str
    title_ja: str
    title_en: str
    message_ja: str
    message_en: str
    example: dict = field(default_factory=dict)
    # A coded error's parameters: name → kind (PARAM_KINDS). None: a finding, whose template
    # uses the Finding's own fields.
    params: dict[str, str] | None = None

    @property
    def is_error(self) -> bool:
        """True for a coded error (a stop of the run), False for a finding."""
        return self.params is not None

    def render(self, params: dict, lang: str | None = None) -> str:
        """A coded error's message in the chosen language, each parameter shown as its kind
        says (a year by its label, a list joined, words in the language)."""
        english = current_lang(lang) == "en"
        template = self.message_en if english else self.message_ja
        shown = {name: show_param(kind, params.get(name), english) for name, kind in (self.params or {}).items()}
        return template.format_map(_Blank(shown))


def _t(code, severity, stage, title_ja, title_en, message_ja, message_en, **example):
    return FindingType(code, severity, stage, title_ja, title_en, message_ja, message_en, example)


def _e(code, stage, title_ja, title_en, message_ja, message_en, params: dict[str, str], **example):
    """A coded error: a stop of the run, with its typed parameters and an example of each."""
    return FindingType(code, ERROR, stage, title_ja, title_en, message_ja, message_en, example, params)


@dataclass(frozen=True)
class Words:
    """A phrase of xlplan's own in Japanese and English (a reason inside a coded error's
    message), as opposed to the user's data, which is shown as it is."""

    ja: str
    en: str

    def text(self, lang: str | None = None) -> str:
        """The phrase in the chosen language."""
        return self.en if current_lang(lang) == "en" else self.ja


@dataclass(frozen=True)
class Place:
    """Where in a workbook: a sheet and a cell, either may be blank."""

    sheet: str = ""
    cell: str = ""


@dataclass(frozen=True)
class ParamKind:
    """A kind of coded-error parameter: which values it takes, how a message shows one
    (``show(value, english)``) and how JSON gives it (``data(value, lang)``)."""

    accepts: Callable[[object], bool]
    show: Callable[[object, bool], str]
    data: Callable[[object, str | None], object]


def _is_year(value) -> bool:
    return isinstance(value, FiscalYear)


def _words_text(value, lang: str | None) -> str:
    """Words in the language; a finding or error (anything with ``message``) its message."""
    return value.text(lang) if isinstance(value, Words) else value.message(lang)


def _place_text(place: Place, english: bool) -> str:
    """', sheet 'S', cell B5' / '、シート「S」のセル B5' (empty parts left out)."""
    if english:
        return (f", sheet '{place.sheet}'" if place.sheet else "") + (f", cell {place.cell}" if place.cell else "")
    return (f"、シート「{place.sheet}」" if place.sheet else "") + (f"のセル {place.cell}" if place.cell else "")


# The kinds of a coded error's parameters, by the name the catalogue gives them.
PARAM_KINDS: dict[str, ParamKind] = {
    # The user's data (names, values as typed), shown as it is.
    "text": ParamKind(lambda v: isinstance(v, str), lambda v, en: v, lambda v, lang: v),
    "path": ParamKind(lambda v: isinstance(v, (str, PurePath)), lambda v, en: str(v), lambda v, lang: str(v)),
    "number": ParamKind(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
                        lambda v, en: f"{v:,}" if isinstance(v, int) else f"{v:g}", lambda v, lang: v),
    # A fiscal year: 令和6年度 / FY2024 in a message, R6 as data.
    "year": ParamKind(_is_year, lambda v, en: v.label_en if en else v.label_ja, lambda v, lang: v.short),
    "list": ParamKind(lambda v: isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v),
                      lambda v, en: (", " if en else "、").join(v), lambda v, lang: list(v)),
    # xlplan's own words in both languages (a reason).
    "words": ParamKind(lambda v: isinstance(v, Words) or hasattr(v, "message"),
                       lambda v, en: _words_text(v, "en" if en else "ja"), lambda v, lang: _words_text(v, lang)),
    "place": ParamKind(lambda v: isinstance(v, Place), _place_text,
                       lambda v, lang: {"sheet": v.sheet, "cell": v.cell}),
}


def param_problem(kind: str, value) -> str | None:
    """Why ``value`` cannot be a parameter of ``kind`` (None when it can): errors are typed."""
    return None if PARAM_KINDS[kind].accepts(value) else f"a {kind} parameter, not {type(value).__name__}"


def show_param(kind: str, value, english: bool) -> str:
    """A parameter as a message shows it, in Japanese or English ('' for none)."""
    return "" if value is None else PARAM_KINDS[kind].show(value, english)


def param_data(kind: str, value, lang: str | None = None):
    """A parameter as JSON data: numbers stay numbers, a year is its short form (R6), words
    are rendered in the language, a place is {"sheet", "cell"}."""
    return None if value is None else PARAM_KINDS[kind].data(value, current_lang(lang))


# Message templates use str.format fields: {value} (the raw value as typed), {expected},
# {detail}, plus the finding's own location fields. Keep codes stable: users filter on them.
_TYPES = [
    # --- plan master -------------------------------------------------------------------
    _t("master-unreadable", ERROR, "plan", "計画マスタを開けません", "Plan master cannot be opened",
       "計画マスタを開けませんでした: {detail}", "The plan master could not be opened: {detail}",
       detail="ファイルが見つかりません: 計画マスタ.xlsx", detail_en="file not found: 計画マスタ.xlsx"),
    _t("master-missing-sheet", ERROR, "plan", "計画マスタのシートがありません", "Plan master sheet missing",
       "計画マスタにシート「{expected}」がありません。", "The plan master has no sheet {expected}.",
       expected="事業", expected_en="'事業' (projects)"),
    _t("master-missing-column", ERROR, "plan", "計画マスタの列がありません", "Plan master column missing",
       "シート「{sheet}」の見出し行に「{expected}」の列がありません。",
       "Sheet '{sheet}' has no column headed {expected}.", sheet="事業", expected="担当課",
       expected_en="'担当課' (departments)"),
    _t("master-missing-value", ERROR, "plan", "必須項目が空欄です", "Required value is blank",
       "「{expected}」が空欄です。", "{expected} is blank.", expected="事業名",
       expected_en="'事業名' (project name)"),
    _t("master-invalid-value", ERROR, "plan", "値を読み取れません", "Value cannot be read",
       "「{expected}」の値「{value}」を読み取れません: {detail}",
       "The value '{value}' for {expected} cannot be read: {detail}",
       expected="評価年度", value="来年", detail="年度の形式ではありません",
       expected_en="'評価年度' (evaluation year)", detail_en="not a fiscal year"),
    _t("duplicate-id", ERROR, "plan", "番号が重複しています", "Duplicate id",
       "番号「{value}」が重複しています（最初は {detail}）。",
       "The id '{value}' is used twice (first at {detail}).", value="4-1-1", detail="事業!A5"),
    _t("unknown-parent", ERROR, "plan", "上位の番号が見つかりません", "Parent id not found",
       "「{value}」は{expected}に登録されていません。", "'{value}' is not listed on the sheet {expected}.",
       value="4-3", expected="施策の方向性", expected_en="'施策の方向性' (directions)"),
    _t("project-without-department", ERROR, "plan", "担当課がありません", "Project has no department",
       "事業「{project}」に担当課が指定されていません。", "Project '{project}' has no responsible department.",
       project="4-1-1"),
    _t("department-not-listed", ERROR, "plan", "担当課が一覧にありません", "Department not listed",
       "担当課「{value}」が「担当課」シートに登録されていません。",
       "Department '{value}' is used but not listed on the departments sheet.", value="福祉課"),
    _t("year-outside-period", ERROR, "plan", "計画期間外の年度です", "Year outside the plan period",
       "年度「{value}」は計画期間（{expected}）の外です。",
       "The year '{value}' is outside the plan period ({expected}).", value="R10", expected="R5～R9",
       expected_en="R5–R9"),
    _t("project-without-indicator", WARNING, "plan", "指標がありません", "Project has no indicator",
       "事業「{project}」に取組みの達成目標（指標）がありません。",
       "Project '{project}' has no indicator.", project="4-1-1"),
    _t("target-loses-words", WARNING, "plan", "目標の文字が使われません", "Target loses words",
       "目標「{value}」は数値 {expected} として扱われ、数値の後の文字は使われません。"
       "数値だけを書くか、文字の目標（検討、実施 など）として書いてください。",
       "The target '{value}' is read as the number {expected}; the words after the number are "
       "not used. Write the number alone, or write the target in words.",
       value="1回以上", expected="1"),
    _t("target-unit-mismatch", WARNING, "plan", "目標の単位が指標の単位と違います",
       "Target unit differs from the indicator's unit",
       "目標「{value}」の単位が指標の単位（{expected}）と違います。単位をそろえてください。",
       "The unit of the target '{value}' differs from the indicator's unit ({expected}). "
       "Make them the same.", value="30ヶ所", expected="地区"),
    _t("deadline-missing", WARNING, "generate", "提出期限がありません", "No submission deadline",
       "{expected} の提出期限が計画マスタにありません（シート「提出期限」）。表紙の提出期限は空欄になります。",
       "The plan master gives no submission deadline for {expected} (its sheet '提出期限', "
       "deadlines); the cover will show none.", expected="R7"),
    _t("deadline-past", WARNING, "generate", "提出期限が過ぎています", "Deadline has passed",
       "{expected} の提出期限 {value} は既に過ぎています。計画マスタのシート「提出期限」を確認してください。",
       "The submission deadline for {expected}, {value}, has already passed. Check the sheet "
       "'提出期限' (deadlines) of the plan master.", expected="R7", value="2025-07-31"),
    _t("deadline-outside-year", WARNING, "generate", "提出期限が想定の年度の外です",
       "Deadline outside the expected fiscal year",
       "{expected} の提出期限 {value} が評価の翌年度（{detail}）の外です。前年度の期限が残っていないか確認してください。",
       "The submission deadline for {expected}, {value}, is outside the fiscal year after the "
       "evaluated one ({detail}). Check that it is not last year's deadline.",
       expected="R7", value="2025-07-31", detail="2026-04-01～2027-03-31（令和8年度）",
       detail_en="2026-04-01 to 2027-03-31, FY2026"),
    # --- returned workbooks ---------------------------------------------------------------
    _t("file-skipped", INFO, "collect", "対象外のファイル", "File not taken in",
       "対象外として読み取りませんでした（{detail}）。", "Not read: {detail}.",
       file="送付状.docx", detail="Excel ブックではない書類（送付状など）です",
       detail_en="a document that is not a workbook (a cover letter or the like)"),
    _t("file-changing", WARNING, "collect", "ファイルが書き込み中です", "File is being written",
       "読み取る間にファイルが変わりました。変更中のため次回の回収で読み取ります（保管も記録もしていません）。",
       "The file changed while it was being read. It is still being written and will be read by the "
       "next collect (nothing was archived or recorded).", file="福祉課.xlsx"),
    _t("file-inaccessible", ERROR, "read", "ファイルを開けません", "File cannot be opened",
       "ファイルを開けません（{detail}）。ファイルのアクセス権などを確かめて、もう一度実行してください。",
       "The file cannot be opened ({detail}). Check its permissions, then run again.",
       file="福祉課.xlsx", detail="アクセスが拒否されました", detail_en="permission denied"),
    _t("implausible-save-time", WARNING, "collect", "最終保存日時を信用できません",
       "Last-saved time not plausible",
       "ファイル内の最終保存日時 {value} は{detail}のため使いません。提出の新旧は回収した順で判断します。",
       "The last-saved time inside the file, {value}, is {detail}, so it is not used: the order "
       "in which files were collected decides which is newer.",
       value="2099-01-01T00:00:00+00:00", detail="回収した時刻より後",
       detail_en="later than the moment of collection"),
    _t("unreadable-file", ERROR, "read", "ファイルを読み取れません", "File cannot be read",
       "ファイルを読み取れません（{detail}）。Excel で開けるか確認し、.xlsx 形式で保存し直して送ってください。",
       "The file cannot be read ({detail}). Check that it opens in Excel and save it again as .xlsx.",
       detail="zip 形式ではありません", detail_en="not a zip file"),
    _t("encrypted-file", ERROR, "read", "パスワード付きファイルです", "File is password-protected",
       "ファイルに読み取りパスワードが設定されています。パスワードを解除して保存し直してください。",
       "The file is protected with an opening password. Remove the password and save it again."),
    _t("not-xlplan-file", ERROR, "read", "配布した様式ではありません", "Not an xlplan workbook",
       "xlplan が配布した様式ではありません（管理情報がありません）。配布したファイルに入力してください。",
       "This workbook was not generated by xlplan (no metadata). Fill in the workbook you were sent."),
    _t("signature-invalid", ERROR, "read", "管理情報が改ざんされています", "Metadata signature invalid",
       "ファイルの管理情報が書き換えられています（署名が一致しません）。配布したファイルを使ってください。",
       "The workbook's metadata was altered (signature mismatch). Use the workbook you were sent."),
    _t("metadata-unsupported", ERROR, "read", "管理情報を読み取れません", "Metadata not understood",
       "この xlplan ではファイルの管理情報を読み取れません: {detail}。xlplan を新しい版に更新してから、"
       "もう一度読み取ってください。",
       "This xlplan cannot read the workbook's metadata: {detail}. Update xlplan to a newer "
       "version, then read the file again.",
       detail="管理情報の版 3 で、この xlplan が読めるのは版 2 までです",
       detail_en="it is metadata version 3, and this xlplan reads up to version 2"),
    _t("macro-content", WARNING, "read", "マクロが含まれています", "Workbook contains macros",
       "ファイルにマクロ（{detail}）が含まれています。xlplan はマクロを実行しませんが、"
       "マクロを含まない .xlsx 形式で保存し直して送ってください。",
       "The workbook contains macros ({detail}). xlplan never runs them; save it again as a "
       "macro-free .xlsx and send that.", detail="VBA プロジェクト xl/vbaProject.bin",
       detail_en="VBA project xl/vbaProject.bin"),
    _t("internal-error", ERROR, "read", "xlplan の内部エラーです", "Internal error of xlplan",
       "xlplan の不具合でこのファイルを処理できませんでした（提出されたファイルの誤りではありません）。"
       "詳しい記録: {detail}",
       "A bug in xlplan stopped the processing of this file (not a mistake of the sender). "
       "Details: {detail}", detail="logs/xlplan-errors.log"),
    _t("template-version-mismatch", ERROR, "check", "様式の版が違います", "Template version differs",
       "様式の版が違います（ファイル: {value}、現在: {expected}）。最新の様式で提出してください。",
       "Template version differs (file: {value}, current: {expected}). Use the current form.",
       value="1", expected="2"),
    _t("wrong-year", ERROR, "check", "年度が違います", "Wrong fiscal year",
       "{value} の様式です。{expected} の様式で提出してください。",
       "This is the form for {detail}; the form for {expected} is expected.", value="令和5年度",
       expected="令和6年度", detail="令和5年度", detail_en="FY2023 (R5)", expected_en="FY2024 (R6)"),
    _t("wrong-plan", ERROR, "check", "計画が違います", "Wrong plan",
       "別の計画（{value}）の様式です。", "This form belongs to another plan ({value}).", value="旧計画"),
    _t("unknown-department", ERROR, "check", "担当課が不明です", "Unknown department",
       "担当課「{value}」は計画マスタに登録されていません。",
       "Department '{value}' is not in the plan master.", value="総務課"),
    _t("layout-changed", ERROR, "check", "様式が変更されています", "Layout changed",
       "様式が変更されています: {detail}。配布した様式のまま入力してください。",
       "The layout was changed: {detail}. Keep the form as sent.", detail="シートの保護が解除されています",
       detail_en="the sheet protection was removed"),
    _t("formula-in-input", WARNING, "check", "入力欄に数式があります", "Formula in an input cell",
       "入力欄に数式「{value}」が入力されています。値を直接入力してください。",
       "The input cell holds a formula '{value}'. Type the value itself.", value="=B3*2"),
    _t("missing-result", ERROR, "check", "実績が未入力です", "Result missing",
       "「{field}」の実績が入力されていません。", "No result was entered for '{field}'.",
       field="地区ケア会議の開催 R6 結果"),
    _t("missing-text", ERROR, "check", "記述が未入力です", "Required text missing",
       "「{field}」が入力されていません。", "'{field}' is blank.", field="達成状況と成果"),
    _t("score-out-of-range", ERROR, "check", "点数が範囲外です", "Score out of range",
       "「{field}」の「{value}」は 1～5 の範囲外です。1～5 の整数（委員の評価は①～⑤）で入力してください。",
       "'{field}': '{value}' is out of range; enter a whole number from 1 to 5 (①–⑤ for ratings).",
       field="達成度", value="6"),
    _t("invalid-choice", ERROR, "check", "選択肢にない値です", "Not one of the choices",
       "「{value}」は選択肢（{expected}）にありません。一覧から選んでください。",
       "'{value}' is not one of the choices ({expected}).", value="継続する",
       expected="継続／継続（一部見直し）／見直し／終了",
       expected_en="継続 / 継続（一部見直し） / 見直し / 終了"),
    _t("not-a-number", ERROR, "check", "数値ではありません", "Not a number",
       "「{value}」を数値として読み取れません。数字で入力してください（単位は不要です）。",
       "'{value}' cannot be read as a number. Enter digits only (no unit).", value="たくさん"),
    _t("unit-mismatch", WARNING, "check", "単位が違います", "Unit differs from the target",
       "「{value}」の単位が目標の単位（{expected}）と違います。",
       "The unit of '{value}' differs from the target's unit ({expected}).", value="30回",
       expected="地区"),
    _t("result-far-from-target", WARNING, "check", "目標と大きく異なります", "Result far from target",
       "実績 {value} は目標 {expected} の {detail} です。入力誤りがないか確認してください。",
       "The result {value} is {detail} of the target {expected}. Please check it.", value="3",
       expected="30", detail="10%"),
    _t("breakdown-mismatch", ERROR, "check", "内訳の合計が合いません", "Breakdown does not add up",
       "「{field}」の {value} と内訳（{detail}）の合計 {expected} が一致しません。",
       "'{field}' is {value} but its breakdown ({detail}) adds up to {expected}.",
       field="実施行政区数", value="31", detail="中＋小＋宮", expected="30", detail_en="中 + 小 + 宮"),
    _t("excel-error", ERROR, "check", "エラー値です", "Excel error value",
       "セルがエラー値「{value}」になっています。", "The cell holds the error value '{value}'.",
       value="#DIV/0!"),
    _t("score-missing", ERROR, "check", "評価が未入力です", "Rating missing",
       "「{field}」の評価が選ばれていません。評価しない場合は「評価しない」を選んでください。",
       "No rating was chosen for '{field}'. Choose 評価しない (no rating) to leave it unscored on purpose.",
       field="1-1-1 福祉教育推進事業"),
    _t("unknown-member", ERROR, "check", "委員が不明です", "Unknown committee member",
       "委員「{value}」は計画マスタの委員名簿にありません。",
       "Member '{value}' is not on the committee list of the plan master.", value="山田 太郎"),
    _t("duplicate-member-submission", WARNING, "collect", "同じ委員から複数届いています",
       "Several forms from one member",
       "委員「{department}」の評価票が複数届いています（{detail}）。最後に保存されたものを集計に使います。",
       "Member '{department}' sent more than one form ({detail}); the last saved one is used.",
       department="青木 一郎", detail="2 件目", detail_en="the 2nd"),
    _t("control-character", WARNING, "normalise", "セルに保存できない文字があります",
       "Characters a worksheet cannot hold",
       "「{value}」にセルに保存できない制御文字（{detail}）があります。記号（␋ など）に置き換えて読み取りました。"
       "Word などからの貼り付けで入ることがあります。確認して入力し直してください。",
       "'{value}' holds control characters a worksheet cannot store ({detail}); they were read as "
       "visible marks (such as ␋). Pasting from Word can bring them in: please check and retype.",
       value="行1␋行2", detail="U+000B"),
    _t("value-normalised", INFO, "normalise", "入力値を読み替えました", "Value normalised",
       "「{value}」を {expected} として読み取りました。", "'{value}' was read as {expected}.",
       value="３０地区", expected="30"),
]

_TYPES += [
    # --- stops of a run: coded errors (xlplan.errors.XlplanError), exit status 2 ------------
    _e("settings-missing", "settings", "設定ファイルが見つかりません", "Settings file not found",
       "設定ファイル xlplan.toml が見つかりません（探した場所: {folders}）。xlplan init で作成するか --project で指定してください。",
       "No xlplan.toml settings file found (looked in: {folders}). Create one with 'xlplan init' or pass --project.",
       {"folders": "list"}, folders=["/home/midori/計画"]),
    _e("settings-invalid", "settings", "設定ファイルの値が正しくありません", "Settings value not valid",
       "設定ファイル {file} を使えません: {problem}。", "The settings file {file} cannot be used: {problem}.",
       {"file": "path", "key": "text", "problem": "words"}, file="xlplan.toml",
       key="[check] far_from_target_low",
       problem=Words("[check] far_from_target_low「half」は数値で指定してください",
                     '[check] far_from_target_low "half" must be a number')),
    _e("template-invalid", "layout", "様式ファイルが正しくありません", "Layout file not valid",
       "様式ファイル {file}{place} を使えません: {problem}。README「様式ファイル」のとおりに直してください。",
       "The layout file {file}{place} cannot be used: {problem}. Fix it as the README (Layouts as "
       "files) describes.",
       {"file": "path", "place": "place", "problem": "words"}, file="workbook_templates/department.xlsx",
       place=Place("事業シート", "C7"), problem=Words("不明な項目 {{project.nmae}}", "unknown placeholder {{project.nmae}}")),
    _e("year-invalid", "run", "年度を読み取れません", "Year cannot be read",
       "指定された年度「{value}」を使えません: {reason}", "The year given, '{value}', cannot be used: {reason}",
       {"value": "text", "reason": "words"}, value="来年",
       reason=Words("年度「来年」を読み取れません（R6、令和6年度、2024、FY2024 など）",
                    "The year '来年' cannot be read (R6, 2024, FY2024 …)")),
    _e("master-not-found", "run", "計画マスタが見つかりません", "Plan master not found",
       "計画マスタが見つかりません: {path}", "Plan master not found: {path}",
       {"path": "path"}, path="計画マスタ.xlsx"),
    _e("master-invalid", "run", "計画マスタに誤りがあります", "Plan master has errors",
       "計画マスタに誤りがあります（エラー {errors} 件）。直してから実行してください。",
       "The plan master has errors ({errors}). Fix them first.", {"errors": "number"}, errors=2),
    _e("path-not-found", "run", "ファイル・フォルダが見つかりません", "File or folder not found",
       "見つかりません: {paths}", "Not found: {paths}", {"paths": "list"}, paths=["回収"]),
    _e("department-not-in-master", "run", "担当課が計画マスタにありません", "Department not in the plan master",
       "担当課「{names}」は計画マスタにありません。候補: {candidates}",
       "The department '{names}' is not in the plan master. Candidates: {candidates}",
       {"names": "list", "candidates": "list"}, names=["福祉"], candidates=["福祉課"]),
    _e("choice-missing", "run", "選ぶ提出が指定されていません", "No submission given",
       "--submission ID（status に表示される ID）か --latest を指定してください。",
       "Give --submission ID (as status shows it) or --latest.", {}),
    _e("submission-not-found", "run", "提出 ID がありません", "Submission not found",
       "{department} の提出 ID {submission} は {year} にありません。",
       "No submission {submission} of {department} in {year}.",
       {"department": "text", "submission": "number", "year": "year"}, department="福祉課",
       submission=7, year=FiscalYear(2024)),
    _e("no-committee-members", "run", "委員が登録されていません", "No committee members",
       "計画マスタの「委員」シートに委員が登録されていません。",
       "The plan master lists no committee members (its sheet '委員').", {}),
    _e("nothing-collected", "run", "まだ回収していません", "Nothing collected yet",
       "まだ回収していません（データベース {database} がないか空です）。先に xlplan collect で回収フォルダのファイルを回収してください。",
       "Nothing has been collected yet (the database {database} is missing or empty). Run xlplan "
       "collect on the inbox first.", {"database": "path"}, database="xlplan.sqlite"),
    _e("nothing-collected-for-year", "run", "この年度の提出がまだありません", "Nothing collected for the year",
       "{year} の提出はまだ回収されていません（{database}）。集計する前に xlplan collect で回収してください。既存の集計ファイルはそのままです。",
       "No submission for {year} has been collected yet ({database}). Run xlplan collect before "
       "merging; any existing merged workbook is left as it is.",
       {"year": "year", "database": "path"}, year=FiscalYear(2024), database="xlplan.sqlite"),
    _e("project-busy", "run", "他の xlplan が実行中です", "Another run is working",
       "このプロジェクトで他の xlplan（回収・集計など）が実行中です。{seconds} 秒待ちましたが終わりませんでした。"
       "終わってからもう一度実行してください（{lock}）。",
       "Another xlplan run (collect, merge …) is working on this project; waited {seconds} s and "
       "it has not finished. Run again when it is done ({lock}).",
       {"seconds": "number", "lock": "path"}, seconds=60, lock="xlplan.lock"),
    _e("project-exists", "run", "設定ファイルが既にあります", "Settings file exists",
       "{settings} は既にあります。配布済みファイルの署名鍵が変わるため上書きしません。",
       "{settings} already exists. It is not replaced: the workbooks sent out were signed with its key.",
       {"settings": "path"}, settings="xlplan-demo/xlplan.toml"),
    _e("output-locked", "run", "出力ファイルに書き込めません", "Output file cannot be written",
       "{path} に書き込めません（Excel などで開かれていませんか）。閉じてからもう一度実行してください。",
       "Cannot write {path} (is it open in Excel or another program?). Close it, then run again.",
       {"path": "path"}, path="差し戻し/R6_福祉課_差し戻し.xlsx"),
    _e("panel-open", "panel", "事務局パネルに書き込めません", "Panel file cannot be written",
       "{path} に書き込めません。Excel で開いている事務局パネルを閉じてから、もう一度実行してください。",
       "Cannot write {path}: close the panel open in Excel, then run again.",
       {"path": "path"}, path="xlplan_panel.xlsm"),
    _e("panel-name", "panel", "事務局パネルのファイル名が違います", "Panel file name not valid",
       "事務局パネルのファイル名は {expected} にしてください（マクロが同名の Python モジュールを読み込むため）: {name}",
       "The panel must be named {expected} (its macro imports the Python module of that name): {name}",
       {"expected": "text", "name": "text"}, expected="xlplan_panel.xlsm", name="パネル.xlsm"),
    _e("xlwings-missing", "panel", "xlwings がありません", "xlwings not installed",
       "xlwings がインストールされていません（pip install xlwings）。",
       "xlwings is not installed (pip install xlwings).", {}),
    _e("xlwings-incomplete", "panel", "xlwings のファイルがありません", "xlwings file missing",
       "インストールされた xlwings に {file} が見つかりません: {folder}",
       "The installed xlwings has no {file}: {folder}", {"file": "text", "folder": "path"},
       file="quickstart_standalone.xlsm", folder="site-packages/xlwings"),
    _e("panel-setting-blank", "panel", "パネルの設定が空欄です", "Panel setting blank",
       "「設定」シートの「{setting}」が空欄です。パスを入力してから、もう一度ボタンを押してください。",
       "The setting '{setting}' on the panel's sheet '設定' is blank. Enter the path, then press the button again.",
       {"setting": "text"}, setting="計画マスタ"),
    _e("panel-unknown-action", "panel", "不明な操作です", "Unknown action",
       "不明な操作です: {action}", "Unknown action: {action}", {"action": "text"}, action="sort"),
    _e("panel-no-action", "panel", "押されたボタンが分かりません", "Button not known",
       "どのボタンが押されたか分かりませんでした。「設定」シートの「操作（ボタンを判別できないとき）」で操作を選んでから、ボタンを押してください。",
       "Excel did not say which button was pressed. Choose the action on the panel's sheet '設定' "
       "(操作, the action), then press the button.", {}),
    _e("file-system-error", "run", "ファイルを読み書きできません", "File cannot be read or written",
       "{path} を読み書きできません（{reason}）。場所とアクセス権、ディスクの空きを確かめてから、もう一度実行してください。",
       "{path} cannot be read or written ({reason}). Check the place, its permissions and the free "
       "disk space, then run again.", {"path": "path", "reason": "words"}, path="集計/集計_R6.xlsx",
       reason=Words("アクセスが拒否されました", "permission denied")),
    _e("interrupted", "run", "中断しました", "Interrupted", "中断しました。", "Interrupted.", {}),
    _e("command-failed", "run", "xlplan の内部エラーです", "Internal error of xlplan",
       "xlplan の内部エラーです（xlplan の不具合で、入力したファイルの誤りではありません）。詳しい記録: {log}",
       "xlplan internal error (a bug in xlplan, not a mistake in your files). Details: {log}",
       {"log": "words"}, log=Words("logs/xlplan-errors.log", "logs/xlplan-errors.log")),
]

CATALOGUE: dict[str, FindingType] = {t.code: t for t in _TYPES}


class _Blank(dict):
    """str.format mapping that renders unknown fields as empty text instead of failing."""

    def __missing__(self, key):
        return ""


class Coded:
    """What a finding and a coded error share: a ``code`` of the catalogue, and its entry's
    severity and title."""

    code: str

    @property
    def type(self) -> FindingType:
        """The catalogue entry of this code."""
        return CATALOGUE[self.code]

    @property
    def severity(self) -> str:
        """error, warning or info, from the catalogue."""
        return self.type.severity

    def title(self, lang: str | None = None) -> str:
        """The short title in the chosen language."""
        return self.type.title_en if current_lang(lang) == "en" else self.type.title_ja


@dataclass
class Finding(Coded):
    """One problem found, with where it is: file, sheet and cell (A1), and what was there."""

    code: str
    file: str = ""
    department: str = ""
    project: str = ""
    field: str = ""
    sheet: str = ""
    cell: str = ""
    value: object = None
    expected: str = ""
    detail: str = ""
    # The detail in English (the detail itself is Japanese). Every detail xlplan writes has
    # both, so that an English message carries no Japanese but the user's own data.
    detail_en: str = ""
    # ``expected`` in English, when it holds xlplan's own words (a year label, a name of the
    # master's format) rather than the user's data (a choice list, a unit, a number).
    expected_en: str = ""

    def __post_init__(self):
        if self.code not in CATALOGUE:
            raise KeyError(f"unknown finding code {self.code!r}")

    def message(self, lang: str | None = None) -> str:
        """The full message in the chosen language, with the finding's values filled in."""
        english = current_lang(lang) == "en"
        template = self.type.message_en if english else self.type.message_ja
        values = _Blank({k: ("" if v is None else v) for k, v in asdict(self).items()})
        if english:
            values.update(self._english_fields())
        return template.format_map(values)

    def _english_fields(self) -> dict:
        """The fields that have an English form of their own, for an English message."""
        return {name: text for name, text in (("detail", self.detail_en),
                                               ("expected", self.expected_en)) if text}

    def location(self) -> str:
        """'sheet!cell' (or just the sheet) for display; empty when the finding is file-wide."""
        if self.sheet and self.cell:
            return f"{self.sheet}!{self.cell}"
        return self.sheet

    def to_dict(self, lang: str | None = None) -> dict:
        """A JSON-ready record with every location field, severity, title and message."""
        record = asdict(self)
        record.pop("detail_en")
        record.pop("expected_en")
        if current_lang(lang) == "en":
            record.update(self._english_fields())
        record["value"] = None if self.value is None else self.value
        record.update(severity=self.severity, title=self.title(lang), message=self.message(lang))
        return record


def count_by_severity(findings: Iterable[Finding]) -> dict[str, int]:
    """Count findings per severity, always with all three keys."""
    counts = {s: 0 for s in SEVERITIES}
    for f in findings:
        counts[f.severity] += 1
    return counts


def has_errors(findings: Iterable[Finding]) -> bool:
    """True when any finding is an error."""
    return any(f.severity == ERROR for f in findings)


def catalogue_markdown() -> str:
    """The catalogue as a Markdown table for the README: code, severity, stage, titles and an
    example message in Japanese and English, generated from the catalogue itself."""
    rows = ["| code | severity | stage | 見出し / title | 例 / example |", "|---|---|---|---|---|"]
    for t in _TYPES:
        ja, en = example_messages(t)
        kind = " (stop)" if t.is_error else ""
        rows.append(f"| `{t.code}` | {t.severity}{kind} | {t.stage} | {t.title_ja}<br>{t.title_en} | "
                    f"{ja}<br>{en} |")
    return "\n".join(rows)


def example_messages(entry: FindingType) -> tuple[str, str]:
    """The Japanese and English message of a catalogue entry's example."""
    if entry.is_error:
        return entry.render(entry.example, "ja"), entry.render(entry.example, "en")
    example = Finding(entry.code, **entry.example)
    return example.message("ja"), example.message("en")


def catalogue_records(lang: str | None = None) -> list[dict]:
    """The catalogue as JSON-ready records (``xlplan catalogue --format json``): each entry's
    fields, ``kind`` (finding or error), its parameters' kinds and its example message."""
    records = []
    for t in _TYPES:
        record = asdict(t)
        record["kind"] = "error" if t.is_error else "finding"
        if t.is_error:
            record["example"] = {n: param_data(k, t.example.get(n), lang) for n, k in t.params.items()}
        record["example_message"] = dict(zip(("ja", "en"), example_messages(t)))
        records.append(record)
    return records

