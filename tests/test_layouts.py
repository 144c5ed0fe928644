"""The seed layouts besides the 事業シート: activity (seed 001), indicators (seed 002), counts (seed 004).

The coordinator names a layout per project in the master's 事業 sheet (様式 column); a department
gets one workbook per layout it uses. Each layout is generated, filled in a real LibreOffice,
collected into the archive and merged; then the typical mistakes (breakdowns that do not add
up, blank parts, choice variants), the next year with the archive's history, plan changes
(a project marked 終了, a target revised after it was reported) and the printed form.
LibreOffice tests are skipped without LibreOffice (see conftest.py).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from libreoffice import pdf_to_png
from xlplan.archive import Archive, ArchiveHistory
from xlplan.collect import collect
from xlplan.check import check_files
from xlplan.findings import ERROR
from xlplan.generate import generate
from xlplan.merge import merged_tables, write_merged
from xlplan.metadata import METADATA_SHEET, parse_metadata_rows
from xlplan.plan import load_plan
from xlplan.template import load_template_spec

PDF_CHECK_DIR = Path("/tmp/xlplan-pdf-check")
CHOICES = ["【継続】", "【拡充】", "【見直し】", "【終了】"]

# Per seed layout: which projects of the sample plan use it (and how the coordinator wrote it
# in the 様式 column: the layout id or one of its Japanese aliases), which department's
# workbook is looked at, and the fields each of its projects (or indicators) gets.
LAYOUTS = {
    "activity": {
        "master": {"3-1-2": "活動報告"},
        "department": "福祉課",  # also has 事業シート projects: gets two workbooks
        "title": "活動報告",
        "sheet": "活動報告",
        "projects": ["3-1-2"],
        # field: (kind, unit, required)
        "fields": {"activity_items": ("text", "", True), "n_total": ("quantity", "件", True),
                   "n_area1": ("quantity", "件", False), "n_area2": ("quantity", "件", False),
                   "n_area3": ("quantity", "件", False), "focus_next": ("text", "", True)},
    },
    "indicators": {
        "master": {"1-2-1": "指標", "2-1-1": "indicators"},
        "department": "社会福祉協議会",
        "title": "指標実績",
        "sheet": "指標実績",
        "projects": ["1-2-1", "2-1-1"],
        "fields": {"result": ("quantity", None, True), "policy_next": ("choice", None, True)},
    },
    "counts": {
        "master": {"3-1-1": "相談件数"},
        "department": "健康づくり課",  # only 3-1-1: the counts workbook is its only one
        "title": "相談件数",
        "sheet": "相談件数",
        "projects": ["3-1-1"],
        "fields": {name: ("quantity", "件", True) for name in (
            "n_total", "n_boshi", "n_shintai", "n_seishin", "n_kokoro", "n_nanbyo", "n_konkyu",
            "n_sonota", "n_visits")} | {"summary": ("text", "", True)},
    },
}

# Valid answers. Seed 004's real numbers: 63 = 12+12+15+10+3+6+5.
ACTIVITY_OK = {"activity_items": "就労相談会の開催、企業訪問", "n_total": 67, "n_area1": 20,
               "n_area2": 20, "n_area3": 27, "focus_next": "定着支援の強化と企業開拓"}
COUNTS_OK = {"n_total": 63, "n_boshi": 12, "n_shintai": 12, "n_seishin": 15, "n_kokoro": 10,
             "n_nanbyo": 3, "n_konkyu": 6, "n_sonota": 5, "n_visits": 148,
             "summary": "産後うつの相談を保健師と連携し、ヘルパー派遣につないだ。"}
# indicators: (project, indicator) → R6 result (near the R6 targets 4, 45, 30, 5), and a choice.
INDICATORS_OK = {("1-2-1", 1): 4, ("1-2-1", 2): 47, ("2-1-1", 1): 30, ("2-1-1", 2): 6}
POLICIES_OK = {("1-2-1", 1): "【継続】", ("1-2-1", 2): "【拡充】", ("2-1-1", 1): "【見直し】",
               ("2-1-1", 2): "【継続】"}


# --- helpers ----------------------------------------------------------------------------------


def _edit_master(master: Path, layouts: dict[str, str] | None = None,
                 status: dict[str, str] | None = None,
                 targets: dict[tuple[str, int, str], object] | None = None,
                 plan_layout: str | None = None) -> None:
    """Edit the coordinator's master as they would in Excel: 様式 / 状態 per project, a target
    (project, indicator no, year column) and the plan-wide 様式 on the 計画 sheet."""
    wb = load_workbook(master)
    ws = wb["事業"]
    col = {c.value: c.column for c in ws[1]}
    row_of = {ws.cell(r, 1).value: r for r in range(2, ws.max_row + 1)}
    for pid, layout in (layouts or {}).items():
        ws.cell(row_of[pid], col["様式"]).value = layout
    for pid, state in (status or {}).items():
        ws.cell(row_of[pid], col["状態"]).value = state
    if targets:
        wi = wb["指標"]
        icol = {c.value: c.column for c in wi[1]}
        for (pid, no, year), value in targets.items():
            row = next(r for r in range(2, wi.max_row + 1)
                       if wi.cell(r, icol["事業番号"]).value == pid and wi.cell(r, icol["指標番号"]).value == no)
            wi.cell(row, icol[year]).value = value
    if plan_layout is not None:
        wp = wb["計画"]
        row = next(r for r in range(1, wp.max_row + 1) if wp.cell(r, 1).value == "様式")
        wp.cell(row, 2).value = plan_layout
    wb.save(master)


def _metadata(path: Path) -> dict:
    wb = load_workbook(path)
    data, _ = parse_metadata_rows([list(r) for r in wb[METADATA_SHEET].iter_rows(values_only=True)])
    return data


def _generate(project, layouts: dict[str, str], year=None, **kw):
    _edit_master(project.master, layouts)
    plan = load_plan(project.master, year=year)
    out = project.outbox / (year or "R6")
    files = generate(plan, out, project.settings, **kw)
    return plan, {(f.layout, f.department): f for f in files}


def _valid_values(layout: str, fields: list[dict]) -> dict[str, object]:
    """Defined name → a valid answer for every input of a workbook of ``layout``."""
    values = {}
    for f in fields:
        if layout == "activity":
            values[f["name"]] = ACTIVITY_OK[f["field"]]
        elif layout == "counts":
            values[f["name"]] = COUNTS_OK[f["field"]]
        elif f["field"] == "result":
            values[f["name"]] = INDICATORS_OK[(f["project"], f["indicator"])]
        else:
            values[f["name"]] = POLICIES_OK[(f["project"], f["indicator"])]
    return values


def _fill(lo, src: Path, out: Path, values: dict[str, object], mode: str = "type") -> Path:
    """Type (or paste) values into the named input cells in LibreOffice; save as .xlsx."""
    out.parent.mkdir(parents=True, exist_ok=True)
    lo.fill(src, out, [{"name": name, "value": value, "mode": mode} for name, value in values.items()])
    return out


def _field(fields: list[dict], name: str, project: str | None = None, indicator=None) -> dict:
    return next(f for f in fields if f["field"] == name and (project is None or f["project"] == project)
                and (indicator is None or f["indicator"] == indicator))


def _errors(findings) -> list:
    return [(f.code, f.sheet, f.cell, f.value) for f in findings if f.severity == ERROR]


def _same(a, b) -> bool:
    """A value as typed and as read back (67 typed comes back as 67 or 67.0)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) < 1e-9
    return a == b


