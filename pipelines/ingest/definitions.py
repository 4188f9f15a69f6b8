"""The ingest stage's definitions."""

import dagster as dg

from pipelines.ingest.assets import ingest_scans
from pipelines.ingest.sensors import inbox_sensor

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.groups("ingest"),
    description="Ingest one scan batch: manifest, quarantine, upright 300 dpi page images.",
)

defs = dg.Definitions(assets=[ingest_scans], jobs=[ingest_job], sensors=[inbox_sensor])
