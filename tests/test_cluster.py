"""Reading on a Dask cluster: a real LocalCluster reads, the coordinator checks and records.

Collecting through ``dask_reader`` must give the archive the default reader gives (same
submissions, findings and values), keep the order of the paths across batches, turn a corrupt
file, a task that raises and a worker that dies into ``unreadable-file`` findings, and go on.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import sys
from concurrent.futures import CancelledError

import pytest

distributed = pytest.importorskip("distributed")

import dask  # noqa: E402

from xlplan.archive import Archive  # noqa: E402
from xlplan.collect import collect  # noqa: E402
from xlplan.check import check_files  # noqa: E402
from xlplan.cluster import MISSING_DASK, dask_reader  # noqa: E402
from xlplan.read import Limits, read_returned  # noqa: E402
from xlplan.simulate import fill_workbook  # noqa: E402


@pytest.fixture(scope="module")
def client():
    """Two worker processes with one thread each, as on a small machine."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """One project for the module (the tests only read its inbox and collect elsewhere)."""
    from xlplan.project import init_project

    return init_project(tmp_path_factory.mktemp("cluster") / "project")


@pytest.fixture(scope="module")
def returned_files(project):
    """Filled returns of every department (0–2 mistakes each), one resent copy, a corrupt
    .xlsx of random bytes and a CSV under an .xlsx name, in a fixed order."""
    from xlplan.generate import generate
    from xlplan.plan import load_plan

    plan = load_plan(project.master)
    files = {f.department: f for f in generate(plan, project.outbox, project.settings)}
    inbox = project.inbox
    paths = []
    for i, (department, g) in enumerate(sorted(files.items())):
        dst = inbox / f"{i:02d}_{department}.xlsx"
        fill_workbook(g.path, dst, plan, random.Random(i), mistakes=i % 3)
        paths.append(dst)
    resent = inbox / "90_再送.xlsx"
    shutil.copy2(paths[1], resent)
    corrupt = inbox / "91_破損.xlsx"
    corrupt.write_bytes(random.Random(0).randbytes(5000))
    csv = inbox / "92_福祉課.xlsx"
    csv.write_text("事業,実績\n1-1-1,10\n", encoding="utf-8")
    paths += [resent, corrupt, csv]
    return plan, paths


def _tables(root):
    """What collect recorded, without ids and times: per table, rows keyed by file content."""
    with sqlite3.connect(root / "xlplan.sqlite") as db:
        return {
            "submissions": db.execute(
                "SELECT sha256, year, original_name, department, form_year, plan_id,"
                " template_version, readable, errors, warnings, kind, member"
                " FROM submissions ORDER BY id").fetchall(),
            "files": db.execute("SELECT sha256, size, archived_path, kind, last_saved FROM files"
                                " ORDER BY sha256").fetchall(),
            "sightings": db.execute("SELECT sha256, original_name FROM sightings"
                                    " ORDER BY original_name").fetchall(),
            "findings": db.execute(
                "SELECT s.sha256, f.seq, f.code, f.severity, f.file, f.department, f.project,"
                " f.field, f.sheet, f.cell, f.value, f.expected, f.detail FROM findings f"
                " JOIN submissions s ON s.id = f.submission_id ORDER BY s.sha256, f.seq").fetchall(),
            "values": db.execute(
                "SELECT s.sha256, v.seq, v.department, v.project, v.indicator_no, v.field, v.year,"
                " v.raw, v.value, v.number, v.unit, v.kind, v.changes, v.sheet, v.cell"
                " FROM cell_values v JOIN submissions s ON s.id = v.submission_id"
                " ORDER BY s.sha256, v.seq").fetchall(),
        }


@pytest.mark.slow
def test_collect_on_dask_records_what_the_default_reader_records(client, project, returned_files,
                                                                tmp_path):
    plan, paths = returned_files
    settings = project.settings
    default = collect(Archive(tmp_path / "default"), paths, settings, plan, workers=1)
    on_dask = collect(Archive(tmp_path / "dask"), paths, settings, plan,
                                                 reader=dask_reader(client, batch_size=3))

    assert len(on_dask.new) == len(paths) - 1 and on_dask.known == ["90_再送.xlsx"]
    assert [s.original_name for s in on_dask.new] == [s.original_name for s in default.new]
    a, b = _tables(tmp_path / "default"), _tables(tmp_path / "dask")
    assert a == b
    assert len(a["submissions"]) == 8 and len(a["values"]) > 100 and len(a["findings"]) > 2
    by_name = {s.original_name: s for s in on_dask.new}
    departments = {s.department for s in on_dask.new if s.readable}
    assert departments == set(plan.department_names())
    assert sum(s.warnings + s.errors for s in on_dask.new if s.readable) > 0  # mistakes were found
    archive = Archive(tmp_path / "dask")
    for name in ("91_破損.xlsx", "92_福祉課.xlsx"):  # unreadable, recorded, and the batch went on
        s = by_name[name]
        assert not s.readable and s.errors == 1 and s.department == ""
        assert [f.code for f in archive.findings([s.id])] == ["unreadable-file"]


@pytest.mark.slow
def test_results_come_back_in_input_order_across_batches(client, project, returned_files):
    plan, paths = returned_files
    key = project.settings.key_bytes
    order = paths[::-1] + paths[:3]  # 12 paths, not a multiple of the batch size, one repeated
    got = list(dask_reader(client, batch_size=5)(order, key, Limits()))
    assert [r.path for r in got] == order
    for r, path in zip(got, order):
        expected = read_returned(path, key, Limits())
        assert (r.sha256, r.department, r.readable) == (expected.sha256, expected.department,
                                                        expected.readable)
        assert [f.code for f in r.findings] == [f.code for f in expected.findings]
        assert {k: c.value for k, c in r.cells.items()} == {k: c.value for k, c in expected.cells.items()}
    assert [r.readable for r in got[:4]] == [False, False, True, True]  # CSV, corrupt, resent, …

    # Two readers consumed in turn share no task keys: each gets its own files.
    one = dask_reader(client, batch_size=2)(paths[:4], key, Limits())
    two = dask_reader(client, batch_size=2)(paths[4:8], key, Limits())
    mixed = [next(one), next(two), next(one), next(two)]
    assert [r.path for r in mixed] == [paths[0], paths[4], paths[1], paths[5]]
    assert [r.path for r in one] + [r.path for r in two] == [paths[2], paths[3], paths[6], paths[7]]

    # A caller that stops early leaves nothing queued or held on the cluster.
    stopped = dask_reader(client, batch_size=2)(paths, key, Limits())
    assert next(stopped).path == paths[0]
    stopped.close()
    assert not [k for k in client.futures if str(k).startswith("xlplan-read-")]


@pytest.mark.slow
def test_check_files_on_dask_matches_the_default(client, project, returned_files):
    plan, paths = returned_files
    default = check_files(paths, project.settings, plan, workers=1)
    on_dask = check_files(paths, project.settings, plan, reader=dask_reader(client, batch_size=4))
    assert [r.to_dict() for r in on_dask.files] == [r.to_dict() for r in default.files]
    assert [f.to_dict() for f in on_dask.findings] == [f.to_dict() for f in default.findings]
    assert on_dask.values.equals(default.values)


@pytest.mark.slow
def test_a_failing_task_and_a_dying_worker_become_findings(project, returned_files, tmp_path):
    """A file whose task raises, and one that kills its worker, are recorded unreadable; the
    files around them are read as usual (the worker is restarted by its nanny)."""
    plan, paths = returned_files
    good = paths[:2]
    boom, kill = tmp_path / "boom.xlsx", tmp_path / "kill.xlsx"
    boom.write_bytes(b"BOOM" + bytes(100))
    kill.write_bytes(b"KILL" + bytes(100))

    class Sabotage(distributed.WorkerPlugin):
        """On every worker (also a restarted one): a file starting with BOOM raises, one
        starting with KILL ends the worker process."""

        def setup(self, worker):
            import os
            import time

            import xlplan.read as read  # what the job sent to the workers names

            original = read.read_returned

            def sabotaged(path, key, limits):
                head = open(path, "rb").read(4)
                if head == b"BOOM":
                    raise RuntimeError("task failed")
                if head == b"KILL":
                    # Dies a while into reading, once the worker has told the scheduler about
                    # the tasks before (a worker killed at once can take that news with it).
                    time.sleep(1)
                    os._exit(1)
                return original(path, key, limits)

            read.read_returned = sabotaged

    # One worker, one thread, no second chance: the task running when the worker dies fails.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                     dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as c:
        c.register_plugin(Sabotage(), name="sabotage")
        # The dying file comes last, so nothing else is running on the worker when it dies.
        inbox = [*good, boom, kill]
        summary = collect(Archive(tmp_path / "archive"), inbox, project.settings, plan,
                                                        reader=dask_reader(c, batch_size=1))
        assert [s.original_name for s in summary.new] == [p.name for p in inbox]
        assert [s.readable for s in summary.new] == [True, True, False, False]
        archive = Archive(tmp_path / "archive")
        details = {}
        for s in summary.new[2:]:
            findings = archive.findings([s.id])
            assert [f.code for f in findings] == ["unreadable-file"]
            details[s.original_name] = findings[0].detail
        assert "クラスタ" in details["boom.xlsx"] and "RuntimeError" not in details["boom.xlsx"]
        assert "ワーカー" in details["kill.xlsx"] and "KilledWorker" not in details["kill.xlsx"]

        # The cluster recovered: the next files are read normally.
        after = list(dask_reader(c)(good, project.settings.key_bytes, Limits()))
        assert [r.readable for r in after] == [True, True]


@pytest.mark.slow
def test_a_failing_file_costs_only_itself_when_files_are_read_in_chunks(project, returned_files,
                                                                        tmp_path):
    """Several files per task: a file whose reading raises makes its chunk be read again one
    file per task, so its neighbours in the chunk are read as usual."""
    plan, paths = returned_files
    boom = tmp_path / "boom.xlsx"
    boom.write_bytes(b"BOOM" + bytes(100))

    class Sabotage(distributed.WorkerPlugin):
        def setup(self, worker):
            import xlplan.read as read  # what the job sent to the workers names

            original = read.read_returned

            def sabotaged(path, key, limits):
                if open(path, "rb").read(4) == b"BOOM":
                    raise RuntimeError("task failed")
                return original(path, key, limits)

            read.read_returned = sabotaged

    inbox = [*paths[:3], boom, *paths[3:6]]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as c:
        c.register_plugin(Sabotage(), name="sabotage")
        got = list(dask_reader(c, batch_size=64)(inbox, project.settings.key_bytes, Limits()))
    assert [r.path for r in got] == inbox
    assert [r.readable for r in got] == [True, True, True, False, True, True, True]


@pytest.mark.slow
def test_a_closed_client_stops_the_run_instead_of_marking_files_unreadable(project, returned_files,
                                                                          tmp_path):
    plan, paths = returned_files
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        c = distributed.Client(cluster)
        reader = dask_reader(c, batch_size=2)
        results = reader(paths, project.settings.key_bytes, Limits())
        assert next(results).path == paths[0]
        c.close()
        with pytest.raises((CancelledError, distributed.client.ClosedClientError)):
            list(results)


@pytest.mark.slow
def test_without_dask_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError) as info:
        dask_reader(object())
    assert str(info.value) == MISSING_DASK
    assert "pip install 'xlplan[dask]'" in str(info.value) and "Dask が必要です" in str(info.value)
