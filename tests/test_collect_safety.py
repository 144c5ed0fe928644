"""Nothing a department sends, and nothing that happens to the coordinator's PC, can make the
archive lie or the year stop: files that change while collected, unreadable files, links and
special files in the inbox, cover letters, two runs at once, killed runs' leftovers, a missing
database, and last-saved times that cannot be true (issue 13 items 3–6, 9–11; issue 14 item 8)."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from filelock import FileLock

from xlplan.archive import Archive
from xlplan.collect import collect
from xlplan.check import check_files
from xlplan.read import file_digest
from xlplan.simulate import _set_last_saved

from test_archive import fill, run_cli


def _copy_in(project, generated, *departments) -> dict[str, Path]:
    """Filled workbooks of some departments in the project's inbox."""
    plan, files = generated
    placed = {}
    for department in departments:
        placed[department] = project.inbox / f"{department}.xlsx"
        fill(plan, files[department].path, placed[department])
    return placed


def _all_copies_hold_their_hash(archive: Archive, year: str) -> list[str]:
    """Names of recorded submissions whose archived copy does not hash to the record."""
    return [s.original_name for s in archive.submissions(year)
            if file_digest(archive.root / s.archived_path)[1] != s.sha256]


# --- item 3: the archive holds what its hash says -------------------------------------------


def test_a_file_that_changes_while_it_is_copied_is_refused_and_read_by_the_next_run(project, generated):
    plan, _ = generated
    placed = _copy_in(project, generated, "福祉課", "児童保育課")
    growing = placed["福祉課"]
    # Longer than one chunk of the copy, so that the copy reads it in several steps.
    with open(growing, "ab") as fh:
        fh.write(b"\0" * (3 << 20))
    archive = Archive.for_settings(project.settings)
    appended = []

    def mail_client_still_writing(path: Path) -> None:
        if path == growing and not appended:
            appended.append(path)
            with open(path, "ab") as fh:
                fh.write(b"more bytes of the attachment")

    archive.after_chunk = mail_client_still_writing
    summary = collect(archive, [project.inbox], project.settings, plan)
    assert appended
    assert [s.original_name for s in summary.new] == ["児童保育課.xlsx"]
    assert [(f.code, f.file) for f in summary.notices] == [("file-changing", "福祉課.xlsx")]
    assert "変更中のため次回の回収で読み取ります" in summary.notices[0].message("ja")
    assert not list(archive.archive_dir.rglob("*.part"))

    archive.after_chunk = None  # the writer is done: the next run takes it in
    again = collect(archive, [project.inbox], project.settings, plan)
    assert [s.original_name for s in again.new] == ["福祉課.xlsx"] and again.notices == []
    assert _all_copies_hold_their_hash(archive, plan.year.short) == []


@pytest.mark.slow
def test_with_a_real_concurrent_writer_every_archived_copy_matches_its_hash(project, generated):
    """A writer thread appends to the file while collect runs, many times over (the issue saw
    28 of 40 copies differ). Each run either refuses the file or archives exactly what it
    hashed."""
    plan, _ = generated
    target = project.inbox / "福祉課.xlsx"
    archive = Archive.for_settings(project.settings)
    refused = 0
    for attempt in range(25):
        target.write_bytes(os.urandom(4 << 20))  # a new content each time
        stop = threading.Event()

        def writer():
            with open(target, "ab") as fh:
                while not stop.is_set():
                    fh.write(os.urandom(64 << 10))
                    fh.flush()
                    time.sleep(0.0005)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            summary = collect(archive, [project.inbox], project.settings, plan)
        finally:
            stop.set()
            thread.join()
        refused += any(f.code == "file-changing" for f in summary.notices)
    assert _all_copies_hold_their_hash(archive, plan.year.short) == []
    assert refused > 0  # the writer was really caught in the act
    assert not list(archive.archive_dir.rglob("*.part"))


