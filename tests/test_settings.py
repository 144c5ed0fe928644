"""xlplan.toml: every wrong type or value is a message naming the file and the key (issue 13
item 12), a missing file is ``settings-missing``, and keys xlplan does not know are named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xlplan.settings import SCHEMA, SettingsError, load_settings

from test_archive import run_cli

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")

# (table, key, TOML value): each wrong, each must be named.
WRONG = [
    ("xlplan", "signing_key", "123"),
    ("xlplan", "signing_key", '"zz"'),
    ("xlplan", "signing_key", '"abcd"'),
    ("xlplan", "signing_key", "{ a = 1 }"),
    ("xlplan", "sheet_password", "5"),
    ("xlplan", "sheet_password", '""'),
    ("xlplan", "sheet_password", "[1, 2]"),
    ("xlplan", "master", "{ a = 1 }"),
    ("xlplan", "master", "3"),
    ("xlplan", "templates_dir", "[1]"),
    ("xlplan", "templates_dir", "true"),
    ("xlplan", "timezone", '"Mars/Olympus"'),
    ("xlplan", "timezone", "9"),
    ("check", "far_from_target_low", '"half"'),
    ("check", "far_from_target_low", "-1"),
    ("check", "far_from_target_low", "5.0"),   # above the high bound (2.0)
    ("check", "far_from_target_high", "true"),
    ("check", "far_from_target_high", "{ x = 1 }"),
    ("store", "path", "5"),
    ("store", "path", '""'),
    ("run", "lock_wait_seconds", '"forever"'),
    ("run", "lock_wait_seconds", "-3"),
]


def _with(project, table: str, key: str, value: str | None) -> Path:
    """The project's xlplan.toml with ``[table] key`` set to ``value`` (None: removed)."""
    path = project.root / "xlplan.toml"
    lines, current, done = [], None, False
    for line in path.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"\[(\w+)\]", line)
        if heading:
            if current == table and not done and value is not None:
                lines.append(f"{key} = {value}")
                done = True
            current = heading.group(1)
        if current == table and re.match(rf"{key}\s*=", line):
            if value is not None:
                lines.append(f"{key} = {value}")
            done = True
            continue
        lines.append(line)
    if not done and value is not None:
        if current != table:
            lines.append(f"[{table}]")
        lines.append(f"{key} = {value}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_every_setting_read_anywhere_is_in_the_schema():
    """No module reads a setting past the validation (settings.extra is the raw file)."""
    root = Path(__file__).resolve().parent.parent / "xlplan"
    readers = [p.name for p in root.glob("*.py") if re.search(r"\.extra\.get\(|\.extra\[", p.read_text(encoding="utf-8"))]
    assert readers == []
    assert {table for table, _ in SCHEMA} >= {"xlplan", "check", "store", "run"}


@pytest.mark.parametrize("table, key, value", WRONG, ids=[f"{t}.{k}={v}" for t, k, v in WRONG])
@pytest.mark.slow
def test_a_wrong_value_is_a_message_naming_the_file_and_the_key(project, generated, table, key, value):
    path = _with(project, table, key, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert caught.value.code == "settings-invalid"
    plan, files = generated
    workbook = str(next(iter(files.values())).path)
    for lang in ("ja", "en"):
        r = run_cli("--lang", lang, "check", workbook, "--project", str(project.root))
        assert r.returncode == 2, r.stdout + r.stderr
        assert f"[{table}] {key}" in r.stderr and str(path) in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and "内部エラー" not in r.stderr and "internal error" not in r.stderr
        if lang == "en":
            assert "cannot be used" in r.stderr
            assert not JAPANESE.search(r.stderr.replace(str(path), ""))
        else:
            assert "設定ファイル" in r.stderr and "使えません" in r.stderr


@pytest.mark.slow
def test_a_wrong_value_is_shown_but_never_a_secret(project):
    _with(project, "xlplan", "timezone", '"Tokio"')
    r = run_cli("status", "--project", str(project.root))
    assert r.returncode == 2 and "[xlplan] timezone「Tokio」はタイムゾーン名で指定してください" in r.stderr, r.stderr
    _with(project, "xlplan", "timezone", None)
    _with(project, "xlplan", "sheet_password", "[\"geheim-pass\"]")
    _with(project, "xlplan", "signing_key", '"abcdef-secret-key"')
    r = run_cli("--lang", "en", "status", "--project", str(project.root))
    assert r.returncode == 2 and "[xlplan] signing_key must be" in r.stderr, r.stderr
    assert "secret-key" not in r.stderr and "abcdef" not in r.stderr


@pytest.mark.parametrize("key", ["signing_key", "sheet_password"])
@pytest.mark.slow
def test_a_missing_secret_is_named(project, key):
    path = _with(project, "xlplan", key, None)
    r = run_cli("status", "--project", str(project.root))
    assert r.returncode == 2 and f"[xlplan] {key} はありません" in r.stderr, r.stderr


@pytest.mark.slow
def test_a_table_where_a_table_belongs_and_a_file_that_is_not_toml(project):
    path = project.root / "xlplan.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("[check]\n", "check = \"x\"\n[unused]\n"), encoding="utf-8")
    r = run_cli("status", "--project", str(project.root))
    assert r.returncode == 2 and "check" in r.stderr and "内部エラー" not in r.stderr, r.stderr
    path.write_text("[xlplan\nsigning_key = ", encoding="utf-8")
    r = run_cli("status", "--project", str(project.root))
    assert r.returncode == 2 and "TOML の書き方に誤りがあります" in r.stderr and str(path) in r.stderr
    path.write_bytes(b"\xff\xfe[xlplan]")
    r = run_cli("--lang", "en", "status", "--project", str(project.root))
    assert r.returncode == 2 and "is not UTF-8 text" in r.stderr


