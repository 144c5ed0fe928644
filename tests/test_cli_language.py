"""The command line in both languages: --lang anywhere and XLPLAN_LANG, help texts, counted
nouns, what init says next, defaults, and messages without Python's words in them."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

import pytest

from xlplan.cli import build_parser, main
from xlplan.language import counted, lang_from_argv
from xlplan.project import FEEDBACK, INBOX, OUTBOX, RESULTS, SCORING

# Hiragana, katakana, CJK ideographs and punctuation, full-width forms.
CJK = re.compile(r"[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
# Folder names xlplan makes in a project: named as they are on disk, in any language.
FOLDER_NAMES = (FEEDBACK, SCORING, OUTBOX, INBOX, RESULTS)


def run(*args, cwd=None, env=None):
    """The real console entry point in a subprocess, with XLPLAN_LANG only when given."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("XLPLAN_LANG", "XLPLAN_DEBUG")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "xlplan.cli", *map(str, args)], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=300)


def without(text: str, *names) -> str:
    """``text`` with the given names (user data, folder names) taken out, longest first."""
    for name in sorted({str(n) for n in names if n}, key=len, reverse=True):
        text = text.replace(name, "")
    return text


def assert_english(text: str, *user_data) -> None:
    """No Japanese left once the user's data and the project's folder names are removed."""
    rest = without(text, *user_data, *FOLDER_NAMES)
    found = CJK.findall(rest)
    assert not found, (found, rest)


@pytest.mark.slow
def test_lang_is_accepted_before_or_after_the_subcommand_and_from_the_environment(project):
    for args, env in ((("--lang", "en", "master", project.master), None),
                      (("master", project.master, "--lang", "en"), None),
                      (("master", "--lang=en", project.master), None),
                      (("master", project.master), {"XLPLAN_LANG": "en"}),
                      (("master", project.master, "--lang", "en"), {"XLPLAN_LANG": "ja"})):
        r = run(*args, env=env)
        assert r.returncode == 0, (args, r.stderr)
        assert "9 projects, 17 indicators, 6 departments" in r.stdout, (args, r.stdout)
    r = run("master", project.master, "--lang", "ja", env={"XLPLAN_LANG": "en"})
    assert "事業 9、指標 17、担当課 6" in r.stdout


def test_the_last_lang_option_wins_as_argparse_decides():
    assert lang_from_argv(["--lang", "en", "check", "x", "--lang", "ja"]) == "ja"
    assert lang_from_argv(["check", "--lang=en"]) == "en"
    assert lang_from_argv(["check", "--lan", "en"]) == "en"
    assert lang_from_argv(["check", "x"]) is None


def test_main_does_not_change_the_environment(capsys, monkeypatch):
    monkeypatch.delenv("XLPLAN_LANG", raising=False)
    assert main(["catalogue", "--format", "json", "--lang", "en"]) == 0
    assert "XLPLAN_LANG" not in os.environ
    monkeypatch.setenv("XLPLAN_LANG", "ja")
    assert main(["--lang", "en", "catalogue", "--format", "json"]) == 0
    assert os.environ["XLPLAN_LANG"] == "ja"


@pytest.mark.parametrize("args,env", [
    (("--help", "--lang", "en"), None),
    (("--lang", "en", "--help"), None),
    (("check", "--help", "--lang", "en"), None),
    (("generate", "--help"), {"XLPLAN_LANG": "en"}),
    (("choose", "--lang=en", "--help"), None),
])
@pytest.mark.slow
def test_help_is_english_in_english(args, env):
    r = run(*args, env=env)
    assert r.returncode == 0, r.stderr
    assert "usage: xlplan" in r.stdout
    assert_english(r.stdout)


@pytest.mark.slow
def test_help_is_japanese_by_default():
    r = run("check", "--help")
    assert "ファイルまたはフォルダ" in r.stdout
    r = run("--help")
    assert "担当課ごとの入力用ファイルを作成" in r.stdout


