"""Committee scoring (中間評価): the members' forms, collecting them, and the 中間評価結果 table.

The central test (``test_committee_table_equals_the_hand_computation``) fills ten members'
forms with a fixed table of answers, leaves two members silent, collects, and compares the
merged table measure by measure with averages, counts and bullets worked out by hand (the
numbers are literals below, not recomputed with the product's code). LibreOffice tests are
skipped without LibreOffice (see conftest.py).
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from xlplan.archive import Archive
from xlplan.collect import collect
from xlplan.render import ABSTAIN, RATINGS
from xlplan.merge import merged_tables, write_merged
from xlplan.metadata import METADATA_SHEET, parse_metadata_rows, verify
from xlplan.plan import SHEET_MEMBERS, load_plan
from xlplan.scoring import generate_scoring, round_half_up, scoring_filename
from xlplan.simulate import _set_last_saved, fill_workbook

PDF_CHECK_DIR = Path("/tmp/xlplan-pdf-check")
OPTIONS = list(RATINGS) + [ABSTAIN]
PROJECTS = ["1-1-1", "1-2-1", "2-1-1", "2-1-2", "2-2-1", "3-1-1", "3-1-2", "3-2-1", "3-2-2"]


# --- helpers --------------------------------------------------------------------------------


def _metadata(path: Path) -> tuple[dict, str]:
    wb = load_workbook(path)
    return parse_metadata_rows([list(r) for r in wb[METADATA_SHEET].iter_rows(values_only=True)])


def _fields(path: Path) -> dict[tuple[str, str], dict]:
    """(project id, field) → the metadata record of that input cell."""
    data, _ = _metadata(path)
    return {(f["project"], f["field"]): f for f in data["fields"]}


def _answer(code):
    """The table's shorthand → what the member's cell ends up holding.

    1..5 → the dropdown label (①…⑤), "N" → 評価しない, None → blank (forgotten), and anything
    else as typed or pasted (an int 6, the text "4.5", "A", or a typed integer as ("int", 5)).
    """
    if isinstance(code, int) and 1 <= code <= 5:
        return RATINGS[code - 1]
    if code == "N":
        return ABSTAIN
    if isinstance(code, tuple) and code[0] == "int":
        return code[1]
    return code


def _fill_form(src: Path, dst: Path, ratings: dict[str, object], comments: dict[str, str]) -> Path:
    """Fill a member's form with openpyxl (standing in for Excel): ratings and comments per
    project id; the sheet protection stays as it is (only unlocked cells are written)."""
    shutil.copyfile(src, dst)
    fields = _fields(dst)
    wb = load_workbook(dst)
    for pid, code in ratings.items():
        f = fields[(pid, "rating")]
        wb[f["sheet"]][f["cell"]] = _answer(code)
    for pid, text in comments.items():
        f = fields[(pid, "rating_comment")]
        wb[f["sheet"]][f["cell"]] = text
    wb.save(dst)
    return dst


def _forms(project, plan, archive=None, out: Path | None = None) -> dict[str, Path]:
    out = out or project.outbox / "中間評価"
    return {f.member.id: f.path for f in generate_scoring(plan, out, project.settings, archive)}


def _row(df, pid: str) -> dict:
    rows = [r for r in df.to_dict("records") if r["施策の展開"].split()[0] == pid]
    assert len(rows) == 1, pid
    return rows[0]


def _header_columns(ws, header_row: int = 3) -> dict[str, int]:
    return {str(c.value).split("（")[0]: c.column for c in ws[header_row] if c.value is not None}


# --- 1. the forms ---------------------------------------------------------------------------


@pytest.mark.slow
def test_one_locked_signed_form_per_member(project):
    plan = load_plan(project.master)
    assert len(plan.members) == 12
    files = generate_scoring(plan, project.outbox / "中間評価", project.settings)
    assert [f.member.id for f in files] == [m.id for m in plan.members]
    assert len({f.path for f in files}) == 12
    running = [p for p in plan.projects if not p.ended]
    assert [p.id for p in running] == PROJECTS

    for f in files:
        assert f.path.exists()
        assert f.path.name == scoring_filename(plan, f.member)
        assert plan.year.short in f.path.name and f.member.name in f.path.name
        assert f"_{f.member.id.zfill(2)}_" in f.path.name
        assert f.measures == len(running)

        data, signature = _metadata(f.path)
        assert verify(data, signature, project.settings.key_bytes)
        assert not verify(data, signature, b"another key")
        assert data["kind"] == "scoring"
        assert str(data["member"]) == f.member.id
        assert data["department"] == f.member.name
        assert data["year"] == plan.year.short
        assert data["projects"] == PROJECTS
        fields = data["fields"]
        assert sorted((x["project"], x["field"]) for x in fields) == sorted(
            (pid, fld) for pid in PROJECTS for fld in ("rating", "rating_comment"))
        for x in fields:
            assert x["sheet"] == "評価票"
            if x["field"] == "rating":
                assert (x["kind"], x["required"]) == ("rating", True)
            else:
                assert (x["kind"], x["required"]) == ("text", False)
            assert x["label"].startswith(x["project"] + " ")

        wb = load_workbook(f.path)
        assert wb.sheetnames[:2] == ["表紙", "評価票"]
        assert wb.security.lockStructure
        for ws in wb.worksheets:
            assert ws.protection.sheet, ws.title
        ws = wb["評価票"]
        inputs = {x["cell"]: x for x in fields}

        # Every measure listed once, on the row of its input cells, with its hierarchy.
        cols = _header_columns(ws)
        assert {"基本目標", "施策展開の方向性", "施策の展開", "それぞれの役割", "これまでの主な取組",
                "評価", "意見"} <= set(cols)
        listed = [ws.cell(r, cols["施策の展開"]).value.split()[0] for r in range(4, ws.max_row + 1)
                  if ws.cell(r, cols["施策の展開"]).value]
        assert listed == PROJECTS
        for x in fields:
            row = int(re.sub(r"[A-Z]", "", x["cell"]))
            column = cols["評価" if x["field"] == "rating" else "意見"]
            assert ws.cell(row, column).coordinate == x["cell"]
            assert ws.cell(row, cols["施策の展開"]).value.startswith(x["project"] + " ")
            p = plan.project(x["project"])
            assert ws.cell(row, cols["それぞれの役割"]).value == p.roles
            # No archive given: nothing was submitted, and the form says so per department.
            assert ws.cell(row, cols["これまでの主な取組"]).value == "\n".join(
                f"【{d}】未提出" for d in p.departments)

        # The rating cell: a list dropdown of exactly the six options (error shown); the
        # comment cell: no list.
        lists = [dv for dv in ws.data_validations.dataValidation if dv.type == "list"]
        for x in fields:
            covering = [dv for dv in ws.data_validations.dataValidation if x["cell"] in dv.sqref]
            if x["field"] == "rating":
                assert len(covering) == 1 and covering[0] in lists, x["cell"]
                dv = covering[0]
                assert dv.formula1.strip('"').split(",") == OPTIONS
                assert dv.showErrorMessage and dv.errorStyle == "stop"
            else:
                assert all(dv.type != "list" for dv in covering)

        # Only the rating and comment cells are unlocked; every other cell is locked.
        for sheet in wb.worksheets:
            for row in sheet.iter_rows(min_row=1, max_row=max(sheet.max_row, 1),
                                       max_col=max(sheet.max_column, 1)):
                for c in row:
                    unlocked = sheet.title == "評価票" and c.coordinate in inputs
                    assert c.protection.locked is (not unlocked), (sheet.title, c.coordinate)


def test_ended_measures_are_left_out_and_member_selection(project):
    wb = load_workbook(project.master)
    ws = wb["事業"]
    status_col = next(c.column for c in ws[1] if c.value == "状態")
    row = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == "3-1-2")
    ws.cell(row, status_col).value = "終了"
    wb.save(project.master)
    plan = load_plan(project.master)

    files = generate_scoring(plan, project.outbox / "中間評価", project.settings, members=["3", "12"])
    assert [f.member.id for f in files] == ["3", "12"]
    for f in files:
        data, _ = _metadata(f.path)
        assert data["projects"] == [p for p in PROJECTS if p != "3-1-2"]
        assert f.measures == 8
        assert "3-1-2" not in {x["project"] for x in data["fields"]}


def test_round_half_up_is_not_bankers_rounding():
    assert round_half_up(Decimal("3.65")) == 3.7
    assert round_half_up(Decimal(73) / Decimal(20)) == 3.7
    assert round_half_up(Decimal("3.25")) == 3.3
    assert round_half_up(Decimal("2.25")) == 2.3
    assert round_half_up(Decimal("3.249")) == 3.2
    assert round_half_up(Decimal(11) / Decimal(3)) == 3.7


# --- 2. これまでの主な取組 from the archive ----------------------------------------------------


@pytest.mark.slow
def test_form_shows_this_years_results_of_the_departments_that_reported(project, generated, tmp_path):
    plan, files = generated
    department = "長寿社会課"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    filled = fill_workbook(files[department].path, inbox / "長寿社会課.xlsx", plan, random.Random(1),
                           mistakes=0)
    assert filled == []
    archive = Archive.for_settings(project.settings)
    collect(archive, [inbox], project.settings, plan)

    # 実績 (eval_result) as the department typed it, per project.
    dept_fields = _fields(inbox / "長寿社会課.xlsx")
    wb = load_workbook(inbox / "長寿社会課.xlsx")
    results = {pid: wb[f["sheet"]][f["cell"]].value for (pid, fld), f in dept_fields.items()
               if fld == "eval_result"}
    own = [p.id for p in plan.projects_for(department)]
    assert sorted(results) == sorted(own)

    forms = _forms(project, plan, archive)
    form = forms["1"]
    ws = load_workbook(form)["評価票"]
    cols = _header_columns(ws)
    fields = _fields(form)
    for pid in PROJECTS:
        row = int(re.sub(r"[A-Z]", "", fields[(pid, "rating")]["cell"]))
        summary = ws.cell(row, cols["これまでの主な取組"]).value
        if pid in own:
            text = str(results[pid]).strip()
            assert f"【{department}】" in summary, pid
            assert text.removeprefix(f"【{department}】") in summary, pid
            assert summary.count(f"【{department}】") == 1, pid
        # A department without a return is named as 未提出 (the status word of status and the
        # merged workbook), never 「集計前」.
        others = [d for d in plan.project(pid).departments if d != department or pid not in own]
        for other in others:
            assert f"【{other}】未提出" in summary.split("\n"), (pid, summary)
        assert summary.count("【") == len(plan.project(pid).departments), (pid, summary)
        assert "集計前" not in summary
    # The form with summaries is still a valid, signed form.
    data, signature = _metadata(form)
    assert verify(data, signature, project.settings.key_bytes)


# --- 3. the hand computation ----------------------------------------------------------------

# Members 1–10 answer; 11 and 12 send nothing. Columns: the nine measures in plan order.
# 1..5 = ①…⑤ picked from the dropdown, "N" = 評価しない, None = forgotten, 6 / "4.5" = pasted,
# "A" = typed letter, ("int", 5) = a bare 5 typed over the dropdown.
TABLE = {
    #     1-1-1 1-2-1 2-1-1 2-1-2  2-2-1 3-1-1 3-1-2       3-2-1 3-2-2
    "1": [4,    5,    5,    2,     4,    "N",  1,          3,    5],
    "2": [4,    4,    5,    2,     4,    "N",  ("int", 5), 3,    5],
    "3": [3,    None, 5,    2,     3,    "N",  2,          4,    5],
    "4": [3,    4,    6,    2,     "N",  "N",  3,          3,    5],
    "5": [3,    3,    4,    "4.5", "N",  "N",  4,          3,    4],
    "6": [3,    4,    4,    3,     "A",  "N",  5,          3,    4],
    "7": [3,    3,    4,    3,     "N",  "N",  1,          4,    5],
    "8": [3,    4,    4,    2,     "N",  "N",  3,          3,    5],
    "9": ["N",  3,    3,    2,     "N",  "N",  3,          3,    5],
    "10": ["N", "N",  "N",  "N",   "N",  "N",  3,          3,    5],
}
COMMENTS = {
    ("1", "1-1-1"): "体験者だけでなく広く活動を伝えることが必要。",
    ("4", "1-1-1"): "今後も活動を継続してほしい。",
    ("9", "1-1-1"): "学校ごとの差が大きい。",          # member 9 abstained on this measure
    ("4", "2-1-1"): "地区ごとの会議は定着してきた。",  # member 4 pasted a 6 here
    ("2", "3-1-1"): "  評価できる材料がない。 ",        # stripped in the bullet
    ("7", "3-1-1"): "利用実績を示してほしい。",
    ("3", "3-1-2"): "市内全域で取り組む必要がある。",
}
# Worked out by hand: (average, raters, 最低～最高, 評価しない, bullets in member order).
EXPECTED = {
    # 4+4+3*6 = 26 / 8 = 3.25 → 3.3 (half up; round() would give 3.2)
    "1-1-1": (3.3, 8, "3～4", 2, ["体験者だけでなく広く活動を伝えることが必要。",
                                 "今後も活動を継続してほしい。", "学校ごとの差が大きい。"]),
    # member 3 forgot: 5+4+4+3+4+3+4+3 = 30 / 8 = 3.75 → 3.8
    "1-2-1": (3.8, 8, "3～5", 1, []),
    # member 4 pasted 6: 5+5+5+4+4+4+4+3 = 34 / 8 = 4.25 → 4.3 (round() would give 4.2)
    "2-1-1": (4.3, 8, "3～5", 1, ["地区ごとの会議は定着してきた。"]),
    # member 5 pasted "4.5": 2+2+2+2+3+3+2+2 = 18 / 8 = 2.25 → 2.3 (round() would give 2.2)
    "2-1-2": (2.3, 8, "2～3", 1, []),
    # member 6 typed "A": 4+4+3 = 11 / 3 = 3.666… → 3.7
    "2-2-1": (3.7, 3, "3～4", 6, []),
    # everyone abstained: no average, only the comments
    "3-1-1": (None, 0, "", 10, ["評価できる材料がない。", "利用実績を示してほしい。"]),
    # 1+5+2+3+4+5+1+3+3+3 = 30 / 10 = 3.0 (the bare 5 counts)
    "3-1-2": (3.0, 10, "1～5", 0, ["市内全域で取り組む必要がある。"]),
    # 3+3+4+3+3+3+4+3+3+3 = 32 / 10 = 3.2
    "3-2-1": (3.2, 10, "3～4", 0, []),
    # 5+5+5+5+4+4+5+5+5+5 = 48 / 10 = 4.8
    "3-2-2": (4.8, 10, "4～5", 0, []),
}


def _send_table(project, plan, forms: dict[str, Path], inbox: Path) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    for member_id, answers in TABLE.items():
        ratings = dict(zip(PROJECTS, answers))
        comments = {pid: text for (mid, pid), text in COMMENTS.items() if mid == member_id}
        # Names sort in member order, so collection order (and the bullets) follow it.
        _fill_form(forms[member_id], inbox / f"中間評価_{int(member_id):02d}.xlsx", ratings, comments)


@pytest.fixture
def scored(project, tmp_path):
    """The TABLE sent by members 1–10 and collected; (plan, archive, forms)."""
    plan = load_plan(project.master)
    forms = _forms(project, plan)
    _send_table(project, plan, forms, tmp_path / "inbox")
    archive = Archive.for_settings(project.settings)
    summary = collect(archive, [tmp_path / "inbox"], project.settings, plan)
    assert len(summary.new) == 10
    return plan, archive, forms


@pytest.mark.slow
def test_committee_table_equals_the_hand_computation(scored):
    plan, archive, forms = scored
    df = merged_tables(archive, plan).committee
    assert df is not None
    assert list(df.columns) == ["基本目標", "施策展開の方向性", "施策の展開", "それぞれの役割",
                                "これまでの主な取組", "評価点（平均）", "評価者数", "最低～最高",
                                "評価しない", "意見等"]
    assert [r.split()[0] for r in df["施策の展開"]] == PROJECTS
    for pid, (average, raters, spread, abstained, bullets) in EXPECTED.items():
        row = _row(df, pid)
        assert row["評価点（平均）"] == average, pid
        assert row["評価者数"] == raters, pid
        assert row["最低～最高"] == spread, pid
        assert row["評価しない"] == abstained, pid
        lines = row["意見等"].split("\n") if row["意見等"] else []
        lines = [line for line in lines if line != ""]  # a trailing newline is tested separately
        expected_lines = ([f"{average}"] if average is not None else []) + [f"○ {b}" for b in bullets]
        assert lines == expected_lines, pid
        p = plan.project(pid)
        assert row["それぞれの役割"] == p.roles
        assert row["施策の展開"].startswith(f"{pid} {p.name}")


@pytest.mark.slow
def test_invalid_answers_are_findings_with_member_and_cell(scored):
    plan, archive, forms = scored
    current = archive.current(plan, "scoring")
    assert sorted(current, key=int) == [str(i) for i in range(1, 11)]
    findings = archive.findings([s.id for s in current.values()])
    name = {m.id: m.name for m in plan.members}

    def cell(mid, pid):
        return _fields(forms[mid])[(pid, "rating")]["cell"]

    got = sorted((f.code, f.severity, f.department, f.project, f.sheet, f.cell) for f in findings)
    assert got == sorted([
        ("score-missing", "error", name["3"], "1-2-1", "評価票", cell("3", "1-2-1")),
        ("score-out-of-range", "error", name["4"], "2-1-1", "評価票", cell("4", "2-1-1")),
        ("score-out-of-range", "error", name["5"], "2-1-2", "評価票", cell("5", "2-1-2")),
        ("not-a-number", "error", name["6"], "2-2-1", "評価票", cell("6", "2-2-1")),
    ])
    by_code = {f.code + f.department: f for f in findings}
    assert by_code["score-out-of-range" + name["4"]].value == 6
    assert by_code["score-out-of-range" + name["5"]].value == "4.5"
    assert by_code["not-a-number" + name["6"]].value == "A"
    assert all(f.file.startswith("中間評価_") for f in findings)
    for f in findings:
        assert f.message("ja")

    # 評価しない is stored as kind 'abstain' (no value) and is no finding.
    values = archive.values([current["9"].id])
    ratings = {v["project"]: v for v in values if v["field"] == "rating"}
    assert ratings["1-1-1"]["kind"] == "abstain" and ratings["1-1-1"]["value"] is None
    assert ratings["1-2-1"]["kind"] == "score" and ratings["1-2-1"]["value"] == 3
    assert current["3"].errors == 1 and current["1"].errors == 0

    # The same findings are in the merged 要確認 table under the member's name.
    table = merged_tables(archive, plan).findings
    codes = sorted(zip(table["コード"], table["担当課"], table["セル"]))
    assert ("score-missing", name["3"], cell("3", "1-2-1")) in codes
    assert ("not-a-number", name["6"], cell("6", "2-2-1")) in codes


@pytest.mark.slow
def test_opinions_cell_without_comments_is_just_the_average(scored):
    plan, archive, _ = scored
    df = merged_tables(archive, plan).committee
    assert _row(df, "3-2-2")["意見等"] == "4.8"


# --- 4. a form filled in LibreOffice ----------------------------------------------------------


def test_form_filled_in_libreoffice_reads_back_as_4_and_abstain(libreoffice, project, tmp_path):
    plan = load_plan(project.master)
    forms = _forms(project, plan)
    fields = _fields(forms["5"])
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    out = inbox / "中間評価_05_lo.xlsx"
    libreoffice.fill(forms["5"], out, [
        {"name": fields[("1-1-1", "rating")]["name"], "value": "④できている", "mode": "type"},
        {"name": fields[("1-2-1", "rating")]["name"], "value": ABSTAIN, "mode": "type"},
        {"name": fields[("1-2-1", "rating_comment")]["name"], "value": "判断材料が不足している。",
         "mode": "type"},
    ])
    archive = Archive.for_settings(project.settings)
    collect(archive, [inbox], project.settings, plan)
    current = archive.current(plan, "scoring")
    assert list(current) == ["5"]
    values = {(v["project"], v["field"]): v for v in archive.values([current["5"].id])}
    assert values[("1-1-1", "rating")]["value"] == 4
    assert values[("1-1-1", "rating")]["kind"] == "score"
    assert values[("1-2-1", "rating")]["kind"] == "abstain"
    assert values[("1-2-1", "rating")]["value"] is None
    assert values[("1-2-1", "rating_comment")]["value"] == "判断材料が不足している。"

    findings = archive.findings([current["5"].id])
    # The file LibreOffice saved is still a valid form: the only problems are the seven
    # measures left blank.
    assert sorted(f.project for f in findings if f.code == "score-missing") == PROJECTS[2:]
    assert [f for f in findings if f.code != "score-missing"] == []

    df = merged_tables(archive, plan).committee
    assert (_row(df, "1-1-1")["評価点（平均）"], _row(df, "1-1-1")["評価者数"]) == (4.0, 1)
    assert (_row(df, "1-2-1")["評価者数"], _row(df, "1-2-1")["評価しない"]) == (0, 1)


# --- 5. submission status and a member sending twice ----------------------------------------


@pytest.mark.slow
def test_status_lists_the_silent_members_as_missing(scored, project, tmp_path):
    plan, archive, _ = scored
    out = write_merged(archive, plan, project.settings, tmp_path / "集計_R6.xlsx")
    wb = load_workbook(out)
    assert "中間評価結果" in wb.sheetnames
    ws = wb["提出状況"]
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, (c.value for c in r))) for r in ws.iter_rows(min_row=2)]
    members = [r for r in rows if r["区分"] == "委員"]
    assert [r["担当課"] for r in members] == [m.name for m in plan.members]
    status = {r["担当課"]: r["状況"] for r in members}
    name = {m.id: m.name for m in plan.members}
    assert [n for n, s in status.items() if s == "未提出"] == [name["11"], name["12"]]
    assert status[name["3"]] == "要修正" and status[name["1"]] == "提出済"
    # Departments sent nothing in this test: they are listed as 担当課, all missing.
    departments = [r for r in rows if r["区分"] == "担当課"]
    assert departments and all(r["状況"] == "未提出" for r in departments)

    # The results sheet: the committee table with a bar chart of the averages.
    ws = wb["中間評価結果"]
    assert ws._charts, "中間評価結果 has no chart"
    texts = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert any(t.startswith("3.3\n○ 体験者だけでなく") for t in texts)


@pytest.mark.slow
def test_second_form_from_a_member_warns_and_the_newest_counts(scored, project, tmp_path):
    import datetime as dt

    plan, archive, forms = scored
    name = {m.id: m.name for m in plan.members}
    ratings = dict(zip(PROJECTS, TABLE["1"]))

    # Member 1 sends a corrected form later (another comment): a warning, and it counts.
    later = tmp_path / "inbox2"
    later.mkdir()
    _fill_form(forms["1"], later / "中間評価_01_修正.xlsx", ratings,
               {"1-1-1": "広報の工夫が必要。"})
    summary = collect(archive, [later], project.settings, plan)
    assert len(summary.new) == 1
    new = summary.new[0]
    assert new.kind == "scoring" and new.member == "1" and new.warnings == 1
    warned = archive.findings([new.id])
    assert [(f.code, f.severity, f.department) for f in warned] == [
        ("duplicate-member-submission", "warning", name["1"])]
    assert archive.current(plan, "scoring")["1"].id == new.id
    row = _row(merged_tables(archive, plan).committee, "1-1-1")
    lines = row["意見等"].split("\n")
    # The old comment is gone, the new one is in (bullets follow collection order, so the
    # resent form's bullet now comes last).
    assert lines[0] == "3.3"
    assert sorted(lines[1:]) == sorted(["○ 広報の工夫が必要。", "○ 今後も活動を継続してほしい。",
                                        "○ 学校ごとの差が大きい。"])
    assert "体験者だけでなく" not in row["意見等"]
    assert row["評価者数"] == 8

    # Member 2 sends an older version after the current one: warned, but the newer stays.
    older = tmp_path / "inbox3"
    older.mkdir()
    path = _fill_form(forms["2"], older / "中間評価_02_旧.xlsx", dict(zip(PROJECTS, [1] * 9)), {})
    # Saved earlier, but not before the form was made (a time before that is not believed).
    _set_last_saved(path, dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5))
    before = archive.current(plan, "scoring")["2"].id
    summary = collect(archive, [older], project.settings, plan)
    assert [f.code for f in archive.findings([summary.new[0].id])] == ["duplicate-member-submission"]
    assert archive.current(plan, "scoring")["2"].id == before
    assert _row(merged_tables(archive, plan).committee, "1-1-1")["評価点（平均）"] == 3.3

    # The same file again under another name is recognised, not a second submission.
    shutil.copyfile(later / "中間評価_01_修正.xlsx", tmp_path / "中間評価_01_コピー.xlsx")
    summary = collect(archive, [tmp_path / "中間評価_01_コピー.xlsx"], project.settings, plan)
    assert summary.new == [] and summary.known == ["中間評価_01_コピー.xlsx"]

    rows = [r for r in merged_tables(archive, plan).status.to_dict("records") if r["区分"] == "委員"]
    status = {r["担当課"]: r for r in rows if r["状況"] != "集計に使わない版"}
    assert status[name["1"]]["提出回数"] == 2 and status[name["2"]]["提出回数"] == 2
    # The version not used is listed under the member, with its ID.
    assert [r["ID"] is not None for r in rows if r["担当課"] == name["2"]] == [True, True]


# --- 6. a member no longer in the master --------------------------------------------------------


@pytest.mark.slow
def test_form_of_a_member_removed_from_the_master_is_unknown_member(project, tmp_path):
    plan = load_plan(project.master)
    forms = _forms(project, plan)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _fill_form(forms["12"], inbox / "中間評価_12.xlsx", dict(zip(PROJECTS, [4] * 9)), {})
    _fill_form(forms["1"], inbox / "中間評価_01.xlsx", dict(zip(PROJECTS, [2] * 9)), {})

    wb = load_workbook(project.master)
    ws = wb[SHEET_MEMBERS]
    row = next(r for r in range(2, ws.max_row + 1) if str(ws.cell(r, 1).value) == "12")
    ws.delete_rows(row)
    wb.save(project.master)
    plan = load_plan(project.master)
    assert [m.id for m in plan.members] == [str(i) for i in range(1, 12)]

    archive = Archive.for_settings(project.settings)
    summary = collect(archive, [inbox], project.settings, plan)
    by_file = {s.original_name: s for s in summary.new}
    gone = by_file["中間評価_12.xlsx"]
    findings = archive.findings([gone.id])
    assert [(f.code, f.severity) for f in findings] == [("unknown-member", "error")]
    assert findings[0].value == "田村 さと子"
    assert archive.values([gone.id]) == []

    tables = merged_tables(archive, plan)
    assert _row(tables.committee, "1-1-1")["評価者数"] == 1
    assert _row(tables.committee, "1-1-1")["評価点（平均）"] == 2.0
    members = tables.status[(tables.status["区分"] == "委員")
                            & ~tables.status["状況"].str.startswith("対象外")]
    assert list(members["担当課"]) == [m.name for m in plan.members]
    assert "田村 さと子" not in set(members["担当課"])
    gone_row = tables.status[tables.status["担当課"] == "田村 さと子"]
    assert list(gone_row["状況"]) == ["対象外（計画マスタにない委員）"]


@pytest.mark.slow
def test_unknown_member_form_is_reported_in_the_merged_workbook(project, tmp_path):
    plan = load_plan(project.master)
    forms = _forms(project, plan)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _fill_form(forms["12"], inbox / "中間評価_12.xlsx", dict(zip(PROJECTS, [4] * 9)), {})
    wb = load_workbook(project.master)
    ws = wb[SHEET_MEMBERS]
    ws.delete_rows(next(r for r in range(2, ws.max_row + 1) if str(ws.cell(r, 1).value) == "12"))
    wb.save(project.master)
    plan = load_plan(project.master)
    archive = Archive.for_settings(project.settings)
    collect(archive, [inbox], project.settings, plan)

    tables = merged_tables(archive, plan)
    assert "unknown-member" in set(tables.findings["コード"])
    assert "中間評価_12.xlsx" in set(tables.status["提出ファイル"])


# --- 7. the printed 中間評価結果 -----------------------------------------------------------------


def test_committee_results_print_like_the_seed(libreoffice, scored, project, tmp_path):
    plan, archive, _ = scored
    out = write_merged(archive, plan, project.settings, tmp_path / "集計_R6.xlsx")
    pdf = libreoffice.to_pdf(out, tmp_path / "pdf")
    pages = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout.split("\f")
    found = [i for i, text in enumerate(pages, start=1) if "中間評価結果" in text]
    assert found, "no page shows 中間評価結果"
    page = found[0]
    text = pages[page - 1]
    assert "評価点数・・・①できていない" in text
    assert "3.3" in text and "○ 体験者だけでなく広く活動を伝えることが必要。" in text
    PDF_CHECK_DIR.mkdir(parents=True, exist_ok=True)
    target = PDF_CHECK_DIR / "committee.png"
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", str(page), "-l", str(page), "-singlefile",
                    str(pdf), str(target.with_suffix(""))], check=True, capture_output=True)
    assert target.exists() and target.stat().st_size > 10_000


# --- 8. the command line --------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_generate_scoring(project, tmp_path, capsys):
    from xlplan.cli import main

    out = tmp_path / "forms"
    assert main(["generate-scoring", "--project", str(project.root), "--out", str(out)]) == 0
    written = sorted(out.glob("*.xlsx"))
    assert len(written) == 12
    assert all(p.name.startswith("R6_中間評価票_") for p in written)
    assert "中間評価票 12 件を作成しました" in capsys.readouterr().out

    one = tmp_path / "one"
    assert main(["generate-scoring", "--project", str(project.root), "--out", str(one),
                 "--member", "3"]) == 0
    assert [p.name for p in one.glob("*.xlsx")] == ["R6_中間評価票_03_上田 正明.xlsx"]

    default = main(["generate-scoring", "--project", str(project.root)])
    assert default == 0
    assert len(list((project.root / "配布" / "中間評価").glob("*.xlsx"))) == 12


@pytest.mark.parametrize("how", ["sheet deleted", "rows deleted"])
def test_cli_generate_scoring_without_members_exits_2(project, tmp_path, capsys, how):
    from xlplan.cli import main

    wb = load_workbook(project.master)
    if how == "sheet deleted":
        del wb[SHEET_MEMBERS]
    else:
        ws = wb[SHEET_MEMBERS]
        ws.delete_rows(2, ws.max_row)
    wb.save(project.master)
    capsys.readouterr()
    out = tmp_path / "forms"
    assert main(["generate-scoring", "--project", str(project.root), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "委員" in err and "登録されていません" in err
    assert "Traceback" not in err
    assert not out.exists() or not list(out.glob("*.xlsx"))


@pytest.mark.slow
def test_committee_sheet_shows_averages_with_one_decimal(scored, project, tmp_path):
    plan, archive, _ = scored
    out = write_merged(archive, plan, project.settings, tmp_path / "集計_R6.xlsx")
    ws = load_workbook(out)["中間評価結果"]
    header = next(r for r in ws.iter_rows() if any(c.value == "評価点（平均）" for c in r))
    col = next(c.column for c in header if c.value == "評価点（平均）")
    cells = [ws.cell(r, col) for r in range(header[0].row + 1, header[0].row + 1 + len(PROJECTS))]
    three = next(c for c in cells if c.value == 3.0)
    assert three.number_format in ("0.0", "#,##0.0")


# --- the simulated committee of the demo ------------------------------------------------------


@pytest.mark.slow
def test_simulated_committee_has_the_planned_mistakes(project, tmp_path):
    from xlplan.simulate import simulate_scoring

    plan = load_plan(project.master)
    forms = _forms(project, plan)
    returns = simulate_scoring(forms, plan, tmp_path / "inbox", seed=7, missing=2)
    archive = Archive.for_settings(project.settings)
    summary = collect(archive, [tmp_path / "inbox"], project.settings, plan)
    assert len(summary.new) == len(returns) == 11  # ten members, one of them twice
    findings = archive.findings([s.id for s in summary.new])
    codes = sorted(f.code for f in findings)
    assert codes == ["duplicate-member-submission", "score-missing", "score-out-of-range"]
    tables = merged_tables(archive, plan)
    status = tables.status[tables.status["区分"] == "委員"]
    assert list(status[status["状況"] == "未提出"]["担当課"]) == [m.name for m in plan.members[-2:]]
    df = tables.committee
    assert all(1 <= a <= 5 for a in df["評価点（平均）"] if a is not None)
    assert sum(df["評価者数"]) + sum(df["評価しない"]) == 10 * len(PROJECTS) - 2
