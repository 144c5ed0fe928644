"""Fuzz the reading of returned workbooks: seeded mutations of real generated and filled
department workbooks, read and checked the way ``check`` and ``collect`` do.

    python tools/fuzz.py --cases 10000 --seed 13

Each case is one mutation of one base workbook (the generated form, and the same form filled
in and saved by openpyxl, which stores text as shared strings): bytes flipped inside a
decompressed XML part, an element dropped, a cell's type changed, a shared-string index
broken, a cell/row/range reference made huge, negative or impossible, a style index made
invalid, a locked value edited, the zip truncated, an entry duplicated. Every case is read
in a child process (``read_many``) and checked (``check_returned``). The figures:

* aborts: a reading process died (the file is reported unreadable, the batch goes on);
* internal errors: an ``internal-error`` finding (a bug of xlplan);
* hangs: a file whose reading took more than 20 s;
* missed: the locked content changed (an independent reader, openpyxl, sees another value
  in a cell outside the inputs) but no error was reported.

All four must be 0. tests/test_fuzz.py runs 300 cases with a fixed seed.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import random
import re
import signal
import sys
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xlplan.check import check_returned, read_many, template_versions  # noqa: E402
from xlplan.findings import ERROR  # noqa: E402
from xlplan.generate import generate  # noqa: E402
from xlplan.metadata import METADATA_SHEET, canonical_value, parse_metadata_rows  # noqa: E402
from xlplan.plan import load_plan  # noqa: E402
from xlplan.project import init_project  # noqa: E402
from xlplan.read import Limits, Returned, read_returned  # noqa: E402

HANG_SECONDS = 20
DEPARTMENTS = ("健康づくり課", "福祉課")
BAD_REFERENCES = ["XFD1048576", "XFD1048577", "XFE1", "AAAA1", "A0", "A-1", "1A", "XFD99999999999",
                  "", "ZZ", "B7:A1", "A1:XFD1048576", "a1", "$A$1", "A01", "XFC1048575", "Q1048577",
                  "A1:AAAA1", "99999999999", "-5", "0", "1048577"]
BAD_STRING_INDICES = ["abc", "1.5", "-1", "99999999999", "", "0", " 1", "1e3", "٣"]
BAD_STYLES = ["99999", "-1", "abc", "4294967296", "", "1.5"]
CELL_TYPES = ["s", "str", "inlineStr", "b", "e", "n", "d", "zz", ""]
DROPPABLE = ["c", "row", "v", "si", "t", "f", "is", "dataValidation", "dataValidations", "mergeCell",
             "sheetProtection", "definedName", "sheet", "Relationship", "xf", "numFmt", "dimension",
             "sheetData", "Override", "cellXfs"]
OPERATIONS = ["flip", "drop", "cell-type", "string-index", "reference", "style", "value", "truncate",
              "duplicate", "count"]


class _Hang(BaseException):
    """Raised by the alarm in a reading process: not an Exception, so the reader cannot
    swallow it as an error of its own."""


def _alarm(signum, frame):
    raise _Hang()


class TimedRead:
    """``read_one`` for ``read_many``: read_returned, timed, stopped after HANG_SECONDS."""

    def __call__(self, path: Path, key: bytes, limits: Limits) -> Returned:
        _limit_memory()
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(HANG_SECONDS)
        start = time.monotonic()
        try:
            returned = read_returned(path, key, limits)
        except _Hang:
            returned = Returned(Path(path))
            returned.fuzz_hung = True
        finally:
            signal.alarm(0)
        returned.fuzz_seconds = time.monotonic() - start
        return returned


@dataclass
class Base:
    """One unmutated workbook: its bytes, zip members, inputs and locked values."""

    name: str
    data: bytes
    members: list[tuple[zipfile.ZipInfo, bytes]]
    inputs: set[tuple[str, str]]
    locked: dict[tuple[str, str], str]


@dataclass
class Figures:
    """What a fuzzing run found."""

    cases: int = 0
    aborts: list[str] = field(default_factory=list)
    internal_errors: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    verified_unchanged: int = 0  # cases without an error whose locked values the oracle compared
    slowest: float = 0.0
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    seconds: float = 0.0

    def ok(self) -> bool:
        """True when nothing aborted, failed inside xlplan, hung or went unnoticed."""
        return not (self.aborts or self.internal_errors or self.hangs or self.missed)

    def summary(self) -> dict:
        """The figures as a JSON-ready dict (examples of each failure, at most five)."""
        return {"cases": self.cases, "aborts": len(self.aborts), "internal_errors": len(self.internal_errors),
                "hangs": len(self.hangs), "locked_changes_missed": len(self.missed),
                "no_error_cases_verified_unchanged": self.verified_unchanged, "slowest_read_seconds": round(self.slowest, 2),
                "seconds": round(self.seconds, 1), "outcomes": dict(self.outcomes.most_common()),
                "examples": {"aborts": self.aborts[:5], "internal_errors": self.internal_errors[:5],
                             "hangs": self.hangs[:5], "missed": self.missed[:5]}}


# --- base workbooks --------------------------------------------------------------------------


def make_bases(folder: Path, departments: tuple[str, ...] = DEPARTMENTS):
    """A project in ``folder`` and its base workbooks: each department's generated form, and
    the same form filled in with openpyxl (text in shared strings, as applications save)."""
    from openpyxl import load_workbook

    project = init_project(folder / "project")
    plan = load_plan(project.master)
    files = generate(plan, project.outbox, project.settings, departments=list(departments))
    bases = []
    for gf in files:
        meta = read_returned(gf.path, project.settings.key_bytes).metadata.to_dict()
        inputs = {(f["sheet"], f["cell"]) for f in meta["fields"]}
        bases.append(_base(f"{gf.department}-blank", gf.path.read_bytes(), inputs))
        wb = load_workbook(gf.path)
        for i, f in enumerate(meta["fields"]):
            wb[f["sheet"]][f["cell"]] = {"quantity": 10 + i, "percent": 89.1, "score": 1 + i % 5,
                                         "milestone": "実施", "choice": plan.direction_choices[0],
                                         "text": f"{f['label']}の記述"}.get(f["kind"], "記述")
        buf = io.BytesIO()
        wb.save(buf)
        bases.append(_base(f"{gf.department}-filled", buf.getvalue(), inputs))
    return project, plan, bases


def _base(name: str, data: bytes, inputs: set) -> Base:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = [(info, z.read(info.filename)) for info in z.infolist()]
    locked = locked_values(data, inputs)
    assert locked is not None
    return Base(name, data, members, inputs, locked)


MEMORY_LIMIT = 2 << 30  # bytes of address space per child process: a blow-up dies alone


def _limit_memory() -> None:
    import resource

    from xlplan.check import _silence_stderr

    _silence_stderr()  # openpyxl's MemoryError in a child is a verdict of None, not output

    try:  # on top of what the forked process already maps
        mapped = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        mapped = 0
    limit = mapped + MEMORY_LIMIT
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft > limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


class Oracle:
    """openpyxl's view of the locked values, in child processes of bounded memory (openpyxl
    lays out a merged range cell by cell: A1:XFD1048576 would take all the machine's memory)."""

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = None

    def many(self, items: list[tuple[bytes, set]]) -> list[dict | None]:
        """locked_values of each (file bytes, inputs); None where openpyxl gave no verdict."""
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        # Fresh processes per call: openpyxl's memory grows over thousands of files, and a
        # process near its limit would answer None to everything after.
        self.pool = ProcessPoolExecutor(max_workers=self.workers, initializer=_limit_memory)
        futures = [self.pool.submit(locked_values, data, inputs) for data, inputs in items]
        out = []
        for future, item in zip(futures, items):
            try:
                out.append(future.result(timeout=300))
            except (BrokenProcessPool, TimeoutError, MemoryError):
                out.append(self._alone(item))  # one file killed its process: asked again alone
        self.close()
        return out

    def _alone(self, item) -> dict | None:
        from concurrent.futures import ProcessPoolExecutor

        try:
            with ProcessPoolExecutor(max_workers=1, initializer=_limit_memory) as pool:
                return pool.submit(locked_values, *item).result(timeout=300)
        except Exception:  # noqa: BLE001 - no verdict
            return None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None


