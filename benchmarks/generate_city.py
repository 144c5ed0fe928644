"""Time ``generate`` on a city plan against the zip-level floor, in one run.

A city plan (seeds 000 and 003): every department reports on projects of its own, so no
workbook can be stamped from another's; ``xlplan.sample.city_plan`` makes one from the sample
plan. Stages, each timed in this process (imports done before the timers):

  generate   xlplan.generate of every department (the compiled XML render)
  render     the openpyxl render (build_workbook + save) of the first --sample departments:
             what generate cost per department before, and still the fallback
  zipcopy    floor: every generated file rewritten at zip level (each part read and deflated
             anew into a new zip), as fast as writing these bytes can be
  master     generate of one department with --master projects (a 5,000-project master)
             and the zip-level rewrite of that file

Usage (not part of the test suite; keep N small on a shared machine):

    python benchmarks/generate_city.py --departments 120 --projects 5 --sample 10 --master 5000
    python benchmarks/generate_city.py --json out.json

``time_city(...)`` returns the same numbers as a dict for other scripts (benchmarks/run.py).
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import tempfile
import time
import zipfile
from pathlib import Path


def _zip_rewrite(paths: list[Path], out: Path) -> float:
    """Seconds to rewrite each file at zip level: every part read and deflated into a new zip."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for i, path in enumerate(paths):
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(out / f"{i:05d}.xlsx", "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                dst.writestr(info.filename, src.read(info))
    return time.perf_counter() - start


def time_city(departments: int = 120, projects: int = 5, sample: int = 10, master: int = 0,
              folder: Path | None = None) -> dict:
    """Per-department milliseconds of generate, the openpyxl render and the zip-level floor on
    a city plan of ``departments`` × ``projects``, and (``master`` > 0) of one department with
    ``master`` projects; ratios to the floor timed in the same run."""
    import xlplan
    from xlplan.render import build_workbook
    from xlplan.sample import city_plan
    from xlplan.settings import Settings
    from xlplan.template import load_template_spec

    root = Path(folder or tempfile.mkdtemp(prefix="xlplan-city-"))
    settings = Settings(root, secrets.token_hex(32), "bench")
    result: dict = {"departments": departments, "projects_each": projects}
    try:
        plan = city_plan(departments, projects)
        start = time.perf_counter()
        files = xlplan.generate(plan, root / "generate", settings)
        generate_s = time.perf_counter() - start
        zip_s = _zip_rewrite([f.path for f in files], root / "zipcopy")
        spec = load_template_spec("department")
        names = plan.department_names()[:sample]
        start = time.perf_counter()
        for i, department in enumerate(names):
            wb, _ = build_workbook(plan, department, settings, spec, projects=plan.projects_for(department))
            wb.save(root / f"render-{i}.xlsx")
        render_s = time.perf_counter() - start
        per = {"generate": generate_s / len(files), "render": render_s / max(len(names), 1),
               "zipcopy": zip_s / len(files)}
        result.update({f"{k}_ms": round(v * 1000, 2) for k, v in per.items()})
        result["generate_x_floor"] = round(per["generate"] / per["zipcopy"], 2)
        result["render_x_floor"] = round(per["render"] / per["zipcopy"], 2)
        result["kb_per_file"] = round(sum(f.path.stat().st_size for f in files) / len(files) / 1024, 1)
        if master:
            big = city_plan(1, master)
            start = time.perf_counter()
            written = xlplan.generate(big, root / "master", settings)
            master_s = time.perf_counter() - start
            floor_s = _zip_rewrite([written[0].path], root / "master-zip")
            with zipfile.ZipFile(written[0].path) as zf:
                sheets = sum(1 for n in zf.namelist() if n.startswith("xl/worksheets/sheet"))
            result.update({"master_projects": master, "master_s": round(master_s, 2),
                           "master_zipcopy_s": round(floor_s, 2),
                           "master_x_floor": round(master_s / floor_s, 2),
                           "master_mb": round(written[0].path.stat().st_size / 1e6, 1),
                           "master_sheets": sheets})
    finally:
        if folder is None:
            shutil.rmtree(root, ignore_errors=True)
    return result


def main() -> None:
    """Command line: print (and optionally save) the timings."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--departments", type=int, default=120)
    parser.add_argument("--projects", type=int, default=5)
    parser.add_argument("--sample", type=int, default=10, help="departments rendered with openpyxl")
    parser.add_argument("--master", type=int, default=0, help="projects of the one-department master")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = time_city(args.departments, args.projects, args.sample, args.master)
    print(json.dumps(result, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
