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
    """The best template's registration (refined), when there is one."""


CONTENDER_MARGIN = 0.2
"""Templates whose RANSAC score is this close to the best are all refined before the
choice: siblings (THCS TT22 vs TT58) differ in the table only, and a rough RANSAC
homography can cost the right one more than that difference."""


def classify_features(pf: PageFeatures, *, dpi: int = 300, page_dpi: int = PAGE_DPI) -> Classification:
    matches = {tid: match_template(pf, t) for tid, t in sorted(templates().items())}
    scores = {tid: round(m[2], 4) for tid, m in matches.items()}
    top = max(scores.values(), default=0.0)
    if top < MIN_SCORE:
        return Classification(None, "unknown", top, scores)
    refined = {
        tid: register(pf, templates()[tid], matches[tid], dpi=dpi, page_dpi=page_dpi)
        for tid, sc in scores.items() if sc >= top - CONTENDER_MARGIN
    }
    scores.update({tid: a.score for tid, a in refined.items()})
    best = max(refined, key=lambda k: refined[k].score)
    return Classification(best, templates()[best].page_kind, scores[best], scores, refined[best])


def classify_page(gray: np.ndarray, *, page_dpi: int = PAGE_DPI) -> Classification:
    """The template ``gray`` (upright page at ``page_dpi``) was printed from, or unknown."""
    return classify_features(page_features(gray, page_dpi), page_dpi=page_dpi)
