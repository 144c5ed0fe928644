"""Benchmark xlplan's stages against floors and a naive baseline, each stage in a fresh process.

    python benchmarks/run.py --n 50 500 [--workers 2] [--data /tmp/xlplan-bench] [--json out.json]
    python benchmarks/run.py --n 50 --profile check1        # cProfile one stage, print the top

For each N the corpus (benchmarks/corpus.py) is made or reused under ``--data``; then every stage
runs in its own subprocess (``--child``), so imports are paid outside the timed part and peak memory
(VmHWM of that process, read at its end; the largest pool worker from RUSAGE_CHILDREN) is per stage.

Stages:
  idle              imports only (memory baseline of a child)
  generate          xlplan.generate of the N department workbooks (every department gets the same
                    12 projects, so xlplan renders one prototype and stamps N copies)
  render            the full openpyxl render of one department's workbook, per department: what
                    generate costs per file when every department has projects of its own
  xlsxwriter        baseline: XlsxWriter writes N workbooks with the same cells (text/numbers, no
                    styles) as one generated workbook, the department name replaced
  zipcopy           floor: one generated workbook copied N times at zip level, the department
                    name replaced in every XML part (recompressed)
  check1 / checkP   xlplan.check_files([inbox], settings, plan, workers=1 / W, keep_values=False),
                    as `xlplan check` runs it
  collect           collect(Archive(fresh folder), [inbox], settings, plan, workers=W)
  merge             xlplan.merge.write_merged from that archive
  mergefloor        floor: XlsxWriter (constant memory, no styles) writing every non-empty cell
                    of the merged workbook again (read back with python-calamine, not timed)
  calamine1 / calamineP  floor: python-calamine reads every cell of every sheet, 1 / W processes
  naive             openpyxl load_workbook(p) per file, then a pandas DataFrame of all input cells
                    (positions from the metadata sheet)

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STAGES = ["idle", "generate", "render", "xlsxwriter", "zipcopy", "check1", "checkP", "collect", "merge",
          "mergefloor", "calamine1", "calamineP", "naive"]


# --------------------------------------------------------------------------- child side


def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _calamine_read(path: str) -> int:
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(path)
    cells = 0
    for name in wb.sheet_names:
        rows = wb.get_sheet_by_name(name).to_python()
        cells += sum(1 for row in rows for v in row if v != "")
    return cells


def _sheet_cells(path: Path) -> list[tuple[str, list[tuple[int, int, object]]]]:
    """Every non-empty cell of every sheet of a workbook (python-calamine), for the XlsxWriter baseline."""
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(path))
    out = []
    for name in wb.sheet_names:
        rows = wb.get_sheet_by_name(name).to_python()
        cells = [(r, c, v) for r, row in enumerate(rows) for c, v in enumerate(row) if v != ""]
        out.append((name, cells))
    return out


def _write_typed(ws, r: int, c: int, v) -> None:
    """One cell through XlsxWriter's typed call (no styles): what the baselines write."""
    if isinstance(v, str):
        ws.write_string(r, c, v)
    elif isinstance(v, bool):
        ws.write_boolean(r, c, v)
    elif isinstance(v, (int, float)):
        ws.write_number(r, c, v)
    else:
        ws.write(r, c, v)


def merged_floor(merged: Path, out: Path) -> dict:
    """The merge floor: XlsxWriter (constant memory, no styles) writing every non-empty cell of
    every sheet of the merged workbook ``merged`` into ``out``. Each sheet is read with
    python-calamine outside the timer (one sheet in memory at a time); only writing is timed."""
    import xlsxwriter
    from python_calamine import CalamineWorkbook

    source = CalamineWorkbook.from_path(str(merged))
    wb = xlsxwriter.Workbook(str(out), {"constant_memory": True, "strings_to_formulas": False,
                                        "strings_to_urls": False, "strings_to_numbers": False})
    seconds, cells = 0.0, 0
    for name in source.sheet_names:
        rows = source.get_sheet_by_name(name).to_python()
        t0 = time.perf_counter()
        ws = wb.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if v == "":
                    continue
                cells += 1
                _write_typed(ws, r, c, v)
        seconds += time.perf_counter() - t0
        del rows
    t0 = time.perf_counter()
    wb.close()
    seconds += time.perf_counter() - t0
    return {"seconds": seconds, "cells": cells, "sheets": len(source.sheet_names)}