# --- 1. generation: which workbooks, which projects, which fields ------------------------------


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.slow
def test_layout_workbook_per_department_with_its_projects_and_fields(project, layout):
    case = LAYOUTS[layout]
    plan, files = _generate(project, case["master"])
    dept = case["department"]
    spec = load_template_spec(layout, project.settings.templates_dir)
    generated = files[(layout, dept)]
    assert generated.layout == layout
    assert generated.path.name == f"R6_{dept}_{case['title']}.xlsx"
    assert generated.path.is_file()
    assert generated.projects == case["projects"]

    # Every department of these projects gets this layout; projects of another layout go to
    # the department's other workbook, never into this one.
    for pid in case["projects"]:
        for d in plan.project(pid).departments:
            assert pid in files[(layout, d)].projects
            assert all(pid not in f.projects for (lay, dd), f in files.items() if lay != layout)
    others = [p.id for p in plan.projects_for(dept) if p.id not in case["projects"]]
    if others:
        assert files[("department", dept)].projects == others
    else:
        assert [key for key in files if key[1] == dept] == [(layout, dept)]

    meta = _metadata(generated.path)
    assert meta["kind"] == layout and meta["template"] == {"id": layout, "version": spec.version}
    assert meta["department"] == dept and meta["year"] == "R6"
    assert meta["projects"] == case["projects"]
    assert meta["checks"] == spec.checks
    wb = load_workbook(generated.path)
    assert case["sheet"] in wb.sheetnames
    fields = meta["fields"]
    assert {f["project"] for f in fields} == set(case["projects"])
    assert all(f["sheet"] == case["sheet"] for f in fields)
    names = [f["name"] for f in fields]
    assert len(names) == len(set(names))
    for f in fields:
        assert f["name"] in wb.defined_names, f["name"]
        cell = wb[f["sheet"]][f["cell"]]
        assert cell.value is None and cell.protection.locked is False, f["name"]
        kind, unit, required = case["fields"][f["field"]]
        assert f["kind"] == kind, f
        assert f["required"] is required, f
        if layout != "indicators":
            assert f["indicator"] is None and f["year"] is None
            assert f["unit"] == unit, f
            assert f["choices"] is None
            assert f["name"].endswith("_" + f["field"])
        elif f["field"] == "result":
            ind = next(i for i in plan.project(f["project"]).indicators if i.no == f["indicator"])
            assert f["year"] == "R6" and f["unit"] == ind.unit, f
            assert f["name"].endswith(f"_result_i{ind.no}")
        else:
            assert f["choices"] == CHOICES, f
            assert f["year"] is None
    if layout == "indicators":
        # One row per indicator of the department's projects: this year's result and 今後の方針.
        expected = {(p, i.no) for p in case["projects"] for i in plan.project(p).indicators}
        for name in ("result", "policy_next"):
            assert {(f["project"], f["indicator"]) for f in fields if f["field"] == name} == expected
    else:
        per_project = {(f["project"], f["field"]) for f in fields}
        assert per_project == {(p, name) for p in case["projects"] for name in case["fields"]}


