"""Shared image helpers for the OCR stage: reference forms, ink maps, correlation."""

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


FORM_DILATE_MM = 0.35
"""Residual misregistration the form mask absorbs (USAC fits put boxes within ~1-2 px)."""


@lru_cache(maxsize=8)
def form_mask(template: Template, dpi: int) -> np.ndarray:
    """Where the blank form has ink at ``dpi``, widened by ``FORM_DILATE_MM``: bool, cached.

    Subtracting it from an aligned page drops the pre-printed labels, rules and dotted
    writing lines, leaving what was written or printed into the form.
    """
    ink = reference_gray(template, dpi) < 160
    k = max(3, round(FORM_DILATE_MM * dpi / 25.4) * 2 + 1)
    out = cv2.dilate(ink.astype(np.uint8), np.ones((k, k), np.uint8)) > 0
    out.setflags(write=False)
    return out
