"""Row decoding: read each subject row of the score table as a whole, over the recognizer's candidates.

The recognizer gives, per cell, ranked candidate readings with calibrated probabilities
(``field_readings.candidates`` / ``candidate_probs``). A subject's HK I, HK II and Cả năm are
tied by the ``year_average`` rule (``rules.year_average_holds``), so a row whose top readings
break the rule while a lower candidate satisfies it is most likely that candidate.

Model, per subject row (scored subjects only; cells assumed independent given the image):

- each cell's outcomes are its top ``TOP_K`` candidates, merged by normalized value (``85`` and
  ``8,5`` are one outcome), plus "other": the probability mass the candidates leave, spread
  evenly over the score values (0,0 … 10,0) no candidate names;
- a combination's weight is the product of its cells' probabilities times 1 when the rule
  holds, ``EPSILON`` when it does not (for "other", the share of its values for which it
  holds); an unparseable candidate never satisfies the rule (``EPSILON``);
- the posterior is the normalized weight. The MAP combination gives each cell its value, and
  the cell's new confidence is the posterior marginal of that value. A cell whose MAP outcome
  is "other" keeps the OCR's reading, with that reading's (low) marginal.

Rows left as read (text and confidence unchanged): a row with a cell missing or empty (the
rule cannot be checked, ``rules.py`` skips it), comment subjects (Đ/CĐ, no arithmetic), the
retest column (no rule ties it to the row: ``rules.py`` only asks whether one is written), and
rows where no cell offers an alternative (every cell one candidate: Tesseract's print readings
carry one candidate with the engine's confidence, and keep today's behaviour and calibration).

The ĐTB các môn row, on pages whose era prints one (``rules.overall_average_subjects``), is
decoded after the subject rows, one term cell at a time, where the ĐTB cell itself has an
alternative: the subjects' value distributions (decoded, else as read) give the distribution
of their mean (``grading.overall_average``), and a ĐTB reading is weighted by the chance it
equals that mean (else ``EPSILON``). One way only: the ĐTB does not move the subjects' values.

``decode_rows`` gives the decoded cells; ``RowDecoding.apply`` the readings with ``text`` and
``confidence`` replaced, for normalization (validate's stage keeps the OCR text as
``normalized_records.raw_text``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd

from pipelines.contracts.fields import AVERAGE_ROW, SCORES, TERMS, FieldId
from pipelines.domain import grading
from pipelines.validate.normalize import normalize_field
from pipelines.validate.rules import overall_average_subjects, year_average_holds

FieldKey = tuple[str, str]  # (page_id, field_id)

TOP_K = 5
"""Candidates per cell taken into the enumeration; the rest of a cell's mass is "other"."""

EPSILON = 1e-4
"""Weight of a row reading that breaks the year-average rule, relative to one that holds.

Under the model, a book's row breaks the rule on paper with probability δ (a teacher's
arithmetic slip) and its Cả năm is then any of the ~100 score values, so a broken reading is
δ/100 as likely a priori as the one value that holds. ε = 1e-4 is δ = 1%: an assumption, as the
synthetic corpus computes every Cả năm correctly (δ = 0 there) and real books are not measured
yet. With ε this small a lower candidate that makes the row hold wins over a top reading that
breaks it unless the top is ~10,000 times likelier; the "other" outcome keeps that honest: an
unnamed value that makes the row hold competes with a weak candidate that does."""

ROW_MIN_POSTERIOR = 0.9
"""Below this posterior of the MAP reading, any other reading of the row that holds the rule
with posterior ≥ ``SUGGESTION_MIN_POSTERIOR`` makes the row ambiguous."""

AMBIGUITY_RATIO = 0.1
"""A reading that holds the rule with at least this share of the MAP's posterior is close:
the row is ambiguous, however sure the MAP is."""

SUGGESTION_MIN_POSTERIOR = 0.01
"""Readings that hold the rule with at least this posterior are offered to the reviewer."""

MAX_SUGGESTIONS = 4
"""Values offered per cell (the chosen one first)."""

_GRID = 101  # score values 0,0 … 10,0 in tenths


