"""The digitization progress page (``/coverage``) from the coverage tables: plain Python, no web.

``build`` turns ``CoverageTables`` (``pipelines.coverage_tables``), the user's scope and the table's
filters into what ``templates/coverage.html`` shows: the headline (``CoverageTables.headline`` of the
scoped tables, so it is the ledger count over the roster count), issued vs expected per school, a
grade × school year heat map of coverage in student-years, the review backlog per day and the
coverage rows themselves. ``csv_bytes`` is the same rows as a download.

The scope (``all`` / ``district:X`` / ``school:Y``) narrows everything on the page; the filters
(school, cấp học, school year, grade) narrow only the table of rows and its CSV.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pandas as pd

from pipelines.coverage_tables import CELL_KEY, CoverageTables
from pipelines.coverage_tables import coverage_pct as pct
from pipelines.review import labels

ROLES = ("data_team", "admin")
ROW_LIMIT = 500  # rows of the table on the page; the CSV has them all
VN_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")  # Việt Nam: UTC+7 all year, no daylight saving

BACKLOG_FLOWS = ("fields_flagged", "reviews_done", "records_issued")


# --- numbers the Vietnamese way: 1.234 and 45,5% ---------------------------------------------
def fmt_int(v: Any) -> str:
    return f"{int(v):,}".replace(",", ".")


def fmt_pct(v: Any, digits: int = 1) -> str:
    text = f"{float(v):,.{digits}f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    return f"{text}%"


def bucket(p: float) -> int:
    """The heat map's colour class: 0 (under 10%) … 9 (90% up to 100%), 10 (all issued)."""
    return max(0, min(10, math.floor(p / 10)))


# --- filters ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    """The table's filters, from GET query parameters; empty means all."""

    school: str = ""
    cap_hoc: str = ""
    school_year: int | None = None
    grade: int | None = None

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> Filters:
        """ValueError when a number is not a number."""
        def text(name: str) -> str:
            v = params.get(name)
            return str(v).strip()[:200] if v else ""

        def number(name: str) -> int | None:
            v = text(name)
            if not v:
                return None
            if not re.fullmatch(r"\d{1,4}", v):
                raise ValueError(f"{name} must be a whole number: {v!r}")
            return int(v)

        return cls(text("school"), text("cap_hoc"), number("school_year"), number("grade"))

    @property
    def active(self) -> bool:
        return bool(self.school or self.cap_hoc or self.school_year is not None or self.grade is not None)

    def query(self) -> str:
        q = {k: v for k, v in (("school", self.school), ("cap_hoc", self.cap_hoc),
                               ("school_year", self.school_year), ("grade", self.grade))
             if v not in ("", None)}
        return f"?{urlencode(q)}" if q else ""

    def apply(self, cells: pd.DataFrame) -> pd.DataFrame:
        m = pd.Series(True, index=cells.index)
        if self.school:
            m &= cells["school"] == self.school
        if self.cap_hoc:
            m &= cells["cap_hoc"] == self.cap_hoc
        if self.school_year is not None:
            m &= cells["school_year"] == self.school_year
        if self.grade is not None:
            m &= cells["grade"] == self.grade
        return cells[m]


# --- scope --------------------------------------------------------------------------------------
def in_scope(tables: CoverageTables, scope: Any) -> CoverageTables:
    """The rows a user may see: ``scope`` is the user's ``store.Scope`` (kind all | district | school)."""
    if scope.kind == "all":
        return tables
    if scope.kind == "district":
        return tables.scoped(district=scope.code)
    if scope.kind == "school":
        return tables.scoped(school=scope.code)
    return dataclasses.replace(tables, cells=tables.cells.iloc[0:0], schools=tables.schools.iloc[0:0],
                               backlog=tables.backlog.iloc[0:0])


def scope_label(scope: Any) -> str:
    if scope.kind == "all":
        return "toàn thành phố"
    return f"{labels.SCOPE_KINDS.get(scope.kind, scope.kind)} {scope.code}"


