"""The coordinator's project folder: plan master, settings, templates and working folders."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import XlplanError
from .sample import sample_plan, write_master
from .settings import SETTINGS_NAME, Settings, new_settings, write_settings
from .template import builtin_templates_dir

MASTER_NAME = "計画マスタ.xlsx"
OUTBOX = "配布"
INBOX = "回収"
RESULTS = "集計"


FEEDBACK = "差し戻し"
SCORING = "中間評価"


def merged_path(folder: Path, year) -> Path:
    """Where the merged workbook of a year goes by default: <集計>/集計_R6.xlsx."""
    return Path(folder) / f"集計_{year.short}.xlsx"


def feedback_dir(root: Path) -> Path:
    """Default folder of the return copies (差し戻し) in a project folder."""
    return Path(root) / FEEDBACK


def scoring_dir(root: Path) -> Path:
    """Default folder of the committee's scoring forms: 配布/中間評価."""
    return Path(root) / OUTBOX / SCORING


class ProjectExistsError(XlplanError):
    """init refuses to replace settings: a new key would make sent workbooks unverifiable."""


@dataclass
class ProjectFolder:
    """Paths of a coordinator's project folder."""

    root: Path
    master: Path
    settings: Settings

    @property
    def outbox(self) -> Path:
        """Where generated department workbooks go (配布)."""
        return self.root / OUTBOX

    @property
    def inbox(self) -> Path:
        """Where returned workbooks are dropped (回収)."""
        return self.root / INBOX

    @property
    def results(self) -> Path:
        """Where merged outputs go (集計)."""
        return self.root / RESULTS


def init_project(folder: Path | str) -> ProjectFolder:
    """Create a project folder: a filled sample plan master, fresh settings and editable layouts.

    The settings get a newly generated signing key and sheet password. An existing xlplan.toml
    is never replaced (ProjectExistsError), because workbooks already sent out were signed with
    its key.
    """
    root = Path(folder)
    if (root / SETTINGS_NAME).exists():
        raise ProjectExistsError("project-exists", settings=root / SETTINGS_NAME)
    root.mkdir(parents=True, exist_ok=True)
    settings = new_settings(root, MASTER_NAME)
    master = root / MASTER_NAME
    if not master.exists():
        write_master(sample_plan(), master)
    templates = root / "workbook_templates"
    if not templates.exists():
        templates.mkdir()
        for item in builtin_templates_dir().iterdir():
            if item.suffix in (".xlsx", ".toml"):
                shutil.copy2(item, templates / item.name)
    for sub in (OUTBOX, INBOX, RESULTS):
        (root / sub).mkdir(exist_ok=True)
    write_settings(settings)
    return ProjectFolder(root, master, settings)
