"""Real people's digits in handwritten cells: only MNIST's validate split, drawn as ink,
one sample per digit written; teachers' slips that never touch the truth."""

from __future__ import annotations

import random
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

import pipelines.synth.render as render
from pipelines.cli import main
from pipelines.contracts import template
from pipelines.forms.draw import mm_to_px
from pipelines.synth import hand_digits, mnist
from pipelines.synth.defects import DefectRates
from pipelines.synth.generate import generate_district
from pipelines.synth.hand_digits import SLIPS, slips_for, written_text
from pipelines.synth.render import Hand, PageSpec, field_styles, random_hand, render_page
from pipelines.synth.truth import build_district

SCORE = re.compile(r"(10|\d),\d")
DPI = 150


@pytest.fixture(scope="module")
def year_page():
    d = build_district(seed=5, schools=1, students=2)
    return d.books[0].pages[1]


def mnist_hand(**kw) -> Hand:
    h = replace(random_hand(random.Random(4)), digits="mnist")
    return replace(h, **kw)


def page_spec(page, hand: Hand, handwritten: bool = True, seed=(1, 2, 3)) -> PageSpec:
    tpl = template(page.template_id)
    return PageSpec(page.template_id, DPI, seed, dict(page.values),
                    field_styles(tpl, handwritten, random.Random(0)), "serif", hand,
                    stamp=False, signatures=False, photo=False)


@pytest.fixture
def digit_calls(monkeypatch):
    """Every (digit, split) the loader is asked for while the test runs."""
    calls: list[tuple[int, str]] = []
    real = mnist.digits

    def recording(digit, split):
        calls.append((digit, split))
        return real(digit, split)

    monkeypatch.setattr(mnist, "digits", recording)
    return calls


# --- the loader ----------------------------------------------------------------------
def test_loader_enforces_splits():
    for d in range(10):
        v, t = mnist.digits(d, "validate"), mnist.digits(d, "train")
        assert v.shape == (200, 28, 28) and t.shape == (500, 28, 28) and v.dtype == np.uint8
        assert not v.flags.writeable
        assert not any(np.array_equal(v[0], x) for x in t[:50])
    with pytest.raises(ValueError):
        mnist.digits(3, "test")  # type: ignore[arg-type]
    assert hand_digits.SYNTH_SPLIT == "validate"


def test_generation_asks_for_validate_only(tmp_path, digit_calls):
    # workers=1: drawn in this process, where the loader is recorded.
    generate_district(tmp_path / "d", schools=1, students=1, seed=1, difficulty="hard",
                      defects=DefectRates.none(), workers=1)
    assert digit_calls, "no handwritten digit was drawn"
    assert {split for _, split in digit_calls} == {"validate"}


# --- digits on the page -------------------------------------------------------------
def test_one_mnist_sample_per_digit_written(year_page, digit_calls, monkeypatch):
    monkeypatch.setattr(render, "slips_for", lambda spec: {})
    spec = page_spec(year_page, mnist_hand())
    render_page(spec)
    written = sum(ch.isdigit() for k, v in spec.values.items()
                  if spec.styles.get(k) == "handwritten" for ch in v)
    assert written > 50
    assert len(digit_calls) == written
    drawn = sorted(d for d, _ in digit_calls)
    assert drawn == sorted(int(ch) for k, v in spec.values.items()
                           if spec.styles.get(k) == "handwritten" for ch in v if ch.isdigit())
    digit_calls.clear()
    render_page(replace(spec, hand=replace(spec.hand, digits="font")))
    assert digit_calls == []


