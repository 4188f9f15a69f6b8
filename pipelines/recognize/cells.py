"""The glyph recognizer: a cell's glyphs through the CNN, decoded under its type's grammar.

``GlyphRecognizer`` (registry name ``glyphs``) reads cells of the types in ``GRAMMARS``
(score, comment, integer, date). Per cell:

1. ``glyphs.segment`` cuts the ink mask into alternative glyph sequences (touching
   digits offered split, overlapping pieces offered joined) and tells separators
   (comma, dot, dash) by their geometry.
2. Every glyph of every alternative goes through the CNN in one batch: calibrated
   class probabilities (temperature fitted on the validation split).
3. Each alternative is weighted by how glyph-like its glyphs are (1 − P(other), multiplied;
   a lone glyph may also be read as noise, weighted P(other)) and decoded under the
   grammar: a candidate's probability is the product of its glyphs' class probabilities,
   summed over the alternatives that spell it. Mass on strings the grammar does not
   allow is lost, so a cell's candidates sum to at most 1 and a cell of noise gets low ones.
4. The reading's probability is calibrated per type: σ(a·logit p + b), fitted on
   validation cells (``glyphs.json``, ``calibration``); the other candidates are rescaled
   to fit in what is left (the candidates still sum to at most 1).

Score grammar: ``d``, ``d,d``, ``10``, ``10,0``; the separator as written (``8.5`` when a dot
was seen: the normalizer folds it); two digits with no separator also read ``d,d``
(teachers' commas get faint: ``85`` is ``8,5``, and ``10`` is ``10`` with 0.9, ``1,0``
with 0.1); three (``100``) read ``10,0``. Comment: ``Đ``, ``CĐ``. Integer: 1–3 digits.
Date: ``d{1,2}/d{1,2}/dddd`` (``/`` read by the CNN; a dot or dash separator as written),
day 1–31, month 1–12, year 1900–2099.

``detect_style`` tells print from handwriting for a cell of any type (names, free text):
the style head's log-odds averaged over the cell's glyph-sized pieces.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pipelines.errors import ConfigError
from pipelines.recognize import glyph_model, glyphs
from pipelines.recognize.base import Candidate, Cell, Reading, StyleGuess

NAME = "glyphs"
MAX_CANDIDATES = 5
MIN_P = 1e-4
"""Candidates below this probability are not returned."""
TOP_PER_GLYPH = 4
BEAM = 48
MISSING_COMMA_10 = 0.1
"""Two glyphs read 1 and 0 with no separator: ``1,0`` with a faint comma, else ``10``."""
OTHER = "other"
DIGITS = frozenset("0123456789")
SEP_TEXT = {"comma": ",", "dot": ".", "dash": "-"}
NOISE_PRIOR = 0.2
"""A lone glyph read as noise weighs P(other) times this: the network learnt ``other``
far more often (a quarter of its examples) than a cleaned cell holds a stray blot."""
SEPARATOR_NOISE = {"date": 0.3, "integer": 0.3}
"""Types whose cells seldom hold a small low blob between digits: the chance such a blob
is a piece broken off a digit rather than a separator."""
MIN_LINE_MM = 1.2
"""Ink no taller than this is dust, not writing: the smallest printed digit of the forms
is about 2 mm, handwriting taller (a 4-pixel speck once read as ``4`` at 0.61)."""


def version(model_dir: Path | None = None) -> str:
    """The engine string stored with a reading: ``glyphs <sha256[:12]>``."""
    return f"{NAME} {glyph_model.read_meta(model_dir).sha256[:12]}"


# --- grammar ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Slot:
    """One position of a template: a glyph of one of ``chars``, or a separator.

    ``sep``: a separator token of one of these kinds matches (its written char is output);
    ``chars`` with ``sep``: either a glyph of ``chars`` or such a separator."""

    chars: frozenset[str] = frozenset()
    sep: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Template:
    slots: tuple[Slot, ...]
    weight: float = 1.0
    extra: str = ""
    """Text output before slot ``insert_at``'s (the comma a faint one stood for)."""
    insert_at: int = -1
    check: Callable[[str], bool] | None = None


D = Slot(DIGITS)
ONE = Slot(frozenset("1"))
ZERO = Slot(frozenset("0"))
DEC = Slot(sep=frozenset({"comma", "dot"}))


def _date_ok(text: str) -> bool:
    parts = text.replace(".", "/").replace("-", "/").split("/")
    if len(parts) != 3:
        return False
    d, m, y = (int(p) for p in parts)
    return 1 <= d <= 31 and 1 <= m <= 12 and 1900 <= y <= 2099


