"""The coverage stage's definitions."""

import dagster as dg

from pipelines.coverage.assets import coverage
from pipelines.coverage.sensors import coverage_sensor

coverage_job = dg.define_asset_job(
    "coverage_job", selection=dg.AssetSelection.groups("coverage"),
    description="Recompute coverage over every batch, the review database, the ledger and the roster.",
)

defs = dg.Definitions(assets=[coverage], sensors=[coverage_sensor], jobs=[coverage_job])
