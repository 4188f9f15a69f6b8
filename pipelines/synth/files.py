"""Scan file formats a district receives, and the batch manifest.

PDF (pages as embedded JPEG images), multi-page or single-page TIFF, JPEG (some
carrying an EXIF Orientation tag with the pixels stored turned, so an
EXIF-aware reader shows the page upright) and PNG. Every writer is
deterministic: same pixels, same bytes.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from pipelines.contracts.loader import read_yaml

Layout = Literal["pdf", "tiff_multi", "tiff_pages", "jpeg_pages", "png_pages"]
FileFormat = Literal["pdf", "tiff", "jpeg", "png"]
LAYOUT_FORMAT: dict[str, FileFormat] = {
    "pdf": "pdf", "tiff_multi": "tiff", "tiff_pages": "tiff", "jpeg_pages": "jpeg",
    "png_pages": "png",
}
EXTENSION: dict[str, str] = {"pdf": ".pdf", "tiff": ".tif", "jpeg": ".jpg", "png": ".png"}
MULTI_PAGE: frozenset[str] = frozenset({"pdf", "tiff_multi"})

# EXIF Orientation → np.rot90 turns (counter-clockwise) that store an upright page so
# that a reader applying the tag (PIL.ImageOps.exif_transpose) shows it upright again.
EXIF_STORE_TURNS: dict[int, int] = {1: 0, 3: 2, 6: 1, 8: 3}

# A fixed PDF date: Pillow stamps "now" by default, which would break byte-identical output.
PDF_DATE = time.struct_time((2025, 6, 1, 8, 0, 0, 6, 152, 0))


def manifest_columns() -> list[str]:
    """The manifest.csv columns, in contract order (data_contracts/ingest/manifest.yaml)."""
    return [c["name"] for c in read_yaml("ingest/manifest.yaml")["columns"]]


def to_pil(page: np.ndarray) -> Image.Image:
    return Image.fromarray(page, "RGB" if page.ndim == 3 else "L")


def store_for_exif(page: np.ndarray, orientation: int) -> np.ndarray:
    """Pixels as a camera/scanner app stores them when it tags ``orientation``."""
    return np.ascontiguousarray(np.rot90(page, EXIF_STORE_TURNS[orientation]))


def write_pdf(path: Path, pages: Sequence[np.ndarray], *, dpi: int, quality: int) -> None:
    ims = [to_pil(p) for p in pages]
    ims[0].save(
        path, "PDF", save_all=True, append_images=ims[1:], resolution=float(dpi),
        quality=quality, creationDate=PDF_DATE, modDate=PDF_DATE, producer="hocba synth",
    )


def write_tiff(path: Path, pages: Sequence[np.ndarray], *, dpi: int, compression: str,
               quality: int) -> None:
    ims = [to_pil(p) for p in pages]
    extra = {"quality": quality} if compression == "jpeg" else {}
    ims[0].save(path, "TIFF", save_all=True, append_images=ims[1:], dpi=(dpi, dpi),
                compression=compression, **extra)


def write_jpeg(path: Path, page: np.ndarray, *, dpi: int, quality: int,
               exif_orientation: int = 1) -> None:
    """``page`` upright; with ``exif_orientation`` != 1 the pixels are stored turned
    and tagged, as phones and some scanner apps do."""
    kwargs: dict = {"quality": quality, "dpi": (dpi, dpi)}
    if exif_orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
        page = store_for_exif(page, exif_orientation)
    to_pil(page).save(path, "JPEG", **kwargs)


def write_png(path: Path, page: np.ndarray, *, dpi: int) -> None:
    # compress_level 1: noisy scans barely compress better at 9, and 9 is ~10x slower.
    to_pil(page).save(path, "PNG", dpi=(dpi, dpi), compress_level=1)


def write_manifest(batch_dir: Path, rows: Sequence[dict[str, object]]) -> Path:
    """Write manifest.csv (UTF-8) through a temporary name, so that a watcher never
    sees a half-written manifest: its appearance means the batch is complete."""
    cols = manifest_columns()
    tmp = batch_dir / ".manifest.csv.part"
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in cols})
    final = batch_dir / "manifest.csv"
    tmp.replace(final)
    return final
