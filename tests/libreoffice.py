"""Drive a real LibreOffice (headless, through UNO) from tests and benchmarks.

The pyenv Python cannot ``import uno``; every operation therefore runs ``uno_driver.py``
(next to this file) with a Python that can (Debian: ``/usr/bin/python3`` + python3-uno).
That subprocess connects to ONE soffice process started by :class:`LibreOffice` and
exchanges one JSON request/reply.

    from libreoffice import LibreOffice, unavailable_reason

    with LibreOffice() as lo:
        info = lo.inspect("plan.xlsx")
        lo.fill("plan.xlsx", "filled.xlsx", [{"name": "xp_score", "value": "4"}])
        pdf = lo.to_pdf("filled.xlsx", outdir)
        lo.basic_modules("panel.xlsm"); lo.buttons("panel.xlsm")
        lo.press("panel.xlsm", "pressed.xlsx", "Sheet1", "Run")

Environment overrides: ``XLPLAN_SOFFICE`` (soffice binary), ``XLPLAN_UNO_PYTHON`` (a Python
that can import uno), ``XLPLAN_LO_START_TIMEOUT`` (seconds, default 90).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "uno_driver.py"

PDF_FILTER = "calc_pdf_Export"
XLSX_FILTER = "Calc MS Excel 2007 XML"
XLS_FILTER = "MS Excel 97"
ODS_FILTER = "calc8"

INSTALL_HINT = "apt-get install libreoffice-calc python3-uno"

_SOFFICE_CANDIDATES = (
    "/usr/bin/soffice",
    "/usr/lib/libreoffice/program/soffice",
    "/opt/libreoffice/program/soffice",
    "/usr/local/bin/soffice",
)
_UNO_PYTHON_CANDIDATES = (
    "/usr/bin/python3",
    "/usr/lib/libreoffice/program/python",
)


class LibreOfficeError(RuntimeError):
    """LibreOffice or the UNO driver reported an error."""


# ---------------------------------------------------------------------------- discovery


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the system Python / soffice: drop pyenv/venv Python settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
    if extra:
        env.update(extra)
    return env


@lru_cache(maxsize=None)
def find_soffice() -> str | None:
    """Path of the soffice binary, or None."""
    env = os.environ.get("XLPLAN_SOFFICE")
    if env:
        return env if os.access(env, os.X_OK) else None
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    for cand in _SOFFICE_CANDIDATES:
        if os.access(cand, os.X_OK):
            return cand
    return None


def _can_import_uno(python: str) -> bool:
    if not os.access(python, os.X_OK):
        return False
    try:
        proc = subprocess.run(
            [python, "-c", "import uno"],
            env=_clean_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


@lru_cache(maxsize=None)
def find_uno_python() -> str | None:
    """A Python interpreter that can ``import uno``, or None."""
    env = os.environ.get("XLPLAN_UNO_PYTHON")
    candidates = [env] if env else list(_UNO_PYTHON_CANDIDATES)
    for cand in candidates:
        if cand and _can_import_uno(cand):
            return cand
    return None


def unavailable_reason() -> str | None:
    """None when LibreOffice can be driven; otherwise an English sentence saying why not."""
    if find_soffice() is None:
        return f"LibreOffice not installed (no soffice found): {INSTALL_HINT}"
    if find_uno_python() is None:
        return f"LibreOffice's Python UNO bridge not available (no Python can 'import uno'): {INSTALL_HINT}"
    if not DRIVER.is_file():
        return f"UNO driver script missing: {DRIVER}"
    return None


# ---------------------------------------------------------------------------- helper


def _socket_is_dead(path: Path) -> bool:
    """True when nobody listens on the unix socket ``path`` any more."""
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(1)
    try:
        sock.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return True
    except OSError:
        return False
    finally:
        sock.close()
    return False


def pdf_to_png(pdf: str | os.PathLike, outdir: str | os.PathLike, dpi: int = 70) -> list[Path]:
    """Render each page of ``pdf`` to ``outdir/<stem>-N.png`` with pdftoppm; [] if pdftoppm is missing."""
    tool = shutil.which("pdftoppm")
    if tool is None:
        return []
    pdf, outdir = Path(pdf), Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    prefix = outdir / pdf.stem
    proc = subprocess.run(
        [tool, "-png", "-r", str(dpi), str(pdf), str(prefix)], capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise LibreOfficeError(f"pdftoppm failed on {pdf}: {proc.stderr.strip()}")
    return sorted(outdir.glob(f"{pdf.stem}-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))


class LibreOffice:
    """One headless soffice process shared by many operations (a context manager).

    All methods are synchronous and serialised with a lock (one soffice handles one
    request at a time reliably). Paths are returned as absolute :class:`Path`.
    """

    def __init__(self, start_timeout: float | None = None, call_timeout: float = 180.0):
        reason = unavailable_reason()
        if reason:
            raise LibreOfficeError(reason)
        self.soffice = find_soffice()
        self.python = find_uno_python()
        self.start_timeout = start_timeout or float(os.environ.get("XLPLAN_LO_START_TIMEOUT", "90"))
        self.call_timeout = call_timeout
        self._proc: subprocess.Popen | None = None
        self._tmpdir: str | None = None
        self._connect: str | None = None
        self._log_path: Path | None = None
        self._lock = threading.RLock()
        self.start_seconds: float | None = None  # how long the last start took
        self.restarts = 0
        self.last_reply: dict | None = None
        self._ipc_before: set[Path] = set()
        self._own_ipc: set[Path] = set()  # soffice's single-instance sockets created by us

    # -- lifecycle ---------------------------------------------------------------

    def __enter__(self) -> "LibreOffice":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        with self._lock:
            if self.alive():
                return
            self._stop_process()
            if self._tmpdir is None:
                self._tmpdir = tempfile.mkdtemp(prefix="xlplan-lo-")
            profile = Path(self._tmpdir) / "profile"
            name = f"xlplan_lo_{os.getpid()}_{uuid.uuid4().hex[:10]}"
            self._connect = f"pipe,name={name}"
            self._log_path = Path(self._tmpdir) / "soffice.log"
            cmd = [
                self.soffice,
                "--headless",
                "--invisible",
                "--nologo",
                "--norestore",
                "--nodefault",
                "--nofirststartwizard",
                "--nolockcheck",
                f"-env:UserInstallation={profile.as_uri()}",
                f"--accept={self._connect};urp;StarOffice.ComponentContext",
            ]
            # Pin the locale so number/formula parsing does not depend on the developer's LANG.
            env = _clean_env({"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "SAL_USE_VCLPLUGIN": "svp"})
            t0 = time.monotonic()
            self._ipc_before = set(self._ipc_files())
            with open(self._log_path, "ab") as log:
                self._proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,  # own process group: oosplash + soffice.bin
                )
            try:
                reply = self._run_driver({"op": "ping"}, wait=self.start_timeout, timeout=self.start_timeout + 30)
            except Exception:
                self._stop_process()
                raise
            if "error" in reply:
                log_text = self._log_tail()
                self._stop_process()
                raise LibreOfficeError(f"soffice did not start: {reply['error']}{log_text}")
            self.start_seconds = time.monotonic() - t0
            self._own_ipc.update(set(self._ipc_files()) - self._ipc_before)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def close(self) -> None:
        with self._lock:
            self._stop_process()
            if self._tmpdir:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None

    def _stop_process(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            self._terminate(proc)
        finally:
            # A killed soffice leaves its pipe's socket file behind in /tmp.
            if self._connect and self._connect.startswith("pipe,name="):
                name = self._connect.split("=", 1)[1]
                stale = Path(tempfile.gettempdir()) / f"OSL_PIPE_{os.getuid()}_{name}"
                try:
                    stale.unlink()
                except OSError:
                    pass
            for ipc in list(self._own_ipc):
                if _socket_is_dead(ipc):
                    try:
                        ipc.unlink()
                    except OSError:
                        pass
                    self._own_ipc.discard(ipc)

    @staticmethod
    def _ipc_files() -> list[Path]:
        return list(Path(tempfile.gettempdir()).glob(f"OSL_PIPE_{os.getuid()}_SingleOfficeIPC_*"))

    def _terminate(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            try:
                self._run_driver({"op": "shutdown"}, wait=2, timeout=20)
            except Exception:  # noqa: BLE001 - fall through to signals
                pass
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        # Kill what is left of the process group (oosplash's soffice.bin child).
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                break
            try:
                proc.wait(timeout=5)
                time.sleep(0.2)
                os.killpg(proc.pid, 0)  # still any member left?
            except subprocess.TimeoutExpired:
                continue
            except (ProcessLookupError, PermissionError):
                break

    def _log_tail(self) -> str:
        try:
            text = self._log_path.read_text(errors="replace").strip() if self._log_path else ""
        except OSError:
            text = ""
        return f"\nsoffice output:\n{text[-2000:]}" if text else ""

    # -- transport ---------------------------------------------------------------

    def _run_driver(self, request: dict, wait: float = 5.0, timeout: float | None = None) -> dict:
        cmd = [self.python, "-I", str(DRIVER), "--connect", self._connect, "--wait", str(wait)]
        try:
            proc = subprocess.run(
                cmd,
                input=json.dumps(request, ensure_ascii=False),
                capture_output=True,
                text=True,
                encoding="utf-8",
                env=_clean_env(),
                timeout=timeout or self.call_timeout,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"UNO driver timed out after {timeout or self.call_timeout:.0f} s on op {request.get('op')!r}", "error_kind": "timeout"}
        out = proc.stdout.strip()
        try:
            reply = json.loads(out) if out else None
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            return {
                "error": f"UNO driver gave no JSON reply (exit {proc.returncode}): {out[-500:]!r} {proc.stderr.strip()[-1500:]}",
                "error_kind": "driver",
            }
        return reply

    def call(self, request: dict) -> dict:
        """Send one request; restart soffice once if it died or cannot be reached."""
        with self._lock:
            for attempt in (1, 2):
                if not self.alive():
                    if self.start_seconds is not None:  # it ran before: this is a restart
                        self.restarts += 1
                    self.start()
                reply = self._run_driver(request)
                if "error" not in reply:
                    return reply
                lost = reply.get("error_kind") in ("connect", "timeout") or not self.alive()
                if attempt == 1 and lost:
                    self._stop_process()  # the next loop starts a fresh soffice
                    continue
                raise LibreOfficeError(f"LibreOffice {request.get('op')} failed: {reply['error']}")
        raise AssertionError("unreachable")

    # -- operations --------------------------------------------------------------

    def inspect(self, path: str | os.PathLike, filter: str | None = None,  # noqa: A002
                filter_options: str | None = None) -> dict:
        """Workbook as LibreOffice sees it: sheets (cells, protection, validation), names.

        ``filter`` and ``filter_options`` open the file with an import filter and its options
        (a CSV: "Text - txt - csv (StarCalc)" and the options of its import dialog)."""
        request = {"op": "inspect", "path": str(Path(path).resolve())}
        if filter:
            request.update(filter=filter, filter_options=filter_options or "")
        return self.call(request)

    def _write(self, op: str, src, out, values: Iterable[dict], unprotect_password: str | None = None, **extra) -> Path:
        src_p, out_p = Path(src).resolve(), Path(out).resolve()
        req: dict[str, Any] = {"op": op, "path": str(src_p), "out": str(out_p), "values": list(values)}
        if unprotect_password is not None:
            req["unprotect_password"] = unprotect_password
        req.update(extra)
        self.last_reply = self.call(req)
        return out_p

    def fill(self, src, out, values: Iterable[dict], unprotect_password: str | None = None) -> Path:
        """Write input values and save as .xlsx to ``out``.

        Each value: ``{"name": defined_name}`` or ``{"sheet": ..., "cell": "E12"}``, plus
        ``"value"`` and ``"mode"``: ``"type"`` (default; parsed like typed text via
        setFormula) or ``"paste"`` (setString/setValue, bypassing validation).
        ``unprotect_password`` unprotects every sheet first and leaves them unprotected.
        The per-value result is in ``self.last_reply["written"]``.
        """
        return self._write("fill", src, out, values, unprotect_password)

    def set_formulas(self, src, out, values: Iterable[dict], unprotect_password: str | None = None) -> Path:
        """Write formulas such as ``"=SUM(1,2)"`` (Excel/en-US grammar) into cells; save .xlsx."""
        return self._write("set_formula", src, out, values, unprotect_password)

    def convert(self, src, out, filter: str) -> Path:  # noqa: A002 - name from the brief
        """Store ``src`` as ``out`` with a LibreOffice filter (calc_pdf_Export, MS Excel 97, calc8, ...)."""
        out_p = Path(out).resolve()
        self.call({"op": "convert", "path": str(Path(src).resolve()), "out": str(out_p), "filter": filter})
        return out_p

    def to_pdf(self, src, outdir) -> Path:
        outdir = Path(outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        return self.convert(src, outdir / (Path(src).stem + ".pdf"), PDF_FILTER)

    # -- macros (documents loaded with MacroExecutionMode ALWAYS_EXECUTE_NO_WARN) ------

    def basic_modules(self, path, library: str = "VBAProject") -> dict[str, str]:
        """``{module: source}`` of the Basic library LibreOffice made of the workbook's VBA project.

        LibreOffice imports an .xlsm's VBA modules (standard and document modules) into the
        library "VBAProject"; each source starts with ``Rem Attribute VBA_ModuleType=...`` and
        ``Option VBASupport 1`` instead of the ``Attribute`` lines, with LF line ends.
        {} when the document has no such library (``self.last_reply["libraries"]`` lists them).
        Loading with macros enabled runs auto-open macros (Workbook_Open) of the file.
        """
        self.last_reply = self.call({"op": "basic_modules", "path": str(Path(path).resolve()), "library": library})
        return self.last_reply["modules"]

    def buttons(self, path) -> list[dict]:
        """The form command buttons on every sheet, in sheet and draw-page order.

        Each: ``sheet``, ``label``, ``name`` (the control's), ``script``
        (the script URL bound to the click, e.g.
        ``vnd.sun.star.script:VBAProject.PanelButtons.GenerateWorkbooks?language=Basic&location=document``,
        or None when nothing is bound), its parts ``library``/``module``/``sub``, and
        ``events`` (every script event of the control). LibreOffice resolves an Excel
        button's macro name to a module when it imports the file: a macro name that
        matches no Sub leaves the button with no script at all.
        """
        return self.call({"op": "buttons", "path": str(Path(path).resolve())})["buttons"]

    def press(self, src, out, sheet: str | None, label: str, how: str = "click",
              modules: dict[str, dict[str, str]] | None = None) -> dict:
        """Press the button ``label`` (on ``sheet``; None: any sheet), then store the document to ``out``.

        ``how``: ``"click"`` (default) presses the view's button control through its
        accessibility action, so the click runs the script event LibreOffice bound to the
        button; ``"script"`` invokes the bound script URL through the document's script
        provider; ``"guarded"`` calls the bound Sub from a temporary Basic function with
        ``On Error`` and raises :class:`LibreOfficeError` with the Basic error (or when the
        library does not compile and nothing ran). With "click" and "script" a Basic error
        is NOT reported: headless LibreOffice swallows it (read what the macro wrote).
        ``out`` is stored as .xlsm (VBA kept) when it ends in .xlsm, else as .xlsx.
        ``modules`` = ``{library: {module: Basic source}}`` replaces (or adds) those modules
        of the loaded document before the press (a stand-in for a module LibreOffice cannot
        run, such as xlwings' ``RunPython``); the file itself is not changed.
        Returns the reply: ``out``, ``button`` (as in :meth:`buttons`), ``how``, ``seconds``.
        """
        out_p = Path(out).resolve()
        req = {"op": "press", "path": str(Path(src).resolve()), "out": str(out_p), "sheet": sheet, "label": label, "how": how}
        if modules:
            req["modules"] = modules
        self.last_reply = self.call(req)
        return self.last_reply


if __name__ == "__main__":  # smoke test: python tests/libreoffice.py file.xlsx
    why = unavailable_reason()
    if why:
        sys.exit(why)
    with LibreOffice() as lo:
        print(f"started in {lo.start_seconds:.1f} s", file=sys.stderr)
        for arg in sys.argv[1:]:
            print(json.dumps(lo.inspect(arg), ensure_ascii=False, indent=1))