def _date_templates() -> list[Template]:
    sep = Slot(frozenset("/"), frozenset({"dot", "dash", "comma"}))
    out = []
    for dl, ml in itertools.product((1, 2), (1, 2)):
        out.append(Template((*[D] * dl, sep, *[D] * ml, sep, *[D] * 4), check=_date_ok))
    return out


GRAMMARS: dict[str, list[Template]] = {
    "score": [
        Template((D,)),
        Template((D, DEC, D)),
        Template((ONE, ZERO), weight=1 - MISSING_COMMA_10),
        Template((ONE, ZERO, DEC, ZERO)),
        Template((D, D), extra=",", insert_at=1, check=lambda t: t != "1,0"),
        Template((ONE, ZERO), weight=MISSING_COMMA_10, extra=",", insert_at=1),
        Template((ONE, ZERO, ZERO), extra=",", insert_at=2),
    ],
    "comment": [
        Template((Slot(frozenset("Đ")),)),
        Template((Slot(frozenset("C")), Slot(frozenset("Đ")))),
    ],
    "integer": [Template((D,) * n) for n in (1, 2, 3)],
    "date": _date_templates(),
}


ALPHABETS: dict[str, frozenset[str]] = {
    "score": DIGITS, "integer": DIGITS, "comment": frozenset("CĐ"), "date": DIGITS | {"/"},
}
"""The glyph classes a type's grammar uses: the CNN's distribution is renormalized over
these and ``other`` (a score cell holds no ``/``: the mass the CNN gave it is not lost)."""


def restrict(p: np.ndarray, field_type: str, classes: tuple[str, ...]) -> np.ndarray:
    """Class probabilities (n, classes) conditioned on the type's alphabet plus ``other``."""
    keep = np.array([c in ALPHABETS[field_type] or c == OTHER for c in classes])
    q = np.where(keep[None, :], p, 0.0)
    return q / np.maximum(q.sum(axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class Token:
    """A glyph with its class probabilities, or a separator."""

    kind: str
    probs: np.ndarray | None = None


def _slot_options(slot: Slot, tok: Token, classes: tuple[str, ...]) -> list[tuple[str, float]]:
    if tok.kind in glyphs.SEPARATORS:
        return [(SEP_TEXT[tok.kind], 1.0)] if tok.kind in slot.sep else []
    if not slot.chars or tok.probs is None:
        return []
    opts = [(c, float(tok.probs[i])) for i, c in enumerate(classes) if c in slot.chars]
    opts.sort(key=lambda o: -o[1])
    return opts[:TOP_PER_GLYPH]


def decode(tokens: Sequence[Token], field_type: str, classes: tuple[str, ...]) -> dict[str, float]:
    """Candidate texts → probability for one token sequence."""
    out: dict[str, float] = defaultdict(float)
    for t in GRAMMARS[field_type]:
        if len(t.slots) != len(tokens):
            continue
        beam: list[tuple[str, float]] = [("", t.weight)]
        for k, (slot, tok) in enumerate(zip(t.slots, tokens, strict=True)):
            opts = _slot_options(slot, tok, classes)
            if not opts:
                beam = []
                break
            prefix = t.extra if k == t.insert_at else ""
            beam = sorted(((s + prefix + c, p * q) for s, p in beam for c, q in opts),
                          key=lambda x: -x[1])[:BEAM]
        for s, p in beam:
            if p > 0 and (t.check is None or t.check(s)):
                out[s] += p
    return out


def _tokens(seq: Sequence[glyphs.Blob], probs: dict[int, np.ndarray]) -> list[Token]:
    return [Token("glyph", probs[id(b)]) if b.kind == "glyph" else Token(b.kind)
            for b in glyphs.simplify(seq)]


def calibrate(p: float, ab: tuple[float, float] | None) -> float:
    """The cell-level map fitted on validation cells: σ(a·logit p + b)."""
    if ab is None:
        return p
    p = min(max(p, 1e-9), 1 - 1e-9)
    z = ab[0] * math.log(p / (1 - p)) + ab[1]
    return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))


