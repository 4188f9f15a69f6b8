"""Validate assets: the roster, and per scan batch normalize → cross-check → match → decide."""

import dagster as dg
import pandas as pd

from pipelines.errors import ConfigError
from pipelines.partitions import scan_batches
from pipelines.resources import StorageResource, table_out
from pipelines.validate.checks import CHECK_SPECS, validate_checks
from pipelines.validate.roster import read_roster
from pipelines.validate.stage import validate_batch

VALIDATE_TABLES = ("normalized_records", "roster_matches", "field_decisions", "review_queue")


@dg.asset(
    group_name="validate", kinds={"python", "parquet"}, io_manager_key="io_manager",
    description="The district's roster (sector-database CSV export), normalized for matching.",
)
def roster(roster_source: StorageResource) -> dg.Output[pd.DataFrame]:
    df = read_roster(roster_source.storage())
    return dg.Output(df, metadata={
        "rows": len(df),
        "without_identifier": int(df["student_id"].isna().sum()),
        "identifier_issues": int(df["identifier_issues"].map(len).gt(0).sum()),
        "legacy_encoded": int((df["source_encoding"] != "unicode").sum()),
    })


@dg.multi_asset(
    outs={name: table_out(name, "validate", {"python", "parquet"}) for name in VALIDATE_TABLES},
    ins={"page_layouts": dg.AssetIn(), "field_readings": dg.AssetIn(), "page_images": dg.AssetIn(),
         "roster": dg.AssetIn()},
    partitions_def=scan_batches,
    check_specs=CHECK_SPECS,
)
def validate_pages(
    context: dg.AssetExecutionContext,
    page_layouts: pd.DataFrame,
    field_readings: pd.DataFrame,
    page_images: pd.DataFrame,
    roster: pd.DataFrame,
):
    """Typed values, rule cross-checks, roster matches and accept/flag per field."""
    key = context.partition_key
    if roster.empty:  # every book would come out unmatched and flood the review queue

        raise ConfigError("the roster is empty: put the district's roster export in HOCBA_ROSTER_URL and "
                          "run roster_job before validating (danh sách học sinh trống: hãy nhập trước)")
    r = validate_batch(field_readings, page_layouts, page_images, roster)
    d = r.field_decisions
    flagged = int((d["decision"] == "flag").sum())
    context.log.info(f"validate {key}: {len(d)} fields, {flagged} flagged; books {r.outcomes()}")
    yield dg.Output(r.normalized_records, output_name="normalized_records",
                    metadata={"rows": len(r.normalized_records)})
    yield dg.Output(r.roster_matches, output_name="roster_matches",
                    metadata={"books": len(r.roster_matches), **r.outcomes()})
    yield dg.Output(d, output_name="field_decisions", metadata={
        "fields": len(d), "flagged": flagged,
        "flag_rate": round(flagged / len(d), 4) if len(d) else 0.0,
        "top_reasons": dg.MetadataValue.json(r.top_reasons()),
        "row_decoding": dg.MetadataValue.json(r.decoding()),
    })
    yield dg.Output(r.review_queue, output_name="review_queue", metadata={"open_items": len(r.review_queue)})

    yield from validate_checks(field_readings, d, r.roster_matches)
