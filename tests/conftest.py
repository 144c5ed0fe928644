"""Shared fixtures: a coordinator's project folder and its generated department workbooks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


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
