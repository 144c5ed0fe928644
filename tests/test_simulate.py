"""The XML-level filler (``simulate.fill_package``, issue 16: benchmark corpora filled fast)
gives departments' files that read exactly like ``fill_workbook``'s (openpyxl load and save)."""

from __future__ import annotations

import random
import zipfile

import pytest

from xlplan.check import check_files
from xlplan.ooxml.worksheet import set_cells
from xlplan.read import read_returned
from xlplan.simulate import fill_package, fill_workbook


def _seen(result):
    """What a coordinator sees of a check: findings (without the file name) and the values."""
    findings = sorted((f.code, f.severity, f.sheet, f.cell, str(f.value)) for f in result.findings)
    values = result.values.drop(columns=[c for c in ("file", "path") if c in result.values.columns])
    return findings, values.to_json(orient="records", force_ascii=False)  # NaN as null


@pytest.mark.parametrize("seed,mistakes", [(0, 0), (1, 2), (2, 4), (3, 6)])
def test_fill_package_reads_like_fill_workbook(project, generated, tmp_path, seed, mistakes):
    plan, files = generated
    department = sorted(files)[seed % len(files)]
    src = files[department].path
    a, b = tmp_path / "openpyxl.xlsx", tmp_path / "xml.xlsx"
    made_a = fill_workbook(src, a, plan, random.Random(seed), mistakes=mistakes)
    made_b = fill_package(src, b, plan, random.Random(seed), mistakes=mistakes)
    assert made_a == made_b
    assert read_returned(b, project.settings.key_bytes).signature_ok
    assert _seen(check_files([b], project.settings, plan)) == _seen(check_files([a], project.settings, plan))


def test_fill_package_types_a_formula_as_a_formula(project, generated, tmp_path):
    """A department typing '=12*1' into a number cell: a formula cell, and its finding."""
    plan, files = generated
    src = files[sorted(files)[0]].path
    for seed in range(200):  # the first seed whose mistakes include a typed formula
        rng = random.Random(seed)
        dst = tmp_path / f"f{seed}.xlsx"
        made = fill_package(src, dst, plan, rng, mistakes=6)
        if any(m.startswith("数式の入力") for m in made):
            break
    else:
        pytest.fail("no seed made a formula mistake")
    with zipfile.ZipFile(dst) as z:
        assert any(b"<f>" in z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/"))
    same = tmp_path / "openpyxl.xlsx"
    fill_workbook(src, same, plan, random.Random(seed), mistakes=6)
    assert _seen(check_files([dst], project.settings, plan)) == \
        _seen(check_files([same], project.settings, plan))


def test_set_cells_keeps_each_cells_style_and_nothing_else():
    xml = (b'<worksheet><sheetData><row r="1"><c r="A1" s="3" t="s"><v>0</v></c>'
           b'<c r="B1" s="7"/><c r="C1" s="2" t="n"></c></row></sheetData></worksheet>')
    out = set_cells(xml, {"B1": 12.5, "C1": "a<b", "A1": None})
    assert out == (b'<worksheet><sheetData><row r="1"><c r="A1" s="3"/>'
                   b'<c r="B1" s="7"><v>12.5</v></c>'
                   b'<c r="C1" s="2" t="inlineStr"><is><t>a&lt;b</t></is></c></row></sheetData></worksheet>')
    with pytest.raises(ValueError):
        set_cells(xml, {"D9": 1})
