"""Checks that keep OCR confidence honest where the engine's own is not.

Tesseract's character confidence stays high on handwriting it misreads (``Tất`` for
``Tốt`` at 0.99; a lost decimal comma at 0.98). Three checks, each independent of the
truth, lower it:

- **implausible**: the reading does not fit its type's format or vocabulary
  (``field_types.yaml``: ``pattern``, ``vocabulary``) — ``64`` is not a score.
- **disagree**: a free-form field (name, free text) read a second time from the other
  image (binary vs gray) gives another text — the engine is guessing.
- **page_unreliable**: so many of a page's checkable readings are implausible that the
  engine is failing on this page (handwriting, a poor scan); its plausible-looking
  readings there are no more trustworthy, so every reading of the page is capped.

The caps are upper bounds, not scores: validate calibrates its thresholds on the
resulting confidences (docs/architecture.md, OCR confidence).
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING

from pipelines.contracts import FieldSpec, field_types, vocabularies

if TYPE_CHECKING:  # type only: engine.py imports this module
    from pipelines.ocr.engine import FieldReading

IMPLAUSIBLE_CAP = 0.3
DISAGREE_CAP = 0.6
PAGE_UNRELIABLE_CAP = 0.6
CHECK_CAPS = {"disagree": DISAGREE_CAP, "recognizer_failed": 0.0, "recognizer_timeout": 0.0}
"""Caps of the checks a recognizer reports on its own readings (``recognize.base.Reading.checks``)."""
PAGE_CHECKED_RECOGNIZERS = frozenset({"tesseract"})
"""Recognizers whose confidence is the engine's own, not a calibrated probability: the
page check judges and caps only their readings. A recognizer with calibrated per-cell
probabilities (the glyph CNN) vouches for its fields itself, so a handwritten page is not
capped wholesale because Tesseract failed on its names."""
PAGE_MAX_IMPLAUSIBLE = 0.10
"""A page with more than this share of its checkable readings implausible is unreliable."""
PAGE_MIN_CHECKABLE = 8
"""Fewer checkable readings than this say nothing about the page."""

@cache
def _vocabulary_words(name: str) -> frozenset[str]:
    return frozenset(w for e in vocabularies()[name].entries for w in (e.value, *e.variants))


def checkable(spec: FieldSpec) -> bool:
    ft = field_types()[spec.type]
    return ft.pattern is not None or (spec.vocabulary or ft.vocabulary) is not None


def plausible(spec: FieldSpec, text: str) -> bool:
    """Whether a non-empty reading fits the field's format or closed vocabulary."""
    ft = field_types()[spec.type]
    if ft.pattern is not None and not re.fullmatch(ft.pattern, text):
        return False
    vocab = spec.vocabulary or ft.vocabulary
    return vocab is None or text in _vocabulary_words(vocab)


def cap(reading: FieldReading, check: str, limit: float) -> FieldReading:
    if check in reading.checks:
        return reading
    return replace(reading, confidence=min(reading.confidence, limit), checks=(*reading.checks, check))


def check_page(readings: list[FieldReading]) -> list[FieldReading]:
    """Cap every Tesseract reading of a page whose checkable Tesseract readings are too often implausible."""
    judged = [r for r in readings if r.text and r.recognizer in PAGE_CHECKED_RECOGNIZERS]
    checked = [r for r in judged if r.checkable]
    bad = sum("implausible" in r.checks for r in checked)
    if len(checked) < PAGE_MIN_CHECKABLE or bad <= PAGE_MAX_IMPLAUSIBLE * len(checked):
        return readings
    return [cap(r, "page_unreliable", PAGE_UNRELIABLE_CAP)
            if r.text and r.recognizer in PAGE_CHECKED_RECOGNIZERS else r for r in readings]
