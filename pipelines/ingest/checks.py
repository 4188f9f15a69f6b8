"""Ingest's asset checks: every file and every page of a batch accounted for, every page image stored."""

from collections.abc import Iterator

import dagster as dg

from pipelines.checks import preview
from pipelines.ingest.accounting import unaccounted_files, unaccounted_pages
from pipelines.ingest.batch import IngestResult
from pipelines.storage import Storage

EVERY_FILE_ACCOUNTED_FOR = "every_file_accounted_for"
EVERY_PAGE_ACCOUNTED_FOR = "every_page_accounted_for"
PAGE_IMAGES_STORED = "page_images_stored"

CHECK_SPECS = [
    dg.AssetCheckSpec(
        EVERY_FILE_ACCOUNTED_FOR,
        asset="scan_manifest",
        additional_deps=["file_quarantine"],
        description="Every file of the batch folder is in scan_manifest or file_quarantine, once.",
        blocking=True,
    ),
    dg.AssetCheckSpec(
        EVERY_PAGE_ACCOUNTED_FOR,
        asset="page_images",
        additional_deps=["scan_manifest", "page_quarantine"],
        description="Pages found in accepted files = pages stored + pages quarantined.",
        blocking=True,
    ),
    dg.AssetCheckSpec(
        PAGE_IMAGES_STORED,
        asset="page_images",
        description="Every page image the table names exists in storage.",
    ),
]


def ingest_checks(result: IngestResult, files: list[str], store: Storage) -> Iterator[dg.AssetCheckResult]:
    """The checks of one batch's ingest ``result``; ``files``: the batch folder's files."""
    problems = unaccounted_files(files, result.scan_manifest, result.file_quarantine)
    yield dg.AssetCheckResult(
        check_name=EVERY_FILE_ACCOUNTED_FOR,
        asset_key="scan_manifest",
        passed=not problems["missing"] and not problems["duplicated"],
        metadata={"files": len(files), **{k: ", ".join(v) or "-" for k, v in problems.items()},
                  "offending_files": preview([*problems["missing"], *problems["duplicated"]])},
    )
    gap = unaccounted_pages(result.scan_manifest, result.page_images, result.page_quarantine)
    yield dg.AssetCheckResult(
        check_name=EVERY_PAGE_ACCOUNTED_FOR,
        asset_key="page_images",
        passed=gap == 0,
        metadata={"unaccounted_pages": gap},
    )
    missing = [u for u in result.page_images["image_uri"] if not store.exists(u)]
    yield dg.AssetCheckResult(
        check_name=PAGE_IMAGES_STORED,
        asset_key="page_images",
        passed=not missing,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"missing": len(missing), "first_missing": missing[0] if missing else "-",
                  "missing_uris": preview(missing)},
    )