@pytest.mark.slow
def test_missing_settings_are_the_catalogue_message(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_cli("status", "--project", str(empty), cwd=empty)
    assert r.returncode == 2
    assert "設定ファイル xlplan.toml が見つかりません" in r.stderr and "xlplan init" in r.stderr
    r = run_cli("--lang", "en", "status", "--project", str(empty), cwd=empty)
    assert r.returncode == 2 and "No xlplan.toml settings file found" in r.stderr
    assert not JAPANESE.search(r.stderr)


@pytest.mark.slow
def test_keys_xlplan_does_not_know_are_named_and_the_run_goes_on(project, generated):
    _with(project, "check", "far_from_target_hi", "3")
    _with(project, "colours", "header", '"blue"')
    plan, files = generated
    r = run_cli("check", str(files["福祉課"].path), "--project", str(project.root))
    assert r.returncode == 1 and "ファイル 1 件を確認しました" in r.stdout, r.stdout + r.stderr  # a blank form
    assert "[check] far_from_target_hi" in r.stderr and "[colours]" in r.stderr and "無視しました" in r.stderr


def test_the_panel_shows_the_same_settings_message(project):
    from test_panel import panel_cell

    from xlplan.excel import FilePanel, run
    from xlplan.panel import PANEL_NAME, build_panel, project_defaults

    panel = build_panel(project.root / PANEL_NAME, **project_defaults(project.root))
    _with(project, "check", "far_from_target_low", '"half"')
    assert run("generate", FilePanel(panel)) == 2
    message = panel_cell(panel, "xlplan_message")
    assert message.startswith("エラー") and "[check] far_from_target_low" in message
    assert "内部エラー" not in message


def test_valid_settings_keep_their_values(project):
    _with(project, "run", "lock_wait_seconds", "5")
    _with(project, "store", "path", '"db/store.sqlite"')
    settings = load_settings(project.root / "xlplan.toml")
    assert settings.lock_wait == 5.0 and settings.db_path == project.root / "db" / "store.sqlite"
    assert settings.far_low == 0.5 and settings.far_high == 2.0 and settings.unknown == []
