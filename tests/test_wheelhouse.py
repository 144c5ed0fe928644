"""The offline install: tools/wheelhouse.py builds a wheelhouse from PyPI, and a fresh venv
installs xlplan from it with the package index switched off (as on a PC without internet)."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import wheelhouse  # noqa: E402

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def test_windows_only_dependencies_are_evaluated_for_the_target():
    windows = wheelhouse.marker_environment("windows", "3.12")
    linux = wheelhouse.marker_environment("linux", "3.12")
    from packaging.markers import Marker

    marker = Marker('platform_system == "Windows"')
    assert marker.evaluate(windows) and not marker.evaluate(linux)
    assert set(wheelhouse.PYTHONS) >= {"3.11", "3.12", "3.13"}


@pytest.mark.slow
def test_offline_install_from_the_linux_wheelhouse(tmp_path):
    if PYTHON not in wheelhouse.PYTHONS:
        pytest.skip(f"Python {PYTHON} is not one xlplan supports")
    house = tmp_path / "wheelhouse"
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "wheelhouse.py"), "--out", str(house),
                           "--platform", "linux", "--python", PYTHON],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in house.iterdir())
    assert any(n.startswith("xlplan-") and n.endswith(".whl") for n in names), names
    assert "--no-index --find-links" in done.stdout
    env_dir = tmp_path / "offline-venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    python = bin_dir / ("python.exe" if sys.platform == "win32" else "python")
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-index", "--find-links",
                              str(house), "xlplan"], capture_output=True, text=True, timeout=1200)
    assert install.returncode == 0, install.stdout + install.stderr
    version = subprocess.run([str(bin_dir / "xlplan"), "--version"], capture_output=True, text=True,
                             timeout=120)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("xlplan ")
    # The installed package works, not only its version: the layouts shipped as data files.
    demo = subprocess.run([str(bin_dir / "xlplan"), "catalogue", "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0 and "master-unreadable" in demo.stdout


@pytest.mark.slow
def test_windows_wheelhouse_has_the_windows_only_dependencies_for_every_python(tmp_path):
    house = tmp_path / "wheelhouse"
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "wheelhouse.py"), "--out", str(house),
                           "--platform", "windows", "--python", "3.12", "--python", "3.13"],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in house.iterdir())
    for tag in ("cp312", "cp313"):
        # xlwings needs pywin32 on Windows: pip on Linux would skip it (its marker is for Windows).
        assert any(n.startswith("pywin32-") and f"-{tag}-" in n for n in names), (tag, names)
        assert any(n.startswith("pandas-") and f"-{tag}-" in n and "win_amd64" in n for n in names)
    assert any(n.startswith("colorama-") for n in names)  # tqdm on Windows
