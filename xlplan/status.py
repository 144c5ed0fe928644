"""One vocabulary for the submission status, shown the same way everywhere.

``xlplan status`` (and ``collect``, ``choose``), the coordinator panel's 状況 table, the merged
workbook's 提出状況 sheet and its CSV copy all take their rows from :func:`status_rows`, and
each word from :class:`Status`, in Japanese or English. A file is never called one thing in
one place and another elsewhere.

A department (or committee member) line is 提出済 / 要確認 / 要修正 (the submission that counts
has warnings / errors) or 未提出. Every other submission is listed too: a version of the same
department that is not used (集計に使わない版), or a file that counts for nobody (対象外) with
its reason (unreadable, another plan's or year's form, a sender not in the master).

Times are shown in the project's local time zone (``timezone`` in xlplan.toml, Asia/Tokyo by
default): as date-times in the workbook, as ``2026-12-02 04:27`` text in the CLI and panel.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterator
from zoneinfo import ZoneInfo

from .findings import current_lang
from .language import counted

DEFAULT_TIMEZONE = "Asia/Tokyo"

# code → (Japanese, English). The Japanese words are the ones the README and tests use.
_WORDS = {
    "submitted": ("提出済", "submitted"),
    "check": ("要確認", "to check"),
    "fix": ("要修正", "to fix"),
    "missing": ("未提出", "not submitted"),
    "not-used": ("集計に使わない版", "version not used"),
    "not-counted": ("対象外", "not counted"),
}
_REASONS = {
    "unreadable": ("読み取れないファイル", "unreadable file"),
    "other-plan": ("別の計画の様式", "form of another plan"),
    "other-year": ("{year} の様式", "form for {year}"),
    "unknown-department": ("計画マスタにない担当課", "department not in the plan master"),
    "unknown-member": ("計画マスタにない委員", "member not in the plan master"),
}
_USE = {"counted": ("使用", "used"), "pinned": ("使用（指定）", "used (chosen)")}
_GROUP = {"department": ("担当課", "department"), "member": ("委員", "member"), "": ("", "")}


@dataclass(frozen=True)
class Status:
    """The status of a department line or of one submission: ``code`` is one of
    submitted / check / fix / missing / not-used / not-counted; ``reason`` says why a file is
    not counted (unreadable / other-plan / other-year / unknown-department / unknown-member),
    ``year`` is the other year of an other-year form."""

    code: str
    reason: str = ""
    year: str = ""

    def text(self, lang: str | None = None) -> str:
        """The word shown to people, e.g. 要修正, 対象外（R5 の様式）, not counted (form for R5)."""
        en = current_lang(lang) == "en"
        word = _WORDS[self.code][en]
        if not self.reason:
            return word
        why = _REASONS[self.reason][en].format(year=self.year or "?")
        return f"{word} ({why})" if en else f"{word}（{why}）"

    @property
    def counts(self) -> bool:
        """True for the submission that counts for its department (or member)."""
        return self.code in ("submitted", "check", "fix")


# The Japanese words of a department's status, as the workbooks and the merged tables write them.
STATUS_MISSING, STATUS_FIX, STATUS_WARN, STATUS_OK = (
    Status(code).text("ja") for code in ("missing", "fix", "check", "submitted"))


def status_of_counted(sub) -> Status:
    """The status of a department by the submission that counts for it (None: 未提出)."""
    if sub is None:
        return Status("missing")
    return Status("fix" if sub.errors else "check" if sub.warnings else "submitted")


def status_of_other(sub, plan) -> Status:
    """The status of a submission that does not count: a version of a department or member
    of the plan that another version replaces, or a file that counts for nobody and why."""
    if not sub.readable:
        return Status("not-counted", "unreadable")
    if sub.plan_id != plan.plan_id:
        return Status("not-counted", "other-plan")
    if sub.form_year != plan.year.short:
        return Status("not-counted", "other-year", sub.form_year)
    if sub.kind == "scoring":
        known = sub.member in {m.id for m in plan.members}
        return Status("not-used") if known else Status("not-counted", "unknown-member")
    if sub.department in set(plan.department_names()):
        return Status("not-used")
    return Status("not-counted", "unknown-department")


# --- times -------------------------------------------------------------------------------


def zone(name: str | None = None) -> ZoneInfo:
    """The time zone of a name from xlplan.toml (Asia/Tokyo when not set)."""
    return ZoneInfo(name or DEFAULT_TIMEZONE)


def instant(text: str | None) -> dt.datetime | None:
    """An archived ISO time (UTC, Z or with an offset) as an aware date-time; naive times are
    taken as UTC; None when absent or unreadable."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment


def local_time(text: str | None, tz: ZoneInfo | str | None = None) -> dt.datetime | None:
    """An archived ISO time as a naive local date-time, to the second (what a spreadsheet cell
    holds); None when absent or unreadable."""
    moment = instant(text)
    if moment is None:
        return None
    tz = tz if isinstance(tz, ZoneInfo) else zone(tz)
    return moment.astimezone(tz).replace(tzinfo=None, microsecond=0)


