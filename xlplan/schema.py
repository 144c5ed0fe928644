"""The typed, versioned schema of a workbook's metadata: what ``generate`` signs into the hidden
sheet ``_xlplan`` and every later stage (read, check, collect, stamp, feedback, the demo's
simulation) takes back.

* ``FieldKind`` is the one list of input-field kinds and of the rules that follow from a kind.
* ``InputCell`` is one input cell, ``WorkbookMetadata`` the whole record; both are frozen.
* ``to_dict()`` gives the JSON form that is signed and stored; ``WorkbookMetadata.from_dict``
  reads it back, checking every type. Metadata without ``schema_version`` is version 1 (what
  xlplan wrote before this module); a newer version, or a value of the wrong type, raises
  ``MetadataUnsupported`` (Japanese and English reason), never a ``KeyError`` or
  ``TypeError``. The signature is always checked on the stored JSON itself, never on
  ``to_dict()`` of what was read, so files sent earlier keep verifying.

Nothing here imports another xlplan module.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

# 1: the metadata of xlplan before this module (no "schema_version" key; a "format": 1 key).
# 2: the same record with "schema_version": 2 (and no "format").
SCHEMA_VERSION = 2


class FieldKind(enum.StrEnum):
    """What an input cell holds; stored by value in the metadata ("quantity", …)."""

    QUANTITY = "quantity"    # a number, in the indicator's unit
    PERCENT = "percent"      # a percentage, typed as 89.1
    MILESTONE = "milestone"  # a result in words (実施, 検討 …) for an indicator without numbers
    TEXT = "text"            # free text
    CHOICE = "choice"        # one of a list (今後の方向性, a layout's declared choices)
    SCORE = "score"          # 達成度, a whole number 1–5
    RATING = "rating"        # a committee member's rating ①–⑤ or 評価しない

    @classmethod
    def declarable(cls) -> tuple["FieldKind", ...]:
        """The kinds a layout may declare for a field of its own (``[fields.<name>] kind``);
        ratings exist only in the committee's scoring form."""
        return tuple(k for k in cls if k is not cls.RATING)

    @property
    def is_number(self) -> bool:
        """A numeric result: validated as a number ≥ 0, compared with the target."""
        return self in (FieldKind.QUANTITY, FieldKind.PERCENT)

    @property
    def missing_code(self) -> str:
        """The finding code for a required cell of this kind left blank."""
        if self is FieldKind.RATING:
            return "score-missing"
        if self in (FieldKind.QUANTITY, FieldKind.PERCENT, FieldKind.MILESTONE, FieldKind.SCORE):
            return "missing-result"
        return "missing-text"

    @property
    def validation_required(self) -> bool:
        """The cell carries a data validation whose removal is a changed layout (a text cell's
        validation holds only its prompt, which a department may drop harmlessly)."""
        return self is not FieldKind.TEXT

    @property
    def wraps_text(self) -> bool:
        """The cell shows words: aligned top and wrapped."""
        return self in (FieldKind.TEXT, FieldKind.MILESTONE)


_KIND_VALUES = frozenset(k.value for k in FieldKind)


class MetadataUnsupported(Exception):
    """Metadata this xlplan cannot use: a newer schema version, or a value of the wrong type.
    ``ja`` and ``en`` say what, for the finding's detail."""

    def __init__(self, ja: str, en: str):
        super().__init__(en)
        self.ja, self.en = ja, en


@dataclass(frozen=True)
class InputCell:
    """An input cell of a generated workbook: where it is (sheet, cell and its defined name),
    which project, indicator and year it reports on, and what it holds."""

    name: str
    sheet: str
    cell: str
    project: str
    field: str
    kind: FieldKind
    required: bool
    label: str
    indicator: int | None = None
    year: str | None = None
    unit: str = ""
    choices: tuple[str, ...] | None = None

    def to_dict(self) -> dict:
        """The JSON form stored in the metadata."""
        return {"name": self.name, "sheet": self.sheet, "cell": self.cell, "project": self.project,
                "field": self.field, "kind": self.kind.value, "required": self.required,
                "label": self.label, "indicator": self.indicator, "year": self.year,
                "unit": self.unit, "choices": list(self.choices) if self.choices is not None else None}

    @classmethod
    def from_dict(cls, data, where: str = "fields") -> "InputCell":
        """An input cell from its JSON form; ``MetadataUnsupported`` when a value has the wrong type."""
        plain = _plain_input_cell(cls, data)
        if plain is not None:
            return plain
        _Reader.require_object(data, where)
        r = _Reader(data, where)
        kind = r.text("kind")
        if kind not in _KIND_VALUES:
            raise MetadataUnsupported(f"{where}.kind「{kind}」は不明な種類です",
                                      f"{where}.kind '{kind}' is an unknown kind")
        return cls(name=r.text("name"), sheet=r.text("sheet"), cell=r.text("cell"),
                   project=r.text("project"), field=r.text("field"), kind=FieldKind(kind),
                   required=r.boolean("required"), label=r.text("label", ""),
                   indicator=r.integer("indicator", None), year=r.text("year", None),
                   unit=r.text("unit", "") or "", choices=r.texts("choices", None))


