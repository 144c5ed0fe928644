"""Check returned workbooks against the plan: findings with file, sheet and cell, and the values.

``check_files`` reads every file (in parallel for large batches), normalises each input value,
and returns a CheckResult: the findings, one FileReport per file, and the values in long form
as a pandas DataFrame for the merge. One bad file never stops the batch.

Reading and checking a file happen in the same child process (``check_many``, which
``xlplan.collect`` uses too): the plan, the settings and the template versions go to each
reading process once, and only what the caller keeps comes back (``Checked``: the findings,
the value rows and the ``FileFacts`` of the file, not its cells). A ``reader`` of the caller's
(``xlplan.cluster.dask_reader``, a test's) yields plain ``Returned`` records: those are checked
in the calling process, by the same ``CheckContext.check``.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from .findings import ERROR, WARNING, Finding, count_by_severity

if TYPE_CHECKING:
    import pandas as pd
from .fiscal import parse_fiscal_year
from .inbox import collect_paths, scan_inbox  # noqa: F401 - collect_paths: public here before
from .render import RATINGS
from .normalise import (Normalised, normalise_choice, normalise_quantity, normalise_rating,
                        normalise_score, normalise_text)
from .ooxml.text import clean_text, unstorable_characters
from .plan import Plan
from .progress import progress
from .savetime import save_time_doubt
from .read import Limits, Returned, log_internal_error, read_returned, unreadable
from .schema import FieldKind, InputCell, SumCheck
from .settings import Settings
from .rounding import percent_text, rate
from .template import available_layouts, load_template_spec

# Changes worth telling the coordinator about (trimming spaces is not).
NOTABLE_CHANGES = {"full-width", "thousands-separator", "unit-stripped", "percent-scaled",
                   "department-prefix", "choice-variant", "date-serial", "era-year"}
VALUE_COLUMNS = ["file", "department", "project", "indicator_no", "indicator", "field", "label",
                 "year", "planned", "target", "raw", "value", "unit", "kind", "changes", "sheet",
                 "cell"]


@dataclass
class FileReport:
    """One checked file: who sent it, what it is, and how many problems it has."""

    file: str
    path: str
    department: str = ""
    kind: str = ""
    year: str = ""
    template_version: int | None = None
    sha256: str = ""
    size: int = 0
    last_saved: str = ""
    errors: int = 0
    warnings: int = 0
    status: str = "ok"

    def to_dict(self) -> dict:
        """JSON-ready record."""
        return asdict(self)


@dataclass
class CheckResult:
    """Findings, per-file reports and normalised values of a batch."""

    findings: list[Finding] = field(default_factory=list)
    files: list[FileReport] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)

    @cached_property
    def values(self) -> "pd.DataFrame":
        """The values in long form (``VALUE_COLUMNS``), one row per input cell of every file.
        (Made when first asked, once: pandas is imported only then, not by ``xlplan check``,
        which needs findings only.)"""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=VALUE_COLUMNS)

    @property
    def exit_code(self) -> int:
        """0 without errors, 1 with errors (the CLI's contract)."""
        return 1 if any(f.severity == ERROR for f in self.findings) else 0


def check_files(paths: Iterable[Path | str], settings: Settings, plan: Plan, *,
                limits: Limits = Limits(), workers: int | None = None,
                reader: Reader | None = None, keep_values: bool = True) -> CheckResult:
    """Read and check returned files; never raises for a bad file.

    ``reader`` replaces the reading step, as in ``xlplan.collect.collect``. ``keep_values=False``
    leaves ``values`` empty: findings only, in memory that does not grow with the values of
    thousands of files (what ``xlplan check`` and the panel need; the reading processes then
    send no value rows back either).

    Files that are not read (links, special files, cover letters: see ``xlplan.inbox``) are
    ``file-skipped`` notices among the findings; they do not change the exit code."""
    inbox = scan_inbox(paths)
    files = inbox.files
    context = CheckContext(plan, settings, template_versions(settings), keep_values=keep_values)
    result = CheckResult(findings=list(inbox.skipped))
    checked_files = check_many(reader or ProcessReader(workers), files, settings.key_bytes, limits, context)
    for checked in progress(checked_files, "読み取り・チェック", "checking", total=len(files)):
        result.findings += checked.findings
        result.rows += checked.values
        result.files.append(_file_report(checked.facts, checked.findings))
    return result


def template_versions(settings: Settings) -> dict[str, int]:
    """Current version of every layout declared in the coordinator's templates folder or
    shipped with xlplan (the coordinator's declaration wins). A declaration that cannot be
    read stops the run with template-invalid, as in generate and merge: without it a returned
    file of that layout could not be told current or outdated."""
    return {layout: load_template_spec(layout, settings.templates_dir).version
            for layout in available_layouts(settings.templates_dir)}


# Reads files in order: (paths, signing key, limits) → one Returned per path.
Reader = Callable[[list[Path], bytes, Limits], Iterable[Returned]]


@dataclass(frozen=True)
class FileFacts:
    """What the report (``FileReport``) and the archive keep of a file read, beside its findings
    and values: small enough to send back from a reading process (its cells and the metadata's
    field list, fingerprints and validations stay there). The metadata's items are blank when
    the file has none; the archive takes them only from a readable file."""

    path: Path
    size: int = 0
    sha256: str = ""
    kind: str = "unknown"
    last_saved: dt.datetime | None = None
    readable: bool = False
    department: str = ""
    plan_id: str = ""  # the plan the metadata names, even when it did not verify
    form_year: str = ""
    template_version: int | None = None
    form_kind: str = ""  # the layout id of the metadata ('department', 'scoring', …)
    member: str | None = None
    generated_at: str | None = None
    is_scoring: bool = False

    @classmethod
    def of(cls, returned: Returned) -> "FileFacts":
        """The facts of a file read."""
        meta, claimed = returned.metadata, returned.claimed_plan
        return cls(path=returned.path, size=returned.size, sha256=returned.sha256, kind=returned.kind,
                   last_saved=returned.last_saved, readable=returned.readable,
                   department=returned.department, plan_id=claimed.id if claimed else "",
                   form_year=meta.year if meta else "",
                   template_version=meta.template.version if meta else None,
                   form_kind=meta.kind if meta else "", member=meta.member if meta else None,
                   generated_at=meta.generated_at if meta else None,
                   is_scoring=meta.is_scoring if meta else False)


@dataclass
class Checked:
    """One file read and checked: its facts, findings and value rows, and the collection time
    its last-saved time was checked against (None: the time of the check, not kept)."""

    facts: FileFacts
    findings: list[Finding]
    values: list[dict]
    collected_at: str | None = None

    def as_sent(self, path: Path) -> "Checked":
        """The same result named as the file a department sent (``path``) rather than the
        archived copy that was read: what we keep is what we checked."""
        for f in self.findings:
            f.file = path.name
        for row in self.values:
            row["file"] = path.name
        self.facts = replace(self.facts, path=path)
        return self


@dataclass(frozen=True)
class CheckContext:
    """What checking a file needs beside the file, sent once to each reading process.

    ``clock`` gives the collection time of a file checked without one of its own (collect:
    the moment it is checked, recorded with it); without a clock, ``check_returned`` checks
    against the time now and nothing is kept. ``keep_values=False``: no value rows back."""

    plan: Plan
    settings: Settings
    versions: dict[str, int]
    keep_values: bool = True
    clock: Callable[[], str] | None = None

    def check(self, returned: Returned, collected_at: str | None = None) -> Checked:
        """Check one file read (``check_returned``) and keep what the caller needs of it."""
        if collected_at is None and self.clock is not None:
            collected_at = self.clock()
        findings, values = check_returned(returned, self.plan, self.settings, self.versions, collected_at)
        return Checked(FileFacts.of(returned), findings, values if self.keep_values else [], collected_at)


@dataclass(frozen=True)
class ProcessReader:
    """This machine's reading processes, the default reader: every file is read in a child
    process (several for a batch of 16 files or more by default; see ``read_many``).

    Called as a ``Reader`` it yields ``Returned`` records; through ``check_many`` each file is
    also checked in the process that read it. ``read_one`` is what a child runs per file
    (tests inject failures here)."""

    workers: int | None = None
    read_one: Callable[[Path, bytes, Limits], Returned] = read_returned

    def __call__(self, files: list[Path], key: bytes, limits: Limits = Limits()) -> Iterator[Returned]:
        return read_many(files, key, limits, self.workers, self.read_one)

    def check(self, files: list[Path], key: bytes, limits: Limits, context: CheckContext,
              times: list[str | None]) -> Iterator[Checked]:
        """Read and check files in order in the reading processes: one ``Checked`` per file."""
        job = FileJob(key, limits, self.read_one, context)
        return _in_processes(list(zip(files, times)), job, self.workers)


def check_many(reader: Reader, files: list[Path], key: bytes, limits: Limits, context: CheckContext,
               times: list[str | None] | None = None) -> Iterator[Checked]:
    """Read and check files in order, one ``Checked`` per file, as each comes: where the reader
    reads them when it can check there too (a ``check`` method, as ``ProcessReader`` and
    ``xlplan.cluster.dask_reader``'s reader have), else here as each ``Returned`` arrives. ``times``: the collection time of each file (None: see
    ``CheckContext``). The one path of ``check_files``, ``collect`` and ``recheck``."""
    times = list(times) if times is not None else [None] * len(files)
    check_where_read = getattr(reader, "check", None)
    if check_where_read is not None:  # ProcessReader, xlplan.cluster's reader
        yield from check_where_read(files, key, limits, context, times)
        return
    for returned, collected_at in zip(reader(files, key, limits), times):
        yield context.check(returned, collected_at)


def read_many(files: list[Path], key: bytes, limits: Limits = Limits(), workers: int | None = None,
              read_one: Callable[[Path, bytes, Limits], Returned] = read_returned) -> Iterator[Returned]:
    """Read files in order, always in child processes (several for a batch of 16 files or
    more by default), so that a crash of the native reader costs one file, never the batch
    or the caller; the children's stderr is silenced, so no native backtrace reaches the
    terminal. Results are yielded as they come, so the caller can record each and keep
    memory flat. ``read_one`` is what a child runs per file (tests inject failures here)."""
    return _in_processes(list(files), FileJob(key, limits, read_one), workers)


class FileJob:
    """What a reading process does with each file: read it and, with a ``CheckContext``, check
    it. Given once to each process (the pool's initializer; a Dask cluster's workers get it
    once too, see ``xlplan.cluster``), so the plan and the settings are not sent again with
    every file; a task is a path, or (path, collection time) to check."""

    def __init__(self, key: bytes, limits: Limits, read_one, context: CheckContext | None = None):
        self.key, self.limits, self.read_one, self.context = key, limits, read_one, context

    def run(self, task):
        """The result of one task (in a reading process)."""
        if self.context is None:
            return self.read_one(task, self.key, self.limits)
        path, collected_at = task
        return self.context.check(self.read_one(path, self.key, self.limits), collected_at)

    def crashed(self, task):
        """The result of a task whose process died on its file (here, in the caller): the file
        is unreadable, and checked as such."""
        return self.unreadable(task, "読み取り中に処理が異常終了しました（ファイルの内容が読み取りソフトを停止させました）",
                               "the reading process stopped abnormally (the file's content crashed the reader)")

    def unreadable(self, task, detail: str, detail_en: str):
        """The result of a task whose file could not be read where it was sent (``detail``
        says why): an ``unreadable-file`` finding, checked as such when checking."""
        path = task if self.context is None else task[0]
        returned = unreadable(path, detail, detail_en)
        return returned if self.context is None else self.context.check(returned, task[1])


def _in_processes(tasks: list, job: FileJob, workers: int | None):
    """Run ``job`` on every task in order, always in child processes, so that a crash of the
    native reader costs one file, never the batch or the caller (see ``read_many``)."""
    if not tasks:
        return
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if len(tasks) >= 16 else 1
    done = 0
    while done < len(tasks):
        try:
            for result in _run_on_pool(tasks[done:], job, max(1, workers)):
                yield result
                done += 1
        except BrokenProcessPool:
            # A reading process died (out of memory, a crash in a native library) on one of
            # the next files. Read the next one alone: if its process dies too, that file is
            # the cause and is reported as unreadable; the batch goes on either way.
            yield _run_alone(tasks[done], job)
            done += 1


BATCH = 8      # files per task: fewer round trips between processes
AHEAD = 4      # batches submitted ahead per process: enough to keep it busy, few to hold


def _run_on_pool(tasks: list, job: FileJob, workers: int):
    """Run tasks in order on a process pool, with at most AHEAD batches per process submitted
    ahead of the caller. (Executor.map submits every file at once and keeps each result until
    the caller takes it: when reading outpaced recording, collect's memory grew with N.)
    The pool's processes start at the first submit, inside the caller's pull of the first
    result: the caller holds no database connection then (``xlplan.archive``)."""
    size = min(BATCH, max(1, -(-len(tasks) // workers)))  # a small batch spreads over the workers
    batches = [tasks[i:i + size] for i in range(0, len(tasks), size)]
    workers = min(workers, len(batches))
    with ProcessPoolExecutor(max_workers=workers, initializer=_start_reading_process,
                             initargs=(job,)) as pool:
        pending: deque = deque()
        for batch in batches:
            pending.append(pool.submit(_run_batch, batch))
            if len(pending) >= workers * AHEAD:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


_JOB: FileJob | None = None  # a reading process's job, set once by its initializer


def _start_reading_process(job: FileJob) -> None:
    """Set up a reading process: silence it (``_silence_stderr``) and keep its job."""
    global _JOB
    _silence_stderr()
    _JOB = job


def _silence_stderr() -> None:
    """Set up a reading process: its stdout and stderr go nowhere, so that what a native
    library prints when it aborts (a Rust panic, 'memory allocation of … failed') never
    reaches the terminal (what happened is the file's finding), and it ends when the run
    that started it is killed instead of waiting for work forever (holding the terminal's
    or a caller's pipes open)."""
    import faulthandler
    import threading
    import time

    faulthandler.disable()  # it would write the dying process's stack to a saved stderr
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stdout = sys.stderr = open(os.devnull, "w", encoding="utf-8")  # Python's own, wherever they pointed
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="xlplan-parent-watch").start()


def _run_batch(tasks: list) -> list:
    return [_JOB.run(task) for task in tasks]


def _run_alone(task, job: FileJob):
    """Run one task in a process of its own; a file that kills the process is unreadable."""
    try:
        with ProcessPoolExecutor(max_workers=1, initializer=_start_reading_process,
                                 initargs=(job,)) as pool:
            return pool.submit(_run_batch, [task]).result()[0]
    except BrokenProcessPool:
        return job.crashed(task)


def _file_report(facts: FileFacts, findings: list[Finding]) -> FileReport:
    counts = count_by_severity(findings)
    status = "unreadable" if not facts.readable else (
        "errors" if counts[ERROR] else "warnings" if counts[WARNING] else "ok")
    return FileReport(
        file=facts.path.name, path=str(facts.path), department=facts.department,
        kind=facts.kind, year=facts.form_year, template_version=facts.template_version,
        sha256=facts.sha256, size=facts.size,
        last_saved=facts.last_saved.isoformat() if facts.last_saved else "",
        errors=counts[ERROR], warnings=counts[WARNING], status=status)


def check_returned(returned: Returned, plan: Plan, settings: Settings,
                   versions: dict[str, int] | None = None,
                   collected_at: str | None = None) -> tuple[list[Finding], list[dict]]:
    """Findings and value rows of one read file, against the plan and its evaluation year.

    ``versions`` maps each layout id to its current template version; ``collected_at`` is the
    moment the file was collected (ISO; default now), which its last-saved time may not pass."""
    log_internal_error(returned, settings.project_dir)
    findings = list(returned.findings)
    claimed = returned.claimed_plan
    if returned.signature_ok is False and claimed is not None and claimed.id != plan.plan_id:
        # Another plan's file cannot verify with this plan's key: say whose it is rather
        # than call it tampered. Still unverified, so it credits no department.
        findings = [f for f in findings if f.code != "signature-invalid"]
        findings.append(Finding("wrong-plan", file=returned.path.name, value=claimed.name))
        return findings, []
    if not returned.readable:
        return findings, []
    meta = returned.metadata
    add = lambda code, **kw: findings.append(  # noqa: E731 - a local shorthand
        Finding(code, file=returned.path.name, department=returned.department, **kw))
    if meta.plan.id != plan.plan_id:
        add("wrong-plan", value=meta.plan.name)
        return findings, []
    if meta.is_scoring:
        if plan.member(str(meta.member)) is None:
            add("unknown-member", value=returned.department)
            return findings, []
    elif returned.department not in plan.department_names():
        add("unknown-department", value=returned.department)
        return findings, []
    try:
        year = parse_fiscal_year(meta.year)
    except ValueError:
        year = None
    if year != plan.year:
        shown = year.label_ja if year else meta.year
        add("wrong-year", value=shown, expected=plan.year.label_ja,
            expected_en=f"{plan.year.label_en} ({plan.year.short})", detail=shown,
            detail_en=f"{year.label_en} ({year.short})" if year else meta.year)
        return findings, []
    doubt = save_time_doubt(returned.last_saved, meta.generated_at,
                            collected_at or dt.datetime.now(dt.timezone.utc).isoformat())
    if doubt:
        add("implausible-save-time", value=returned.last_saved.isoformat(), detail=doubt[0], detail_en=doubt[1])
    current = (versions or {}).get(meta.template.id)
    if current is not None and meta.template.version != current:
        add("template-version-mismatch", value=str(meta.template.version), expected=str(current))
    rows = []
    lookup = _IndicatorLookup(plan)
    for spec in meta.fields:
        cell = returned.cells.get(spec.name)
        if cell is None:
            continue
        field_findings, row = _check_field(spec, cell, plan, settings, lookup)
        findings += field_findings
        row.update(file=returned.path.name, department=returned.department)
        rows.append(row)
    findings += breakdown_findings(meta.checks, meta.fields, rows)
    for f in findings:
        f.file, f.department = returned.path.name, returned.department
    return findings, rows


def breakdown_findings(checks: tuple[SumCheck, ...], fields: tuple[InputCell, ...],
                       rows: list[dict]) -> list[Finding]:
    """Declared sums (a result broken down by area or category): the parts must add up to the
    total, per project and indicator. Checked only when the total and every part are numbers."""
    out = []
    by_key = {(r["project"], r["indicator_no"], r["field"]): r for r in rows}
    label_of = {(f.project, f.indicator, f.field): f.label for f in fields}
    for check in checks:
        totals = [k for k in by_key if k[2] == check.total]
        for project, indicator, _ in totals:
            total = by_key[(project, indicator, check.total)]
            parts = [by_key.get((project, indicator, part)) for part in check.parts]
            numbers = [p["value"] for p in parts if p and p["kind"] == "number"]
            if total["kind"] != "number" or len(numbers) != len(check.parts):
                continue
            if abs(sum(numbers) - total["value"]) > 1e-9:
                labels = [label_of.get((project, indicator, p), p).split("（")[-1].rstrip("）")
                          for p in check.parts]
                out.append(Finding("breakdown-mismatch", project=project,
                                   field=label_of.get((project, indicator, check.total), ""),
                                   sheet=total["sheet"], cell=total["cell"], value=total["raw"],
                                   expected=_shown(sum(numbers)), detail="＋".join(labels),
                                   detail_en=" + ".join(labels)))
    return out


def _normalise(spec: InputCell, cell, plan: Plan) -> Normalised:
    kind, raw = spec.kind, cell.value
    if kind == FieldKind.MILESTONE:
        # A milestone indicator is reported in words (実施, 一部実施 …): any text is a result.
        n = normalise_text(raw)
        return replace(n, kind="milestone") if n.kind == "text" else n
    if kind.is_number:
        # A fraction is scaled to % only when the cell shows it as a percentage (0.891 → 89.1%);
        # in our own number format, 1 typed means 1%.
        return normalise_quantity(raw, spec.unit or None,
                                  percent=kind == FieldKind.PERCENT and cell.percent_format)
    if kind == FieldKind.SCORE:
        return normalise_score(raw)
    if kind == FieldKind.RATING:
        return normalise_rating(raw, RATINGS)
    if kind == FieldKind.CHOICE:
        return normalise_choice(raw, list(spec.choices or plan.direction_choices))
    return normalise_text(raw)


def _check_field(spec: InputCell, cell, plan: Plan, settings: Settings,
                 lookup: "_IndicatorLookup") -> tuple[list[Finding], dict]:
    kind = spec.kind
    findings: list[Finding] = []
    unstorable = unstorable_characters(cell.value) if isinstance(cell.value, str) else []
    if unstorable:
        # Every field kind is read from the cleaned text (what every writer stores), so a
        # control character pasted from Word cannot stop a later merge, feedback or prefill.
        cell = replace(cell, value=clean_text(cell.value))
        findings.append(Finding("control-character", project=spec.project, field=spec.label,
                                sheet=cell.sheet, cell=cell.coordinate, value=cell.value,
                                detail="、".join(unstorable), detail_en=", ".join(unstorable)))
    n = _normalise(spec, cell, plan)
    target = lookup.target(spec)
    where = dict(project=spec.project, field=spec.label, sheet=cell.sheet,
                 cell=cell.coordinate, value=_shown(cell.value))
    if cell.formula:
        findings.append(Finding("formula-in-input", **{**where, "value": cell.formula}))
    if n.kind == "blank":
        # A formula without a cached value (never recalculated by an application) is reported
        # as formula-in-input only: calling it blank would send the department the wrong way.
        if spec.required and not cell.formula:
            findings.append(Finding(kind.missing_code, **where))
    elif n.problem == "excel-error" or n.kind == "error":
        findings.append(Finding("excel-error", **where))
    elif n.problem == "invalid-choice":
        choices = spec.choices or plan.direction_choices
        findings.append(Finding("invalid-choice", **where, expected="／".join(choices),
                                expected_en=" / ".join(choices)))
    elif n.problem in ("not-a-number", "score-out-of-range"):
        findings.append(Finding(n.problem, **where))
    elif n.problem == "unit-mismatch":
        findings.append(Finding("unit-mismatch", **where, expected=spec.unit))
    if n.kind == "number" and kind.is_number and target is not None:
        findings += _far_from_target(n.value, target, where, settings)
    if n.kind != "blank" and NOTABLE_CHANGES & set(n.changes) and not n.problem:
        findings.append(Finding("value-normalised", **where, expected=_shown(n.value)))
    row = dict(project=spec.project, indicator_no=spec.indicator,
               indicator=lookup.name(spec), field=spec.field, label=spec.label,
               year=spec.year, planned=target.text if target else None,
               target=target.value if target else None, raw=_shown(cell.value), value=n.value,
               unit=n.unit or spec.unit or None, kind=n.kind, changes=",".join(n.changes),
               sheet=cell.sheet, cell=cell.coordinate)
    return findings, row


def _far_from_target(value, target, where, settings: Settings) -> list[Finding]:
    if not isinstance(target.value, (int, float)) or target.value <= 0:
        return []
    ratio = value / target.value
    if settings.far_low <= ratio <= settings.far_high:
        return []
    return [Finding("result-far-from-target", **{**where, "value": _shown(value)},
                    expected=_shown(target.value), detail=percent_text(rate(value, target.value)))]


class _IndicatorLookup:
    """Each indicator and target of the plan that a file's fields name, looked up once per
    file (a workbook has a dozen fields per indicator)."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self._indicators: dict[tuple, object] = {}
        self._targets: dict[tuple, object] = {}

    def _indicator(self, spec: InputCell):
        key = (spec.project, spec.indicator)
        if key not in self._indicators:
            project = self.plan.project(spec.project)
            self._indicators[key] = None if project is None or key[1] is None else next(
                (i for i in project.indicators if i.no == key[1]), None)
        return self._indicators[key]

    def target(self, spec: InputCell):
        """The plan's target for the field's indicator and year, or None."""
        if spec.indicator is None or not spec.year:
            return None
        key = (spec.project, spec.indicator, spec.year)
        if key not in self._targets:
            indicator = self._indicator(spec)
            self._targets[key] = indicator.target_for(parse_fiscal_year(spec.year)) if indicator else None
        return self._targets[key]

    def name(self, spec: InputCell) -> str | None:
        """The indicator's name, or None for a field that is not about an indicator."""
        indicator = self._indicator(spec)
        return indicator.name if indicator else None


def _shown(value) -> object:
    """A value as it goes into a finding: integral floats without '.0', others unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
