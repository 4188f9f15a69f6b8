"""The plausibility checks that cap OCR confidence: format, vocabulary, page reliability."""

from __future__ import annotations

from pipelines.contracts import templates
from pipelines.ocr import plausibility
from pipelines.ocr.engine import FieldReading
from pipelines.recognize.text import clean_text


def _spec(type_: str, vocabulary: str | None = None):
    for t in templates().values():
        for s in t.field_specs():
            if s.type == type_ and (vocabulary is None or s.vocabulary == vocabulary):
                return s
    raise AssertionError(type_)


def test_plausible_by_type():
    score, date, comment = _spec("score"), _spec("date"), _spec("comment")
    conduct = _spec("grade_enum", "hanh_kiem")
    assert plausibility.plausible(score, "8,5") and plausibility.plausible(score, "10")
    assert plausibility.plausible(score, "6.4")
    assert not plausibility.plausible(score, "64") and not plausibility.plausible(score, "8,55")
    assert plausibility.plausible(date, "05/09/2021") and not plausibility.plausible(date, "-05709/2021")
    assert plausibility.plausible(comment, "Đ") and plausibility.plausible(comment, "CĐ")
    assert not plausibility.plausible(comment, "®") and not plausibility.plausible(comment, "2)")
    assert plausibility.plausible(conduct, "Tốt") and not plausibility.plausible(conduct, "Tất")
    assert plausibility.checkable(score) and not plausibility.checkable(_spec("name"))


def test_eth_is_read_as_d_with_stroke():
    assert clean_text(" \u00d0 ") == "Đ" and clean_text("\u00f0i  học") == "đi học"


def _reading(field_id: str, text: str, conf: float, checkable: bool = True,
             recognizer: str = "tesseract") -> FieldReading:
    r = FieldReading(field_id, "score", text, conf, recognizer, "", (0, 0, 1, 1), conf, checkable=checkable,
                     recognizer=recognizer if text else "")
    return plausibility.cap(r, "implausible", plausibility.IMPLAUSIBLE_CAP) if text in ("64", "71") else r


def test_a_page_with_many_implausible_readings_caps_every_reading():
    good = [_reading(f"s{i}", "8,5", 0.99) for i in range(16)]
    bad = [_reading("b1", "64", 0.98), _reading("b2", "71", 0.97)]
    names = [_reading("n", "Lê Thế Anh", 0.95, checkable=False), _reading("e", "", 1.0)]
    out = plausibility.check_page(good + bad + names)  # 2 of 18 checkable implausible > 10 %
    assert all(r.confidence <= plausibility.PAGE_UNRELIABLE_CAP for r in out if r.text)
    assert out[-1].confidence == 1.0 and out[-1].checks == ()  # an empty box stays empty
    assert out[0].engine_confidence == 0.99 and "page_unreliable" in out[0].checks
    assert out[16].checks == ("implausible", "page_unreliable")
    assert out[16].confidence == plausibility.IMPLAUSIBLE_CAP
    fine = plausibility.check_page(good + bad[:1] + names)  # 1 of 17: an isolated misreading
    assert [r.confidence for r in fine] == [r.confidence for r in good + bad[:1] + names]


def test_readings_of_a_calibrated_recognizer_are_neither_judged_nor_capped_with_the_page():
    """A handwritten page's cells read by the glyph CNN vouch for themselves: Tesseract failing
    on its other fields caps only Tesseract's readings."""
    good = [_reading(f"s{i}", "8,5", 0.99) for i in range(16)]
    bad = [_reading("b1", "64", 0.98), _reading("b2", "71", 0.97)]
    cnn = [_reading(f"h{i}", "7,5", 0.995, recognizer="glyphs") for i in range(20)]
    out = plausibility.check_page(good + bad + cnn)
    assert all("page_unreliable" in r.checks for r in out[:18])
    assert [(r.confidence, r.checks) for r in out[18:]] == [(0.995, ())] * 20
    # and the CNN's readings do not dilute Tesseract's share of implausible ones
    cnn_bad = [_reading(f"x{i}", "64", 0.9, recognizer="glyphs") for i in range(30)]
    assert not any("page_unreliable" in r.checks for r in plausibility.check_page(good + cnn_bad))