def read_layout(layout: glyphs.Layout, probs: dict[int, np.ndarray], field_type: str,
                classes: tuple[str, ...], calibration: tuple[float, float] | None = None) -> list[Candidate]:
    """Ranked candidates of one segmented cell, given every glyph blob's class probabilities;
    ``calibration``: the type's cell-level map (the candidates are rescaled to sum to at most 1)."""
    other = classes.index(OTHER)
    noise: dict[int, int] = {}  # id of a "read as noise" stand-in → id of its blob
    noise_sep = SEPARATOR_NOISE.get(field_type, 0.0)
    dropped_sep: set[int] = set()  # ids of "not a separator after all" stand-ins

    def glyphness(option: glyphs.Option) -> float:
        w = 1.0
        for b in option:
            if b.kind == "glyph":
                w *= 1.0 - float(probs[id(b)][other])
            elif id(b) in noise:
                w *= NOISE_PRIOR * float(probs[noise[id(b)]][other])
            elif id(b) in dropped_sep:
                w *= noise_sep
            elif b.kind in glyphs.SEPARATORS:
                w *= 1.0 - noise_sep
        return w

    groups = []
    for g in layout.groups:  # a lone glyph may also be noise (a rule's remnant, a blot)
        if len(g) == 1 and len(g[0]) == 1 and g[0][0].kind == "glyph":
            stand_in = replace(g[0][0], kind="mark")
            noise[id(stand_in)] = id(g[0][0])
            g = (*g, (stand_in,))
        elif noise_sep and len(g) == 1 and len(g[0]) == 1 and g[0][0].kind in glyphs.SEPARATORS:
            stand_in = replace(g[0][0], kind="mark")  # a piece broken off a digit
            dropped_sep.add(id(stand_in))
            g = (*g, (stand_in,))
        groups.append(g)
    layout = replace(layout, groups=tuple(groups))
    acc: dict[str, float] = defaultdict(float)
    for seq, w in layout.hypotheses(glyphness):
        for text, p in decode(_tokens(seq, probs), field_type, classes).items():
            acc[text] += w * p
    ranked = sorted(acc.items(), key=lambda kv: -kv[1])[:MAX_CANDIDATES]
    if calibration is not None and ranked:
        # the map is fitted on the reading (the first candidate); the others keep their
        # proportions within what is left, and never outrank it
        first = calibrate(ranked[0][1], calibration)
        rest = sum(p for _, p in ranked[1:])
        k = min(1.0, (1.0 - first) / rest) if rest > 0 else 1.0
        ranked = [(ranked[0][0], first), *((t, min(p * k, first)) for t, p in ranked[1:])]
    return [Candidate(t, round(min(1.0, p), 6)) for t, p in ranked if p >= MIN_P]


class GlyphRecognizer:
    """Reads score, comment, integer and date cells with the glyph CNN."""

    name = NAME

    def __init__(self, model_dir: Path | None = None) -> None:
        self._dir = model_dir

    def read(self, cells: Sequence[Cell], field_type: str) -> list[Reading]:
        if field_type not in GRAMMARS:
            raise ConfigError(f"recognizer {NAME!r} reads {', '.join(GRAMMARS)}, not {field_type!r}: "
                              "fix `recognizers` in data_contracts/templates/field_types.yaml")
        model = glyph_model.load(self._dir)
        engine = f"{NAME} {model.meta.sha256[:12]}"
        settings = f"T={model.meta.temperature:.3f}"
        layouts = [glyphs.segment(c.ink, MIN_LINE_MM * c.dpi / 25.4) for c in cells]
        blobs = [b for lay in layouts for b in lay.glyph_blobs()]
        class_p, _ = model.predict(glyphs.normalize_many([b.mask for b in blobs]))
        class_p = restrict(class_p, field_type, model.classes)
        probs = {id(b): class_p[i] for i, b in enumerate(blobs)}
        ab = model.meta.calibration.get(field_type)
        return [Reading(tuple(read_layout(lay, probs, field_type, model.classes, ab)), engine, settings)
                for lay in layouts]


def detect_style(cells: Sequence[Cell], model_dir: Path | None = None) -> list[StyleGuess]:
    """Print or handwriting per cell, any field type: the mean style log-odds of its pieces.
    A cell without a glyph-sized piece is ``print`` at 0.5 (no evidence either way)."""
    if not cells:
        return []
    model = glyph_model.load(model_dir)
    chunks = [glyphs.style_chunks(c.ink) for c in cells]
    flat = [m for ch in chunks for m in ch]
    k = len(model.classes)
    z = model.logits(glyphs.normalize_many(flat)) if flat else np.zeros((0, k + 2), np.float32)
    lo = glyph_model.style_log_odds(z[:, k:], model.meta) if len(z) else np.zeros(0)
    out = []
    i = 0
    for ch in chunks:
        if not ch:
            out.append(StyleGuess("print", 0.5))
            continue
        mean = float(np.mean(lo[i:i + len(ch)]))
        i += len(ch)
        p_hand = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, mean))))
        out.append(StyleGuess("hand", p_hand) if p_hand >= 0.5 else StyleGuess("print", 1.0 - p_hand))
    return out
