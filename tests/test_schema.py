"""The typed, versioned metadata schema (issue 15, ``xlplan.schema``).

* Any metadata survives to_dict → canonical JSON → from_dict unchanged (property test).
* Workbooks already sent by the xlplan before the schema (version 1, no ``schema_version``;
  ``tests/data/metadata_v1``, made by its ``make_fixtures.py``) still verify, read and check
  with exactly the findings and values recorded for them then.
* Metadata of a newer version, or with a value of the wrong type, is a ``metadata-unsupported``
  finding on the file, never a traceback, in the library and on the command line.
* Every stage takes the metadata through the schema: no dictionary access to metadata and no
  field-kind string outside ``xlplan/schema.py``.
"""

from __future__ import annotations

import ast
import copy
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings
from hypothesis import strategies as st
from openpyxl import load_workbook

import xlplan
from xlplan.check import check_files, check_returned
from xlplan.metadata import METADATA_SHEET, canonical_json, metadata_rows, parse_metadata_rows
from xlplan.plan import load_plan
from xlplan.read import read_returned
from xlplan.schema import (SCHEMA_VERSION, FieldKind, InputCell, LayoutRef, MetadataUnsupported,
                           PlanRef, SumCheck, WorkbookMetadata)
from xlplan.settings import load_settings

V1 = Path(__file__).parent / "data" / "metadata_v1"
EXPECTED = json.loads((V1 / "expected.json").read_text(encoding="utf-8"))
PACKAGE = Path(xlplan.__file__).parent


# --- round trip -------------------------------------------------------------------------------

texts = st.text(max_size=12)
opt_texts = st.none() | texts
ints = st.integers(min_value=-10**6, max_value=10**6)

input_cells = st.builds(
    InputCell, name=texts, sheet=texts, cell=texts, project=texts, field=texts,
    kind=st.sampled_from(FieldKind), required=st.booleans(), label=texts,
    indicator=st.none() | ints, year=opt_texts, unit=texts,
    choices=st.none() | st.lists(texts, max_size=4).map(tuple))

metadata = st.builds(
    WorkbookMetadata, plan=st.builds(PlanRef, texts, texts), template=st.builds(LayoutRef, texts, ints),
    year=texts, department=texts, fields=st.lists(input_cells, max_size=5).map(tuple), kind=texts,
    member=opt_texts, generator=texts, generated_at=opt_texts,
    projects=st.lists(texts, max_size=3).map(tuple), sheets=st.lists(texts, max_size=3).map(tuple),
    fingerprint=st.dictionaries(texts, st.dictionaries(texts, texts, max_size=3), max_size=3),
    validations=st.dictionaries(texts, ints, max_size=3),
    checks=st.lists(st.builds(SumCheck, texts, st.lists(texts, max_size=3).map(tuple)),
                    max_size=2).map(tuple),
    schema_version=st.integers(min_value=1, max_value=SCHEMA_VERSION))


@hsettings(max_examples=200, derandomize=True)
@given(metadata)
def test_any_metadata_survives_the_stored_json(meta):
    stored = json.loads(canonical_json(meta.to_dict()))
    assert WorkbookMetadata.from_dict(stored) == meta
    # The kind is stored as its plain value, as version 1 stored it.
    assert all(type(f["kind"]) is str for f in stored["fields"])


# --- workbooks already sent (version 1) -------------------------------------------------------


def _v1_files() -> list[str]:
    return sorted(EXPECTED["files"])


def _stored(path: Path) -> dict:
    wb = load_workbook(path, read_only=True)
    try:
        return parse_metadata_rows([list(r) for r in wb[METADATA_SHEET].iter_rows(values_only=True)])[0]
    finally:
        wb.close()


@pytest.fixture(scope="module")
def v1_project():
    settings = load_settings(V1 / "xlplan.toml")
    return settings, load_plan(V1 / "計画マスタ.xlsx")


