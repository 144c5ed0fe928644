"""Benchmark corpus: n department workbooks of 12 full 事業シート each, filled like departments do.

``make_corpus(folder, n)`` makes a project with ``xlplan.init_project``, rewrites its plan master
(openpyxl) to n departments and 12 projects, each project listing every department and carrying
2 indicators, generates the n department workbooks into ``配布`` and fills each one with
``xlplan.simulate.fill_package`` (``mistakes = i % 3``) into ``回収``: the same values as
``fill_workbook`` (openpyxl load + save) for the same seed, typed into the sheet XML (about 10 ms
a workbook instead of 550 ms).

The corpus is cached: when ``回収`` already holds n filled files (and the project exists) nothing
is generated again. Not part of the test suite.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from openpyxl import load_workbook

import xlplan
from xlplan.plan import SHEET_DEPARTMENTS, SHEET_INDICATORS, SHEET_PROJECTS, load_plan
from xlplan.project import MASTER_NAME, ProjectFolder
from xlplan.settings import SETTINGS_NAME, load_settings
from xlplan.simulate import fill_package

N_PROJECTS = 12
INDICATORS_PER_PROJECT = 2
# Direction ids of the embedded sample master (4 goals' directions are kept as they are).
_DIRECTIONS = ["1-1", "1-2", "2-1", "2-2", "3-1", "3-2"]
_UNITS = ["回", "人", "地区", "%"]


def department_name(i: int) -> str:
    """Department names of the synthetic city: 地域福祉0001課 …"""
    return f"地域福祉{i:04d}課"


def _clear_rows(ws) -> None:
    if ws.max_row > 1:
        ws.delete_rows(2, ws.max_row - 1)


def _headers(ws) -> dict[str, int]:
    return {str(c.value): c.column for c in ws[1] if c.value is not None}


def rewrite_master(master: Path, n: int, per_department: int = 0) -> None:
    """n departments and their projects, 2 indicators per project.

    ``per_department`` = 0 (the survey): 12 projects, each listing every department.
    ``per_department`` = k (a city plan, like seeds 000 and 003): every department has k
    projects of its own (n × k projects)."""
    wb = load_workbook(master)
    departments = [department_name(i) for i in range(1, n + 1)]

    ws = wb[SHEET_DEPARTMENTS]
    _clear_rows(ws)
    for i, name in enumerate(departments, start=1):
        ws.append([name, f"第{(i - 1) // 20 + 1}部", f"担当{i}", f"dept{i:04d}@example.invalid"])

    if per_department:
        owners = [d for d in departments for _ in range(per_department)]
    else:
        owners = ["、".join(departments)] * N_PROJECTS
    ws = wb[SHEET_PROJECTS]
    col = _headers(ws)
    _clear_rows(ws)
    project_ids = []
    for p, owner in enumerate(owners):
        direction = _DIRECTIONS[p % len(_DIRECTIONS)]
        pid = f"{direction}-{p // len(_DIRECTIONS) + 1}"
        project_ids.append(pid)
        row = [None] * ws.max_column
        values = {
            "事業番号": pid,
            "施策の方向性番号": direction,
            "事業名": f"地域福祉推進事業{p + 1:02d}",
            "担当課": owner,
            "現状と課題": "担い手の高齢化が進み、地区ごとの活動に差がある。参加者が固定化している。",
            "方針・目標": "地区の特性に応じた支援を行い、住民・社協・行政の連携体制を強化する。",
            "それぞれの役割": "市民：活動に参加する。\n社協：活動を支援する。\n行政：体制を整える。",
            "状態": "実施中",
        }
        for header, value in values.items():
            if header in col:
                row[col[header] - 1] = value
        ws.append(row)

    ws = wb[SHEET_INDICATORS]
    year_columns = ws.max_column - 4  # 事業番号, 指標番号, 取組みの達成目標, 単位, then one per year
    _clear_rows(ws)
    for p, pid in enumerate(project_ids):
        for k in range(1, INDICATORS_PER_PROJECT + 1):
            unit = _UNITS[(p + k) % len(_UNITS)]
            base = 10 * (p % 50 + 1) + k
            ws.append([pid, k, f"指標{p + 1:02d}-{k}の達成目標", unit] +
                      [base + 2 * y for y in range(year_columns)])
    wb.save(master)


def _open_project(folder: Path) -> ProjectFolder:
    settings = load_settings(folder / SETTINGS_NAME)
    return ProjectFolder(folder, settings.master or folder / MASTER_NAME, settings)


def filled_files(project: ProjectFolder) -> list[Path]:
    return sorted(p for p in project.inbox.glob("*.xlsx") if not p.name.startswith(("~$", ".")))


def _generate_part(master: str, settings_path: str, outbox: str, departments: list[str]) -> int:
    plan = load_plan(Path(master))
    settings = load_settings(Path(settings_path))
    return len(xlplan.generate(plan, Path(outbox), settings, departments=departments))


def _fill_part(jobs: list[tuple[str, str, int, int]], master: str) -> int:
    plan = load_plan(Path(master))
    for src, dst, rng_seed, mistakes in jobs:
        fill_package(Path(src), Path(dst), plan, random.Random(rng_seed), mistakes=mistakes)
    return len(jobs)


def _fill_jobs(jobs: list, project: ProjectFolder, workers: int) -> None:
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_fill_part, [jobs[k::workers] for k in range(workers)],
                          [str(project.master)] * workers))
    else:
        _fill_part(jobs, str(project.master))


def make_corpus(folder: Path | str, n: int, seed: int = 0, verbose: bool = False, workers: int = 1):
    """(project, plan, files): the project folder, its plan and the n filled workbooks in 回収.

    ``workers`` > 1 splits generating and filling over that many processes (same result)."""
    folder = Path(folder)
    if (folder / SETTINGS_NAME).exists():
        project = _open_project(folder)
        plan = load_plan(project.master)
        files = filled_files(project)
        if len(files) == n and len(plan.departments) == n:
            return project, plan, files
        generated = sorted(project.outbox.glob("*.xlsx"))
        if len(plan.departments) == n and len(generated) == n:  # an interrupted build: fill the rest
            done = {f.name for f in files}
            jobs = [(str(src), str(project.inbox / src.name), seed * 1_000_003 + i, i % 3)
                    for i, src in enumerate(generated) if src.name not in done]
            _fill_jobs(jobs, project, workers)
            return project, plan, filled_files(project)
        raise RuntimeError(f"{folder} holds an incomplete or different corpus "
                           f"({len(files)} files, {len(plan.departments)} departments); remove it")
    started = time.perf_counter()
    project = xlplan.init_project(folder)
    rewrite_master(project.master, n)
    plan = load_plan(project.master)
    assert len(plan.departments) == n and len(plan.projects) == N_PROJECTS, plan
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        names = plan.department_names()
        parts = [names[k::workers] for k in range(workers)]
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_generate_part, [str(project.master)] * workers,
                          [str(project.settings.path)] * workers, [str(project.outbox)] * workers, parts))
        generated = [g for g in project.outbox.glob("*.xlsx")]
    else:
        generated = [g.path for g in xlplan.generate(plan, project.outbox, project.settings)]
    if verbose:
        print(f"  corpus n={n}: generated {len(generated)} in {time.perf_counter() - started:.1f}s",
              file=sys.stderr, flush=True)
    rng_seed = seed * 1_000_003
    # Sorted by file name, which is R6_<department>_…: the same order as the departments.
    jobs = [(str(src), str(project.inbox / src.name), rng_seed + i, i % 3)
            for i, src in enumerate(sorted(generated, key=lambda g: g.name))]
    _fill_jobs(jobs, project, workers)
    if verbose:
        print(f"  corpus n={n}: filled in {time.perf_counter() - started:.1f}s total",
              file=sys.stderr, flush=True)
    return project, plan, filled_files(project)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("n", type=int)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    project, plan, files = make_corpus(args.folder, args.n, verbose=True, workers=args.workers)
    print(f"{len(files)} files in {project.inbox}")
