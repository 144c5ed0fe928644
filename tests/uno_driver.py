#!/usr/bin/env python3
"""Drive a running headless LibreOffice through UNO: one JSON request in, one JSON reply out.

Run by a Python that can ``import uno`` (Debian: ``/usr/bin/python3`` with python3-uno);
it is NOT imported by pytest. ``tests/libreoffice.py`` starts soffice and calls this script.

Usage::

    /usr/bin/python3 uno_driver.py --connect 'pipe,name=xlplan_lo_123' [--wait 60] < request.json

The connection string is the part of soffice's ``--accept=`` argument before ``;urp;``
(``pipe,name=NAME`` or ``socket,host=127.0.0.1,port=N``).

Requests (JSON object on stdin):

* ``{"op": "ping"}`` -> ``{"ok": true, "version": ...}``
* ``{"op": "inspect", "path": ...}`` -> sheets / cells / named ranges, see ``op_inspect``
* ``{"op": "fill", "path": src, "out": dst, "values": [...], "unprotect_password": pw?}``
* ``{"op": "set_formula", "path": src, "out": dst, "values": [...]}`` -- each value is a formula
  such as ``"=SUM(1,2)"``, parsed in the UI locale's grammar (``FormulaLocal``; en-US uses
  Excel's ``,`` separator); ``"grammar": "api"`` uses ``setFormula`` (``;`` separators)
* ``{"op": "convert", "path": src, "out": dst, "filter": "calc_pdf_Export" | ...}``
* ``{"op": "basic_modules", "path": ..., "library": "VBAProject"?}`` -> the Basic modules
  LibreOffice made of the workbook's VBA project (loaded with macros enabled)
* ``{"op": "buttons", "path": ...}`` -> the form buttons and the script bound to each click
* ``{"op": "press", "path": src, "out": dst, "sheet": ..., "label": ..., "how": "click"?}``
  -> clicks a form button (macros enabled) and stores the document to ``out``
* ``{"op": "shutdown"}`` -> terminates soffice

Every failure becomes ``{"error": message}`` on stdout with exit code 0 (a reply whose
``error_kind`` is ``"connect"`` means soffice could not be reached).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback

import uno  # noqa: E402  (only available in the LibreOffice-capable Python)
from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]
from com.sun.star.connection import NoConnectException  # type: ignore[import-not-found]

# com.sun.star.sheet.CellFlags
CF_VALUE, CF_DATETIME, CF_STRING, CF_FORMULA = 1, 2, 4, 16
# com.sun.star.document.MacroExecMode.NEVER_EXECUTE
MACRO_NEVER_EXECUTE = 0
# com.sun.star.document.MacroExecMode.ALWAYS_EXECUTE_NO_WARN: LibreOffice then imports an
# .xlsm's VBA project as the Basic library "VBAProject" (modules run in VBA mode).
MACRO_ALWAYS_EXECUTE_NO_WARN = 4
XLSM_FILTER = "Calc MS Excel 2007 VBA XML"

PDF_FILTER = "calc_pdf_Export"
XLSX_FILTER = "Calc MS Excel 2007 XML"
CTX = None  # remote component context, set by main()
KNOWN_FILTERS = {PDF_FILTER, XLSX_FILTER, "MS Excel 97", "calc8", "Text - txt - csv (StarCalc)"}


class DriverError(Exception):
    """An expected failure, reported as {"error": message}."""

    def __init__(self, message: str, kind: str = "request"):
        super().__init__(message)
        self.kind = kind


# ---------------------------------------------------------------------------- helpers


def prop(name, value):
    p = PropertyValue()
    p.Name = name
    p.Value = value
    return p


def props(**kw):
    return tuple(prop(k, v) for k, v in kw.items())


def file_url(path: str) -> str:
    return uno.systemPathToFileUrl(os.path.abspath(path))


def connect(conn: str, wait: float):
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    url = f"uno:{conn};urp;StarOffice.ComponentContext"
    deadline = time.monotonic() + wait
    last = None
    while True:
        try:
            ctx = resolver.resolve(url)
            break
        except NoConnectException as exc:  # soffice not (yet) listening
            last = exc
        except Exception as exc:  # noqa: BLE001 - e.g. RuntimeException while starting
            last = exc
        if time.monotonic() >= deadline:
            raise DriverError(f"cannot connect to soffice at {conn!r}: {getattr(last, 'Message', last)}", "connect")
        time.sleep(0.2)
    smgr = ctx.ServiceManager
    desktop = smgr.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
    return ctx, desktop


def load(desktop, path: str, read_only: bool = True, macro_mode: int = MACRO_NEVER_EXECUTE,
         filter_name: str | None = None, filter_options: str | None = None):
    """Open hidden, macros never executed (``macro_mode`` overrides that).

    read_only=True: no lock file is created and a stale ``.~lock.*#`` file next to the
    workbook does not make the load fail (headless LibreOffice cannot ask, and
    loadComponentFromURL just returns None). But a read-only document silently ignores
    ``FormulaLocal``, so write operations open a private copy read-write instead.
    """
    if not path or not os.path.isfile(path):
        raise DriverError(f"file not found: {path}")
    # A CSV opens as a person opens it only with the import options they would see (the
    # import dialog's separator, character set, ...): ``filter_options`` gives them.
    extra = dict(FilterName=filter_name, FilterOptions=filter_options) if filter_name else {}
    doc = desktop.loadComponentFromURL(
        file_url(path),
        "_blank",
        0,
        props(Hidden=True, ReadOnly=read_only, MacroExecutionMode=macro_mode, UpdateDocMode=0, **extra),
    )
    if doc is None:
        raise DriverError(f"LibreOffice could not open {path}")
    if not hasattr(doc, "getSheets"):
        close(doc)
        raise DriverError(f"{path} did not open as a spreadsheet")
    return doc


def close(doc):
    if doc is None:
        return
    try:
        doc.close(True)
    except Exception:  # noqa: BLE001 - CloseVetoException etc.: fall back to dispose
        try:
            doc.dispose()
        except Exception:  # noqa: BLE001
            pass


def store(doc, out: str, filter_name: str):
    if not out:
        raise DriverError("missing 'out'")
    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir):
        raise DriverError(f"output directory does not exist: {out_dir}")
    # Write next to the target, then rename: atomic, and works when out == the loaded file.
    tmp = os.path.join(out_dir, f".{os.path.basename(out)}.{os.getpid()}.part")
    try:
        doc.storeToURL(file_url(tmp), props(FilterName=filter_name, Overwrite=True))
        if not os.path.isfile(tmp):
            raise DriverError(f"LibreOffice did not write {out}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def enum_name(value) -> str | None:
    if value is None:
        return None
    return getattr(value, "value", str(value))


def col_letters(col: int) -> str:
    s = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        s = chr(65 + rem) + s
    return s


def a1(col: int, row: int) -> str:
    return f"{col_letters(col)}{row + 1}"


# ---------------------------------------------------------------------------- inspect


def used_area(sheet):
    """(end_col, end_row) of the content area, both 0-based (-1 when the sheet is empty)."""
    cursor = sheet.createCursor()
    cursor.gotoEndOfUsedArea(False)
    addr = cursor.getRangeAddress()
    if addr.EndColumn == 0 and addr.EndRow == 0 and sheet.getCellByPosition(0, 0).getType().value == "EMPTY":
        return -1, -1
    return addr.EndColumn, addr.EndRow


def attribute_runs(sheet):
    """[(start_col, start_row, end_col, end_row, locked, validation)] for the whole sheet.

    getCellFormatRanges() splits a range into rectangles of identical cell attributes
    (protection and validity are cell attributes), so this costs a few UNO calls per
    attribute run instead of several per cell.
    """
    max_col = sheet.getColumns().getCount() - 1
    max_row = sheet.getRows().getCount() - 1
    whole = sheet.getCellRangeByPosition(0, 0, max_col, max_row)
    runs = []
    fmt_ranges = whole.getCellFormatRanges()
    for i in range(fmt_ranges.getCount()):
        part = fmt_ranges.getByIndex(i)
        a = part.getRangeAddress()
        runs.append(
            (
                a.StartColumn,
                a.StartRow,
                a.EndColumn,
                a.EndRow,
                bool(part.CellProtection.IsLocked),
                validation_dict(part.Validation),
                int(part.NumberFormat),
            )
        )
    return runs, max_col, max_row


def ranges_to_cells(ranges, into: dict, value):
    """Mark every cell of a SheetCellRanges (or None) in ``into``."""
    if ranges is None:
        return
    for addr in ranges.getRangeAddresses():
        for r in range(addr.StartRow, addr.EndRow + 1):
            for c in range(addr.StartColumn, addr.EndColumn + 1):
                into[(c, r)] = value


def validation_dict(v):
    if v is None:
        return None
    vtype = enum_name(v.Type)
    err = v.ErrorMessage or ""
    inp = v.InputMessage or ""
    f1 = v.getFormula1() or ""
    f2 = v.getFormula2() or ""
    if vtype == "ANY" and not err and not inp and not f1 and not f2:
        return None  # LibreOffice's empty default validation
    return {
        "type": vtype,
        "operator": enum_name(v.getOperator()),
        "formula1": f1,
        "formula2": f2,
        "error_message": err,
        "error_title": v.ErrorTitle or "",
        "input_message": inp,
        "input_title": v.InputTitle or "",
        "show_error": bool(v.ShowErrorMessage),
        "show_input": bool(v.ShowInputMessage),
        "ignore_blank": bool(v.IgnoreBlankCells),
        "error_alert_style": enum_name(v.ErrorAlertStyle),
    }


class Formatter:
    """Displayed text of numbers, like cell.getString(), without a per-cell round trip each."""

    def __init__(self, ctx, doc):
        self.formatter = ctx.ServiceManager.createInstanceWithContext("com.sun.star.util.NumberFormatter", ctx)
        self.formatter.attachNumberFormatsSupplier(doc)
        self.formats = doc.getNumberFormats()
        self.general: dict = {}
        self.cache: dict = {}

    def is_general(self, key: int) -> bool:
        if key not in self.general:
            try:
                self.general[key] = self.formats.getByKey(key).FormatString == "General"
            except Exception:  # noqa: BLE001
                self.general[key] = False
        return self.general[key]

    def text(self, key: int, value: float) -> str:
        if self.is_general(key) and value == int(value) and abs(value) < 1e15:
            return str(int(value))
        k = (key, value)
        if k not in self.cache:
            self.cache[k] = self.formatter.convertNumberToString(key, value)
        return self.cache[k]


def inspect_sheet(sheet, fmt: Formatter) -> dict:
    content_col, content_row = used_area(sheet)
    runs, max_col, max_row = attribute_runs(sheet)

    # gotoEndOfUsedArea only covers cell *content*: an empty unlocked input cell or an
    # empty cell with a validation lies outside it. Extend the area to those cells;
    # formatting that runs to the last row/column (whole-column formats) is clipped to
    # the content area.
    end_col, end_row = content_col, content_row
    for sc, sr, ec, er, is_locked, valid, _ in runs:
        if is_locked and valid is None:
            continue
        ec = content_col if ec >= max_col else ec
        er = content_row if er >= max_row else er
        if ec < sc or er < sr:
            continue
        end_col, end_row = max(end_col, ec), max(end_row, er)
    info = {
        "name": sheet.getName(),
        "visible": bool(sheet.IsVisible),
        "protected": bool(sheet.isProtected()),
        "used_area": f"A1:{a1(end_col, end_row)}" if end_col >= 0 else None,
        "content_area": f"A1:{a1(content_col, content_row)}" if content_col >= 0 else None,
        "cells": {},
    }
    if end_col < 0:
        return info
    rng = sheet.getCellRangeByPosition(0, 0, end_col, end_row)

    # Cell types in bulk (one UNO call per type instead of one per cell).
    types: dict = {}
    ranges_to_cells(rng.queryContentCells(CF_VALUE | CF_DATETIME), types, "VALUE")
    ranges_to_cells(rng.queryContentCells(CF_STRING), types, "TEXT")
    ranges_to_cells(rng.queryContentCells(CF_FORMULA), types, "FORMULA")

    # com.sun.star.sheet.FormulaResult: VALUE=1, STRING=2, ERROR=4
    results: dict = {}
    if any(t == "FORMULA" for t in types.values()):
        ranges_to_cells(rng.queryFormulaCells(1), results, "VALUE")
        ranges_to_cells(rng.queryFormulaCells(2), results, "STRING")
        ranges_to_cells(rng.queryFormulaCells(4), results, "ERROR")

    data = rng.getDataArray()  # numbers as float, text as str (formula -> its result)
    formulas = rng.getFormulaArray()

    locked: dict = {}
    validation: dict = {}
    numfmt: dict = {}
    for sc, sr, ec, er, is_locked, valid, key in runs:
        for r in range(sr, min(er, end_row) + 1):
            for c in range(sc, min(ec, end_col) + 1):
                locked[(c, r)] = is_locked
                validation[(c, r)] = valid
                numfmt[(c, r)] = key

    cells = {}
    for r in range(end_row + 1):
        for c in range(end_col + 1):
            ctype = types.get((c, r), "EMPTY")
            raw = data[r][c]
            if ctype == "EMPTY":
                value, string, formula = None, "", None
            elif ctype == "TEXT":
                value, string, formula = None, raw if isinstance(raw, str) else str(raw), None
            elif ctype == "VALUE":
                value, formula = float(raw), None
                string = fmt.text(numfmt.get((c, r), 0), value)
            else:  # FORMULA
                formula = formulas[r][c]
                result = results.get((c, r))
                if result == "VALUE" and isinstance(raw, float):
                    value = raw
                    string = fmt.text(numfmt.get((c, r), 0), value)
                elif result == "STRING" and isinstance(raw, str):
                    value, string = None, raw
                else:  # error (or unexpected): ask the cell itself
                    cell = sheet.getCellByPosition(c, r)
                    error = cell.getError()
                    value = None if error else float(cell.getValue())
                    string = cell.getString()
            entry = {
                "locked": locked.get((c, r), True),
                "type": ctype,
                "value": value,
                "string": string,
                "formula": formula,
                "validation": validation.get((c, r)),
            }
            if ctype == "FORMULA" and results.get((c, r)) == "ERROR":
                entry["error_code"] = int(sheet.getCellByPosition(c, r).getError())
            cells[a1(c, r)] = entry
    info["cells"] = cells
    return info


def named_ranges(doc) -> dict:
    result = {}
    names = doc.NamedRanges
    for name in names.getElementNames():
        result[name] = names.getByName(name).getContent()
    return result


def op_inspect(desktop, req):
    doc = load(desktop, req.get("path"), filter_name=req.get("filter"), filter_options=req.get("filter_options"))
    try:
        sheets = doc.getSheets()
        # Recalculate first: some number formats (xlsx booleans, formats inferred for formula
        # results) are applied lazily after loading, and getString()/format runs disagree until then.
        doc.calculateAll()
        fmt = Formatter(CTX, doc)
        out = [inspect_sheet(sheets.getByIndex(i), fmt) for i in range(sheets.getCount())]
        return {
            "sheets": out,
            "named_ranges": named_ranges(doc),
            "structure_protected": bool(doc.isProtected()),
        }
    finally:
        close(doc)


# ---------------------------------------------------------------------------- fill


_CELL_RE = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")


def resolve_target(doc, item):
    """Return (sheet, cell, label) for {"name": ...} or {"sheet": ..., "cell": ...}."""
    if "name" in item and item["name"]:
        name = item["name"]
        names = doc.NamedRanges
        nr = None
        if names.hasByName(name):
            nr = names.getByName(name)
        else:
            lowered = {n.lower(): n for n in names.getElementNames()}
            if name.lower() in lowered:
                nr = names.getByName(lowered[name.lower()])
        if nr is None:  # sheet-scoped names
            sheets = doc.getSheets()
            for i in range(sheets.getCount()):
                sh = sheets.getByIndex(i)
                local = getattr(sh, "NamedRanges", None)
                if local is not None and local.hasByName(name):
                    nr = local.getByName(name)
                    break
        if nr is None:
            raise DriverError(f"defined name not found: {name}")
        referred = nr.getReferredCells()
        if referred is None:
            raise DriverError(f"defined name {name} does not refer to cells ({nr.getContent()})")
        cell = referred.getCellByPosition(0, 0)
        addr = cell.getCellAddress()
        sheet = doc.getSheets().getByIndex(addr.Sheet)
        return sheet, cell, f"{name} ({sheet.getName()}!{a1(addr.Column, addr.Row)})"
    sheet_name = item.get("sheet")
    ref = item.get("cell")
    if not sheet_name or not ref:
        raise DriverError(f"value needs 'name' or 'sheet' and 'cell': {item!r}")
    sheets = doc.getSheets()
    if not sheets.hasByName(sheet_name):
        raise DriverError(f"sheet not found: {sheet_name}")
    if not _CELL_RE.match(ref):
        raise DriverError(f"not a single cell reference: {ref}")
    sheet = sheets.getByName(sheet_name)
    return sheet, sheet.getCellRangeByName(ref.replace("$", "")), f"{sheet_name}!{ref}"


def cell_state(cell) -> dict:
    ctype = enum_name(cell.getType())
    return {
        "type": "TEXT" if ctype == "TEXT" else ctype,
        "value": float(cell.getValue()) if ctype in ("VALUE", "FORMULA") else None,
        "string": cell.getString(),
        "formula": cell.getFormula() if ctype == "FORMULA" else None,
    }


def write_values(doc, values, force_formula: bool):
    written = []
    for item in values or []:
        if "value" not in item:
            raise DriverError(f"value missing in {item!r}")
        value = item["value"]
        mode = "type" if force_formula else item.get("mode", "type")
        sheet, cell, label = resolve_target(doc, item)
        if sheet.isProtected() and cell.CellProtection.IsLocked:
            raise DriverError(f"cell {label} is locked on protected sheet {sheet.getName()}")
        if value is None:
            cell.setString("")
        elif force_formula:
            text = value if isinstance(value, str) else repr(value)
            if item.get("grammar", "local") == "api":
                cell.setFormula(text)  # API grammar: English names, ';' separators
            else:
                cell.FormulaLocal = text  # UI-locale grammar; en-US: "=SUM(1,2)" like Excel
        elif mode == "type":
            cell.setFormula(value if isinstance(value, str) else repr(value))
        elif mode == "paste":
            if isinstance(value, bool):
                cell.setValue(1.0 if value else 0.0)
            elif isinstance(value, (int, float)):
                cell.setValue(float(value))
            else:
                cell.setString(str(value))
        else:
            raise DriverError(f"unknown mode {mode!r} (expected 'type' or 'paste')")
        state = cell_state(cell)
        state["target"] = label
        state["mode"] = mode
        written.append(state)
    return written


def op_fill(desktop, req, force_formula: bool = False):
    src, out = req.get("path"), req.get("out")
    if not out:
        raise DriverError("missing 'out'")
    if not src or not os.path.isfile(src):
        raise DriverError(f"file not found: {src}")
    workdir = tempfile.mkdtemp(prefix="xlplan-uno-")
    doc = None
    try:
        copy = os.path.join(workdir, os.path.basename(src))
        shutil.copyfile(src, copy)  # src itself is never opened for writing
        doc = load(desktop, copy, read_only=False)
        pw = req.get("unprotect_password")
        if pw is not None:
            sheets = doc.getSheets()
            for i in range(sheets.getCount()):
                sh = sheets.getByIndex(i)
                if sh.isProtected():
                    try:
                        sh.unprotect(pw)
                    except Exception:  # noqa: BLE001 - IllegalArgumentException on a wrong password
                        raise DriverError(f"wrong password for sheet {sh.getName()}") from None
                    if sh.isProtected():
                        raise DriverError(f"wrong password for sheet {sh.getName()}")
        written = write_values(doc, req.get("values"), force_formula)
        doc.calculateAll()
        store(doc, out, req.get("filter") or XLSX_FILTER)
        return {"out": os.path.abspath(out), "written": written}
    finally:
        close(doc)
        shutil.rmtree(workdir, ignore_errors=True)


def op_convert(desktop, req):
    filt = req.get("filter")
    if not filt:
        raise DriverError("missing 'filter'")
    doc = load(desktop, req.get("path"))
    try:
        store(doc, req.get("out"), filt)
        return {"out": os.path.abspath(req["out"])}
    finally:
        close(doc)


# ---------------------------------------------------------------------------- macros

# com.sun.star.form.FormComponentType.COMMANDBUTTON
FORM_COMMANDBUTTON = 2
_SCRIPT_URL_RE = re.compile(r"^vnd\.sun\.star\.script:([^?]*)(?:\?(.*))?$")
GUARD_MODULE = "XlplanPressGuard"


def load_with_macros(desktop, path: str, read_only: bool = True):
    return load(desktop, path, read_only=read_only, macro_mode=MACRO_ALWAYS_EXECUTE_NO_WARN)


def basic_library(doc, name: str):
    """The document's Basic library ``name`` (loaded), or None when there is none."""
    libs = doc.BasicLibraries
    if not libs.hasByName(name):
        return None
    if not libs.isLibraryLoaded(name):
        libs.loadLibrary(name)
    return libs.getByName(name)


