"""A cell's ink mask cut into glyphs, and each glyph normalized for the glyph CNN.

The ONE segmentation and normalization used by training (``scripts/train_glyphs.py``)
and inference (``cells.py``), so the network sees at run time exactly what it learnt on.

Segmentation (``segment``), on ``engine.clean_crop``'s mask:

1. Connected components (8-connected); specks far smaller than the writing dropped.
2. The line height ``lh``: the median height of the tall components (≥ half the tallest).
3. Components that overlap horizontally a lot are one glyph (a broken stroke, the bar
   of a handwritten Đ, a digit cut by a removed table rule): a small piece whose centre
   lies inside a glyph's span joins it; two tall ones join when they overlap by most of
   the narrower one's width, and are offered both ways when they overlap by some of it.
4. A small component low in the line is a decimal separator, read by its shape, not by
   the CNN: ``comma`` when it is taller than wide or hangs below the baseline, else ``dot``;
   a flat one at mid-height is a ``dash``; a small one high up is a ``mark`` (ignored).
5. A glyph wider than a digit can be (touching digits) is offered split in 2 (or 3) at
   the minima of its ink projection, beside the unsplit reading: the recognizer keeps
   the alternative the CNN finds most glyph-like (its ``other`` class rejects pairs and
   halves).

Normalization (``normalize``): the glyph's own pixels, cropped to their box, scaled
with the aspect ratio kept so the longer side is ``FIT`` px, centred in a ``SIZE`` ×
``SIZE`` float32 image (ink 1, paper 0). Absolute size is not kept (the separators,
which need it, are told apart geometrically before the CNN); stroke width relative to
the glyph is, which is what tells print from handwriting.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

SIZE = 32
"""The network's input is 1 × SIZE × SIZE."""
FIT = 24
"""The longer side of a glyph after normalization, px."""
SPECK_FRACTION = 0.006
"""A component smaller than this share of lh² is a speck."""
SMALL = 0.5
"""A component lower than ``SMALL × lh`` (and narrower than ``0.7 × lh``) is not a glyph by itself."""
WIDE = 0.85
"""A glyph wider than ``WIDE × lh`` may be two touching glyphs: offered split."""
JOIN = 0.7
"""Two tall components overlapping by this share of the narrower one's width are one glyph."""
MAYBE_JOIN = -0.06
LOW_START = 0.45
"""A narrow stroke whose top is this far down the line is a separator's, not a glyph's."""
"""From this overlap (of the narrower width; negative: a gap) up to ``JOIN`` both readings
are offered (a pen lift between the stem and the bowl of a D, a 4 in two strokes)."""
MAX_HYPOTHESES = 8
MAX_PARTS = 5
"""A wide glyph is offered split into at most this many."""

Kind = Literal["glyph", "comma", "dot", "dash", "mark"]
SEPARATORS: frozenset[str] = frozenset({"comma", "dot", "dash"})


class _Box:
    """Width and height of anything with an x0/y0/x1/y1 box (x1/y1 exclusive)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    @property
    def h(self) -> int:
        return self.y1 - self.y0


@dataclass(frozen=True, eq=False)
class Blob(_Box):
    """Some ink of the cell: one glyph, a separator, or a mark."""

    x0: int
    y0: int
    x1: int
    y1: int
    """Box in the cell's mask, x1/y1 exclusive."""
    mask: np.ndarray = field(repr=False)
    """uint8 0/255, shape (y1 - y0, x1 - x0): only this blob's pixels."""
    kind: Kind = "glyph"

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2


Option = tuple[Blob, ...]
"""One way to read a group of ink: the blobs it is, left to right."""


