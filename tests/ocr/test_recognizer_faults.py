"""Recognizers as plugins, and what a broken one costs: only its own cells, with an exact outcome.

Fakes registered under the name ``field_types.yaml`` gives the print recognizer crash,
hang, answer garbage or answer with the wrong number of readings; each outcome is asserted
field by field, as OCRmyPDF tests its engines with fakes.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from pipelines.contracts import field_types, templates
from pipelines.errors import ConfigError
from pipelines.forms.draw import mm_to_px
from pipelines.ocr import engine
from pipelines.ocr._image import reference_gray
from pipelines.recognize import registry
from pipelines.recognize.base import Candidate, Reading, Recognizer, StyleGuess
from pipelines.settings import get_settings

TEMPLATE = "year_thcs_tt58"


@pytest.fixture
def page():
    """The blank year form with '8' written into its first six score boxes."""
    t = templates()[TEMPLATE]
    img = np.array(reference_gray(t, 300))
    written = [s for s in t.field_specs() if s.type == "score"][:6]
    for s in written:
        x, y, w, h = s.box
        cv2.putText(img, "8", (mm_to_px(x + w / 3, 300), mm_to_px(y + h * 0.8, 300)),
                    cv2.FONT_HERSHEY_SIMPLEX, 1.6, 0, 4)
    return t, img, {s.field_id for s in written}


@pytest.fixture
def print_style(monkeypatch):
    """Every inked cell is print, so the print recognizer of the score type reads it."""
    monkeypatch.setattr(engine, "styles_of", lambda cells: [StyleGuess("print", 0.99)] * len(cells))
    return field_types()["score"].recognizers["print"]


@pytest.fixture
def fake(print_style):
    def install(read):
        cls = type("Fake", (), {"name": "fake", "read": lambda self, cells, ft: read(cells, ft)})
        registry.register(print_style, cls)
        return print_style

    yield install
    registry.unregister(print_style)


def _by_field(t, img):
    return {r.field_id: r for r in engine.read_fields(img, t, 300)}


def test_a_crashing_recognizer_costs_only_its_cells(page, fake):
    t, img, written = page

    def crash(cells, ft):
        raise RuntimeError("segfault simulated")

    name = fake(crash)
    got = _by_field(t, img)
    for f in written:
        r = got[f]
        assert (r.text, r.confidence, r.checks, r.candidates) == ("", 0.0, ("recognizer_failed",), ())
        assert r.engine == f"{name} (recognizer_failed)" and r.style == "print"
    empty = [r for f, r in got.items() if f not in written and r.field_type == "score"]
    assert empty and all((r.text, r.confidence, r.checks) == ("", 1.0, ()) for r in empty)


def test_a_hanging_recognizer_is_cut_off_at_its_budget(page, fake, monkeypatch):
    t, img, written = page
    monkeypatch.setenv("HOCBA_RECOGNIZER_TIMEOUT_S", "0.05")
    get_settings.cache_clear()

    def hang(cells, ft):
        end = time.monotonic() + 30
        while time.monotonic() < end:
            pass
        return []

    fake(hang)
    start = time.monotonic()
    got = _by_field(t, img)
    assert time.monotonic() - start < 10
    assert {(got[f].text, got[f].confidence, got[f].checks) for f in written} == {
        ("", 0.0, ("recognizer_timeout",))}
    get_settings.cache_clear()


@pytest.mark.parametrize("garbage", [
    pytest.param(lambda cells: [Reading((Candidate("8", 1.7),), "fake")] * len(cells), id="p-above-1"),
    pytest.param(lambda cells: [Reading((Candidate("8", float("nan")),), "fake")] * len(cells), id="p-nan"),
    pytest.param(lambda cells: [Reading((Candidate(8, 0.9),), "fake")] * len(cells), id="text-not-str"),
    pytest.param(lambda cells: [("8", 0.9)] * len(cells), id="not-a-reading"),
    pytest.param(lambda cells: [Reading((Candidate("8", 0.9),), "fake")], id="one-reading-for-six"),
    pytest.param(lambda cells: None, id="none"),
])
def test_garbage_answers_are_refused_per_cell(page, fake, garbage):
    t, img, written = page
    fake(lambda cells, ft: garbage(cells))
    got = _by_field(t, img)
    assert {(got[f].text, got[f].confidence, got[f].checks) for f in written} == {
        ("", 0.0, ("recognizer_failed",))}


def test_plausible_looking_garbage_is_capped_by_the_format_check(page, fake):
    t, img, written = page
    fake(lambda cells, ft: [Reading((Candidate("##", 0.99),), "fake")] * len(cells))
    got = _by_field(t, img)
    assert {(got[f].text, got[f].confidence, got[f].checks) for f in written} == {
        ("##", 0.3, ("implausible",))}


def test_a_broken_installation_stops_the_page(page, fake):
    t, img, _ = page

    def broken(cells, ft):
        raise ConfigError("models/glyphs/glyphs.onnx is missing")

    fake(broken)
    with pytest.raises(ConfigError, match=r"glyphs\.onnx"):
        engine.read_fields(img, t, 300)


def test_the_registry_resolves_every_recognizer_named_by_the_contract():
    named = {n for ft in field_types().values() for n in ft.recognizers.values()}
    for n in named:
        assert isinstance(registry.get(n), Recognizer)
    with pytest.raises(ConfigError, match="unknown"):
        registry.get("no-such-engine")


def test_tesseract_reads_a_printed_digit_through_the_protocol(page, print_style):
    t, img, written = page
    got = _by_field(t, img)
    r = got[sorted(written)[0]]
    assert r.text == "8" and r.candidates[0].text == "8" and r.engine.startswith(print_style)