def _naive_read(path: Path) -> list[dict]:
    from openpyxl import load_workbook

    from xlplan.metadata import METADATA_SHEET, parse_metadata_rows

    wb = load_workbook(path)
    data, _ = parse_metadata_rows([list(r) for r in wb[METADATA_SHEET].iter_rows(values_only=True)])
    rows = []
    for f in data["fields"]:
        rows.append({"file": path.name, "department": data.get("department"), "sheet": f["sheet"],
                     "cell": f["cell"], "field": f["field"], "project": f.get("project"),
                     "indicator": f.get("indicator"), "value": wb[f["sheet"]][f["cell"]].value})
    return rows


def run_stage(stage: str, folder: Path, n: int, workers: int, sample: int = 0) -> dict:
    """Run one stage in this process; return what was measured."""
    import pandas as pd  # noqa: F401  (every stage pays the same imports before timing)

    import xlplan
    from xlplan.archive import Archive
    from xlplan.collect import collect
    from xlplan.merge import write_merged

    sys.path.insert(0, str(HERE))
    from corpus import make_corpus

    project, plan, files = make_corpus(folder, n)
    settings = project.settings
    inbox = project.inbox
    outbox = project.outbox
    generated = sorted(outbox.glob("*.xlsx"))
    scratch = folder / "bench"
    extra: dict = {}
    # generate and naive are per-file linear and slow: with --sample K they run on the first K
    # departments / files only (reported as files=K; ratios use the per-file time).
    measured = n
    if sample and n > sample and stage in ("render", "naive"):
        measured = sample

    if stage == "idle":
        t0 = time.perf_counter()
    elif stage == "generate":
        out = _fresh(scratch / "generate")
        t0 = time.perf_counter()
        wanted = plan.department_names()[:measured]
        written = xlplan.generate(plan, out, settings, departments=wanted)
        extra["inputs_per_file"] = written[0].inputs
    elif stage == "render":
        from xlplan.render import build_workbook
        from xlplan.template import load_template_spec

        out = _fresh(scratch / "render")
        spec = load_template_spec("department", settings.templates_dir)
        t0 = time.perf_counter()
        for i, dept in enumerate(plan.department_names()[:measured]):
            wb, _ = build_workbook(plan, dept, settings, spec, projects=plan.projects_for(dept))
            wb.save(out / f"{i:05d}.xlsx")
    elif stage == "xlsxwriter":
        import xlsxwriter

        sheets = _sheet_cells(generated[0])
        own = plan.department_names()[0]
        extra["cells_per_file"] = sum(len(c) for _, c in sheets)
        extra["sheets_per_file"] = len(sheets)
        out = _fresh(scratch / "xlsxwriter")
        departments = plan.department_names()
        t0 = time.perf_counter()
        for i, dept in enumerate(departments):
            wb = xlsxwriter.Workbook(str(out / f"{i:05d}.xlsx"))
            for name, cells in sheets:
                ws = wb.add_worksheet(name)
                for r, c, v in cells:
                    _write_typed(ws, r, c, v.replace(own, dept) if isinstance(v, str) else v)
            wb.close()
    elif stage == "zipcopy":
        import zipfile

        own = plan.department_names()[0].encode()
        with zipfile.ZipFile(generated[0]) as z:
            parts = [(info, z.read(info.filename)) for info in z.infolist()]
        out = _fresh(scratch / "zipcopy")
        t0 = time.perf_counter()
        for i, dept in enumerate(plan.department_names()):
            new = dept.encode()
            with zipfile.ZipFile(out / f"{i:05d}.xlsx", "w", zipfile.ZIP_DEFLATED) as z:
                for info, data in parts:
                    if info.filename.endswith((".xml", ".rels")):
                        data = data.replace(own, new)
                    z.writestr(info.filename, data)
    elif stage in ("check1", "checkP"):
        w = 1 if stage == "check1" else workers
        t0 = time.perf_counter()
        # As `xlplan check` does: findings only (check_files(...) with values keeps every
        # value of every file in a DataFrame: memory grows with N by design).
        result = xlplan.check_files([inbox], settings, plan, workers=w, keep_values=False)
        extra["findings"] = len(result.findings)
        extra["workers"] = w
    elif stage == "collect":
        root = _fresh(scratch / "archive")
        import inspect

        kw = {"workers": workers} if "workers" in inspect.signature(collect).parameters else {}
        t0 = time.perf_counter()
        summary = collect(Archive(root), [inbox], settings, plan, **kw)
        extra["new"] = len(summary.new)
        extra["workers"] = kw.get("workers", 1)
    elif stage == "merge":
        root = scratch / "archive"
        if not (root / "xlplan.sqlite").exists():
            raise SystemExit("merge needs the archive of the collect stage: run collect first")
        out = _fresh(scratch / "merged") / "集計.xlsx"
        t0 = time.perf_counter()
        written = write_merged(Archive(root), plan, settings, out)
        extra["merged_bytes"] = written.stat().st_size
    elif stage == "mergefloor":
        merged = scratch / "merged" / "集計.xlsx"
        if not merged.exists():
            raise SystemExit("mergefloor needs the workbook of the merge stage: run merge first")
        floor = merged_floor(merged, _fresh(scratch / "mergefloor") / "floor.xlsx")
        t0 = time.perf_counter() - floor["seconds"]  # only the writing counts
        extra["cells"] = floor["cells"]
        extra["sheets"] = floor["sheets"]
    elif stage in ("calamine1", "calamineP"):
        w = 1 if stage == "calamine1" else workers
        paths = [str(p) for p in files]
        t0 = time.perf_counter()
        if w == 1:
            cells = sum(_calamine_read(p) for p in paths)
        else:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=w) as pool:
                cells = sum(pool.map(_calamine_read, paths, chunksize=8))
        extra["cells"] = cells
        extra["workers"] = w
    elif stage == "naive":
        t0 = time.perf_counter()
        rows = []
        for p in files[:measured]:
            rows += _naive_read(p)
        df = pd.DataFrame(rows)
        extra["values"] = len(df)
    else:
        raise SystemExit(f"unknown stage {stage}")
    seconds = time.perf_counter() - t0
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"stage": stage, "n": n, "files": measured, "seconds": seconds, "peak_mb": _vm_hwm_mb(),
            "worker_peak_mb": children_mb or None, **extra}