@dataclass(frozen=True)
class Layout:
    """A cell's segmentation: groups of ink left to right, each with its alternative
    readings as blobs (the default rules' first). A wide glyph's group offers it unsplit
    and split in 2, 3, …; two tall neighbours that overlap some form one group offered
    apart and joined."""

    groups: tuple[tuple[Option, ...], ...]
    line_height: float
    line_top: float
    line_bottom: float

    @property
    def blobs(self) -> tuple[Blob, ...]:
        """The default sequence."""
        return tuple(b for g in self.groups for b in g[0])

    def glyph_blobs(self) -> list[Blob]:
        """Every distinct glyph blob of every option (what the CNN must classify)."""
        seen: dict[int, Blob] = {}
        for g in self.groups:
            for opt in g:
                for b in opt:
                    if b.kind == "glyph":
                        seen.setdefault(id(b), b)
        return list(seen.values())

    def hypotheses(self, weight: Callable[[Option], float] | None = None,
                   limit: int = MAX_HYPOTHESES) -> list[tuple[tuple[Blob, ...], float]]:
        """The ``limit`` likeliest whole sequences and their weights (summing to at most 1):
        options are weighted by ``weight`` (default all 1), normalized within their group,
        and sequences by the product over groups (kept by a beam)."""
        beam: list[tuple[tuple[Blob, ...], float]] = [((), 1.0)]
        for g in self.groups:
            ws = [weight(o) if weight else 1.0 for o in g]
            total = sum(ws)
            if total <= 0:
                return []
            ws = [w / total for w in ws]
            beam = sorted(((seq + o, p * w) for seq, p in beam for o, w in zip(g, ws, strict=True) if w > 0),
                          key=lambda x: -x[1])[:limit]
        return beam if self.groups else []


# --- components -----------------------------------------------------------------------

@dataclass
class _Comp(_Box):
    ids: list[int]
    x0: int
    y0: int
    x1: int
    y1: int
    area: int

    def join(self, other: _Comp) -> _Comp:
        return _Comp(self.ids + other.ids, min(self.x0, other.x0), min(self.y0, other.y0),
                     max(self.x1, other.x1), max(self.y1, other.y1), self.area + other.area)


def _components(ink: np.ndarray) -> tuple[np.ndarray, list[_Comp]]:
    binary = (ink > 0).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    comps = [
        _Comp([i], int(stats[i, 0]), int(stats[i, 1]), int(stats[i, 0] + stats[i, 2]),
              int(stats[i, 1] + stats[i, 3]), int(stats[i, 4]))
        for i in range(1, n)
    ]
    return labels, comps


def _line(comps: list[_Comp]) -> tuple[float, float, float]:
    """Line height, top and bottom: medians over the tall components."""
    hmax = max(c.h for c in comps)
    tall = [c for c in comps if c.h >= 0.5 * hmax]
    lh = float(np.median([c.h for c in tall]))
    top = float(np.median([c.y0 for c in tall]))
    bottom = float(np.median([c.y1 for c in tall]))
    return max(lh, 1.0), top, bottom


def _overlap(a: _Comp, b: _Comp) -> int:
    return min(a.x1, b.x1) - max(a.x0, b.x0)


def _is_small(c: _Comp, lh: float, top: float) -> bool:
    """Not a glyph by itself: small, or a narrow stroke that starts low in the line (a long comma)."""
    if c.h < SMALL * lh and c.w < 0.7 * lh:
        return True
    return c.y0 > top + LOW_START * lh and c.h < 0.8 * lh and c.w < 0.45 * lh


def _merge(comps: list[_Comp], lh: float, top: float) -> tuple[list[_Comp], list[tuple[int, int]]]:
    """Join the pieces of one glyph. Returns the joined comps (left to right) and the
    pairs of neighbours (indices into that list) that may also be one glyph."""
    big = sorted([c for c in comps if not _is_small(c, lh, top)], key=lambda c: c.x0)
    small = [c for c in comps if _is_small(c, lh, top)]
    # tall pieces first: overlap by most of the narrower width
    merged: list[_Comp] = []
    for c in big:
        if merged and _overlap(merged[-1], c) >= JOIN * min(merged[-1].w, c.w):
            merged[-1] = merged[-1].join(c)
        else:
            merged.append(c)
    # small pieces: inside a glyph's span (not near its edges, where a separator sits) join it
    rest: list[_Comp] = []
    for s in sorted(small, key=lambda c: c.x0):
        cx = (s.x0 + s.x1) / 2
        cy = (s.y0 + s.y1) / 2
        low = cy > top + 0.6 * lh
        host = None
        for i, g in enumerate(merged):
            margin = 0.25 * g.w if low else 0.0
            if g.x0 + margin <= cx <= g.x1 - margin:
                host = i
                break
        if host is not None:
            merged[host] = merged[host].join(s)
        else:
            rest.append(s)
    out = sorted(merged + rest, key=lambda c: (c.x0 + c.x1) / 2)
    maybe = []
    for i in range(len(out) - 1):
        a, b = out[i], out[i + 1]
        if _is_small(a, lh, top) or _is_small(b, lh, top) or (maybe and maybe[-1][1] == i):
            continue
        if _overlap(a, b) >= MAYBE_JOIN * lh:
            maybe.append((i, i + 1))
    return out, maybe


