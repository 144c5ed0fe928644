"""The coordinator's project settings (xlplan.toml): signing key, sheet password, paths.

The key and the password are secrets of the coordinator's folder. They are never written into a
department workbook: the sheet password only goes in as Excel's one-way hash, and the key only as
the HMAC it produces.
"""

from __future__ import annotations

import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SETTINGS_NAME = "xlplan.toml"


class SettingsError(Exception):
    """No usable settings file; the message is for the user."""


@dataclass
class Settings:
    """Values of xlplan.toml, with paths resolved against the project folder."""

    project_dir: Path
    signing_key: str
    sheet_password: str
    master: Path | None = None
    templates_dir: Path | None = None
    far_low: float = 0.5
    far_high: float = 2.0
    extra: dict = field(default_factory=dict)
    timezone: str = "Asia/Tokyo"

    @property
    def path(self) -> Path:
        """Where this settings file lives."""
        return self.project_dir / SETTINGS_NAME

    @property
    def key_bytes(self) -> bytes:
        """The signing key as bytes for HMAC."""
        return bytes.fromhex(self.signing_key)


def new_settings(project_dir: Path, master_name: str = "計画マスタ.xlsx") -> Settings:
    """Fresh settings with a newly generated 256-bit signing key and a random sheet password."""
    return Settings(
        project_dir=Path(project_dir),
        signing_key=secrets.token_hex(32),
        sheet_password=secrets.token_urlsafe(12),
        master=Path(project_dir) / master_name,
        templates_dir=Path(project_dir) / "workbook_templates",
    )


def _toml_str(value: str) -> str:
    # TOML basic string: escape backslash and quote; paths are stored with forward slashes.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_settings(settings: Settings) -> Path:
    """Write xlplan.toml (comments in Japanese for the coordinator who opens it)."""
    def rel(p: Path | None) -> str:
        if p is None:
            return ""
        try:
            return p.relative_to(settings.project_dir).as_posix()
        except ValueError:
            return p.as_posix()

    text = "\n".join([
        "# xlplan の設定ファイル。署名鍵とシートのパスワードを含むため、各課に配布しないでください。",
        "# xlplan settings. Holds the signing key and sheet password: never send this file out.",
        "[xlplan]",
        f"signing_key = {_toml_str(settings.signing_key)}",
        f"sheet_password = {_toml_str(settings.sheet_password)}",
        f"master = {_toml_str(rel(settings.master))}",
        f"templates_dir = {_toml_str(rel(settings.templates_dir))}",
        "# 提出状況などの日時を表示するタイムゾーン / time zone of the times shown (IANA name)",
        f"timezone = {_toml_str(settings.timezone)}",
        "",
        "[check]",
        "# 実績が目標のこの割合未満・超過なら警告 (result-far-from-target)",
        f"far_from_target_low = {settings.far_low}",
        f"far_from_target_high = {settings.far_high}",
        "",
    ])
    settings.path.write_text(text, encoding="utf-8")
    return settings.path


def load_settings(path: Path) -> Settings:
    """Read one xlplan.toml; raise SettingsError with a Japanese message when it is unusable."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"設定ファイル {path} を読み取れません: {exc}") from exc
    core = data.get("xlplan", {})
    key, password = core.get("signing_key", ""), core.get("sheet_password", "")
    try:
        if len(bytes.fromhex(key)) < 16:
            raise ValueError
    except ValueError:
        raise SettingsError(f"設定ファイル {path} の signing_key が正しくありません（16進数32文字以上）。")
    if not password:
        raise SettingsError(f"設定ファイル {path} に sheet_password がありません。")
    project_dir = path.parent
    check = data.get("check", {})
    timezone = _timezone(core.get("timezone"), path)

    def resolve(value: str | None) -> Path | None:
        return (project_dir / value) if value else None

    return Settings(
        project_dir=project_dir,
        signing_key=key,
        sheet_password=password,
        master=resolve(core.get("master")),
        templates_dir=resolve(core.get("templates_dir")),
        far_low=float(check.get("far_from_target_low", 0.5)),
        far_high=float(check.get("far_from_target_high", 2.0)),
        extra={k: v for k, v in data.items() if k not in ("xlplan", "check")},
        timezone=timezone,
    )


def _timezone(value, path: Path) -> str:
    """The ``timezone`` setting: an IANA name such as Asia/Tokyo (the default when absent)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = "Asia/Tokyo" if value is None else value
    try:
        if not isinstance(name, str) or not name.strip():
            raise ValueError
        ZoneInfo(name.strip())
    except (ValueError, OSError, ZoneInfoNotFoundError):
        raise SettingsError(f"設定ファイル {path} の timezone「{value}」はタイムゾーン名ではありません"
                            "（例: Asia/Tokyo）。") from None
    return name.strip()


def find_settings(project: Path | None = None, master: Path | None = None,
                  cwd: Path | None = None) -> Settings:
    """Locate xlplan.toml: --project DIR first, then the master's folder, then the current folder."""
    candidates: list[Path] = []
    if project is not None:
        candidates.append(Path(project))
    if master is not None:
        candidates.append(Path(master).resolve().parent)
    candidates.append(Path(cwd or Path.cwd()))
    for folder in candidates:
        if (folder / SETTINGS_NAME).is_file():
            return load_settings(folder / SETTINGS_NAME)
    where = "、".join(str(c) for c in candidates)
    raise SettingsError(
        f"設定ファイル {SETTINGS_NAME} が見つかりません（探した場所: {where}）。"
        "xlplan init で作成するか --project で指定してください。"
    )
