"""How the merge reads the archive (issue 16: merge at writer speed, memory bounded).

一覧, 指標, 基本目標別 and the 事業シート each read every project's values. A plan with few values
(a city plan: hundreds of projects of one department each) is read in one query and kept; a
plan with many (a survey of thousands of departments) keeps projects only up to a fixed number
of values and reads the others one project at a time. Either way the merged workbook is the same.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from test_merged_views import _overview_setup
from xlplan.archive import Archive
from xlplan.merge import write_merged
from xlplan.merge.tables import MergeSource

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import golden  # noqa: E402


@pytest.fixture
def collected(project, generated):
    """Every department's workbook filled and collected: (plan, archive)."""
    return _overview_setup(project, generated)


def _counting_queries(monkeypatch) -> list[str]:
    """Record every ``Archive.iter_values`` call (the real method still runs)."""
    calls: list[str] = []
    original = Archive.iter_values

    def counted(self, *args, **kwargs):
        calls.append(kwargs.get("project") or "")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Archive, "iter_values", counted)
    return calls


def _seen(source: MergeSource, plan) -> dict:
    """Every project's values as the tables look them up."""
    return {(p.id, d, f): (v.value, v.raw, v.number, v.kind, v.planned)
            for p in plan.projects
            for d, inner in source.project_values(p.id).by_department.items()
            for f, v in inner.items()}


def test_a_plan_with_few_values_is_read_in_one_query(collected, monkeypatch):
    plan, archive = collected
    calls = _counting_queries(monkeypatch)
    source = MergeSource(archive, plan)
    first = _seen(source, plan)
    for _ in range(3):  # the later passes of the other tables and the 事業シート
        assert _seen(source, plan) == first
    assert len(calls) == 1
    assert source.values_kept == len(first) > 0


def test_many_values_are_kept_up_to_the_budget_and_read_alike(collected, monkeypatch):
    plan, archive = collected
    expected = _seen(MergeSource(archive, plan), plan)
    monkeypatch.setattr(MergeSource, "VALUES_KEPT", 40)
    calls = _counting_queries(monkeypatch)
    source = MergeSource(archive, plan)
    assert _seen(source, plan) == expected
    assert _seen(source, plan) == expected
    assert 0 < source.values_kept <= 40
    projects = [c for c in calls if c]
    # The kept projects are read once; the others once per pass (one project at a time).
    assert len(set(projects)) == len(plan.projects) and len(projects) < 2 * len(plan.projects)


def test_the_merged_workbook_is_the_same_whatever_is_kept(collected, project, tmp_path, monkeypatch):
    plan, archive = collected
    few = write_merged(archive, plan, project.settings, tmp_path / "a" / "集計.xlsx")
    monkeypatch.setattr(MergeSource, "VALUES_KEPT", 10)
    many = write_merged(archive, plan, project.settings, tmp_path / "b" / "集計.xlsx")
    assert golden.compare({"集計.xlsx": golden.describe_file(few)}, {"集計.xlsx": golden.describe_file(many)}) == []
