"""The application layer: xlplan's use cases, shared by the CLI (``xlplan.cli``) and the Excel
panel (``xlplan.excel``).

Each use case is a plain function that takes typed inputs (an opened :class:`Project`, paths,
options, the language where it produces text) and returns a dataclass saying what was written,
found or decided. Nothing here prints or writes to a panel: the two front ends parse their input,
call these functions and display the result. A problem that stops a use case is an
:class:`~xlplan.errors.XlplanError` (a catalogue code with typed parameters), or :class:`PlanInvalid` carrying the
plan master's findings so each front end can show them its own way.

The project context is resolved in one place (:func:`open_project`): settings, plan master (with
its findings, in the year asked for), the archive with the "nothing collected yet" rule, and the
earlier years' values (:func:`history`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import PlanError, Words, XlplanError
from .findings import Finding, has_errors
from .project import OUTBOX, RESULTS, feedback_dir, merged_path, scoring_dir

# Scoring forms made before anything was collected carry no results (the CLI and panel say so).
NOT_COLLECTED_SCORING_JA = "まだ回収していないため、評価票には各課の結果が入りません。"
NOT_COLLECTED_SCORING_EN = "Nothing has been collected yet: the scoring forms carry no department results."


class PlanInvalid(PlanError):
    """The plan master cannot be used (master-invalid); ``findings`` are all of its findings,
    warnings too, for the front end to show."""


def parse_year(text):
    """The fiscal year written as ``text`` (R6, 令和6年度, 2024, FY2024), None for None;
    XlplanError in both languages when it is not a year."""
    from .fiscal import FiscalYearError, parse_fiscal_year

    if text is None:
        return None
    try:
        return parse_fiscal_year(text)
    except FiscalYearError as exc:
        raise year_invalid(text, exc) from exc


def year_invalid(value, exc) -> XlplanError:
    """year-invalid for a year the user gave (``--year``, the panel's 評価年度), with the
    reason the fiscal-year reader gives in both languages."""
    return XlplanError("year-invalid", value=str(value), reason=Words(exc.text("ja"), exc.text("en")))


def find_project_settings(project=None, master=None, cwd=None):
    """The project's settings (SettingsError when there are none or they are wrong); their
    ``unknown`` lists what xlplan ignored, for the front end to name."""
    from .settings import find_settings

    if cwd is None:
        return find_settings(project, master)
    return find_settings(project, master, cwd=cwd)


@dataclass(frozen=True)
class PlanLoad:
    """A plan master read in the year asked for; ``plan`` is None when it has errors."""

    plan: object
    findings: list[Finding]


def load_plan(master: Path, year=None) -> PlanLoad:
    """The plan master at ``master`` in ``year`` (its own evaluation year when None)."""
    from .plan import read_plan

    plan, findings = read_plan(master)
    if plan is None or has_errors(findings):
        return PlanLoad(None, findings)
    return PlanLoad(plan.with_year(year) if year else plan, findings)


def history(settings, plan):
    """Earlier years' reported values from the project's archive, when there is one."""
    from .archive import Archive, ArchiveHistory

    archive = Archive.existing(settings)
    return ArchiveHistory(archive, plan) if archive is not None else None


@dataclass
class Project:
    """What every use case works on: settings, the plan (in the year asked for) with the plan
    master's findings (warnings only: errors stop :func:`open_project`), and the archive."""

    settings: object
    plan: object
    findings: list[Finding] = field(default_factory=list)
    archive: object = None


def open_project(settings, master: Path | None = None, year=None, archive: str | None = "require",
                 master_must_exist: bool = True) -> Project:
    """The project context. ``master`` defaults to the settings' master; ``archive`` is
    'create' (collect makes it), 'require' (NoArchive when nothing was collected yet),
    'existing' (None then) or None (not opened). PlanInvalid when the master has errors."""
    from .archive import Archive

    master = Path(master) if master else settings.master
    if master_must_exist and (master is None or not master.exists()):
        raise XlplanError("master-not-found", path=str(master))
    loaded = load_plan(master, year)
    if loaded.plan is None:
        raise PlanInvalid(loaded.findings)
    opened = Archive.opened(settings, archive) if archive else None
    return Project(settings, loaded.plan, loaded.findings, opened)


def missing_paths(paths) -> None:
    """XlplanError naming every path that does not exist."""
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise XlplanError("path-not-found", paths=missing)


# --- status ----------------------------------------------------------------------------------

def status(project: Project, lang: str | None = None) -> list[dict]:
    """Every department's and member's status with every submission and its ID, the pinned
    choices and what they hide, then the files that count for nobody (rows of xlplan.status)."""
    from .archive import submission_status
    from .status import status_rows

    lines, others = submission_status(project.archive, project.plan)
    return list(status_rows(lines, others, project.plan, lang, project.settings.timezone))


# --- collect / recheck -----------------------------------------------------------------------

@dataclass
class RecheckResult:
    """Archived files read again, and (submission, 'missing' or 'mismatch') for each recorded
    file whose archived copy is gone or does not hash to what was recorded."""

    rechecked: list
    copy_problems: list


@dataclass
class CollectResult:
    """What ``collect`` did: the archive's summary (new, known, repaired, notices) and the
    findings of the new files and the notices together."""

    summary: object
    findings: list[Finding]
    recheck: RecheckResult | None = None

    @property
    def has_errors(self) -> bool:
        """True when a file collected has errors (exit status 1)."""
        return self.summary.has_errors


def recheck(project: Project) -> RecheckResult:
    """Read every archived file of the year again against the plan and settings as they are now."""
    from .collect import recheck as recheck_archive

    rechecked = recheck_archive(project.archive, project.settings, project.plan)
    return RecheckResult(rechecked, project.archive.verify_copies(project.plan.year.short))


def collect(project: Project, inboxes, rechecking: bool = False) -> CollectResult:
    """Archive, check and record the files of ``inboxes`` (open the project with
    archive='create'); with ``rechecking`` the archived files are read again first."""
    from .collect import collect as collect_files

    missing_paths(inboxes)
    again = recheck(project) if rechecking else None
    summary = collect_files(project.archive, list(inboxes), project.settings, project.plan)
    findings = project.archive.findings([s.id for s in summary.new]) + summary.notices
    return CollectResult(summary, findings, again)


# --- choose ----------------------------------------------------------------------------------

@dataclass
class ChooseResult:
    """``outcome``: 'chosen' (``submission`` counts), 'lifted' (the choice was removed) or
    'none-to-lift'; the archive the status is then read from."""

    department: str
    outcome: str
    submission: int | None
    archive: object


def choose(project: Project, department: str, submission: int | None = None,
           latest: bool = False) -> ChooseResult:
    """Pin ``submission`` of ``department`` (or a committee member) for the merge, or with
    ``latest`` lift the choice. Open the project with archive='existing': a department missing
    from the master is named before the archive is asked for."""
    from .archive import Archive

    plan = project.plan
    from .plan import require_departments

    require_departments(plan, [department], members=True)
    archive = Archive.require(project.settings)
    year = plan.year.short
    if latest:
        lifted = archive.unpin(year, department)
        return ChooseResult(department, "lifted" if lifted else "none-to-lift", None, archive)
    if submission is None:
        raise XlplanError("choice-missing")
    chosen = {s.id: s for s in archive.submissions(year)}.get(submission)
    scoring = chosen is not None and chosen.kind == "scoring"
    key = (chosen.member if scoring else chosen.department) if chosen is not None else None
    names = {department}
    if scoring:  # a member by number or by name
        names |= {m.id for m in plan.members if m.name == department}
    if chosen is None or key not in names or not chosen.readable:
        raise XlplanError("submission-not-found", department=department, submission=submission,
                          year=plan.year)
    archive.choose(year, key, submission)
    return ChooseResult(department, "chosen", submission, archive)


# --- writing: merge, feedback, scoring forms, department workbooks ---------------------------

@dataclass
class MergeResult:
    """The merged workbook asked for and the one written (another name when it was open)."""

    asked: Path
    written: Path


def merge(project: Project, out: Path | None = None, csv_dir: Path | None = None) -> MergeResult:
    """Write the merged workbook (default 集計/集計_<year>.xlsx), the tables also as CSV."""
    from .merge import write_merged

    asked = Path(out) if out else merged_path(project.settings.project_dir / RESULTS, project.plan.year)
    written = write_merged(project.archive, project.plan, project.settings, asked,
                           csv_dir=Path(csv_dir) if csv_dir else None)
    return MergeResult(asked, written)


@dataclass
class FilesResult:
    """Files written into ``out`` (each with its own counts) and notices for the user."""

    out: Path
    files: list
    nothing_collected: bool = False


def feedback(project: Project, out: Path | None = None) -> FilesResult:
    """Write return copies for the departments whose files need fixing (default 差し戻し)."""
    from .feedback import write_feedback

    out = Path(out) if out else feedback_dir(project.settings.project_dir)
    return FilesResult(out, write_feedback(project.archive, project.plan, project.settings, out))


def generate_scoring(project: Project, out: Path | None = None, members=None) -> FilesResult:
    """Write one scoring form per committee member (open the project with archive='existing';
    before anything was collected the forms carry no results: ``nothing_collected``)."""
    from .scoring import generate_scoring as write_forms

    if not project.plan.members:
        raise XlplanError("no-committee-members")
    out = Path(out) if out else scoring_dir(project.settings.project_dir)
    files = write_forms(project.plan, out, project.settings, project.archive, members=members or None)
    return FilesResult(out, files, nothing_collected=project.archive is None)


@dataclass
class GenerateResult:
    """The department workbooks written into ``out`` and the deadline warnings of the plan."""

    out: Path
    files: list
    warnings: list[Finding]


def generate(project: Project, out: Path | None = None, departments=None) -> GenerateResult:
    """Write one workbook per department (default 配布), with earlier years' values."""
    from .generate import generate as write_workbooks
    from .plan import deadline_findings, require_departments

    plan, settings = project.plan, project.settings
    require_departments(plan, departments)
    warnings = deadline_findings(plan)
    out = Path(out) if out else settings.project_dir / OUTBOX
    files = write_workbooks(plan, out, settings, departments=departments or None,
                            history=history(settings, plan))
    return GenerateResult(out, files, warnings)


def check(project: Project, paths) -> object:
    """Read ``paths`` (files or folders) and check them, archiving nothing: the CheckResult
    (findings, files, exit_code)."""
    from .check import check_files

    missing_paths(paths)
    return check_files(list(paths), project.settings, project.plan, keep_values=False)