def _actions(parser: argparse.ArgumentParser):
    """(command, action) for every argument of the parser and of each subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                yield choice.dest, choice
            for name, sub in action.choices.items():
                for inner in sub._actions:
                    yield name, inner
        else:
            yield "xlplan", action


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_argument_has_help_in_both_languages(lang):
    seen = 0
    for command, action in _actions(build_parser(lang)):
        if isinstance(action, argparse._SubParsersAction):
            continue
        seen += 1
        assert action.help and action.help.strip(), (command, action.dest)
        if lang == "en":
            assert_english(action.help)
        else:
            assert CJK.search(action.help), (command, action.dest, action.help)
    assert seen > 50


def test_counted_nouns():
    assert counted(1, "project") == "1 project"
    assert counted(2, "project") == "2 projects"
    assert counted(0, "file") == "0 files"
    assert counted(1, "return copy") == "1 return copy"
    assert counted(3, "return copy") == "3 return copies"
    assert counted(1540, "match") == "1,540 matches"


@pytest.mark.slow
def test_one_department_in_english_is_singular(project, tmp_path):
    r = run("generate", project.master, "--department", "児童保育課", "--out", tmp_path / "o",
            "--lang", "en")
    assert r.returncode == 0, r.stderr
    assert "(1 project, 13 input cells)" in r.stdout
    assert "Wrote 1 department workbook (FY2024)." in r.stdout
    assert "projects" not in r.stdout


@pytest.mark.slow
def test_init_says_what_to_do_next(tmp_path):
    r = run("init", tmp_path / "p")
    assert r.returncode == 0, r.stderr
    assert "次にすること" in r.stdout
    steps = r.stdout[r.stdout.index("次にすること"):]
    assert steps.index("Excel") < steps.index("xlplan master") < steps.index("xlplan generate")
    r = run("init", tmp_path / "q", "--lang", "en")
    assert "Next:" in r.stdout and "xlplan master" in r.stdout and "xlplan generate" in r.stdout
    assert_english(r.stdout, tmp_path, "計画マスタ.xlsx")


@pytest.mark.slow
def test_generate_writes_into_the_projects_outbox_by_default(project, tmp_path):
    r = run("generate", project.master, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(list(project.outbox.glob("R6_*.xlsx"))) == 6


@pytest.mark.slow
def test_choose_names_a_department_missing_from_the_master(project):
    r = run("choose", "--department", "社協", "--submission", "2", "--project", project.root)
    assert r.returncode == 2
    assert "担当課「社協」は計画マスタにありません。" in r.stderr
    assert "社会福祉協議会" in r.stderr and "提出 ID" not in r.stderr
    r = run("choose", "--department", "社協", "--submission", "2", "--project", project.root,
            "--lang", "en")
    assert "The department '社協' is not in the plan master." in r.stderr
    assert "社会福祉協議会" in r.stderr


@pytest.mark.slow
def test_generate_names_a_department_missing_from_the_master(project, tmp_path):
    r = run("generate", project.master, "--department", "福祉", "--out", tmp_path / "o")
    assert r.returncode == 2 and "担当課「福祉」は計画マスタにありません" in r.stderr
    assert "福祉課" in r.stderr


PYTHON_WORDS = re.compile(r"Error\b|Errno|Exception|Traceback|zipfile|openpyxl")


@pytest.mark.slow
def test_an_unopenable_master_is_explained_in_words(project, tmp_path):
    missing = tmp_path / "なし.xlsx"
    r = run("master", missing)
    assert r.returncode == 1
    assert f"計画マスタを開けませんでした: ファイルが見つかりません: {missing}" in r.stdout
    assert not PYTHON_WORDS.search(r.stdout), r.stdout
    absent = tmp_path / "absent.xlsx"
    r = run("master", absent, "--lang", "en")
    assert f"The plan master could not be opened: file not found: {absent}" in r.stdout
    assert "1 error, 0 warnings, 0 info" in r.stdout
    assert_english(r.stdout, absent)
    text = tmp_path / "text.xlsx"
    text.write_text("計画,R6\n", encoding="utf-8")
    r = run("master", text, "--lang", "en")
    assert "it is not an Excel workbook (.xlsx), or it is damaged" in r.stdout
    assert not PYTHON_WORDS.search(r.stdout), r.stdout
    r = run("master", tmp_path)
    assert f"ファイルではなくフォルダです: {tmp_path}" in r.stdout


@pytest.mark.slow
def test_a_broken_layout_declaration_is_explained_in_english(project, tmp_path):
    (project.root / "workbook_templates" / "department.toml").write_text("id = \n", encoding="utf-8")
    r = run("generate", project.master, "--out", tmp_path / "o", "--lang", "en")
    assert r.returncode == 2
    [line] = [x for x in r.stderr.splitlines() if "department.toml" in x]
    declaration = project.root / "workbook_templates" / "department.toml"
    assert line == (f"The layout file {declaration} cannot be used: the declaration cannot be read "
                    "(a syntax error at line 1, column 6). Fix it as the README (Layouts as files) describes.")
    assert not PYTHON_WORDS.search(r.stderr), r.stderr
    r = run("generate", project.master, "--out", tmp_path / "o")
    assert "1 行目" in r.stderr and "書き方に誤りがあります" in r.stderr


@pytest.mark.slow
def test_a_bad_year_is_explained_in_english(project, tmp_path):
    r = run("generate", project.master, "--year", "来年", "--out", tmp_path / "o", "--lang", "en")
    assert r.returncode == 2
    assert "The year '来年' cannot be read" in r.stderr
    assert_english(r.stderr, "来年")


@pytest.mark.slow
def test_init_refuses_in_english(project):
    r = run("init", project.root, "--lang", "en")
    assert r.returncode == 2 and "already exists" in r.stderr
    assert_english(r.stderr, project.root)
