"""The coverage tables as readers use them (the console, the notebooks).

Below the stages: the coverage stage writes these tables and reads review's and issue's query
functions, and the review console reads them back, so their reader sits under both (only storage and
the table contracts), which keeps the package graph acyclic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from pipelines.storage import Storage
from pipelines.table_io import read_table

TABLES = ("coverage", "coverage_schools", "coverage_backlog")
CELL_KEY = ["district", "school", "cap_hoc", "school_year", "grade"]
"""The key of a ``coverage`` row."""


def coverage_pct(issued: int, expected: int) -> float:
    """issued / expected × 100 to two decimals; 0 when none is expected."""
    return round(100.0 * issued / expected, 2) if expected else 0.0


@dataclass(frozen=True)
class CoverageTables:
    cells: pd.DataFrame
    """``coverage``: district × school × cấp học × school year × grade, in student-years."""
    schools: pd.DataFrame
    """``coverage_schools``: one row per school, in books: the headline figures."""
    backlog: pd.DataFrame
    """``coverage_backlog``: one row per school and day."""

    @property
    def as_of(self) -> dt.datetime | None:
        """When the coverage asset last computed these (None: never materialized)."""
        return None if self.schools.empty else self.schools["as_of"].max().to_pydatetime()

    @property
    def materialized(self) -> bool:
        return not self.schools.empty

    def scoped(self, *, district: str | None = None, school: str | None = None) -> CoverageTables:
        """Only the rows of one district or one school."""
        def keep(df: pd.DataFrame) -> pd.DataFrame:
            m = pd.Series(True, index=df.index)
            if district is not None:
                m &= df["district"] == district
            if school is not None:
                m &= df["school"] == school
            return df[m].reset_index(drop=True)

        return CoverageTables(keep(self.cells), keep(self.schools), keep(self.backlog))

    def headline(self) -> dict:
        """Records issued / students expected over the rows held (books, as the roster lists them)."""
        issued = int(self.schools["records_issued"].sum())
        expected = int(self.schools["students_expected"].sum())
        return {"records_issued": issued, "students_expected": expected,
                "coverage_pct": coverage_pct(issued, expected)}


def load_coverage(storage: Storage) -> CoverageTables:
    """The last materialized coverage tables (empty frames, with their columns, when never run)."""
    cells, schools, backlog = (read_table(storage, t, [None]) for t in TABLES)
    return CoverageTables(cells, schools, backlog)
