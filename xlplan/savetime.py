"""Whether a workbook's last-saved time can be believed.

The last-saved time (``dcterms:modified`` in docProps/core.xml) is written by the department's
spreadsheet application and is not signed: anyone can set it to 2099. It decides which of a
department's submissions is the newest only when it is plausible: not later than the moment the
file was collected, and not earlier than the moment xlplan generated the workbook (the signed
metadata's ``generated_at``), each with a few minutes' slack for clocks that differ. Otherwise
the collection order decides, and an ``implausible-save-time`` finding says so.
"""

from __future__ import annotations

import datetime as dt

from .status import instant as read_instant

# PCs' clocks differ from the coordinator's by a few minutes; that is no reason for doubt.
SLACK = dt.timedelta(minutes=10)


def instant(value) -> float:
    """An ISO time (text or datetime) as seconds since the epoch (naive times are taken as
    UTC, as ``status.instant`` reads them); -inf when absent or not a time."""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    else:
        moment = read_instant(value if value else None)
    return float("-inf") if moment is None else moment.timestamp()


def save_time_doubt(last_saved, generated_at, collected_at) -> tuple[str, str] | None:
    """Why the last-saved time is not plausible, as (Japanese, English), or None when it is
    (or when there is none: then there is nothing to believe or doubt)."""
    saved = instant(last_saved)
    if saved == float("-inf"):
        return None
    slack = SLACK.total_seconds()
    if collected_at is not None and saved > instant(collected_at) + slack:
        return "回収した時刻より後", "later than the moment of collection"
    if saved < instant(generated_at) - slack:
        return "様式を作成した時刻より前", "earlier than the moment the workbook was generated"
    return None


def plausible(last_saved, generated_at, collected_at) -> bool:
    """A last-saved time that exists and can be believed (see the module's docstring)."""
    return instant(last_saved) != float("-inf") and save_time_doubt(last_saved, generated_at, collected_at) is None
