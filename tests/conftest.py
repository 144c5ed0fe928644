"""Shared fixtures: a coordinator's project folder and its generated department workbooks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import Phase, settings

sys.path.insert(0, str(Path(__file__).resolve().parent))

OUTBOX_NAME = "配布"  # xlplan.project.OUTBOX


# --- hypothesis: seeded in CI, bounded everywhere ----------------------------------------
# Every profile bounds an example's time (a deadline: a hang or a pathological slow path fails
# fast; property tests whose examples read whole workbooks set their own) and how long a
# failure is shrunk: shrinking a slow example used to take five minutes.
# ``ci``: derandomized (the same examples in every run, so a CI result is reproducible and no
# run fails by luck), nothing read from or written to an example database, the failing example
# printed with its reproduction blob, and no shrinking (the example found is reported as is;
# run it locally with the ``dev`` profile to shrink it).
# ``dev`` (default): random examples, shrinking on.
PROFILES = {
    "ci": dict(derandomize=True, database=None, print_blob=True, deadline=dt.timedelta(seconds=5),
               phases=(Phase.explicit, Phase.reuse, Phase.generate)),
    "dev": dict(deadline=dt.timedelta(seconds=5)),
}
for _name, _options in PROFILES.items():
    settings.register_profile(_name, **_options)


def hypothesis_profile(environ) -> str:
    """The profile of this run: HYPOTHESIS_PROFILE when given, ``ci`` when CI is set (every CI
    service sets it), else ``dev``."""
    if environ.get("HYPOTHESIS_PROFILE"):
        return environ["HYPOTHESIS_PROFILE"]
    return "ci" if environ.get("CI", "").lower() not in ("", "0", "false") else "dev"


settings.load_profile(hypothesis_profile(os.environ))


# A new project and its department workbooks cost about two seconds of generating per test;
# they are made once per session and each test gets its own copy of the folder (the same
# files a fresh init_project and generate write, signed with one key for the session).
# A test whose master, settings or layouts differ from the session's gets its own generation.


@pytest.fixture(scope="session")
def pristine(tmp_path_factory):
    """The session's project folder as ``init_project`` makes it, and its generated
    workbooks in a folder of their own: (project root, generated root, GeneratedFiles)."""
    from xlplan.generate import generate
    from xlplan.plan import load_plan
    from xlplan.project import init_project

    base = tmp_path_factory.mktemp("pristine")
    project = init_project(base / "project")
    shutil.copytree(project.root, base / "generated", symlinks=True)
    made = _open_project(base / "generated")
    files = generate(load_plan(made.master), made.outbox, made.settings)
    return project.root, made.root, files


def _open_project(root: Path):
    """The ProjectFolder of an existing project folder."""
    from xlplan.project import MASTER_NAME, ProjectFolder
    from xlplan.settings import SETTINGS_NAME, load_settings

    return ProjectFolder(root, root / MASTER_NAME, load_settings(root / SETTINGS_NAME))


def _inputs_of(root: Path) -> dict[str, bytes]:
    """What generating depends on in a project folder: master, settings, layouts."""
    from xlplan.project import MASTER_NAME
    from xlplan.settings import SETTINGS_NAME

    paths = [root / MASTER_NAME, root / SETTINGS_NAME, *sorted((root / "workbook_templates").iterdir())]
    return {p.name: p.read_bytes() for p in paths if p.is_file()}


@pytest.fixture
def project(tmp_path, pristine):
    """A fresh project folder as ``init_project`` makes it (sample master, settings, layouts,
    empty working folders): a copy of the session's."""
    shutil.copytree(pristine[0], tmp_path / "project", symlinks=True)
    return _open_project(tmp_path / "project")


@pytest.fixture
def generated(project, pristine):
    """The sample plan's department workbooks for R6, generated into the project's outbox."""
    from xlplan.generate import generate
    from xlplan.plan import load_plan

    plan = load_plan(project.master)
    if _inputs_of(project.root) != _inputs_of(pristine[1]) or any(project.outbox.iterdir()):
        files = generate(plan, project.outbox, project.settings)  # a project of the test's own
    else:
        files = []
        for f in pristine[2]:
            target = project.outbox / f.path.relative_to(pristine[1] / OUTBOX_NAME)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f.path, target)
            files.append(dataclasses.replace(f, path=target))
    return plan, {f.department: f for f in files}


# --- LibreOffice (headless, through UNO): see tests/libreoffice.py ---------------------


def pytest_collection_modifyitems(items):
    """Every test that uses LibreOffice carries the ``libreoffice`` marker, so
    ``-m "not libreoffice"`` leaves them out without a list to keep up to date."""
    for item in items:
        if "libreoffice" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.libreoffice)

_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:  # so tests can ``import libreoffice``
    sys.path.insert(0, _TESTS_DIR)


@pytest.fixture(scope="session")
def libreoffice():
    """One started headless LibreOffice for the whole session.

    Skipped when LibreOffice or python3-uno is missing, unless
    XLPLAN_REQUIRE_LIBREOFFICE=1 (set in CI), where that is a failure instead.
    """
    import os

    import libreoffice as lo_mod

    reason = lo_mod.unavailable_reason()
    if reason is not None:
        if os.environ.get("XLPLAN_REQUIRE_LIBREOFFICE") == "1":
            pytest.fail(f"{reason} (XLPLAN_REQUIRE_LIBREOFFICE=1)", pytrace=False)
        pytest.skip(reason)
    with lo_mod.LibreOffice() as lo:
        yield lo