# --- the parts of the page ----------------------------------------------------------------------
def school_series(schools: pd.DataFrame) -> list[dict[str, Any]]:
    """One entry per school, in code order: issued vs expected (books) and the rest of its funnel."""
    out = []
    for r in schools.sort_values(["district", "school"]).itertuples(index=False):
        expected, issued = int(r.students_expected), int(r.records_issued)
        name = r.school_name if isinstance(r.school_name, str) and r.school_name.strip() else ""
        out.append({
            "district": r.district, "school": r.school, "school_name": name,
            "label": f"{name} ({r.school})" if name else r.school,
            "students_expected": expected, "books_scanned": int(r.books_scanned),
            "books_matched": int(r.books_matched), "books_unmatched": int(r.books_unmatched),
            "books_accepted": int(r.books_accepted), "records_issued": issued,
            "reviews_open": int(r.reviews_open), "files_quarantined": int(r.files_quarantined),
            "coverage_pct": pct(issued, expected),
        })
    return out


@dataclass(frozen=True)
class Heatmap:
    """Coverage % (records issued / students expected, in student-years) per grade and school year."""

    years: list[int]
    rows: list[dict[str, Any]]  # {"grade", "label", "cells": [cell or None per year]}

    @property
    def empty(self) -> bool:
        return not self.rows


def heatmap(cells: pd.DataFrame) -> Heatmap:
    """Cells with no grade or year read, or no student expected, have no percentage and are left out."""
    known = cells[(cells["school_year"] > 0) & (cells["grade"] > 0)]
    sums = known.groupby(["grade", "school_year"])[["students_expected", "records_issued"]].sum()
    sums = sums[sums["students_expected"] > 0]
    years = sorted({int(y) for _, y in sums.index})
    grades = sorted({int(g) for g, _ in sums.index})
    rows = []
    for g in grades:
        row_cells: list[dict[str, Any] | None] = []
        for y in years:
            if (g, y) not in sums.index:
                row_cells.append(None)
                continue
            expected = int(sums.loc[(g, y), "students_expected"])
            issued = int(sums.loc[(g, y), "records_issued"])
            p = pct(issued, expected)
            row_cells.append({"school_year": y, "issued": issued, "expected": expected, "pct": p,
                              "bucket": bucket(p)})
        rows.append({"grade": g, "label": labels.grade_label(g), "cells": row_cells})
    return Heatmap(years, rows)


def backlog_series(backlog: pd.DataFrame) -> dict[str, list]:
    """Per day over the schools held, every day from the first to the last: items flagged, resolved and
    records issued that day (0 on a day with no row), and items open at the end of the day.

    A school has a row only on days something happened, so its open count carries over the days in
    between (and is 0 before its first row); the open counts are summed after that."""
    if backlog.empty:
        return {"days": [], "fields_flagged": [], "reviews_open": [], "reviews_done": [],
                "records_issued": []}
    df = backlog.assign(day=pd.to_datetime(backlog["day"]))
    days = pd.date_range(df["day"].min(), df["day"].max(), freq="D")
    flows = df.groupby("day")[list(BACKLOG_FLOWS)].sum().reindex(days, fill_value=0)
    open_per_school = df.pivot_table(index="day", columns=["district", "school"], values="reviews_open",
                                     aggfunc="sum")
    open_ = open_per_school.reindex(days).ffill().fillna(0).sum(axis=1)
    return {
        "days": [d.date().isoformat() for d in days],
        "fields_flagged": [int(v) for v in flows["fields_flagged"]],
        "reviews_open": [int(v) for v in open_],
        "reviews_done": [int(v) for v in flows["reviews_done"]],
        "records_issued": [int(v) for v in flows["records_issued"]],
    }