def locked_values(data: bytes, inputs: set) -> dict | None:
    """Every value outside the input cells, as openpyxl (an independent reader) sees it:
    {(sheet, cell): canonical text}; None when openpyxl cannot read the file."""
    from openpyxl import load_workbook

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = load_workbook(io.BytesIO(data))
        out = {}
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    value = cell.value
                    if value is None or (ws.title, cell.coordinate) in inputs:
                        continue
                    if isinstance(value, str) and value.startswith("="):
                        continue  # formulas are compared by the checker on their own
                    out[(ws.title, cell.coordinate)] = canonical_value(value)
        return out
    except (Exception, MemoryError):  # noqa: BLE001 - a file the independent reader refuses: no verdict
        return None


# --- mutations -------------------------------------------------------------------------------


def mutate(base: Base, rng: random.Random) -> tuple[bytes, str]:
    """One mutation of ``base``: the new file's bytes and a description."""
    op = rng.choice(OPERATIONS)
    if op == "truncate":
        cut = rng.randrange(1, len(base.data))
        return base.data[:cut], f"truncate at {cut}"
    names = [i.filename for i, _ in base.members]
    if op == "duplicate":
        name = rng.choice(names)
        data = dict((i.filename, d) for i, d in base.members)[name]
        extra = _mutate_xml(data, rng, "value")[0] if rng.random() < 0.5 else data
        return _rezip(base.members, {}, extra=(name, extra)), f"duplicate {name}"
    sheets = [n for n in names if n.startswith("xl/worksheets/") and n.endswith(".xml")]
    weighted = sheets * 4 + [n for n in names if n.endswith((".xml", ".rels"))]
    name = rng.choice(weighted)
    data = dict((i.filename, d) for i, d in base.members)[name]
    new, what = _mutate_xml(data, rng, op)
    return _rezip(base.members, {name: new}), f"{op} {what} in {name}"


