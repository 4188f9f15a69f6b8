"""Review's asset check: every flagged field has its item in the review database."""

from collections.abc import Iterable

import dagster as dg
import pandas as pd

from pipelines.checks import preview

EVERY_FLAG_IN_REVIEW_DB = "every_flag_in_review_db"

CHECK_SPECS = [
    dg.AssetCheckSpec(EVERY_FLAG_IN_REVIEW_DB, asset="review_items", blocking=True,
                      description="The database holds one item per flagged field."),
]


def review_checks(review_queue: pd.DataFrame,
                  held: Iterable[tuple[str, str]]) -> list[dg.AssetCheckResult]:
    """The check of one batch's ``review_queue`` against the (page_id, field_id) items ``held``
    in the review database (a re-run may flag fewer fields; items already made stay)."""
    have = set(held)
    missing = sorted(set(zip(review_queue["page_id"], review_queue["field_id"], strict=True)) - have)
    return [dg.AssetCheckResult(
        check_name=EVERY_FLAG_IN_REVIEW_DB, asset_key="review_items", passed=not missing,
        metadata={"flagged_fields": len(review_queue), "missing": len(missing),
                  "fields": preview(f"{p}/{f}" for p, f in missing)})]
