"""What the coordinator sees of the submissions: one status vocabulary in every view, every
submission with its ID, the pinned choice and how to lift it, local date-times (issue 14:
items 6, 7, 13 and the status part of 17)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from test_archive import _fields, fill, run_cli
from xlplan.archive import Archive, submission_status
from xlplan.collect import collect
from xlplan.excel import FilePanel, _status_rows, run
from xlplan.generate import generate
from xlplan.merge import merged_tables, write_merged
from xlplan.panel import PANEL_NAME, STATUS_HEADER, build_panel, project_defaults
from xlplan.plan import load_plan
from xlplan.settings import SettingsError, load_settings
from xlplan.simulate import _set_last_saved

# Every status a department line or a submission can have, as people read it (ja, en).
EXPECTED = {
    "submitted": ("提出済", "submitted"),
    "check": ("要確認", "to check"),
    "fix": ("要修正", "to fix"),
    "missing": ("未提出", "not submitted"),
    "not-used": ("集計に使わない版", "version not used"),
    "unreadable": ("対象外（読み取れないファイル）", "not counted (unreadable file)"),
    "other-year": ("対象外（R5 の様式）", "not counted (form for R5)"),
    "other-plan": ("対象外（別の計画の様式）", "not counted (form of another plan)"),
    "unknown-department": ("対象外（計画マスタにない担当課）", "not counted (department not in the plan master)"),
}


def _fill_saved(plan, src: Path, dst: Path, days_ago: float, values: dict | None = None) -> Path:
    """A return filled and last saved ``days_ago`` days ago (an earlier version)."""
    fill(plan, src, dst, values)
    _set_last_saved(dst, dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days_ago))
    return dst


def _far_from_target(plan, src: Path, dst: Path) -> Path:
    """A clean return except one result far below its target: a warning, no error."""
    from openpyxl import load_workbook as load

    field = next(f for f in _fields(load(src)) if f["field"] == "result" and f["kind"] == "quantity")
    fill(plan, src, dst, {(field["project"], "result", field["indicator"]): 0.001})
    return dst


def _drop_department_from_master(master: Path, department: str) -> None:
    """The coordinator removes a department from the master after the forms went out."""
    wb = load_workbook(master)
    ws = wb["担当課"]
    ws.delete_rows(next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == department))
    ws = wb["事業"]
    header = [c.value for c in ws[1]]
    col = header.index("担当課") + 1
    for r in range(2, ws.max_row + 1):
        value = ws.cell(r, col).value or ""
        if department in value:
            ws.cell(r, col).value = "、".join(d for d in value.split("、") if d != department)
    wb.save(master)


@pytest.fixture
def every_status(project, generated, tmp_path):
    """A year in which every status occurs, collected into the project's archive.
    Returns (plan, {status code: file name or department})."""
    plan, files = generated
    inbox = project.inbox
    fill(plan, files["健康づくり課"].path, inbox / "健康づくり課.xlsx")                        # submitted
    _far_from_target(plan, files["児童保育課"].path, inbox / "児童保育課.xlsx")              # check
    fill(plan, files["福祉課"].path, inbox / "福祉課.xlsx", {("2-2-1", "eval_score", None): 6})  # fix
    _fill_saved(plan, files["福祉課"].path, inbox / "福祉課_下書き.xlsx", 3)                # not-used
    (inbox / "壊れた.xlsx").write_bytes(b"this is not a workbook")                          # unreadable
    r5 = generate(plan.with_year("R5"), tmp_path / "r5", project.settings, departments=["長寿社会課"])
    fill(plan.with_year("R5"), r5[0].path, inbox / "長寿社会課_R5.xlsx")                     # other-year
    other = dataclasses.replace(plan, plan_id="another-plan")
    op = generate(other, tmp_path / "op", project.settings, departments=["社会福祉協議会"])
    fill(other, op[0].path, inbox / "社会福祉協議会_別計画.xlsx")                              # other-plan
    fill(plan, files["学校教育課"].path, inbox / "学校教育課.xlsx")                           # unknown-department
    _drop_department_from_master(project.master, "学校教育課")
    plan = load_plan(project.master)
    collect(Archive.for_settings(project.settings), [inbox], project.settings, plan)
    where = {"submitted": "健康づくり課.xlsx", "check": "児童保育課.xlsx", "fix": "福祉課.xlsx",
             "missing": "長寿社会課", "not-used": "福祉課_下書き.xlsx", "unreadable": "壊れた.xlsx",
             "other-year": "長寿社会課_R5.xlsx", "other-plan": "社会福祉協議会_別計画.xlsx",
             "unknown-department": "学校教育課.xlsx"}
    return plan, where


def _by_file(rows) -> dict[str, str]:
    """file name (or department without a file) → status word, from status rows."""
    return {(r["提出ファイル"] or r["担当課"]): r["状況"] for r in rows}


def _cli_rows(stdout: str) -> list[dict]:
    rows = []
    for line in stdout.splitlines()[1:]:
        parts = re.split(r"\s{2,}", line.strip(), maxsplit=3)
        if parts[0].startswith("※"):
            continue
        file = re.split(r"（保存| \(saved", parts[3])[0] if len(parts) > 3 else ""
        rows.append({"担当課": parts[0], "状況": parts[1], "提出ファイル": file})
    return rows


# --- one vocabulary: every status × every view × both languages ---------------------------


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.slow
def test_every_status_reads_the_same_in_the_cli(project, every_status, lang):
    plan, where = every_status
    r = run_cli("status", "--project", str(project.root), env={"XLPLAN_LANG": lang})
    assert r.returncode == 0, r.stderr
    shown = _by_file(_cli_rows(r.stdout))
    for code, key in where.items():
        assert shown[key] == EXPECTED[code][lang == "en"], (code, r.stdout)
    if lang == "en":  # no Japanese but the user's data (names of files and departments)
        words = {w for row in _cli_rows(r.stdout) for w in (row["状況"],)}
        assert not any(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", w) for w in words)


@pytest.mark.slow
def test_every_status_reads_the_same_in_the_panel_the_workbook_and_the_csv(project, every_status, tmp_path):
    """The panel and the merged workbook are Japanese documents: their words are the CLI's
    Japanese words, from the same rows."""
    plan, where = every_status
    archive = Archive.for_settings(project.settings)
    panel = {(r[STATUS_HEADER.index("ファイル")] or r[0]): r[1]
             for r in _status_rows(plan, archive, project.settings)}
    out = write_merged(archive, plan, project.settings, tmp_path / "集計.xlsx", csv_dir=tmp_path / "csv")
    ws = load_workbook(out, read_only=True)["提出状況"]
    values = [list(r) for r in ws.iter_rows(values_only=True)]
    book = _by_file(dict(zip(values[0], r)) for r in values[1:])
    with open(tmp_path / "csv" / "提出状況.csv", encoding="utf-8-sig", newline="") as fh:
        csv_rows = _by_file(csv.DictReader(fh))
    tables = _by_file(merged_tables(archive, plan).status.to_dict("records"))
    for code, key in where.items():
        word = EXPECTED[code][0]
        assert panel[key] == book[key] == csv_rows[key] == tables[key] == word, code


# --- item 6: every submission with its ID --------------------------------------------------


@pytest.mark.slow
def test_status_lists_every_submission_with_its_id_in_cli_panel_and_workbook(project, generated, tmp_path):
    plan, files = generated
    draft = _fill_saved(plan, files["福祉課"].path, project.inbox / "福祉課_下書き.xlsx", 2)
    fill(plan, files["福祉課"].path, project.inbox / "福祉課_最終.xlsx", {("2-2-1", "eval_score", None): 5})
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    ids = {s.original_name: s.id for s in archive.submissions(plan.year.short)}
    assert draft.name in ids and len(ids) == 2

    r = run_cli("status", "--project", str(project.root))
    lines = [x for x in r.stdout.splitlines() if "福祉課_" in x]
    assert len(lines) == 2
    assert f"ID {ids['福祉課_最終.xlsx']}" in lines[0] and "［使用］" in lines[0]
    assert f"ID {ids['福祉課_下書き.xlsx']}" in lines[1] and "集計に使わない版" in lines[1]

    panel = [r for r in _status_rows(plan, archive, project.settings) if r[0] == "福祉課"]
    assert [(r[2], r[3]) for r in panel] == [(ids["福祉課_最終.xlsx"], "福祉課_最終.xlsx"),
                                              (ids["福祉課_下書き.xlsx"], "福祉課_下書き.xlsx")]
    status = merged_tables(archive, plan).status
    rows = status[status["担当課"] == "福祉課"]
    assert list(rows["ID"]) == [ids["福祉課_最終.xlsx"], ids["福祉課_下書き.xlsx"]]
    assert list(rows["集計"]) == ["使用", ""]


# --- item 7: the pinned choice, what it hides, and lifting it --------------------------------


@pytest.mark.slow
def test_a_pinned_choice_names_newer_arrivals_and_choose_latest_lifts_it(project, generated, tmp_path):
    plan, files = generated
    root = str(project.root)
    _fill_saved(plan, files["福祉課"].path, project.inbox / "福祉課_1.xlsx", 3)
    _fill_saved(plan, files["福祉課"].path, project.inbox / "福祉課_2.xlsx", 2, {("2-2-1", "eval_score", None): 6})
    assert run_cli("collect", str(project.inbox), "--project", root).returncode == 1
    archive = Archive.for_settings(project.settings)
    ids = {s.original_name: s.id for s in archive.submissions(plan.year.short)}
    r = run_cli("choose", "--department", "福祉課", "--submission", str(ids["福祉課_1.xlsx"]), "--project", root)
    assert r.returncode == 0, r.stderr
    assert "--latest" in r.stdout and "［使用（指定）］" in r.stdout

    # The department sends a corrected copy (the return copy, fixed): collected later.
    corrected = tmp_path / "mail" / "差し戻し_福祉課_修正済.xlsx"
    fill(plan, files["福祉課"].path, corrected, {("2-2-1", "eval_score", None): 4})
    r = run_cli("collect", str(corrected), "--project", root)
    assert r.returncode == 0, r.stdout + r.stderr
    fixed = {s.original_name: s.id for s in archive.submissions(plan.year.short)}["差し戻し_福祉課_修正済.xlsx"]
    note = next(x for x in r.stdout.splitlines() if "※" in x)
    assert f"より新しい提出 ID {ids['福祉課_2.xlsx']}, {fixed}" in note
    assert "xlplan choose --department 福祉課 --latest" in note
    assert archive.current(plan)["福祉課"].id == ids["福祉課_1.xlsx"]  # the pin still holds

    r = run_cli("status", "--project", root, env={"XLPLAN_LANG": "en"})
    assert "[used (chosen)]" in r.stdout and f"newer submission ID {ids['福祉課_2.xlsx']}, {fixed}" in r.stdout

    # The panel's collect button says so too.
    panel = build_panel(tmp_path / "panel" / PANEL_NAME, **project_defaults(project.root))
    run("collect", FilePanel(panel))
    message = load_workbook(panel)["状況"]["A2"].value
    assert "※ 福祉課:" in message and "--latest" in message

    r = run_cli("choose", "--department", "福祉課", "--latest", "--project", root)
    assert r.returncode == 0, r.stderr
    assert "指定を解除しました" in r.stdout and "※" not in r.stdout
    assert archive.current(plan)["福祉課"].id == fixed
    r = run_cli("choose", "--department", "福祉課", "--latest", "--project", root)
    assert r.returncode == 0 and "指定がありません" in r.stdout
    r = run_cli("choose", "--department", "福祉課", "--project", root)
    assert r.returncode == 2 and "Traceback" not in r.stderr


# --- item 13: local date-times --------------------------------------------------------------


def _expected_local(utc_text: str, zone: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(utc_text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None, microsecond=0)


@pytest.mark.parametrize("zone", [None, "Europe/Berlin"])
@pytest.mark.slow
def test_times_are_local_date_times_in_workbook_cli_and_panel(project, generated, tmp_path, zone):
    plan, files = generated
    if zone is not None:
        text = project.settings.path.read_text(encoding="utf-8")
        project.settings.path.write_text(text.replace('timezone = "Asia/Tokyo"', f'timezone = "{zone}"'),
                                         encoding="utf-8")
    settings = load_settings(project.settings.path)
    zone = zone or "Asia/Tokyo"
    assert settings.timezone == zone
    fill(plan, files["福祉課"].path, project.inbox / "福祉課.xlsx")
    archive = Archive.for_settings(settings)
    collect(archive, [project.inbox], settings, plan)
    sub = archive.submissions(plan.year.short)[0]
    saved, collected = _expected_local(sub.last_saved, zone), _expected_local(sub.collected_at, zone)

    out = write_merged(archive, plan, settings, tmp_path / "集計.xlsx", csv_dir=tmp_path / "csv")
    ws = load_workbook(out)["提出状況"]
    head = [c.value for c in ws[1]]
    row = next(r for r in ws.iter_rows(min_row=2) if r[head.index("担当課")].value == "福祉課")
    for name, expected in (("最終保存", saved), ("回収日時", collected)):
        cell = row[head.index(name)]
        assert cell.is_date and cell.value == expected, name  # a date cell, sortable
        assert "yy" in cell.number_format and "hh:mm" in cell.number_format
    with open(tmp_path / "csv" / "提出状況.csv", encoding="utf-8-sig", newline="") as fh:
        csv_row = next(r for r in csv.DictReader(fh) if r["担当課"] == "福祉課")
    assert csv_row["最終保存"] == str(saved)

    shown = saved.strftime("%Y-%m-%d %H:%M")
    r = run_cli("status", "--project", str(project.root))
    assert f"保存 {shown}" in r.stdout and "+00:00" not in r.stdout
    panel = next(r for r in _status_rows(plan, archive, settings) if r[0] == "福祉課")
    assert panel[STATUS_HEADER.index("保存")] == shown


@pytest.mark.slow
def test_an_unknown_timezone_is_a_settings_message(project):
    text = project.settings.path.read_text(encoding="utf-8")
    project.settings.path.write_text(text.replace('timezone = "Asia/Tokyo"', 'timezone = "Tokio"'),
                                     encoding="utf-8")
    with pytest.raises(SettingsError, match="timezone「Tokio」"):
        load_settings(project.settings.path)
    r = run_cli("status", "--project", str(project.root))
    assert r.returncode == 2 and "Tokio" in r.stderr and "Traceback" not in r.stderr


def test_a_settings_file_without_timezone_uses_asia_tokyo(project):
    text = project.settings.path.read_text(encoding="utf-8")
    project.settings.path.write_text(re.sub(r"(?m)^timezone = .*\n", "", text), encoding="utf-8")
    assert load_settings(project.settings.path).timezone == "Asia/Tokyo"


def test_submission_status_lines_carry_every_version(project, generated):
    plan, files = generated
    fill(plan, files["福祉課"].path, project.inbox / "a.xlsx")
    _fill_saved(plan, files["福祉課"].path, project.inbox / "b.xlsx", 1)
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    lines, others = submission_status(archive, plan)
    line = next(x for x in lines if x.department == "福祉課")
    assert line.submission.original_name == "a.xlsx" and [s.original_name for s in line.others] == ["b.xlsx"]
    assert not line.pinned and others == []


def test_readme_shows_status_and_choose_as_they_work():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### 提出状況と選択", 1)[1].split("\n## ", 1)[0]
    block = section.split("$ xlplan status\n", 1)[1].split("```", 1)[0]
    for ja, en in EXPECTED.values():  # the vocabulary, both languages
        assert ja.split("（")[0] in section and en.split(" (")[0] in section, (ja, en)
    assert "xlplan choose --department 健康づくり課 --latest" in block and "［使用（指定）］" in block
    for line in block.splitlines()[1:]:  # the lines have the shape the CLI prints
        if "ID " in line and not line.strip().startswith("※"):
            assert re.match(r"^  \S.*?\s{2,}\S.*?\s{2,}ID \d+  .+（保存 ", line), line
