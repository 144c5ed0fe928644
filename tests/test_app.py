"""The application layer (xlplan.app): the use cases the CLI and the panel share, called
directly with typed inputs; each returns a dataclass and prints nothing."""

from __future__ import annotations

import shutil

import pytest
from openpyxl import load_workbook

from test_archive import fill
from xlplan import app
from xlplan.archive import NoArchive
from xlplan.errors import XlplanError


def _open(project, archive="require", master=None):
    return app.open_project(project.settings, master, None, archive)


def _line(rows, department):
    """The department's own status line (it comes before its other versions)."""
    return next(r for r in rows if r["担当課"] == department)


@pytest.mark.slow
def test_collect_status_choose_merge_on_a_small_project(project, generated, tmp_path, capsys):
    plan, files = generated
    fill(plan, files["健康づくり課"].path, project.inbox / "健康づくり課.xlsx")
    fill(plan, files["福祉課"].path, project.inbox / "福祉課.xlsx", {("2-2-1", "eval_score", None): 6})

    with pytest.raises(NoArchive):  # nothing collected yet: the commands that read it stop
        _open(project, "require")
    ctx = _open(project, "create")
    collected = app.collect(ctx, [project.inbox])
    assert isinstance(collected, app.CollectResult)
    assert sorted(s.original_name for s in collected.summary.new) == ["健康づくり課.xlsx", "福祉課.xlsx"]
    assert collected.has_errors  # 福祉課's score 6 is out of range
    assert any(f.code and "福祉課" in (f.file or "") for f in collected.findings)

    rows = app.status(_open(project), "ja")
    assert _line(rows, "健康づくり課")["状況"] == "提出済"
    assert _line(rows, "福祉課")["状況"] == "要修正"
    assert _line(rows, "児童保育課")["状況"] == "未提出"
    assert _line(app.status(_open(project), "en"), "福祉課")["状況"] == "to fix"

    # A corrected copy arrives; the coordinator pins the first one, then lifts the choice.
    fill(plan, files["福祉課"].path, project.inbox / "福祉課_修正版.xlsx")
    again = app.collect(_open(project, "create"), [project.inbox])
    assert [s.original_name for s in again.summary.new] == ["福祉課_修正版.xlsx"]
    assert sorted(again.summary.known) == ["健康づくり課.xlsx", "福祉課.xlsx"]
    first = next(r for r in rows if r["担当課"] == "福祉課" and r["提出ファイル"] == "福祉課.xlsx")["ID"]
    chosen = app.choose(_open(project, "existing"), "福祉課", int(first))
    assert (chosen.outcome, chosen.submission) == ("chosen", int(first))
    assert _line(app.status(_open(project), "ja"), "福祉課")["集計"] == "使用（指定）"
    assert app.choose(_open(project, "existing"), "福祉課", latest=True).outcome == "lifted"
    assert app.choose(_open(project, "existing"), "福祉課", latest=True).outcome == "none-to-lift"
    with pytest.raises(XlplanError, match="福祉"):  # a typo: the near name is offered
        app.choose(_open(project, "existing"), "福祉", latest=True)

    merged = app.merge(_open(project), tmp_path / "out" / "集計.xlsx", csv_dir=tmp_path / "csv")
    assert merged.written == merged.asked == tmp_path / "out" / "集計.xlsx"
    assert "提出状況" in load_workbook(merged.written, read_only=True).sheetnames
    assert list((tmp_path / "csv").glob("*.csv"))
    assert capsys.readouterr() == ("", "")  # use cases print nothing: the front ends do


@pytest.mark.slow
def test_feedback_scoring_check_and_generate_return_what_they_wrote(project, generated, tmp_path, capsys):
    plan, files = generated
    scoring = app.generate_scoring(_open(project, "existing"), tmp_path / "forms")
    assert scoring.nothing_collected and scoring.out == tmp_path / "forms"
    assert len(scoring.files) == len(plan.members) and all(f.path.exists() for f in scoring.files)

    fill(plan, files["福祉課"].path, project.inbox / "福祉課.xlsx", {("2-2-1", "eval_score", None): 6})
    app.collect(_open(project, "create"), [project.inbox])
    returned = app.feedback(_open(project), tmp_path / "back")
    assert [f.department for f in returned.files] == ["福祉課"] and returned.files[0].findings >= 1
    assert not app.generate_scoring(_open(project, "existing"), tmp_path / "forms2").nothing_collected

    checked = app.check(_open(project, None), [project.inbox / "福祉課.xlsx"])
    assert checked.exit_code == 1 and len(checked.files) == 1
    with pytest.raises(XlplanError, match="見つかりません"):
        app.check(_open(project, None), [tmp_path / "nowhere.xlsx"])

    made = app.generate(_open(project, None), tmp_path / "outbox", ["福祉課"])
    assert [f.department for f in made.files] == ["福祉課"] and made.files[0].path.exists()
    with pytest.raises(XlplanError, match="福祉"):
        app.generate(_open(project, None), tmp_path / "outbox", ["福祉"])
    assert capsys.readouterr() == ("", "")


def test_a_broken_master_stops_with_its_findings(project, tmp_path):
    master = tmp_path / "master.xlsx"
    shutil.copy(project.master, master)
    wb = load_workbook(master)
    wb.remove(wb["事業"])
    wb.save(master)
    with pytest.raises(app.PlanInvalid) as stopped:
        app.open_project(project.settings, master, None, None)
    assert stopped.value.findings and any(f.severity == "error" for f in stopped.value.findings)
    with pytest.raises(XlplanError, match="計画マスタが見つかりません"):
        app.open_project(project.settings, tmp_path / "missing.xlsx", None, None)


def test_the_year_is_parsed_in_both_languages():
    assert app.parse_year("R5").short == "R5"
    with pytest.raises(XlplanError) as bad:
        app.parse_year("R99x")
    assert bad.value.code == "year-invalid" and bad.value.message("ja") != bad.value.message("en")
