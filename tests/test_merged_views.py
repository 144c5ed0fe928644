"""The merged workbook as the committee reads it (issue 14: items 12, 14, 15, 16 and the
rounding of 17): one half-up rounding, rates as percentages, short chart labels, no input
hints, and 一覧 in seed 003's shape, printable."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from test_archive import _page_text, _pdf_pages, fill
from test_scoring import PROJECTS, _fill_form, _forms
from xlplan.archive import Archive
from xlplan.collect import collect
from xlplan.merge import merged_tables, write_merged
from xlplan.plan import load_plan

HINT = "▼ 一覧から選んでください"


def _sheet_rows(path: Path, title: str) -> list[dict]:
    ws = load_workbook(path, read_only=True)[title]
    values = [list(r) for r in ws.iter_rows(values_only=True)]
    return [dict(zip(values[0], r)) for r in values[1:]]


def _csv_rows(folder: Path, title: str) -> list[dict]:
    with open(folder / f"{title}.csv", encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


# --- item 17: one rounding ---------------------------------------------------------------------


def test_one_half_up_rounding_for_averages_and_rates():
    from xlplan.rounding import average, rate, round_half_up

    assert average([3, 3, 3, 4]) == 3.3          # Python's round(3.25, 1) gives 3.2
    assert average([3, 4, 4, 4]) == 3.8          # 3.75
    assert average([1, 2]) == 1.5 and average([]) is None
    assert round_half_up(3.65) == 3.7 and round_half_up(2.675, 2) == 2.68
    assert rate(2001, 2000) == 1.001             # 1.0005: round(…, 3) gives 1.0
    assert rate(1, 3) == 0.333 and rate(2, 3) == 0.667 and rate(5, 0) is None and rate(None, 3) is None


@pytest.mark.slow
def test_goal_averages_round_half_up_in_tables_workbook_and_csv(project, generated, tmp_path):
    """基本目標2 gets 3, 3, 3 and 4: 3.25 is published as 3.3, as 中間評価結果 rounds."""
    plan, files = generated
    fill(plan, files["社会福祉協議会"].path, project.inbox / "社協.xlsx", {("2-1-1", "eval_score", None): 3})
    fill(plan, files["長寿社会課"].path, project.inbox / "長寿.xlsx",
         {("2-1-1", "eval_score", None): 3, ("2-1-2", "eval_score", None): 3,
          ("2-2-1", "eval_score", None): 4})
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    goals = merged_tables(archive, plan).goals.set_index(["区分", "番号"])
    assert goals.loc[("基本目標", "2"), "平均達成度"] == 3.3
    out = write_merged(archive, plan, project.settings, tmp_path / "集計.xlsx", csv_dir=tmp_path / "csv")
    book = {(r["区分"], str(r["番号"])): r["平均達成度"] for r in _sheet_rows(out, "基本目標別") if r["区分"]}
    assert book[("基本目標", "2")] == 3.3
    sheet = {(r["区分"], r["番号"]): r["平均達成度"] for r in _csv_rows(tmp_path / "csv", "基本目標別")}
    assert sheet[("基本目標", "2")] == "3.3"


# --- item 12: rates as percentages -------------------------------------------------------------


@pytest.mark.slow
def test_achievement_rates_show_as_percentages_and_the_csv_keeps_the_number(project, generated, tmp_path):
    plan, files = generated
    fill(plan, files["福祉課"].path, project.inbox / "福祉課.xlsx",
         {("2-2-1", "result", 1): 30})  # target 33 → 0.909
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    out = write_merged(archive, plan, project.settings, tmp_path / "集計.xlsx", csv_dir=tmp_path / "csv")
    wb = load_workbook(out)
    for title, column in (("指標", "達成率"), ("推移", f"{plan.year.short} 達成率")):
        ws = wb[title]
        col = [c.value for c in ws[1]].index(column)
        cells = [r[col] for r in ws.iter_rows(min_row=2) if isinstance(r[col].value, float)]
        assert cells, title
        assert all(c.number_format == "0.0%" for c in cells), title
    ind = [r for r in _csv_rows(tmp_path / "csv", "指標") if r["担当課"] == "福祉課" and r["事業番号"] == "2-2-1"]
    assert "0.909" in {r["達成率"] for r in ind}


# --- item 14: short labels in the committee chart ------------------------------------------------


@pytest.mark.slow
def test_committee_chart_labels_are_number_and_name(project, tmp_path):
    plan = load_plan(project.master)
    forms = _forms(project, plan)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for mid in list(forms)[:3]:
        _fill_form(forms[mid], inbox / f"{mid}.xlsx", dict(zip(PROJECTS, [4] * len(PROJECTS))), {})
    archive = Archive.for_settings(project.settings)
    collect(archive, [inbox], project.settings, plan)
    out = write_merged(archive, plan, project.settings, tmp_path / "集計.xlsx")
    with zipfile.ZipFile(out) as z:
        chart = next(z.read(n).decode() for n in z.namelist()
                     if n.startswith("xl/charts/chart") and "施策ごとの評価点" in z.read(n).decode())
    ref = re.search(r"<c:cat>.*?<c:f>([^<]+)</c:f>", chart, re.S).group(1)
    sheet, cells = ref.rsplit("!", 1)
    first, last = (c.replace("$", "") for c in cells.split(":"))
    ws = load_workbook(out)[sheet.strip("'")]
    labels = [row[0].value for row in ws[f"{first}:{last}"]]
    expected = [f"{p.id} {p.name}" for p in plan.projects if not p.ended]
    assert labels == expected


# --- item 15: no input hints in the merged 事業シート ---------------------------------------------


@pytest.mark.slow
def test_merged_project_sheets_carry_no_input_hints(project, generated, tmp_path):
    plan, files = generated
    department = load_workbook(files["福祉課"].path)
    assert any(c.value == HINT for ws in department for row in ws.iter_rows() for c in row)
    fill(plan, files["福祉課"].path, project.inbox / "福祉課.xlsx")
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    out = write_merged(archive, plan, project.settings, tmp_path / "集計.xlsx")
    wb = load_workbook(out)
    project_sheets = [ws for ws in wb if re.match(r"\d+-\d+-\d+ ", ws.title)]
    assert len(project_sheets) == len(plan.projects)
    texts = {c.value for ws in project_sheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    assert not any("▼" in t or "選んでください" in t for t in texts)
    assert "継続" in texts  # the chosen direction is there, only the hint is gone


# --- item 16: 一覧 in seed 003's shape, printable -------------------------------------------------


def _overview_setup(project, generated):
    plan, files = generated
    for department, g in files.items():
        fill(plan, g.path, project.inbox / f"{department}.xlsx")
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    return plan, archive


@pytest.mark.slow
def test_overview_has_groups_roles_and_headers_with_years(project, generated, tmp_path):
    plan, archive = _overview_setup(project, generated)
    out = write_merged(archive, plan, project.settings, tmp_path / "集計.xlsx", csv_dir=tmp_path / "csv")
    rows = _sheet_rows(out, "一覧")
    header = list(rows[0])
    assert header[:6] == ["基本目標", "施策の方向性", "事業", "区分", "それぞれの役割", "担当課"]
    for name in ("令和6年度実績", "令和6年度事業名", "令和7年度計画", "令和7年度事業名"):
        assert name in header
    assert not {"実績", "次年度計画", "事業名", "次年度事業名"} & set(header)
    row = next(r for r in rows if r["事業"].startswith("1-1-1 "))
    project_111 = next(p for p in plan.projects if p.id == "1-1-1")
    assert row["区分"] == "市民\n社協\n行政" and row["それぞれの役割"] == project_111.roles
    assert list(_csv_rows(tmp_path / "csv", "一覧")[0])[:6] == header[:6]

    ws = load_workbook(out)["一覧"]
    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 8  # A3
    # fitted to one page wide (1 is the default XlsxWriter leaves out), as long as needed
    assert ws.sheet_properties.pageSetUpPr.fitToPage and int(ws.page_setup.fitToWidth or 1) == 1
    assert int(ws.page_setup.fitToHeight) == 0
    assert ws.print_title_rows in ("$1:$1", "1:1")  # the header repeats on every page


def test_a_group_column_in_the_master_names_the_groups(project, generated, tmp_path):
    wb = load_workbook(project.master)
    ws = wb["事業"]
    col = ws.max_column + 1
    ws.cell(1, col).value = "区分"
    row = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == "1-1-1")
    ws.cell(row, col).value = "市民、福祉事業者、社協、行政"
    wb.save(project.master)
    plan = load_plan(project.master)
    assert next(p for p in plan.projects if p.id == "1-1-1").role_groups == ["市民", "福祉事業者", "社協", "行政"]
    archive = Archive.for_settings(project.settings)
    overview = merged_tables(archive, plan).overview
    assert overview[overview["事業"].str.startswith("1-1-1 ")]["区分"].tolist()[0] == "市民\n福祉事業者\n社協\n行政"


def test_overview_prints_legibly_with_repeated_headers(libreoffice, project, generated, tmp_path):
    plan, archive = _overview_setup(project, generated)
    out = write_merged(archive, plan, project.settings, tmp_path / "集計.xlsx")
    pdf = libreoffice.to_pdf(out, tmp_path / "pdf")
    pages = [n for n in range(1, _pdf_pages(pdf) + 1) if "令和7年度事業名" in _page_text(pdf, n)]
    assert pages, "no page of 一覧"
    for n in pages:  # the header (with its years) is on each page of 一覧
        text = _page_text(pdf, n)
        assert "令和6年度実績" in text and "区分" in text and "それぞれの役割" in text
    text = _page_text(pdf, pages[0])
    assert "福祉教育推進事業" in text and "市民" in text
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", str(pages[0]), "-l", str(pages[0]),
                        "-singlefile", str(pdf), str(tmp_path / "overview")], check=True)
        Path("/tmp/xlplan-pdf-check").mkdir(parents=True, exist_ok=True)
        shutil.copy2(tmp_path / "overview.png", "/tmp/xlplan-pdf-check/overview-a3.png")


def test_far_from_target_message_shows_the_rate_rounded_as_everywhere(project, generated, tmp_path):
    """The warning's rate is the 指標 sheet's rate: one decimal of a percent, half up."""
    from decimal import ROUND_HALF_UP, Decimal

    from test_archive import _fields as fields_of
    from test_archive import _target_value
    from xlplan.check import check_files

    plan, files = generated
    field = next(f for f in fields_of(load_workbook(files["福祉課"].path))
                 if f["field"] == "result" and f["kind"] == "quantity")
    target = _target_value(plan, field)
    out = tmp_path / "far.xlsx"
    fill(plan, files["福祉課"].path, out, {(field["project"], "result", field["indicator"]): 1})
    finding = next(f for f in check_files([out], project.settings, plan).findings
                   if f.code == "result-far-from-target")
    expected = (Decimal(1) / Decimal(str(target)) * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)
    assert finding.detail == f"{expected}%"
    assert f"{expected}%" in finding.message("ja") and f"{expected}%" in finding.message("en")
