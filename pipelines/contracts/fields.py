"""Field ids: the names of the boxes a template reads, as one value type.

A field id is either a scalar field's name (``full_name``) or a table cell,
``table.row.column`` (``scores.toan.ca_nam``, ``results.hk1.hoc_luc``,
``history.y2.class_name``); every segment is lower-case ASCII letters, digits and
``_``, starting with a letter. Templates (``FieldSpec``) make their ids with this
type, so a template whose keys break the grammar is refused when it loads; every
module that needs a cell's table, row or column asks a ``FieldId`` instead of
splitting the string again.

The table ids, term keys and average row named here are the ones
data_contracts/templates uses (tests/contracts/test_fields.py holds them to it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipelines.contracts.loader import ContractError

SCORES = "scores"
"""The subject-results table of a year page: rows are subject codes, columns terms (and ``retest``)."""
RESULTS = "results"
"""The term-results table of a year page: rows are terms, columns the academic and conduct levels."""
HISTORY = "history"
"""The study-history table of the identity page: rows ``y1``…, columns school year, class, …"""
YEAR_TERM = "ca_nam"
"""The whole year's term key (Cả năm): its score is computed from the other two."""
TERMS = ("hk1", "hk2", YEAR_TERM)
"""Term keys, in order: HK I, HK II, Cả năm (score columns and result rows)."""
RETEST = "retest"
"""The score table's retest column (KT lại): written beside Cả năm, not a term."""
AVERAGE_ROW = "dtb"
"""The "ĐTB các môn" extra row of the score tables that print one (tt58 templates)."""

_SEGMENT = re.compile(r"[a-z][a-z0-9_]*")


class FieldIdError(ContractError):
    """A field id, or a part of one, does not follow the ``name`` / ``table.row.column`` grammar."""


def _check(segment: str, what: str, text: str) -> str:
    if not isinstance(segment, str) or not _SEGMENT.fullmatch(segment):
        raise FieldIdError(
            f"field id {text!r}: {what} {segment!r} is not lower-case letters, digits and '_' "
            "starting with a letter; fix the key in data_contracts/templates or the caller"
        )
    return segment


@dataclass(frozen=True, slots=True)
class FieldId:
    """One field id. ``str()`` gives the text form, ``FieldId.parse`` reads it back."""

    name: str
    """The scalar field's name, or the table id of a cell."""
    row: str | None = None
    """The cell's row key; None for a scalar field."""
    column: str | None = None
    """The cell's column key; None for a scalar field."""

    def __post_init__(self) -> None:
        text = self._text()
        _check(self.name, "name" if self.row is None else "table", text)
        if (self.row is None) != (self.column is None):
            raise FieldIdError(f"field id {text!r}: a cell needs both a row and a column")
        if self.row is not None:
            _check(self.row, "row", text)
            _check(self.column, "column", text)  # type: ignore[arg-type]

    def _text(self) -> str:
        return self.name if self.row is None else f"{self.name}.{self.row}.{self.column}"

    def __str__(self) -> str:
        return self._text()

    # --- making one ------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> FieldId:
        """``'scores.toan.hk1'`` → ``FieldId('scores', 'toan', 'hk1')``; ``FieldIdError`` when
        ``text`` is neither a name nor ``table.row.column``."""
        if not isinstance(text, str):
            raise FieldIdError(f"field id {text!r} is not a string")
        parts = text.split(".")
        if len(parts) == 1:
            return cls(parts[0])
        if len(parts) == 3:
            return cls(*parts)
        raise FieldIdError(
            f"field id {text!r} has {len(parts)} dot-separated parts: give a name or table.row.column"
        )

    @classmethod
    def try_parse(cls, text: object) -> FieldId | None:
        """``parse`` for ids read from data, where a malformed one is skipped: None instead of raising."""
        if not isinstance(text, str):
            return None
        try:
            return cls.parse(text)
        except FieldIdError:
            return None

    @classmethod
    def cell(cls, table: str, row: str, column: str) -> FieldId:
        return cls(table, row, column)

    @classmethod
    def score(cls, subject: str, column: str) -> FieldId:
        """A cell of the score table: ``subject`` row, ``column`` a term or ``RETEST``."""
        return cls(SCORES, subject, column)

    @classmethod
    def result(cls, term: str, column: str) -> FieldId:
        """A cell of the results table: ``term`` row, ``column`` the academic or conduct field."""
        return cls(RESULTS, term, column)

    @classmethod
    def history(cls, row: str, column: str) -> FieldId:
        """A cell of the identity page's history table."""
        return cls(HISTORY, row, column)

    def with_column(self, column: str) -> FieldId:
        """The cell of the same table and row in ``column``."""
        if self.row is None:
            raise FieldIdError(f"field id {self}: a scalar field has no columns")
        return FieldId(self.name, self.row, column)

    # --- reading one ------------------------------------------------------------------------
    @property
    def is_cell(self) -> bool:
        return self.row is not None

    @property
    def table(self) -> str | None:
        """The table id of a cell; None for a scalar field."""
        return self.name if self.row is not None else None

    @property
    def term(self) -> str | None:
        """The term (one of ``TERMS``) of a score-table or results-table cell; None otherwise."""
        if self.name == SCORES and self.column in TERMS:
            return self.column
        if self.name == RESULTS and self.row in TERMS:
            return self.row
        return None