def _ink_crop(a: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(a.max(1) > 0.2), np.flatnonzero(a.max(0) > 0.2)
    return a[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def _similarity(cell: np.ndarray, sample: np.ndarray) -> float:
    ref = _ink_crop(sample.astype(np.float32) / 255)
    got = np.asarray(Image.fromarray(_ink_crop(cell)).resize(ref.shape[::-1],
                                                             Image.Resampling.BILINEAR))
    return float(np.corrcoef(got.ravel(), ref.ravel())[0, 1])


def test_cell_holds_the_mnist_sample(monkeypatch):
    """With the pool reduced to one sample, the cell's ink is that sample's shape."""
    seven, other = mnist.digits(7, "validate")[17], mnist.digits(7, "validate")[90]
    monkeypatch.setattr(mnist, "digits", lambda d, split: np.repeat(seven[None], 200, axis=0))
    fs = next(f for f in template("year_thcs_tt58").field_specs() if f.type == "score")
    hand = mnist_hand(jitter=0.0, digit_slant=0.0, digit_stroke=0, ink=(20, 20, 20))
    img = Image.new("RGB", (mm_to_px(210, 300), mm_to_px(297, 300)), (255, 255, 255))
    render._write_hand(img, fs, "7", hand, 300, random.Random(0))
    x, y, w, h = (mm_to_px(v, 300) for v in fs.box)
    cell = 1 - np.asarray(img.convert("L"), np.float32)[y:y + h, x:x + w] / 255
    assert cell.max() > 0.8  # dark, solid strokes
    same, different = _similarity(cell, seven), _similarity(cell, other)
    assert same > 0.75 and same > different + 0.15, (same, different)


def test_digits_are_ink_not_boxes(year_page):
    """Multiplied into the paper: no pixel of a score cell gets lighter than the empty
    form (a table rule under a digit stays as dark as it was)."""
    spec = page_spec(year_page, mnist_hand())
    filled = np.asarray(render_page(spec), np.int16)
    empty = np.asarray(render_page(replace(spec, values={})), np.int16)
    tpl = template(spec.template_id)
    m = mm_to_px(1.0, DPI)
    for k, v in spec.values.items():
        if tpl.field(k).type == "score" and SCORE.fullmatch(v):
            x, y, w, h = (mm_to_px(c, DPI) for c in tpl.field(k).box)
            a, b = filled[y - m:y + h + m, x - m:x + w + m], empty[y - m:y + h + m, x - m:x + w + m]
            assert (a <= b).all() and (a < b - 60).any(), k


def test_writer_is_consistent_and_seeded(year_page):
    spec = page_spec(year_page, mnist_hand())
    a = render_page(spec).tobytes()
    assert a == render_page(spec).tobytes()
    assert a != render_page(replace(spec, seed=(1, 2, 4))).tobytes()
    hands = [random_hand(random.Random(i)) for i in range(200)]
    share = sum(h.digits == "mnist" for h in hands) / len(hands)
    assert 0.65 < share < 0.92
    assert all(h.digits == "font" for h in (random_hand(random.Random(i), "font")
                                            for i in range(20)))
    # Digit habits draw nothing from the plan's stream: the mode changes nothing else.
    r1, r2 = random.Random(9), random.Random(9)
    h1, h2 = random_hand(r1, "mnist"), random_hand(r2, "font")
    assert replace(h1, digits="font") == h2 and r1.random() == r2.random()


def test_printed_pages_do_not_change(year_page):
    spec = page_spec(year_page, mnist_hand(), handwritten=False)
    spec = replace(spec, styles={k: "print" for k in spec.styles})
    assert render_page(spec).tobytes() == render_page(
        replace(spec, hand=replace(spec.hand, digits="font"))).tobytes()
    assert slips_for(spec) == {}


# --- slips ---------------------------------------------------------------------------
def test_slip_rate_and_kinds(year_page):
    counts: dict[str, int] = {}
    cells = 0
    for i in range(300):
        spec = page_spec(year_page, mnist_hand(), seed=(i, 5, 2))
        cells += sum(bool(SCORE.fullmatch(v)) for k, v in spec.values.items()
                     if template(spec.template_id).field(k).type == "score")
        for k, slip in slips_for(spec).items():
            assert slip in SLIPS and SCORE.fullmatch(spec.values[k])
            counts[slip] = counts.get(slip, 0) + 1
    assert 0.015 < sum(counts.values()) / cells < 0.05
    assert set(counts) >= set(SLIPS) - {"ten_close"}


def test_written_text():
    assert written_text("8,5", "dot_comma") == "8.5"
    assert written_text("8,5", "no_comma") == "85"
    assert written_text("10,0", "ten_close") == "10"
    for kind in ("", "faint_comma", "touching", "crosses_rule"):
        assert written_text("8,5", kind) == "8,5"


@pytest.mark.parametrize("digits", ["mnist", "font"])
def test_every_slip_draws_and_keeps_truth(year_page, monkeypatch, digits):
    spec = page_spec(year_page, mnist_hand(digits=digits))
    values = dict(spec.values)
    cells = [k for k, v in values.items() if SCORE.fullmatch(v)
             and template(spec.template_id).field(k).type == "score"]
    kinds = list(SLIPS)
    forced = {k: kinds[i % len(kinds)] for i, k in enumerate(cells)}
    monkeypatch.setattr(render, "slips_for", lambda s: forced)
    filled = np.asarray(render_page(spec).convert("L")).astype(int)
    assert spec.values == values  # the truth is what was meant, whatever the pen did
    empty = np.asarray(render_page(replace(spec, values={})).convert("L")).astype(int)
    ink = np.abs(filled - empty) > 60
    for k in cells:
        x, y, w, h = (mm_to_px(v, DPI) for v in template(spec.template_id).field(k).box)
        m = mm_to_px(1.5, DPI)  # a rule-crossing digit goes at most 0.9 mm past the rule
        assert ink[y - m:y + h + m, x - m:x + w + m].sum() > 0, k


def test_slips_in_the_truth(corpus):
    out, _ = corpus
    fields = pd.read_parquet(out / "truth" / "fields.parquet")
    assert set(fields["slip"]) <= {"", *SLIPS}
    slipped = fields[fields["slip"] != ""]
    assert (slipped["style"] == "handwritten").all() and (slipped["field_type"] == "score").all()
    assert slipped["text"].str.fullmatch(SCORE.pattern).all()
    assert [written_text(t, s) for t, s in zip(fields["text"], fields["slip"], strict=True)] \
        == fields["written"].tolist()


# --- settings ------------------------------------------------------------------------
def test_cli_has_hand_digits_option():
    r = CliRunner().invoke(main, ["synth", "--help"])
    assert r.exit_code == 0 and "--hand-digits" in r.output