@pytest.mark.slow
def test_indicators_policy_choice_has_no_unit(project):
    _, files = _generate(project, LAYOUTS["indicators"]["master"])
    fields = _metadata(files[("indicators", "社会福祉協議会")].path)["fields"]
    assert [f["unit"] for f in fields if f["field"] == "policy_next"] == [""] * 4


def test_layout_aliases_and_the_plan_wide_default(project):
    # Every alias of the README's list, and the 計画 sheet's 様式 row as the default.
    _edit_master(project.master, {"1-1-1": "事業シート", "1-2-1": "実績報告", "2-1-1": "activity",
                                  "2-1-2": "件数", "2-2-1": "counts", "3-1-1": "indicators"},
                 plan_layout="活動報告")
    plan = load_plan(project.master)
    layout = {p.id: plan.layout_of(p) for p in plan.projects}
    assert layout == {"1-1-1": "department", "1-2-1": "indicators", "2-1-1": "activity",
                      "2-1-2": "counts", "2-2-1": "counts", "3-1-1": "indicators",
                      "3-1-2": "activity", "3-2-1": "activity", "3-2-2": "activity"}
    assert plan.layouts_for("長寿社会課") == ["activity", "counts"]
    files = generate(plan, project.outbox, project.settings, departments=["長寿社会課"])
    assert sorted((f.layout, f.path.name, tuple(f.projects)) for f in files) == [
        ("activity", "R6_長寿社会課_活動報告.xlsx", ("2-1-1", "3-2-2")),
        ("counts", "R6_長寿社会課_相談件数.xlsx", ("2-1-2", "2-2-1"))]


