"""Collecting, archiving, merging and sending back: what a coordinator would notice.

Returned files are filled here with openpyxl (standing in for Excel on the departments' PCs),
collected into a project's archive, merged into the coordinator's workbook and CSV files, and
turned into 差し戻し copies. The command line is exercised in subprocesses, as a user runs it.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import itertools
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from python_calamine import CalamineWorkbook

from xlplan import files as files_mod
from xlplan.archive import Archive, submission_status
from xlplan.collect import collect
from xlplan.check import check_files
from xlplan.files import atomic_write
from xlplan.merge import layout as merge_layout
from xlplan.merge import tables as merge_tables
from xlplan.merge import writer as merge_writer
from xlplan.merge import VALUE_COLUMNS, merged_tables, write_merged
from xlplan.read import read_returned
from xlplan.fiscal import parse_fiscal_year
from xlplan.metadata import METADATA_SHEET, unverified_metadata
from xlplan.simulate import fill_workbook

PDF_CHECK_DIR = Path("/tmp/xlplan-pdf-check")
TABLE_SHEETS = ["提出状況", "要確認", "一覧", "指標", "基本目標別", "推移", "入力値"]


# --- helpers ------------------------------------------------------------------------------


def _fields(wb) -> list[dict]:
    """The input cells of a generated workbook (openpyxl), as their stored JSON form."""
    rows = [list(r) for r in wb[METADATA_SHEET].iter_rows(values_only=True)]
    return [f.to_dict() for f in unverified_metadata(rows).fields]


def _target_value(plan, field: dict):
    """The plan's target value for an input cell's indicator and year (None if there is none)."""
    project = plan.project(field["project"])
    if not project or field["indicator"] is None:
        return None
    indicator = next((i for i in project.indicators if i.no == field["indicator"]), None)
    target = indicator.target_for(parse_fiscal_year(field["year"])) if indicator else None
    return target.value if target else None


def _good(plan, field: dict):
    """A value that raises no finding: the target for indicators, plain words for the rest."""
    kind = field["kind"]
    if kind in ("quantity", "percent"):
        target = _target_value(plan, field)
        return target if isinstance(target, (int, float)) and target else 1
    if kind == "milestone":
        return "実施"
    if kind == "score":
        return 4
    if kind == "choice":
        return "継続"
    return f"{field['label']}を記入しました。"


def fill(plan, src: Path, dst: Path, values: dict | None = None, texts: dict | None = None) -> list[dict]:
    """Fill every input of ``src`` into ``dst`` with clean values.

    ``values`` maps (project, field, indicator) to what a department typed; ``texts`` does the
    same for text typed with a leading apostrophe (stored as text even when it starts with =).
    Returns the field specs of the workbook.
    """
    values, texts = values or {}, texts or {}
    dst.parent.mkdir(parents=True, exist_ok=True)
    wb = load_workbook(src)
    fields = _fields(wb)
    for f in fields:
        key = (f["project"], f["field"], f["indicator"])
        cell = wb[f["sheet"]][f["cell"]]
        if key in texts:
            cell.value = texts[key]
            cell.data_type = "s"
        else:
            cell.value = values.get(key, _good(plan, f))
    wb.save(dst)
    return fields


def _spec(fields: list[dict], project: str, field: str, indicator=None) -> dict:
    return next(f for f in fields if (f["project"], f["field"], f["indicator"]) == (project, field, indicator))


def run_cli(*args, env=None, cwd=None):
    """The real console entry point in a subprocess."""
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("XLPLAN_DEBUG", None)
    full_env.setdefault("XLPLAN_LANG", "ja")
    return subprocess.run([sys.executable, "-m", "xlplan.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300)


def _db_rows(archive: Archive, sql: str, params=()):
    with sqlite3.connect(archive.db_path) as db:
        return db.execute(sql, params).fetchall()


def _sheet_values(path: Path) -> dict[str, list[list]]:
    book = CalamineWorkbook.from_path(str(path))
    try:
        return {name: book.get_sheet_by_name(name).to_python(skip_empty_area=False)
                for name in book.sheet_names}
    finally:
        book.close()


def _sheet_part(path: Path, title: str) -> str:
    """The XML of one worksheet of a workbook, found through workbook.xml and its relations."""
    with zipfile.ZipFile(path) as z:
        book = z.read("xl/workbook.xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
        rid = next(m.group(2) for m in re.finditer(r'<sheet\b[^>]*name="([^"]*)"[^>]*r:id="([^"]+)"', book)
                   if m.group(1) == title)
        rel = re.search(rf'<Relationship\b[^>]*Id="{rid}"[^>]*/>', rels).group(0)
        target = re.search(r'Target="([^"]+)"', rel).group(1)
        part = target.lstrip("/") if target.startswith("/") else "xl/" + target
        return z.read(part).decode()


@pytest.fixture
def filled(project, generated, tmp_path):
    """Clean returns of every department in a staging folder: {department: path}."""
    plan, files = generated
    out = {}
    for department, g in files.items():
        out[department] = tmp_path / "clean" / f"{department}.xlsx"
        fill(plan, g.path, out[department])
    return out


# --- 1. collect records every file, once ------------------------------------------------


def test_collect_archives_every_file_and_is_idempotent(project, generated):
    plan, files = generated
    inbox = project.inbox
    # A 長寿社会課 workbook under a name that says 福祉課: the signed metadata decides.
    fill(plan, files["長寿社会課"].path, inbox / "福祉課_R6最終.xlsx")
    fill(plan, files["児童保育課"].path, inbox / "R6_児童保育課.xlsx")
    (inbox / "送付状.txt").write_text("各課の評価シートを送付します。", encoding="utf-8")
    (inbox / "~$x.xlsx").write_bytes(b"\x00lock owner\x00" * 10)
    (inbox / "福祉課.xlsx").write_text("事業,実績\n1-1-1,10\n", encoding="utf-8")  # a CSV renamed
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in inbox.iterdir()}

    archive = Archive.for_settings(project.settings)
    first = collect(archive, [inbox], project.settings, plan)
    # Excel's lock file is not a returned file; the cover letter is listed as 対象外, not read.
    assert first.total_files == 3
    assert sorted(s.original_name for s in first.new) == sorted(
        ["福祉課_R6最終.xlsx", "R6_児童保育課.xlsx", "福祉課.xlsx"])
    assert [(f.code, f.file) for f in first.notices] == [("file-skipped", "送付状.txt")]
    assert first.known == []
    by_name = {s.original_name: s for s in first.new}
    assert by_name["福祉課_R6最終.xlsx"].department == "長寿社会課"
    assert by_name["R6_児童保育課.xlsx"].department == "児童保育課"
    assert by_name["福祉課_R6最終.xlsx"].errors == 0 and by_name["R6_児童保育課.xlsx"].errors == 0

    second = collect(archive, [inbox], project.settings, plan)
    assert second.new == [] and second.total_files == 3
    assert sorted(second.known) == sorted(by_name)
    subs = archive.submissions(plan.year.short)
    assert len(subs) == 3 and len({s.sha256 for s in subs}) == 3
    assert len(_db_rows(archive, "SELECT * FROM sightings")) == 3
    assert "~$x.xlsx" not in {s.original_name for s in subs}

    for s in subs:
        stored = project.root / s.archived_path
        suffix = Path(s.original_name).suffix.lower()
        assert stored == project.root / "archive" / s.sha256[:2] / f"{s.sha256}{suffix}"
        assert stored.read_bytes() == before[s.original_name][0]
    assert not list((project.root / "archive").rglob("*.part"))  # no half-copied .part files
    # The inbox is only ever read.
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in inbox.iterdir()}
    assert after == before

    # Unreadable files are archived too, each with its finding; nothing is lost.
    for name in ("福祉課.xlsx",):
        s = by_name[name]
        assert not s.readable and s.department == "" and s.errors == 1
        assert [f.code for f in archive.findings([s.id])] == ["unreadable-file"]
        assert archive.values([s.id]) == []
    lines, others = submission_status(archive, plan)
    status = {line.department: line.status for line in lines}
    assert status["長寿社会課"] == "提出済" and status["児童保育課"] == "提出済"
    assert status["福祉課"] == "未提出"  # the misleading file name does not count for 福祉課
    assert sorted(s.original_name for s in others) == ["福祉課.xlsx"]


# --- 2. resubmission ----------------------------------------------------------------------


@pytest.mark.slow
def test_newer_version_wins_even_when_collected_first_and_choose_overrides(project, generated, tmp_path):
    plan, files = generated
    src = files["福祉課"].path
    newer, older = project.inbox / "福祉課_修正版.xlsx", project.inbox / "福祉課.xlsx"
    fill_workbook(src, newer, plan, random.Random(1), mistakes=0)
    two_days_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)
    fill_workbook(src, tmp_path / "old.xlsx", plan, random.Random(2), mistakes=2, saved_at=two_days_ago)
    archive = Archive.for_settings(project.settings)
    collect(archive, [newer], project.settings, plan)
    shutil.copy2(tmp_path / "old.xlsx", older)  # the old mail attachment found later
    summary = collect(archive, [project.inbox], project.settings, plan)
    assert [s.original_name for s in summary.new] == ["福祉課.xlsx"]
    assert summary.known == ["福祉課_修正版.xlsx"]

    subs = {s.original_name: s for s in archive.submissions(plan.year.short)}
    assert subs["福祉課.xlsx"].last_saved < subs["福祉課_修正版.xlsx"].last_saved
    assert archive.current(plan)["福祉課"].original_name == "福祉課_修正版.xlsx"
    line = next(x for x in submission_status(archive, plan)[0] if x.department == "福祉課")
    assert line.submissions == 2 and line.submission.original_name == "福祉課_修正版.xlsx"

    archive.choose(plan.year.short, "福祉課", subs["福祉課.xlsx"].id)
    assert archive.current(plan)["福祉課"].id == subs["福祉課.xlsx"].id
    lines, others = submission_status(archive, plan)
    line = next(x for x in lines if x.department == "福祉課")
    assert line.submissions == 2 and line.submission.original_name == "福祉課.xlsx"
    assert others == []  # the one not chosen is a department's older version, not "対象外"
    # The merge follows the choice.
    status = merged_tables(archive, plan).status
    rows = status[status["担当課"] == "福祉課"]
    # Every version is listed: the chosen one counts (marked), the other is not used.
    assert list(zip(rows["提出ファイル"], rows["集計"], rows["状況"])) == [
        ("福祉課.xlsx", "使用（指定）", "要修正"), ("福祉課_修正版.xlsx", "", "集計に使わない版")]


def test_newest_is_decided_by_saved_time_not_by_how_the_time_is_written(project, generated, tmp_path):
    """The last-saved time of a file may carry an offset (+09:00) instead of Z; the newer
    instant must still win."""
    plan, files = generated
    src = files["福祉課"].path
    a, b = project.inbox / "a.xlsx", project.inbox / "b.xlsx"
    fill(plan, src, a, {("2-2-1", "eval_score", None): 3})
    fill(plan, src, b, {("2-2-1", "eval_score", None): 5})
    # a: two minutes ago in UTC written as Z; b: three minutes ago written in JST (+09:00):
    # its text sorts after a's, its instant before (both plausible: after the generation).
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    jst = dt.timezone(dt.timedelta(hours=9))
    stamp_a = (now - dt.timedelta(minutes=2)).replace(tzinfo=None).isoformat() + "Z"
    stamp_b = (now - dt.timedelta(minutes=3)).astimezone(jst).isoformat()
    assert stamp_b > stamp_a
    for path, stamp in ((a, stamp_a.encode()), (b, stamp_b.encode())):
        tmp = path.with_suffix(".tmp")
        with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                data = zin.read(info.filename)
                if info.filename == "docProps/core.xml":
                    data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                                  rb"\g<1>" + stamp + rb"\g<2>", data)
                zout.writestr(info, data)
        os.replace(tmp, path)
    assert read_returned(b, project.settings.key_bytes).last_saved < read_returned(
        a, project.settings.key_bytes).last_saved
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    assert archive.current(plan)["福祉課"].original_name == "a.xlsx"


# --- 3. a department that sent nothing ---------------------------------------------------


@pytest.mark.slow
def test_missing_department_is_shown_everywhere(project, generated, filled):
    plan, _ = generated
    for department, path in filled.items():
        if department != "学校教育課":
            shutil.copy2(path, project.inbox / path.name)
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    lines, _ = submission_status(archive, plan)
    line = next(x for x in lines if x.department == "学校教育課")
    assert line.status == "未提出" and line.submission is None and line.submissions == 0
    assert {x.status for x in lines if x.department != "学校教育課"} == {"提出済"}
    tables = merged_tables(archive, plan)
    row = tables.status[tables.status["担当課"] == "学校教育課"]
    assert row["状況"].tolist() == ["未提出"] and row["提出ファイル"].tolist() == [""]
    overview = tables.overview[tables.overview["担当課"] == "学校教育課"]
    assert len(overview) == 1 and overview["令和6年度実績"].tolist() == ["（未提出）"]
    assert overview["達成度"].tolist() == [None]
    # The other department of the same project is there with its entries.
    other = tables.overview[(tables.overview["事業"].str.startswith("1-1-1"))
                            & (tables.overview["担当課"] == "社会福祉協議会")]
    assert other["達成度"].tolist() == [4]
    goals = tables.goals.set_index(["区分", "番号"])
    assert goals.loc[("基本目標", "1"), "提出済"] == 2 and goals.loc[("基本目標", "1"), "担当課数（延べ）"] == 3


# --- 4. a collect run killed half-way -----------------------------------------------------

# A real collect in its own process, killed (os._exit: no clean-up, no finally) when the third
# file's turn comes, i.e. after two files were recorded. The kill goes through collect's
# progress callback, which is called before each file is checked and recorded.
_KILLED_COLLECT = """
import os, sys
from pathlib import Path
from xlplan.archive import Archive
from xlplan.collect import collect
from xlplan.plan import load_plan
from xlplan.settings import find_settings

