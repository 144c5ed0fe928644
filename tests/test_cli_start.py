"""The command starts without the heavy libraries (issue 16, CLI start under 0.3 s).

``xlplan --help`` and ``import xlplan.cli`` run in a fresh interpreter and must not import
pandas, numpy, openpyxl, XlsxWriter, python-calamine, Dask or tqdm: those are imported by the
stage that needs them. Behaviour, not a stopwatch: the timing is in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "numpy", "openpyxl", "xlsxwriter", "python_calamine", "dask", "distributed",
         "tqdm", "lxml", "hypothesis")

# Prints the heavy top-level packages the snippet left in sys.modules, as JSON on the last line.
_REPORT = ("import json, sys; heavy = " + repr(HEAVY) + "; "
           "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))")


def _heavy_after(snippet: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", f"{snippet}\n{_REPORT}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_the_cli_loads_no_heavy_library():
    assert _heavy_after("import xlplan.cli") == []


@pytest.mark.parametrize("argv", [["--help"], ["--lang", "en", "--help"], ["merge", "--help"],
                                  ["--version"]])
def test_help_loads_no_heavy_library(argv):
    snippet = ("import contextlib, io, xlplan.cli\n"
               "with contextlib.redirect_stdout(io.StringIO()):\n"
               "    try:\n"
               f"        xlplan.cli.main({argv!r})\n"
               "    except SystemExit as exc:\n"
               "        assert exc.code == 0, exc.code")
    assert _heavy_after(snippet) == []


def test_the_help_is_printed():
    proc = subprocess.run([sys.executable, "-m", "xlplan.cli", "--lang", "en", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert "collect" in proc.stdout and "merge" in proc.stdout


def test_the_public_api_is_still_there():
    """``from xlplan import generate`` etc. work (imported on first use) and ``__all__`` is whole."""
    import xlplan

    for name in xlplan.__all__:
        assert getattr(xlplan, name) is not None, name
    from xlplan import check_files, generate, load_plan  # noqa: F401
    with pytest.raises(AttributeError):
        xlplan.no_such_name  # noqa: B018


def test_importing_xlplan_alone_loads_no_heavy_library():
    assert _heavy_after("import xlplan") == []


def test_generate_stays_the_function_after_its_module_is_imported():
    """``xlplan.generate`` is the function even once ``xlplan.generate`` the module is loaded
    (here by ``xlplan.archive``), as it was when the package imported everything eagerly."""
    snippet = ("import xlplan, xlplan.archive, xlplan.generate as g\n"
               "assert callable(xlplan.generate) and xlplan.generate.__name__ == 'generate'\n"
               "from xlplan.render import build_workbook\n")
    proc = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_checking_files_loads_no_pandas(generated, project):
    """``xlplan check`` needs findings only: pandas (a third of a second to import) is not
    loaded, and the files are checked (a department workbook left blank has missing results)."""
    plan, files = generated
    target = str(next(iter(files.values())).path)
    snippet = ("import contextlib, io, sys, xlplan.cli\n"
               "out = io.StringIO()\n"
               "with contextlib.redirect_stdout(out):\n"
               "    try:\n"
               f"        xlplan.cli.main(['--lang', 'en', 'check', {target!r}, '--project', {str(project.root)!r}])\n"
               "    except SystemExit:\n"
               "        pass\n"
               "assert 'missing' in out.getvalue(), out.getvalue()\n"
               "assert 'pandas' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