@dataclass(frozen=True)
class CellDecode:
    """One cell of a decoded row."""

    text: str
    """The chosen reading's text (a candidate's text as the recognizer wrote it)."""
    confidence: float
    """Posterior marginal probability of the chosen value."""
    ocr_text: str
    """The recognizer's top reading (``field_readings.text``)."""
    ocr_confidence: float
    ambiguous: bool = False
    """Another reading of the row that holds the rule is close (``row_ambiguous``)."""
    suggestions: tuple[str, ...] = ()
    """Canonical values for the reviewer: the chosen one, then those of the other readings of
    the row that hold the rule (posterior ≥ ``SUGGESTION_MIN_POSTERIOR``); empty when none differs."""

    @property
    def changed(self) -> bool:
        return self.text != self.ocr_text

    @property
    def note(self) -> str:
        if not self.changed:
            return ""
        return (f"read {self.ocr_text!r} ({self.ocr_confidence:.2f}); the row holds with "
                f"{self.text!r} (p={self.confidence:.3f})")


@dataclass(frozen=True)
class RowDecoding:
    """The decoded cells of a batch's readings, by (page_id, field_id)."""

    cells: dict[FieldKey, CellDecode] = field(default_factory=dict)

    @property
    def ambiguous(self) -> set[FieldKey]:
        """Cells to flag ``row_ambiguous``."""
        return {k for k, c in self.cells.items() if c.ambiguous}

    @property
    def suggestions(self) -> dict[FieldKey, list[str]]:
        """Values to offer for a flagged cell (``review_queue.candidates``)."""
        return {k: list(c.suggestions) for k, c in self.cells.items() if c.suggestions}

    @property
    def changed(self) -> dict[FieldKey, CellDecode]:
        return {k: c for k, c in self.cells.items() if c.changed}

    def apply(self, readings: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``readings`` with each decoded cell's ``text`` and ``confidence`` replaced."""
        out = readings.copy()
        if not self.cells or out.empty:
            return out
        keys = list(zip(out["page_id"], out["field_id"], strict=True))
        hit = [self.cells.get(k) for k in keys]
        mask = np.array([c is not None for c in hit])
        if mask.any():
            out.loc[mask, "text"] = [c.text for c in hit if c is not None]
            out.loc[mask, "confidence"] = [c.confidence for c in hit if c is not None]
        return out


# --- the rule as a table -------------------------------------------------------------------------
@cache
def _year_average_table() -> np.ndarray:
    """``T[h1, h2]``: the Cả năm (in tenths) that holds the rule for HK I ``h1``, HK II ``h2``."""
    t = np.empty((_GRID, _GRID), dtype=np.intp)
    for i in range(_GRID):
        for j in range(_GRID):
            k = round(grading.year_average(i / 10, j / 10) * 10)
            if not year_average_holds(i / 10, j / 10, k / 10):  # the rule and the table agree
                raise AssertionError(f"year average table: {i / 10}, {j / 10} -> {k / 10}")
            t[i, j] = k
    return t


# --- one cell ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Outcome:
    text: str | None  # representative candidate text; None for "other"
    value: str | None  # canonical score; None for "other" and unparseable candidates
    index: int | None  # value in tenths
    prob: float
    top: bool = False  # holds the recognizer's reading (the first candidate)


def _outcomes(candidates: Sequence[tuple[str, float]]) -> list[_Outcome]:
    """A cell's outcomes: its candidates merged by value, the ``TOP_K`` likeliest, then "other"."""
    merged: dict[str, list] = {}  # key -> [text, value, index, prob, top]
    for rank, (text, p) in enumerate(candidates):
        p = float(p) if np.isfinite(p) else 0.0
        n = normalize_field("score", text)
        key = n.value if n.value is not None else f"\0{text}"  # unparseable: one outcome per text
        if key in merged:
            merged[key][3] += max(p, 0.0)
        else:
            idx = round(n.number * 10) if n.value is not None and n.number is not None else None
            merged[key] = [text, n.value, idx, max(p, 0.0), rank == 0]
    ranked = sorted(merged.values(), key=lambda m: -m[3])[:TOP_K]
    total = sum(m[3] for m in ranked)
    scale = 1 / total if total > 1 else 1.0  # probabilities that over-count: no mass left over
    out = [_Outcome(t, v, i, p * scale, top) for t, v, i, p, top in ranked]
    out.append(_Outcome(None, None, None, max(0.0, 1 - total * scale)))
    return out


def _distribution(outcomes: list[_Outcome], probs: Sequence[float] | np.ndarray) -> np.ndarray:
    """(101,): the probability of each score value, given each outcome's ``probs`` ("other"
    spread evenly over the unnamed values, an unparseable reading's share dropped)."""
    d = _masks(outcomes)
    d = (d / np.maximum(d.sum(1, keepdims=True), 1) * np.asarray(probs, dtype=float)[:, None]).sum(0)
    z = d.sum()
    return d / z if z > 0 else d


def _masks(outcomes: list[_Outcome]) -> np.ndarray:
    """(outcomes, 101): the score values each outcome stands for ("other": every unnamed one)."""
    m = np.zeros((len(outcomes), _GRID))
    named = [o.index for o in outcomes if o.index is not None]
    for r, o in enumerate(outcomes):
        if o.index is not None:
            m[r, o.index] = 1
        elif o.text is None:
            m[r] = 1
            m[r, named] = 0
    return m


# --- one row -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RowResult:
    """``decode_row``'s answer for the cells (HK I, HK II, Cả năm) of one subject row."""

    texts: tuple[str, ...]
    confidences: tuple[float, ...]
    ambiguous: tuple[bool, ...]
    suggestions: tuple[tuple[str, ...], ...]
    map_posterior: float
    map_holds: bool
    distributions: tuple[np.ndarray, ...] = ()
    """Per cell, the posterior probability of each score value 0,0 … 10,0 (101 entries)."""


def decode_row(cells: Sequence[Sequence[tuple[str, float]]]) -> RowResult | None:
    """Decode one subject row from its three cells' ranked (text, probability) candidates, in
    ``TERMS`` order (the first candidate is the recognizer's reading). None when no cell has a
    candidate (nothing to decode)."""
    if len(cells) != len(TERMS) or any(not c for c in cells):
        return None
    outs = [_outcomes(c) for c in cells]
    m1, m2, m3 = (_masks(o) for o in outs)
    t = _year_average_table()
    # holds[a, b, c]: how many of the value triples outcome (a, b, c) stands for hold the rule.
    # (Σ_i m1[a,i] Σ_j m2[b,j] m3[c, t[i,j]], as two matrix products.)
    holds = np.tensordot(m1, m3[:, t], axes=([1], [1])) @ m2.T  # (a, c, b)
    holds = holds.transpose(0, 2, 1)
    total = m1.sum(1)[:, None, None] * m2.sum(1)[None, :, None] * m3.sum(1)[None, None, :]
    factor = np.where(total > 0, (holds + EPSILON * (total - holds)) / np.maximum(total, 1), EPSILON)
    p1, p2, p3 = (np.array([o.prob for o in out]) for out in outs)
    w = p1[:, None, None] * p2[None, :, None] * p3[None, None, :] * factor
    z = w.sum()
    if not z > 0:
        return None
    post = w / z
    best = np.unravel_index(int(np.argmax(post)), post.shape)
    marginals = [post.sum(axis=tuple(a for a in range(3) if a != ax)) for ax in range(3)]
    # Readings that hold the rule: every cell a named score and the triple holds.
    holding = (total == 1) & (holds == 1)
    order = [tuple(int(x) for x in ix) for ix in zip(*np.nonzero(holding), strict=True)]
    order.sort(key=lambda ix: -post[ix])
    p_map = float(post[best])
    close = [ix for ix in order if ix != best and (
        post[ix] >= AMBIGUITY_RATIO * p_map
        or (p_map < ROW_MIN_POSTERIOR and post[ix] >= SUGGESTION_MIN_POSTERIOR))]
    offered = [ix for ix in order if post[ix] >= SUGGESTION_MIN_POSTERIOR]
    texts, confs, amb, sugg = [], [], [], []
    for ax, out in enumerate(outs):
        chosen = int(best[ax])
        top = next((i for i, o in enumerate(out) if o.top), len(out) - 1)
        if out[chosen].text is None:  # "other": keep what the recognizer read
            chosen = top
        # The recognizer's own text where its reading is chosen (8.5 and 8,5 are one outcome).
        texts.append(cells[ax][0][0] if chosen == top else out[chosen].text or "")
        confs.append(float(marginals[ax][chosen]))
        amb.append(any(ix[ax] != chosen for ix in close))
        values = [out[chosen].value] + [out[ix[ax]].value for ix in offered]
        values = list(dict.fromkeys(v for v in values if v is not None))
        sugg.append(tuple(values[:MAX_SUGGESTIONS]) if len(values) > 1 else ())
    dists = tuple(_distribution(out, m) for out, m in zip(outs, marginals, strict=True))
    return RowResult(tuple(texts), tuple(confs), tuple(amb), tuple(sugg), p_map,
                     bool(holding[best]), dists)


# --- a batch's readings --------------------------------------------------------------------------
def _as_list(x) -> list:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return []
    return list(x)


def cell_candidates(text: str, confidence: float, candidates: Iterable[str] | None,
                    probs: Iterable[float] | None) -> list[tuple[str, float]]:
    """A reading's ranked (text, probability) candidates; ``[(text, confidence)]`` when the
    reading has none (Tesseract, or readings from before candidates), ``[]`` when empty. The
    top candidate's probability is capped by ``confidence``, which OCR's checks may have lowered."""
    text = text if isinstance(text, str) else ""
    cands, ps = _as_list(candidates), _as_list(probs)
    if not cands or len(cands) != len(ps):
        return [(text, float(confidence))] if text.strip() else []
    out = [(str(c), float(p)) for c, p in zip(cands, ps, strict=True)]
    if out[0][0] != text:  # the contract says text is the first candidate; trust text
        out.insert(0, (text, float(confidence)))
    out[0] = (out[0][0], min(out[0][1], float(confidence)))
    return out if text.strip() else []


@dataclass(frozen=True)
class _Cell:
    field_id: str
    text: str
    confidence: float
    candidates: list[tuple[str, float]]

    @property
    def has_alternative(self) -> bool:
        return len({normalize_field("score", t).value or t for t, _ in self.candidates}) > 1


def _page_cells(readings: pd.DataFrame) -> dict[str, dict[tuple[str, str], _Cell]]:
    """Per page, its score-table cells of the terms by (row, column), and its header
    ("", "school_year") / ("", "class_name") readings."""
    has_cands = "candidates" in readings.columns and "candidate_probs" in readings.columns
    cols = ["page_id", "field_id", "field_type", "text", "confidence"]
    cols += ["candidates", "candidate_probs"] if has_cands else []
    pages: dict[str, dict[tuple[str, str], _Cell]] = {}
    for r in readings[cols].itertuples(index=False, name=None):
        page, fid, ftype, text, conf = r[:5]
        text = text if isinstance(text, str) else ""
        if fid in ("school_year", "class_name"):
            pages.setdefault(page, {})[("", fid)] = _Cell(fid, text, float(conf), [])
            continue
        if ftype != "score" or not isinstance(fid, str) or not fid.startswith(SCORES + "."):
            continue
        f = FieldId.try_parse(fid)
        if f is None or f.table != SCORES or f.column not in TERMS:
            continue
        cands = cell_candidates(text, conf, r[5] if has_cands else None, r[6] if has_cands else None)
        pages.setdefault(page, {})[(str(f.row), str(f.column))] = _Cell(fid, text, float(conf), cands)
    return pages


def decode_rows(readings: pd.DataFrame) -> RowDecoding:
    """Every page's subject rows decoded, then its ĐTB row where the era prints one
    (``field_readings`` rows; ``candidates`` and ``candidate_probs`` optional). Only rows with an
    alternative in some cell (for the ĐTB row: in the ĐTB cell itself) are decoded."""
    if readings.empty:
        return RowDecoding()
    cells: dict[FieldKey, CellDecode] = {}
    for page, got in _page_cells(readings).items():
        dists: dict[tuple[str, str], np.ndarray] = {}
        for subject in sorted({row for row, col in got if row not in ("", AVERAGE_ROW)}):
            trio = [got.get((subject, t)) for t in TERMS]
            if any(c is None or not c.candidates for c in trio) or not any(c.has_alternative for c in trio):
                continue  # a cell missing or empty, or no alternative anywhere: left as read
            res = decode_row([c.candidates for c in trio])
            if res is None:
                continue
            for i, c in enumerate(trio):
                cells[(page, c.field_id)] = CellDecode(res.texts[i], res.confidences[i], c.text,
                                                       c.confidence, res.ambiguous[i], res.suggestions[i])
                dists[(subject, TERMS[i])] = res.distributions[i]
        cells.update(_decode_average_row(page, got, dists))
    return RowDecoding(cells)


# --- the ĐTB row ---------------------------------------------------------------------------------
@cache
def _mean_table(n: int) -> np.ndarray:
    """``M[s]``: the ĐTB (in tenths) of ``n`` subjects whose scores sum to ``s`` tenths, by the
    rule's own mean (``grading.overall_average``)."""
    zeros = {f"_{i}": 0.0 for i in range(n - 1)}
    return np.array([round(grading.overall_average({**zeros, "sum": s / 10}) * 10)
                     for s in range(100 * n + 1)], dtype=np.intp)


def _page_subjects(got: dict[tuple[str, str], _Cell]) -> tuple[str, ...] | None:
    sy, cls = got.get(("", "school_year")), got.get(("", "class_name"))
    if sy is None or cls is None:
        return None
    year = normalize_field("school_year", sy.text).number
    grade = normalize_field("class_name", cls.text).number
    if year is None or grade is None:
        return None
    return overall_average_subjects(int(year), int(grade))


def _decode_average_row(page: str, got: dict[tuple[str, str], _Cell],
                        dists: dict[tuple[str, str], np.ndarray]) -> dict[FieldKey, CellDecode]:
    """Each term's ĐTB cell decoded against the mean of the era's scored subjects (the
    ``overall_average`` rule): the subjects' value distributions (row-decoded, else as read)
    give the distribution of their mean, and a ĐTB reading is weighted by the chance it equals
    it (else ``EPSILON``). One way only: the ĐTB does not move the subjects."""
    out: dict[FieldKey, CellDecode] = {}
    if not any(r == AVERAGE_ROW for r, _ in got):
        return out
    subjects = _page_subjects(got)
    if not subjects:
        return out
    for term in TERMS:
        dtb = got.get((AVERAGE_ROW, term))
        cells = [got.get((s, term)) for s in subjects]
        if (dtb is None or not dtb.candidates or not dtb.has_alternative
                or any(c is None or not c.candidates for c in cells)):
            continue
        parts = [dists.get((s, term)) for s in subjects]
        parts = [p if p is not None else _distribution(o := _outcomes(c.candidates), [x.prob for x in o])
                 for p, c in zip(parts, cells, strict=True) if c is not None]
        res = decode_average(dtb.candidates, parts)
        if res is not None:
            text, conf, amb, sugg = res
            out[(page, dtb.field_id)] = CellDecode(text, conf, dtb.text, dtb.confidence, amb, sugg)
    return out


def decode_average(candidates: Sequence[tuple[str, float]], subjects: Sequence[np.ndarray],
                   ) -> tuple[str, float, bool, tuple[str, ...]] | None:
    """A ĐTB cell's (text, confidence, ambiguous, suggestions) from its candidates and the
    scored subjects' value distributions (101 entries each)."""
    if not candidates or not subjects:
        return None
    total = subjects[0]
    for d in subjects[1:]:
        total = np.convolve(total, d)
    mean = np.bincount(_mean_table(len(subjects)), weights=total, minlength=_GRID)[:_GRID]
    outs = _outcomes(candidates)
    m = _masks(outs)
    holds = (m @ mean) / np.maximum(m.sum(1), 1)  # chance the outcome equals the mean
    w = np.array([o.prob for o in outs]) * (holds + EPSILON * (1 - holds))
    if not w.sum() > 0:
        return None
    post = w / w.sum()
    best = int(np.argmax(post))
    top = next((i for i, o in enumerate(outs) if o.top), len(outs) - 1)
    chosen = top if outs[best].text is None else best
    text = candidates[0][0] if chosen == top else outs[chosen].text or ""
    p_map = float(post[best])
    named = sorted((i for i, o in enumerate(outs) if o.value is not None and i != chosen),
                   key=lambda i: -post[i])
    close = [i for i in named if post[i] >= AMBIGUITY_RATIO * p_map
             or (p_map < ROW_MIN_POSTERIOR and post[i] >= SUGGESTION_MIN_POSTERIOR)]
    values = [outs[chosen].value, *(outs[i].value for i in named if post[i] >= SUGGESTION_MIN_POSTERIOR)]
    if mean.max() >= 0.5:  # the recomputed mean, when the subjects are read well enough to say
        values.append(f"{int(np.argmax(mean)) / 10:.1f}".replace(".", ","))
    values = list(dict.fromkeys(v for v in values if v is not None))
    return (text, float(post[chosen]), bool(close),
            tuple(values[:MAX_SUGGESTIONS]) if len(values) > 1 else ())
