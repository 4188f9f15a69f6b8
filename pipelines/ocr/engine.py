"""Read a template's fields from an aligned page: crop, clean, decide each field's writing style,
and let the recognizer named for its (type, style) read it (``recognize/registry.py``).

A recognizer that crashes, runs past its time budget or answers garbage costs only
its own cells: they get an empty reading with confidence 0 and the check
``recognizer_failed`` or ``recognizer_timeout`` (validate flags them), and the page
goes on. A broken installation (``ConfigError``: a model file missing) stops the page.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np

from pipelines.contracts import FieldSpec, Template, field_types
from pipelines.errors import ConfigError
from pipelines.forms.draw import mm_to_px
from pipelines.ocr import plausibility
from pipelines.ocr._image import form_mask
from pipelines.recognize import registry
from pipelines.recognize.base import Candidate, Cell, Reading, StyleGuess
from pipelines.recognize.cells import detect_style
from pipelines.settings import get_settings

log = logging.getLogger(__name__)

EMPTY_ENGINE = "none (empty box)"
MARGIN_MM = 0.8
"""Crop margin around a box: room for residual misalignment; table rules are removed."""
SPECK_MM = 0.15
"""Ink components smaller than this square are noise. Not larger: the dot below
(dấu nặng) of 10-pt print is ~0.3 mm; the dotted writing line goes with the form mask."""
MIN_INK_PX_MM2 = 0.5
"""Less ink than this area (mm²) after cleaning means the box is empty."""


@dataclass(frozen=True)
class FieldReading:
    field_id: str
    field_type: str
    text: str
    confidence: float
    engine: str
    settings: str
    box_px: tuple[int, int, int, int]
    """x, y, w, h of the crop in the aligned page at the reading dpi."""
    engine_confidence: float = 1.0
    """The engine's own confidence, before the checks (``plausibility.py``) capped it."""
    checks: tuple[str, ...] = ()
    """Checks that lowered the confidence: implausible, disagree, page_unreliable,
    recognizer_failed, recognizer_timeout."""
    checkable: bool = False
    """Whether the field's type has a format or vocabulary to check the reading against."""
    style: str = ""
    """hand | print; '' for an empty box."""
    style_confidence: float = 1.0
    candidates: tuple[Candidate, ...] = ()
    """The recognizer's ranked readings; the first is ``text`` with the engine's confidence."""
    recognizer: str = ""
    """Name of the recognizer that read it (registry name); '' for an empty box."""


def _crop_box(spec: FieldSpec, dpi: int, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    x, y, w, h = spec.box
    x0 = max(0, mm_to_px(x - MARGIN_MM, dpi))
    y0 = max(0, mm_to_px(y - MARGIN_MM, dpi))
    x1 = min(shape[1], mm_to_px(x + w + MARGIN_MM, dpi))
    y1 = min(shape[0], mm_to_px(y + h + MARGIN_MM, dpi))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def clean_crop(
    crop: np.ndarray, dpi: int, margin_px: int = 0, form: np.ndarray | None = None
) -> np.ndarray:
    """Binary ink mask (uint8 0/255) of a crop with table rules, specks and intruders removed.

    An intruder is ink that enters the crop from outside the field's box (``margin_px``
    in from each edge): a signature's stroke, the stamp's ring, a neighbour's tall
    letter. A component touching the crop's edge with most of its ink in the margin
    belongs to something else and is dropped. ``form`` (bool, the crop's part of
    ``_image.form_mask``) is the pre-printed form's ink: dropped first.
    """
    blurred = cv2.GaussianBlur(crop, (3, 3), 0)
    _, ink = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    if float(crop.max()) - float(crop.min()) < 60:  # flat crop: Otsu would split paper noise
        return np.zeros_like(crop)
    if form is not None:
        ink[form] = 0
    h, w = ink.shape
    lines = np.zeros_like(ink)
    for kw, kh in ((max(10, int(w * 0.6)), 1), (1, max(10, int(h * 0.7)))):
        opened = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (kw, kh)))
        lines |= opened
    lines = cv2.dilate(lines, np.ones((3, 3), np.uint8))
    ink = cv2.bitwise_and(ink, cv2.bitwise_not(lines))
    ink = _drop_dotted_rules(ink, dpi)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    min_area = (SPECK_MM * dpi / 25.4) ** 2
    inner = np.zeros_like(ink, dtype=bool)
    if margin_px > 0 and h > 2 * margin_px and w > 2 * margin_px:
        inner[margin_px:h - margin_px, margin_px:w - margin_px] = True
    else:
        inner[:] = True
    drop = np.zeros(n, dtype=bool)
    for i in range(1, n):
        x, y, cw, ch, area = stats[i]
        if area < min_area:
            drop[i] = True
        elif x == 0 or y == 0 or x + cw >= w or y + ch >= h:
            inside = int(np.count_nonzero(inner[labels == i]))
            drop[i] = inside < 0.5 * area
    ink[drop[labels]] = 0
    return ink


