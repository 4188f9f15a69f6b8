"""Scanner effects by difficulty: skew, scale, perspective, blur, noise, uneven light, JPEG.

Vectorized numpy/OpenCV on the whole page (a 300 dpi A4 page in well under
half a second). The random draws come from the caller's generator, so a page
degrades the same way in any process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

Difficulty = Literal["clean", "typical", "hard"]
DIFFICULTIES: tuple[str, ...] = ("clean", "typical", "hard")


@dataclass(frozen=True)
class Params:
    skew_deg: float
    """Uniform in ±skew_deg."""
    scale: tuple[float, float]
    shift_mm: float
    perspective: float
    """Corner displacement as a share of the shorter side."""
    blur_sigma: tuple[float, float]
    noise_sigma: tuple[float, float]
    light: tuple[float, float]
    """Depth of the uneven-lighting dip (0 = even)."""
    jpeg_quality: tuple[int, int]
    dark_border: float
    """Chance that the scanner lid shows as a dark margin."""


PARAMS: dict[str, Params] = {
    "clean": Params(0.3, (1.0, 1.0), 0.0, 0.0, (0, 0), (0, 0), (0, 0), (95, 95), 0.0),
    "typical": Params(1.5, (0.97, 1.03), 2.0, 0.0, (0.3, 0.7), (2.0, 5.0), (0.03, 0.10),
                      (70, 90), 0.0),
    "hard": Params(3.0, (0.95, 1.05), 4.0, 0.012, (0.7, 1.3), (5.0, 10.0), (0.12, 0.28),
                   (50, 70), 0.4),
}


@dataclass(frozen=True)
class ScanEffects:
    """What the scanner did to a page (recorded in truth/pages.parquet)."""

    skew_deg: float
    """Rotation of the content, degrees, counter-clockwise positive (OpenCV convention)."""
    scale: float
    jpeg_quality: int
    """Quality for a lossy container (JPEG, PDF); lossless ones got it baked in already."""


def degrade(page: np.ndarray, difficulty: str, rng: np.random.Generator, dpi: int, *,
            lossy_container: bool) -> tuple[np.ndarray, ScanEffects]:
    """Apply scanner effects to an RGB (H, W, 3) or grey (H, W) uint8 page.

    ``lossy_container``: the caller will save the page as JPEG (or JPEG inside a PDF)
    at the returned quality; otherwise the JPEG artefacts are applied here.
    """
    if difficulty not in PARAMS:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")
    p = PARAMS[difficulty]
    h, w = page.shape[:2]
    skew = float(rng.uniform(-p.skew_deg, p.skew_deg))
    scale = float(rng.uniform(*p.scale))
    shift = rng.uniform(-1, 1, 2) * p.shift_mm * dpi / 25.4
    m = cv2.getRotationMatrix2D((w / 2, h / 2), skew, scale)
    m[:, 2] += shift
    if rng.random() < p.dark_border:
        border = float(rng.uniform(40, 90))
    else:
        border = float(np.median(page[:8, :8]))  # the paper colour: an invisible margin
    bval = (border,) * 3 if page.ndim == 3 else border
    if p.perspective > 0:
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst = src + rng.uniform(-1, 1, (4, 2)).astype(np.float32) * p.perspective * min(w, h)
        hm = cv2.getPerspectiveTransform(src, dst) @ np.vstack([m, [0, 0, 1]])
        out = cv2.warpPerspective(page, hm, (w, h), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=bval)
    else:
        out = cv2.warpAffine(page, m, (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=bval)

    sigma = float(rng.uniform(*p.blur_sigma))
    if sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), sigma * dpi / 300)
    light = float(rng.uniform(*p.light))
    noise = float(rng.uniform(*p.noise_sigma))
    if light > 0 or noise > 0:
        # Lamp and sensor act on brightness: work on the luma plane only (a third of
        # the arithmetic of RGB), the chroma planes pass through.
        ycc = cv2.cvtColor(out, cv2.COLOR_RGB2YCrCb) if out.ndim == 3 else None
        y = (ycc[..., 0] if ycc is not None else out).astype(np.float32)
        if light > 0:
            y *= _lighting(rng, w, h, light)
        if noise > 0:
            n = np.empty((h, w), np.float32)
            cv2.setRNGSeed(int(rng.integers(1, 2**31 - 1)))  # cv2.randn: 3x numpy's speed
            cv2.randn(n, 0.0, noise)
            y += n
        y8 = np.clip(y, 0, 255, out=y).astype(np.uint8)
        if ycc is not None:
            ycc[..., 0] = y8
            out = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
        else:
            out = y8

    q = int(rng.integers(p.jpeg_quality[0], p.jpeg_quality[1] + 1))
    if not lossy_container and q < 95:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, q])
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
            raise RuntimeError("JPEG encoding failed")
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out, ScanEffects(skew_deg=round(skew, 3), scale=round(scale, 4), jpeg_quality=q)


def _lighting(rng: np.random.Generator, w: int, h: int, depth: float) -> np.ndarray:
    """A smooth gain field in [1 - depth, 1]: a lamp gradient plus soft blotches."""
    gh, gw = 9, 7
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    coarse = cv2.GaussianBlur(coarse, (0, 0), 1.2)
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    coarse += 1.5 * (np.cos(angle) * xx / gw + np.sin(angle) * yy / gh)
    coarse -= coarse.min()
    coarse /= max(float(coarse.max()), 1e-6)
    # Cubic to a sixteenth, then linear to full size: smooth, and 4x cheaper than cubic.
    mid = cv2.resize(coarse, (max(2, w // 16), max(2, h // 16)), interpolation=cv2.INTER_CUBIC)
    field = cv2.resize(mid, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.float32(1.0) - np.float32(depth) * np.clip(field, 0, 1)
