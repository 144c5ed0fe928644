"""Recheck: files already in the archive are read and checked again against the plan as it is
now, and their records are replaced in place (after a reading process died, or after the
coordinator corrected the master)."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from xlplan.archive import Archive, submission_status
from xlplan.collect import collect, recheck
from xlplan.read import file_digest

from crashing import reader_dying_on
from test_archive import fill, run_cli


def _rows(archive: Archive, sql: str, params=()):
    with sqlite3.connect(archive.db_path) as db:
        return db.execute(sql, params).fetchall()


@pytest.mark.slow
def test_a_file_recorded_unreadable_when_its_reader_died_is_read_again_by_recheck(
        project, generated, monkeypatch):
    plan, files = generated
    for f in files.values():
        shutil.copy2(f.path, project.inbox / f.path.name)
    victim = files["福祉課"].path
    _, sha = file_digest(victim)
    # The reading process dies on the archived copy of 福祉課's file (what collect reads).
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan, reader=reader_dying_on(f"{sha}.xlsx", 2))
    first = {s.original_name: s for s in archive.submissions(plan.year.short)}
    assert not first[victim.name].readable
    assert all(s.readable for name, s in first.items() if name != victim.name)

    # Collecting again does not read it again: same content, already recorded.
    summary = collect(archive, [project.inbox], project.settings, plan,
                              reader=reader_dying_on(f"{sha}.xlsx", 2))
    assert summary.new == [] and len(summary.known) == len(files)

    count_sql = "SELECT submission_id, COUNT(*) FROM cell_values GROUP BY submission_id"
    counts_before = dict(_rows(archive, count_sql))
    # Someone removed one archived copy by hand: it cannot be read again, its record stays,
    # and the coordinator is told which file it is.
    gone = first[files["長寿社会課"].path.name]
    (archive.root / gone.archived_path).unlink()
    r = run_cli("collect", "--recheck", str(project.inbox), "--project", str(project.root))
    assert r.returncode == 0, r.stdout + r.stderr  # nothing new was collected
    assert f"再チェック: {len(files) - 1} ファイル" in r.stdout
    assert f"再チェックできません（保管庫にファイルがありません）: {gone.original_name}" in r.stdout
    assert "Traceback" not in r.stderr

    after = {s.original_name: s for s in archive.submissions(plan.year.short)}
    fixed = after[victim.name]
    assert fixed.id == first[victim.name].id                      # the same record, replaced
    assert fixed.readable and fixed.department == "福祉課"
    assert fixed.collected_at == first[victim.name].collected_at  # when it came in is kept
    codes = [row[0] for row in _rows(archive, "SELECT code FROM findings WHERE submission_id=?",
                                     (fixed.id,))]
    assert "unreadable-file" not in codes
    line = next(x for x in submission_status(archive, plan)[0] if x.department == "福祉課")
    assert line.submission is not None and line.submission.id == fixed.id
    # Every other record keeps its values once (replaced, not duplicated); the file that was
    # unreadable now has as many as the others of its layout.
    counts = dict(_rows(archive, count_sql))
    assert fixed.id not in counts_before
    assert {sid: n for sid, n in counts.items() if sid != fixed.id} == counts_before
    assert after[gone.original_name].readable and after[gone.original_name].id == gone.id
    assert counts[fixed.id] == files["福祉課"].inputs


def test_recheck_applies_a_corrected_target_to_values_already_collected(project, generated, tmp_path):
    plan, files = generated
    returned = tmp_path / "福祉課.xlsx"
    fill(plan, files["福祉課"].path, returned)
    archive = Archive.for_settings(project.settings)
    collect(archive, [returned], project.settings, plan)
    sid = archive.submissions(plan.year.short)[0].id
    query = ("SELECT project, indicator_no, target FROM cell_values WHERE submission_id=? "
             "AND target IS NOT NULL ORDER BY seq")
    before = _rows(archive, query, (sid,))
    assert before
    project_id, no, old_target = before[0]
    # The coordinator corrects that target in the master (here: in the loaded plan).
    indicator = next(i for i in plan.project(project_id).indicators if i.no == no)
    target = indicator.targets[plan.year]
    target.value, target.text = old_target * 2, str(old_target * 2)

    rechecked = recheck(archive, project.settings, plan)

    assert [s.id for s in rechecked] == [sid]
    after = _rows(archive, query, (sid,))
    assert after[0] == (project_id, no, old_target * 2)
    assert len(after) == len(before)
