"""Review assets: flagged fields into the review database, and the records they complete.

``review_items`` loads a batch's review_queue into the console's database (idempotent: a
re-run adds only new items and never touches a reviewer's work). ``accepted_records``
joins the reviewers' corrections, with their provenance, to the auto-accepted fields; the
``reviews_done_sensor`` re-requests it when a batch's last open item is resolved.
"""

import dagster as dg
import pandas as pd

from pipelines.ids import BatchKey
from pipelines.partitions import scan_batches
from pipelines.resources import ReviewDatabaseResource
from pipelines.review.accepted import accepted_records as build_accepted
from pipelines.review.checks import CHECK_SPECS, review_checks
from pipelines.review.store import batch_counts, corrections, load_items
from pipelines.settings import get_settings
from pipelines.validate.decide import decision_rules
from pipelines.validate.roster import Roster
from pipelines.validate.stage import matches_from_frame


def batch_location(batch_id: str) -> tuple[str, str]:
    """(district, school) of a batch key ``district/school/batch``."""
    key = BatchKey.parse(batch_id)
    return key.district, key.school


@dg.asset(
    group_name="review", kinds={"python", "sql"}, partitions_def=scan_batches,
    ins={"review_queue": dg.AssetIn()},
    description="The batch's flagged fields, loaded into the review database for the console.",
    check_specs=CHECK_SPECS,
)
def review_items(context: dg.AssetExecutionContext, review_queue: pd.DataFrame,
                 review_db: ReviewDatabaseResource) -> dg.MaterializeResult:
    key = context.partition_key
    district, school = batch_location(key)
    second = frozenset(decision_rules().second_entry_fields) if get_settings().review_second_identity \
        else frozenset()
    engine = review_db.engine()
    new = load_items(engine, review_queue, district=district, school=school, second_review_fields=second)
    counts = batch_counts(engine, key).get(key, {})
    context.log.info(f"review items {key}: {new} new, {counts}")
    # A re-run may flag fewer fields than before; items already made stay (never deleted).
    # A re-run may flag fewer fields than before; items already made stay (never deleted).
    held = zip(*(corrections(engine, key)[c] for c in ("page_id", "field_id")), strict=True)
    return dg.MaterializeResult(
        metadata={"new_items": new, "flagged_fields": len(review_queue), **counts},
        check_results=review_checks(review_queue, held))


@dg.asset(
    group_name="review", kinds={"python", "parquet"}, io_manager_key="io_manager",
    partitions_def=scan_batches,
    ins={"field_decisions": dg.AssetIn(), "normalized_records": dg.AssetIn(),
         "roster_matches": dg.AssetIn(), "roster": dg.AssetIn()},
    deps=["review_items"],
    description="Final values of every book with no open review, tied to its roster student; "
    "reviewed fields carry the reviewer and time.",
)
def accepted_records(context: dg.AssetExecutionContext, field_decisions: pd.DataFrame,
                     normalized_records: pd.DataFrame, roster_matches: pd.DataFrame,
                     roster: pd.DataFrame, review_db: ReviewDatabaseResource) -> dg.Output[pd.DataFrame]:
    key = context.partition_key
    corr = corrections(review_db.engine(), key)
    df = build_accepted(field_decisions, normalized_records, matches_from_frame(roster_matches), corr,
                        Roster(roster))
    books = int(df["book_ref"].nunique())
    return dg.Output(df, metadata={
        "rows": len(df), "books": books, "books_in_batch": int(field_decisions["book_ref"].nunique()),
        "reviewed_fields": int((df["source"] == "review").sum()),
        "open_review_items": int(corr["status"].isin(["open", "claimed"]).sum()),
        "needs_paper_book": int((corr["status"] == "needs_paper").sum()),
    })