# --------------------------------------------------------------------------- parent side


def run_child(stage: str, folder: Path, n: int, workers: int, profile: Path | None = None,
              sample: int = 0) -> dict:
    cmd = [sys.executable]
    if profile is not None:
        cmd += ["-m", "cProfile", "-o", str(profile)]
    cmd += [str(Path(__file__).resolve()), "--child", stage, "--folder", str(folder), "--n", str(n),
            "--workers", str(workers), "--sample", str(sample)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"stage {stage} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _ratio(a, b):
    return a / b if a is not None and b else None


def summarise(results: dict[int, dict[str, dict]], workers: int) -> str:
    lines = ["| N | stage | files timed | s | ms/file | peak RSS MB (main) | largest worker MB | notes |",
             "|---:|---|---:|---:|---:|---:|---:|---|"]
    for n, stages in results.items():
        for stage, r in stages.items():
            notes = ", ".join(f"{k}={v}" for k, v in r.items()
                              if k not in ("stage", "n", "files", "seconds", "peak_mb", "worker_peak_mb"))
            wp = f"{r['worker_peak_mb']:.0f}" if r.get("worker_peak_mb") else ""
            lines.append(f"| {n} | {stage} | {r['files']} | {r['seconds']:.2f} | "
                         f"{1000 * r['seconds'] / r['files']:.1f} | "
                         f"{r['peak_mb']:.0f} | {wp} | {notes} |")
    lines += ["", "| N | ratio | value |", "|---:|---|---:|"]
    for n, s in results.items():
        def sec(k):
            # seconds for all N files (per-file time × N when a stage ran on a sample)
            return s[k]["seconds"] * n / s[k]["files"] if k in s else None

        pipeline = None
        if all(k in s for k in ("collect", "checkP", "merge")):
            pipeline = sec("collect") + sec("checkP") + sec("merge")
        rows = [
            ("check (1 process) ÷ calamine (1 process)", _ratio(sec("check1"), sec("calamine1"))),
            (f"check ({workers} processes) ÷ calamine ({workers} processes)",
             _ratio(sec("checkP"), sec("calamineP"))),
            (f"collect ({workers} processes) ÷ calamine ({workers} processes)",
             _ratio(sec("collect"), sec("calamineP"))),
            ("merge ÷ calamine (1 process)", _ratio(sec("merge"), sec("calamine1"))),
            ("merge ÷ XlsxWriter constant memory writing the merged cells",
             _ratio(sec("merge"), sec("mergefloor"))),
            (f"(collect + merge) ÷ calamine ({workers} processes)",
             _ratio((sec("collect") or 0) + (sec("merge") or 0), sec("calamineP"))),
            (f"(collect + check[{workers}] + merge) ÷ calamine ({workers} processes)",
             _ratio(pipeline, sec("calamineP"))),
            ("naive ÷ check (1 process)", _ratio(sec("naive"), sec("check1"))),
            ("naive ÷ (collect + merge)", _ratio(sec("naive"), (sec("collect") or 0) + (sec("merge") or 0))),
            (f"naive ÷ (collect + check[{workers}] + merge)", _ratio(sec("naive"), pipeline)),
            ("generate ÷ XlsxWriter", _ratio(sec("generate"), sec("xlsxwriter"))),
            ("full render (per department) ÷ XlsxWriter", _ratio(sec("render"), sec("xlsxwriter"))),
            ("generate ÷ zip-copy floor", _ratio(sec("generate"), sec("zipcopy"))),
        ]
        for label, value in rows:
            if value is not None:
                lines.append(f"| {n} | {label} | {value:.2f} |")
    ns = sorted(results)
    if len(ns) >= 2:
        head = " | ".join(f"N={n}" for n in ns)
        lines += ["", f"| stage | peak RSS MB {head} | ratio N={ns[-1]} ÷ N={ns[-2]} |",
                  "|---|" + "---:|" * (len(ns) + 1)]
        for stage in STAGES:
            if all(stage in results[n] for n in ns):
                peaks = [results[n][stage]["peak_mb"] for n in ns]
                lines.append(f"| {stage} | " + " | ".join(f"{p:.0f}" for p in peaks) +
                             f" | {peaks[-1] / peaks[-2]:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="xlplan benchmarks (not part of the test suite)")
    ap.add_argument("--n", type=int, nargs="+", default=[50, 500])
    ap.add_argument("--workers", type=int, default=2, help="processes for checkP / calamineP")
    ap.add_argument("--data", default=os.environ.get("XLPLAN_BENCH_DATA", "/tmp/xlplan-bench"),
                    help="where corpora are made and cached (one folder per N)")
    ap.add_argument("--stages", nargs="+", default=STAGES, choices=STAGES)
    ap.add_argument("--corpus-workers", type=int, default=2, help="processes to build a missing corpus")
    ap.add_argument("--sample", type=int, default=0,
                    help="run generate and naive on the first K files only when N > K (per-file time)")
    ap.add_argument("--json", help="write all results to this JSON file")
    ap.add_argument("--profile", choices=STAGES, help="run only this stage under cProfile, print the top")
    ap.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        print(json.dumps(run_stage(args.child, Path(args.folder), args.n[0], args.workers,
                                   args.sample),
                         ensure_ascii=False))
        return 0

    sys.path.insert(0, str(HERE))
    from corpus import make_corpus

    data = Path(args.data)
    results: dict[int, dict[str, dict]] = {}
    for n in args.n:
        folder = data / f"n{n}"
        t = time.perf_counter()
        make_corpus(folder, n, verbose=True, workers=args.corpus_workers)
        print(f"N={n}: corpus ready in {time.perf_counter() - t:.1f}s ({folder})", file=sys.stderr, flush=True)
        if args.profile:
            if args.profile == "merge" and not (folder / "bench" / "archive" / "xlplan.sqlite").exists():
                run_child("collect", folder, n, args.workers)
            prof = folder / f"{args.profile}.prof"
            r = run_child(args.profile, folder, n, args.workers, profile=prof, sample=args.sample)
            print(json.dumps(r, ensure_ascii=False))
            import pstats

            for key in ("tottime", "cumulative"):
                print(f"\n--- {args.profile} N={n}: top 25 by {key} ---")
                pstats.Stats(str(prof)).sort_stats(key).print_stats(25)
            continue
        results[n] = {}
        for stage in args.stages:
            if stage == "merge" and "collect" not in args.stages and \
                    not (folder / "bench" / "archive" / "xlplan.sqlite").exists():
                run_child("collect", folder, n, args.workers)
            if stage == "mergefloor" and "merge" not in args.stages and \
                    not (folder / "bench" / "merged" / "集計.xlsx").exists():
                run_child("merge", folder, n, args.workers)
            r = run_child(stage, folder, n, args.workers, sample=args.sample)
            results[n][stage] = r
            print(f"N={n} {stage:10s} {r['files']:5d} files {r['seconds']:8.2f}s  "
                  f"{1000 * r['seconds'] / r['files']:7.1f} ms/file  "
                  f"peak {r['peak_mb']:.0f} MB", file=sys.stderr, flush=True)
    if args.profile:
        return 0
    table = summarise(results, args.workers)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps({str(k): v for k, v in results.items()},
                                              ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
