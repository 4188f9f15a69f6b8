"""Register a page on a template: ORB feature matching + a robust (USAC) homography.

Both sides are compared at ``REG_DPI``: the page (upright, 300 dpi from ingest) is
downscaled, the template's blank form is rendered. The printed labels and table rules
are the same ink on both, so ORB keypoints on them match across any skew, scale,
shift or keystone a flatbed or a phone gives; RANSAC ignores the filled-in values,
stamps and signatures, which have no partner on the blank form. USAC_ACCURATE
(locally optimized RANSAC) fits the homography to a few hundred inliers, which puts
every box within a fraction of a millimetre. An ECC refinement on the ink maps was
measured too: +0.01 correlation for 0.45 s a page (10 iterations at 100 dpi), no
gain in field accuracy, so it is not done.

The quality measure is the zero-mean correlation of the page's ink with the form's
ink after warping (``score``, in [0, 1]). A registration that is not trusted
(``ok`` false) must not be read with the template's boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from pipelines.contracts import Template
from pipelines.forms.draw import page_size_px
from pipelines.ocr._image import PAGE_DPI, downscale, ink_map, ncc, reference_gray

REG_DPI = 100
"""One pixel is 0.25 mm: fine enough for sub-millimetre boxes after refinement, small
enough (830 x 1170 px for A4) that ORB and ECC take tens of milliseconds."""

ORB_FEATURES = 3000
RATIO = 0.8  # Lowe's ratio test: the best match must clearly beat the second best
RANSAC_PX = 3.0  # reprojection tolerance at REG_DPI (0.75 mm)

MIN_INLIERS = 25
"""Fewer consistent matches than this and the homography is chance (noise pages give
under 15 on the synthetic corpus; the right template 170-300)."""

MIN_SCORE = 0.3
"""Correlation after warping below which a registration is not trusted. Right
template on the synthetic corpus: identity pages (sparse print, dense filled-in
text) 0.45-0.50, year pages 0.70-0.75; a wrong page kind scores under 0.1."""


@dataclass(frozen=True)
class PageFeatures:
    """What registration needs of one page, computed once and matched to every template."""

    small: np.ndarray  # gray at REG_DPI
    ink: np.ndarray  # ink map at REG_DPI
    keypoints: tuple
    descriptors: np.ndarray | None


@dataclass(frozen=True)
class Alignment:
    homography: np.ndarray
    """3x3, page pixels (at page_dpi) → template pixels (at the dpi asked for)."""
    score: float
    ok: bool
    method: str
    inliers: int = 0


def _orb() -> cv2.ORB:
    return cv2.ORB_create(nfeatures=ORB_FEATURES, scaleFactor=1.2, nlevels=4, edgeThreshold=15,
                          patchSize=15)


@lru_cache(maxsize=16)
def _template_features(template: Template) -> tuple[np.ndarray, tuple, np.ndarray]:
    gray = reference_gray(template, REG_DPI)
    kp, des = _orb().detectAndCompute(gray, None)
    return ink_map(gray, REG_DPI), tuple(kp), des


def page_features(gray: np.ndarray, page_dpi: int = PAGE_DPI) -> PageFeatures:
    small = downscale(gray, page_dpi, REG_DPI)
    kp, des = _orb().detectAndCompute(small, None)
    return PageFeatures(small, ink_map(small, REG_DPI), tuple(kp), des)


def _warp_score(ref_ink: np.ndarray, page_ink: np.ndarray, h_tpl_to_page: np.ndarray) -> float:
    warped = cv2.warpPerspective(page_ink, h_tpl_to_page, (ref_ink.shape[1], ref_ink.shape[0]),
                                 flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    return ncc(ref_ink, warped)


def match_template(pf: PageFeatures, template: Template) -> tuple[np.ndarray | None, int, float]:
    """RANSAC homography (template px → page px, both at REG_DPI), its inliers and score."""
    ref_ink, ref_kp, ref_des = _template_features(template)
    if pf.descriptors is None or ref_des is None or len(pf.keypoints) < MIN_INLIERS:
        return None, 0, 0.0
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(ref_des, pf.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < MIN_INLIERS:
        return None, len(good), 0.0
    src = np.float32([ref_kp[m.queryIdx].pt for m in good])
    dst = np.float32([pf.keypoints[m.trainIdx].pt for m in good])
    h, mask = cv2.findHomography(src, dst, cv2.USAC_ACCURATE, RANSAC_PX)
    inliers = int(mask.sum()) if mask is not None else 0
    if h is None or inliers < MIN_INLIERS or abs(np.linalg.det(h[:2, :2])) < 1e-3:
        return None, inliers, 0.0
    return h, inliers, _warp_score(ref_ink, pf.ink, h)


def register(
    pf: PageFeatures, template: Template, matched: tuple[np.ndarray | None, int, float] | None = None,
    dpi: int = 300, page_dpi: int = PAGE_DPI,
) -> Alignment:
    """Alignment of the page behind ``pf`` on ``template`` (reuses a ``match_template`` result)."""
    h, inliers, score = matched if matched is not None else match_template(pf, template)
    if h is None:
        return Alignment(np.eye(3), 0.0, False, "orb_usac", inliers)
    # page px (page_dpi) → page px (REG_DPI) → template px (REG_DPI) → template px (dpi)
    full = _scale(dpi / REG_DPI) @ np.linalg.inv(h) @ _scale(REG_DPI / page_dpi)
    full /= full[2, 2]
    score = round(score, 4)
    return Alignment(full, score, score >= MIN_SCORE and inliers >= MIN_INLIERS, "orb_usac", inliers)


def align_to_template(
    gray: np.ndarray, template: Template, dpi: int = 300, *, page_dpi: int = PAGE_DPI
) -> Alignment:
    """Homography mapping ``gray`` (at ``page_dpi``) onto ``template``'s form at ``dpi``."""
    return register(page_features(gray, page_dpi), template, dpi=dpi, page_dpi=page_dpi)


def _scale(s: float) -> np.ndarray:
    return np.diag([s, s, 1.0])


def warp_to_template(
    gray: np.ndarray, alignment: Alignment, template: Template, dpi: int = 300
) -> np.ndarray:
    """The page resampled into the template's frame at ``dpi`` (white outside the page)."""
    size = page_size_px(template, dpi)
    return cv2.warpPerspective(
        gray, alignment.homography, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
        borderValue=255,
    )


def page_box(alignment: Alignment, box_tpl: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
    """Bounding box (x, y, w, h) on the stored page of a box given in template pixels."""
    x, y, w, h = box_tpl
    corners = np.float32([[x, y], [x + w, y], [x + w, y + h], [x, y + h]]).reshape(-1, 1, 2)
    pts = cv2.perspectiveTransform(corners, np.linalg.inv(alignment.homography)).reshape(-1, 2)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)
