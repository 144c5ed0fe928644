"""Progress bars: shown on the long steps when asked for (or on a terminal), never in pipes."""

from __future__ import annotations

import pytest

from test_cli import run


def _generate(tmp_path, env):
    run("init", str(tmp_path / "p"))
    return run("generate", str(tmp_path / "p" / "計画マスタ.xlsx"), "--year", "R6",
               "--out", str(tmp_path / "out"), env=env)


@pytest.mark.slow
def test_generate_shows_a_bar_in_the_users_language_when_asked(tmp_path):
    r = _generate(tmp_path, {"XLPLAN_PROGRESS": "1"})
    assert r.returncode == 0, r.stderr
    # The bar clears itself when done, and tqdm redraws at most every 0.1 s: the last frame
    # shown may be any count of the 6 workbooks, never the final one for sure.
    assert "配布用ブックを作成" in r.stderr and "/6 [" in r.stderr
    r = run("--lang", "en", "generate", str(tmp_path / "p" / "計画マスタ.xlsx"), "--year", "R6",
            "--out", str(tmp_path / "out2"), env={"XLPLAN_PROGRESS": "1"})
    assert "generating" in r.stderr and "配布用ブックを作成" not in r.stderr


@pytest.mark.slow
def test_no_bar_when_output_is_not_a_terminal(tmp_path):
    r = _generate(tmp_path, {"XLPLAN_PROGRESS": ""})
    assert r.returncode == 0, r.stderr
    assert "配布用ブックを作成" not in r.stderr and "it/s" not in r.stderr and "file/s" not in r.stderr


@pytest.mark.slow
def test_collect_and_merge_show_their_steps(tmp_path):
    r = _generate(tmp_path, {"XLPLAN_PROGRESS": "0"})
    project = tmp_path / "p"
    r = run("collect", str(tmp_path / "out"), "--project", str(project), env={"XLPLAN_PROGRESS": "1"})
    assert "回収・チェック" in r.stderr, r.stderr
    r = run("merge", "--project", str(project), env={"XLPLAN_PROGRESS": "1"})
    assert r.returncode in (0, 1), r.stderr
    assert "集計表を作成" in r.stderr and "事業シートを作成" in r.stderr
