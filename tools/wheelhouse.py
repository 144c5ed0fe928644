"""Build a wheelhouse: xlplan and every dependency, for a PC without internet access.

A coordinator's PC on a municipal network (LGWAN) often cannot reach PyPI. On any machine that
can, run from a clone of this repository:

    python tools/wheelhouse.py --out wheelhouse

and copy the folder ``wheelhouse`` to the offline PC (USB stick, shared drive), where

    python -m pip install --no-index --find-links wheelhouse xlplan

installs xlplan without the internet. By default the wheelhouse holds wheels for Windows
(win_amd64) and Linux (manylinux x86_64) and for every Python version xlplan supports (3.11,
3.12, 3.13); ``--platform`` and ``--python`` narrow it (e.g. the test builds Linux for the running
Python only).

How: ``pip wheel --no-deps .`` builds xlplan's own wheel; ``pip download --only-binary=:all:
--platform … --python-version …`` fetches the dependencies' wheels for each target. pip
evaluates environment markers (``sys_platform == "win32"``) for the machine it runs on, not for
the target, so Windows-only dependencies (pywin32 for xlwings, colorama for tqdm) would be
missed when building on Linux: every downloaded wheel's requirements are therefore evaluated
again for the target and anything missing is fetched, until nothing is. A dependency published
only as source (no wheel at all) is fetched as source when it is pure Python (``--no-binary``
fallback per package); the offline PC builds it with the setuptools wheel in the wheelhouse.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
import zipfile
from email.parser import HeaderParser
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pip always carries its own copy
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent

# pip's --platform tags per operating system, and the marker environment of that system.
PLATFORMS = {
    "windows": {"tags": ["win_amd64"],
                "env": {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt",
                        "platform_machine": "AMD64"}},
    "linux": {"tags": ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"],
              "env": {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
                      "platform_machine": "x86_64"}},
}
PYTHONS = ("3.11", "3.12", "3.13")
# Always in the wheelhouse: pip needs them to build a source-only package offline.
BUILD_TOOLS = ("setuptools", "wheel")


def project_requirements(root: Path = ROOT) -> list[str]:
    """xlplan's runtime dependencies as pyproject.toml declares them."""
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    return list(data["project"]["dependencies"])


def marker_environment(platform: str, python: str) -> dict[str, str]:
    """The PEP 508 marker values of a target (platform, Python version)."""
    env = dict(PLATFORMS[platform]["env"])
    env.update(python_version=python, python_full_version=f"{python}.0",
               implementation_name="cpython", platform_python_implementation="CPython",
               extra="")
    return env


def wheel_requirements(wheel: Path, env: dict[str, str]) -> list[Requirement]:
    """The requirements of a wheel (its METADATA Requires-Dist) that apply on the target."""
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = HeaderParser().parsestr(z.read(name).decode("utf-8"))
    out = []
    for line in metadata.get_all("Requires-Dist") or []:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            out.append(req)
    return out


def _name_of(path: Path) -> str:
    """The project name of a wheel or sdist file, normalised."""
    stem = path.name
    if stem.endswith(".whl"):
        return canonicalize_name(stem.split("-")[0])
    return canonicalize_name(re.sub(r"-\d.*$", "", stem.removesuffix(".tar.gz").removesuffix(".zip")))


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)


def download(requirements: list[str], out: Path, platform: str, python: str) -> None:
    """Fetch wheels of ``requirements`` (and their dependencies) for one target into ``out``;
    a requirement without any wheel is fetched as source."""
    if not requirements:
        return
    target = [arg for tag in PLATFORMS[platform]["tags"] for arg in ("--platform", tag)]
    target += ["--python-version", python, "--implementation", "cp",
               "--abi", "cp" + python.replace(".", "")]
    base = ["download", "--disable-pip-version-check", "--dest", str(out)]
    done = _pip(*base, "--only-binary=:all:", *target, *requirements)
    if done.returncode == 0:
        return
    # One at a time, so that the one without a wheel is known; that one comes as source.
    for requirement in requirements:
        if _pip(*base, "--only-binary=:all:", *target, requirement).returncode == 0:
            continue
        name = Requirement(requirement).name
        source = _pip(*base, "--no-deps", "--no-binary", name, requirement)
        if source.returncode != 0:
            raise SystemExit(f"{requirement}: no wheel for {platform} / Python {python}, "
                             f"and no source either:\n{source.stderr}")


def complete(out: Path, platform: str, python: str) -> None:
    """Fetch what the wheels in ``out`` need on the target but pip skipped (markers for
    another platform), until every requirement of every wheel is present."""
    env = marker_environment(platform, python)
    while True:
        # Only files installable on this target count: pywin32 for Python 3.11 does not
        # serve Python 3.12.
        usable = [p for p in out.iterdir() if p.suffix in (".gz", ".zip")
                  or (p.suffix == ".whl" and _applies(p, platform, python))]
        present = {_name_of(p) for p in usable}
        missing = sorted({_without_marker(str(req)) for wheel in usable if wheel.suffix == ".whl"
                          for req in wheel_requirements(wheel, env)
                          if canonicalize_name(req.name) not in present})
        if not missing:
            return
        before = set(out.iterdir())
        download(missing, out, platform, python)
        if set(out.iterdir()) == before:
            raise SystemExit(f"{platform} / Python {python}: cannot fetch {', '.join(missing)}")


def _without_marker(requirement: str) -> str:
    req = Requirement(requirement)
    req.marker = None
    return str(req)


def _applies(wheel: Path, platform: str, python: str) -> bool:
    """True when a wheel file can be installed on the target (its tags allow it)."""
    parts = wheel.name[:-4].split("-")
    py, abi, plat = parts[-3], parts[-2], parts[-1]
    cp = "cp" + python.replace(".", "")
    py_ok = any(t in ("py3", "py2.py3", cp) or t == "cp3" for t in py.split(".")) or abi == "abi3"
    plat_ok = plat == "any" or any(
        p.startswith("win") if platform == "windows" else "linux" in p for p in plat.split("."))
    return py_ok and plat_ok


def build_wheelhouse(out: Path, platforms=tuple(PLATFORMS), pythons=PYTHONS, root: Path = ROOT) -> Path:
    """xlplan's wheel plus every dependency for each platform and Python version, in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    built = _pip("wheel", "--disable-pip-version-check", "--no-deps", "--wheel-dir", str(out), str(root))
    if built.returncode != 0:
        raise SystemExit(f"building xlplan's wheel failed:\n{built.stderr}")
    requirements = project_requirements(root) + list(BUILD_TOOLS)
    for platform in platforms:
        for python in pythons:
            print(f"{platform} / Python {python} …", flush=True)
            download(requirements, out, platform, python)
            complete(out, platform, python)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: python tools/wheelhouse.py --out wheelhouse [--platform linux] [--python 3.12]."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="wheelhouse", help="folder to fill (default: wheelhouse)")
    parser.add_argument("--platform", action="append", choices=sorted(PLATFORMS),
                        help="only this platform (repeatable; default: windows and linux)")
    parser.add_argument("--python", action="append", choices=PYTHONS,
                        help="only this Python version (repeatable; default: 3.11, 3.12, 3.13)")
    args = parser.parse_args(argv)
    out = build_wheelhouse(Path(args.out), tuple(args.platform or PLATFORMS), tuple(args.python or PYTHONS))
    files = sorted(p.name for p in out.iterdir())
    print(f"{len(files)} files in {out}. On the offline PC:\n"
          f"  python -m pip install --no-index --find-links {out} xlplan")
    return 0


if __name__ == "__main__":
    sys.exit(main())