project, inbox = Path(sys.argv[1]), Path(sys.argv[2])
settings = find_settings(project)
plan = load_plan(settings.master)

def kill_at_the_third(index, total, path):
    if index > 2:
        os._exit(99)

collect(Archive.for_settings(settings), [inbox], settings, plan, progress=kill_at_the_third)
"""


@pytest.mark.slow
def test_killed_collect_leaves_a_consistent_database_and_rerun_completes(project, generated, filled):
    plan, _ = generated
    names = ["児童保育課", "健康づくり課", "学校教育課", "福祉課", "長寿社会課"]
    for department in names:
        shutil.copy2(filled[department], project.inbox / f"{department}.xlsx")
    # One file with mistakes, so that findings are recorded too.
    spec_path = project.inbox / "健康づくり課.xlsx"
    fill(plan, generated[1]["健康づくり課"].path, spec_path,
         {("3-1-1", "eval_score", None): 6, ("3-1-1", "direction", None): "継続する"})
    r = subprocess.run([sys.executable, "-c", _KILLED_COLLECT, str(project.root), str(project.inbox)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 99, r.stderr
    archive = Archive.for_settings(project.settings)
    assert _db_rows(archive, "PRAGMA integrity_check") == [("ok",)]
    assert _db_rows(archive, "PRAGMA foreign_key_check") == []
    subs = archive.submissions(plan.year.short)
    assert len(subs) == 2
    expected = check_files([project.inbox], project.settings, plan)
    for s in subs:
        # Every recorded submission is complete: all of its findings and values.
        findings = [f for f in expected.findings if f.file == s.original_name]
        assert [(f.code, f.cell) for f in archive.findings([s.id])] == [(f.code, f.cell) for f in findings]
        values = archive.values([s.id])
        assert len(values) == int((expected.values["file"] == s.original_name).sum()) > 0
        assert s.errors == sum(f.severity == "error" for f in findings)
        assert (project.root / s.archived_path).exists()
    assert {s.original_name for s in subs} == {"健康づくり課.xlsx", "児童保育課.xlsx"}
    assert archive.findings([s.id for s in subs])  # 健康づくり課 had mistakes

    r = run_cli("collect", str(project.inbox), "--project", str(project.root))
    assert r.returncode == 0, r.stdout + r.stderr  # the new files are clean; 健康づくり課 is known
    assert "記録のみ: 2 ファイル" in r.stdout
    subs = archive.submissions(plan.year.short)
    assert len(subs) == 5 and len({s.sha256 for s in subs}) == 5
    assert sorted(s.original_name for s in subs) == sorted(f"{d}.xlsx" for d in names)
    assert len(_db_rows(archive, "SELECT * FROM files")) == 5
    total_values = _db_rows(archive, "SELECT COUNT(*) FROM cell_values")[0][0]
    assert total_values == len(expected.values)
    assert _db_rows(archive, "SELECT COUNT(*) FROM findings")[0][0] == len(expected.findings)
    assert "Traceback" not in r.stderr


# --- 5. merging is deterministic ----------------------------------------------------------


@pytest.mark.slow
def test_merge_twice_gives_identical_tables_and_workbooks(project, generated, filled, tmp_path):
    plan, files = generated
    for department, path in filled.items():
        if department != "福祉課":
            shutil.copy2(path, project.inbox / path.name)
    fill_workbook(files["福祉課"].path, project.inbox / "福祉課_誤りあり.xlsx", plan,
                  random.Random(7), mistakes=3)
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    one, two = merged_tables(archive, plan), merged_tables(archive, plan)
    for name in ("status", "findings", "overview", "indicators", "goals", "trend", "values"):
        a, b = getattr(one, name), getattr(two, name)
        assert a.equals(b), name
        assert len(a.columns) and a.columns.tolist() == b.columns.tolist()
    assert len(one.findings) > 0
    first = write_merged(archive, plan, project.settings, tmp_path / "a" / "集計.xlsx")
    second = write_merged(archive, plan, project.settings, tmp_path / "b" / "集計.xlsx")
    va, vb = _sheet_values(first), _sheet_values(second)
    assert list(va) == list(vb) and len(va) == len(TABLE_SHEETS) + len(plan.projects)
    for sheet in va:
        assert va[sheet] == vb[sheet], sheet


# --- 6. text that looks like a formula ---------------------------------------------------


FORMULA_TEXTS = {
    ("3-1-1", "eval_result", None): '=HYPERLINK("http://x","x")',
    ("3-1-1", "eval_comment", None): "@SUM(A1)",
    ("3-1-1", "next_plan", None): "+81-3",
    ("3-1-1", "achievement", None): "=1+1",
}


@pytest.mark.slow
def test_text_that_looks_like_rich_string_xml_stays_text(project, generated, tmp_path):
    """XlsxWriter writes '<r>…</r>' text unescaped as rich-string XML: typed by a department it
    must still come out as that text, in a workbook every reader opens."""
    plan, files = generated
    typed = {("3-1-1", "achievement", None): "<r>課題</r>",
             ("3-1-1", "eval_comment", None): "<r><t>x</t></r>"}
    fill(plan, files["健康づくり課"].path, project.inbox / "健康づくり課.xlsx", texts=typed)
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    out = tmp_path / "集計.xlsx"
    write_merged(archive, plan, project.settings, out)
    values = _sheet_values(out)  # python-calamine
    project_sheet = next(n for n in values if n.startswith("3-1-1"))
    assert "<r>課題</r>" in {v for r in values[project_sheet] for v in r}
    everywhere = {v for rows in values.values() for r in rows for v in r}
    assert set(typed.values()) <= everywhere
    wb = load_workbook(out)  # openpyxl parses every sheet's XML
    assert "<r>課題</r>" in {c.value for row in wb[project_sheet].iter_rows() for c in row}


@pytest.mark.slow
def test_formula_like_text_stays_text_in_workbook_and_csv(project, generated, tmp_path):
    plan, files = generated
    fields = fill(plan, files["健康づくり課"].path, project.inbox / "健康づくり課.xlsx",
                  values={("3-1-1", "result", 1): -3}, texts=FORMULA_TEXTS)
    archive = Archive.for_settings(project.settings)
    [sub] = collect(archive, [project.inbox], project.settings, plan).new
    assert "formula-in-input" not in {f.code for f in archive.findings([sub.id])}
    out = tmp_path / "集計.xlsx"
    write_merged(archive, plan, project.settings, out, csv_dir=tmp_path / "csv")
    values = _sheet_values(out)
    texts = set(FORMULA_TEXTS.values())

    overview = values["一覧"]
    header = overview[0]
    row = next(r for r in overview if r[header.index("担当課")] == "健康づくり課")
    assert row[header.index("令和6年度実績")] == '=HYPERLINK("http://x","x")'
    assert row[header.index("評価")] == "@SUM(A1)"
    assert row[header.index("令和7年度計画")] == "+81-3"
    project_sheet = next(n for n in values if n.startswith("3-1-1"))
    cells = {v for r in values[project_sheet] for v in r}
    assert "=1+1" in cells  # 達成状況と成果 on the 事業シート
    # No sheet holds any of them as a formula.
    for sheet in values:
        xml = _sheet_part(out, sheet)
        formulas = re.findall(r"<f\b[^>]*>([^<]*)</f>", xml)
        assert not [f for f in formulas if "HYPERLINK" in f or "SUM(A1)" in f or "81-3" in f
                    or f.strip() == "1+1"], sheet
    # The 事業シート's G10 is the indicator result -3 (a number, not text).
    spec = _spec(fields, "3-1-1", "result", 1)
    indicators = values["指標"]
    ih = indicators[0]
    irow = next(r for r in indicators if r[ih.index("担当課")] == "健康づくり課" and r[ih.index("指標")]
                == "産褥期の変化についてのヘルパー研修" and r[ih.index("年度")] == "R6")
    assert irow[ih.index("実績")] == -3 and irow[ih.index("実績（入力）")] == -3
    assert spec["cell"] == "G10"

    raw = (tmp_path / "csv" / "一覧.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    crow = next(r for r in rows if r[rows[0].index("担当課")] == "健康づくり課")
    assert crow[rows[0].index("令和6年度実績")] == "'" + '=HYPERLINK("http://x","x")'
    assert crow[rows[0].index("評価")] == "'@SUM(A1)"
    assert crow[rows[0].index("令和7年度計画")] == "'+81-3"
    rows = list(csv.reader((tmp_path / "csv" / "指標.csv").read_text(encoding="utf-8-sig").splitlines()))
    h = rows[0]
    crow = next(r for r in rows if r[h.index("担当課")] == "健康づくり課" and r[h.index("年度")] == "R6"
                and r[h.index("指標")] == "産褥期の変化についてのヘルパー研修")
    assert crow[h.index("実績")] == "-3" and crow[h.index("実績（入力）")] == "-3"
    assert crow[h.index("達成率")] == "-3.0"
    for name in TABLE_SHEETS:
        text = (tmp_path / "csv" / f"{name}.csv").read_text(encoding="utf-8-sig")
        for line in csv.reader(text.splitlines()):
            for value in line:
                assert value not in texts, (name, value)


# --- 6b. the streamed rows of the table sheets ----------------------------------------------
# The data rows of the table sheets (all but 要確認) are written as XML by xlplan and spliced
# into the workbook XlsxWriter saved: every kind of value must come out as XlsxWriter writes it.

SPLICED_ROWS = [  # (項目 (wrapped), 入力値, 値, 目標)
    ("一行目\n二行目\n三行目", "a&b<c>\"d'e", 1.5, True),
    ("制御\x01文字", "=1+1", -3, False),
    (" 前後に空白 ", "_x0041_", 12345678901234567890, None),
    ("😀" * 3, "x" * 40000, float("nan"), float("inf")),
]


def _spliced_row(department: str, row: tuple) -> dict:
    item, raw, value, target = row
    return {**dict.fromkeys(VALUE_COLUMNS), "担当課": department, "項目": item, "入力値": raw, "値": value,
            "目標": target}


@pytest.mark.slow
def test_streamed_rows_read_back_with_their_values_types_and_heights(project, generated, tmp_path,
                                                                   monkeypatch):
    plan, files = generated
    fill(plan, files["福祉課"].path, project.inbox / "福祉課.xlsx")
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    spec = merge_tables.SPECS_BY_NAME["入力値"]
    real_table = spec.table

    def values_table(source):
        real = real_table(source)
        rows = lambda: itertools.chain(real.rows(), (_spliced_row("福祉課", row) for row in SPLICED_ROWS))  # noqa: E731
        return merge_tables.Table(real.name, real.columns, rows)

    monkeypatch.setitem(merge_tables.SPECS_BY_NAME, "入力値", dataclasses.replace(spec, table=values_table))
    monkeypatch.setattr(merge_tables, "TABLE_SPECS",
                        [merge_tables.SPECS_BY_NAME[s.name] for s in merge_tables.TABLE_SPECS])
    out = write_merged(archive, plan, project.settings, tmp_path / "out" / "集計.xlsx")
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no row or splice file left behind
    cols = [VALUE_COLUMNS.index(n) for n in ("項目", "入力値", "値", "目標")]
    note = merge_writer._archived_note(_spliced_row("福祉課", SPLICED_ROWS[3]))  # names where the full text is
    cut = "x" * (32767 - len(note)) + note

    rows = _sheet_values(out)["入力値"]
    assert [[r[c] for c in cols] for r in rows[-4:]] == [
        ["一行目\n二行目\n三行目", "a&b<c>\"d'e", 1.5, True],
        ["制御␁文字", "=1+1", -3.0, False],  # a control character is shown as its mark
        [" 前後に空白 ", "_x0041_", 1.234567890123457e19, ""],
        ["😀" * 3, cut, "", "inf"]]
    assert type(rows[-4][cols[3]]) is bool and type(rows[-2][cols[2]]) is float

    ws = load_workbook(out)["入力値"]
    last = ws.max_row
    assert last == len(rows) and last > 5
    got = [[(ws.cell(r, c + 1).value, ws.cell(r, c + 1).data_type) for c in cols] for r in range(last - 3, last + 1)]
    # openpyxl keeps Excel's _xHHHH_ escapes as they are (calamine above undoes them).
    assert got == [
        [("一行目\n二行目\n三行目", "s"), ("a&b<c>\"d'e", "s"), (1.5, "n"), (True, "b")],
        [("制御␁文字", "s"), ("=1+1", "s"), (-3, "n"), (False, "b")],
        [(" 前後に空白 ", "s"), ("_x005F_x0041_", "s"), (1.234567890123457e19, "n"), (None, "n")],
        [("😀" * 3, "s"), (cut, "s"), (None, "n"), ("inf", "s")]]
    assert ws.row_dimensions[last - 3].height == 45  # three lines of 項目
    assert ws.row_dimensions[last].height is None
    assert ws.cell(last - 3, cols[2] + 1).alignment.horizontal == "center"  # the number look
    assert ws.cell(last - 3, cols[0] + 1).alignment.wrap_text
    assert ws.auto_filter.ref == f"A1:K{last}" and ws.freeze_panes == "A2"
    xml = _sheet_part(out, "入力値")
    assert f'<dimension ref="A1:K{last}"/>' in xml and "<f>" not in xml


def test_streamed_rows_match_the_xlsxwriter_path(tmp_path):
    """The same table written through the row stream and through XlsxWriter's own cells (the
    path without row files) reads back the same: values, types, looks, heights, ranges."""
    import xlsxwriter

    table = merge_tables.Table("入力値", VALUE_COLUMNS,
                            lambda: (_spliced_row(d, row) for d in ("A課", "B課") for row in SPLICED_ROWS))
    paths = {}
    for way in ("stream", "xlsxwriter"):
        paths[way] = tmp_path / way / "t.xlsx"
        paths[way].parent.mkdir()
        row_files = merge_writer.RowFiles(paths[way].parent)
        wb = xlsxwriter.Workbook(str(paths[way]), {"constant_memory": True, "strings_to_formulas": False})
        formats = merge_layout.Formats(wb)
        merge_writer.table_sheet(wb, formats, table, merge_tables.SPECS_BY_NAME["入力値"].widths, wrap=("項目",),
                                 titles=("題",), row_files=row_files if way == "stream" else None)
        wb.close()
        row_files.splice(paths[way])
        row_files.remove()
        assert [p.name for p in paths[way].parent.iterdir()] == ["t.xlsx"]
    stream, plain = _sheet_values(paths["stream"]), _sheet_values(paths["xlsxwriter"])
    assert stream == plain and len(stream["入力値"]) == 2 + 2 * len(SPLICED_ROWS)
    a, b = load_workbook(paths["stream"])["入力値"], load_workbook(paths["xlsxwriter"])["入力値"]
    assert a.max_row == b.max_row == 2 + 2 * len(SPLICED_ROWS)
    for ra, rb in zip(a.iter_rows(), b.iter_rows()):
        for x, y in zip(ra, rb):
            assert (x.value, x.data_type, x.number_format, x.font.name, x.font.b, x.alignment.horizontal,
                    x.alignment.vertical, x.alignment.wrap_text) == \
                   (y.value, y.data_type, y.number_format, y.font.name, y.font.b, y.alignment.horizontal,
                    y.alignment.vertical, y.alignment.wrap_text), x.coordinate
    assert {r: d.height for r, d in a.row_dimensions.items()} == {r: d.height for r, d in b.row_dimensions.items()}
    assert a.auto_filter.ref == b.auto_filter.ref == f"A2:K{a.max_row}"
    dimension = re.compile(r'<dimension ref="[^"]*"/>')
    assert dimension.search(_sheet_part(paths["stream"], "入力値")).group(0) == \
        dimension.search(_sheet_part(paths["xlsxwriter"], "入力値")).group(0) == f'<dimension ref="A1:K{a.max_row}"/>'


# --- 7. structure of the merged workbook -------------------------------------------------


@pytest.mark.slow
def test_merged_workbook_structure(project, generated, filled, tmp_path):
    plan, files = generated
    for department, path in filled.items():
        if department not in ("福祉課", "社会福祉協議会"):
            shutil.copy2(path, project.inbox / path.name)
    fields = fill(plan, files["福祉課"].path, project.inbox / "福祉課.xlsx",
                  {("2-2-1", "eval_score", None): 6, ("3-1-2", "result", 1): "たくさん"})
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    out = tmp_path / "集計" / "集計_R6.xlsx"
    assert write_merged(archive, plan, project.settings, out) == out
    wb = load_workbook(out)
    assert wb.sheetnames[:len(TABLE_SHEETS)] == TABLE_SHEETS
    assert len(wb.sheetnames) == len(TABLE_SHEETS) + len(plan.projects)
    assert [n.split(" ")[0] for n in wb.sheetnames[len(TABLE_SHEETS):]] == [p.id for p in plan.projects]
    assert not any(n.startswith("__template") for n in wb.sheetnames)

    ws = wb["要確認"]
    assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:")
    assert ws.freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    col_msg, col_sheet, col_cell = (header.index(n) + 1 for n in ("内容", "シート", "セル"))
    rows = list(range(2, ws.max_row + 1))
    assert len(rows) == 2
    expected = {(_spec(fields, "2-2-1", "eval_score")["sheet"], _spec(fields, "2-2-1", "eval_score")["cell"]),
                (_spec(fields, "3-1-2", "result", 1)["sheet"], _spec(fields, "3-1-2", "result", 1)["cell"])}
    seen = set()
    sub = archive.current(plan)["福祉課"]
    for r in rows:
        cell = ws.cell(r, col_msg)
        assert cell.hyperlink is not None
        # Relative, with Windows separators as Excel writes them.
        target = cell.hyperlink.target.replace("\\", "/")
        assert not os.path.isabs(target)
        assert (out.parent / target).resolve() == (project.root / sub.archived_path).resolve()
        sheet, ref = ws.cell(r, col_sheet).value, ws.cell(r, col_cell).value
        assert cell.hyperlink.location == f"'{sheet}'!{ref}"
        seen.add((sheet, ref))
    assert seen == expected

    for title in TABLE_SHEETS:
        assert wb[title].freeze_panes == "A2"
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
    # 基本目標別: average and distribution; 推移: the achievement-rate trend.
    charts = {n for n in names if re.fullmatch(r"xl/charts/chart\d+\.xml", n)}
    assert charts == {"xl/charts/chart1.xml", "xl/charts/chart2.xml", "xl/charts/chart3.xml"}
    drawing_rels = _sheet_part(out, "基本目標別")
    assert "<drawing" in drawing_rels

    overview = wb["一覧"]
    oh = [c.value for c in overview[1]]
    got = [(r[oh.index("事業")].split(" ")[0], r[oh.index("担当課")])
           for r in overview.iter_rows(min_row=2, values_only=True)]
    assert got == [(p.id, d) for p in plan.projects for d in p.departments]


@pytest.mark.slow
def test_findings_link_to_their_own_file_when_two_files_share_a_name(project, generated, tmp_path):
    """Two mails, both with 福祉課.xlsx attached: each finding links to the file it is about."""
    plan, files = generated
    (project.inbox / "mail1").mkdir()
    (project.inbox / "mail2").mkdir()
    fill(plan, files["福祉課"].path, project.inbox / "mail1" / "福祉課.xlsx",
         {("2-2-1", "eval_score", None): 6})
    (project.inbox / "mail2" / "福祉課.xlsx").write_text("not a workbook", encoding="utf-8")
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    subs = archive.submissions(plan.year.short)
    real = next(s for s in subs if s.readable)
    broken = next(s for s in subs if not s.readable)
    findings = merged_tables(archive, plan).findings
    stored = dict(zip(findings["コード"], findings["保管先"]))
    assert stored == {"score-out-of-range": real.archived_path, "unreadable-file": broken.archived_path}
    out = write_merged(archive, plan, project.settings, tmp_path / "集計.xlsx")
    ws = load_workbook(out)["要確認"]
    header = [c.value for c in ws[1]]
    for r in range(2, ws.max_row + 1):
        code = ws.cell(r, header.index("コード") + 1).value
        link = ws.cell(r, header.index("内容") + 1).hyperlink
        expected = real if code == "score-out-of-range" else broken
        target = link.target.replace("\\", "/")
        assert (out.parent / target).resolve() == (project.root / expected.archived_path).resolve()


# --- 8. values of 一覧, 指標 and 基本目標別 ------------------------------------------------


@pytest.mark.slow
def test_overview_indicator_and_goal_values_are_computed_from_what_was_typed(project, generated, tmp_path):
    plan, files = generated
    fukushi = {("2-2-1", "eval_score", None): 3, ("3-1-2", "eval_score", None): 5,
               ("3-2-1", "eval_score", None): 4, ("2-2-1", "result", 1): 30,
               ("3-1-2", "result", 1): 350, ("3-1-2", "result", 2): 80.5, ("3-2-1", "result", 1): 3,
               ("3-2-1", "result", 3): 2, ("3-2-1", "result", 2): "検討した"}
    choju = {("2-1-1", "eval_score", None): 2, ("2-1-2", "eval_score", None): 5,
             ("2-2-1", "eval_score", None): 4, ("3-2-2", "eval_score", None): 4}
    fill(plan, files["福祉課"].path, project.inbox / "福祉課.xlsx", fukushi)
    fill(plan, files["長寿社会課"].path, project.inbox / "長寿社会課.xlsx", choju)
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    tables = merged_tables(archive, plan)

    ov = tables.overview
    score = {(e.split(" ")[0], d): s for e, d, s in zip(ov["事業"], ov["担当課"], ov["達成度"])}
    assert score[("2-2-1", "福祉課")] == 3 and score[("3-1-2", "福祉課")] == 5
    assert score[("3-2-1", "福祉課")] == 4 and score[("2-1-1", "長寿社会課")] == 2
    assert score[("2-1-1", "社会福祉協議会")] is None

    ind = tables.indicators
    r6 = ind[(ind["担当課"] == "福祉課") & (ind["年度"] == "R6")]
    got = {(p, i): (v, rate) for p, i, v, rate in zip(r6["事業番号"], r6["指標"], r6["実績"], r6["達成率"])}
    assert got[("2-2-1", "活動を実施した行政区数")] == (30, round(30 / 33, 3)) == (30, 0.909)
    assert got[("3-1-2", "利用者登録数")] == (350, round(350 / 360, 3))
    assert got[("3-1-2", "就労者の定着率")] == (80.5, round(80.5 / 85, 3))
    assert got[("3-2-1", "利用についてのニーズ調査")] == (3, 0.75)
    assert got[("3-2-1", "指導員の研修参加")] == (2, 1.0)
    assert got[("3-2-1", "送迎ルートの見直し")] == ("検討した", None)
    # Only the evaluation year without a result for other years.
    assert set(ind["年度"]) == {"R6"}

    goals = tables.goals.set_index(["区分", "番号"])
    # 基本目標2: 2-1-1 長寿 2, 2-1-2 長寿 5, 2-2-1 長寿 4 and 福祉 3 (社協 not submitted).
    assert goals.loc[("基本目標", "2"), "平均達成度"] == round((2 + 5 + 4 + 3) / 4, 1) == 3.5
    # 基本目標3: 3-1-2 福祉 5, 3-2-1 福祉 4, 3-2-2 長寿 4 → 4.333 → 4.3.
    assert goals.loc[("基本目標", "3"), "平均達成度"] == round((5 + 4 + 4) / 3, 1) == 4.3
    assert goals.loc[("基本目標", "1"), "平均達成度"] is None
    assert goals.loc[("施策の方向性", "2-1"), "平均達成度"] == 3.5
    assert goals.loc[("基本目標", "3"), "達成度4"] == 2 and goals.loc[("基本目標", "3"), "達成度5"] == 1
    assert goals.loc[("基本目標", "2"), "継続"] == 4

    # The written workbook holds the same numbers.
    out = write_merged(archive, plan, project.settings, tmp_path / "集計.xlsx")
    sheets = _sheet_values(out)
    g = sheets["基本目標別"]
    gh = g[0]
    by = {(r[gh.index("区分")], r[gh.index("番号")]): r[gh.index("平均達成度")] for r in g[1:] if r[0]}
    assert by[("基本目標", "2")] == 3.5 and by[("基本目標", "3")] == 4.3
    ih = sheets["指標"][0]
    rate = {(r[ih.index("事業番号")], r[ih.index("指標")], r[ih.index("担当課")]): r[ih.index("達成率")]
            for r in sheets["指標"][1:]}
    assert rate[("2-2-1", "活動を実施した行政区数", "福祉課")] == 0.909


# --- 10. atomic_write falls back when the target is open ---------------------------------


def test_atomic_write_falls_back_to_numbered_name_when_target_is_locked(tmp_path, monkeypatch):
    target = tmp_path / "集計_R6.xlsx"
    target.write_bytes(b"open in Excel")
    real_replace = os.replace
    attempts = []

    def replace(src, dst):
        attempts.append(Path(dst).name)
        if Path(dst) == target:
            raise PermissionError(13, "locked", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(files_mod.os, "replace", replace)
    written = atomic_write(target, lambda p: Path(p).write_bytes(b"new content"))
    monkeypatch.undo()
    assert written == tmp_path / "集計_R6 (2).xlsx"
    assert attempts == ["集計_R6.xlsx", "集計_R6 (2).xlsx"]
    assert written.read_bytes() == b"new content"
    assert target.read_bytes() == b"open in Excel"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["集計_R6 (2).xlsx", "集計_R6.xlsx"]
    assert oct(written.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def test_atomic_write_leaves_no_temporary_file_when_every_name_is_locked(tmp_path, monkeypatch):
    def replace(src, dst):
        raise PermissionError(13, "locked", str(dst))

    monkeypatch.setattr(files_mod.os, "replace", replace)
    with pytest.raises(PermissionError, match="書き込めません"):
        atomic_write(tmp_path / "a.csv", lambda p: Path(p).write_text("x"))
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_merge_into_an_open_workbook_writes_beside_it(project, generated, filled, tmp_path, monkeypatch):
    plan, _ = generated
    shutil.copy2(filled["福祉課"], project.inbox / "福祉課.xlsx")
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    out = tmp_path / "集計.xlsx"
    out.write_bytes(b"locked")
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst) == out:
            raise PermissionError(13, "locked", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(files_mod.os, "replace", replace)
    written = write_merged(archive, plan, project.settings, out)
    monkeypatch.undo()
    assert written == tmp_path / "集計 (2).xlsx"
    assert load_workbook(written).sheetnames[:len(TABLE_SHEETS)] == TABLE_SHEETS
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["集計 (2).xlsx", "集計.xlsx"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- 11. the printed merged workbook ------------------------------------------------------


def _pdf_pages(pdf: Path) -> int:
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", out, re.M).group(1))


def _page_text(pdf: Path, page: int) -> str:
    return subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-layout", str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout


def test_merged_workbook_prints_through_libreoffice(libreoffice, project, generated, filled, tmp_path):
    plan, files = generated
    for department, path in filled.items():
        if department != "学校教育課":
            shutil.copy2(path, project.inbox / path.name)
    fill_workbook(files["学校教育課"].path, project.inbox / "学校教育課.xlsx", plan,
                  random.Random(3), mistakes=2)
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    out = write_merged(archive, plan, project.settings, tmp_path / "集計_R6.xlsx")
    pdf = libreoffice.to_pdf(out, tmp_path / "pdf")
    assert pdf.exists() and pdf.stat().st_size > 0
    pages = _pdf_pages(pdf)
    assert pages >= len(TABLE_SHEETS) + len(plan.projects)
    overview_page = next(n for n in range(1, pages + 1)
                         if "令和7年度事業名" in _page_text(pdf, n) and "今後の方向性" in _page_text(pdf, n)
                         and "担当課" in _page_text(pdf, n))
    text = _page_text(pdf, overview_page)
    assert "福祉教育推進事業" in text and "社会福祉協議会" in text
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", str(overview_page), "-l", str(overview_page),
                        "-singlefile", str(pdf), str(tmp_path / "overview")], check=True)
        PDF_CHECK_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tmp_path / "overview.png", PDF_CHECK_DIR / "merged-overview.png")


# --- 12. the command line -----------------------------------------------------------------


@pytest.mark.slow
def test_cli_collect_status_choose_merge_feedback(project, generated, filled, tmp_path):
    plan, files = generated
    root = str(project.root)
    for department in ("児童保育課", "健康づくり課", "福祉課", "長寿社会課", "社会福祉協議会"):
        shutil.copy2(filled[department], project.inbox / f"{department}.xlsx")
    r = run_cli("collect", str(project.inbox), "--project", root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "回収: 福祉課.xlsx → 福祉課" in r.stdout
    stderrs = [r.stderr]

    r = run_cli("status", "--project", root)
    assert r.returncode == 0
    line = next(x for x in r.stdout.splitlines() if "学校教育課" in x)
    assert "未提出" in line
    stderrs.append(r.stderr)

    # A new file with errors: exit 1; the same files again (all known): exit 0.
    bad = tmp_path / "mail" / "福祉課_再提出.xlsx"
    fill(plan, files["福祉課"].path, bad, {("2-2-1", "eval_score", None): 6})
    r = run_cli("collect", str(project.inbox), str(bad), "--project", root)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "回収: 福祉課_再提出.xlsx → 福祉課（エラー 1" in r.stdout
    stderrs.append(r.stderr)
    r = run_cli("collect", str(project.inbox), str(bad), "--project", root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "記録のみ: 6 ファイル" in r.stdout
    stderrs.append(r.stderr)

    archive = Archive.for_settings(project.settings)
    subs = {s.original_name: s for s in archive.submissions(plan.year.short)}
    r = run_cli("status", "--project", root)
    fukushi = next(x for x in r.stdout.splitlines() if x.strip().startswith("福祉課"))
    assert "提出 2 回" in fukushi
    stderrs.append(r.stderr)

    # choose: a wrong id, an id of another department → exit 2 with a message; a right one → 0.
    r = run_cli("choose", "--department", "福祉課", "--submission", "999", "--project", root)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "福祉課 の提出 ID 999 は 令和6年度 にありません。" in r.stderr
    stderrs.append(r.stderr)
    r = run_cli("choose", "--department", "福祉課", "--submission", str(subs["長寿社会課.xlsx"].id),
                "--project", root)
    assert r.returncode == 2 and "ありません" in r.stderr
    stderrs.append(r.stderr)
    r = run_cli("choose", "--department", "福祉課", "--submission", str(subs["福祉課.xlsx"].id),
                "--project", root)
    assert r.returncode == 0, r.stderr
    assert archive.current(plan)["福祉課"].id == subs["福祉課.xlsx"].id
    stderrs.append(r.stderr)

    out, csv_dir = tmp_path / "out" / "集計.xlsx", tmp_path / "out" / "csv"
    r = run_cli("merge", "--out", str(out), "--csv", str(csv_dir), "--project", root)
    assert r.returncode == 0, r.stderr
    assert out.exists() and load_workbook(out).sheetnames[:len(TABLE_SHEETS)] == TABLE_SHEETS
    assert sorted(p.name for p in csv_dir.iterdir()) == sorted(f"{n}.csv" for n in TABLE_SHEETS)
    stderrs.append(r.stderr)

    # The chosen 福祉課 file is clean: no copy for it. Choose the one with the error back.
    r = run_cli("choose", "--department", "福祉課", "--submission", str(subs["福祉課_再提出.xlsx"].id),
                "--project", root)
    assert r.returncode == 0, r.stderr
    r = run_cli("feedback", "--out", str(tmp_path / "fb"), "--project", root)
    assert r.returncode == 0, r.stderr
    copies = sorted(p.name for p in (tmp_path / "fb").iterdir())
    assert copies == ["差し戻し_R6_福祉課_事業シート・評価表.xlsx"]
    assert "1 件" in r.stdout
    stderrs.append(r.stderr)

    r = run_cli("collect", str(tmp_path / "nothing-here"), "--project", root)
    assert r.returncode == 2 and "見つかりません" in r.stderr
    stderrs.append(r.stderr)
    for err in stderrs:
        assert "Traceback" not in err, err