def test_the_v1_fixtures_are_version_1_and_cover_every_layout_and_stage():
    files = {name: _stored(V1 / name) for name in _v1_files()}
    assert all("schema_version" not in data and data["format"] == 1 for data in files.values())
    layouts = {data["kind"] for data in files.values()}
    assert layouts == {"department", "activity", "indicators", "counts", "scoring", "volunteer"}
    names = " ".join(files)
    assert "差し戻し_" in names and "returned/filled_" in names and "中間評価票" in names


@pytest.mark.parametrize("name", _v1_files())
def test_a_workbook_sent_before_the_schema_reads_and_checks_as_it_did(v1_project, name):
    settings, plan = v1_project
    expected = EXPECTED["files"][name]
    returned = read_returned(V1 / name, settings.key_bytes)
    assert returned.signature_ok and returned.readable, [f.code for f in returned.findings]
    assert returned.metadata.schema_version == 1
    assert returned.department == expected["department"]
    findings, values = check_returned(returned, plan, settings, EXPECTED["versions"],
                                      collected_at="2026-12-31T00:00:00+00:00")
    assert [[f.code, f.severity, f.sheet, f.cell, _plain(f.value)] for f in findings] == expected["findings"]
    assert [{k: _plain(v) for k, v in row.items()} for row in values] == expected["values"]


def _plain(value):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    return str(value)


def test_new_workbooks_carry_the_schema_version(generated):
    plan, files = generated
    data = _stored(next(iter(files.values())).path)
    assert data["schema_version"] == SCHEMA_VERSION and "format" not in data
    assert WorkbookMetadata.from_dict(data).to_dict() == data


# --- metadata this xlplan cannot use: a finding, never a traceback ------------------------------


def resigned(src: Path, out: Path, key: bytes, change) -> Path:
    """A copy of a generated workbook whose metadata is changed by ``change(data)`` and signed
    again with ``key``: what a newer xlplan, or a bug, could have written."""
    wb = load_workbook(src)
    ws = wb[METADATA_SHEET]
    data = _stored(src)
    change(data)
    ws.delete_rows(1, ws.max_row)
    for r, row in enumerate(metadata_rows(data, key), start=1):
        for c, value in enumerate(row, start=1):
            ws.cell(r, c).value = value
    wb.save(out)
    return out


def newer_version(data: dict) -> None:
    """What a later xlplan would write: a schema version this one does not know."""
    data["schema_version"] = SCHEMA_VERSION + 1


def _resigned(tmp_path: Path, source: str, change) -> Path:
    """A copy of a v1 workbook changed by ``change`` and signed with the fixtures' key."""
    key = load_settings(V1 / "xlplan.toml").key_bytes
    return resigned(V1 / source, tmp_path / Path(source).name, key, change)


SENT = "sent/R6_福祉課_事業シート・評価表.xlsx"


def _set(path: tuple, value):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


