"""Progress bars for steps that can take more than a few seconds (tqdm, on a terminal only).

Bars go to stderr and only when stderr is a terminal, so logs, pipes, tests and the xlwings
panel stay clean; ``XLPLAN_PROGRESS=0`` turns them off, ``XLPLAN_PROGRESS=1`` forces them on.
The label follows the message language (``XLPLAN_LANG``).
"""

from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

from tqdm import tqdm

from .findings import current_lang

T = TypeVar("T")

# Below this many items a step is quick; a bar would only flicker.
MIN_ITEMS = 8


def _enabled(total: int | None) -> bool:
    wanted = os.environ.get("XLPLAN_PROGRESS", "")
    if wanted in ("0", "1"):
        return wanted == "1"
    return (total is None or total >= MIN_ITEMS) and sys.stderr.isatty()


def _label(ja: str, en: str | None) -> str:
    return en if en and current_lang() == "en" else ja


def progress(items: Iterable[T], ja: str, en: str | None = None, total: int | None = None,
             unit: str = "file") -> Iterable[T]:
    """``items``, with a bar while they are consumed (when shown at all, see module doc)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if not _enabled(total):
        return items
    return tqdm(items, desc=_label(ja, en), total=total, unit=unit, leave=False, file=sys.stderr,
                dynamic_ncols=True)


class ProgressCallback:
    """A ``progress(done, total, path)`` callback (the form ``xlplan.collect.collect`` reports in)
    drawing one bar; call :meth:`close` when the step ends."""

    def __init__(self, ja: str, en: str | None = None, unit: str = "file"):
        self._label = _label(ja, en)
        self._unit = unit
        self._bar = None

    def __call__(self, done: int, total: int, path=None) -> None:
        if self._bar is None:
            if not _enabled(total):
                return
            self._bar = tqdm(desc=self._label, total=total, unit=self._unit, leave=False,
                             file=sys.stderr, dynamic_ncols=True)
        self._bar.n = done
        self._bar.refresh()
        if done >= total:
            self.close()

    def close(self) -> None:
        """Remove the bar from the terminal."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
