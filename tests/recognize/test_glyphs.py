"""Segmentation and normalization (``pipelines.recognize.glyphs``): no model needed."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from pipelines.recognize import glyphs


def _canvas(w: int = 240, h: int = 100) -> np.ndarray:
    return np.zeros((h, w), np.uint8)


def _digit(m: np.ndarray, x: int, top: int = 25, h: int = 50, w: int = 28) -> None:
    """A tall closed loop, like a 0: one component."""
    cv2.ellipse(m, (x + w // 2, top + h // 2), (w // 2, h // 2), 0, 0, 360, 255, 5)


def _kinds(layout: glyphs.Layout) -> list[str]:
    return [b.kind for b in layout.blobs]


def test_normalize_keeps_aspect_and_centres():
    bar = np.zeros((60, 10), np.uint8)
    bar[:, :] = 255
    x = glyphs.normalize(bar)
    assert x.shape == (glyphs.SIZE, glyphs.SIZE) and x.dtype == np.float32
    rows, cols = np.flatnonzero(x.max(1) > 0.5), np.flatnonzero(x.max(0) > 0.5)
    assert len(rows) == glyphs.FIT  # the longer side fills FIT
    assert len(cols) <= 6  # 10/60 of 24, not stretched
    assert abs((rows[0] + rows[-1]) / 2 - (glyphs.SIZE - 1) / 2) <= 1
    assert abs((cols[0] + cols[-1]) / 2 - (glyphs.SIZE - 1) / 2) <= 1
    assert glyphs.normalize(np.zeros((5, 5), np.uint8)).max() == 0
    assert glyphs.normalize_many([]).shape == (0, 1, glyphs.SIZE, glyphs.SIZE)


def test_two_digits_and_a_comma():
    m = _canvas()
    _digit(m, 60)
    cv2.line(m, (100, 72), (96, 84), 255, 4)  # a comma: low, taller than wide, hanging
    _digit(m, 112)
    lay = glyphs.segment(m)
    assert _kinds(lay) == ["glyph", "comma", "glyph"]
    assert 50 <= lay.line_height <= 60


def test_a_dot_is_told_from_a_comma():
    m = _canvas()
    _digit(m, 60)
    cv2.circle(m, (100, 72), 3, 255, -1)
    _digit(m, 112)
    assert _kinds(glyphs.segment(m)) == ["glyph", "dot", "glyph"]


def test_separators_at_the_ends_and_marks_are_dropped_for_the_grammar():
    m = _canvas()
    cv2.circle(m, (40, 72), 3, 255, -1)  # a dot before anything
    _digit(m, 60)
    cv2.circle(m, (120, 28), 3, 255, -1)  # a mark high up
    seq = glyphs.simplify(glyphs.segment(m).blobs)
    assert [b.kind for b in seq] == ["glyph"]


def test_a_broken_bar_joins_its_glyph():
    m = _canvas()
    cv2.line(m, (70, 25), (70, 75), 255, 5)  # the stem of a D
    cv2.ellipse(m, (70, 50), (25, 25), 0, -90, 90, 255, 5)
    cv2.line(m, (58, 50), (80, 50), 255, 4)
    m[48:53, 60:67] = 0  # the bar's left end broken off: its centre is inside the D
    lay = glyphs.segment(m)
    assert _kinds(lay) == ["glyph"]


def test_touching_glyphs_are_offered_split():
    m = _canvas()
    _digit(m, 60, w=30)
    _digit(m, 100, w=30)
    cv2.line(m, (88, 62), (102, 58), 255, 3)  # a pen stroke joins them: one component
    lay = glyphs.segment(m)
    assert len(lay.groups) == 1
    sizes = sorted(len(opt) for opt in lay.groups[0])
    assert sizes[0] == 1 and 2 in sizes  # unsplit, and in two
    two = next(opt for opt in lay.groups[0] if len(opt) == 2)
    assert two[0].x1 <= two[1].x0 + 2
    assert all(0.6 < b.w / 30 < 1.4 for b in two)


def test_a_pen_lift_is_offered_joined():
    m = _canvas()
    cv2.line(m, (70, 25), (70, 75), 255, 5)
    cv2.ellipse(m, (78, 50), (22, 25), 0, -90, 90, 255, 5)  # the bowl starts just right of the stem
    lay = glyphs.segment(m)
    assert len(lay.groups) == 1
    assert any(len(opt) == 1 for opt in lay.groups[0]) and any(len(opt) == 2 for opt in lay.groups[0])


def test_hypotheses_weights_sum_to_one_and_prefer_heavy_options():
    m = _canvas()
    _digit(m, 60, w=30)
    _digit(m, 100, w=30)
    cv2.line(m, (88, 62), (102, 58), 255, 3)
    lay = glyphs.segment(m)
    hyps = lay.hypotheses(lambda opt: 5.0 if len(opt) == 2 else 1.0)
    assert abs(sum(w for _, w in hyps) - 1) < 1e-9
    assert len(hyps[0][0]) == 2


def test_empty_and_specks():
    assert glyphs.segment(_canvas()).groups == ()
    m = _canvas()
    m[50, 50] = 255
    lay = glyphs.segment(m)  # a lone speck: nothing crashes; it is what there is
    assert len(lay.blobs) <= 1
    assert glyphs.style_chunks(_canvas()) == []


def test_style_chunks_cut_a_joined_word():
    m = _canvas(400)
    cv2.line(m, (20, 60), (380, 60), 255, 6)  # a long joined-up stroke
    for x in range(20, 380, 40):
        cv2.line(m, (x, 30), (x + 10, 62), 255, 5)
    chunks = glyphs.style_chunks(m)
    assert 4 <= len(chunks) <= glyphs.MAX_CHUNKS


@pytest.mark.parametrize("text", ["8,5", "10", "7,0", "CĐ", "12/05/2019"])
def test_printed_cells_segment_into_their_glyphs(text):
    from scripts import glyph_cells as gc

    ftype = "date" if "/" in text else "comment" if "Đ" in text else "score"
    cell = gc.render_cell(ftype, "validate", random.Random(text), style="print", text=text)
    kinds = ["comma" if c == "," else "glyph" for c in text]
    assert [b.kind for b in glyphs.simplify(glyphs.segment(cell.ink).blobs)] == kinds
