"""What the plan master says for each year: deadlines per evaluation year, and targets that
reading would change without a word (issue 14, items 4 and 11)."""

from __future__ import annotations

import datetime as dt

import pytest
from openpyxl import load_workbook

from test_layouts import _edit_master

from xlplan.cli import main
from xlplan.generate import generate
from xlplan.plan import SHEET_DEADLINES, deadline_findings, load_plan, read_plan


def _cover_texts(path) -> list[str]:
    ws = load_workbook(path)["表紙"]
    return [str(c.value) for row in ws.iter_rows() for c in row if c.value is not None]


def _old_style_master(master) -> None:
    """A master written before deadlines per year: one 提出期限 on the 計画 sheet."""
    wb = load_workbook(master)
    del wb[SHEET_DEADLINES]
    wb["計画"].append(["提出期限", dt.datetime(2025, 7, 31), ""])
    wb.save(master)


def _set_deadline(master, year: str, day) -> None:
    wb = load_workbook(master)
    ws = wb[SHEET_DEADLINES]
    for row in ws.iter_rows(min_row=2):
        if row[0].value == year:
            row[1].value = day
    wb.save(master)


# --- deadlines per evaluation year ---------------------------------------------------------


@pytest.mark.slow
def test_next_year_gets_its_own_deadline_on_the_cover(project):
    plan = load_plan(project.master)
    assert plan.deadline == dt.date(2025, 7, 31)
    r7 = load_plan(project.master, year="R7")
    assert r7.deadline == dt.date(2026, 7, 31)
    files = generate(r7, project.outbox / "R7", project.settings, departments=["長寿社会課"])
    texts = "".join(_cover_texts(files[0].path))
    assert "令和8年7月31日" in texts
    assert "令和7年7月31日" not in texts


def test_a_master_with_one_deadline_still_reads(project):
    _old_style_master(project.master)
    plan, findings = read_plan(project.master)
    assert not findings
    assert plan.deadline == dt.date(2025, 7, 31)
    # The single deadline is the 評価年度's: another year has none, and generate says so.
    r7 = plan.with_year("R7")
    assert r7.deadline is None
    assert [f.code for f in deadline_findings(r7, today=dt.date(2026, 1, 5))] == ["deadline-missing"]


@pytest.mark.parametrize("day, today, codes", [
    (dt.datetime(2026, 7, 31), dt.date(2026, 1, 5), []),
    (dt.datetime(2026, 7, 31), dt.date(2026, 8, 1), ["deadline-past"]),
    # Last year's date left in R7's row: outside FY R8 (2026-04-01 – 2027-03-31), and past.
    (dt.datetime(2025, 7, 31), dt.date(2026, 1, 5), ["deadline-outside-year", "deadline-past"]),
    (dt.datetime(2027, 5, 31), dt.date(2026, 1, 5), ["deadline-outside-year"]),
    (None, dt.date(2026, 1, 5), ["deadline-missing"]),
])
def test_deadline_warnings(project, day, today, codes):
    _set_deadline(project.master, "R7", day)
    plan = load_plan(project.master, year="R7")
    found = deadline_findings(plan, today=today)
    assert [f.code for f in found] == codes
    assert all(f.severity == "warning" for f in found)
    for f in found:
        assert "R7" in f.message("ja") and "R7" in f.message("en")
        assert not any("\u3040" <= ch <= "\u9fff" for ch in f.message("en").replace("提出期限", ""))


@pytest.mark.slow
def test_cli_generate_warns_about_a_missing_deadline(project, tmp_path, capsys):
    _old_style_master(project.master)
    code = main(["generate", str(project.master), "--year", "R7", "--out", str(tmp_path / "out"),
                 "--project", str(project.root)])
    assert code == 0
    err = capsys.readouterr().err
    assert "R7 の提出期限が計画マスタにありません" in err


# --- targets that lose words or disagree with the unit -------------------------------------


def test_targets_that_change_when_read_are_warned(project):
    # 2-1-2 #1 is counted in 回, 2-1-2 #2 in 地区 (the sample master).
    _edit_master(project.master, targets={("2-1-2", 1, "R7"): "1回以上", ("2-1-2", 2, "R6"): "30ヶ所",
                                          ("2-1-2", 2, "R7"): "30地区", ("2-1-2", 1, "R8"): "２回"})
    plan, findings = read_plan(project.master)
    assert plan is not None
    found = {(f.code, f.value, f.expected, f.sheet) for f in findings}
    assert found == {("target-loses-words", "1回以上", "1", "指標"),
                     ("target-unit-mismatch", "30ヶ所", "地区", "指標")}
    assert all(f.severity == "warning" and f.cell and f.project == "2-1-2" for f in findings)
    loses = next(f for f in findings if f.code == "target-loses-words")
    assert "1回以上" in loses.message("ja") and "1回以上" in loses.message("en")