# --- 2. the round trip: fill in LibreOffice, collect, merge ------------------------------------


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layout_round_trip_through_libreoffice(project, libreoffice, layout):
    case = LAYOUTS[layout]
    plan, files = _generate(project, case["master"])
    dept = case["department"]
    src = files[(layout, dept)].path
    fields = _metadata(src)["fields"]
    values = _valid_values(layout, fields)
    _fill(libreoffice, src, project.inbox / layout / src.name, values)
    written = {w["target"].split(" ")[0]: w for w in libreoffice.last_reply["written"]}
    assert set(written) == set(values)
    assert all(w["type"] in ("VALUE", "TEXT") for w in written.values()), written

    archive = Archive.for_settings(project.settings)
    summary = collect(archive, [project.inbox / layout], project.settings, plan)
    assert len(summary.new) == 1
    sub = summary.new[0]
    assert (sub.department, sub.kind, sub.readable) == (dept, layout, True)
    findings = archive.findings([sub.id])
    assert _errors(findings) == []
    assert [f.code for f in findings if f.code == "breakdown-mismatch"] == []

    merged_path = write_merged(archive, plan, project.settings, project.results / "集計_R6.xlsx")
    wb = load_workbook(merged_path)
    assert {"入力値", "推移", "指標", "一覧", "提出状況"} <= set(wb.sheetnames)
    tables = merged_tables(archive, plan)
    assert (tables.findings["重要度"] == "エラー").sum() == 0

    status = tables.status[tables.status["担当課"] == dept]
    assert "提出済" in set(status["状況"]) or "要確認" in set(status["状況"])

    # 入力値: every value typed, with the layout id in 様式 and the cell it came from.
    rows = tables.values[(tables.values["担当課"] == dept)]
    assert set(rows["様式"]) == {layout}
    assert len(rows) == len(fields)
    by_cell = {(r["シート"], r["セル"]): r for _, r in rows.iterrows()}
    for f in fields:
        row = by_cell[(f["sheet"], f["cell"])]
        assert _same(row["値"], values[f["name"]]), (f["name"], row["値"], values[f["name"]])
        assert row["事業"] == f["project"] and row["項目"] == f["label"] and row["年度"] == "R6"
        if f["kind"] == "quantity":
            assert row["単位"] == f["unit"]

    if layout == "indicators":
        # 指標: this year's result against the target; 推移: target and result of R5 … R6.
        ind = tables.indicators[(tables.indicators["担当課"] == dept) & (tables.indicators["年度"] == "R6")]
        got = {(r["事業番号"], r["指標"]): r for _, r in ind.iterrows()}
        trend = tables.trend[tables.trend["担当課"] == dept]
        trend_rows = {r["指標"]: r for _, r in trend.iterrows()}
        for (pid, no), value in INDICATORS_OK.items():
            indicator = next(i for i in plan.project(pid).indicators if i.no == no)
            target = indicator.target_for(plan.year)
            r = got[(pid, indicator.name)]
            assert _same(r["実績"], value) and _same(r["目標値"], target.value)
            assert r["達成率"] == pytest.approx(round(value / target.value, 3))
            t = trend_rows[indicator.name]
            assert _same(t["R6 実績"], value) and t["R6 目標"] == target.text
            assert t["R6 達成率"] == pytest.approx(round(value / target.value, 3))
            assert t["R5 実績"] is None
        # The merged 推移 sheet holds the same numbers.
        ws = wb["推移"]
        header = [c.value for c in ws[1]]
        sheet_rows = [dict(zip(header, (c.value for c in row))) for row in ws.iter_rows(min_row=2)]
        reported = {r["指標"]: r["R6 実績"] for r in sheet_rows
                    if r.get("担当課") == dept and r["R6 実績"] is not None}
        assert reported == {next(i.name for i in plan.project(pid).indicators if i.no == no): value
                            for (pid, no), value in INDICATORS_OK.items()}


# --- 3. the mistakes --------------------------------------------------------------------------