def _kind(c: _Comp, lh: float, top: float, bottom: float) -> Kind:
    if not _is_small(c, lh, top):
        return "glyph"
    cy = (c.y0 + c.y1) / 2
    if cy > top + 0.6 * lh:
        hangs = c.y1 > bottom + 0.12 * lh
        if c.h >= 1.4 * c.w or (hangs and c.h >= 1.05 * c.w):
            return "comma"
        return "dot"
    if c.w >= 1.6 * c.h and c.h < 0.3 * lh and top + 0.25 * lh < cy < top + 0.8 * lh:
        return "dash"
    return "mark"


def _blob(labels: np.ndarray, c: _Comp, kind: Kind) -> Blob:
    sub = labels[c.y0:c.y1, c.x0:c.x1]
    mask = (np.isin(sub, c.ids) * 255).astype(np.uint8)
    return Blob(c.x0, c.y0, c.x1, c.y1, mask, kind)


def _trim(mask: np.ndarray, x0: int, y0: int) -> Blob | None:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    a, b, c, d = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    return Blob(x0 + a, y0 + c, x0 + b, y0 + d, mask[c:d, a:b].copy(), "glyph")


SPLIT_SHEARS = (0.0, -0.3, 0.3)
"""Cuts are tried upright and slanted both ways (a slanted 1 leaning on a 0); the one
crossing the least ink wins."""


def split_blob(blob: Blob, parts: int) -> tuple[Blob, ...] | None:
    """``blob`` cut into ``parts`` glyphs at the minima of its ink projection, along the
    upright or slanted direction that crosses the least ink."""
    ys, xs = np.nonzero(blob.mask)
    if len(xs) == 0:
        return None
    best: tuple[float, np.ndarray, list[int]] | None = None
    for shear in SPLIT_SHEARS:
        xp = xs - shear * (ys - blob.h / 2)
        bins = np.floor(xp - xp.min()).astype(np.int64)
        proj = np.bincount(bins).astype(np.float32)
        if len(proj) >= 3:
            proj = np.convolve(proj, np.ones(3, np.float32) / 3, mode="same")
        w = len(proj)
        cuts, cost = [], 0.0
        for j in range(1, parts):
            centre = w * j / parts
            lo = max(1, int(centre - 0.3 * w / parts))
            hi = min(w - 1, int(centre + 0.3 * w / parts) + 1)
            if hi <= lo:
                cuts = []
                break
            seg = proj[lo:hi]
            at = np.flatnonzero(seg <= seg.min() + 1e-6) + lo
            c = int(at[np.argmin(np.abs(at - centre))])
            cuts.append(c)
            cost += float(proj[c])
        if shear:
            cost = cost * 2 + 1  # slanted only when it crosses clearly less ink
        if len(cuts) == parts - 1 and (best is None or cost < best[0] - 1e-6):
            best = (cost, bins, cuts)
    if best is None:
        return None
    _, bins, cuts = best
    piece_of = np.searchsorted(np.array(cuts), bins, side="right")
    out = []
    for k in range(parts):
        sel = piece_of == k
        if sel.sum() < 0.08 * len(xs):
            return None
        m = np.zeros_like(blob.mask)
        m[ys[sel], xs[sel]] = 255
        piece = _trim(m, blob.x0, blob.y0)
        if piece is None:
            return None
        out.append(piece)
    return tuple(out)


def _join_blobs(a: Blob, b: Blob) -> Blob:
    x0, y0, x1, y1 = min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1)
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for z in (a, b):
        m[z.y0 - y0:z.y1 - y0, z.x0 - x0:z.x1 - x0] |= z.mask
    return Blob(x0, y0, x1, y1, m, "glyph")


