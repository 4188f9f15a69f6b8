"""Align a page to its template: ECC on a downscaled page, then refined at a higher scale."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipelines.contracts import Template
from pipelines.forms.draw import page_size_px
from pipelines.ocr._image import (
    PAGE_DPI,
    coarse_affine,
    downscale,
    ecc_affine,
    fit_canvas,
    ink_map,
    ncc,
    reference_ink,
    warp_ink,
)

COARSE_DPI = 50
FINE_DPI = 100
"""At 100 dpi one pixel is 0.25 mm: residual error after refinement is well under a
score cell's 7.5 mm height and the crop margin."""

MIN_SCORE = 0.2
"""Correlation of the warped page with the blank form below which the alignment is not
trusted. Same scale as classify.MIN_SCORE: identity pages (dense filled-in text) reach
only ~0.3 when aligned right; year pages ~0.6."""


@dataclass(frozen=True)
class Alignment:
    homography: np.ndarray
    """3x3, page pixels (at page_dpi) → template pixels (at the dpi asked for)."""
    score: float
    ok: bool
    method: str


def _scale(s: float) -> np.ndarray:
    return np.diag([s, s, 1.0])


def _h(warp: np.ndarray) -> np.ndarray:
    full = warp if warp.shape == (3, 3) else np.vstack([warp, [0, 0, 1]])
    return full.astype(np.float64)


def align_to_template(
    gray: np.ndarray, template: Template, dpi: int = 300, *, page_dpi: int = PAGE_DPI
) -> Alignment:
    """Homography mapping ``gray`` (at ``page_dpi``) onto ``template``'s form at ``dpi``."""
    ref_c = reference_ink(template, COARSE_DPI)
    img_c = fit_canvas(ink_map(downscale(gray, page_dpi, COARSE_DPI), COARSE_DPI), ref_c.shape)
    method = "ecc_affine"
    w_c = _h(coarse_affine(ref_c, img_c))  # template_c → page_c
    # Refine: homography at FINE_DPI, starting from the coarse warp in fine coordinates.
    k = FINE_DPI / COARSE_DPI
    ref_f = reference_ink(template, FINE_DPI)
    img_f = fit_canvas(ink_map(downscale(gray, page_dpi, FINE_DPI), FINE_DPI), ref_f.shape)
    init = _scale(k) @ w_c @ _scale(1 / k)
    w_f = ecc_affine(ref_f, img_f, init, 50, motion=cv2.MOTION_HOMOGRAPHY)
    if w_f is None:
        w_f = init
    else:
        w_f = _h(w_f)
        method = "ecc_affine+homography"
    score = ncc(ref_f, warp_ink(img_f, w_f.astype(np.float32), ref_f.shape))
    # page px → page_f px → template_f px → template px at dpi
    h = _scale(dpi / FINE_DPI) @ np.linalg.inv(w_f) @ _scale(FINE_DPI / page_dpi)
    h /= h[2, 2]
    return Alignment(homography=h, score=round(score, 4), ok=score >= MIN_SCORE, method=method)


def warp_to_template(
    gray: np.ndarray, alignment: Alignment, template: Template, dpi: int = 300
) -> np.ndarray:
    """The page resampled into the template's frame at ``dpi`` (white outside the page)."""
    size = page_size_px(template, dpi)
    return cv2.warpPerspective(
        gray, alignment.homography, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
        borderValue=255,
    )
