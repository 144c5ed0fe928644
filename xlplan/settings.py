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

from .errors import Words, XlplanError

SETTINGS_NAME = "xlplan.toml"


class SettingsError(XlplanError):
    """No usable settings file: the coded error settings-missing or settings-invalid."""


# Values never repeated in a message (the key and password must appear in no output).
_SECRETS = {"signing_key", "sheet_password"}
_MISSING = object()


def _invalid(path: Path, key: str, ja: str, en: str, value=_MISSING) -> SettingsError:
    """settings-invalid naming the file, the key ('[table] key'; empty: the whole file) and,
    unless it is a secret, the value found."""
    secret = key.split(" ")[-1] in _SECRETS
    shown = "" if value is _MISSING or secret else _shown(value)
    detail = (f"「{shown}」は{ja}" if shown else f" は{ja}") if key else ja
    detail_en = f'"{shown}" {en}' if shown else en
    return SettingsError("settings-invalid", file=path, key=key,
                         problem=Words(key + detail, f"{key} {detail_en}" if key else detail_en))


def _shown(value) -> str:
    """A TOML value as a message shows it (short)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{…}"
    if isinstance(value, list):
        return "[…]"
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


# Every setting xlplan reads, in one place: (table, key) → (check, default). A check turns the
# value read from TOML into the value used, or raises ValueError with (Japanese, English) text.
# Add a setting here, and read it from Settings.values (never from the raw TOML).
def _text(value):
    if not isinstance(value, str):
        raise ValueError("文字列で指定してください", "must be a string in quotes")
    return value


def _nonempty_text(value):
    if not _text(value).strip():
        raise ValueError("空欄です", "is empty")
    return value


def _hex_key(value):
    _text(value)
    try:
        if len(bytes.fromhex(value)) >= 16:
            return value
    except ValueError:
        pass
    raise ValueError("16進数32文字以上の文字列で指定してください", "must be a hexadecimal string of 32 or more digits")


def _number(low: float | None = None):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("数値で指定してください", "must be a number")
        if low is not None and value < low:
            raise ValueError(f"{low} 以上の数値で指定してください", f"must be {low} or more")
        return float(value)
    return check


def _timezone(value):
    """An IANA time zone name such as Asia/Tokyo."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        if not isinstance(value, str) or not value.strip():
            raise ValueError
        ZoneInfo(value.strip())
    except (ValueError, OSError, ZoneInfoNotFoundError):
        raise ValueError("タイムゾーン名で指定してください（例: Asia/Tokyo）",
                         "must be a time zone name such as Asia/Tokyo") from None
    return value.strip()


def _choice(*words: str):
    def check(value):
        if value not in words:
            raise ValueError(f"{'、'.join(words)} のいずれかで指定してください",
                             f"must be one of {', '.join(words)}")
        return value
    return check


SCHEMA: dict[tuple[str, str], tuple] = {
    ("xlplan", "signing_key"): (_hex_key, None),
    ("xlplan", "sheet_password"): (_nonempty_text, None),
    ("xlplan", "master"): (_text, ""),
    ("xlplan", "templates_dir"): (_text, ""),
    # Times shown to people (提出状況, status) are in this zone.
    ("xlplan", "timezone"): (_timezone, "Asia/Tokyo"),
    ("check", "far_from_target_low"): (_number(0), 0.5),
    ("check", "far_from_target_high"): (_number(0), 2.0),
    ("store", "path"): (_nonempty_text, None),
    # How long a run waits for another run of the same project to finish (see xlplan.runlock).
    ("run", "lock_wait_seconds"): (_number(0), 60.0),
}


def validate(data: dict, path: Path) -> tuple[dict[tuple[str, str], object], list[str]]:
    """Check every value of a parsed xlplan.toml against SCHEMA: the values to use (defaults
    filled in), and notes on tables and keys xlplan does not know (printed, not fatal: a
    newer xlplan may know them). Raises SettingsError naming the first wrong key."""
    tables = {table for table, _ in SCHEMA}
    notes = []
    for table, content in data.items():
        if table not in tables:
            notes.append(f"[{table}]")
            continue
        if not isinstance(content, dict):
            raise _invalid(path, table, "表（[見出し] の下に項目）で指定してください",
                           "must be a table ([heading] with keys under it)")
        notes += [f"[{table}] {key}" for key in content if (table, key) not in SCHEMA]
    values = {}
    for (table, key), (check, default) in SCHEMA.items():
        content = data.get(table, {})
        if key not in content:
            if default is None and table == "xlplan":
                raise _invalid(path, f"[{table}] {key}", "ありません", "is missing")
            values[(table, key)] = default
            continue
        try:
            values[(table, key)] = check(content[key])
        except ValueError as exc:
            ja, en = exc.args
            raise _invalid(path, f"[{table}] {key}", ja, en, content[key]) from None
    low, high = values[("check", "far_from_target_low")], values[("check", "far_from_target_high")]
    if low > high:
        raise _invalid(path, "[check] far_from_target_low",
                       f"far_from_target_high（{high}）以下にしてください",
                       f"must not exceed far_from_target_high ({high})")
    return values, notes


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
    # Tables and keys of the file that xlplan does not know (see ``validate``).
    unknown: list[str] = field(default_factory=list)
    lock_wait: float = 60.0
    store_path: str | None = None

    @property
    def db_path(self) -> Path:
        """The project's SQLite database: ``[store] path``, or xlplan.sqlite beside the settings."""
        return self.project_dir / (self.store_path or "xlplan.sqlite")

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
    """Read one xlplan.toml; raise SettingsError (settings-invalid, naming the file and the
    key) when it cannot be read or any value has the wrong type or is out of range."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:  # absent, wherever it is looked for: settings-missing
        raise SettingsError("settings-missing", folders=[str(path.parent)]) from None
    except OSError as exc:
        raise _invalid(path, "", f"読み取れません（{exc.strerror or exc}）",
                       f"cannot be read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise _invalid(path, "", "UTF-8 のテキストではありません", "is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise _invalid(path, "", f"TOML の書き方に誤りがあります（{exc}）",
                       f"is not valid TOML ({exc})") from exc
    values, unknown = validate(data, path)
    project_dir = path.parent

    def resolve(value: str) -> Path | None:
        return (project_dir / value) if value else None

    return Settings(
        project_dir=project_dir,
        signing_key=values[("xlplan", "signing_key")],
        sheet_password=values[("xlplan", "sheet_password")],
        master=resolve(values[("xlplan", "master")]),
        templates_dir=resolve(values[("xlplan", "templates_dir")]),
        far_low=values[("check", "far_from_target_low")],
        far_high=values[("check", "far_from_target_high")],
        extra={k: v for k, v in data.items() if k not in ("xlplan", "check")},
        timezone=values[("xlplan", "timezone")],
        unknown=unknown,
        lock_wait=values[("run", "lock_wait_seconds")],
        store_path=values[("store", "path")],
    )


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
    raise SettingsError("settings-missing", folders=[str(c) for c in candidates])