@pytest.mark.slow
def test_a_damaged_archived_copy_is_reported_by_recheck_and_repaired_when_the_file_comes_again(
        project, generated):
    plan, _ = generated
    placed = _copy_in(project, generated, "福祉課", "児童保育課")
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    victim = next(s for s in archive.submissions(plan.year.short) if s.original_name == "福祉課.xlsx")
    copy = archive.root / victim.archived_path
    # What the old two-read collect left: a truncated copy, recorded (unreadable) under the
    # hash of the whole file.
    copy.write_bytes(copy.read_bytes()[:1000])
    with sqlite3.connect(archive.db_path) as db:
        db.execute("UPDATE submissions SET readable=0, department='', errors=1 WHERE id=?", (victim.id,))

    r = run_cli("collect", "--recheck", str(project.root / "空"), "--project", str(project.root))
    assert "見つかりません" in r.stderr  # the inbox argument must exist
    empty = project.root / "空"
    empty.mkdir()
    r = run_cli("collect", "--recheck", str(empty), "--project", str(project.root))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "保管庫のファイルが記録と一致しません（ハッシュ不一致）: 福祉課.xlsx" in r.stdout
    assert [s.original_name for s, problem in archive.verify_copies(plan.year.short)] == ["福祉課.xlsx"]

    r = run_cli("collect", str(project.inbox), "--project", str(project.root))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "保管庫のファイルを修復して読み直しました: 福祉課.xlsx" in r.stdout
    assert archive.verify_copies(plan.year.short) == []
    repaired = archive.submission(victim.id)
    assert repaired.readable and repaired.department == "福祉課" and repaired.errors == 0
    assert file_digest(copy)[1] == victim.sha256 == file_digest(placed["福祉課"])[1]


# --- item 4: no database, no merge ------------------------------------------------------


@pytest.mark.slow
def test_merge_refuses_without_a_database_and_keeps_the_merged_workbook(project, generated):
    plan, _ = generated
    _copy_in(project, generated, "福祉課", "児童保育課")
    assert run_cli("collect", str(project.inbox), "--project", str(project.root)).returncode == 0
    assert run_cli("merge", "--project", str(project.root)).returncode == 0
    merged = project.results / "集計_R6.xlsx"
    good = merged.read_bytes()
    db = project.root / "xlplan.sqlite"
    for state in ("deleted", "empty"):
        for extra in ("-wal", "-shm"):
            Path(f"{db}{extra}").unlink(missing_ok=True)
        db.unlink(missing_ok=True)
        if state == "empty":
            db.write_bytes(b"")
        for command in ("merge", "status", "feedback", "choose"):
            args = ["--department", "福祉課", "--submission", "1"] if command == "choose" else []
            r = run_cli(command, *args, "--project", str(project.root))
            assert r.returncode == 2, (state, command, r.stdout + r.stderr)
            assert "まだ回収していません" in r.stderr and "Traceback" not in r.stderr
            assert db.exists() == (state == "empty") and (state == "deleted" or db.stat().st_size == 0)
        # Scoring forms may be made before collecting (without results): said, and no database.
        r = run_cli("generate-scoring", "--project", str(project.root))
        assert r.returncode == 0 and "まだ回収していない" in r.stderr, r.stdout + r.stderr
        assert db.exists() == (state == "empty")
        r = run_cli("--lang", "en", "merge", "--project", str(project.root))
        assert r.returncode == 2 and "Nothing has been collected yet" in r.stderr
        assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", r.stderr.replace(str(project.root), ""))
        assert merged.read_bytes() == good


@pytest.mark.slow
def test_merge_refuses_a_year_with_no_submission(project, generated):
    plan, _ = generated
    _copy_in(project, generated, "福祉課")
    assert run_cli("collect", str(project.inbox), "--project", str(project.root)).returncode == 0
    r = run_cli("merge", "--year", "R7", "--project", str(project.root))
    assert r.returncode == 2 and "令和7年度 の提出はまだ回収されていません" in r.stderr
    assert not (project.results / "集計_R7.xlsx").exists()


def test_the_panel_merge_refuses_as_the_command_does(project, generated):
    from test_panel import panel_cell

    from xlplan.excel import FilePanel, run
    from xlplan.panel import PANEL_NAME, build_panel, project_defaults

    panel = build_panel(project.root / PANEL_NAME, **project_defaults(project.root))
    assert run("merge", FilePanel(panel)) == 2
    message = panel_cell(panel, "xlplan_message")
    assert message.startswith("エラー") and "まだ回収していません" in message
    assert "内部エラー" not in message and not (project.root / "xlplan.sqlite").exists()


# --- item 5: plausible last-saved times only ---------------------------------------------