DOT_MM = 0.6
"""A dot of a dotted writing line fits in this square; a row of them spaced under
``DOT_GAP_MM`` apart, spanning a third of the crop, is a rule, not writing."""
DOT_GAP_MM = 1.5


def _drop_dotted_rules(ink: np.ndarray, dpi: int) -> np.ndarray:
    """Remove dotted writing lines the form mask missed (residual misregistration).

    A dot of the line is a small blob; joined horizontally with its neighbours it
    makes a long thin run. The dot below a Vietnamese vowel is a small blob too,
    but alone: it never makes a run.
    """
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    dot = DOT_MM * dpi / 25.4
    small = np.zeros(n, dtype=bool)
    small[1:] = (stats[1:, cv2.CC_STAT_WIDTH] <= dot) & (stats[1:, cv2.CC_STAT_HEIGHT] <= dot)
    if small.sum() < 5:
        return ink
    dots = (small[labels] * 255).astype(np.uint8)
    gap = max(3, round(DOT_GAP_MM * dpi / 25.4))
    runs = cv2.morphologyEx(dots, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (gap, 1)))
    runs = cv2.morphologyEx(runs, cv2.MORPH_OPEN,
                            cv2.getStructuringElement(cv2.MORPH_RECT, (max(gap * 2, ink.shape[1] // 3), 1)))
    on_rule = np.unique(labels[(runs > 0) & (dots > 0)])
    out = ink.copy()
    out[np.isin(labels, on_rule[on_rule > 0])] = 0
    return out


def _cut(page: np.ndarray, spec: FieldSpec, dpi: int, form: np.ndarray | None
         ) -> tuple[tuple[int, int, int, int], Cell | None]:
    """The field's box and its cell; None when the box holds no ink after cleaning."""
    box = _crop_box(spec, dpi, page.shape)
    x, y, w, h = box
    if not (w and h):
        return box, None
    crop = page[y : y + h, x : x + w]
    form_crop = form[y : y + h, x : x + w] if form is not None else None
    ink = clean_crop(crop, dpi, mm_to_px(MARGIN_MM, dpi), form_crop)
    if int(np.count_nonzero(ink)) < MIN_INK_PX_MM2 * (dpi / 25.4) ** 2:
        return box, None
    return box, Cell(crop, ink, dpi)


class RecognizerTimeout(Exception):
    """A recognizer ran past its time budget (``HOCBA_RECOGNIZER_TIMEOUT_S`` per cell)."""


@contextmanager
def _time_budget(seconds: float) -> Iterator[None]:
    """Interrupt Python code running past ``seconds`` (main thread only: a page runs in a
    worker process's main thread; elsewhere there is no budget). Code inside a C call
    is interrupted when it returns to Python."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise RecognizerTimeout(f"over {seconds:.1f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _valid(reading: object) -> bool:
    """A reading a recognizer may return: ``Reading`` of ``Candidate``s with text and p in [0, 1]."""
    return isinstance(reading, Reading) and all(
        isinstance(c, Candidate) and isinstance(c.text, str) and c.text
        and isinstance(c.p, int | float) and math.isfinite(c.p) and 0.0 <= c.p <= 1.0
        for c in reading.candidates)


def _failed(name: str, check: str) -> Reading:
    return Reading((), f"{name} ({check})", "", (check,))


def read_cells(name: str, cells: Sequence[Cell], field_type: str, field_ids: Sequence[str]) -> list[Reading]:
    """``name``'s readings of ``cells``; its failures contained to these cells."""
    rec = registry.get(name)
    budget = get_settings().recognizer_timeout_s * max(1, len(cells))
    try:
        with _time_budget(budget):
            out = rec.read(cells, field_type)
    except ConfigError:
        raise
    except RecognizerTimeout as exc:
        log.warning("recognizer %s timed out on %d %s cell(s) (%s): %s", name, len(cells), field_type,
                    ", ".join(field_ids[:5]), exc)
        return [_failed(name, "recognizer_timeout")] * len(cells)
    except Exception as exc:  # any bug or crash inside one engine costs only its cells
        log.warning("recognizer %s failed on %d %s cell(s) (%s): %s: %s", name, len(cells), field_type,
                    ", ".join(field_ids[:5]), type(exc).__name__, exc)
        return [_failed(name, "recognizer_failed")] * len(cells)
    if not isinstance(out, list | tuple) or len(out) != len(cells):
        log.warning("recognizer %s answered %s for %d %s cell(s): not one reading per cell", name,
                    type(out).__name__, len(cells), field_type)
        return [_failed(name, "recognizer_failed")] * len(cells)
    return [r if _valid(r) else _failed(name, "recognizer_failed") for r in out]


def styles_of(cells: Sequence[Cell]) -> list[StyleGuess]:
    """Print or handwriting, per cell (one batch through the glyph model)."""
    return list(detect_style(cells)) if cells else []


def read_fields(aligned_gray: np.ndarray, template: Template, dpi: int = 300) -> list[FieldReading]:
    """Every field of ``template`` read from a page already warped into its frame at ``dpi``."""
    form = form_mask(template, dpi)
    specs = template.field_specs()
    cut = [_cut(aligned_gray, spec, dpi, form) for spec in specs]
    inked = [i for i, (_, cell) in enumerate(cut) if cell is not None]
    styles = dict(zip(inked, styles_of([cut[i][1] for i in inked]), strict=True))
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i in inked:
        groups[(field_types()[specs[i].type].recognizers[styles[i].style], specs[i].type)].append(i)
    readings: dict[int, tuple[str, Reading]] = {}
    for (name, ftype), idx in groups.items():
        got = read_cells(name, [cut[i][1] for i in idx], ftype, [specs[i].field_id for i in idx])
        readings.update({i: (name, r) for i, r in zip(idx, got, strict=True)})
    out = []
    for i, spec in enumerate(specs):
        box = cut[i][0]
        is_checkable = plausibility.checkable(spec)
        if i not in readings:
            out.append(FieldReading(spec.field_id, spec.type, "", 1.0, EMPTY_ENGINE, "", box,
                                    checkable=is_checkable))
            continue
        name, r = readings[i]
        reading = FieldReading(
            spec.field_id, spec.type, r.text, r.confidence, r.engine, r.settings, box, r.confidence,
            checkable=is_checkable, style=styles[i].style, style_confidence=round(styles[i].confidence, 4),
            candidates=r.candidates, recognizer=name)
        for check in r.checks:
            reading = plausibility.cap(reading, check, plausibility.CHECK_CAPS[check])
        if reading.text and is_checkable and not plausibility.plausible(spec, reading.text):
            reading = plausibility.cap(reading, "implausible", plausibility.IMPLAUSIBLE_CAP)
        out.append(reading)
    return plausibility.check_page(out)
