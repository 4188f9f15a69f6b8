"""Shared by the stages' asset checks (pipelines/<stage>/checks.py): a small preview of offending ids."""

from collections.abc import Iterable

import dagster as dg

PREVIEW = 10
"""Offending ids a check's metadata lists at most (the count is given beside them)."""


def preview(ids: Iterable[object]) -> dg.MetadataValue:
    """The first ``PREVIEW`` of ``ids`` (as strings), for a check's metadata: empty when the check passes."""
    out: list[str] = []
    for i in ids:
        if len(out) == PREVIEW:
            break
        out.append(str(i))
    return dg.MetadataValue.json(out)