DAMAGES = {
    "newer-version": (newer_version, f"版 {SCHEMA_VERSION + 1}",
                      f"version {SCHEMA_VERSION + 1}"),
    "fields-a-string": (_set(("fields",), "xp_p01_result_i1"), "fields が一覧ではありません",
                        "fields is not a list"),
    "plan-a-list": (_set(("plan",), ["midori"]), "plan がオブジェクトではありません", "plan is not an object"),
    "field-without-name": (lambda d: d["fields"][0].pop("name"), "fields[0].name がありません",
                           "fields[0].name is missing"),
    "indicator-as-text": (_set(("fields", 0, "indicator"), "1"), "fields[0].indicator が整数ではありません",
                          "fields[0].indicator is not a whole number"),
    "unknown-kind": (_set(("fields", 0, "kind"), "colour"), "不明な種類", "unknown kind"),
    "fingerprint-rows-a-list": (lambda d: d["fingerprint"].update({"表紙": ["x"]}),
                                "fingerprint.表紙 がオブジェクトではありません", "fingerprint.表紙 is not an object"),
    "checks-parts-a-string": (lambda d: d.update(checks=[{"kind": "sum", "total": "a", "parts": "b"}]),
                              "checks[0].parts が文字列の一覧ではありません",
                              "checks[0].parts is not a list of strings"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_metadata_this_xlplan_cannot_use_is_a_finding(tmp_path, v1_project, damage):
    settings, plan = v1_project
    change, ja, en = DAMAGES[damage]
    path = _resigned(tmp_path, SENT, change)
    returned = read_returned(path, settings.key_bytes)
    assert returned.signature_ok and not returned.readable and returned.department == ""
    assert [f.code for f in returned.findings] == ["metadata-unsupported"]
    finding = returned.findings[0]
    assert ja in finding.message("ja") and en in finding.message("en")
    result = check_files([path], settings, plan)
    assert [(f.code, f.file) for f in result.findings] == [("metadata-unsupported", path.name)]
    assert result.files[0].status == "unreadable" and result.exit_code == 1


def test_the_command_line_reports_a_newer_version_without_a_traceback(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(V1, project, ignore=shutil.ignore_patterns("sent", "returned", "*.py", "*.json"))
    path = _resigned(tmp_path, SENT, newer_version)
    env = {k: v for k, v in os.environ.items() if k not in ("XLPLAN_LANG", "XLPLAN_DEBUG")}
    proc = subprocess.run([sys.executable, "-m", "xlplan.cli", "check", str(path), "--project",
                           str(project), "--format", "json", "--lang", "en"], capture_output=True,
                          text=True, encoding="utf-8", env=env, timeout=120)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert [f["code"] for f in out["findings"]] == ["metadata-unsupported"]
    assert f"metadata version {SCHEMA_VERSION + 1}" in out["findings"][0]["message"]


def test_from_dict_never_raises_anything_but_metadata_unsupported():
    data = _stored(V1 / SENT)
    for key in list(data):
        for value in (None, "x", 1, 1.5, True, [], {}, [1], {"a": 1}):
            broken = copy.deepcopy(data)
            broken[key] = value
            try:
                WorkbookMetadata.from_dict(broken)
            except MetadataUnsupported:
                pass
    for value in (None, "x", [], 3):
        with pytest.raises(MetadataUnsupported):
            WorkbookMetadata.from_dict(value)


# --- one place: the schema module ------------------------------------------------------------

# Reading metadata as a dictionary: meta.get(…), meta["…"], spec["…"], field.get(…) …
DICT_ACCESS = re.compile(r"\b(meta|metadata|data|spec|field|f|record)\s*(\.get\(|\[\s*['\"])")
# Modules that hold other dictionaries under these names (the layout declaration, the
# archive's value rows), checked by name: nothing of the metadata.
NOT_METADATA = {"template.py", "settings.py", "plan.py", "cli.py", "excel.py", "panel.py", "app.py",
                "findings.py", "errorlog.py", "language.py", "cluster.py", "inbox.py", "status.py"}


def test_no_stage_reads_metadata_as_a_dictionary():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name in {"schema.py", "metadata.py"} or path.name in NOT_METADATA:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if DICT_ACCESS.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}")
    assert offenders == []


# The same words name other things elsewhere: what kind of entry a value turned out to be
# (normalise, and check and the merge that test it: text, milestone, score, choice), what a
# file is (ooxml.reader's sniffing: text), what a target is (plan: milestone), the field named "rating" (its kind
# is FieldKind.RATING), an exception's attribute (app: text) and the kind of a coded error's
# parameter (findings: text). Field kinds are written as FieldKind members everywhere but
# schema.py.
OTHER_VOCABULARIES = {"normalise.py": {"text", "milestone", "score", "choice"},
                      "check.py": {"text", "milestone"}, "tables.py": {"score"},
                      "scoring.py": {"score", "rating"}, "render.py": {"rating"},
                      "read.py": {"text"}, "reader.py": {"text"}, "plan.py": {"milestone"}, "app.py": {"text"},
                      "findings.py": {"text"}}


def test_field_kind_strings_appear_once():
    kinds = {k.value for k in FieldKind}
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "schema.py":
            continue
        allowed = OTHER_VOCABULARIES.get(path.name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in kinds and node.value not in allowed:
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value!r}")
    assert offenders == []