def _check_one(project, libreoffice, layout: str, changes: dict[str, object], mode="type"):
    """Fill a workbook of ``layout`` with valid values changed by ``changes`` (field → value,
    None = left blank; for indicators 'policy_next' changes the first indicator's choice);
    return (fields, findings of check_files)."""
    case = LAYOUTS[layout]
    plan, files = _generate(project, case["master"])
    src = files[(layout, case["department"])].path
    fields = _metadata(src)["fields"]
    values = _valid_values(layout, fields)
    for field_name, value in changes.items():
        f = next(f for f in fields if f["field"] == field_name)
        if value is None:
            del values[f["name"]]
        else:
            values[f["name"]] = value
    out = _fill(libreoffice, src, project.inbox / "mistakes" / src.name, values, mode)
    result = check_files([out], project.settings, plan)
    return fields, result.findings


def test_activity_parts_that_do_not_add_up(project, libreoffice):
    fields, findings = _check_one(project, libreoffice, "activity", {"n_total": 68})
    total = _field(fields, "n_total")
    mismatch = [f for f in findings if f.code == "breakdown-mismatch"]
    assert len(mismatch) == 1
    f = mismatch[0]
    assert (f.sheet, f.cell, f.value, f.expected) == (total["sheet"], total["cell"], 68, 67)
    assert f.project == "3-1-2" and f.field == total["label"] and f.department == "福祉課"
    assert f.detail == "うち 中＋うち 小＋うち 宮"
    assert _errors(findings) == [("breakdown-mismatch", total["sheet"], total["cell"], 68)]


def test_counts_total_that_does_not_match_the_categories(project, libreoffice):
    fields, findings = _check_one(project, libreoffice, "counts", {"n_total": 64})
    total = _field(fields, "n_total")
    mismatch = [f for f in findings if f.code == "breakdown-mismatch"]
    assert [(f.sheet, f.cell, f.value, f.expected) for f in mismatch] == [
        (total["sheet"], total["cell"], 64, 63)]
    assert mismatch[0].detail == "母子＋身体・知的＋精神＋こころの相談＋難病＋生活困窮＋その他"
    assert _errors(findings) == [("breakdown-mismatch", total["sheet"], total["cell"], 64)]


def test_activity_blank_part_is_not_a_mismatch_and_not_required(project, libreoffice):
    # 中 20 + 小 20 + 宮 blank, total 67: not checked (only when every part is a number), and
    # the parts are optional in the activity layout (required = false).
    fields, findings = _check_one(project, libreoffice, "activity", {"n_area3": None})
    assert [f.code for f in findings if f.code == "breakdown-mismatch"] == []
    area3 = _field(fields, "n_area3")
    assert [f for f in findings if f.cell == area3["cell"]] == []
    assert _errors(findings) == []


def test_counts_blank_category_is_not_a_mismatch_but_missing(project, libreoffice):
    # Categories are required in the counts layout. check.py names a blank required field
    # other than result / eval_score 'missing-text', whatever its kind (a count here).
    fields, findings = _check_one(project, libreoffice, "counts", {"n_sonota": None})
    assert [f.code for f in findings if f.code == "breakdown-mismatch"] == []
    sonota = _field(fields, "n_sonota")
    assert _errors(findings) == [("missing-result", sonota["sheet"], sonota["cell"], None)]
    assert next(f for f in findings if f.code == "missing-result").field == sonota["label"]


def test_indicators_choice_without_brackets_is_a_variant(project, libreoffice):
    # "継続" typed for 【継続】: normalise_choice maps it (brackets dropped) → value-normalised.
    fields, findings = _check_one(project, libreoffice, "indicators", {"policy_next": "継続"}, "paste")
    policy = fields[[f["field"] for f in fields].index("policy_next")]
    assert _errors(findings) == []
    note = [f for f in findings if f.cell == policy["cell"]]
    assert [(f.code, f.value, f.expected) for f in note] == [("value-normalised", "継続", "【継続】")]
    result = check_files([next((project.inbox / "mistakes").glob("*.xlsx"))], project.settings,
                         load_plan(project.master))
    row = result.values[(result.values["cell"] == policy["cell"])].iloc[0]
    assert (row["raw"], row["value"], row["kind"], row["changes"]) == ("継続", "【継続】", "choice", "choice-variant")


