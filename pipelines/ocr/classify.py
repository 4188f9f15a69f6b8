"""Which template a page is: compare it with every template's blank form at low resolution.

Each reference is the template's printed form (``render_blank``) at ``CLASSIFY_DPI``.
The page is downscaled to the same resolution, coarsely aligned to each reference
(phase correlation, then an affine ECC, which absorbs skew of a few degrees and small
scale changes), and scored by the normalized correlation of the two ink maps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipelines.contracts import Template, templates
from pipelines.ocr._image import (
    PAGE_DPI,
    coarse_affine,
    downscale,
    fit_canvas,
    ink_map,
    ncc,
    reference_ink,
    warp_ink,
)

CLASSIFY_DPI = 50
"""Low enough that 5 templates x ECC cost tens of ms; high enough that table grids and
label lines still differ between layouts (rules are ~1 px, label rows ~20 px)."""

MIN_SCORE = 0.2
"""Below this the page matches no template. Measured on the clean synthetic corpus:
right-template scores 0.28-0.30 on identity pages (dense filled-in text, sparse print)
and ~0.57-0.63 on year pages; blank and random-noise pages score ~0. The sibling
layout (THCS tt22 vs tt58) scores ~0.08 below the right one, so argmax decides."""


@dataclass(frozen=True)
class Classification:
    template_id: str | None
    page_kind: str
    """The template's page_kind, or "unknown" when no template matched."""
    score: float
    """Correlation with the best template, in [0, 1]."""
    scores: dict[str, float] = field(default_factory=dict)
    """Correlation with every template, by template_id."""


def page_ink(gray: np.ndarray, dpi: int, page_dpi: int = PAGE_DPI) -> np.ndarray:
    return ink_map(downscale(gray, page_dpi, dpi), dpi)


def match_score(ink: np.ndarray, template: Template, dpi: int = CLASSIFY_DPI) -> float:
    """Correlation of a page's ink map (at ``dpi``) with ``template``'s form after coarse alignment."""
    ref = reference_ink(template, dpi)
    img = fit_canvas(ink, ref.shape)
    if float(img.std()) < 1e-3:  # blank page: nothing to correlate
        return 0.0
    warp = coarse_affine(ref, img)
    return ncc(ref, warp_ink(img, warp, ref.shape))


def classify_page(gray: np.ndarray, *, page_dpi: int = PAGE_DPI) -> Classification:
    """The template ``gray`` (upright page at ``page_dpi``) was printed from, or unknown."""
    ink = page_ink(gray, CLASSIFY_DPI, page_dpi)
    scores = {tid: round(match_score(ink, t), 4) for tid, t in sorted(templates().items())}
    best = max(scores, key=lambda k: scores[k]) if scores else None
    if best is None or scores[best] < MIN_SCORE:
        return Classification(None, "unknown", scores.get(best, 0.0) if best else 0.0, scores)
    return Classification(best, templates()[best].page_kind, scores[best], scores)
