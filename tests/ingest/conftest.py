"""One batch folder holding every defect ingest knows, built once and ingested once per mode."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from pipelines.ingest.batch import IngestResult, ingest_batch
from pipelines.storage import Storage
from tests.ingest.helpers import (
    blank_page,
    jpeg_bytes,
    pdf_bytes,
    png_bytes,
    text_page,
    tiff_bytes,
    write_manifest,
)

NOW = datetime(2024, 9, 5, 8, 30, tzinfo=UTC)
DISTRICT, SCHOOL, BATCH = "q1", "thcs-le-loi", "lo-001"
BATCH_ID = f"{DISTRICT}/{SCHOOL}/{BATCH}"


@dataclass(frozen=True)
class Batch:
    inbox: Path
    folder: Path
    """The batch folder (inbox/<district>/<school>/<batch>)."""
    upright: dict[str, Image.Image]
    """The upright page each rotated input should come back as."""

    def run(self, storage_url: str, *, workers: int = 1, progress=None) -> IngestResult:
        return ingest_batch(
            Storage(str(self.inbox)),
            BATCH_ID,
            Storage(storage_url),
            batch_id=BATCH_ID,
            district=DISTRICT,
            school=SCHOOL,
            workers=workers,
            now=NOW,
            progress=progress,
        )


def build_batch(root: Path) -> Batch:
    folder = root / "inbox" / DISTRICT / SCHOOL / BATCH
    (folder / "sub").mkdir(parents=True)
    pages = [text_page(seed=i) for i in range(8)]

    book1 = pdf_bytes([pages[0], pages[1], blank_page(seed=1)])
    (folder / "book1.pdf").write_bytes(book1)
    (folder / "book1_copy.pdf").write_bytes(book1)  # scanned twice
    (folder / "upside_down.png").write_bytes(png_bytes(pages[2].rotate(180)))
    (folder / "exif3.jpg").write_bytes(jpeg_bytes(pages[3], orientation=3))
    (folder / "exif6.jpg").write_bytes(jpeg_bytes(pages[4], orientation=6))
    (folder / "multi.tif").write_bytes(tiff_bytes(pages[:4]))
    (folder / "short.tif").write_bytes(tiff_bytes([pages[5], pages[6]]))
    raw = tiff_bytes(pages[5:8], compression=None)
    (folder / "cut.tif").write_bytes(raw[:-50_000])  # last frame cut short
    (folder / "trunc.pdf").write_bytes(pdf_bytes([pages[5], pages[6]])[:60_000])
    (folder / "trunc.jpg").write_bytes(jpeg_bytes(pages[7])[:40_000])
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "notes.docx").write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    (folder / "extra.png").write_bytes(png_bytes(pages[6]))
    (folder / "sub" / "page.png").write_bytes(png_bytes(pages[7], dpi=150))

    write_manifest(
        folder,
        [
            {"file": "book1.pdf", "book_ref": "HB-001", "pages": "3", "cap_hoc": "THCS"},
            {"file": "book1_copy.pdf", "book_ref": "HB-001"},
            {"file": "upside_down.png", "book_ref": "HB-002", "first_page_no": "1"},
            {"file": "exif3.jpg", "book_ref": "HB-002", "first_page_no": "2"},
            {"file": "exif6.jpg", "book_ref": "HB-002", "first_page_no": "3"},
            {"file": "multi.tif", "book_ref": "HB-003", "pages": "4", "note": "bìa hơi mờ"},
            {"file": "short.tif", "book_ref": "HB-004", "pages": "3"},
            {"file": "cut.tif", "book_ref": "HB-005", "pages": "3"},
            {"file": "trunc.pdf", "book_ref": "HB-006"},
            {"file": "trunc.jpg", "book_ref": "HB-007"},
            {"file": "empty.pdf", "book_ref": "HB-008"},
            {"file": "notes.docx", "book_ref": "HB-009"},
            {"file": "ghost.pdf", "book_ref": "HB-010"},
            {"file": "sub\\page.png", "book_ref": "HB-011", "pages": "many", "first_page_no": "5"},
        ],
    )
    return Batch(
        inbox=root / "inbox",
        folder=folder,
        upright={"upside_down.png": pages[2], "exif3.jpg": pages[3], "exif6.jpg": pages[4]},
    )


@pytest.fixture(scope="session")
def batch(tmp_path_factory) -> Batch:
    return build_batch(tmp_path_factory.mktemp("batch"))


@pytest.fixture(scope="session")
def storage_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("storage")


@pytest.fixture(scope="session")
def result(batch: Batch, storage_dir: Path) -> IngestResult:
    """The batch ingested serially into a local storage folder."""
    return batch.run(str(storage_dir), workers=1)