def op_basic_modules(desktop, req):
    name = req.get("library") or "VBAProject"
    doc = load_with_macros(desktop, req.get("path"))
    try:
        libraries = list(doc.BasicLibraries.getElementNames())
        lib = basic_library(doc, name)
        modules = {} if lib is None else {m: lib.getByName(m) for m in lib.getElementNames()}
        return {"library": name, "libraries": libraries, "modules": modules}
    finally:
        close(doc)


def parse_script_url(url):
    """{"library", "module", "sub", "language", "location"} of a Basic script URL (else partial)."""
    out = {"library": None, "module": None, "sub": None, "language": None, "location": None}
    m = _SCRIPT_URL_RE.match(url or "")
    if not m:
        return out
    parts = m.group(1).split(".")
    if len(parts) == 3:
        out["library"], out["module"], out["sub"] = parts
    elif parts:
        out["sub"] = parts[-1]
    for kv in (m.group(2) or "").split("&"):
        k, _, v = kv.partition("=")
        if k in ("language", "location"):
            out[k] = v
    return out


def _control_index(form, model) -> int:
    for i in range(form.getCount()):
        if form.getByIndex(i) == model:
            return i
    raise DriverError(f"control {model.Name!r} not found in its form")


def iter_buttons(doc):
    """Yield (sheet, model, info) for each form command button on each sheet's draw page."""
    sheets = doc.getSheets()
    for s in range(sheets.getCount()):
        sheet = sheets.getByIndex(s)
        page = sheet.getDrawPage()
        for j in range(page.getCount()):
            shape = page.getByIndex(j)
            model = getattr(shape, "Control", None)
            if model is None:
                continue
            if getattr(model, "ClassId", None) != FORM_COMMANDBUTTON:
                continue
            form = model.Parent
            events = []
            if form is not None and hasattr(form, "getScriptEvents"):
                for ev in form.getScriptEvents(_control_index(form, model)):
                    events.append(
                        {
                            "listener": ev.ListenerType,
                            "method": ev.EventMethod,
                            "type": ev.ScriptType,
                            "code": ev.ScriptCode,
                        }
                    )
            click = [e for e in events if e["method"] == "actionPerformed"]
            script = (click or events or [{"code": None}])[0]["code"]
            info = {
                "sheet": sheet.getName(),
                "label": model.Label,
                "name": model.Name,
                "script": script,
                "events": events,
                **parse_script_url(script),
            }
            yield sheet, model, info


