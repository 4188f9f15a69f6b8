"""OCR assets: thin wiring of pipelines.ocr.batch into one Dagster step per scan batch."""

import dagster as dg
import pandas as pd

from pipelines.contracts import templates
from pipelines.ocr.batch import ocr_batch
from pipelines.partitions import scan_batches
from pipelines.resources import RunSettingsResource, StorageResource, table_out

OCR_TABLES = ("page_layouts", "field_readings")


@dg.multi_asset(
    outs={name: table_out(name, "ocr", {"python", "parquet", "tesseract"}) for name in OCR_TABLES},
    ins={"page_images": dg.AssetIn()},
    partitions_def=scan_batches,
    check_specs=[
        dg.AssetCheckSpec(
            "every_page_laid_out",
            asset="page_layouts",
            additional_deps=["page_images"],
            description="Every non-blank stored page has exactly one layout row.",
            blocking=True,
        ),
        dg.AssetCheckSpec(
            "every_template_field_read",
            asset="field_readings",
            additional_deps=["page_layouts"],
            description="Every page laid out 'ok' yields exactly the fields of its template.",
            blocking=True,
        ),
        dg.AssetCheckSpec(
            "confidences_in_range",
            asset="field_readings",
            description="Every confidence is a number in [0, 1].",
            blocking=True,
        ),
    ],
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

    expected = set(page_images.loc[~page_images["is_blank"].astype(bool), "page_id"])
    got = list(layouts["page_id"])
    missing = sorted(expected - set(got))
    yield dg.AssetCheckResult(
        check_name="every_page_laid_out", asset_key="page_layouts",
        passed=not missing and len(got) == len(set(got)),
        metadata={"expected": len(expected), "laid_out": len(got),
                  "first_missing": missing[0] if missing else "-"},
    )
    wrong = incomplete_pages(layouts, readings)
    yield dg.AssetCheckResult(
        check_name="every_template_field_read", asset_key="field_readings", passed=not wrong,
        metadata={"incomplete_pages": len(wrong), "first": wrong[0] if wrong else "-"},
    )
    c = readings["confidence"]
    bad = int((c.isna() | (c < 0) | (c > 1)).sum())
    yield dg.AssetCheckResult(
        check_name="confidences_in_range", asset_key="field_readings", passed=bad == 0,
        metadata={"out_of_range": bad},
    )


def incomplete_pages(layouts: pd.DataFrame, readings: pd.DataFrame) -> list[str]:
    """Page ids laid out 'ok' whose readings are not exactly their template's fields, once each."""
    fields_by_page = readings.groupby("page_id")["field_id"].agg(list).to_dict()
    wrong = []
    for r in layouts[layouts["status"] == "ok"].itertuples(index=False):
        want = [s.field_id for s in templates()[r.template_id].field_specs()]
        if sorted(fields_by_page.get(r.page_id, [])) != sorted(want):
            wrong.append(r.page_id)
    return wrong
