"""Shared image helpers for the OCR stage: reference forms, ink maps, correlation, ECC."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from pipelines.contracts import Template
from pipelines.forms.draw import render_blank

PAGE_DPI = 300  # decode_page hands every page over at this resolution


@lru_cache(maxsize=32)
def reference_gray(template: Template, dpi: int) -> np.ndarray:
    """The blank form of ``template`` at ``dpi``, uint8 gray, cached (read-only)."""
    out = np.asarray(render_blank(template, dpi), dtype=np.uint8)
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