def op_buttons(desktop, req):
    doc = load_with_macros(desktop, req.get("path"))
    try:
        return {"buttons": [info for _, _, info in iter_buttons(doc)]}
    finally:
        close(doc)


def _process_events(ctx):
    """Let the main loop run posted events (a click may post its handler)."""
    try:
        toolkit = ctx.ServiceManager.createInstanceWithContext("com.sun.star.awt.Toolkit", ctx)
        toolkit.processEventsToIdle()
    except Exception:  # noqa: BLE001 - XToolkitExperimental missing: nothing to wait for
        pass


def _click(doc, sheet, model):
    """Press the button's view control the way a user does (its accessible 'press' action)."""
    controller = doc.getCurrentController()
    controller.setActiveSheet(sheet)
    control = controller.getControl(model)
    if control is None:
        raise DriverError(f"no view control for button {model.Label!r}")
    acc = control.getAccessibleContext() if hasattr(control, "getAccessibleContext") else None
    if acc is None:
        acc = control.getPeer().getAccessibleContext()
    if acc.getAccessibleActionCount() < 1:
        raise DriverError(f"button {model.Label!r} offers no accessible action")
    acc.doAccessibleAction(0)
    _process_events(CTX)


def _guarded_call(doc, info):
    """Call the bound Sub from a temporary Basic function with ``On Error``: (ok, message)."""
    lib = basic_library(doc, info["library"] or "")
    if lib is None or not info["module"]:
        raise DriverError(f"guarded press needs a Basic script in a document library, got {info['script']!r}")
    if lib.hasByName(GUARD_MODULE):
        lib.removeByName(GUARD_MODULE)
    lib.insertByName(
        GUARD_MODULE,
        "Option VBASupport 1\n"
        "Function XlplanGuard() As String\n"
        "    On Error GoTo failed\n"
        f"    {info['module']}.{info['sub']}\n"
        '    XlplanGuard = "ok"\n'
        "    Exit Function\n"
        "failed:\n"
        '    XlplanGuard = "Basic error " & Err.Number & ": " & Err.Description\n'
        "End Function\n",
    )
    try:
        url = f"vnd.sun.star.script:{info['library']}.{GUARD_MODULE}.XlplanGuard?language=Basic&location=document"
        result = doc.getScriptProvider().getScript(url).invoke((), (), ())[0]
    finally:
        lib.removeByName(GUARD_MODULE)  # not stored with the document
    if result == "ok":
        return True, None
    if result:
        return False, str(result)
    # LibreOffice reports nothing when the library does not compile: the function never ran.
    return False, f"{info['module']}.{info['sub']} did not run (Basic compile error in library {info['library']}?)"