_KINDS = {k.value: k for k in FieldKind}


def _plain_input_cell(cls, data) -> "InputCell | None":
    """The input cell of a JSON form whose every value has its type (what xlplan writes: a
    file holds hundreds, read for every file), without the per-key checks that name a wrong
    value; None for anything else, which ``InputCell.from_dict`` then reads key by key."""
    if type(data) is not dict:
        return None
    get = data.get
    texts = (get("name"), get("sheet"), get("cell"), get("project"), get("field"), get("label", ""),
             get("unit", ""))
    kind, required, indicator, year, choices = (get("kind"), get("required"), get("indicator"),
                                                get("year"), get("choices"))
    if not (all(type(t) is str for t in texts) and type(kind) is str and kind in _KINDS and type(required) is bool
            and (indicator is None or type(indicator) is int) and (year is None or type(year) is str)
            and (choices is None or (type(choices) is list and all(type(c) is str for c in choices)))):
        return None
    name, sheet, cell, project, field_, label, unit = texts
    return cls(name=name, sheet=sheet, cell=cell, project=project, field=field_, kind=_KINDS[kind],
               required=required, label=label, indicator=indicator, year=year, unit=unit,
               choices=tuple(choices) if choices is not None else None)


@dataclass(frozen=True)
class PlanRef:
    """The plan a workbook belongs to."""

    id: str
    name: str = ""

    def to_dict(self) -> dict:
        """The JSON form stored in the metadata."""
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True)
class LayoutRef:
    """The layout (template) a workbook was rendered from, and its version."""

    id: str
    version: int

    def to_dict(self) -> dict:
        """The JSON form stored in the metadata."""
        return {"id": self.id, "version": self.version}


@dataclass(frozen=True)
class SumCheck:
    """A layout's declared breakdown: the ``parts`` fields must add up to the ``total`` field."""

    total: str
    parts: tuple[str, ...]

    def to_dict(self) -> dict:
        """The JSON form stored in the metadata (as the layout's ``[[checks]]`` declares it)."""
        return {"kind": "sum", "total": self.total, "parts": list(self.parts)}


@dataclass(frozen=True)
class WorkbookMetadata:
    """Everything a generated workbook's signed metadata says.

    ``kind`` is the layout id ('department', 'scoring', a custom layout); ``member`` the
    committee member's number on a scoring form; ``fingerprint`` a hash per row of the locked
    content of each sheet ({sheet: {row: hash}}); ``validations`` the number of data
    validations per sheet. The mappings are not to be changed in place."""

    plan: PlanRef
    template: LayoutRef
    year: str
    department: str
    fields: tuple[InputCell, ...] = ()
    kind: str = "department"
    member: str | None = None
    generator: str = ""
    generated_at: str | None = None
    projects: tuple[str, ...] = ()
    sheets: tuple[str, ...] = ()
    fingerprint: dict[str, dict[str, str]] = field(default_factory=dict)
    validations: dict[str, int] = field(default_factory=dict)
    checks: tuple[SumCheck, ...] = ()
    schema_version: int = SCHEMA_VERSION

    @property
    def is_scoring(self) -> bool:
        """A committee member's scoring form (the recipient is a member, not a department)."""
        return self.kind == "scoring"

    def to_dict(self) -> dict:
        """The JSON form that is signed and stored (version 1 as xlplan wrote it before)."""
        data = {
            "kind": self.kind, "member": self.member, "generator": self.generator,
            "generated_at": self.generated_at, "plan": self.plan.to_dict(),
            "template": self.template.to_dict(), "year": self.year, "department": self.department,
            "projects": list(self.projects), "sheets": list(self.sheets),
            "fields": [f.to_dict() for f in self.fields],
            "fingerprint": {sheet: dict(rows) for sheet, rows in self.fingerprint.items()},
            "validations": dict(self.validations), "checks": [c.to_dict() for c in self.checks],
        }
        if self.schema_version == 1:
            data["format"] = 1
        else:
            data["schema_version"] = self.schema_version
        return data

    @classmethod
    def from_dict(cls, data) -> "WorkbookMetadata":
        """The metadata from its stored JSON form, of any version up to SCHEMA_VERSION.

        Raises ``MetadataUnsupported`` for a newer version or a value of the wrong type."""
        _Reader.require_object(data, "metadata")
        r = _Reader(data, "")
        version = r.integer("schema_version", 1)
        if version < 1 or version > SCHEMA_VERSION:
            raise MetadataUnsupported(
                f"管理情報の版 {version} で、この xlplan が読めるのは版 {SCHEMA_VERSION} までです",
                f"it is metadata version {version}, and this xlplan reads up to version {SCHEMA_VERSION}")
        plan = _Reader(r.mapping("plan"), "plan")
        template = _Reader(r.mapping("template"), "template")
        kind = r.text("kind", "department")
        fields = r.array("fields")
        return cls(
            plan=PlanRef(plan.text("id"), plan.text("name", "")),
            template=LayoutRef(template.text("id"), template.integer("version")),
            year=r.text("year"), department=r.text("department"),
            fields=tuple(InputCell.from_dict(f, f"fields[{i}]") for i, f in enumerate(fields)),
            kind=kind, member=r.text("member", None), generator=r.text("generator", ""),
            generated_at=r.text("generated_at", None), projects=r.texts("projects", ()),
            sheets=r.texts("sheets", ()), fingerprint=_fingerprint(r.mapping("fingerprint", {})),
            validations=_counts(r.mapping("validations", {})),
            checks=tuple(_sum_check(c, f"checks[{i}]") for i, c in enumerate(r.array("checks", []))),
            schema_version=version)

    def with_text_replaced(self, old: str, new: str) -> "WorkbookMetadata":
        """The same metadata with ``old`` replaced by ``new`` in every text (a prototype's marker
        by the recipient's name)."""
        return WorkbookMetadata.from_dict(_replace_text(self.to_dict(), old, new))


