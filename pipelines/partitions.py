"""Scan batches are the unit of work: one Dagster partition per inbox batch folder."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

# Keys are "<district>/<school>/<batch>", the batch folder's path below the inbox,
# so a key names its folder and its outputs without a lookup table.
scan_batches = dg.DynamicPartitionsDefinition(name="scan_batches")


@dataclass(frozen=True)
class BatchKey:
    district: str
    school: str
    batch: str

    @classmethod
    def parse(cls, key: str) -> BatchKey:
        parts = key.split("/")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"batch key {key!r} is not district/school/batch")
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.district}/{self.school}/{self.batch}"
