"""The CLI of the first stages: init, master, generate, demo — messages, exit codes, settings lookup."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from openpyxl import load_workbook

from xlplan.cli import main


def run(*args, cwd=None, env=None):
    """Run the real console entry point in a subprocess, as a user would."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "xlplan.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_init_then_generate_finds_settings_beside_the_master(tmp_path):
    r = run("init", str(tmp_path / "p"))
    assert r.returncode == 0, r.stderr
    assert "計画マスタ" in r.stdout
    settings = (tmp_path / "p" / "xlplan.toml").read_text(encoding="utf-8")
    assert "signing_key" in settings and "sheet_password" in settings
    r = run("generate", str(tmp_path / "p" / "計画マスタ.xlsx"), "--year", "令和6年度",
            "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "R6_長寿社会課_事業シート・評価表.xlsx" in names
    assert len(names) == 6
    assert "6 課分" in r.stdout


@pytest.mark.slow
def test_generate_finds_settings_in_cwd_or_project_option(tmp_path):
    main(["init", str(tmp_path / "p")])
    master_copy = tmp_path / "elsewhere" / "master.xlsx"
    master_copy.parent.mkdir()
    master_copy.write_bytes((tmp_path / "p" / "計画マスタ.xlsx").read_bytes())
    # Neither beside the master nor in the current folder: exit 2 with a Japanese message.
    r = run("generate", str(master_copy), "--out", str(tmp_path / "o1"), cwd=tmp_path)
    assert r.returncode == 2
    assert "xlplan.toml が見つかりません" in r.stderr and "Traceback" not in r.stderr
    r = run("generate", str(master_copy), "--out", str(tmp_path / "o2"), cwd=tmp_path / "p")
    assert r.returncode == 0, r.stderr
    r = run("generate", str(master_copy), "--out", str(tmp_path / "o3"), "--project",
            str(tmp_path / "p"), "--department", "福祉課", "--year", "FY2025", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [p.name for p in (tmp_path / "o3").iterdir()] == ["R7_福祉課_事業シート・評価表.xlsx"]


@pytest.mark.slow
def test_init_refuses_to_replace_settings(tmp_path):
    assert main(["init", str(tmp_path / "p")]) == 0
    key = (tmp_path / "p" / "xlplan.toml").read_text(encoding="utf-8")
    r = run("init", str(tmp_path / "p"))
    assert r.returncode == 2 and "上書きしません" in r.stderr
    assert (tmp_path / "p" / "xlplan.toml").read_text(encoding="utf-8") == key


@pytest.mark.slow
def test_bad_year_and_master_with_mistakes(tmp_path):
    main(["init", str(tmp_path / "p")])
    master = tmp_path / "p" / "計画マスタ.xlsx"
    r = run("generate", str(master), "--year", "来年", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "年度「来年」を読み取れません" in r.stderr
    wb = load_workbook(master)
    wb["事業"]["D2"] = None
    wb.save(master)
    r = run("master", str(master))
    assert r.returncode == 1
    assert "project-without-department" in r.stdout and "事業!D2" in r.stdout
    r = run("generate", str(master), "--out", str(tmp_path / "o"))
    assert r.returncode == 1 and "計画マスタに誤りがあります" in r.stderr
    assert not (tmp_path / "o").exists()
    r = run("--lang", "en", "master", str(master))
    assert "Project '1-1-1' has no responsible department." in r.stdout


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    r = run("demo", str(tmp_path / "demo"))
    assert r.returncode == 0, r.stderr
    assert "[6]" in r.stdout and "未提出" in r.stdout and "要修正" in r.stdout
    assert (tmp_path / "demo" / "集計" / "集計_R6.xlsx").exists()
    csvs = {p.stem for p in (tmp_path / "demo" / "集計" / "csv").glob("*.csv")}
    assert csvs == {"提出状況", "要確認", "一覧", "指標", "基本目標別", "推移", "入力値", "中間評価結果"}
    assert "[8]" in r.stdout
    # The second year: R7 sheets show R6's reported results; R7 collected and merged.
    assert "[10]" in r.stdout and "R6 実績" in r.stdout
    assert len(list((tmp_path / "demo" / "配布_R7").glob("R7_*.xlsx"))) == 6
    assert (tmp_path / "demo" / "集計" / "集計_R7.xlsx").exists()
    assert list((tmp_path / "demo" / "差し戻し").glob("差し戻し_R6_*.xlsx"))
    assert list((tmp_path / "demo" / "archive").rglob("*.xlsx"))
    # Running it again reuses the project (same key) instead of failing.
    r = run("demo", str(tmp_path / "demo"))
    assert r.returncode == 0, r.stderr