def _set_modified(path: Path, stamp: str) -> None:
    """The last-saved time inside the file (and the file's time) set to ``stamp``."""
    _set_last_saved(path, dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")))


@pytest.mark.parametrize("stamp, why", [("2099-01-01T00:00:00Z", "回収した時刻より後"),
                                        ("2001-01-01T00:00:00Z", "様式を作成した時刻より前")])
@pytest.mark.slow
def test_an_old_version_with_an_implausible_saved_time_does_not_replace_the_newer(
        project, generated, tmp_path, stamp, why):
    plan, files = generated
    src = files["福祉課"].path
    old, new = tmp_path / "old.xlsx", project.inbox / "福祉課_最終.xlsx"
    fill(plan, src, old, {("2-2-1", "eval_score", None): 2})
    fill(plan, src, new, {("2-2-1", "eval_score", None): 5})
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    resent = project.inbox / "福祉課.xlsx"
    shutil.copy(old, resent)
    _set_modified(resent, stamp)
    collect(archive, [project.inbox], project.settings, plan)

    assert archive.current(plan)["福祉課"].original_name == "福祉課_最終.xlsx"
    odd = next(s for s in archive.submissions(plan.year.short) if s.original_name == "福祉課.xlsx")
    found = [f for f in archive.findings([odd.id]) if f.code == "implausible-save-time"]
    assert len(found) == 1 and why in found[0].message("ja") and "回収した順" in found[0].message("ja")
    assert "collection" in found[0].message("en") or "generated" in found[0].message("en")
    assert odd.warnings >= 1
    # `check` says the same of the same file, and it is a warning (exit 0).
    checked = check_files([resent], project.settings, plan)
    assert [f.code for f in checked.findings if f.code == "implausible-save-time"] == ["implausible-save-time"]


def test_files_without_a_believable_time_are_ordered_as_collected(project, generated, tmp_path):
    plan, files = generated
    src = files["福祉課"].path
    first, second = project.inbox / "a.xlsx", tmp_path / "b.xlsx"
    fill(plan, src, first, {("2-2-1", "eval_score", None): 2})
    fill(plan, src, second, {("2-2-1", "eval_score", None): 5})
    _set_modified(first, "2099-06-01T00:00:00Z")
    _set_modified(second, "2098-01-01T00:00:00Z")
    archive = Archive.for_settings(project.settings)
    collect(archive, [project.inbox], project.settings, plan)
    shutil.copy(second, project.inbox / "b.xlsx")
    collect(archive, [project.inbox], project.settings, plan)
    assert archive.current(plan)["福祉課"].original_name == "b.xlsx"  # collected last


# --- item 6: one unreadable file does not stop collect ---------------------------------------


def _without_root_powers() -> list[str]:
    """A command prefix under which a file with no permissions cannot be read: root reads any
    file, so as root the run drops the capabilities that let it (util-linux ``setpriv``)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a file cannot be made unreadable")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", "--"]


@pytest.mark.slow
def test_a_file_that_cannot_be_opened_is_reported_and_the_batch_goes_on(project, generated):
    plan, files = generated
    fill(plan, files["福祉課"].path, project.inbox / "福祉課.xlsx")
    fill(plan, files["児童保育課"].path, project.inbox / "児童保育課.xlsx")
    locked = project.inbox / "健康づくり課.xlsx"
    fill(plan, files["健康づくり課"].path, locked)
    os.chmod(locked, 0)
    env = dict(os.environ, XLPLAN_LANG="ja")
    env.pop("XLPLAN_DEBUG", None)
    command = [*_without_root_powers(), sys.executable, "-m", "xlplan.cli", "collect",
               str(project.inbox), "--project", str(project.root)]
    r = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr  # a workbook could not be read: an error
    assert "Traceback" not in r.stderr and "内部エラー" not in r.stderr
    assert "回収: 福祉課.xlsx → 福祉課" in r.stdout and "回収: 児童保育課.xlsx → 児童保育課" in r.stdout
    assert "健康づくり課.xlsx: ファイルを開けません（アクセスが拒否されました）" in r.stdout
    os.chmod(locked, 0o644)
    r = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "回収: 健康づくり課.xlsx → 健康づくり課" in r.stdout, r.stdout + r.stderr


# --- item 9: one run at a time per project -------------------------------------------------


@pytest.mark.slow
def test_a_second_run_waits_for_the_lock_and_then_stops_with_a_message(project, generated):
    plan, _ = generated
    _copy_in(project, generated, "福祉課")
    toml = project.root / "xlplan.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + "\n[run]\nlock_wait_seconds = 1\n", encoding="utf-8")
    with FileLock(str(project.root / "xlplan.lock")):  # another run is working
        for command in (["collect", str(project.inbox)], ["merge"], ["--lang", "en", "collect", str(project.inbox)]):
            start = time.monotonic()
            r = run_cli(*command, "--project", str(project.root))
            assert r.returncode == 2, r.stdout + r.stderr
            assert ("他の xlplan（回収・集計など）が実行中です" in r.stderr
                    or "Another xlplan run" in r.stderr) and "Traceback" not in r.stderr
            assert time.monotonic() - start >= 1
    assert not (project.root / "xlplan.sqlite").exists() or Archive.for_settings(
        project.settings).submissions(plan.year.short) == []
    r = run_cli("collect", str(project.inbox), "--project", str(project.root))
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_two_collects_at_once_both_finish_and_record_each_file_once(project, generated):
    plan, files = generated
    names = []
    for department in files:
        for version in range(3):  # three different contents per department
            names.append(f"{department}_{version}.xlsx")
            fill(plan, files[department].path, project.inbox / names[-1],
                 texts={(p.id, "issues", None): f"版 {version}" for p in plan.projects_for(department)})
    env = dict(os.environ, XLPLAN_LANG="ja", XLPLAN_PROGRESS="0")
    env.pop("XLPLAN_DEBUG", None)
    args = [sys.executable, "-m", "xlplan.cli", "collect", str(project.inbox), "--project", str(project.root)]
    runs = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(4)]
    outputs = [r.communicate(timeout=300) for r in runs]
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode in (0, 1), out + err
        assert "Traceback" not in err and "内部エラー" not in err and "IntegrityError" not in err
    archive = Archive.for_settings(project.settings)
    subs = archive.submissions(plan.year.short)
    assert sorted(s.original_name for s in subs) == sorted(names)
    assert _all_copies_hold_their_hash(archive, plan.year.short) == []


# --- item 10: only regular files inside the inbox -------------------------------------------


def _strange_inbox(project, generated) -> Path:
    """An inbox with one good workbook and everything that must not be read."""
    plan, files = generated
    inbox = project.inbox
    fill(plan, files["福祉課"].path, inbox / "福祉課.xlsx")
    (inbox / "鍵.xlsx").symlink_to(project.root / "xlplan.toml")
    (inbox / "リンク.xlsx").symlink_to(inbox / "福祉課.xlsx")
    os.mkfifo(inbox / "パイプ.xlsx")
    outside = project.root / "外"
    outside.mkdir()
    shutil.copy(project.root / "xlplan.toml", outside / "settings.xlsx")
    (inbox / "外のフォルダ").symlink_to(outside, target_is_directory=True)
    sub = inbox / "児童保育課から"
    sub.mkdir()
    fill(plan, files["児童保育課"].path, sub / "児童保育課.xlsx")
    (inbox / ".hidden.xlsx").write_bytes(b"x")
    (inbox / "~$福祉課.xlsx").write_bytes(b"x")
    (inbox / "Thumbs.db").write_bytes(b"x")
    (inbox / ".~xlplan-abc.xlsx").write_bytes(b"x")
    return inbox


SKIPPED = {"鍵.xlsx": "リンク", "リンク.xlsx": "リンク", "パイプ.xlsx": "名前付きパイプ",
           "外のフォルダ": "リンク"}


@pytest.mark.slow
def test_links_and_special_files_are_never_collected(project, generated):
    plan, _ = generated
    inbox = _strange_inbox(project, generated)
    r = run_cli("collect", str(inbox), "--project", str(project.root))
    assert r.returncode == 0, r.stdout + r.stderr
    archive = Archive.for_settings(project.settings)
    assert sorted(s.original_name for s in archive.submissions(plan.year.short)) == ["児童保育課.xlsx", "福祉課.xlsx"]
    key = project.settings.signing_key.encode()
    assert not [p for p in archive.archive_dir.rglob("*") if p.is_file() and key in p.read_bytes()]
    for name, reason in SKIPPED.items():
        line = next(x for x in r.stdout.splitlines() if x.strip().startswith(f"{name}:"))
        assert "対象外" in line and reason in line
    for silent in (".hidden.xlsx", "~$福祉課.xlsx", "Thumbs.db", ".~xlplan-abc.xlsx"):
        assert silent not in r.stdout


@pytest.mark.slow
def test_check_takes_the_same_files_as_collect_and_never_hangs_on_a_fifo(project, generated):
    plan, _ = generated
    inbox = _strange_inbox(project, generated)
    result = check_files([inbox], project.settings, plan)
    assert sorted(f.file for f in result.files) == ["児童保育課.xlsx", "福祉課.xlsx"]
    assert sorted(f.file for f in result.findings if f.code == "file-skipped") == sorted(SKIPPED)
    assert result.exit_code == 0
    # Named directly, a FIFO is not opened either (it would wait for a writer for ever).
    r = run_cli("check", str(inbox / "パイプ.xlsx"), "--project", str(project.root))
    assert r.returncode == 0 and "名前付きパイプ" in r.stdout, r.stdout + r.stderr


# --- issue 14 item 8: cover letters are notices, not errors ---------------------------------


def _docx(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")


@pytest.mark.slow
def test_cover_letters_are_listed_once_and_do_not_change_the_exit_code(project, generated):
    plan, files = generated
    inbox = project.inbox
    fill(plan, files["福祉課"].path, inbox / "福祉課.xlsx")
    (inbox / "送付状.txt").write_text("各課の評価シートを送付します。", encoding="utf-8")
    _docx(inbox / "送付状.docx")
    (inbox / "依頼文.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    (inbox / "メール.msg").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    # A workbook saved under a document's name is read as the workbook it is.
    fill(plan, files["児童保育課"].path, inbox / "児童保育課.docx")
    letters = ["メール.msg", "依頼文.pdf", "送付状.docx", "送付状.txt"]
    for command in ("check", "collect"):
        r = run_cli(command, str(inbox), "--project", str(project.root))
        assert r.returncode == 0, (command, r.stdout + r.stderr)
        for name in letters:
            lines = [x for x in r.stdout.splitlines() if name in x]
            assert len(lines) == 1 and "対象外" in lines[0] and "送付状など" in lines[0], (command, lines)
        assert "保存し直して" not in r.stdout
    archive = Archive.for_settings(project.settings)
    assert {s.original_name: s.department for s in archive.submissions(plan.year.short)} == {
        "福祉課.xlsx": "福祉課", "児童保育課.docx": "児童保育課"}
    r = run_cli("--lang", "en", "check", str(inbox / "送付状.docx"), "--project", str(project.root))
    assert r.returncode == 0 and "cover letter" in r.stdout


@pytest.mark.parametrize("name, content", [
    ("福祉課.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600),
    ("福祉課.ods", None),
    ("福祉課.xlsx", b"PK\x03\x04 broken"),
    ("福祉課.csv", "事業,実績\n1-1-1,10\n".encode()),
])
@pytest.mark.slow
def test_a_file_meant_as_a_workbook_stays_an_error(project, generated, name, content):
    inbox = project.inbox
    if content is None:
        with zipfile.ZipFile(inbox / name, "w") as z:
            z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
            z.writestr("content.xml", "<office:document-content/>")
    else:
        (inbox / name).write_bytes(content)
    for command in ("check", "collect"):
        r = run_cli(command, str(inbox), "--project", str(project.root))
        assert r.returncode == 1, (command, r.stdout + r.stderr)
        assert "対象外" not in r.stdout.split("提出状況")[0]


# --- item 11: leftovers of killed runs ------------------------------------------------------


@pytest.mark.slow
def test_leftover_temporary_files_of_killed_runs_are_removed_by_the_next_run(project, generated):
    plan, _ = generated
    _copy_in(project, generated, "福祉課")
    assert run_cli("collect", str(project.inbox), "--project", str(project.root)).returncode == 0
    old = time.time() - 3600
    results = project.results
    leftovers = [results / ".~xlplan-k1a2b3.xlsx", results / ".~xlplan-rows-x1y2.xml",
                 results / ".~xlplan-splice-q9.xlsx", project.root / "archive" / ".incoming" / ".123-abc.part",
                 project.root / "archive" / "ab" / ".ab12.xlsx.part"]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
        os.utime(path, (old, old))
    fresh = results / ".~xlplan-fresh.xlsx"   # could belong to a run that did not lock (too new)
    fresh.write_bytes(b"new")
    mine = results / "メモ.part"               # not a name xlplan gives
    mine.write_bytes(b"keep")
    os.utime(mine, (old, old))
    r = run_cli("merge", "--project", str(project.root))
    assert r.returncode == 0, r.stdout + r.stderr
    assert [p.name for p in leftovers if p.exists()] == []
    assert fresh.exists() and mine.exists()
    assert sorted(p.name for p in results.iterdir() if p.name.startswith(".~xlplan")) == [fresh.name]
