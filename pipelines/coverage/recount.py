"""Recount coverage's totals from their sources and say where the tables do not add up, across levels
(cell → school → district) and to those sources (the blocking check ``numbers_add_up`` runs this)."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq

from pipelines.coverage.compute import OPEN, RESOLVED, SCHOOL_KEY, Coverage, pct_column
from pipelines.issue.ledger import CURRENT, versions
from pipelines.review.queries import status_counts
from pipelines.storage import Storage
from pipelines.table_io import stored_partitions

PHYSICAL = ["pages_read", "fields_flagged", "reviews_open", "reviews_done"]
STUDENT_COUNTS = ["books_scanned", "books_accepted", "records_issued"]


def _rows(storage: Storage, table: str, partitioned: bool = True) -> int:
    """Rows of a stored table, from the Parquet footers (no data is read)."""
    rels = ([f"tables/{table}/{k}.parquet" for k in stored_partitions(storage, table)] if partitioned
            else [f"tables/{table}.parquet"])
    n = 0
    for rel in rels:
        if storage.exists(rel):
            with storage.open(rel) as fh:
                n += pq.ParquetFile(fh).metadata.num_rows
    return n


def source_totals(storage: Storage, engine) -> dict[str, int]:
    """The totals each coverage column must add up to, counted straight from the sources."""

    status = status_counts(engine)
    ledger = versions(engine)
    return {
        "students_expected": _rows(storage, "roster", partitioned=False),
        "pages_read": _rows(storage, "page_layouts"),
        "fields_flagged": _rows(storage, "review_queue"),
        "files_quarantined": _rows(storage, "file_quarantine"),
        "reviews_open": sum(status.get(s, 0) for s in OPEN),
        "reviews_done": sum(status.get(s, 0) for s in RESOLVED),
        "records_issued": int((ledger["status"] == CURRENT).sum()),
    }


def district_totals(schools: pd.DataFrame) -> pd.DataFrame:
    """One row per district: the schools' counts summed, and its coverage %."""
    counts = [c for c in schools.columns if schools[c].dtype.kind == "i"]
    d = schools.groupby("district")[counts].sum().reset_index()
    d["coverage_pct"] = pct_column(d["records_issued"], d["students_expected"])
    return d


def problems(cov: Coverage, totals: dict[str, int]) -> list[str]:
    """What does not add up (empty: everything does)."""
    out = []
    for col, want in totals.items():
        got = int(cov.schools[col].sum())
        if got != want:
            out.append(f"{col}: schools add up to {got}, the sources hold {want}")
    by_school = cov.cells.groupby(SCHOOL_KEY)[PHYSICAL].sum()
    school = cov.schools.set_index(SCHOOL_KEY)[PHYSICAL]
    diff = by_school.reindex(school.index, fill_value=0).compare(school) if len(school) else pd.DataFrame()
    extra = by_school.index.difference(school.index)
    if len(diff):
        out.append(f"cells and schools disagree on {len(diff)} school(s), e.g. {diff.index[0]}: "
                   f"{diff.iloc[0].dropna().to_dict()}")
    if len(extra):
        out.append(f"cells name schools the school table lacks: {list(extra)[:3]}")
    for col in STUDENT_COUNTS:
        over = cov.cells[cov.cells[col] > cov.cells["students_expected"]]
        if len(over):
            out.append(f"{col} exceeds students_expected in {len(over)} cell(s)")
    return out