def test_indicators_choice_not_in_the_list(project, libreoffice):
    fields, findings = _check_one(project, libreoffice, "indicators", {"policy_next": "続ける"}, "paste")
    policy = fields[[f["field"] for f in fields].index("policy_next")]
    assert _errors(findings) == [("invalid-choice", policy["sheet"], policy["cell"], "続ける")]
    f = next(f for f in findings if f.code == "invalid-choice")
    assert f.expected == "／".join(CHOICES)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.slow
def test_raised_layout_version_is_reported(project, layout):
    case = LAYOUTS[layout]
    plan, files = _generate(project, case["master"])
    toml = project.settings.templates_dir / f"{layout}.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("version = 1", "version = 2"),
                    encoding="utf-8")
    assert load_template_spec(layout, project.settings.templates_dir).version == 2
    result = check_files([files[(layout, case["department"])].path], project.settings, plan)
    assert [(f.code, f.value, f.expected) for f in result.findings
            if f.code == "template-version-mismatch"] == [("template-version-mismatch", "1", "2")]


# --- 4. the next year, and plan changes --------------------------------------------------------


MULTI = {**LAYOUTS["activity"]["master"], **LAYOUTS["indicators"]["master"]}


def _collect_r6(project, libreoffice):
    """R6: 社会福祉協議会 reports in the indicators layout, 福祉課 in the activity layout; both
    filled in LibreOffice and collected."""
    plan, files = _generate(project, MULTI)
    for layout in ("indicators", "activity"):
        src = files[(layout, LAYOUTS[layout]["department"])].path
        _fill(libreoffice, src, project.inbox / "R6" / src.name,
              _valid_values(layout, _metadata(src)["fields"]))
    archive = Archive.for_settings(project.settings)
    summary = collect(archive, [project.inbox / "R6"], project.settings, plan)
    assert len(summary.new) == 2 and all(s.errors == 0 for s in summary.new)
    return plan, archive


def test_next_year_shows_last_years_values_locked(project, libreoffice):
    _, archive = _collect_r6(project, libreoffice)
    plan7 = load_plan(project.master, year="R7")
    files = {(f.layout, f.department): f for f in generate(
        plan7, project.outbox / "R7", project.settings, departments=["社会福祉協議会", "福祉課"],
        history=ArchiveHistory(archive, plan7))}

    # indicators: the R6 column shows R6's results (locked), R7 is the input.
    path = files[("indicators", "社会福祉協議会")].path
    assert path.name == "R7_社会福祉協議会_指標実績.xlsx"
    fields = _metadata(path)["fields"]
    wb = load_workbook(path)
    results = [f for f in fields if f["field"] == "result"]
    assert {f["year"] for f in results} == {"R7"} and len(results) == len(INDICATORS_OK)
    for f in results:
        ws = wb[f["sheet"]]
        cell = ws[f["cell"]]
        r6 = ws.cell(cell.row, cell.column - 1)
        r5 = ws.cell(cell.row, cell.column - 2)
        assert ws.cell(2, r6.column).value == "R6" and ws.cell(2, cell.column).value == "R7"
        assert _same(r6.value, INDICATORS_OK[(f["project"], f["indicator"])]), f["label"]
        assert r6.protection.locked and r5.value is None
        assert cell.value is None and not cell.protection.locked
    # 今後の方針 is asked again, blank.
    for f in fields:
        if f["field"] == "policy_next":
            assert wb[f["sheet"]][f["cell"]].value is None

    # activity: 前年度実績 (prev.n_total) shows R6's n_total, locked, beside R7's input.
    path = files[("activity", "福祉課")].path
    fields = _metadata(path)["fields"]
    wb = load_workbook(path)
    total = _field(fields, "n_total")
    ws = wb[total["sheet"]]
    cell = ws[total["cell"]]
    prev = ws.cell(cell.row, cell.column - 1)
    assert ws.cell(2, prev.column).value == "令和6年度\n実績"
    assert ws.cell(2, cell.column).value == "令和7年度\n実績"
    assert _same(prev.value, ACTIVITY_OK["n_total"]) and prev.protection.locked
    assert cell.value is None and not cell.protection.locked


