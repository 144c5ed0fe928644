"""Golden comparison: describe every workbook of a demo folder, then compare two descriptions.

A refactoring of the core (the ooxml layer, merge in parts, typed metadata) must not change what
a department, a committee member or the coordinator sees. This tool turns each workbook into a
canonical, JSON-serialisable description (values, resolved styles, validations, defined names,
protection, print set-up, hyperlinks, charts, package parts) and prints the differences:

    python tools/golden.py demo /tmp/before            # xlplan demo + the other layouts
    python tools/golden.py snapshot /tmp/before --out before.json
    (change the code)
    python tools/golden.py demo /tmp/after
    python tools/golden.py snapshot /tmp/after --out after.json
    python tools/golden.py compare before.json after.json   # or two folders / two files

Files are only read (zipfile + defusedxml), never saved. What differs between two runs of the
same code by design (keys, times, content-addressed names) is masked: see ``MASKED``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import posixpath
import re
import sys
import zipfile
from pathlib import Path, PurePosixPath

from defusedxml import ElementTree as ET

# --- what is masked, and why (the one place) -------------------------------------------------

MASK = "<masked>"
MASKED = {
    "metadata signature": "HMAC of the metadata with the project's signing key, which "
                          "`init_project` draws at random (secrets.token_hex)",
    "metadata generated_at (any JSON key ending in _at)": "generation time of the workbook",
    "sheet/workbook protection password hash": "the sheet password is drawn at random per "
                                               "project; only its presence is compared",
    "docProps dcterms:created / dcterms:modified": "save time of the file",
    "archive paths (archive/xx/<sha256>.xlsx) in cells and hyperlinks": "content address of a "
                                                                         "returned file, whose "
                                                                         "bytes hold the random "
                                                                         "signature and times",
    "date-time cells with a time of day (date number format, fractional value)":
        "received / saved / checked times of the run (plan dates are whole days)",
    "date-times written as text (YYYY-MM-DD hh:mm...)": "the same times shown as text",
    "folder archive/": "content-addressed copies of the returned files (names are hashes)",
}
# Files of a demo folder that are described (everything else is settings, database, text).
DESCRIBED_SUFFIXES = (".xlsx", ".xlsm", ".csv")
SKIPPED_DIRS = ("archive",)

_ARCHIVE_PATH = re.compile(r"archive([\\/])[0-9a-f]{2}[\\/][0-9a-f]{64}")
_TEXT_TIME = re.compile(r"\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)?")
_METADATA_MARKER = "xlplan-metadata"

NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "pr": "http://schemas.openxmlformats.org/package/2006/relationships",
    "c": "http://schemas.openxmlformats.org/drawingml/2006/chart",
    "a": "http://schemas.openxmlformats.org/drawingml/2006/main",
    "xdr": "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing",
}
_R_ID = "{%s}id" % NS["r"]
# Built-in number formats that show a date or a time (ECMA-376 18.8.30).
_BUILTIN_DATE_FORMATS = set(range(14, 23)) | {45, 46, 47}
_BUILTIN_FORMATS = {0: "General", 1: "0", 2: "0.00", 3: "#,##0", 4: "#,##0.00", 9: "0%",
                    10: "0.00%", 11: "0.00E+00", 14: "mm-dd-yy", 20: "h:mm", 22: "m/d/yy h:mm",
                    49: "@"}


def mask_text(text: str) -> str:
    """A string with its run-dependent pieces (archive paths, written times) masked."""
    text = _ARCHIVE_PATH.sub(lambda m: f"archive{m.group(1)}{MASK}", text)
    return _TEXT_TIME.sub(MASK, text)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _element(elem) -> dict:
    """Any XML element as a plain dict: local tag names, attributes, text, children in order."""
    out: dict = {"tag": _local(elem.tag)}
    attrs = {_local(k): _norm(v) for k, v in elem.attrib.items()}
    if attrs:
        out["attrs"] = dict(sorted(attrs.items()))
    if elem.text and elem.text.strip():
        out["text"] = elem.text
    children = [_element(child) for child in elem]
    if children:
        out["children"] = children
    return out


def _norm(value: str) -> str:
    """One spelling for an attribute value: true/false as 1/0, 11.0 as 11."""
    if value in ("true", "false"):
        return "1" if value == "true" else "0"
    if re.fullmatch(r"-?\d+\.0+", value):
        return value.split(".")[0]
    return value


def _attrs(elem, drop: tuple[str, ...] = ()) -> dict:
    return dict(sorted((_local(k), _norm(v)) for k, v in elem.attrib.items()
                       if _local(k) not in drop))


# Attribute values that mean the same as leaving the attribute out (ECMA-376 schema defaults):
# one writer spells them out, another omits them, and neither is a change a user sees.
_DEFAULTS = {
    "dataValidation": {"type": "none", "operator": "between", "errorStyle": "stop",
                       "imeMode": "noControl", "allowBlank": "0", "showDropDown": "0",
                       "showInputMessage": "0", "showErrorMessage": "0"},
    "sheetProtection": {"sheet": "0", "objects": "0", "scenarios": "0", "formatCells": "1",
                        "formatColumns": "1", "formatRows": "1", "insertColumns": "1",
                        "insertRows": "1", "insertHyperlinks": "1", "deleteColumns": "1",
                        "deleteRows": "1", "selectLockedCells": "0", "sort": "1",
                        "autoFilter": "1", "pivotTables": "1", "selectUnlockedCells": "0"},
    "workbookProtection": {"lockStructure": "0", "lockWindows": "0", "lockRevision": "0"},
    "pageSetup": {"orientation": "default", "paperSize": "1", "scale": "100", "fitToWidth": "1",
                  "fitToHeight": "1", "firstPageNumber": "1", "pageOrder": "downThenOver",
                  "blackAndWhite": "0", "draft": "0", "cellComments": "none",
                  "useFirstPageNumber": "0", "errors": "displayed", "horizontalDpi": "600",
                  "verticalDpi": "600", "copies": "1", "usePrinterDefaults": "1"},
    "printOptions": {"horizontalCentered": "0", "verticalCentered": "0", "headings": "0",
                     "gridLines": "0", "gridLinesSet": "1"},
    "sheetView": {"showGridLines": "1", "showRowColHeaders": "1", "showZeros": "1",
                  "rightToLeft": "0", "showFormulas": "0", "showRuler": "1",
                  "showOutlineSymbols": "1", "defaultGridColor": "1", "view": "normal",
                  "zoomScale": "100", "windowProtection": "0", "showWhiteSpace": "1"},
    "alignment": {"horizontal": "general", "vertical": "bottom", "textRotation": "0",
                  "wrapText": "0", "indent": "0", "relativeIndent": "0", "justifyLastLine": "0",
                  "shrinkToFit": "0", "readingOrder": "0"},
}


def _significant(elem, drop: tuple[str, ...] = ()) -> dict:
    """The attributes of ``elem`` that differ from the schema default of its element."""
    defaults = _DEFAULTS.get(_local(elem.tag), {})
    return {k: v for k, v in _attrs(elem, drop).items() if defaults.get(k) != v}


def _color(elem) -> dict:
    """A colour as its properties: rgb without the alpha byte (writers disagree on it),
    theme / indexed / tint / auto kept as such."""
    out = _attrs(elem)
    if "rgb" in out:
        out["rgb"] = out["rgb"].upper()[-6:]
    return out


def _props(elem) -> dict:
    """A style element (font, fill, border, dxf) as properties, independent of child order and
    of how a writer spells defaults: <b/> is True, <b val="0"/> and empty sides are left out."""
    out: dict = {}
    for child in elem:
        tag = _local(child.tag)
        attrs = _attrs(child)
        if tag.lower().endswith("color") or tag == "color":
            out[tag] = _color(child)
        elif len(child):
            value = _attrs(child)
            for grandchild in child:
                gtag = _local(grandchild.tag)
                value[gtag] = _color(grandchild) if "color" in gtag.lower() else \
                    (_props(grandchild) or _attrs(grandchild))
            if value:
                out[tag] = value
        elif list(attrs) == ["val"]:
            if attrs["val"] != "0" or tag not in _TOGGLES:
                out[tag] = attrs["val"]
        elif attrs:
            if not (tag == "patternFill" and attrs.get("patternType") == "none"):
                out[tag] = attrs
        elif tag in _TOGGLES:
            out[tag] = "1"
    return out


# Font and alignment toggles that mean "on" when written without a value.
_TOGGLES = {"b", "i", "strike", "outline", "shadow", "condense", "extend", "u"}


def _text_of(elem) -> str:
    """The text of a string item (<si>, <is>): its runs joined, phonetic guides left out."""
    phonetic = {id(t) for ph in elem.iter() if _local(ph.tag) == "rPh" for t in ph.iter()}
    return "".join(t.text for t in elem.iter()
                   if _local(t.tag) == "t" and t.text and id(t) not in phonetic)


def _runs(elem) -> list[dict] | None:
    """The formatted runs of a rich-text string item (None for plain text)."""
    runs = [r for r in elem if _local(r.tag) == "r"]
    if not runs:
        return None
    out = []
    for run in runs:
        props = run.find("m:rPr", NS)
        out.append({"text": mask_text(_text_of(run)), "font": _props(props) if props is not None else {}})
    return out


def _style_key(style: dict) -> str:
    return hashlib.sha256(json.dumps(style, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]


def _sqref(text: str | None) -> str:
    """A cell-range list in one spelling: space-separated, sorted, no $."""
    return " ".join(sorted((text or "").replace("$", "").split()))


# --- the package ------------------------------------------------------------------------------


class Package:
    """A workbook package opened for reading: parts, relationships, XML."""

    def __init__(self, path: Path):
        self.zip = zipfile.ZipFile(path)
        self.names = set(self.zip.namelist())

    def xml(self, part: str):
        return ET.fromstring(self.zip.read(part))

    def rels(self, part: str) -> dict[str, dict]:
        """Relationship id → {type, target (resolved part name or external URL), mode}."""
        folder, name = posixpath.split(part)
        rels_part = posixpath.join(folder, "_rels", name + ".rels")
        if rels_part not in self.names:
            return {}
        out = {}
        for rel in self.xml(rels_part):
            target = rel.get("Target", "")
            mode = rel.get("TargetMode", "")
            if mode != "External":
                target = target.lstrip("/") if target.startswith("/") else \
                    posixpath.normpath(posixpath.join(folder, target))
            out[rel.get("Id")] = {"type": rel.get("Type", "").rsplit("/", 1)[-1],
                                  "target": target, "mode": mode}
        return out


class Styles:
    """The styles part resolved to properties, so a renumbered style table compares equal."""

    def __init__(self, package: Package, part: str | None):
        self.xfs: list = []
        self.fonts: list = []
        self.fills: list = []
        self.borders: list = []
        self.dxfs: list = []
        self.formats: dict[int, str] = dict(_BUILTIN_FORMATS)
        if not part or part not in package.names:
            return
        root = package.xml(part)
        for name, attr in (("fonts", "fonts"), ("fills", "fills"), ("borders", "borders"),
                           ("dxfs", "dxfs")):
            node = root.find(f"m:{name}", NS)
            setattr(self, attr, [_props(e) for e in node] if node is not None else [])
        for fmt in root.findall("m:numFmts/m:numFmt", NS):
            self.formats[int(fmt.get("numFmtId"))] = fmt.get("formatCode")
        node = root.find("m:cellXfs", NS)
        self.xfs = list(node) if node is not None else []
        self._resolved: dict[int, dict] = {}

    def resolve(self, index: int) -> dict:
        """The effective style of cellXfs[index]: font, fill, border, format, alignment,
        protection (locked unless said otherwise, as Excel applies it)."""
        if index in self._resolved:
            return self._resolved[index]
        xf = self.xfs[index] if index < len(self.xfs) else None
        style: dict = {}
        if xf is not None:
            style["font"] = self._pick(self.fonts, xf.get("fontId"))
            style["fill"] = self._pick(self.fills, xf.get("fillId"))
            style["border"] = self._pick(self.borders, xf.get("borderId"))
            fmt_id = int(xf.get("numFmtId", "0"))
            style["number_format"] = self.formats.get(fmt_id, f"builtin:{fmt_id}")
            align = xf.find("m:alignment", NS)
            style["alignment"] = _significant(align) if align is not None else {}
            prot = xf.find("m:protection", NS)
            prot_attrs = _attrs(prot) if prot is not None else {}
            style["locked"] = prot_attrs.get("locked", "1") in ("1", "true")
            style["hidden"] = prot_attrs.get("hidden", "0") in ("1", "true")
        self._resolved[index] = style
        return style

    def is_date(self, index: int) -> bool:
        """True when cellXfs[index] shows its number as a date or a time."""
        if index >= len(self.xfs):
            return False
        fmt_id = int(self.xfs[index].get("numFmtId", "0"))
        if fmt_id in _BUILTIN_DATE_FORMATS:
            return True
        code = re.sub(r'"[^"]*"|\[[^\]]*\]|\\.', "", self.formats.get(fmt_id, ""))
        return bool(re.search(r"[ymdhs]", code, re.I)) and "General" not in code

    @staticmethod
    def _pick(table: list, index: str | None):
        i = int(index or 0)
        return table[i] if i < len(table) else None


# --- one workbook -----------------------------------------------------------------------------


def describe_workbook(path: Path) -> dict:
    """The canonical description of one workbook file (see the module docstring)."""
    package = Package(Path(path))
    workbook_part = _workbook_part(package)
    wb_rels = package.rels(workbook_part)
    styles_part = next((r["target"] for r in wb_rels.values() if r["type"] == "styles"), None)
    styles = Styles(package, styles_part)
    strings = _shared_strings(package, wb_rels)
    root = package.xml(workbook_part)
    sheets_meta = root.findall("m:sheets/m:sheet", NS)
    sheet_names = [s.get("name") for s in sheets_meta]
    style_table: dict[str, dict] = {}
    out: dict = {
        "parts": sorted(package.names),
        "properties": _doc_properties(package),
        "workbook": {
            "sheets": [{"name": s.get("name"), "state": s.get("state", "visible")}
                       for s in sheets_meta],
            "defined_names": _defined_names(root, sheet_names),
            "protection": _protection(root.find("m:workbookProtection", NS)),
            "properties": _attrs(root.find("m:workbookPr", NS), drop=("codeName",))
            if root.find("m:workbookPr", NS) is not None else {},
        },
        "sheets": {},
        "styles": style_table,
    }
    for meta in sheets_meta:
        rel = wb_rels.get(meta.get(_R_ID), {})
        part = rel.get("target")
        if not part or part not in package.names:
            out["sheets"][meta.get("name")] = {"kind": rel.get("type", "missing")}
            continue
        out["sheets"][meta.get("name")] = _describe_sheet(package, part, rel.get("type", ""),
                                                          styles, strings, style_table)
    return out


def sheet_parts(path: Path) -> dict[str, str]:
    """Sheet name → its part in the package (for tools and tests that edit one sheet's XML)."""
    package = Package(Path(path))
    workbook_part = _workbook_part(package)
    rels = package.rels(workbook_part)
    return {s.get("name"): rels.get(s.get(_R_ID), {}).get("target")
            for s in package.xml(workbook_part).findall("m:sheets/m:sheet", NS)}


def _workbook_part(package: Package) -> str:
    for rel in package.rels("").values() if "_rels/.rels" in package.names else []:
        if rel["type"] == "officeDocument":
            return rel["target"]
    return "xl/workbook.xml"


def _shared_strings(package: Package, wb_rels: dict) -> list:
    """The shared string table as string items (text and runs are read from them per cell)."""
    part = next((r["target"] for r in wb_rels.values() if r["type"] == "sharedStrings"), None)
    if not part or part not in package.names:
        return []
    return package.xml(part).findall("m:si", NS)


def _doc_properties(package: Package) -> dict:
    """docProps/core.xml and app.xml as name → text, save times masked."""
    out = {}
    for part in ("docProps/core.xml", "docProps/app.xml"):
        if part not in package.names:
            continue
        for node in package.xml(part):
            key = f"{part.split('/')[-1][:-4]}.{_local(node.tag)}"
            if _local(node.tag) in ("created", "modified"):
                out[key] = MASK
            elif len(node) == 0:
                out[key] = node.text or ""
            else:
                out[key] = _element(node)
    return out


def _defined_names(root, sheet_names: list[str]) -> dict:
    out = {}
    for dn in root.findall("m:definedNames/m:definedName", NS):
        scope = dn.get("localSheetId")
        key = dn.get("name") + (f"@{sheet_names[int(scope)]}" if scope is not None
                                and int(scope) < len(sheet_names) else "")
        out[key] = {"value": (dn.text or "").replace("$", "") if dn.get("name").startswith("_xlnm.")
                    else dn.text or "",
                    "hidden": dn.get("hidden", "0") in ("1", "true")}
    return dict(sorted(out.items()))


def _protection(elem) -> dict | None:
    """Protection flags; the password hash (random per project) only as present or not."""
    if elem is None:
        return None
    out = {}
    for key, value in _significant(elem).items():
        if key in ("password", "workbookPassword", "revisionsPassword", "hashValue",
                   "saltValue", "workbookHashValue", "workbookSaltValue",
                   "revisionsHashValue", "revisionsSaltValue"):
            out[key] = MASK
        else:
            out[key] = value
    return out


def _describe_sheet(package: Package, part: str, kind: str, styles: Styles,
                    strings: list, style_table: dict) -> dict:
    root = package.xml(part)
    rels = package.rels(part)

    def style_ref(index: str | None) -> str:
        style = styles.resolve(int(index or 0))
        key = _style_key(style)
        style_table[key] = style
        return key

    sheet: dict = {"kind": kind}
    sheet["cells"] = _cells(root, styles, strings, style_ref)
    _mask_metadata(sheet)
    sheet["columns"] = _columns(root, style_ref)
    sheet["rows"] = _rows(root, style_ref)
    sheet["merged"] = sorted(m.get("ref") for m in root.findall("m:mergeCells/m:mergeCell", NS))
    sheet["validations"] = _validations(root)
    sheet["conditional_formats"] = _conditional_formats(root, styles)
    sheet["protection"] = _protection(root.find("m:sheetProtection", NS))
    sheet["print"] = _print_setup(root)
    sheet["view"] = _view(root)
    sheet["hyperlinks"] = _hyperlinks(root, rels)
    sheet["autofilter"] = (root.find("m:autoFilter", NS).get("ref")
                           if root.find("m:autoFilter", NS) is not None else None)
    sheet["drawing"] = _drawing(package, root, rels)
    sheet["comments"] = _comments(package, rels)
    return sheet


def _cells(root, styles: Styles, strings: list, style_ref) -> dict:
    cells = {}
    for c in root.iterfind("m:sheetData/m:row/m:c", NS):
        t = c.get("t", "n")
        f = c.find("m:f", NS)
        v = c.find("m:v", NS)
        raw = v.text if v is not None else None
        entry: dict = {}
        item = None
        if t == "s" and raw is not None:
            item = strings[int(raw)] if int(raw) < len(strings) else None
            entry["type"], value = "string", _text_of(item) if item is not None else None
        elif t == "inlineStr":
            item = c.find("m:is", NS)
            entry["type"], value = "string", _text_of(item) if item is not None else ""
        elif t == "b":
            entry["type"], value = "bool", raw in ("1", "true")
        elif t == "e":
            entry["type"], value = "error", raw
        elif t == "str":
            entry["type"], value = "string", raw or ""
        else:
            entry["type"], value = "number", _number(raw)
            if isinstance(value, float) and not value.is_integer() and styles.is_date(int(c.get("s") or 0)):
                value = MASK
        if isinstance(value, str):
            value = mask_text(value)
        if f is not None:
            entry["formula"] = f.text or ""
            if f.get("t"):
                entry["formula_kind"] = f.get("t")
                if f.get("ref"):
                    entry["formula_ref"] = f.get("ref")
            entry["cached"] = value
        else:
            entry["value"] = value
        if raw is None and f is None and t != "inlineStr":
            entry = {"type": "empty"}
        if item is not None and _runs(item):
            entry["runs"] = _runs(item)
        entry["style"] = style_ref(c.get("s"))
        cells[c.get("r")] = entry
    return cells


def _number(raw: str | None):
    if raw is None:
        return None
    try:
        number = float(raw)
    except ValueError:
        return raw
    return int(number) if number.is_integer() and abs(number) < 2 ** 53 else number


def _mask_metadata(sheet: dict) -> None:
    """xlplan's hidden metadata sheet: the signature masked, the JSON chunks joined, parsed and
    their time keys masked (so a change inside the metadata shows as a field, not a blob)."""
    cells = sheet["cells"]
    if cells.get("A1", {}).get("value") != _METADATA_MARKER:
        return
    if "B2" in cells and cells.get("A2", {}).get("value") == "signature":
        cells["B2"]["value"] = MASK
    chunks = []
    row = 3
    while f"B{row}" in cells and cells.get(f"A{row}", {}).get("value") in ("data", None, ""):
        chunks.append(str(cells[f"B{row}"].get("value") or ""))
        cells[f"B{row}"]["value"] = "<metadata chunk>"
        row += 1
    try:
        sheet["metadata"] = _mask_json(json.loads("".join(chunks)))
    except ValueError:
        sheet["metadata"] = "".join(chunks)


def _mask_json(data):
    if isinstance(data, dict):
        return {k: MASK if k.endswith("_at") else _mask_json(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_mask_json(v) for v in data]
    if isinstance(data, str):
        return mask_text(data)
    return data


def _columns(root, style_ref) -> dict:
    """Column letter (or min:max for a wide range) → width, hidden, style."""
    out = {}
    for col in root.findall("m:cols/m:col", NS):
        lo, hi = int(col.get("min")), int(col.get("max"))
        props = {"width": _number(col.get("width")) if col.get("customWidth", "0") in ("1", "true")
                 or col.get("width") else None,
                 "hidden": col.get("hidden", "0") in ("1", "true"),
                 "outline": int(col.get("outlineLevel", "0")),
                 "style": style_ref(col.get("style"))}
        keys = [_column_letter(i) for i in range(lo, hi + 1)] if hi - lo < 256 else \
            [f"{_column_letter(lo)}:{_column_letter(hi)}"]
        for key in keys:
            out[key] = props
    return out


def _column_letter(index: int) -> str:
    letters = ""
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _rows(root, style_ref) -> dict:
    """Row number → height, hidden, style, for the rows that set any of them."""
    out = {}
    for row in root.findall("m:sheetData/m:row", NS):
        props = {}
        if row.get("ht") and row.get("customHeight", "0") in ("1", "true"):
            props["height"] = _number(row.get("ht"))
        if row.get("hidden", "0") in ("1", "true"):
            props["hidden"] = True
        if row.get("customFormat", "0") in ("1", "true"):
            props["style"] = style_ref(row.get("s"))
        if row.get("outlineLevel"):
            props["outline"] = int(row.get("outlineLevel"))
        if props:
            out[row.get("r")] = props
    return out


def _validations(root) -> dict:
    """sqref → the validation (type, operator, formulas, prompt and error texts), from the main
    list and from the x14 extension list (lists that point at another sheet)."""
    out = {}
    for dv in root.iter():
        if _local(dv.tag) != "dataValidation":
            continue
        entry = _significant(dv, drop=("sqref", "uid"))
        sqref = dv.get("sqref")
        for child in dv:
            name = _local(child.tag)
            if name in ("formula1", "formula2"):
                entry[name] = "".join(t.text or "" for t in child.iter()).replace("$", "")
            elif name == "sqref":
                sqref = child.text
        key = _sqref(sqref)
        while key in out:
            key += " (again)"
        out[key] = entry
    return dict(sorted(out.items()))


def _conditional_formats(root, styles: Styles) -> dict:
    out = {}
    for cf in root.iter():
        if _local(cf.tag) != "conditionalFormatting":
            continue
        sqref = cf.get("sqref") or "".join(s.text or "" for s in cf if _local(s.tag) == "sqref")
        rules = []
        for rule in cf:
            if _local(rule.tag) != "cfRule":
                continue
            entry = _element(rule)
            dxf = rule.get("dxfId")
            if dxf is not None and int(dxf) < len(styles.dxfs):
                entry["format"] = styles.dxfs[int(dxf)]
                entry["attrs"].pop("dxfId", None)
            entry.get("attrs", {}).pop("id", None)
            rules.append(entry)
        out.setdefault(_sqref(sqref), []).extend(rules)
    return dict(sorted(out.items()))


def _print_setup(root) -> dict:
    out = {}
    for name in ("pageSetup", "printOptions", "pageMargins"):
        node = root.find(f"m:{name}", NS)
        if node is not None:
            out[name] = _significant(node, drop=("id",))
    fit = root.find("m:sheetPr/m:pageSetUpPr", NS)
    out["fit_to_page"] = fit is not None and fit.get("fitToPage", "0") in ("1", "true")
    tab = root.find("m:sheetPr/m:tabColor", NS)
    if tab is not None:
        out["tab_color"] = _attrs(tab)
    header = root.find("m:headerFooter", NS)
    if header is not None:
        out["header_footer"] = _element(header)
    for name in ("rowBreaks", "colBreaks"):
        node = root.find(f"m:{name}", NS)
        if node is not None:
            out[name] = sorted(int(b.get("id")) for b in node)
    return out


def _view(root) -> dict:
    view = root.find("m:sheetViews/m:sheetView", NS)
    if view is None:
        return {}
    out = _significant(view, drop=("tabSelected", "workbookViewId"))
    pane = view.find("m:pane", NS)
    if pane is not None:
        out["pane"] = _attrs(pane, drop=("activePane",))
    return out


def _hyperlinks(root, rels: dict) -> dict:
    out = {}
    for link in root.findall("m:hyperlinks/m:hyperlink", NS):
        entry = _attrs(link, drop=("id", "ref"))
        rid = link.get(_R_ID)
        if rid:
            entry["target"] = mask_text(rels.get(rid, {}).get("target", "?"))
        out[link.get("ref")] = entry
    return dict(sorted(out.items()))


def _drawing(package: Package, root, rels: dict) -> dict | None:
    """Charts (type, title, series references) and the number of pictures of a sheet."""
    drawing = root.find("m:drawing", NS)
    if drawing is None:
        return None
    part = rels.get(drawing.get(_R_ID), {}).get("target")
    if not part or part not in package.names:
        return {"missing": part}
    drels = package.rels(part)
    droot = package.xml(part)
    charts = []
    for chart_ref in droot.iter("{%s}chart" % NS["c"]):
        chart_part = drels.get(chart_ref.get(_R_ID), {}).get("target")
        if chart_part in package.names:
            charts.append(_chart(package.xml(chart_part)))
    images = sum(1 for _ in droot.iter("{%s}pic" % NS["xdr"]))
    anchors = [_local(a.tag) for a in droot]
    return {"charts": charts, "images": images, "anchors": len(anchors)}


def _chart(root) -> dict:
    plot = root.find("c:chart/c:plotArea", NS)
    kinds = []
    if plot is not None:
        for node in plot:
            if _local(node.tag).endswith("Chart"):
                series = []
                for ser in node.findall("c:ser", NS):
                    series.append({name: _series_source(ser.find(f"c:{name}", NS))
                                   for name in ("tx", "cat", "val", "xVal", "yVal")
                                   if ser.find(f"c:{name}", NS) is not None})
                grouping = node.find("c:grouping", NS)
                bar_dir = node.find("c:barDir", NS)
                kinds.append({"type": _local(node.tag),
                              "grouping": grouping.get("val") if grouping is not None else None,
                              "direction": bar_dir.get("val") if bar_dir is not None else None,
                              "series": series})
    title = root.find("c:chart/c:title", NS)
    return {"title": "".join(t.text or "" for t in title.iter("{%s}t" % NS["a"])) if title is not None else None,
            "plots": kinds}


def _series_source(elem) -> dict:
    """A series' name, categories or values: the cell reference and the cached or literal values."""
    ref = elem.find(".//c:f", NS)
    return {"ref": ref.text if ref is not None else None,
            "values": [v.text for v in elem.iter("{%s}v" % NS["c"])]}


def _comments(package: Package, rels: dict) -> dict:
    out = {}
    for rel in rels.values():
        if rel["type"] == "comments" and rel["target"] in package.names:
            for comment in package.xml(rel["target"]).iter("{%s}comment" % NS["m"]):
                text = comment.find("m:text", NS)
                out[comment.get("ref")] = _text_of(text) if text is not None else ""
    return dict(sorted(out.items()))


# --- folders ----------------------------------------------------------------------------------


def describe_csv(path: Path) -> dict:
    """A CSV file as its rows, with the same masks as workbook cells."""
    text = Path(path).read_bytes().decode("utf-8-sig", errors="replace")
    return {"csv": [[mask_text(field) for field in row] for row in csv.reader(text.splitlines())]}


def describe_file(path: Path) -> dict:
    """The description of one workbook or CSV file."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return describe_csv(path)
    try:
        return describe_workbook(path)
    except (zipfile.BadZipFile, KeyError, ET.ParseError) as exc:
        return {"unreadable": f"{type(exc).__name__}: {exc}"}


def snapshot(target: Path) -> dict:
    """Relative path → description, for a file or every described file under a folder."""
    target = Path(target)
    if target.is_file():
        return {target.name: describe_file(target)}
    out = {}
    for path in sorted(target.rglob("*")):
        rel = path.relative_to(target)
        if (path.is_file() and path.suffix.lower() in DESCRIBED_SUFFIXES
                and not path.name.startswith("~$") and rel.parts[0] not in SKIPPED_DIRS):
            out[PurePosixPath(rel).as_posix()] = describe_file(path)
    return out


def load_or_snapshot(target: Path) -> dict:
    """A saved snapshot (.json) or a fresh one of a file or folder."""
    target = Path(target)
    if target.suffix.lower() == ".json":
        return json.loads(target.read_text(encoding="utf-8"))
    return snapshot(target)


# --- comparison -------------------------------------------------------------------------------

_ABSENT = "(absent)"


def compare(before: dict, after: dict) -> list[str]:
    """Readable differences between two snapshots: ``file: sheet!cell: property before → after``."""
    lines: list[str] = []
    for name in sorted(set(before) | set(after)):
        if name not in after:
            lines.append(f"{name}: file removed")
        elif name not in before:
            lines.append(f"{name}: file added")
        else:
            _diff_file(name, before[name], after[name], lines)
    return lines


def _diff_file(name: str, a: dict, b: dict, lines: list[str]) -> None:
    styles = (a.get("styles", {}), b.get("styles", {}))
    for key in sorted(set(a) | set(b)):
        if key == "styles":
            continue
        if key == "sheets":
            for sheet in _ordered_union(a.get("sheets", {}), b.get("sheets", {})):
                sa, sb = a.get("sheets", {}).get(sheet), b.get("sheets", {}).get(sheet)
                if sa is None or sb is None:
                    lines.append(f"{name}: sheet {sheet}: {'added' if sa is None else 'removed'}")
                    continue
                _diff(sa, sb, [], lambda path: _sheet_label(name, sheet, path), styles, lines)
        else:
            _diff(a.get(key, _ABSENT), b.get(key, _ABSENT), [key],
                  lambda path: f"{name}: {'/'.join(path)}", styles, lines)


def _ordered_union(a: dict, b: dict) -> list:
    return list(a) + [k for k in b if k not in a]


def _sheet_label(name: str, sheet: str, path: list[str]) -> str:
    if path and path[0] == "cells" and len(path) > 1:
        return f"{name}: {sheet}!{path[1]}: {'.'.join(path[2:]) or 'cell'}"
    return f"{name}: {sheet}: {'/'.join(path)}"


def _diff(a, b, path: list[str], label, styles, lines: list[str]) -> None:
    if a == b:
        return
    if path and path[-1] == "style" and isinstance(a, str) and isinstance(b, str):
        _diff(styles[0].get(a, a), styles[1].get(b, b), path, label, (
            {}, {}), lines)
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in _ordered_union(a, b):
            _diff(a.get(key, _ABSENT), b.get(key, _ABSENT), path + [str(key)], label, styles, lines)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, path + [str(i)], label, styles, lines)
        return
    lines.append(f"{label(path)}: {_show(a)} → {_show(b)}")


def _show(value) -> str:
    text = value if value == _ABSENT else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 300 else text[:297] + "..."


# --- the demo, with every layout --------------------------------------------------------------

# Projects of the sample plan moved to the other built-in layouts (as a coordinator writes
# it in the master's 様式 column), so a golden run covers every layout's workbook.
OTHER_LAYOUTS = {"3-1-2": "activity", "1-2-1": "indicators", "2-1-1": "indicators",
                 "3-1-1": "counts"}
LAYOUTS_DIR = "配布_様式"


def run_golden_demo(out: Path, lang: str | None = None) -> Path:
    """``xlplan demo`` into ``out``, plus the department workbooks of the other layouts
    (from a copy of the master with OTHER_LAYOUTS in its 様式 column) in ``out/配布_様式``."""
    from xlplan.demo import run_demo

    out = Path(out)
    result = run_demo(out, lang)
    generate_other_layouts(result["project"], out / LAYOUTS_DIR)
    return out


def generate_other_layouts(project, folder: Path) -> list:
    """Generate the sample plan's workbooks with some projects in the other layouts."""
    from openpyxl import load_workbook

    from xlplan.generate import generate
    from xlplan.plan import load_plan

    folder.mkdir(parents=True, exist_ok=True)
    master = folder / "計画マスタ_様式.xlsx"
    # The coordinator's own master (not a returned workbook), edited as they would in Excel.
    wb = load_workbook(project.master)
    ws = wb["事業"]
    column = {c.value: c.column for c in ws[1]}
    for row in range(2, ws.max_row + 1):
        layout = OTHER_LAYOUTS.get(ws.cell(row, 1).value)
        if layout:
            ws.cell(row, column["様式"]).value = layout
    wb.save(master)
    return generate(load_plan(master), folder, project.settings)


# --- command line -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``demo``, ``snapshot`` and ``compare`` (exit 1 when the snapshots differ)."""
    parser = argparse.ArgumentParser(prog="golden", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="run xlplan demo (and the other layouts) into a new folder")
    p.add_argument("out", type=Path)
    p = sub.add_parser("snapshot", help="describe a workbook or every workbook of a folder")
    p.add_argument("target", type=Path)
    p.add_argument("--out", type=Path, help="write the JSON here (default: stdout)")
    p = sub.add_parser("compare", help="compare two snapshots, folders or files")
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    sub.add_parser("masked", help="list what is masked and why")
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.out.exists() and any(args.out.iterdir()):
            parser.error(f"{args.out} is not empty: use a new folder")
        run_golden_demo(args.out)
        return 0
    if args.command == "snapshot":
        text = json.dumps(snapshot(args.target), ensure_ascii=False, indent=1, sort_keys=True)
        if args.out:
            args.out.write_text(text + "\n", encoding="utf-8")
            print(f"{len(json.loads(text))} files described: {args.out}")
        else:
            print(text)
        return 0
    if args.command == "masked":
        for item, reason in MASKED.items():
            print(f"- {item}: {reason}")
        return 0
    lines = compare(load_or_snapshot(args.before), load_or_snapshot(args.after))
    for line in lines:
        print(line)
    print(f"{len(lines)} difference(s)" if lines else "no differences")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
