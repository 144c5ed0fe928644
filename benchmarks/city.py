"""A city plan through the CLI, as a new user runs it, next to the floors of each stage.

    python benchmarks/city.py --departments 120 --projects 5 --data /tmp/xlplan-bench [--json out.json]

A city plan (seeds 000 and 003) gives every department projects of its own, so no workbook can
be stamped from another. This script makes a project with ``xlplan init``, writes its plan
master (benchmarks/corpus.py's ``rewrite_master``: D departments × P projects each, 2 indicators
per project), then times, each command in its own process as a user types it:

  generate    ``xlplan generate <master>``                       floor: zip-level rewrite
  check       ``xlplan check <inbox>``                           floor: python-calamine
  collect     ``xlplan collect <inbox>``                         floor: python-calamine
  merge       ``xlplan merge``                                   floor: XlsxWriter constant memory

* zip-level rewrite: every generated workbook read and written again at zip level (every part
  decompressed and deflated anew; benchmarks/generate_city.py's floor, which times generate
  through the Python API) — what writing the same files costs at the least.
* python-calamine: every value of every sheet of every returned file, in as many processes as
  xlplan reads with (``os.cpu_count()``, as ``check``/``collect`` default to).
* XlsxWriter constant memory: the merged workbook's cells (every non-empty cell of every
  sheet, read back with python-calamine outside the timer) written again with XlsxWriter
  (``constant_memory``, no styles): writing as many cells as the merged workbook holds.

Between generate and check the workbooks are filled like departments do
(``xlplan.simulate.fill_package``, not timed). The command times include the interpreter's
start (0.1 s). Peak memory is each command's own (``wait4``). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
XLPLAN = [sys.executable, "-m", "xlplan.cli"]


def run_command(args: list[str], cwd: Path) -> dict:
    """Run one xlplan command; its wall time and peak RSS (MB, its main process)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(XLPLAN + args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "XLPLAN_LANG": "en"})
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    stderr = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # 1: findings with errors, as the filled files have on purpose
        sys.stderr.write(stderr)
        raise SystemExit(f"xlplan {args[0]} failed (exit {code})")
    return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024}


def calamine_floor(files: list[Path], workers: int) -> int:
    """Every value of every sheet of the files, read with python-calamine in ``workers``
    processes (run.py's calamineP); the number of non-empty cells."""
    from run import _calamine_read

    paths = [str(p) for p in files]
    if workers <= 1:
        return sum(_calamine_read(p) for p in paths)
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(_calamine_read, paths, chunksize=8))


def build_project(folder: Path, departments: int, per_department: int) -> Path:
    """``xlplan init`` and the city's plan master (not timed); the project folder."""
    from corpus import rewrite_master

    if folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    run_command(["init", str(folder)], folder.parent)
    rewrite_master(folder / "計画マスタ.xlsx", departments, per_department)
    return folder


def fill(project: Path) -> int:
    """Fill every generated workbook into 回収 as departments do (not timed)."""
    from xlplan.plan import load_plan
    from xlplan.simulate import fill_package

    plan = load_plan(project / "計画マスタ.xlsx")
    outbox = sorted((project / "配布").glob("*.xlsx"))
    for i, src in enumerate(outbox):
        fill_package(src, project / "回収" / src.name, plan, random.Random(i), mistakes=i % 3)
    return len(outbox)


def run(departments: int, per_department: int, data: Path, workers: int) -> dict:
    """Every stage and its floor, in this order, on a fresh project; what was measured."""
    sys.path.insert(0, str(HERE))
    from run import merged_floor

    folder = data / f"city{departments}x{per_department}"
    project = build_project(folder, departments, per_department)
    master = project / "計画マスタ.xlsx"
    r: dict = {"departments": departments, "projects_per_department": per_department,
               "workers": workers, "stages": {}}
    stages = r["stages"]

    stages["generate"] = run_command(["generate", str(master)], project)
    generated = sorted((project / "配布").glob("*.xlsx"))
    stages["generate"]["files"] = len(generated)
    from generate_city import _zip_rewrite  # the render engineer's floor, the same for both scripts

    floor_out = project / "bench" / "zip-rewrite"
    stages["zip rewrite"] = {"seconds": _zip_rewrite(generated, floor_out), "files": len(generated)}
    shutil.rmtree(floor_out)

    t0 = time.perf_counter()
    fill(project)
    r["fill_seconds"] = time.perf_counter() - t0
    inbox = project / "回収"
    returned = sorted(inbox.glob("*.xlsx"))

    t0 = time.perf_counter()
    cells = calamine_floor(returned, workers)
    stages["calamine"] = {"seconds": time.perf_counter() - t0, "cells": cells}
    stages["check"] = run_command(["check", str(inbox), "--project", str(project)], project)
    stages["collect"] = run_command(["collect", str(inbox), "--project", str(project)], project)

    stages["merge"] = run_command(["merge", "--project", str(project)], project)
    merged = next((project / "集計").glob("*.xlsx"))
    floor = merged_floor(merged, project / "bench" / "xlsxwriter-merged.xlsx")
    stages["xlsxwriter merged"] = floor
    stages["merge"]["cells"] = floor["cells"]
    stages["merge"]["sheets"] = floor["sheets"]
    return r


def ratios(r: dict) -> list[tuple[str, float]]:
    """The ratios of each stage to its floor."""
    s = r["stages"]
    return [("generate ÷ zip-level rewrite", s["generate"]["seconds"] / s["zip rewrite"]["seconds"]),
            (f"check ÷ calamine ({r['workers']} processes)", s["check"]["seconds"] / s["calamine"]["seconds"]),
            (f"collect ÷ calamine ({r['workers']} processes)", s["collect"]["seconds"] / s["calamine"]["seconds"]),
            ("merge ÷ XlsxWriter (constant memory, same cells)",
             s["merge"]["seconds"] / s["xlsxwriter merged"]["seconds"])]


def table(r: dict) -> str:
    """The markdown tables of one run."""
    d, p = r["departments"], r["projects_per_department"]
    lines = [f"| city plan {d} departments × {p} projects | s | ms/department | peak RSS MB | notes |",
             "|---|---:|---:|---:|---|"]
    for name, v in r["stages"].items():
        notes = ", ".join(f"{k}={x}" for k, x in v.items() if k not in ("seconds", "peak_mb"))
        peak = f"{v['peak_mb']:.0f}" if v.get("peak_mb") else ""
        lines.append(f"| {name} | {v['seconds']:.2f} | {1000 * v['seconds'] / d:.1f} | {peak} | {notes} |")
    lines += ["", "| ratio | value |", "|---|---:|"]
    lines += [f"| {label} | {value:.2f} |" for label, value in ratios(r)]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="a city plan through the CLI (not a test)")
    ap.add_argument("--departments", type=int, default=120)
    ap.add_argument("--projects", type=int, default=5, help="projects of each department")
    ap.add_argument("--data", default=os.environ.get("XLPLAN_BENCH_DATA", "/tmp/xlplan-bench"))
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="processes of the calamine floor (xlplan reads with os.cpu_count())")
    ap.add_argument("--json", help="write the results to this JSON file")
    args = ap.parse_args(argv)
    r = run(args.departments, args.projects, Path(args.data), args.workers)
    print(table(r))
    if args.json:
        Path(args.json).write_text(json.dumps(r, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
