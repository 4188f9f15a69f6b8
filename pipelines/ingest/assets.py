"""Ingest assets: thin wiring of pipelines.ingest.batch into one Dagster step per batch."""


import dagster as dg

from pipelines.ids import BatchKey
from pipelines.ingest.accounting import files_in_batch, unaccounted_files, unaccounted_pages
from pipelines.ingest.batch import ingest_batch
from pipelines.partitions import scan_batches
from pipelines.resources import InboxResource, RunSettingsResource, StorageResource, table_out

INGEST_TABLES = ("scan_manifest", "file_quarantine", "page_images", "page_quarantine")


@dg.multi_asset(
    outs={name: table_out(name, "ingest", {"python", "parquet"}) for name in INGEST_TABLES},
    partitions_def=scan_batches,
    check_specs=[
        dg.AssetCheckSpec(
            "every_file_accounted_for",
            asset="scan_manifest",
            additional_deps=["file_quarantine"],
            description="Every file of the batch folder is in scan_manifest or file_quarantine, once.",
            blocking=True,
        ),
        dg.AssetCheckSpec(
            "every_page_accounted_for",
            asset="page_images",
            additional_deps=["scan_manifest", "page_quarantine"],
            description="Pages found in accepted files = pages stored + pages quarantined.",
            blocking=True,
        ),
        dg.AssetCheckSpec(
            "page_images_stored",
            asset="page_images",
            description="Every page image the table names exists in storage.",
        ),
    ],
)
def ingest_scans(
    context: dg.AssetExecutionContext,
    storage: StorageResource,
    inbox: InboxResource,
    run_settings: RunSettingsResource,
):
    """Hash, decode, turn upright and store every page of one scan batch; quarantine the rest."""
    key = BatchKey.parse(context.partition_key)
    inbox_store, store = inbox.storage(), storage.storage()
    result = ingest_batch(
        inbox_store,
        str(key),
        store,
        batch_id=str(key),
        district=key.district,
        school=key.school,
        workers=run_settings.worker_count(),
        progress=lambda done, total: context.log.info(f"ingest {key}: {done}/{total} files"),
    )
    summary = result.summary()
    context.log.info(f"ingest {key}: {summary}")

    for name in INGEST_TABLES:
        df = getattr(result, name)
        meta: dict = {"rows": len(df)}
        if name.endswith("quarantine") and len(df):
            counts = df["reason_code"].value_counts()
            meta["reasons"] = dg.MetadataValue.md(
                "| reason | count |\n|---|---|\n"
                + "".join(f"| {r} | {n} |\n" for r, n in counts.items())
            )
        yield dg.Output(df, output_name=name, metadata=meta)

    files = files_in_batch(inbox_store, str(key))
    problems = unaccounted_files(files, result.scan_manifest, result.file_quarantine)
    yield dg.AssetCheckResult(
        check_name="every_file_accounted_for",
        asset_key="scan_manifest",
        passed=not problems["missing"] and not problems["duplicated"],
        metadata={"files": len(files), **{k: ", ".join(v) or "-" for k, v in problems.items()}},
    )
    gap = unaccounted_pages(result.scan_manifest, result.page_images, result.page_quarantine)
    yield dg.AssetCheckResult(
        check_name="every_page_accounted_for",
        asset_key="page_images",
        passed=gap == 0,
        metadata={"unaccounted_pages": gap},
    )
    missing = [u for u in result.page_images["image_uri"] if not store.exists(u)]
    yield dg.AssetCheckResult(
        check_name="page_images_stored",
        asset_key="page_images",
        passed=not missing,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"missing": len(missing), "first_missing": missing[0] if missing else "-"},
    )
