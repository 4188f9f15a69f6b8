"""Ingest assets: thin wiring of pipelines.ingest.batch into one Dagster step per batch."""


import dagster as dg

from pipelines.ids import BatchKey
from pipelines.ingest.accounting import files_in_batch
from pipelines.ingest.batch import ingest_batch
from pipelines.ingest.checks import CHECK_SPECS, ingest_checks
from pipelines.partitions import scan_batches
from pipelines.resources import InboxResource, RunSettingsResource, StorageResource, table_out

INGEST_TABLES = ("scan_manifest", "file_quarantine", "page_images", "page_quarantine")


@dg.multi_asset(
    outs={name: table_out(name, "ingest", {"python", "parquet"}) for name in INGEST_TABLES},
    partitions_def=scan_batches,
    check_specs=CHECK_SPECS,
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

    yield from ingest_checks(result, files_in_batch(inbox_store, str(key)), store)
