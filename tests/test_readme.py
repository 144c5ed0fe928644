"""The README and examples/ stay true: catalogue table, Python blocks and examples all run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from xlplan.cli import build_parser
from xlplan.findings import catalogue_markdown

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_catalogue_is_generated_from_the_catalogue():
    block = README.split("<!-- catalogue:start -->\n", 1)[1].split("\n<!-- catalogue:end -->", 1)[0]
    assert block == catalogue_markdown()


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})


def test_readme_commands_exist():
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)
    documented = set(re.findall(r"(?:`|&& |^)xlplan (?:--lang en )?([a-z][a-z-]*)", README, re.M))
    assert documented <= commands
    assert {"init", "generate", "check", "demo", "master"} <= documented


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").glob("*.py")))
@pytest.mark.slow
def test_examples_run(example, tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "examples" / example)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout.strip()


def test_setup_commands_in_readme_match_ci():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install -e ".[test]" && python -m pytest' in README
    assert 'pip install -e ".[test]" && python -m pytest' in ci
    assert "pip install . && xlplan demo" in README and "pip install . && xlplan demo" in ci
