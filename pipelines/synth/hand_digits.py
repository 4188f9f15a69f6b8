"""Real people's digits in handwritten cells, pen marks, and the teachers' slips.

A writer who "writes with MNIST digits" (``Hand.digits == "mnist"``) draws every
digit of a handwritten value as an MNIST sample (``pipelines.synth.mnist``), split
``validate`` ONLY: the train split (indices 0–499) is the recognizer's training data,
and a synthetic corpus drawn from it would measure memory, not reading. Each sample
is cropped to its ink, scaled to the writer's digit height (keeping part of MNIST's
own size variation), sheared by the writer's slant, turned a little, made thinner or
bolder at the target resolution (erode/dilate) and laid on the paper as ink
(multiplied into the paper, so a table rule below stays visible). The decimal comma
is a short pen tick below the baseline, sometimes faint.

Slips (``SLIPS``) are what a tired teacher does to a score cell now and then. They
are decided by ``slips_for`` from the page's seed alone (not from the drawing's
random stream), so the renderer and the truth writer agree on them without passing
anything around. The truth of a score stays its intended canonical value (``8,5``);
``written_text`` says what the pen actually put down (``8.5``, ``85``), recorded in
``truth/fields.parquet`` as ``slip`` and ``written``.
"""

from __future__ import annotations

import math
import random
import re
from typing import TYPE_CHECKING, Final

import cv2
import numpy as np
from PIL import Image

from pipelines.contracts import template
from pipelines.synth import mnist

if TYPE_CHECKING:
    from pipelines.synth.render import PageSpec

SYNTH_SPLIT: Final = "validate"
"""The only MNIST split a synthetic corpus may draw from (never "train")."""
MNIST_WRITERS = 0.8
"""Share of handwriting writers who write their digits with MNIST samples."""
DIGITS = frozenset("0123456789")

SLIP_RATE = 0.03
"""Per handwritten score cell holding a number: the chance of one slip."""
SLIPS: dict[str, str] = {
    "dot_comma": "a dot instead of the decimal comma (8.5)",
    "faint_comma": "the comma barely touches the paper",
    "no_comma": "the comma is left out (85 for 8,5)",
    "touching": "the digits touch or overlap their neighbours",
    "crosses_rule": "one digit runs across the cell's table rule",
    "ten_close": "10,0 written as 10, the two digits close together",
}
_SLIP_WEIGHTS = {"dot_comma": 0.25, "faint_comma": 0.15, "no_comma": 0.15, "touching": 0.25,
                 "crosses_rule": 0.2}
_SCORE = re.compile(r"(10|\d),\d")


# --- writers -------------------------------------------------------------------------
def digit_traits(key: str, mode: str) -> dict[str, object]:
    """A writer's digit habits, drawn from ``key`` (the writer's other traits): writing
    them draws nothing from the plan's random stream, so the plan, and every printed
    page, stays what it was before writers had digit habits."""
    t = random.Random(f"hocba-hand-digits:{key}")
    mnist_writer = t.random() < MNIST_WRITERS
    return {
        "digits": "mnist" if mode == "mnist" and mnist_writer else "font",
        "digit_height": t.uniform(0.6, 0.78),
        "digit_slant": t.uniform(-0.12, 0.25),
        "digit_stroke": t.choice((-1, 0, 0, 1)),
        "digit_gap": t.uniform(0.06, 0.2),
    }


