"""OCR assets: thin wiring of pipelines.ocr.batch into one Dagster step per scan batch."""

import dagster as dg
import pandas as pd

from pipelines.ocr.batch import ocr_batch
from pipelines.ocr.checks import CHECK_SPECS, ocr_checks
from pipelines.partitions import scan_batches
from pipelines.resources import RunSettingsResource, StorageResource, table_out

OCR_TABLES = ("page_layouts", "field_readings")


@dg.multi_asset(
    outs={name: table_out(name, "ocr", {"python", "parquet", "tesseract"}) for name in OCR_TABLES},
    ins={"page_images": dg.AssetIn()},
    partitions_def=scan_batches,
    check_specs=CHECK_SPECS,
)
def ocr_pages(
    context: dg.AssetExecutionContext,
    page_images: pd.DataFrame,
    storage: StorageResource,
    run_settings: RunSettingsResource,
):
    """Classify, align and read every non-blank page of one scan batch; crops go to storage."""
    key = context.partition_key
    result = ocr_batch(
        storage.storage(),
        page_images,
        batch_id=key,
        workers=run_settings.worker_count(),
        # Every page for progress displays (`hocba run`) at debug level, every 10th at info.
        progress=lambda done, total: (
            context.log.info if done % 10 == 0 or done == total else context.log.debug
        )(f"ocr {key}: {done}/{total} pages"),
    )
    summary = result.summary()
    context.log.info(f"ocr {key}: {summary}; seconds per step {result.seconds}")
    layouts, readings = result.page_layouts, result.field_readings
    by_status = layouts["status"].value_counts()
    yield dg.Output(layouts, output_name="page_layouts", metadata={
        "rows": len(layouts),
        **{f"pages_{s}": int(n) for s, n in by_status.items()},
        "failed_pages": len(result.failed_pages),
    })
    yield dg.Output(readings, output_name="field_readings", metadata={
        "rows": len(readings),
        "empty": summary["empty_fields"],
        "mean_confidence": summary["mean_confidence"],
        "seconds_per_step": dg.MetadataValue.json(result.seconds),
    })

    yield from ocr_checks(page_images, layouts, readings)
