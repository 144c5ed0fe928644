"""Shared fixtures: a coordinator's project folder and its generated department workbooks."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import pytest
from hypothesis import Phase, settings

sys.path.insert(0, str(Path(__file__).resolve().parent))


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


@pytest.fixture
def project(tmp_path):
    """A fresh project folder made by ``init_project`` (sample master, new key)."""
    from xlplan.project import init_project

    return init_project(tmp_path / "project")


@pytest.fixture
def generated(project):
    """The sample plan's department workbooks for R6, generated into the project's outbox."""
    from xlplan.generate import generate
    from xlplan.plan import load_plan

    plan = load_plan(project.master)
    files = generate(plan, project.outbox, project.settings)
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