def cell_rows(cells: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The coverage rows after the filters, in key order, with the contract's columns."""
    return filters.apply(cells).sort_values(CELL_KEY).reset_index(drop=True)


def _row_view(r: dict[str, Any]) -> dict[str, Any]:
    out = {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}  # numpy → Python numbers
    out["cap_hoc_label"] = labels.cap_hoc_label(r["cap_hoc"])
    out["school_year_label"] = labels.school_year_label(int(r["school_year"]))
    out["grade_label"] = labels.grade_label(int(r["grade"]))
    return out


def filter_options(tables: CoverageTables) -> dict[str, list[dict[str, Any]]]:
    """What the filter lists offer: the values present in the user's scope (not-read ones aside)."""
    names = {r.school: r.school_name for r in tables.schools.itertuples(index=False)
             if isinstance(r.school_name, str) and r.school_name.strip()}
    cells = tables.cells
    schools = sorted(set(tables.schools["school"]) | set(cells["school"]))
    return {
        "school": [{"value": s, "label": f"{s} · {names[s]}" if s in names else s} for s in schools],
        "cap_hoc": [{"value": c, "label": labels.cap_hoc_label(c)}
                    for c in sorted(set(cells["cap_hoc"])) if c],
        "school_year": [{"value": int(y), "label": labels.school_year_label(int(y))}
                        for y in sorted(set(cells["school_year"])) if y > 0],
        "grade": [{"value": int(g), "label": labels.grade_label(int(g))}
                  for g in sorted(set(cells["grade"])) if g > 0],
    }


# --- the whole page -----------------------------------------------------------------------------
@dataclass(frozen=True)
class CoveragePage:
    materialized: bool
    """False when the coverage asset never ran: the page shows how to run it, nothing else."""
    as_of: dt.datetime | None
    scope_label: str
    headline: dict[str, Any]
    schools: list[dict[str, Any]]
    heatmap: Heatmap
    backlog: dict[str, list]
    rows: list[dict[str, Any]]
    total_rows: int
    filters: Filters
    options: dict[str, list[dict[str, Any]]]
    chart_data: dict[str, Any] = field(default_factory=dict)

    @property
    def in_scope(self) -> bool:
        """Whether the tables hold anything for this user's scope."""
        return bool(self.schools) or self.total_rows > 0 or bool(self.heatmap.rows)

    @property
    def headline_pct_text(self) -> str:
        """The headline's percentage to one decimal, from the counts (not from the rounded coverage_pct)."""
        issued, expected = self.headline["records_issued"], self.headline["students_expected"]
        return fmt_pct(100.0 * issued / expected if expected else 0.0)

    @property
    def as_of_text(self) -> str:
        return as_of_text(self.as_of)

    @property
    def csv_url(self) -> str:
        return f"/coverage.csv{self.filters.query()}"


def as_of_local(as_of: dt.datetime | None) -> dt.datetime | None:
    if as_of is None:
        return None
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=dt.UTC)
    return as_of.astimezone(VN_TZ)


def as_of_text(as_of: dt.datetime | None) -> str:
    local = as_of_local(as_of)
    return "" if local is None else f"{local:%H:%M} ngày {local:%d/%m/%Y} (giờ Việt Nam)"


def build(tables: CoverageTables, scope: Any, filters: Filters, *,
          row_limit: int = ROW_LIMIT) -> CoveragePage:
    """Everything the page shows, for a user with ``scope``; the headline is ``headline()`` of the
    scoped tables."""
    mine = in_scope(tables, scope)
    head = mine.headline()
    schools = school_series(mine.schools)
    rows = cell_rows(mine.cells, filters)
    backlog = backlog_series(mine.backlog)
    chart_data = {
        "labels": labels.COVERAGE_SERIES,
        "schools": {
            "labels": [s["label"] for s in schools],
            "students_expected": [s["students_expected"] for s in schools],
            "records_issued": [s["records_issued"] for s in schools],
            "coverage_pct": [s["coverage_pct"] for s in schools],
        },
        "backlog": backlog,
    }
    return CoveragePage(
        materialized=tables.materialized,
        as_of=tables.as_of,
        scope_label=scope_label(scope),
        headline=head,
        schools=schools,
        heatmap=heatmap(mine.cells),
        backlog=backlog,
        rows=[_row_view(r) for r in rows.head(row_limit).to_dict("records")],
        total_rows=len(rows),
        filters=filters,
        options=filter_options(mine),
        chart_data=chart_data,
    )


# --- the download -------------------------------------------------------------------------------
def csv_bytes(tables: CoverageTables, scope: Any, filters: Filters) -> bytes:
    """The filtered rows of ``coverage`` in the user's scope, with the contract's column names: UTF-8 with
    a BOM (so that Excel reads the Vietnamese right), decimal point, one row per line."""
    rows = cell_rows(in_scope(tables, scope).cells, filters)
    buf = io.StringIO()
    rows.to_csv(buf, index=False, lineterminator="\r\n")
    return buf.getvalue().encode("utf-8-sig")


def csv_filename(scope: Any, as_of: dt.datetime | None) -> str:
    """``tien-do-so-hoa_<scope>_<date>.csv``, ASCII only."""
    who = "all" if scope.kind == "all" else re.sub(r"[^A-Za-z0-9_-]", "_", str(scope.code))
    local = as_of_local(as_of)
    when = f"_{local:%Y%m%d}" if local is not None else ""
    return f"tien-do-so-hoa_{who}{when}.csv"


__all__ = ["ROLES", "CoveragePage", "Filters", "build", "csv_bytes", "csv_filename", "fmt_int", "fmt_pct"]
