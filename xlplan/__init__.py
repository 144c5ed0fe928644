"""xlplan: the yearly evaluation cycle of Japanese local welfare plans, in Excel.

The public API, stage by stage (the CLI only calls these):

* plan: ``init_project``, ``read_plan`` / ``load_plan``, ``parse_fiscal_year``
* generate: ``generate``
* read and check: ``read_returned``, ``check_files``
* metadata of a workbook: ``WorkbookMetadata``, ``InputCell``, ``FieldKind``
* findings: ``Finding``, ``CATALOGUE``
"""

__version__ = "0.1.0"

from .check import CheckResult, FileReport, check_files  # noqa: E402
from .findings import CATALOGUE, Finding  # noqa: E402
from .fiscal import FiscalYear, parse_fiscal_year  # noqa: E402
from .generate import GeneratedFile, generate  # noqa: E402
from .plan import Plan, PlanError, load_plan, read_plan  # noqa: E402
from .project import ProjectFolder, init_project  # noqa: E402
from .read import Returned, read_returned  # noqa: E402
from .schema import FieldKind, InputCell, WorkbookMetadata  # noqa: E402
from .settings import Settings, find_settings, load_settings  # noqa: E402

__all__ = [
    "CATALOGUE", "CheckResult", "FieldKind", "FileReport", "Finding", "FiscalYear", "GeneratedFile",
    "InputCell", "Plan", "PlanError", "ProjectFolder", "Returned", "Settings", "WorkbookMetadata",
    "check_files", "find_settings",
    "generate", "init_project", "load_plan", "load_settings", "parse_fiscal_year", "read_plan",
    "read_returned",
]
