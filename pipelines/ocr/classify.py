"""Which template a page is: register it on every template and keep the best fit.

A page's ORB features are computed once and matched to every template's blank form
(``align.match_template``); the score of a template is the ink correlation after
its RANSAC homography. The right template wins by a wide margin over another page
kind and by ~0.1 over its sibling layout (THCS TT22 vs TT58 differ in the table
only); a page that fits none (a blank, a photo, another form) is "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipelines.contracts import templates
from pipelines.ocr._image import PAGE_DPI
from pipelines.ocr.align import MIN_SCORE, Alignment, PageFeatures, match_template, page_features, register


@dataclass(frozen=True)
class Classification:
    template_id: str | None
    page_kind: str
    """The template's page_kind, or "unknown" when no template matched."""
    score: float
    """Correlation with the best template, in [0, 1]."""
    scores: dict[str, float] = field(default_factory=dict)
    """Correlation with every template, by template_id."""
    alignment: Alignment | None = None
    """The best template's registration, when there is one."""


def classify_features(pf: PageFeatures, *, dpi: int = 300, page_dpi: int = PAGE_DPI) -> Classification:
    matches = {tid: match_template(pf, t) for tid, t in sorted(templates().items())}
    scores = {tid: round(m[2], 4) for tid, m in matches.items()}
    top = max(scores.values(), default=0.0)
    if top < MIN_SCORE:
        return Classification(None, "unknown", top, scores)
    best = max(scores, key=lambda k: scores[k])
    alignment = register(pf, templates()[best], matches[best], dpi=dpi, page_dpi=page_dpi)
    return Classification(best, templates()[best].page_kind, scores[best], scores, alignment)


def classify_page(gray: np.ndarray, *, page_dpi: int = PAGE_DPI) -> Classification:
    """The template ``gray`` (upright page at ``page_dpi``) was printed from, or unknown."""
    return classify_features(page_features(gray, page_dpi), page_dpi=page_dpi)
