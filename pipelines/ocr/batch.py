"""OCR one scan batch: every stored, non-blank page → its layout and one reading per field.

Per page, in a worker process (``pipelines.parallel``; tasks are page ids and
paths, never pixels, so memory stays flat in the batch size):

1. load the page image ingest stored (upright, 300 dpi gray);
2. classify it: ORB features matched to every template (``classify``); the best
   template's registration is refined (``align``);
3. a page with no matching template (``unknown_layout``) or whose registration is
   not trusted (``alignment_failed``) is not read with the template's boxes: it is
   read whole by Tesseract (``fullpage``) and that text is kept as one reading, so a
   reviewer has something to start from; validate flags every field of such a page;
4. otherwise the page is warped into the template's frame, every field is read
   (``engine.read_fields``), and each field's crop is stored for the review console.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import pandas as pd

from pipelines import tess
from pipelines.contracts import templates
from pipelines.frames import to_frame
from pipelines.ocr.align import page_box, page_features, warp_to_template
from pipelines.ocr.classify import classify_features
from pipelines.ocr.engine import FieldReading, read_fields
from pipelines.ocr.fullpage import FULL_PAGE_CONFIG, FULL_PAGE_LANG, full_page_words, page_text
from pipelines.parallel import WorkerDied, map_unordered
from pipelines.storage import Storage

log = logging.getLogger(__name__)

READ_DPI = 300
CROP_PNG = (cv2.IMWRITE_PNG_COMPRESSION, 1)
FULL_PAGE_FIELD = "page_text"
"""field_id of the single reading of a page read whole (unknown layout, failed alignment)."""
UNKNOWN_TEMPLATE = "unknown"

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class OcrContext:
    storage: Storage
    batch_id: str
    store_crops: bool = True


@dataclass(frozen=True)
class OcrTask:
    page_id: str
    book_ref: str
    book_page_no: int
    image_uri: str


@dataclass(frozen=True)
class PageOcr:
    layout: dict[str, Any]
    readings: list[dict[str, Any]]
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time per step: load, classify, warp, read, crops, full_page."""


def crop_uri(batch_id: str, page_id: str, field_id: str) -> str:
    return f"crops/{batch_id}/{page_id}/{field_id}.png"


def _load(storage: Storage, rel: str) -> np.ndarray:
    data = np.frombuffer(storage.read_bytes(rel), np.uint8)
    gray = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    if gray is None:  # ingest wrote it and hashed it: storage, not the scan, is at fault
        raise OSError(f"stored page image {rel} cannot be decoded")
    return gray


def ocr_page(ctx: OcrContext, task: OcrTask) -> PageOcr:
    """Classify, align and read one stored page (runs in a worker process)."""
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    gray = _load(ctx.storage, task.image_uri)
    seconds["load"] = time.perf_counter() - t

    t = time.perf_counter()
    c = classify_features(page_features(gray), dpi=READ_DPI)
    seconds["classify"] = time.perf_counter() - t
    a = c.alignment
    status = "unknown_layout" if c.template_id is None else ("ok" if a and a.ok else "alignment_failed")
    layout = {
        "batch_id": ctx.batch_id, "page_id": task.page_id, "book_ref": task.book_ref,
        "book_page_no": task.book_page_no, "page_kind": c.page_kind, "template_id": c.template_id,
        "classification_score": float(c.score),
        "alignment_method": a.method if a else None,
        "alignment_score": float(a.score) if a else None,
        "transform": [float(v) for v in a.homography.ravel()] if a else None,
        "status": status,
    }
    base = {"batch_id": ctx.batch_id, "page_id": task.page_id, "book_ref": task.book_ref}
    if status != "ok":
        t = time.perf_counter()
        text, conf = page_text(full_page_words(gray))
        seconds["full_page"] = time.perf_counter() - t
        h, w = gray.shape
        reading = {
            **base, "template_id": c.template_id or UNKNOWN_TEMPLATE, "field_id": FULL_PAGE_FIELD,
            "field_type": "free_text", "text": text, "confidence": round(conf, 4),
            "engine_confidence": round(conf, 4), "checks": "",
            "style": "", "style_confidence": 1.0,
            "candidates": [text] if text else [], "candidate_probs": [round(conf, 4)] if text else [],
            "engine": f"tesseract {tess.version()} (full page)",
            "engine_settings": f"lang={FULL_PAGE_LANG} {FULL_PAGE_CONFIG}",
            "crop_uri": task.image_uri, "box_px": [0.0, 0.0, float(w), float(h)],
        }
        return PageOcr(layout, [reading], seconds)

    assert c.template_id is not None and a is not None
    tpl = templates()[c.template_id]
    t = time.perf_counter()
    aligned = warp_to_template(gray, a, tpl, READ_DPI)
    seconds["warp"] = time.perf_counter() - t
    t = time.perf_counter()
    checked = read_fields(aligned, tpl, READ_DPI)
    seconds["read"] = time.perf_counter() - t
    t = time.perf_counter()
    uris = [_store_crop(ctx, task.page_id, aligned, r) for r in checked]
    seconds["crops"] = time.perf_counter() - t
    readings = [{
        **base, "template_id": c.template_id, "field_id": r.field_id, "field_type": r.field_type,
        "text": r.text, "confidence": float(r.confidence),
        "engine_confidence": float(r.engine_confidence), "checks": ";".join(r.checks),
        "style": r.style, "style_confidence": float(r.style_confidence),
        "candidates": [c.text for c in r.candidates],
        "candidate_probs": [round(c.p, 6) for c in r.candidates],
        "engine": r.engine, "engine_settings": r.settings, "crop_uri": uri,
        "box_px": [round(v, 1) for v in page_box(a, r.box_px)],
    } for r, uri in zip(checked, uris, strict=True)]
    return PageOcr(layout, readings, seconds)


