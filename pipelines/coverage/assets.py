"""The coverage asset: how far each district, school, grade and school year has come."""

import dagster as dg

from pipelines.coverage.checks import CHECK_SPECS, numbers_check
from pipelines.coverage.compute import compute, load_sources
from pipelines.coverage.recount import district_totals, problems, source_totals
from pipelines.coverage_tables import coverage_pct
from pipelines.resources import ReviewDatabaseResource, StorageResource, table_out

UPSTREAM = ["roster", "scan_manifest", "file_quarantine", "page_layouts", "normalized_records",
            "roster_matches", "review_queue", "review_items", "accepted_records", "issued_records"]


@dg.multi_asset(
    outs={t: table_out(t, "coverage", {"python", "table"}) for t in
          ("coverage", "coverage_schools", "coverage_backlog")},
    deps=UPSTREAM,
    check_specs=CHECK_SPECS,
    description="Coverage over every batch, the review database, the ledger and the roster.",
)
def coverage(context: dg.AssetExecutionContext, storage: StorageResource, review_db: ReviewDatabaseResource):
    engine, store = review_db.engine(), storage.storage()
    cov = compute(load_sources(store, engine))
    districts = district_totals(cov.schools)
    issued, expected = int(cov.schools["records_issued"].sum()), int(cov.schools["students_expected"].sum())
    pct = coverage_pct(issued, expected)
    context.log.info(f"coverage: {issued} of {expected} books issued ({pct}%), {len(cov.schools)} schools")
    yield dg.Output(cov.cells, output_name="coverage", metadata={
        "cells": len(cov.cells), "student_years_expected": int(cov.cells["students_expected"].sum()),
        "student_years_issued": int(cov.cells["records_issued"].sum())})
    yield dg.Output(cov.schools, output_name="coverage_schools", metadata={
        "coverage_pct": pct, "records_issued": issued, "students_expected": expected,
        "schools": len(cov.schools), "districts": _table(districts)})
    yield dg.Output(cov.backlog, output_name="coverage_backlog",
                    metadata={"days": int(cov.backlog["day"].nunique())})
    found = problems(cov, source_totals(store, engine))
    yield numbers_check(found)


def _table(df) -> dg.MetadataValue:
    cols = ["district", "students_expected", "books_scanned", "pages_read", "fields_flagged", "reviews_open",
            "reviews_done", "books_accepted", "records_issued", "files_quarantined", "coverage_pct"]
    schema = dg.TableSchema(columns=[dg.TableColumn(c, "string" if c == "district" else
                                                    "float" if c == "coverage_pct" else "int") for c in cols])
    def value(r, c):
        return float(r[c]) if c == "coverage_pct" else r[c] if c == "district" else int(r[c])

    records = [dg.TableRecord({c: value(r, c) for c in cols}) for _, r in df.iterrows()]
    return dg.MetadataValue.table(records, schema=schema)
