"""Shared image helpers for the OCR stage: reference forms, ink maps, correlation."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from pipelines.contracts import Template
from pipelines.forms.draw import render_blank

PAGE_DPI = 300  # decode_page hands every page over at this resolution


@lru_cache(maxsize=32)
def reference_ink(template: Template, dpi: int) -> np.ndarray:
    """The blank form of ``template`` at ``dpi`` as a float32 ink map (0 paper … 1 ink), cached."""
    gray = np.asarray(render_blank(template, dpi), dtype=np.uint8)
    out = ink_map(gray, dpi)
    out.setflags(write=False)
    return out


def ink_map(gray: np.ndarray, dpi: int) -> np.ndarray:
    """Ink as float32 in [0, 1], lightly blurred so small misalignments still overlap."""
    ink = (255.0 - gray.astype(np.float32)) / 255.0
    k = max(3, round(dpi / 25.4 * 0.6) | 1)  # ~0.6 mm
    return cv2.GaussianBlur(ink, (k, k), 0)


def downscale(gray: np.ndarray, from_dpi: int, to_dpi: int) -> np.ndarray:
    if from_dpi == to_dpi:
        return gray
    s = to_dpi / from_dpi
    w, h = max(1, round(gray.shape[1] * s)), max(1, round(gray.shape[0] * s))
    return cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA)


def fit_canvas(img: np.ndarray, shape: tuple[int, int], fill: float = 0.0) -> np.ndarray:
    """Crop or pad ``img`` (top-left anchored) to ``shape``."""
    out = np.full(shape, fill, dtype=img.dtype)
    h, w = min(shape[0], img.shape[0]), min(shape[1], img.shape[1])
    out[:h, :w] = img[:h, :w]
    return out


def ncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Zero-mean normalized correlation of two same-shaped images, clipped to [0, 1]."""
    if mask is not None:
        a, b = a[mask], b[mask]
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    if den < 1e-9:
        return 0.0
    return float(min(1.0, max(0.0, (a * b).sum() / den)))


def ecc_affine(
    ref: np.ndarray, img: np.ndarray, init: np.ndarray, iterations: int, eps: float = 1e-4,
    motion: int = cv2.MOTION_AFFINE,
) -> np.ndarray | None:
    """ECC warp (ref coords → img coords, 2x3 or 3x3) from ``init``; None when ECC fails."""
    warp = init.astype(np.float32).copy()
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, eps)
    try:
        _, warp = cv2.findTransformECC(ref, img, warp, motion, criteria, None, 1)
    except cv2.error:
        return None
    return warp


def initial_shift(ref: np.ndarray, img: np.ndarray) -> np.ndarray:
    """A translation-only 2x3 warp (ref → img) from phase correlation."""
    (dx, dy), _ = cv2.phaseCorrelate(ref.astype(np.float64), img.astype(np.float64))
    return np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)


def coarse_affine(ref: np.ndarray, img: np.ndarray, iterations: int = 40) -> np.ndarray:
    """Best 2x3 affine (ref → img) from a phase-correlation start, identity if ECC fails."""
    best, best_score = np.eye(2, 3, dtype=np.float32), -1.0
    # Phase correlation can be fooled by dense filled-in text; try the unshifted start too.
    for init in (np.eye(2, 3, dtype=np.float32), initial_shift(ref, img)):
        warp = ecc_affine(ref, img, init, iterations)
        if warp is None:
            continue
        score = ncc(ref, warp_ink(img, warp, ref.shape))
        if score > best_score:
            best, best_score = warp, score
    return best


def warp_ink(img: np.ndarray, warp_ref_to_img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``img`` resampled into the reference frame (zero ink outside the page)."""
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    if warp_ref_to_img.shape == (3, 3):
        return cv2.warpPerspective(img, warp_ref_to_img, (shape[1], shape[0]), flags=flags)
    return cv2.warpAffine(img, warp_ref_to_img, (shape[1], shape[0]), flags=flags)
