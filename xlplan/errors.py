"""Problems that stop a run, as data: a catalogue code and typed parameters.

Every stop told to a user (no settings, a broken layout, nothing collected yet, another run
busy …) is an :class:`XlplanError` whose ``code`` is an entry of ``xlplan.findings.CATALOGUE``
(the same catalogue as the findings: severity, stage, Japanese and English title and message
template) and whose ``params`` are the values its template names, checked against the kinds the
entry declares. The message is rendered from the catalogue only, in Japanese or English: no
raise site writes message text. The CLI prints it and exits 2 (``--format json``: the record of
:meth:`XlplanError.to_dict`); the Excel panel writes the same message to its message cell.
"""

from __future__ import annotations

import errno

from .findings import CATALOGUE, Coded, Finding, Place, Words, param_data, param_problem

__all__ = ["EXIT_FAILED", "Place", "PlanError", "Words", "XlplanError"]

# The exit status of a run stopped by an XlplanError (the CLI's contract; findings with
# errors are 1).
EXIT_FAILED = 2


class XlplanError(Coded, Exception):
    """A stop of the run: a catalogue ``code`` and its typed ``params``; ``str()`` is the
    message in the language of the moment (``--lang`` / XLPLAN_LANG)."""

    exit_status = EXIT_FAILED

    def __init__(self, code: str, **params):
        entry = CATALOGUE.get(code)
        if entry is None or not entry.is_error:
            raise KeyError(f"not an error code of the catalogue: {code!r}")
        declared = entry.params
        unknown = set(params) - set(declared)
        if unknown:
            raise TypeError(f"{code}: unknown parameters {sorted(unknown)}")
        for name, kind in declared.items():
            value = params.get(name)
            problem = None if value is None else param_problem(kind, value)
            if problem:
                raise TypeError(f"{code}: {name} must be {problem}")
        super().__init__(code)
        self.code = code
        self.params = {name: params.get(name) for name in declared}

    def message(self, lang: str | None = None) -> str:
        """The message in the chosen language, rendered from the catalogue."""
        return self.type.render(self.params, lang)

    def text(self, lang: str | None = None) -> str:
        """The message in the chosen language (the name older callers use)."""
        return self.message(lang)

    def to_dict(self, lang: str | None = None) -> dict:
        """A JSON-ready record: code, severity, stage, title, params (as data) and message."""
        kinds = self.type.params
        return {"code": self.code, "severity": self.severity, "stage": self.type.stage,
                "title": self.title(lang),
                "params": {name: param_data(kinds[name], value, lang) for name, value in self.params.items()},
                "message": self.message(lang), "exit_status": self.exit_status}

    def __str__(self) -> str:
        return self.message()


# What the operating system said, in both languages, for the errors a user can act on.
_OS_REASONS = {
    errno.EACCES: ("アクセスが拒否されました", "permission denied"),
    errno.EPERM: ("アクセスが拒否されました", "permission denied"),
    errno.ENOENT: ("見つかりません", "not found"),
    errno.ENOSPC: ("ディスクの空きがありません", "no space left on the disk"),
    errno.EROFS: ("読み取り専用の場所です", "the place is read-only"),
    errno.EISDIR: ("フォルダです", "it is a folder"),
    errno.ENOTDIR: ("フォルダではありません", "it is not a folder"),
}


def file_system_error(exc: OSError) -> XlplanError | None:
    """file-system-error for an operating-system error on a named file (a folder that
    cannot be written, a full disk …): the user's to fix, not a bug of xlplan. None when the
    error names no file."""
    if not getattr(exc, "filename", None):
        return None
    ja, en = _OS_REASONS.get(exc.errno, (exc.strerror or str(exc),) * 2)
    return XlplanError("file-system-error", path=str(exc.filename), reason=Words(ja, en))


def internal_error(log) -> XlplanError:
    """command-failed: a bug of xlplan stopped the run; names the error log that holds the
    traceback (or says it could not be written)."""
    return XlplanError("command-failed", log=Words(str(log), str(log)) if log else Words(
        "（ログを書き込めませんでした）", "(the log could not be written)"))


class PlanError(XlplanError):
    """The master could not be read into a usable plan (master-invalid); carries the findings.
    ``exit_status``: 2, or 1 where a command reports the master as findings (generate)."""

    def __init__(self, findings: list[Finding], exit_status: int = XlplanError.exit_status):
        super().__init__("master-invalid", errors=sum(1 for f in findings if f.severity == "error"))
        self.findings = findings
        self.exit_status = exit_status
