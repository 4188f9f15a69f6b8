"""Form templates (data_contracts/templates/*.yaml), with table grids expanded into fields."""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipelines.contracts.fields import FieldId
from pipelines.contracts.loader import CONTRACTS_DIR, ContractError, Strict, load
from pipelines.contracts.rules import subject_catalog, vocabularies

FieldTypeName = Literal[
    "name", "date", "score", "grade_enum", "enum", "comment", "integer", "identifier",
    "free_text", "school_year", "class_name",
]
Box = tuple[float, float, float, float]


CharClass = Literal["letters", "marks", "digits", "spaces"]
MAX_MARKS_IN_A_ROW = 2
"""Vietnamese stacks at most two marks on a letter (a vowel mark and a tone): more is noise."""


def _char_class(c: str) -> str | None:
    """Which class of an entry policy ``c`` belongs to: a ``CharClass``, 'invisible' (never allowed) or
    'non_ascii_digit' (never allowed either); None for punctuation and symbols (allowed when listed)."""
    cat = unicodedata.category(c)
    if cat[0] == "C" or cat in ("Zl", "Zp"):  # control, format (bidi, zero-width, BOM), surrogate, …
        return "invisible"
    if cat == "Nd":
        return "digits" if "0" <= c <= "9" else "non_ascii_digit"
    if cat[0] == "L":
        return "letters" if unicodedata.name(c, "").startswith("LATIN ") else "other_letter"
    if cat[0] == "M":
        return "marks"
    if cat == "Zs":
        return "spaces"
    return None


def is_invisible(c: str) -> bool:
    """A control or format character (bidi override, zero-width, BOM), a surrogate, private-use or
    unassigned code point, a line or paragraph separator: never part of a value anyone types."""
    return _char_class(c) == "invisible"