def op_press(desktop, req):
    src, out = req.get("path"), req.get("out")
    label, sheet_name = req.get("label"), req.get("sheet")
    how = req.get("how") or "click"
    if how not in ("click", "script", "guarded"):
        raise DriverError(f"unknown how {how!r} (expected 'click', 'script' or 'guarded')")
    if not out:
        raise DriverError("missing 'out'")
    if not src or not os.path.isfile(src):
        raise DriverError(f"file not found: {src}")
    workdir = tempfile.mkdtemp(prefix="xlplan-uno-")
    doc = None
    try:
        copy = os.path.join(workdir, os.path.basename(src))
        shutil.copyfile(src, copy)  # the macro writes into a private copy
        doc = load_with_macros(desktop, copy, read_only=False)
        # Stand-in modules replace the document's own (e.g. xlwings' RunPython, which needs
        # Windows): {library: {module: Basic source}} before anything runs.
        for lib_name, modules in (req.get("modules") or {}).items():
            lib = basic_library(doc, lib_name)
            if lib is None:
                raise DriverError(f"no Basic library {lib_name!r} to put stand-in modules into")
            for module, source in modules.items():
                if lib.hasByName(module):
                    lib.replaceByName(module, source)
                else:
                    lib.insertByName(module, source)
        found = [
            (sh, model, info)
            for sh, model, info in iter_buttons(doc)
            if info["label"] == label and (sheet_name is None or info["sheet"] == sheet_name)
        ]
        if not found:
            seen = [(i["sheet"], i["label"]) for _, _, i in iter_buttons(doc)]
            raise DriverError(f"no button {label!r} on sheet {sheet_name!r}; buttons: {seen}")
        if len(found) > 1:
            raise DriverError(f"{len(found)} buttons labelled {label!r}; name the sheet")
        sheet, model, info = found[0]
        if not info["script"]:
            raise DriverError(f"button {label!r} on {info['sheet']} is bound to no script")
        t0 = time.monotonic()
        if how == "click":
            _click(doc, sheet, model)
        elif how == "script":
            doc.getScriptProvider().getScript(info["script"]).invoke((), (), ())
        else:
            ok, message = _guarded_call(doc, info)
            if not ok:
                raise DriverError(f"button {label!r} ({info['script']}): {message}")
        seconds = time.monotonic() - t0
        doc.calculateAll()
        filt = req.get("filter") or (XLSM_FILTER if out.lower().endswith(".xlsm") else XLSX_FILTER)
        store(doc, out, filt)
        return {"out": os.path.abspath(out), "button": info, "how": how, "seconds": seconds}
    finally:
        close(doc)
        shutil.rmtree(workdir, ignore_errors=True)


