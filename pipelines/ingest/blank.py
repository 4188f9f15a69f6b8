"""Blank pages: the share of ink on the sheet, ignoring paper noise and scanner edges.

Measured on the half-resolution (150 dpi) working copy the orientation step uses too:
downscaling by area averaging already halves the sensor noise, and strokes of pen
and print (≥ 0.2 mm) stay several pixels wide.

1. Flatten the paper: divide by a background estimate (a max filter wider than any
   stroke, then a blur), so gutter shadows and uneven lighting become white.
2. Binarize with Otsu, but never call a pixel ink unless it is at least
   ``MIN_INK_CONTRAST`` darker than its local paper: on an empty sheet Otsu would
   split the noise in two, and show-through from the back of the sheet stays out.
3. Drop specks smaller than ``MIN_SPECK_MM2`` (dust, sensor noise) and any component
   touching the border of the inner area (``EDGE_MARGIN`` of the sheet is ignored
   outright): the dark bands a scanner leaves along the sheet's edges and the spine.
4. ``ink_ratio`` = ink pixels / inner area; blank when below ``BLANK_MAX_INK_RATIO``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Outer band of the sheet ignored on every side (2.5 % ≈ 5 mm on A4): scanner lid
# edges, punch holes, the spine shadow of a book laid on the glass.
EDGE_MARGIN = 0.025
# Ink is at least this much darker than its local paper (normalized 0–255 scale):
# ballpoint and print are 60–90 % darker, show-through 10–25 %, sensor noise < 10 %.
MIN_INK_CONTRAST = 0.33
# Components smaller than this are dust or noise: 0.5 mm² is a blot 0.8 mm across.
# Letters, digits and signature strokes are connected pieces of several mm²; what
# goes are full stops, diacritic dots and scanner dust (measured: 300 specks up to
# 0.5 mm across on an empty sheet left no ink at all).
MIN_SPECK_MM2 = 0.5
# Calibrated on synthetic 300 dpi A4 sheets (tests/ingest/test_blank.py): empty sheets
# with noise (σ 15), 300 dust specks, a hair, show-through, edge and gutter shadows and
# uneven light all measure 0.0; the sparsest pages with writing measure a handwritten
# date 0.0006, a signature 0.0005, one printed line 0.0005, one handwritten word
# 0.00016 (0.0001 in pencil), one handwritten digit 0.00003. 0.00002 is about 1 mm² of
# ink on A4: a page is blank only when it carries less than one stray blot, because
# dropping a page with writing is worse than sending an empty page to OCR.
BLANK_MAX_INK_RATIO = 0.00002


@dataclass(frozen=True)
class InkMeasure:
    ink_ratio: float
    is_blank: bool


def measure_ink(gray: np.ndarray, *, dpi: float) -> InkMeasure:
    """Ink share of a uint8 gray page at ``dpi``; see the module docstring."""
    h, w = gray.shape
    my, mx = int(h * EDGE_MARGIN), int(w * EDGE_MARGIN)
    inner = gray[my : h - my, mx : w - mx]
    if inner.size == 0:
        return InkMeasure(0.0, True)

    px_per_mm = dpi / 25.4
    # Background: a max filter wider than strokes (≈ 2.5 mm), smoothed.
    k = max(3, round(2.5 * px_per_mm) | 1)
    background = cv2.dilate(inner, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    background = cv2.blur(background, (k, k))
    flat = cv2.divide(inner, np.maximum(background, 1), scale=255)

    otsu, _ = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    threshold = min(otsu, 255 * (1 - MIN_INK_CONTRAST))
    ink = (flat < threshold).astype(np.uint8)

    n, _labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if n <= 1:
        return InkMeasure(0.0, True)
    area = stats[1:, cv2.CC_STAT_AREA]
    x0 = stats[1:, cv2.CC_STAT_LEFT]
    y0 = stats[1:, cv2.CC_STAT_TOP]
    x1 = x0 + stats[1:, cv2.CC_STAT_WIDTH]
    y1 = y0 + stats[1:, cv2.CC_STAT_HEIGHT]
    ih, iw = inner.shape
    touches_edge = (x0 == 0) | (y0 == 0) | (x1 >= iw) | (y1 >= ih)
    min_area = MIN_SPECK_MM2 * px_per_mm * px_per_mm
    keep = (area >= min_area) & ~touches_edge
    ratio = float(area[keep].sum()) / float(inner.size)
    return InkMeasure(round(ratio, 6), ratio < BLANK_MAX_INK_RATIO)