def test_ended_project_and_revised_target(project, libreoffice):
    plan6, archive = _collect_r6(project, libreoffice)
    # After R6 was collected: 1-2-1 ends, and 2-1-1's R6 target for indicator 2 is revised 5 → 8.
    _edit_master(project.master, status={"1-2-1": "終了"}, targets={("2-1-1", 2, "R6"): 8})
    plan7 = load_plan(project.master, year="R7")
    assert plan7.project("1-2-1").ended
    files = generate(plan7, project.outbox / "R7", project.settings)
    assert files
    for f in files:
        meta = _metadata(f.path)
        assert "1-2-1" not in f.projects and "1-2-1" not in meta["projects"], f.path.name
        assert all(field["project"] != "1-2-1" for field in meta["fields"]), f.path.name
    soc = [f for f in files if f.department == "社会福祉協議会"]
    assert sorted((f.layout, tuple(f.projects)) for f in soc) == [
        ("department", ("1-1-1",)), ("indicators", ("2-1-1",))]

    tables = merged_tables(archive, plan7)
    ended = tables.overview[tables.overview["事業"].str.startswith("1-2-1 ")]
    assert len(ended) == 1
    assert ended.iloc[0]["状態"] == "終了" and ended.iloc[0][f"{plan7.year.label_ja}実績"] == "（終了）"
    assert set(tables.overview[~tables.overview["事業"].str.startswith("1-2-1 ")]["状態"]) == {"実施中"}

    # 推移 (in R7 and for R6 itself): the revised target shows what it was when reported.
    for plan in (plan7, plan7.with_year("R6")):
        trend = merged_tables(archive, plan).trend
        row = trend[(trend["指標"] == "地区アセスメントシートの作成") & (trend["担当課"] == "社会福祉協議会")].iloc[0]
        assert row["R6 目標"] == "8（当時 5）"
        assert _same(row["R6 実績"], INDICATORS_OK[("2-1-1", 2)])
        other = trend[(trend["指標"] == "入門講座の開催")].iloc[0]
        assert other["R6 目標"] == "4"  # unchanged target: no note
        # The ended project's reported year stays in the trend.
        assert _same(other["R6 実績"], INDICATORS_OK[("1-2-1", 1)])


# --- 5. the printed form ----------------------------------------------------------------------


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layout_prints_to_pdf(project, libreoffice, tmp_path, layout):
    case = LAYOUTS[layout]
    _, files = _generate(project, case["master"])
    src = files[(layout, case["department"])].path
    pdf = libreoffice.to_pdf(src, tmp_path / "pdf")
    assert pdf.is_file() and pdf.read_bytes()[:5] == b"%PDF-"
    pages = pdf_to_png(pdf, tmp_path / "png")
    if not pages:
        pytest.skip("pdftoppm (poppler-utils) not installed")
    assert len(pages) >= 2  # 表紙, then the layout's sheet
    PDF_CHECK_DIR.mkdir(parents=True, exist_ok=True)
    target = PDF_CHECK_DIR / f"layout-{layout}.png"
    shutil.copyfile(pages[1], target)
    assert target.stat().st_size > 5000
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-f", "2", "-l", "2", "-layout", str(pdf), "-"],
                              capture_output=True, text=True, timeout=60).stdout
        compact = "".join(text.split())
        expected = {"activity": ["活動報告（福祉課）", "うち中", "うち小", "うち宮", "障害者就労支援事業"],
                    "indicators": ["指標の実績", "今後の方針", "入門講座の開催", "地区アセスメントシートの作成"],
                    "counts": ["相談件数（健康づくり課）", "母子", "生活困窮", "延べ件数",
                               "産前産後ヘルパー派遣事業"]}[layout]
        for word in expected:
            assert word in compact, (word, text[:500])