def segment(ink: np.ndarray, min_line_px: float = 0.0) -> Layout:
    """The cell's ink as alternative glyph sequences (``Layout``); empty when no ink, or
    when its tallest ink is under ``min_line_px`` (specks and dust, not writing)."""
    labels, comps = _components(ink)
    if not comps:
        return Layout((), 0.0, 0.0, 0.0)
    lh, top, bottom = _line(comps)
    comps = [c for c in comps if c.area >= max(2.0, SPECK_FRACTION * lh * lh)]
    if not comps or max(c.h for c in comps) < min_line_px:
        return Layout((), 0.0, 0.0, 0.0)
    lh, top, bottom = _line(comps)
    merged, maybe = _merge(comps, lh, top)
    blobs = [_blob(labels, c, _kind(c, lh, top, bottom)) for c in merged]

    groups: list[tuple[Option, ...]] = []
    for b in blobs:
        opts: list[Option] = [(b,)]
        if b.kind == "glyph" and b.w > WIDE * lh:
            for parts in range(2, max(2, min(MAX_PARTS, math.ceil(b.w / (0.45 * lh)))) + 1):
                pieces = split_blob(b, parts)
                if pieces is not None:
                    opts.append(pieces)
        groups.append(tuple(opts))
    # neighbours that overlap some: one group, offered apart (unsplit) and joined
    for i, j in reversed(maybe):
        apart = tuple(x + y for x in groups[i] for y in groups[j])
        groups[i:j + 1] = [(*apart, (_join_blobs(blobs[i], blobs[j]),))]
    return Layout(tuple(groups), lh, top, bottom)


def simplify(seq: tuple[Blob, ...] | list[Blob]) -> list[Blob]:
    """A blob sequence as the grammar sees it: marks dropped, separators at either end
    dropped, a run of separators kept as one (a comma beats a dot: its tail broke off)."""
    out: list[Blob] = []
    for b in seq:
        if b.kind == "mark":
            continue
        if b.kind in SEPARATORS and out and out[-1].kind in SEPARATORS:
            if b.kind == "comma":
                out[-1] = b
            continue
        out.append(b)
    while out and out[0].kind != "glyph":
        out.pop(0)
    while out and out[-1].kind != "glyph":
        out.pop()
    return out


# --- normalization ----------------------------------------------------------------------

def normalize(mask: np.ndarray) -> np.ndarray:
    """One glyph's mask (uint8 0/255 or bool, any size) as the network's input:
    float32 (SIZE, SIZE), ink 1, aspect kept, longer side ``FIT`` px, centred."""
    m = (np.asarray(mask) > 0).astype(np.uint8) * 255
    ys, xs = np.nonzero(m)
    out = np.zeros((SIZE, SIZE), np.float32)
    if len(xs) == 0:
        return out
    m = m[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = m.shape
    s = FIT / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    g = cv2.resize(m, (nw, nh), interpolation=interp).astype(np.float32) / 255.0
    x0, y0 = (SIZE - nw) // 2, (SIZE - nh) // 2
    out[y0:y0 + nh, x0:x0 + nw] = g
    return out


def normalize_many(masks: list[np.ndarray]) -> np.ndarray:
    """(n, 1, SIZE, SIZE) float32 batch."""
    if not masks:
        return np.zeros((0, 1, SIZE, SIZE), np.float32)
    return np.stack([normalize(m) for m in masks])[:, None]


# --- style chunks -----------------------------------------------------------------------

MAX_CHUNKS = 24
"""At most this many pieces of a cell go through the style head (evenly chosen)."""


def style_chunks(ink: np.ndarray) -> list[np.ndarray]:
    """Pieces of any cell's writing (names, free text too) for the style head: glyph-sized
    components, a joined-up word cut into windows about one line height wide; diacritics
    and specks skipped. Masks uint8 0/255; normalize each with ``normalize``."""
    labels, comps = _components(ink)
    if not comps:
        return []
    lh, _, _ = _line(comps)
    comps = [c for c in comps if c.area >= max(2.0, SPECK_FRACTION * lh * lh)]
    if not comps:
        return []
    lh, top, _ = _line(comps)
    merged, _ = _merge(comps, lh, top)
    out: list[np.ndarray] = []
    for c in merged:
        if c.h < 0.35 * lh and c.w < 0.35 * lh:
            continue
        b = _blob(labels, c, "glyph")
        n = max(1, round(b.w / lh)) if b.w > 1.3 * lh else 1
        if n == 1:
            out.append(b.mask)
            continue
        edges = np.linspace(0, b.w, n + 1).round().astype(int)
        for a, e in itertools.pairwise(edges):
            piece = _trim(b.mask[:, a:e], 0, 0)
            if piece is not None and piece.h >= 0.25 * lh:
                out.append(piece.mask)
    if len(out) > MAX_CHUNKS:
        keep = np.linspace(0, len(out) - 1, MAX_CHUNKS).round().astype(int)
        out = [out[i] for i in keep]
    return out
