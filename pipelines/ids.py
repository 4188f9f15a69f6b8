"""The names the pipeline gives its units of work: batch keys and page ids.

A batch key is ``<district>/<school>/<batch>``, the batch folder's path below the
inbox, so a key names its folder and its outputs without a lookup table (it is also
the Dagster partition key, ``pipelines.partitions.scan_batches``). A page id names one
decoded page of a scanned file by the file's content, so a re-scan of the same bytes
gets the same ids. No Dagster and no I/O here: every layer may import it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BatchKey:
    district: str
    """The district (quận/huyện) code, the inbox's first folder level."""
    school: str
    """The school code, the second level."""
    batch: str
    """The batch folder's own name ("b001"), the third level."""

    @classmethod
    def parse(cls, key: str) -> BatchKey:
        """The parts of ``district/school/batch``; ValueError for any other shape."""
        parts = key.split("/")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"batch key {key!r} is not district/school/batch")
        return cls(*parts)

    @classmethod
    def lenient(cls, key: str) -> BatchKey | None:
        """The parts of a well-formed key; None for any other shape (callers that only show it)."""
        try:
            return cls.parse(key)
        except ValueError:
            return None

    def __str__(self) -> str:
        return f"{self.district}/{self.school}/{self.batch}"


def batch_name(key: str) -> str:
    """The batch's own part of its key ("b001" of "760/79760403/b001"); the key itself if it has no "/"."""
    return key.rsplit("/", 1)[-1]


def page_id(file_sha256: str, page_index: int) -> str:
    """Stable page id: first 16 hex of the file's sha256, '-p', 3-digit (0-based) page index."""
    return f"{file_sha256[:16]}-p{page_index:03d}"