def _store_crop(ctx: OcrContext, page_id: str, aligned: np.ndarray, r: FieldReading) -> str | None:
    """Store the field's crop of the aligned page for the review console; its URI (None when not stored)."""
    x, y, w, h = r.box_px
    if not (ctx.store_crops and w and h):
        return None
    uri = crop_uri(ctx.batch_id, page_id, r.field_id)
    ok, buf = cv2.imencode(".png", aligned[y : y + h, x : x + w], CROP_PNG)
    if ok:
        ctx.storage.write_bytes(uri, buf.tobytes())
    return uri


@dataclass
class OcrResult:
    page_layouts: pd.DataFrame
    field_readings: pd.DataFrame
    seconds: dict[str, float]
    """Summed wall time per step over all pages (profile)."""
    failed_pages: list[tuple[str, str]]
    """(page_id, why) for pages whose worker died: they have no layout row."""

    def summary(self) -> dict[str, Any]:
        status = Counter(self.page_layouts["status"]) if len(self.page_layouts) else Counter()
        fr = self.field_readings
        return {
            "pages": len(self.page_layouts),
            "by_status": dict(sorted(status.items())),
            "fields": len(fr),
            "empty_fields": int((fr["text"] == "").sum()) if len(fr) else 0,
            "mean_confidence": round(float(fr["confidence"].mean()), 4) if len(fr) else None,
            "failed_pages": len(self.failed_pages),
        }


def tasks_for(page_images: pd.DataFrame) -> Iterator[OcrTask]:
    """One task per non-blank page, in book order."""
    pages = page_images[~page_images["is_blank"].astype(bool)]
    pages = pages.sort_values(["book_ref", "book_page_no", "page_id"])
    for r in pages.itertuples(index=False):
        yield OcrTask(r.page_id, r.book_ref, int(r.book_page_no), r.image_uri)


def ocr_batch(
    storage: Storage,
    page_images: pd.DataFrame,
    *,
    batch_id: str,
    workers: int = 1,
    store_crops: bool = True,
    progress: Progress | None = None,
) -> OcrResult:
    """Read every non-blank page of ``page_images`` (one batch) from ``storage``.

    ``workers``: processes; 1 runs in this process, in order. ``progress(done, total)``
    is called after each page. A page whose worker process dies (a crash inside a C
    library) is reported in ``failed_pages`` and the rest of the batch goes on.
    """
    ctx = OcrContext(storage=storage, batch_id=batch_id, store_crops=store_crops)
    tasks = list(tasks_for(page_images))
    layouts: list[dict] = []
    readings: list[dict] = []
    seconds: Counter[str] = Counter()
    failed: list[tuple[str, str]] = []
    log.info("ocr %s: %d page(s), %d worker(s)", batch_id, len(tasks), workers)
    for done, (task, out) in enumerate(map_unordered(ocr_page, ctx, tasks, workers=workers), start=1):
        if isinstance(out, WorkerDied):
            failed.append((task.page_id, out.detail))
            log.error("ocr %s: page %s: %s", batch_id, task.page_id, out.detail)
        else:
            layouts.append(out.layout)
            readings.extend(out.readings)
            seconds.update(out.seconds)
        if progress is not None:
            progress(done, len(tasks))
    layouts.sort(key=lambda r: (r["book_ref"], r["book_page_no"], r["page_id"]))
    order = {r["page_id"]: i for i, r in enumerate(layouts)}
    readings.sort(key=lambda r: order[r["page_id"]])  # stable: template order within a page
    return OcrResult(
        page_layouts=to_frame("page_layouts", layouts),
        field_readings=to_frame("field_readings", readings),
        seconds={k: round(v, 3) for k, v in sorted(seconds.items())},
        failed_pages=failed,
    )
