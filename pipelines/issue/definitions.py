"""The issue stage's definitions."""

import dagster as dg

from pipelines.issue.assets import issued_records

issue_job = dg.define_asset_job(
    "issue_job", selection=dg.AssetSelection.assets("issued_records"),
    description="Issue a batch's accepted books: signed XML + PDF, ledger, verification.",
)

defs = dg.Definitions(assets=[issued_records], jobs=[issue_job])