def _rezip(members, replace: dict, extra: tuple | None = None) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names on purpose
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for info, data in members:
                z.writestr(info.filename, replace.get(info.filename, data))
            if extra:
                z.writestr(extra[0], extra[1])
    return buf.getvalue()


def _pick(pattern: bytes, data: bytes, rng: random.Random):
    matches = list(re.finditer(pattern, data, re.S))
    return rng.choice(matches) if matches else None


def _splice(data: bytes, match, group: int, new: bytes) -> bytes:
    return data[:match.start(group)] + new + data[match.end(group):]


def _mutate_xml(data: bytes, rng: random.Random, op: str) -> tuple[bytes, str]:
    if op == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(out))
            out[i] ^= rng.randint(1, 255)
        return bytes(out), "bytes"
    if op == "drop":
        tag = rng.choice(DROPPABLE).encode()
        m = _pick(rb"<(?:\w+:)?" + tag + rb"\b[^>]*?(?:/>|>.*?</(?:\w+:)?" + tag + rb">)", data, rng)
        return (data[:m.start()] + data[m.end():], f"<{tag.decode()}>") if m else (data, "nothing")
    if op == "cell-type":
        m = _pick(rb"<(?:\w+:)?c\b([^>]*?)(/?)>", data, rng)
        if not m:
            return data, "nothing"
        attrs = re.sub(rb'\s t="[^"]*"', b"", b" " + m.group(1))[1:]
        t = rng.choice(CELL_TYPES).encode()
        return _splice(data, m, 1, attrs + (b' t="' + t + b'"' if t else b"")), f"t={t.decode()}"
    if op == "string-index":
        m = _pick(rb'<(?:\w+:)?c\b[^>]*?t="s"[^>]*>\s*<(?:\w+:)?v>([^<]*)</', data, rng) or \
            _pick(rb"<(?:\w+:)?v>([^<]*)</", data, rng)
        value = rng.choice(BAD_STRING_INDICES).encode()
        return (_splice(data, m, 1, value), f"index {value!r}") if m else (data, "nothing")
    if op == "reference":
        m = _pick(rb'\s(?:r|ref|sqref)="([^"]*)"', data, rng)
        ref = rng.choice(BAD_REFERENCES).encode()
        return (_splice(data, m, 1, ref), f"reference {ref.decode()}") if m else (data, "nothing")
    if op == "style":
        m = _pick(rb'\s(?:s|numFmtId|xfId|fontId)="([^"]*)"', data, rng)
        value = rng.choice(BAD_STYLES).encode()
        return (_splice(data, m, 1, value), f"style {value.decode()}") if m else (data, "nothing")
    if op == "count":
        m = _pick(rb'\s(?:count|uniqueCount)="([^"]*)"', data, rng)
        value = rng.choice([b"4294967295", b"99999999999", b"-1", b"0", b"abc"])
        return (_splice(data, m, 1, value), f"count {value.decode()}") if m else (data, "nothing")
    # "value": a digit or a Japanese character of a text or number changed
    m = _pick(rb"<(?:\w+:)?(?:v|t)(?:\s[^>]*)?>([^<]+)<", data, rng)
    if not m:
        return data, "nothing"
    text = m.group(1).decode("utf-8", "replace")
    i = rng.randrange(len(text))
    ch = text[i]
    new = str((int(ch) + rng.randint(1, 9)) % 10) if ch.isdigit() else rng.choice("地域福祉計画事業0123456789")
    return _splice(data, m, 1, (text[:i] + new + text[i + 1:]).encode()), "value"


