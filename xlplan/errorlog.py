"""Where xlplan writes the tracebacks of its own bugs: never on the screen, always in a log file.

A bug of xlplan (an exception nobody foresaw) must not look like a department's mistake, and a
user must never see a traceback. The traceback goes to ``<project>/logs/xlplan-errors.log``;
without a project folder (or when it cannot be written), to the user's cache folder
(``%LOCALAPPDATA%\\xlplan`` on Windows, ``$XDG_CACHE_HOME/xlplan`` or ``~/.cache/xlplan``
elsewhere), and as a last resort to the temporary folder. Messages name the file written.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

LOG_NAME = "xlplan-errors.log"


def user_log_dir() -> Path:
    """The per-user folder for xlplan's error log when no project folder is known."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "xlplan"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xlplan"


def error_log_candidates(project_dir: Path | str | None) -> list[Path]:
    """The log files tried in order: the project's, the user's, the temporary folder's."""
    folders = [Path(project_dir) / "logs"] if project_dir else []
    folders += [user_log_dir(), Path(tempfile.gettempdir()) / "xlplan"]
    return [folder / LOG_NAME for folder in folders]


def write_error_log(traceback_text: str, about: str = "", project_dir: Path | str | None = None) -> Path | None:
    """Append one entry (time, what was being done, the traceback) to the first log file that
    can be written; return its path, or None when none could be."""
    from . import __version__

    stamp = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    entry = (f"=== {stamp} xlplan {__version__} (Python {sys.version.split()[0]}, {sys.platform})"
             f"{' — ' + about if about else ''}\n{traceback_text.rstrip()}\n\n")
    for path in error_log_candidates(project_dir):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(entry)
            return path
        except OSError:
            continue
    return None
