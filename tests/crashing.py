"""A reading step that crashes the way a native library does, for tests of the reading pool.

``DiesOn(name)`` reads files as ``read_returned`` does, except the file called ``name``: there
it writes a Rust-like panic and backtrace to stderr and aborts its process (SIGABRT), as
python-calamine did on a cell at XFD1048576. Module level so that reading processes can
import it by name.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from xlplan.check import ProcessReader
from xlplan.read import Limits, read_returned

PANIC_TEXT = "memory allocation of 549755813888 bytes failed\nstack backtrace:\n   0: rust_panic"


class DiesOn:
    """``read_one`` for ``read_many`` and ``ProcessReader`` that aborts its process on one file name."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, path: Path, key: bytes, limits: Limits):
        if Path(path).name == self.name:
            sys.stderr.write(PANIC_TEXT + "\n")
            sys.stderr.flush()
            os.write(2, PANIC_TEXT.encode() + b"\n")
            os.abort()
        return read_returned(path, key, limits)


def reader_dying_on(name: str, workers: int | None = None) -> ProcessReader:
    """A ``Reader`` (the seam of ``check_files`` and ``xlplan.collect.collect``) whose reading
    process aborts on the file called ``name``: this machine's reading processes, which check
    each file where they read it, as collect and check do by default."""
    return ProcessReader(workers, DiesOn(name))
