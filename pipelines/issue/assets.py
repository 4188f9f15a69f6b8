"""The issue asset: each accepted book's signed XML + PDF, in the ledger, verified after write."""

import dagster as dg
import pandas as pd

from pipelines.issue.checks import CHECK_SPECS, verification_check
from pipelines.issue.keys import school_keys
from pipelines.issue.stage import issue_batch, verify_issued
from pipelines.partitions import scan_batches
from pipelines.resources import ReviewDatabaseResource, StorageResource
from pipelines.settings import get_settings


@dg.asset(
    group_name="issue", kinds={"python", "pdf", "xml"}, io_manager_key="io_manager",
    partitions_def=scan_batches,
    ins={"accepted_records": dg.AssetIn(), "normalized_records": dg.AssetIn(), "scan_manifest": dg.AssetIn()},
    description="Signed XML + PDF records of the batch's accepted books (one row per current version), "
    "written once under the issued root and recorded in the hash-chained ledger.",
    check_specs=CHECK_SPECS,
)
def issued_records(context: dg.AssetExecutionContext, accepted_records: pd.DataFrame,
                   normalized_records: pd.DataFrame, scan_manifest: pd.DataFrame,
                   review_db: ReviewDatabaseResource, issued: StorageResource):
    settings = get_settings()
    engine, storage = review_db.engine(), issued.storage()
    # Each school's own keys, checked against the trust roots before anything is written.
    r = issue_batch(accepted_records, normalized_records, scan_manifest, engine=engine, storage=storage,
                    keys=school_keys(settings), trust_roots=settings.trust_root_paths,
                    tsa_url=settings.tsa_url)
    problems = verify_issued(r.issued, storage, engine, settings.trust_root_paths)
    r.issued["verified"] = [not problems.get(rid) for rid in r.issued["record_id"]]
    context.log.info(f"issue {context.partition_key}: {r.new} new, {r.unchanged} unchanged, "
                     f"{len(r.replaced)} replaced by a later batch, {len(r.failed)} not issued, "
                     f"{len(problems)} failed verification")
    yield dg.Output(r.issued, metadata={
        "records": len(r.issued), "new": r.new, "unchanged": r.unchanged, "revoked_held": r.revoked,
        "replaced_by_later_batch": len(r.replaced),
        "replaced": dg.MetadataValue.json([{"record_id": i, "by_batch": b} for i, b in r.replaced[:50]]),
        "not_issued": len(r.failed),
        "not_issued_reasons": dg.MetadataValue.json([{"record_id": i, "why": w} for i, w in r.failed]),
        "ledger_retries": r.retries,
        "seconds": dg.MetadataValue.json({k: round(v, 2) for k, v in r.seconds.items()}),
    })
    yield verification_check(problems, len(r.issued))