class EntryPolicy(Strict):
    """What a person may type as a value of a field type (the review console's corrections): checked
    before the normalizer sees the value. Control and format characters (bidi overrides, zero-width
    characters, a byte-order mark), surrogates, private-use and unassigned code points are never allowed,
    whatever the policy says; nor are digits other than ASCII 0-9 (Arabic-Indic, full-width, …: people
    type 0-9, and a look-alike digit is no value), nor letters outside the Latin script."""

    max_length: int = Field(gt=0, le=5000)
    """Characters at most (NFC, surrounding white space stripped)."""
    allow: tuple[CharClass, ...] = Field(min_length=1)
    """letters: Latin letters, Vietnamese ones included; marks: combining marks (a mark typed as its own
    character); digits: ASCII 0-9; spaces: space characters."""
    punctuation: str = ""
    """Every punctuation mark or symbol the type needs, each listed once."""

    @field_validator("allow")
    @classmethod
    def _distinct(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError("a class is listed twice")
        return v

    @field_validator("punctuation")
    @classmethod
    def _punctuation(cls, v: str) -> str:
        if len(set(v)) != len(v):
            raise ValueError("a character is listed twice")
        bad = [c for c in v if unicodedata.category(c)[0] not in "PS"]
        if bad:
            raise ValueError(f"not punctuation or a symbol: {', '.join(f'U+{ord(c):04X}' for c in bad)}")
        return v

    def refusal(self, text: str, *, classes: bool = True) -> str | None:
        """Why ``text`` is refused, None when it is allowed: 'too_long', 'invisible_character',
        'non_ascii_digit' or 'character_not_allowed'. Judged in NFC, surrounding white space stripped.
        ``classes`` False: only the length and the characters never allowed are checked."""
        if len(text) > 4 * self.max_length:  # too long whatever NFC makes of it: not even normalized
            return "too_long"
        text = unicodedata.normalize("NFC", text).strip()
        if len(text) > self.max_length:
            return "too_long"
        worst, marks = None, 0
        for c in text:
            kind = _char_class(c)
            marks = marks + 1 if kind == "marks" else 0
            if kind in ("invisible", "non_ascii_digit"):
                return "invisible_character" if kind == "invisible" else "non_ascii_digit"
            allowed = c in self.punctuation if kind is None else kind in self.allow
            if classes and (not allowed or marks > MAX_MARKS_IN_A_ROW):
                worst = "character_not_allowed"
        return worst


class FieldType(Strict):
    lang: str
    psm: int
    whitelist: str | None
    description: str
    scale: float = Field(1.0, gt=0.1, le=4.0)
    """Resize factor of the cleaned crop before recognition (measured per type)."""
    image: Literal["binary", "gray"] = "binary"
    """What the recognizer sees: the cleaned ink mask, or the gray pixels under it."""
    pattern: str | None = None
    """Regular expression a plausible reading matches in full (OCR's format check)."""
    vocabulary: str | None = None
    """Closed vocabulary of every field of this type (rules/vocabularies.yaml)."""
    trim: str = ""
    """Characters stripped from both ends of a reading (stray marks at the box's edge)."""
    second_reading: bool = False
    """Read twice (the other ``image``); disagreement lowers the confidence. For
    free-form types, where no format or vocabulary can tell a misreading."""
    entry: EntryPolicy
    """What a reviewer may type for a value of the type (length, characters)."""
    recognizers: dict[Literal["hand", "print"], str] = Field(
        default_factory=lambda: {"hand": "tesseract", "print": "tesseract"})
    """Which recognizer (``pipelines.recognize.registry``) reads a field of this type,
    by the field's writing style."""

    @field_validator("recognizers")
    @classmethod
    def _both_styles(cls, v: dict[str, str]) -> dict[str, str]:
        return {"hand": "tesseract", "print": "tesseract", **v}

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            re.compile(v)  # a bad expression fails when the contract loads, not mid-batch
        return v


class FieldTypes(Strict):
    kind: Literal["field_types"]
    version: int
    types: dict[FieldTypeName, FieldType]


class Label(Strict):
    at: tuple[float, float]
    text: str
    size: float
    bold: bool = False
    align: Literal["left", "center"] = "left"


class FieldDecl(Strict):
    id: str
    type: FieldTypeName
    box: Box
    vocabulary: str | None = None
    printed: bool = False
    """True when the value is pre-printed on the form (never handwritten)."""


class ColumnDecl(Strict):
    key: str
    header: str
    width: float
    kind: Literal["value", "row_label"] = "value"
    type: FieldTypeName | Literal["subject_result"] | None = None
    vocabulary: str | None = None
    read: bool = True
    optional: bool = False
    """Cells of an optional column are usually empty (e.g. the retest score)."""


class RowDecl(Strict):
    key: str
    label: str | None = None
    type: FieldTypeName | None = None
    skip_columns: tuple[str, ...] = ()


class RowsFrom(Strict):
    programme: str
    cap_hoc: Literal["THCS", "THPT"]


class TableDecl(Strict):
    id: str
    origin: tuple[float, float]
    header_height: float
    row_height: float
    columns: tuple[ColumnDecl, ...]
    rows: tuple[RowDecl, ...] = ()
    rows_from: RowsFrom | None = None
    extra_rows: tuple[RowDecl, ...] = ()


class SignatureArea(Strict):
    role: str
    box: Box


class FieldSpec(Strict):
    """One box to read: a scalar field or a table cell, with its box in millimetres."""

    field_id: str
    type: FieldTypeName
    box: Box
    vocabulary: str | None = None
    table: str | None = None
    row: str | None = None
    column: str | None = None
    optional: bool = False
    printed: bool = False

    @property
    def id(self) -> FieldId:
        return FieldId(self.table, self.row, self.column) if self.table else FieldId(self.field_id)


class Template(Strict):
    template_id: str
    version: int
    title: str
    page_kind: Literal["identity_page", "year_page"]
    cap_hoc: Literal["THCS", "THPT", "any"]
    layout_family: Literal["tt58", "tt22", "any"]
    size_mm: tuple[float, float]
    labels: tuple[Label, ...]
    boxes: tuple[Box, ...] = ()
    fields: tuple[FieldDecl, ...]
    tables: tuple[TableDecl, ...] = ()
    signature_areas: tuple[SignatureArea, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Template:
        for t in self.tables:
            if (t.rows_from is None) == (not t.rows):
                raise ValueError(f"table {t.id}: give exactly one of rows / rows_from")
        return self

    def table_rows(self, table: TableDecl) -> list[RowDecl]:
        """Body rows of a table, the subject rows taken from the subject catalog."""
        rows = list(table.rows)
        if table.rows_from is not None:
            subjects = subject_catalog(table.rows_from.programme, table.rows_from.cap_hoc)
            rows = [RowDecl(key=s.code, label=s.name) for s in subjects]
        return rows + list(table.extra_rows)

    def row_assessment(self, table: TableDecl, row_key: str) -> str | None:
        if table.rows_from is None:
            return None
        for s in subject_catalog(table.rows_from.programme, table.rows_from.cap_hoc):
            if s.code == row_key:
                return s.assessment
        return None

    def column_x(self, table: TableDecl) -> list[float]:
        xs, x = [], table.origin[0]
        for c in table.columns:
            xs.append(x)
            x += c.width
        return xs

    def table_height(self, table: TableDecl) -> float:
        return table.header_height + table.row_height * len(self.table_rows(table))

    def field_specs(self) -> list[FieldSpec]:
        """Every box to read on the page, in a stable order."""
        return list(_expand(self))

    def field(self, field_id: str) -> FieldSpec:
        for f in self.field_specs():
            if f.field_id == field_id:
                return f
        raise KeyError(f"template {self.template_id} has no field {field_id!r}")


def _expand(t: Template):
    for f in t.fields:
        yield FieldSpec(
            field_id=str(FieldId(f.id)), type=f.type, box=f.box, vocabulary=f.vocabulary, printed=f.printed
        )
    for table in t.tables:
        xs = t.column_x(table)
        for r, row in enumerate(t.table_rows(table)):
            y = table.origin[1] + table.header_height + r * table.row_height
            for col, x in zip(table.columns, xs, strict=True):
                if col.kind == "row_label" or not col.read or col.key in row.skip_columns:
                    continue
                ftype = row.type or col.type
                if ftype == "subject_result":
                    ftype = "comment" if t.row_assessment(table, row.key) == "comment" else "score"
                if ftype is None:
                    raise ContractError(f"{t.template_id}: cell {table.id}.{row.key}.{col.key} has no type")
                yield FieldSpec(
                    field_id=str(FieldId.cell(table.id, row.key, col.key)),
                    type=ftype,
                    box=(x, y, col.width, table.row_height),
                    vocabulary=col.vocabulary,
                    table=table.id,
                    row=row.key,
                    column=col.key,
                    optional=col.optional,
                )


@cache
def field_types() -> dict[str, FieldType]:
    types = dict(load(FieldTypes, "templates/field_types.yaml").types)
    for name, ft in types.items():
        if ft.vocabulary is not None and ft.vocabulary not in vocabularies():
            raise ContractError(f"field type {name} names unknown vocabulary {ft.vocabulary!r}")
    return types


@cache
def templates() -> dict[str, Template]:
    out: dict[str, Template] = {}
    known_vocab = set(vocabularies())
    for path in sorted((CONTRACTS_DIR / "templates").glob("*.yaml")):
        if path.name == "field_types.yaml":
            continue
        tpl = load(Template, path.relative_to(CONTRACTS_DIR))
        if tpl.template_id != path.stem:
            raise ContractError(f"{path}: template_id {tpl.template_id!r} differs from the file name")
        specs = tpl.field_specs()
        ids = [s.field_id for s in specs]
        if len(ids) != len(set(ids)):
            raise ContractError(f"{path}: duplicate field ids")
        w, h = tpl.size_mm
        for s in specs:
            x, y, bw, bh = s.box
            if x < 0 or y < 0 or x + bw > w or y + bh > h:
                raise ContractError(f"{path}: field {s.field_id} box {s.box} is off the page")
            if s.type in ("grade_enum", "enum") and s.vocabulary not in known_vocab:
                raise ContractError(
                    f"{path}: field {s.field_id} names unknown vocabulary {s.vocabulary!r}"
                )
        out[tpl.template_id] = tpl
    return out


def template(template_id: str) -> Template:
    try:
        return templates()[template_id]
    except KeyError as exc:
        raise ContractError(f"no template {template_id!r} in data_contracts/templates") from exc
