"""Committee scoring (中間評価): scoring forms per member, and the 中間評価結果 table.

Each 推進会議委員 gets a locked form listing every measure with its roles and a summary of this
year's merged results from the archive (members score on facts), a rating dropdown
(①できていない … ⑤よくできている, or 評価しない to leave a measure unscored on purpose) and a
comment cell. The forms are collected through the same ``collect``; the merge publishes per
measure the average to one decimal (rounded half up, as the seed shows), the number of raters,
the spread and every comment as ○ bullets.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .archive import Archive
from .status import STATUS_MISSING
from .excel_limits import CELL_TEXT_LIMIT, cut_text
from .files import atomic_write, safe_filename
from .render import build_workbook
from .plan import Member, Plan
from .rounding import average as half_up_average
from .rounding import round_half_up  # noqa: F401  (part of this module's API)
from .settings import Settings
from .template import load_template_spec


@dataclass
class ScoringFile:
    """One scoring form written for a committee member."""

    member: Member
    path: Path
    measures: int


# A department that submitted but wrote no 実績 (or whose layout has no 実績 field).
NO_RESULT_TEXT = "（実績の記入なし）"


def results_summaries(archive: Archive | None, plan: Plan) -> dict[str, str]:
    """これまでの主な取組 per project: each department's 実績 of this year, '【課】…' lines; a
    department that has not submitted is listed as 【課】未提出 (the archive's status word), so a
    committee member sees who is missing rather than an empty or 「集計前」 cell."""
    current = archive.department_current(plan) if archive is not None else {}
    texts: dict[str, dict[str, str]] = {}
    if current:
        for v in archive.values([s.id for s in current.values()]):
            if v["field"] == "eval_result" and isinstance(v["value"], str) and v["value"].strip():
                text = v["value"].strip()
                prefix = f"【{v['department']}】"
                # Departments often start their entry with their own name already (seed 003).
                texts.setdefault(v["project"], {})[v["department"]] = (
                    text if text.startswith(prefix) else prefix + text)
    submitted = {(plan.layout_of(p), d) for p in plan.projects for d in p.departments}
    submitted &= set(current)
    summaries = {}
    for project in plan.projects:
        lines = texts.get(project.id, {})
        summary = "\n".join(
            lines.get(d) or (f"【{d}】{STATUS_MISSING}" if (plan.layout_of(project), d) not in submitted
                             else f"【{d}】{NO_RESULT_TEXT}") for d in project.departments)
        # Many departments' texts can pass what one cell holds; the full texts are in the merged workbook.
        summaries[project.id] = cut_text(summary, CELL_TEXT_LIMIT, _CUT_NOTE)
    return summaries


_CUT_NOTE = "…（文字数が Excel の上限を超えるため以下省略。全文は集計ファイルを参照）"


def scoring_filename(plan: Plan, member: Member) -> str:
    """'R6_中間評価票_03_上田 正明.xlsx'."""
    return f"{plan.year.short}_中間評価票_{member.id.zfill(2)}_{safe_filename(member.name)}.xlsx"


def generate_scoring(plan: Plan, out_dir: Path, settings: Settings, archive: Archive | None = None,
                     members: list[str] | None = None) -> list[ScoringFile]:
    """Write one locked scoring form per committee member (or those whose numbers are given);
    with an archive, while holding the project's lock (one run at a time)."""
    with archive.lock if archive is not None else nullcontext():
        return _generate_scoring(plan, out_dir, settings, archive, members)


def _generate_scoring(plan: Plan, out_dir: Path, settings: Settings, archive: Archive | None,
                      members: list[str] | None) -> list[ScoringFile]:
    spec = load_template_spec("scoring", settings.templates_dir)
    summaries = results_summaries(archive, plan)
    chosen = [m for m in plan.members if not members or m.id in members]
    written = []
    for member in chosen:
        wb, context = build_workbook(plan, member.name, settings, spec, member=member,
                                     summaries=summaries)
        path = atomic_write(Path(out_dir) / scoring_filename(plan, member), wb.save)
        written.append(ScoringFile(member, path, len(context.inputs) // 2))
    return written


def committee_table(archive: Archive, plan: Plan) -> pd.DataFrame:
    """中間評価結果 in seed 003's shape, computed in Python from the archived ratings."""
    current = archive.current(plan, "scoring")
    ratings: dict[str, list[int]] = {}
    abstained: dict[str, int] = {}
    comments: dict[str, list[str]] = {}
    for v in archive.values([s.id for s in current.values()]):
        if v["field"] == "rating":
            if v["kind"] == "abstain":
                abstained[v["project"]] = abstained.get(v["project"], 0) + 1
            elif v["kind"] == "score" and isinstance(v["value"], int) and 1 <= v["value"] <= 5:
                ratings.setdefault(v["project"], []).append(v["value"])
        elif v["field"] == "rating_comment" and isinstance(v["value"], str) and v["value"].strip():
            comments.setdefault(v["project"], []).append(v["value"].strip())
    summaries = results_summaries(archive, plan)
    rows = []
    for project in (p for p in plan.projects if not p.ended):
        direction = plan.direction(project.direction_id)
        goal = plan.goal(direction.goal_no) if direction else None
        scores = ratings.get(project.id, [])
        average = half_up_average(scores)
        bullets = "\n".join(f"○ {c}" for c in comments.get(project.id, []))
        rows.append({
            "基本目標": f"{goal.no}. {goal.name}" if goal else "",
            "施策展開の方向性": f"{direction.id} {direction.name}" if direction else project.direction_id,
            "施策の展開": f"{project.id} {project.name}\n{project.policy}".strip(),
            "それぞれの役割": project.roles,
            "これまでの主な取組": summaries.get(project.id, ""),
            "評価点（平均）": average,
            "評価者数": len(scores),
            "最低～最高": f"{min(scores)}～{max(scores)}" if scores else "",
            "評価しない": abstained.get(project.id, 0),
            "意見等": "\n".join(part for part in (f"{average}" if average is not None else "", bullets)
                               if part),
        })
    columns = ["基本目標", "施策展開の方向性", "施策の展開", "それぞれの役割", "これまでの主な取組",
               "評価点（平均）", "評価者数", "最低～最高", "評価しない", "意見等"]
    df = pd.DataFrame(rows, columns=columns)
    return df.astype(object).where(df.notna(), None)