# --- the rows every view shows ---------------------------------------------------------------

STATUS_COLUMNS = ["区分", "担当課", "状況", "集計", "ID", "提出ファイル", "最終保存", "回収日時", "エラー",
                  "警告", "提出回数", "備考", "保管先"]


def _group(kind: str) -> str:
    return "member" if kind == "scoring" else "department" if kind else ""


def _newer_note(line, lang: str) -> str:
    """What a pinned choice hides: newer submissions, and how to use them instead."""
    if not line.pinned or not line.newer:
        return ""
    ids = ", ".join(str(s.id) for s in line.newer)
    if lang == "en":
        return (f"chosen with xlplan choose; newer submission ID {ids} is not used "
                f"(xlplan choose --department {line.department} --latest)")
    return (f"xlplan choose で指定。より新しい提出 ID {ids} は使われていません"
            f"（最新を使うには xlplan choose --department {line.department} --latest）")


def _submission_cells(sub, tz) -> dict:
    return {"ID": sub.id, "提出ファイル": sub.original_name, "最終保存": local_time(sub.last_saved, tz),
            "回収日時": local_time(sub.collected_at, tz), "エラー": sub.errors, "警告": sub.warnings,
            "保管先": sub.archived_path}


def status_rows(lines, others, plan, lang: str | None = None, tz=None) -> Iterator[dict]:
    """The status table (columns STATUS_COLUMNS) in every view's order: per department (then
    committee member) its line, with the submission that counts, followed by each other
    version it sent; then the files that count for nobody. Times are local date-times."""
    lang = current_lang(lang)
    en = lang == "en"
    tz = tz if isinstance(tz, ZoneInfo) else zone(tz)
    for line in lines:
        sub = line.submission
        group = _GROUP[_group(line.kind)][en]
        row = {"区分": group, "担当課": line.department, "状況": line.state.text(lang),
               "集計": _USE["pinned" if line.pinned else "counted"][en] if sub else "",
               "提出回数": line.submissions, "備考": _newer_note(line, lang)}
        row.update(_submission_cells(sub, tz) if sub else {"提出ファイル": "", "保管先": ""})
        yield row
        for other in line.others:
            yield {"区分": group, "担当課": line.department, "状況": status_of_other(other, plan).text(lang),
                   "集計": "", "備考": "", **_submission_cells(other, tz)}
    for sub in others:
        yield {"区分": _GROUP[_group(sub.kind)][en],
               "担当課": sub.department or ("(unknown)" if en else "（不明）"),
               "状況": status_of_other(sub, plan).text(lang), "集計": "", "備考": "",
               **_submission_cells(sub, tz)}


def status_lines_text(rows, plan, lang: str | None = None) -> list[str]:
    """The status rows as the CLI prints them: one line per department, member or file."""
    from .report import display_width

    def pad(text: str, width: int) -> str:  # never cut: a status word or name is read whole
        return text + " " * max(width - display_width(text), 0)

    en = current_lang(lang) == "en"
    out = [f"Submission status ({plan.year.label_en})" if en else f"提出状況（{plan.year.label_ja}）"]
    for row in rows:
        name = pad(str(row["担当課"]), 16)
        status = pad(str(row["状況"]), 16)
        if row.get("ID") is None:
            out.append(f"  {name}  {status}".rstrip())
            continue
        saved = _fmt(row["最終保存"])
        if en:
            detail = (f"ID {row['ID']}  {row['提出ファイル']} (saved {saved}, {counted(row['エラー'], 'error')}, "
                      f"{counted(row['警告'], 'warning')}")
            detail += f", {counted(row['提出回数'], 'submission')}" if row.get("提出回数") else ""
            detail += ")" + (f" [{row['集計']}]" if row["集計"] else "")
        else:
            detail = (f"ID {row['ID']}  {row['提出ファイル']}（保存 {saved}、エラー {row['エラー']}、"
                      f"警告 {row['警告']}")
            detail += f"、提出 {row['提出回数']} 回" if row.get("提出回数") else ""
            detail += "）" + (f"［{row['集計']}］" if row["集計"] else "")
        out.append(f"  {name}  {status}  {detail}")
        if row.get("備考"):
            out.append(f"  {' ' * 16}  ※ {row['備考']}")
    return out


def _fmt(moment) -> str:
    """A local date-time as the CLI and the panel show it: '2026-12-02 04:27'."""
    return moment.strftime("%Y-%m-%d %H:%M") if isinstance(moment, dt.datetime) else "-"


def panel_rows(rows) -> list[list]:
    """The status rows as the panel's 状況 table shows them (xlplan.panel.STATUS_HEADER;
    times as the CLI prints them)."""
    return [[r["担当課"], r["状況"], r.get("ID"), r.get("提出ファイル") or "", _fmt(r.get("最終保存"))
             if r.get("ID") is not None else "", r.get("エラー"), r.get("警告"), r["集計"], r["備考"]]
            for r in rows]
