"""The OCR stage's definitions."""

import dagster as dg

from pipelines.ocr.assets import ocr_pages

ocr_job = dg.define_asset_job(
    "ocr_job",
    selection=dg.AssetSelection.groups("ocr"),
    description="OCR one scan batch: page layouts and one reading per template field.",
)

defs = dg.Definitions(assets=[ocr_pages], jobs=[ocr_job])