def op_shutdown(desktop, req):
    try:
        desktop.terminate()
    except Exception:  # noqa: BLE001 - the bridge goes away while terminating
        pass
    return {"ok": True}


def op_ping(desktop, req):
    return {"ok": True}


OPS = {
    "ping": op_ping,
    "inspect": op_inspect,
    "fill": op_fill,
    "set_formula": lambda d, r: op_fill(d, r, force_formula=True),
    "convert": op_convert,
    "basic_modules": op_basic_modules,
    "buttons": op_buttons,
    "press": op_press,
    "shutdown": op_shutdown,
}


def uno_message(exc) -> str:
    msg = getattr(exc, "Message", None) or str(exc)
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connect", required=True, help="e.g. pipe,name=foo or socket,host=127.0.0.1,port=2002")
    parser.add_argument("--wait", type=float, default=5.0, help="seconds to keep retrying the connection")
    args = parser.parse_args(argv)
    try:
        try:
            req = json.loads(sys.stdin.read() or "{}")
        except ValueError as exc:
            raise DriverError(f"invalid JSON request: {exc}") from None
        if not isinstance(req, dict):
            raise DriverError("request must be a JSON object")
        op = OPS.get(req.get("op"))
        if op is None:
            raise DriverError(f"unknown op {req.get('op')!r}; expected one of {sorted(OPS)}")
        global CTX
        CTX, desktop = connect(args.connect, args.wait)
        reply = op(desktop, req)
    except DriverError as exc:
        reply = {"error": str(exc), "error_kind": exc.kind}
    except Exception as exc:  # noqa: BLE001 - UNO exceptions, bridge disposed, ...
        kind = "connect" if "Disposed" in type(exc).__name__ else "uno"
        reply = {"error": uno_message(exc), "error_kind": kind, "detail": traceback.format_exc(limit=5)}
    sys.stdout.write(json.dumps(reply, ensure_ascii=False))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