# --- glyphs --------------------------------------------------------------------------
def mnist_digit(digit: int, rng: random.Random, *, height: float, slant: float, angle_deg: float,
                stroke: int) -> np.ndarray:
    """One MNIST ``validate`` sample of ``digit`` as ink coverage (float32 0..1, cropped to
    the ink): ``height`` px tall give or take MNIST's own size, sheared by ``slant``
    (x shift per unit of height, positive leans forward), turned ``angle_deg``
    (counter-clockwise), thinned (``stroke`` < 0) or thickened (> 0) by whole pixels."""
    pool = mnist.digits(digit, SYNTH_SPLIT)
    a = pool[rng.randrange(len(pool))]
    rows, cols = np.flatnonzero(a.max(1) > 40), np.flatnonzero(a.max(0) > 40)
    src = np.zeros((rows[-1] - rows[0] + 3, cols[-1] - cols[0] + 3), np.float32)
    src[1:-1, 1:-1] = a[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] / np.float32(255)
    h0, w0 = src.shape[0] - 2, src.shape[1] - 2
    # MNIST fits the longer side to 20 px: blend the sample's own height with that box,
    # so a small sample stays a bit small; very wide ones are kept from sprawling.
    s = height / (0.5 * h0 + 0.5 * 20)
    s = min(s, 1.15 * height / max(1, w0))
    t = math.radians(angle_deg)
    c, n = math.cos(t), math.sin(t)
    # Linear part: rotate · shear · scale (image coordinates, y down).
    lin = np.array([[c, n], [-n, c]]) @ np.array([[1.0, -slant], [0.0, 1.0]]) * s
    ch, cw = src.shape
    corners = lin @ np.array([[0, cw, 0, cw], [0, 0, ch, ch]], float)
    margin = 2 + max(0, stroke)
    lo = corners.min(axis=1)
    size = np.ceil(corners.max(axis=1) - lo).astype(int) + 2 * margin
    m = np.hstack([lin, (margin - lo)[:, None]]).astype(np.float32)
    g = cv2.warpAffine(src, m, (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if stroke > 0:
        g = cv2.dilate(g, _DISK, iterations=stroke)
    elif stroke < 0 and height >= 30:  # a fine pen; small digits would break apart
        g = cv2.erode(g, _CROSS, iterations=-stroke)
    np.clip(g * np.float32(1.6) - np.float32(0.15), 0, 1, out=g)  # MNIST's soft grey → pen ink
    return _crop(g)


_DISK = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def _crop(g: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(g.max(1) > 0.02), np.flatnonzero(g.max(0) > 0.02)
    if not len(rows):
        return g[:1, :1]
    return np.ascontiguousarray(g[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])


def pen_comma(height: float, width: float, strength: float) -> tuple[np.ndarray, int]:
    """A decimal comma as a pen writes it: a short tick from the baseline down and to the
    left. Returns (coverage, rows above the baseline)."""
    up = max(1, round(0.05 * height))
    down = max(2, round(0.18 * height))
    lean = max(1, round(0.1 * height))
    pad = math.ceil(width) + 1
    m = np.zeros((up + down + 2 * pad, lean + 2 * pad), np.uint8)
    cv2.line(m, (pad + lean, pad), (pad, pad + up + down), 255, max(1, round(width)),
             cv2.LINE_AA)
    return _crop(m.astype(np.float32) * np.float32(strength / 255)), up + pad


def pen_dot(width: float, strength: float) -> np.ndarray:
    r = max(1.0, width * 0.65)
    n = math.ceil(r) * 2 + 3
    m = np.zeros((n, n), np.uint8)
    cv2.circle(m, (n // 2, n // 2), round(r), 255, -1, cv2.LINE_AA)
    return m.astype(np.float32) * np.float32(strength / 255)


def ink_onto(img: Image.Image, cover: np.ndarray, left: int, top: int,
             ink: tuple[int, int, int]) -> None:
    """Darken ``img`` with ``ink`` where ``cover`` (0..1) says, top-left at (left, top):
    paper × ink, so nothing under the stroke is painted white."""
    h, w = cover.shape
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(img.width, left + w), min(img.height, top + h)
    if x1 <= x0 or y1 <= y0:
        return
    c = cover[y0 - top:y1 - top, x0 - left:x1 - left, None]
    region = np.asarray(img.crop((x0, y0, x1, y1)), dtype=np.float32)
    k = 1 - np.asarray(ink, np.float32) / 255
    out = region * (1 - c * k)
    img.paste(Image.fromarray(out.astype(np.uint8), "RGB"), (x0, y0))


# --- slips ---------------------------------------------------------------------------
def slips_for(spec: PageSpec) -> dict[str, str]:
    """field_id → slip, for the page's handwritten score cells holding a number."""
    if spec.hand is None or spec.template_id is None:
        return {}
    r = random.Random(f"hocba-synth-slips:{spec.seed}")
    out: dict[str, str] = {}
    for fs in template(spec.template_id).field_specs():
        text = spec.values.get(fs.field_id, "")
        if (fs.type != "score" or spec.styles.get(fs.field_id) != "handwritten"
                or not _SCORE.fullmatch(text)):
            continue
        if r.random() >= SLIP_RATE:
            continue
        if text == "10,0" and r.random() < 0.5:
            out[fs.field_id] = "ten_close"
        else:
            out[fs.field_id] = r.choices(list(_SLIP_WEIGHTS), list(_SLIP_WEIGHTS.values()))[0]
    return out


def written_text(text: str, slip: str) -> str:
    """The characters on paper for a value written with ``slip`` (the truth stays ``text``)."""
    if slip == "dot_comma":
        return text.replace(",", ".")
    if slip == "no_comma":
        return text.replace(",", "")
    if slip == "ten_close":
        return text.split(",")[0]
    return text
