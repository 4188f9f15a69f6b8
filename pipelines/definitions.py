"""The hocba code location: every stage's definitions merged, global policies set once.

Dagster's loader wants exactly one Definitions object at module scope, so stage
definitions are reached through their modules, never imported by name here.
"""

import dagster as dg

from pipelines.coverage import definitions as coverage
from pipelines.ingest import definitions as ingest
from pipelines.issue import definitions as issue
from pipelines.ocr import definitions as ocr
from pipelines.resources import default_resources
from pipelines.review import definitions as review
from pipelines.validate import definitions as validate

# What the inbox sensor runs for a new batch: every per-batch stage, in asset order.
scan_batch_job = dg.define_asset_job(
    "scan_batch_job",
    # The roster is unpartitioned (one per district): materialized on its own (roster_job).
    selection=dg.AssetSelection.groups("ingest", "ocr", "validate", "review", "issue")
    - dg.AssetSelection.assets("roster"),
    description="Everything one scan batch goes through: ingest, OCR, validate, its flagged fields "
    "into the review database, and the signed records of the books with nothing to review.",
)


def build_defs() -> dg.Definitions:
    """Definitions bound to the current settings (tests build them per HOCBA_HOME)."""
    return dg.Definitions.merge(
        ingest.defs,
        ocr.defs,
        validate.defs,
        review.defs,
        issue.defs,
        coverage.defs,
        dg.Definitions(
            jobs=[scan_batch_job],
            resources=default_resources(),
            # One step at a time per run: per-page parallelism lives inside steps
            # (worker pools), so running steps in parallel on 2 cores only oversubscribes.
            executor=dg.multiprocess_executor.configured({"max_concurrent": 1}),
        ),
    )


defs = build_defs()
