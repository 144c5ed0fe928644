"""Findings for people: a terminal table that lines up Japanese text, and JSON."""

from __future__ import annotations

import json
import unicodedata
from typing import Iterable

from .findings import Finding, count_by_severity
from .language import counted, current_lang

_SEVERITY_LABEL = {"ja": {"error": "エラー", "warning": "警告", "info": "情報"},
                   "en": {"error": "error", "warning": "warning", "info": "info"}}


def display_width(text: str) -> int:
    """Columns a string takes in a terminal: full-width characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fit(text: str, width: int) -> str:
    """Pad or cut ``text`` to exactly ``width`` columns (a cut ends with …)."""
    if display_width(text) <= width:
        return text + " " * (width - display_width(text))
    out, used = "", 0
    for ch in text:
        w = display_width(ch)
        if used + w > width - 1:  # keep one column for the ellipsis
            break
        out, used = out + ch, used + w
    return out + "…" + " " * (width - used - 1)


def _location(f: Finding, width: int) -> str:
    """'sheet!cell' fitted to the column, cutting the sheet name so the cell stays visible."""
    if not f.cell:
        return f.sheet or "-"
    room = width - len(f.cell) - 1
    sheet = f.sheet if display_width(f.sheet) <= room else _fit(f.sheet, room).rstrip()
    return f"{sheet}!{f.cell}"


def format_table(findings: Iterable[Finding], lang: str | None = None) -> str:
    """A readable table: severity, code, file, place, message; then a count line."""
    lang = current_lang(lang)
    findings = list(findings)
    head = ("重要度", "コード", "ファイル", "場所", "内容") if lang == "ja" else (
        "severity", "code", "file", "where", "message")
    widths = (8, 26, 30, 22)
    lines = ["  ".join(_fit(h, w) for h, w in zip(head[:4], widths)) + "  " + head[4]]
    for f in findings:
        where = _location(f, widths[3])
        cells = (_SEVERITY_LABEL[lang][f.severity], f.code, f.file or "-", where)
        lines.append("  ".join(_fit(c, w) for c, w in zip(cells, widths)) + "  " + f.message(lang))
    counts = count_by_severity(findings)
    if lang == "ja":
        lines.append(f"エラー {counts['error']} 件、警告 {counts['warning']} 件、情報 {counts['info']} 件")
    else:
        lines.append(f"{counted(counts['error'], 'error')}, {counted(counts['warning'], 'warning')}, "
                     f"{counts['info']} info")
    return "\n".join(lines)


def findings_json(findings: Iterable[Finding], files: list[dict], lang: str | None = None) -> str:
    """``{"findings": [...], "files": [...]}`` with every location field of each finding."""
    payload = {"findings": [f.to_dict(lang) for f in findings], "files": files}
    return json.dumps(payload, ensure_ascii=False, indent=2, default=str)
