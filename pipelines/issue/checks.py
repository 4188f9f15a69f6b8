"""Issue's asset check: every record file written verifies."""

import dagster as dg

from pipelines.checks import preview

EVERY_RECORD_VERIFIES = "every_record_verifies"

CHECK_SPECS = [
    dg.AssetCheckSpec(EVERY_RECORD_VERIFIES, asset="issued_records", blocking=True,
                      description="Every file written verifies: signatures, chain to the trust roots, PDF "
                      "difference analysis, XSD, ledger status current."),
]


def verification_check(problems: dict[str, list[str]], records: int) -> dg.AssetCheckResult:
    """``problems``: record id → what failed verification (verify_issued); ``records``: rows issued."""
    return dg.AssetCheckResult(
        check_name=EVERY_RECORD_VERIFIES, passed=not problems,
        metadata={"records": records,
                  "failed": dg.MetadataValue.json({rid: p[:3] for rid, p in list(problems.items())[:20]}),
                  "record_ids": preview(problems)})
