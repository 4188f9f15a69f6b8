"""OCR's asset checks: every page laid out, every template field read, every confidence in [0, 1]."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from pipelines.checks import preview
from pipelines.contracts import templates

EVERY_PAGE_LAID_OUT = "every_page_laid_out"
EVERY_TEMPLATE_FIELD_READ = "every_template_field_read"
CONFIDENCES_IN_RANGE = "confidences_in_range"

CHECK_SPECS = [
    dg.AssetCheckSpec(
        EVERY_PAGE_LAID_OUT,
        asset="page_layouts",
        additional_deps=["page_images"],
        description="Every non-blank stored page has exactly one layout row.",
        blocking=True,
    ),
    dg.AssetCheckSpec(
        EVERY_TEMPLATE_FIELD_READ,
        asset="field_readings",
        additional_deps=["page_layouts"],
        description="Every page laid out 'ok' yields exactly the fields of its template.",
        blocking=True,
    ),
    dg.AssetCheckSpec(
        CONFIDENCES_IN_RANGE,
        asset="field_readings",
        description="Every confidence is a number in [0, 1].",
        blocking=True,
    ),
]


def ocr_checks(page_images: pd.DataFrame, layouts: pd.DataFrame,
               readings: pd.DataFrame) -> Iterator[dg.AssetCheckResult]:
    """The checks of one batch's OCR tables against the batch's ``page_images``."""
    expected = set(page_images.loc[~page_images["is_blank"].astype(bool), "page_id"])
    got = list(layouts["page_id"])
    missing = sorted(expected - set(got))
    twice = sorted(layouts.loc[layouts["page_id"].duplicated(), "page_id"].unique())
    yield dg.AssetCheckResult(
        check_name=EVERY_PAGE_LAID_OUT, asset_key="page_layouts",
        passed=not missing and len(got) == len(set(got)),
        metadata={"expected": len(expected), "laid_out": len(got),
                  "first_missing": missing[0] if missing else "-",
                  "missing_pages": preview(missing), "pages_laid_out_twice": preview(twice)},
    )
    wrong = incomplete_pages(layouts, readings)
    yield dg.AssetCheckResult(
        check_name=EVERY_TEMPLATE_FIELD_READ, asset_key="field_readings", passed=not wrong,
        metadata={"incomplete_pages": len(wrong), "first": wrong[0] if wrong else "-",
                  "incomplete_page_ids": preview(wrong)},
    )
    c = readings["confidence"]
    out = c.isna() | (c < 0) | (c > 1)
    bad = int(out.sum())
    yield dg.AssetCheckResult(
        check_name=CONFIDENCES_IN_RANGE, asset_key="field_readings", passed=bad == 0,
        metadata={"out_of_range": bad,
                  "fields": preview(f"{p}/{f}" for p, f in zip(readings.loc[out, "page_id"],
                                                              readings.loc[out, "field_id"], strict=True))},
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
