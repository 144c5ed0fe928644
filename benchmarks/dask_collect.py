"""Collect on a local Dask cluster against the default process pool and the calamine floor.

    python benchmarks/dask_collect.py --n 50 --data /tmp/xlb [--workers 2] [--batch-size 256]
                                      [--json out.json]

For one cached corpus (benchmarks/corpus.py, ``<data>/n<N>``) this times, in one process:

  calamine  floor: python-calamine reads every cell of every sheet, W processes (as run.py's
            calamineP: ProcessPoolExecutor, chunksize 8)
  pool      ``collect(Archive(fresh), [inbox], settings, plan, workers=W)``: the default reader,
            a process pool
  dask      the same with ``reader=dask_reader(client)`` on
            ``LocalCluster(n_workers=W, threads_per_worker=1, processes=True)``; starting the
            cluster (and importing xlplan on its workers) is timed apart and reported as
            ``dask start-up``

then checks that both archives hold the same records (submissions, findings, cell_values: counts
and contents, ids and times left out) and prints a markdown table. The archives are written
under ``--scratch`` (default ``/tmp/xlplan-dask-bench/n<N>``), never into the corpus folder.
The corpus must exist: this script does not build one (``--build-corpus`` to allow it).

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _warm_up() -> bool:
    """Run on every worker: import what reading needs, as a forked pool worker already has."""
    import python_calamine  # noqa: F401

    import xlplan.cluster  # noqa: F401

    return True


# What collect recorded, without ids and times (rows keyed by the file's content).
_TABLES = {
    "submissions": "SELECT sha256, year, original_name, department, form_year, plan_id,"
                   " template_version, readable, errors, warnings, kind, member FROM submissions",
    "findings": "SELECT s.sha256, f.seq, f.code, f.severity, f.file, f.department, f.project,"
                " f.field, f.sheet, f.cell, f.value, f.expected, f.detail FROM findings f"
                " JOIN submissions s ON s.id = f.submission_id",
    "cell_values": "SELECT s.sha256, v.seq, v.department, v.project, v.indicator_no, v.field,"
                   " v.year, v.raw, v.value, v.number, v.unit, v.kind, v.changes, v.sheet, v.cell"
                   " FROM cell_values v JOIN submissions s ON s.id = v.submission_id",
}


def archive_digest(root: Path) -> dict:
    """Row count and a digest of the sorted rows of each table of ``root/xlplan.sqlite``."""
    out = {}
    with sqlite3.connect(root / "xlplan.sqlite") as db:
        for table, sql in _TABLES.items():
            rows = sorted(repr(r) for r in db.execute(sql))
            out[table] = {"rows": len(rows),
                          "sha256": hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]}
    return out


def run(n: int, data: Path, scratch: Path, workers: int, batch_size: int, build: bool) -> dict:
    """Time the three stages on the corpus of N files; return what was measured."""
    import xlplan  # noqa: F401  (imports before any timer)
    from xlplan.archive import Archive
    from xlplan.collect import collect
    from xlplan.cluster import dask_reader

    sys.path.insert(0, str(HERE))
    from corpus import make_corpus
    from run import _calamine_read  # the same floor as run.py's calamineP

    folder = data / f"n{n}"
    if not build and not (folder / "xlplan.toml").exists():
        raise SystemExit(f"no corpus at {folder} (make it with benchmarks/corpus.py, or pass "
                         "--build-corpus)")
    project, plan, files = make_corpus(folder, n)
    settings = project.settings
    results: dict = {"n": n, "workers": workers, "batch_size": batch_size, "stages": {}}
    stages = results["stages"]

    # The floor first: it also brings the files into the page cache for both collects.
    from concurrent.futures import ProcessPoolExecutor

    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        cells = sum(pool.map(_calamine_read, [str(p) for p in files], chunksize=8))
    stages["calamine"] = {"seconds": time.perf_counter() - t0, "cells": cells}

    root_a = _fresh(scratch / "pool")
    t0 = time.perf_counter()
    summary = collect(Archive(root_a), [project.inbox], settings, plan, workers=workers)
    stages["pool"] = {"seconds": time.perf_counter() - t0, "new": len(summary.new)}

    from distributed import Client, LocalCluster

    root_b = _fresh(scratch / "dask")
    t0 = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        client.run(_warm_up)
        stages["dask start-up"] = {"seconds": time.perf_counter() - t0}
        t0 = time.perf_counter()
        summary = collect(Archive(root_b), [project.inbox], settings, plan,
                                          reader=dask_reader(client, batch_size=batch_size))
        stages["dask"] = {"seconds": time.perf_counter() - t0, "new": len(summary.new)}

    a, b = archive_digest(root_a), archive_digest(root_b)
    results["archives"] = {"pool": a, "dask": b, "identical": a == b}
    return results


def table(r: dict) -> str:
    """The markdown table of one run."""
    n, s = r["n"], r["stages"]
    floor = s["calamine"]["seconds"]
    w = r["workers"]
    label = {"calamine": f"calamine floor ({w} processes)",
             "pool": f"collect, default reader (process pool, workers={w})",
             "dask start-up": f"LocalCluster start-up ({w} workers × 1 thread, imports)",
             "dask": f"collect, dask_reader (LocalCluster {w}×1, batch_size={r['batch_size']})"}
    lines = [f"| N={n} | s | ms/file | ÷ calamine floor |", "|---|---:|---:|---:|"]
    for key in ("calamine", "pool", "dask start-up", "dask"):
        sec = s[key]["seconds"]
        ratio = "" if key == "dask start-up" else f"{sec / floor:.1f}"
        per_file = "" if key == "dask start-up" else f"{1000 * sec / n:.1f}"
        lines.append(f"| {label[key]} | {sec:.2f} | {per_file} | {ratio} |")
    lines.append(f"| **dask ÷ default** | | | **{s['dask']['seconds'] / s['pool']['seconds']:.2f}** |")
    arch = r["archives"]
    counts = ", ".join(f"{t} {arch['pool'][t]['rows']}" for t in _TABLES)
    lines += ["", f"Archives identical: **{'yes' if arch['identical'] else 'NO'}** ({counts} rows"
              " in each; contents compared without ids and times)."]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="collect on a local Dask cluster (not a test)")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--data", default=os.environ.get("XLPLAN_BENCH_DATA", "/tmp/xlplan-bench"),
                    help="where the corpora are cached (one folder per N)")
    ap.add_argument("--scratch", help="where the two archives are written "
                                      "(default /tmp/xlplan-dask-bench/n<N>)")
    ap.add_argument("--workers", type=int, default=2, help="pool processes = Dask workers")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--build-corpus", action="store_true", help="make the corpus when missing")
    ap.add_argument("--json", help="write the results to this JSON file")
    args = ap.parse_args(argv)
    scratch = Path(args.scratch or f"/tmp/xlplan-dask-bench/n{args.n}")
    r = run(args.n, Path(args.data), scratch, args.workers, args.batch_size, args.build_corpus)
    for key, value in r["stages"].items():
        print(f"N={args.n} {key:14s} {value['seconds']:8.2f}s", file=sys.stderr, flush=True)
    print(table(r))
    if args.json:
        Path(args.json).write_text(json.dumps(r, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0 if r["archives"]["identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
