"""Coverage's asset check: the numbers add up across cells, schools and their sources."""

import dagster as dg

NUMBERS_ADD_UP = "numbers_add_up"

CHECK_SPECS = [
    dg.AssetCheckSpec(
        NUMBERS_ADD_UP, asset="coverage_schools", blocking=True,
        description="Cells add up to their school's row; the schools add up to the roster, the batches' "
        "tables, the review database and the ledger's current records; no cell has more done than "
        "expected."),
]


def numbers_check(problems: list[str]) -> dg.AssetCheckResult:
    """``problems``: what does not add up (coverage/recount.py; each names the column or school)."""
    return dg.AssetCheckResult(check_name=NUMBERS_ADD_UP, asset_key="coverage_schools", passed=not problems,
                               metadata={"problems": dg.MetadataValue.json(problems[:20])})
