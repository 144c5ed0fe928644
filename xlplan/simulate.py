"""Simulated departments for the demo: fill generated workbooks as people do, mistakes included.

This stands in for Excel on the departments' PCs. It writes only into copies of the generated
workbooks (never into a returned file) and is deterministic for a given seed.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from openpyxl import load_workbook

from .metadata import METADATA_SHEET, unverified_metadata
from .plan import Plan
from .schema import FieldKind, InputCell, WorkbookMetadata

_TEXTS = {
    "do": ["地区ケア会議に市職員が参加し、{n}地区で開催した。", "関係機関と連携し、計画どおり実施した。\n参加者アンケートを行った。"],
    "achievement": ["目標をおおむね達成した。参加者の満足度も高かった。", "一部の地区で開催できなかったが、\n全体としては計画どおり進んだ。"],
    "issues": ["担い手の高齢化が進んでいる。", "周知が十分でなく、参加者が固定化している。"],
    "action": ["開催方法を見直し、若い世代の参加を促す。", "関係課と協議し、次年度の実施体制を整える。"],
    "eval_result": ["【{dept}】\n■ 計画どおり事業を実施した。件数: {n}件", "■ 研修会を{n}回開催した。"],
    "eval_name": ["{project}"],
    "eval_comment": ["■ 参加者が増え、効果があった。今後も継続したい。", "■ 周知方法に課題が残った。"],
    "next_plan": ["引き続き事業を実施する。", "内容を見直して実施する。"],
    "next_name": ["{project}"],
}


@dataclass
class SimulatedReturn:
    """One workbook a simulated department sent back, and what was done to it."""

    department: str
    path: Path
    mistakes: list[str]


def _metadata(wb) -> WorkbookMetadata:
    return unverified_metadata([list(r) for r in wb[METADATA_SHEET].iter_rows(values_only=True)])


def _fields(wb) -> tuple[InputCell, ...]:
    return _metadata(wb).fields


def _good_value(field: InputCell, plan: Plan, rng: random.Random, department: str = ""):
    kind = field.kind
    if kind.is_number:
        target = _target_value(plan, field)
        base = target if isinstance(target, (int, float)) and target else rng.randint(1, 20)
        value = base * rng.uniform(0.8, 1.15)
        return round(value, 1) if kind == FieldKind.PERCENT else int(round(value))
    if kind == FieldKind.MILESTONE:
        return rng.choice(["実施", "一部実施", "検討中"])
    if kind == FieldKind.SCORE:
        return rng.choice([3, 4, 4, 5])
    if kind == FieldKind.CHOICE:
        return rng.choice(plan.direction_choices[:3])
    project = plan.project(field.project)
    template = rng.choice(_TEXTS.get(field.field, ["記入しました。"]))
    return template.format(n=rng.randint(2, 30), dept=department, project=project.name if project else "")


def _target_value(plan: Plan, field: InputCell):
    from .fiscal import parse_fiscal_year

    project = plan.project(field.project)
    if not project or field.indicator is None:
        return None
    ind = next((i for i in project.indicators if i.no == field.indicator), None)
    target = ind.target_for(parse_fiscal_year(field.year)) if ind else None
    return target.value if target else None


# Realistic mistakes, each (label, applies-to kind, how the cell ends up).
_QUANTITY, _PERCENT = (FieldKind.QUANTITY,), (FieldKind.PERCENT,)
_MISTAKES = [
    ("全角数字と単位", _QUANTITY, lambda f, v: f"{str(v).translate(str.maketrans('0123456789', '０１２３４５６７８９'))}{f.unit}"),
    ("桁区切りと単位", _QUANTITY, lambda f, v: f"{v:,}{f.unit}"),
    ("達成度が範囲外", (FieldKind.SCORE,), lambda f, v: 6),
    ("達成度が小数", (FieldKind.SCORE,), lambda f, v: "4.5"),
    ("達成度が文字", (FieldKind.SCORE,), lambda f, v: "A"),
    ("選択肢の表記ゆれ", (FieldKind.CHOICE,), lambda f, v: "継続(一部見直し)"),
    ("選択肢にない値", (FieldKind.CHOICE,), lambda f, v: "継続する"),
    ("実績の未入力", (FieldKind.QUANTITY, FieldKind.PERCENT, FieldKind.MILESTONE), lambda f, v: None),
    ("記述の未入力", (FieldKind.TEXT,), lambda f, v: None),
    ("目標と桁違い", _QUANTITY, lambda f, v: v * 10 if isinstance(v, int) and v else 300),
    ("数式の入力", _QUANTITY, lambda f, v: f"={v}*1"),
    ("％を小数で入力", _PERCENT, lambda f, v: round(v / 100, 3)),
]


def _planned_values(fields: tuple[InputCell, ...], department: str, plan: Plan, rng: random.Random,
                    mistakes: int) -> tuple[dict[str, object], list[str]]:
    """Field name → the value a department types (``mistakes`` realistic mistakes among them),
    and the mistakes made. Both fillers use it, so a seed gives the same values in either."""
    chosen = rng.sample(fields, k=min(len(fields), mistakes * 3))
    made: list[str] = []
    planned: dict[str, tuple[str, object]] = {}
    for field in chosen:
        if len(made) >= mistakes:
            break
        options = [m for m in _MISTAKES if field.kind in m[1]]
        if options:
            label, _, make = rng.choice(options)
            planned[field.name] = (label, make)
            made.append(f"{label}: {field.sheet}!{field.cell}")
    values = {}
    for field in fields:
        value = _good_value(field, plan, rng, department)
        if field.name in planned:
            value = planned[field.name][1](field, value)
        values[field.name] = value
    return values, made


def fill_workbook(src: Path, dst: Path, plan: Plan, rng: random.Random, mistakes: int,
                  saved_at: dt.datetime | None = None) -> list[str]:
    """Copy ``src`` to ``dst`` and fill its input cells; make ``mistakes`` realistic mistakes.

    ``saved_at`` sets the last-saved time recorded inside the file and the file's own time,
    as an application saving on that day would.
    """
    shutil.copyfile(src, dst)
    wb = load_workbook(dst)
    department = _metadata(wb).department
    fields = _fields(wb)
    values, made = _planned_values(fields, department, plan, rng, mistakes)
    for field in fields:
        wb[field.sheet][field.cell] = values[field.name]
    wb.save(dst)
    if saved_at is not None:
        _set_last_saved(dst, saved_at)
    return made


def fill_package(src: Path, dst: Path, plan: Plan, rng: random.Random, mistakes: int,
                 saved_at: dt.datetime | None = None) -> list[str]:
    """``fill_workbook`` at XML level: the same values for the same seed, typed into the input
    cells of the sheet parts (xlplan.ooxml), every other part copied as stored.

    About 100 times faster than an openpyxl load and save (benchmark corpora of thousands of
    workbooks). The file differs from ``fill_workbook``'s as Excel's differs from openpyxl's
    (inline strings instead of shared strings, untouched parts kept as they were); what a
    reader sees in the cells is the same. The last-saved time is ``saved_at`` or now."""
    from python_calamine import CalamineWorkbook

    from .ooxml.package import rewrite_package, sheet_parts
    from .ooxml.worksheet import set_cells

    rows = CalamineWorkbook.from_path(str(src)).get_sheet_by_name(METADATA_SHEET).to_python()
    metadata = unverified_metadata(rows)
    values, made = _planned_values(metadata.fields, metadata.department, plan, rng, mistakes)
    by_sheet: dict[str, dict[str, object]] = {}
    for field in metadata.fields:
        by_sheet.setdefault(field.sheet, {})[field.cell] = values[field.name]
    with zipfile.ZipFile(src) as zf:
        parts = sheet_parts(zf)
    edits = {parts[sheet]: (lambda cells: lambda xml: [set_cells(xml, cells)])(cells)
             for sheet, cells in by_sheet.items()}
    when = saved_at or dt.datetime.now(dt.timezone.utc)
    edits["docProps/core.xml"] = lambda xml: [_with_last_saved(xml, when)]
    shutil.copyfile(src, dst)
    rewrite_package(dst, edits)
    if saved_at is not None:
        os.utime(dst, (saved_at.timestamp(), saved_at.timestamp()))
    return made


def _with_last_saved(core_xml: bytes, when: dt.datetime) -> bytes:
    """docProps/core.xml with ``when`` as its dcterms:modified (the last-saved time)."""
    stamp = when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    return re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                  rb"\g<1>" + stamp + rb"\g<2>", core_xml)


def _set_last_saved(path: Path, when: dt.datetime) -> None:
    """Record ``when`` as the last-saved time (docProps/core.xml) and the file time.

    openpyxl always stamps the current time when saving; an application that saved the file
    two days ago would have written that day instead.
    """
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "docProps/core.xml":
                data = _with_last_saved(data, when)
            dst.writestr(item, data)
    os.replace(tmp, path)
    os.utime(path, (when.timestamp(), when.timestamp()))


def simulate_returns(generated: dict[str, Path], plan: Plan, inbox: Path, seed: int = 2024,
                     missing: int = 1) -> list[SimulatedReturn]:
    """Fill every department's workbook into ``inbox`` under the kind of names people use.

    ``missing`` departments do not send anything; one department sends two versions.
    """
    rng = random.Random(seed)
    inbox.mkdir(parents=True, exist_ok=True)
    departments = sorted(generated)
    absent = set(rng.sample(departments, k=min(missing, len(departments))))
    returns = []
    for n, department in enumerate(departments):
        if department in absent:
            continue
        name = rng.choice([f"{department}_{plan.year.short}評価シート(修正版)最終.xlsx",
                           f"【{department}】事業評価シート.xlsx", f"{plan.year.short}_{department}.xlsx"])
        made = fill_workbook(generated[department], inbox / name, plan, rng, mistakes=n % 4)
        returns.append(SimulatedReturn(department, inbox / name, made))
    if returns:
        first = returns[0]
        older = inbox / f"{first.department}_旧版.xlsx"
        # An earlier version, saved a few minutes before: the newer file must win in the archive.
        # (Not days before: the workbooks were generated moments ago, and a last-saved time
        # before a workbook's generation is not believed; see xlplan.savetime.)
        earlier = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
        made = fill_workbook(generated[first.department], older, plan, rng, mistakes=3, saved_at=earlier)
        returns.append(SimulatedReturn(first.department, older, made))
    (inbox / "送付状.txt").write_text("各課の評価シートを送付します。", encoding="utf-8")
    return returns


_COMMENTS = ["体験者だけでなく広く活動を伝えることが必要。", "今後も活動を継続してほしい。",
             "参加者が年々減っているので、募集方法を工夫してほしい。",
             "市内全域で取り組む必要がある。", "コロナ禍の影響が残っているように感じる。"]


def simulate_scoring(forms: dict[str, Path], plan: Plan, inbox: Path, seed: int = 7,
                     missing: int = 2) -> list[SimulatedReturn]:
    """Committee members fill their forms: ratings (①–⑤ labels), some 評価しない on purpose,
    comments; ``missing`` members send nothing, one forgets a measure, one pastes a 6, and
    one sends the form twice."""
    from .render import ABSTAIN, RATINGS

    rng = random.Random(seed)
    inbox.mkdir(parents=True, exist_ok=True)
    ids = sorted(forms, key=lambda m: int(m) if m.isdigit() else m)
    absent = set(ids[-missing:]) if missing else set()
    returns = []
    for n, member_id in enumerate(ids):
        if member_id in absent:
            continue
        dst = inbox / f"中間評価_{member_id}.xlsx"
        shutil.copyfile(forms[member_id], dst)
        wb = load_workbook(dst)
        made = []
        for field in _fields(wb):
            cell = wb[field.sheet][field.cell]
            if field.field == "rating_comment":
                cell.value = rng.choice(_COMMENTS) if rng.random() < 0.35 else None
                continue
            roll = rng.random()
            if n == 0 and not made:
                cell.value, _ = None, made.append(f"評価の記入漏れ: {field.cell}")
            elif n == 1 and not made:
                cell.value, _ = 6, made.append(f"範囲外の評価点: {field.cell}")
            elif roll < 0.1:
                cell.value = ABSTAIN
            else:
                cell.value = RATINGS[rng.choice([2, 3, 3, 3, 4, 2, 1])]
        wb.save(dst)
        returns.append(SimulatedReturn(member_id, dst, made))
    if returns:
        first = returns[-1]
        again = inbox / f"中間評価_{first.department}_再送.xlsx"
        shutil.copyfile(first.path, again)
        wb = load_workbook(again)
        wb.properties.title = "再送"
        wb.save(again)
        returns.append(SimulatedReturn(first.department, again, ["同じ委員が再送"]))
    return returns
