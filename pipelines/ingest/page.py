"""The per-page work: decode → blank? → orient → store. A pure function for a worker process.

``process_page(ctx, task)`` takes a small picklable context and task (a local file
path and a page index, never pixels) and returns a small ``PageOutcome``; one page's
pixels live only inside it, so memory stays flat whatever the batch size. Decode
problems come back as an outcome with ``error``; a storage failure raises (the run
should fail and be retried, not quarantine good pages).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import posixpath
import shutil
import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import IO

import cv2
import numpy as np
from PIL import Image

from pipelines.ingest import blank, orientation, raster
from pipelines.ingest.inbox import still_same_file
from pipelines.ingest.sniff import Format
from pipelines.storage import Storage

log = logging.getLogger(__name__)

# PNG settings, measured on synthetic 300 dpi scans (A4, sensor noise; 2 cores):
#   Pillow, zlib level 6 (default)      1280 ms  3.40 MB
#   Pillow, zlib level 3                 380 ms  3.79 MB
#   OpenCV, level 1, Huffman only, Paeth 135 ms  3.19 MB  ← this
# Scanner noise defeats LZ77 string matching; Paeth prediction + Huffman coding of
# the residuals is both the fastest and the smallest.
PNG_PARAMS = (
    cv2.IMWRITE_PNG_COMPRESSION, 1,
    cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY,
    cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_PAETH,
)  # fmt: skip


@dataclass(frozen=True)
class PageContext:
    storage: Storage
    """Where page images go (the storage root)."""


@dataclass(frozen=True)
class PageTask:
    file_no: int
    """Position of the file in the batch (manifest order): the parent's key."""
    path: str
    """Local path of the file to decode (the inbox file itself, or a spool copy)."""
    fmt: Format
    page_index: int
    image_uri: str
    """Where the page image goes, relative to the storage root."""
    refuse: str | None = None
    """A reason known before decoding not to decode it (e.g. absurd page size)."""
    identity: tuple[int, int] | None = None
    """(st_dev, st_ino) of the inbox file the parent checked and hashed; the decoders open
    ``path`` by name, so it must still be that file (None: a spool copy of our own)."""


@dataclass(frozen=True)
class PageOutcome:
    page_index: int
    image: dict | None = None
    """page_images columns the worker knows (the parent adds the file's), or None."""
    error: str | None = None
    """Technical detail (English) when the page could not be decoded."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time per step: decode, blank, orientation, write."""


def process_page(ctx: PageContext, task: PageTask) -> PageOutcome:
    seconds: dict[str, float] = {}
    if task.refuse:
        return PageOutcome(task.page_index, error=task.refuse)
    if not still_same_file(task.path, task.identity):
        return PageOutcome(task.page_index, error="the file was replaced in the inbox since it was "
                           "checked (a link or another file); not decoded")  # fmt: skip

    t0 = time.perf_counter()
    try:
        page = raster.decode_page(task.path, task.fmt, task.page_index)
    except raster.PageDecodeError as exc:
        return PageOutcome(task.page_index, error=str(exc))
    gray = page.gray
    small = orientation.half_scale(gray)
    t1 = time.perf_counter()
    seconds["decode"] = t1 - t0

    ink = blank.measure_ink(small, dpi=raster.TARGET_DPI * orientation.OSD_SCALE)
    t2 = time.perf_counter()
    seconds["blank"] = t2 - t1

    turned, confidence = 0, None
    if not ink.is_blank:
        found = orientation.detect_orientation(gray, small=small, dpi=raster.TARGET_DPI)
        turned, confidence = found.rotate_cw, found.confidence
        gray = orientation.rotate_cw(gray, turned)
    del small
    t3 = time.perf_counter()
    seconds["orientation"] = t3 - t2

    png = encode_png(gray)
    height, width = gray.shape
    del gray
    stored_sha, width, height = write_once(ctx.storage, task.image_uri, png, (width, height))
    seconds["write"] = time.perf_counter() - t3

    return PageOutcome(
        task.page_index,
        image={
            "image_uri": task.image_uri,
            "image_sha256": stored_sha,
            "source_dpi": page.source_dpi,
            "dpi": raster.TARGET_DPI,
            "width_px": width,
            "height_px": height,
            "exif_rotation": page.exif_rotation,
            "rotation_applied": turned,
            "orientation_confidence": confidence,
            "is_blank": ink.is_blank,
            "ink_ratio": ink.ink_ratio,
        },
        seconds=seconds,
    )


def encode_png(gray: np.ndarray) -> bytes:
    """8-bit gray PNG with its 300 dpi recorded (pHYs), byte-identical for equal pixels."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(gray), PNG_PARAMS)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {gray.shape} page as PNG")
    return _with_phys(buf.tobytes(), raster.TARGET_DPI)


def _with_phys(png: bytes, dpi: int) -> bytes:
    """Insert a pHYs chunk (pixels per metre) right after IHDR; OpenCV writes none."""
    ppm = round(dpi / 0.0254)
    body = b"pHYs" + struct.pack(">IIB", ppm, ppm, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body))
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    if png[12:16] != b"IHDR":
        raise RuntimeError("unexpected PNG layout: IHDR is not the first chunk")
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def write_once(
    storage: Storage, rel: str, data: bytes, dims: tuple[int, int]
) -> tuple[str, int, int]:
    """Store ``data`` at ``rel`` unless something is there already; never overwrite.

    Returns (sha256, width, height) of what is stored. Equal bytes already there: a
    re-run, nothing to do. Different bytes already there (a decoder or threshold that
    changed since): the stored image is kept, a warning logged, and the row describes
    the stored image, so the table and the storage always agree.
    """
    sha = hashlib.sha256(data).hexdigest()
    if storage.exists(rel):
        existing = storage.sha256(rel)
        if existing == sha:
            return sha, *dims
        log.warning("kept existing %s: it differs from this run's image (not overwritten)", rel)
        with storage.open(rel) as fh, Image.open(fh) as img:
            return existing, img.width, img.height
    atomic_write(storage, rel, data)
    return sha, *dims


def atomic_write(storage: Storage, rel: str, data: bytes) -> None:
    """Write ``data`` so that a reader (or a re-run after a crash) never sees half a file."""
    atomic_copy(storage, rel, io.BytesIO(data))


def atomic_copy(storage: Storage, rel: str, src: IO[bytes]) -> None:
    """Stream ``src`` into ``rel`` in 1 MiB chunks, atomically.

    Object stores make a PUT atomic by themselves; on a file system the bytes go to a
    temporary name in the same folder and are renamed into place.
    """
    if not storage.is_local:
        with storage.open(rel, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        return
    tmp = posixpath.join(posixpath.dirname(rel), f".{posixpath.basename(rel)}.tmp-{os.getpid()}")
    with storage.open(tmp, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    storage.fs.mv(storage.full(tmp), storage.full(rel))