# --- running ---------------------------------------------------------------------------------


def run(cases: int, seed: int, folder: Path, workers: int = 2, chunk: int = 100, log=None,
        departments: tuple[str, ...] = DEPARTMENTS, keep: Path | None = None) -> Figures:
    """Fuzz ``cases`` mutations with ``seed`` in ``folder``; return the figures. The files
    of failing cases are copied into ``keep`` (with what was done to them) when given."""
    started = time.monotonic()
    project, plan, bases = make_bases(folder, departments)
    settings = project.settings
    versions = template_versions(settings)
    rng = random.Random(seed)
    figures = Figures()
    oracle = Oracle(workers)
    work = folder / "cases"
    work.mkdir(exist_ok=True)
    try:
        for first in range(0, cases, chunk):
            batch = []
            for n in range(first, min(cases, first + chunk)):
                base = rng.choice(bases)
                data, what = mutate(base, rng)
                path = work / f"{n:05d}.xlsx"
                path.write_bytes(data)
                batch.append((path, base, data, f"case {n} ({base.name}): {what}"))
            results = read_many([b[0] for b in batch], settings.key_bytes, Limits(), workers,
                                read_one=TimedRead())
            unflagged = [b for b, returned in zip(batch, results)
                         if _judge(figures, returned, b[3], plan, settings, versions)]
            # No error on these: their locked content must be what it was.
            for (path, base, data, what), after in zip(
                    unflagged, oracle.many([(b[2], b[1].inputs) for b in unflagged])):
                if after == base.locked:
                    figures.verified_unchanged += 1
                elif after is not None:
                    changed = sorted(set(after.items()) ^ set(base.locked.items()))[:2]
                    figures.missed.append(f"{what}: {changed}")
            failures = set(figures.aborts + figures.internal_errors + figures.hangs + figures.missed)
            for path, _, data, what in batch:
                if keep is not None and any(f.startswith(what) for f in failures):
                    keep.mkdir(parents=True, exist_ok=True)
                    (keep / path.name).write_bytes(data)
                    (keep / (path.stem + ".txt")).write_text(what, encoding="utf-8")
                path.unlink()
            if log:
                log(f"{min(cases, first + chunk)} / {cases}: " + json.dumps(
                    {k: v for k, v in figures.summary().items() if k != "examples"}, ensure_ascii=False))
    finally:
        oracle.close()
    figures.seconds = time.monotonic() - started
    return figures


def _judge(figures: Figures, returned: Returned, what: str, plan, settings, versions) -> bool:
    """Count one read file; True when it needs the oracle (no error was reported)."""
    figures.cases += 1
    seconds = getattr(returned, "fuzz_seconds", 0.0)
    figures.slowest = max(figures.slowest, seconds)
    if getattr(returned, "fuzz_hung", False) or seconds > HANG_SECONDS:
        figures.hangs.append(what)
        return False
    findings, _ = check_returned(returned, plan, settings, versions)
    codes = {f.code for f in findings}
    if any("異常終了" in f.detail for f in findings):
        figures.aborts.append(what)
    if "internal-error" in codes:
        figures.internal_errors.append(what)
    errors = [f for f in findings if f.severity == ERROR and not f.code.startswith(("missing-", "score-missing"))]
    figures.outcomes[errors[0].code if errors else "no error"] += 1
    return not errors


def main(argv=None) -> int:
    """The script: fuzz, print the figures as JSON, exit 1 when any figure is not 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--keep", type=Path, default=Path("fuzz-failures"),
                        help="folder for the files of failing cases")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="xlplan-fuzz-") as tmp:
        figures = run(args.cases, args.seed, Path(tmp), args.workers, keep=args.keep,
                      log=None if args.quiet else lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(figures.summary(), ensure_ascii=False, indent=2))
    return 0 if figures.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
