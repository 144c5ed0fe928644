"""xlplan: the yearly evaluation cycle of Japanese local welfare plans, in Excel.

The public API, stage by stage (the CLI only calls these):

* plan: ``init_project``, ``read_plan`` / ``load_plan``, ``parse_fiscal_year``
* generate: ``generate``
* read and check: ``read_returned``, ``check_files``
* metadata of a workbook: ``WorkbookMetadata``, ``InputCell``, ``FieldKind``
* findings: ``Finding``, ``CATALOGUE``

The names are imported on first use (PEP 562 ``__getattr__``): ``import xlplan`` and the
``xlplan`` command's start-up load neither pandas nor openpyxl until a stage needs them.
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

# Public name -> the module that defines it (imported when the name is first asked for).
_PUBLIC = {
    "CheckResult": "check", "FileReport": "check", "check_files": "check",
    "CATALOGUE": "findings", "Finding": "findings",
    "FiscalYear": "fiscal", "parse_fiscal_year": "fiscal",
    "GeneratedFile": "generate", "generate": "generate",
    "Plan": "plan", "PlanError": "plan", "load_plan": "plan", "read_plan": "plan",
    "ProjectFolder": "project", "init_project": "project",
    "Returned": "read", "read_returned": "read",
    "FieldKind": "schema", "InputCell": "schema", "WorkbookMetadata": "schema",
    "Settings": "settings", "find_settings": "settings", "load_settings": "settings",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    """The public name ``name``, imported from its module on first use."""
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'xlplan' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups do not come here again
    return value


def __dir__() -> list[str]:
    """Module attributes and the lazily imported public names."""
    return sorted(set(globals()) | set(_PUBLIC))


class _Package(types.ModuleType):
    """The package module, keeping a public function over the submodule of the same name.

    Importing a submodule sets it as an attribute of the package: ``import xlplan.check``
    anywhere would turn ``xlplan.generate`` (the function) into the module ``xlplan.generate``.
    The eager imports this package used to do bound the function last; this keeps it so."""

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, types.ModuleType) and _PUBLIC.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
