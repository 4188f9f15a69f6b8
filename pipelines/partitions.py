"""Scan batches are the unit of work: one Dagster partition per inbox batch folder."""

from __future__ import annotations

import dagster as dg

# Keys are batch keys (pipelines.ids.BatchKey): "<district>/<school>/<batch>", the batch
# folder's path below the inbox, so a key names its folder and its outputs without a lookup table.
scan_batches = dg.DynamicPartitionsDefinition(name="scan_batches")
