"""Checks that nothing a user gave us was dropped: plain functions over ingest's tables."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from pipelines.ingest.inbox import walk
from pipelines.ingest.manifest import MANIFEST_NAME
from pipelines.storage import Storage


def files_in_batch(inbox: Storage, batch_rel: str) -> list[str]:
    """Every entry of the batch folder but manifest.csv, links and FIFOs included (listed
    without following links, as ingest lists them)."""
    return [e.path for e in walk(inbox, batch_rel) if e.path != MANIFEST_NAME]


def unaccounted_files(
    files_on_disk: list[str], scan_manifest: pd.DataFrame, file_quarantine: pd.DataFrame
) -> dict[str, list[str]]:
    """Files missing from both tables, and files listed more than once across them.

    Rows of file_quarantine for manifest entries with no file on disk are fine:
    they account for a promise the manifest made, not for a file.
    """
    seen = Counter(list(scan_manifest["file_path"]) + list(file_quarantine["file_path"]))
    return {
        "missing": sorted(f for f in files_on_disk if seen[f] == 0),
        "duplicated": sorted(f for f, n in seen.items() if n > 1),
    }


def unaccounted_pages(
    scan_manifest: pd.DataFrame, page_images: pd.DataFrame, page_quarantine: pd.DataFrame
) -> int:
    """Pages found in accepted files minus pages stored or quarantined (0 when all add up)."""
    found = int(scan_manifest["pages_found"].sum()) if len(scan_manifest) else 0
    decoded_bad = int((page_quarantine["page_index"] >= 0).sum()) if len(page_quarantine) else 0
    return found - len(page_images) - decoded_bad
