"""The validate stage's definitions."""

import dagster as dg

from pipelines.validate.assets import roster, validate_pages

validate_job = dg.define_asset_job(
    "validate_job",
    selection=dg.AssetSelection.groups("validate") - dg.AssetSelection.assets("roster"),
    description="Validate one scan batch: typed values, rule checks, roster matches, decisions.",
)
roster_job = dg.define_asset_job(
    "roster_job", selection=dg.AssetSelection.assets("roster"),
    description="Re-read the roster export (HOCBA_ROSTER_URL) after it changed.",
)

defs = dg.Definitions(assets=[roster, validate_pages], jobs=[validate_job, roster_job])