def claimed_plan(data) -> PlanRef | None:
    """The plan that stored metadata names, read leniently (the metadata may be unverified or
    damaged): None when it names none."""
    plan = data.get("plan") if isinstance(data, dict) else None
    if not isinstance(plan, dict) or plan.get("id") is None:
        return None
    return PlanRef(str(plan["id"]), str(plan.get("name") or ""))


# --- reading the JSON form, with every type checked --------------------------------------------

_MISSING = object()


class _Reader:
    """Typed access to one JSON object of the metadata; a missing key without a default, or a
    value of the wrong type, raises MetadataUnsupported naming the key."""

    def __init__(self, data: dict, where: str):
        self.data, self.where = data, where

    @staticmethod
    def require_object(value, where: str) -> None:
        if not isinstance(value, dict):
            raise MetadataUnsupported(f"{where} がオブジェクトではありません（{_type_ja(value)}）",
                                      f"{where} is not an object ({_type_en(value)})")

    def _get(self, key: str, default, test, ja: str, en: str):
        if key not in self.data or (self.data[key] is None and default is None):
            if default is _MISSING:
                raise MetadataUnsupported(f"{self._name(key)} がありません", f"{self._name(key)} is missing")
            return default
        value = self.data[key]
        if not test(value):
            raise MetadataUnsupported(f"{self._name(key)} が{ja}ではありません（{_type_ja(value)}）",
                                      f"{self._name(key)} is not {en} ({_type_en(value)})")
        return value

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def text(self, key: str, default=_MISSING):
        return self._get(key, default, lambda v: isinstance(v, str), "文字列", "a string")

    def integer(self, key: str, default=_MISSING):
        return self._get(key, default, lambda v: isinstance(v, int) and not isinstance(v, bool),
                         "整数", "a whole number")

    def boolean(self, key: str, default=_MISSING):
        return self._get(key, default, lambda v: isinstance(v, bool), "真偽値", "true or false")

    def mapping(self, key: str, default=_MISSING) -> dict:
        return self._get(key, default, lambda v: isinstance(v, dict), "オブジェクト", "an object")

    def array(self, key: str, default=_MISSING) -> list:
        return self._get(key, default, lambda v: isinstance(v, list), "一覧", "a list")

    def texts(self, key: str, default=_MISSING):
        value = self._get(key, default, lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                          "文字列の一覧", "a list of strings")
        return tuple(value) if isinstance(value, list) else value


def _fingerprint(data: dict) -> dict[str, dict[str, str]]:
    out = {}
    for sheet, rows in data.items():
        _Reader.require_object(rows, f"fingerprint.{sheet}")
        if all(type(h) is str for h in rows.values()):
            out[sheet] = dict(rows)  # what xlplan writes; else the key that is wrong is named
            continue
        out[sheet] = {row: _Reader(rows, f"fingerprint.{sheet}").text(row) for row in rows}
    return out


def _counts(data: dict) -> dict[str, int]:
    return {sheet: _Reader(data, "validations").integer(sheet) for sheet in data}


def _sum_check(data, where: str) -> SumCheck:
    _Reader.require_object(data, where)
    r = _Reader(data, where)
    if r.text("kind") != "sum":
        raise MetadataUnsupported(f"{where}.kind「{data['kind']}」は不明なチェックです",
                                  f"{where}.kind '{data['kind']}' is an unknown check")
    return SumCheck(r.text("total"), r.texts("parts"))


def _replace_text(value, old: str, new: str):
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _replace_text(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_text(v, old, new) for v in value]
    return value


_TYPES = {str: ("文字列", "a string"), int: ("整数", "a whole number"), float: ("小数", "a decimal number"),
          bool: ("真偽値", "true or false"), list: ("一覧", "a list"), dict: ("オブジェクト", "an object"),
          type(None): ("空（null）", "null")}


def _type_ja(value) -> str:
    return _TYPES.get(type(value), ("不明な値", "an unknown value"))[0]


def _type_en(value) -> str:
    return _TYPES.get(type(value), ("不明な値", "an unknown value"))[1]
