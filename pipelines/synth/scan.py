"""The worker side: draw a planned book's pages, scan-degrade them, write its files.

``scan_book`` is a pure function of its ``BookPlan`` (every random draw is seeded
per page), so the bytes on disk do not depend on which process runs it or in
which order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipelines.synth.degrade import degrade
from pipelines.synth.files import write_jpeg, write_pdf, write_png, write_tiff
from pipelines.synth.plan import BookPlan, FilePlan
from pipelines.synth.render import render_page


@dataclass(frozen=True)
class BookResult:
    book_ref: str
    school: str
    batch: str
    pages: tuple[dict[str, object], ...]
    """One row per page written (truth/pages.parquet)."""


def init_worker() -> None:
    # One process per core does the parallelism; OpenCV's own threads would oversubscribe.
    cv2.setNumThreads(1)


def scan_book(plan: BookPlan) -> BookResult:
    rows: list[dict[str, object]] = []
    batch_dir = Path(plan.batch_dir)
    for fp in plan.files:
        rows.extend(_write_file(plan, fp, batch_dir / fp.name))
    return BookResult(plan.book_ref, plan.school, plan.batch, tuple(rows))


def _lossy(fp: FilePlan) -> bool:
    return fp.fmt in ("pdf", "jpeg") or (fp.fmt == "tiff" and fp.tiff_compression == "jpeg")


def _write_file(plan: BookPlan, fp: FilePlan, path: Path) -> list[dict[str, object]]:
    arrays, rows, quality = [], [], 95
    for k, pp in enumerate(fp.pages):
        rng = np.random.default_rng(np.random.SeedSequence(list(pp.spec.seed)))
        page = np.asarray(render_page(pp.spec))
        if not plan.color:
            page = cv2.cvtColor(page, cv2.COLOR_RGB2GRAY)
        page, eff = degrade(page, plan.difficulty, rng, plan.dpi, lossy_container=_lossy(fp))
        if k == 0:
            quality = eff.jpeg_quality  # one quality per file, as a scanner profile sets it
        if pp.upside_down:
            page = np.ascontiguousarray(page[::-1, ::-1])
        arrays.append(page)
        rows.append({
            "district": plan.district, "school": plan.school, "batch": plan.batch,
            "file": fp.name, "page_index": k, "book_ref": plan.book_ref,
            "book_page_no": pp.book_page_no, "template_id": pp.spec.template_id,
            "rotation_deg": 180 if pp.upside_down else 0, "exif_orientation": fp.exif_orientation,
            "dpi": plan.dpi, "skew_deg": eff.skew_deg, "scale": eff.scale,
            "blank": pp.spec.template_id is None, "difficulty": plan.difficulty,
            "color": plan.color, "format": fp.fmt,
        })
    if fp.fmt == "pdf":
        write_pdf(path, arrays, dpi=plan.dpi, quality=quality)
    elif fp.fmt == "tiff":
        write_tiff(path, arrays, dpi=plan.dpi, compression=fp.tiff_compression, quality=quality)
    elif fp.fmt == "jpeg":
        (page,) = arrays
        write_jpeg(path, page, dpi=plan.dpi, quality=quality, exif_orientation=fp.exif_orientation)
    elif fp.fmt == "png":
        (page,) = arrays
        write_png(path, page, dpi=plan.dpi)
    else:  # pragma: no cover - FileFormat is closed
        raise ValueError(f"unknown format {fp.fmt!r}")
    return rows
