"""Row decoding: a subject row's HK I, HK II and Cả năm read as a whole over the recognizer's
candidates, and its effect through validate_batch (values, confidences, reasons, suggestions)."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from pipelines.contracts.tables import arrow_schema
from pipelines.frames import to_frame
from pipelines.validate import rowdecode
from pipelines.validate.rowdecode import EPSILON, cell_candidates, decode_row, decode_rows
from pipelines.validate.rules import YearValues, check_year
from pipelines.validate.stage import validate_batch

TOAN = [f"scores.toan.{t}" for t in ("hk1", "hk2", "ca_nam")]


# --- one row -------------------------------------------------------------------------------------
def test_a_broken_top_reading_is_decoded_to_the_candidate_that_holds():
    # (6,0 + 2×7,0)/3 = 6,7 ≠ 7,0; with HK II's second candidate 7,5: (6,0 + 15,0)/3 = 7,0.
    r = decode_row([[("6,0", 0.98)], [("7,0", 0.6), ("7,5", 0.39)], [("7,0", 0.98)]])
    assert r.texts == ("6,0", "7,5", "7,0")
    assert r.map_holds and r.map_posterior > 0.99
    assert min(r.confidences) > 0.99  # the rule corroborates all three
    assert not any(r.ambiguous)


def test_two_close_readings_that_hold_make_the_row_ambiguous():
    # (6,0, 8,0, 7,3) and (8,0, 8,0, 8,0) both hold; nothing decides between them.
    r = decode_row([[("6,0", 0.5), ("8,0", 0.45)], [("8,0", 0.99)], [("7,3", 0.5), ("8,0", 0.49)]])
    assert r.ambiguous == (True, False, True)  # HK II reads the same in both
    assert set(r.suggestions[0]) == {"6,0", "8,0"} and set(r.suggestions[2]) == {"7,3", "8,0"}
    assert r.suggestions[1] == ()
    assert r.confidences[0] < 0.6 and r.confidences[1] > 0.99


def test_a_row_that_holds_raises_its_confidence():
    cells = [[("6,0", 0.95), ("8,0", 0.03)], [("7,5", 0.95), ("7,0", 0.03)], [("7,0", 0.95), ("7,5", 0.03)]]
    r = decode_row(cells)
    assert r.texts == ("6,0", "7,5", "7,0")
    assert all(c > 0.999 for c in r.confidences)


def test_an_unnamed_value_that_holds_beats_a_weak_candidate():
    # Cả năm's candidates 6,0 / 5,0 both break the rule with 6,0 and 7,0 (6,7): the unnamed
    # mass holds 6,7, so Cả năm keeps its reading, with a confidence that says it is doubtful.
    r = decode_row([[("6,0", 0.99)], [("7,0", 0.99)], [("6,0", 0.8), ("5,0", 0.1)]])
    assert r.texts == ("6,0", "7,0", "6,0") and not r.map_holds
    assert r.confidences[2] < 0.5  # most of the mass: a Cả năm of 6,7 no candidate names


def test_same_values_written_differently_are_one_outcome_and_the_ocr_text_is_kept():
    r = decode_row([[("6.0", 0.5), ("6,0", 0.45)], [("7,5", 0.97)], [("7,0", 0.97)]])
    assert r.texts[0] == "6.0"  # the recognizer's own text, not the merged candidate's
    assert r.confidences[0] > 0.99


def test_unparseable_readings_never_hold():
    r = decode_row([[("6,?", 0.7), ("6,0", 0.25)], [("7,5", 0.97)], [("7,0", 0.97)]])
    assert r.texts[0] == "6,0" and r.confidences[0] > 0.9


def test_the_decoder_uses_the_rules_year_average():
    """The table the decoder scores with says "holds" exactly where rules.check_year passes."""
    rng = random.Random(7)
    table = rowdecode._year_average_table()
    for _ in range(400):
        h1, h2 = rng.randrange(101), rng.randrange(101)
        ca = table[h1, h2] + rng.choice([-1, 0, 0, 1])
        if not 0 <= ca <= 100:
            continue
        values = dict(zip(TOAN, (h1 / 10, h2 / 10, ca / 10), strict=True))
        fails = check_year(YearValues("p", None, None, values))
        assert (ca == table[h1, h2]) == (not fails)


def test_epsilon_is_small_but_not_zero():
    assert 0 < EPSILON < 1e-2  # a broken row stays possible (a teacher's slip) but unlikely


# --- readings --------------------------------------------------------------------------------------
def test_cell_candidates_fall_back_to_the_reading():
    assert cell_candidates("7,5", 0.8, None, None) == [("7,5", 0.8)]
    assert cell_candidates("7,5", 0.8, [], []) == [("7,5", 0.8)]
    assert cell_candidates("", 1.0, [], []) == []
    # The top candidate's probability is capped by the (check-capped) confidence.
    assert cell_candidates("7,5", 0.5, ["7,5", "7,0"], [0.9, 0.1]) == [("7,5", 0.5), ("7,0", 0.1)]


PAGE = "p1"
TEMPLATE = "year_thcs_tt58"


def _reading(field_id: str, field_type: str, text: str, conf: float, cands=None, probs=None,
             style: str = "hand", page: str = PAGE) -> dict:
    cands = [text] if cands is None and text else (cands or [])
    probs = [conf] if probs is None and text else (probs or [])
    return {"batch_id": "760/S1/b001", "page_id": page, "book_ref": "HB-1", "template_id": TEMPLATE,
            "field_id": field_id, "field_type": field_type, "text": text, "confidence": conf,
            "engine_confidence": conf, "checks": "", "style": style if text else "",
            "style_confidence": 0.97 if text else 1.0, "candidates": cands, "candidate_probs": probs,
            "engine": "test", "engine_settings": "", "crop_uri": None, "box_px": [0.0, 0.0, 1.0, 1.0]}


def _page(*rows: dict) -> pd.DataFrame:
    header = [_reading("school_year", "school_year", "2015-2016", 0.99, style="print"),
              _reading("class_name", "class_name", "8A1", 0.99, style="print")]
    return to_frame("field_readings", [*header, *rows])


def test_decode_rows_leaves_rows_without_an_alternative_as_read():
    readings = _page(
        # Tesseract: one candidate per cell (the row breaks the rule: the rule check flags it).
        _reading(TOAN[0], "score", "6,0", 0.9, style="print"),
        _reading(TOAN[1], "score", "7,0", 0.9, style="print"),
        _reading(TOAN[2], "score", "7,0", 0.9, style="print"),
        # An empty cell: the rule cannot be checked.
        _reading("scores.vat_li.hk1", "score", "", 1.0),
        _reading("scores.vat_li.hk2", "score", "7,0", 0.6, ["7,0", "7,5"], [0.6, 0.4]),
        _reading("scores.vat_li.ca_nam", "score", "7,0", 0.9),
        # A comment subject: no arithmetic.
        _reading("scores.the_duc.hk1", "comment", "Đ", 0.6, ["Đ", "CĐ"], [0.6, 0.4]),
        _reading("scores.the_duc.hk2", "comment", "Đ", 0.9),
        _reading("scores.the_duc.ca_nam", "comment", "Đ", 0.9),
        # Two cells only (Cả năm missing).
        _reading("scores.hoa_hoc.hk1", "score", "6,0", 0.6, ["6,0", "6,5"], [0.6, 0.4]),
        _reading("scores.hoa_hoc.hk2", "score", "7,0", 0.9),
    )
    d = decode_rows(readings)
    assert d.cells == {}
    pd.testing.assert_frame_equal(d.apply(readings), readings)


def test_decode_rows_and_apply():
    readings = _page(
        _reading(TOAN[0], "score", "6,0", 0.98),
        _reading(TOAN[1], "score", "7,0", 0.6, ["7,0", "7,5"], [0.6, 0.39]),
        _reading(TOAN[2], "score", "7,0", 0.98),
    )
    d = decode_rows(readings)
    assert set(d.cells) == {(PAGE, f) for f in TOAN}
    assert set(d.changed) == {(PAGE, TOAN[1])} and "7,5" in d.changed[(PAGE, TOAN[1])].note
    applied = d.apply(readings).set_index("field_id")
    assert applied.loc[TOAN[1], "text"] == "7,5" and applied.loc[TOAN[1], "confidence"] > 0.99
    assert readings.set_index("field_id").loc[TOAN[1], "text"] == "7,0"  # a copy


# --- through the stage -----------------------------------------------------------------------------
def _run(readings: pd.DataFrame, thresholds: dict):
    pages = sorted(set(readings["page_id"]))
    layouts = to_frame("page_layouts", [{
        "batch_id": "760/S1/b001", "page_id": p, "book_ref": "HB-1", "book_page_no": 2,
        "page_kind": "year_page", "template_id": TEMPLATE, "classification_score": 1.0,
        "alignment_method": "test", "alignment_score": 1.0, "transform": None, "status": "ok"}
        for p in pages])
    images = pd.DataFrame({"page_id": pages, "image_uri": [f"{p}.png" for p in pages]})
    roster = arrow_schema("roster").empty_table().to_pandas()
    return validate_batch(readings, layouts, images, roster, thresholds)


HAND = {("score", "hand"): 0.99, ("score", "print"): 0.9, ("school_year", "print"): 0.9,
        ("class_name", "print"): 0.9}


def _by_field(df: pd.DataFrame) -> pd.DataFrame:
    return df.set_index("field_id")


def test_stage_decodes_a_broken_row_and_keeps_the_ocr_text_as_raw_text():
    r = _run(_page(_reading(TOAN[0], "score", "6,0", 0.98),
                   _reading(TOAN[1], "score", "7,0", 0.6, ["7,0", "7,5"], [0.6, 0.39]),
                   _reading(TOAN[2], "score", "7,0", 0.98)), HAND)
    d, n = _by_field(r.field_decisions), _by_field(r.normalized_records)
    assert d.loc[TOAN[1], "value"] == "7,5" and n.loc[TOAN[1], "raw_text"] == "7,0"
    assert d.loc[TOAN[1], "confidence"] > 0.99 and d.loc[TOAN[1], "style"] == "hand"
    assert (d.loc[TOAN, "decision"] == "accept").all(), d.loc[TOAN, "reasons"]


def test_stage_flags_an_ambiguous_row_and_offers_both_readings():
    r = _run(_page(_reading(TOAN[0], "score", "6,0", 0.5, ["6,0", "8,0"], [0.5, 0.45]),
                   _reading(TOAN[1], "score", "8,0", 0.995),
                   _reading(TOAN[2], "score", "7,3", 0.5, ["7,3", "8,0"], [0.5, 0.49])), HAND)
    d = _by_field(r.field_decisions)
    assert "row_ambiguous" in d.loc[TOAN[0], "reasons"] and "row_ambiguous" in d.loc[TOAN[2], "reasons"]
    assert "row_ambiguous" not in d.loc[TOAN[1], "reasons"]
    q = _by_field(r.review_queue)
    assert {"6,0", "8,0"} <= set(q.loc[TOAN[0], "candidates"])
    assert {"7,3", "8,0"} <= set(q.loc[TOAN[2], "candidates"])
    assert q.loc[TOAN[2], "candidates"][0] == "7,3"  # the decoded value first


def test_stage_keeps_tesseract_rows_as_before():
    """Print cells with one candidate: values, confidences and reasons as without decoding."""
    rows = [_reading(TOAN[0], "score", "6,0", 0.95, style="print"),
            _reading(TOAN[1], "score", "7,0", 0.95, style="print"),
            _reading(TOAN[2], "score", "7,0", 0.95, style="print")]
    r = _run(_page(*rows), HAND)
    bare = _page(*rows).drop(columns=["style", "style_confidence", "candidates", "candidate_probs"])
    old = _run(bare, {k[0]: v for k, v in HAND.items() if k[1] == "print"})  # thresholds by type only
    d, o = _by_field(r.field_decisions), _by_field(old.field_decisions)
    assert (d.loc[TOAN, "confidence"] == 0.95).all()
    assert list(d.loc[TOAN, "reasons"]) == list(o.loc[TOAN, "reasons"]) == [["rule:year_average"]] * 3
    assert list(d.loc[TOAN, "value"]) == ["6,0", "7,0", "7,0"]


@pytest.mark.parametrize("style, flagged", [("hand", True), ("print", False)])
def test_a_style_without_calibration_is_flagged(style, flagged):
    rows = [_reading(TOAN[0], "score", "6,0", 0.999, style=style),
            _reading(TOAN[1], "score", "7,5", 0.999, style=style),
            _reading(TOAN[2], "score", "7,0", 0.999, style=style)]
    r = _run(_page(*rows), {("score", "print"): 0.9, ("school_year", "print"): 0.9,
                            ("class_name", "print"): 0.9})
    d = _by_field(r.field_decisions)
    assert (d.loc[TOAN, "decision"] == "flag").all() == flagged
    assert all(("low_confidence" in rs) == flagged for rs in d.loc[TOAN, "reasons"])


# --- the ĐTB row -------------------------------------------------------------------------------------
def _one_hot(x: float) -> np.ndarray:
    d = np.zeros(101)
    d[round(x * 10)] = 1.0
    return d


def test_the_mean_table_is_the_rules_overall_average():
    from pipelines.validate.rules import overall_average_subjects
    subjects = overall_average_subjects(2015, 8)
    assert subjects and "toan" in subjects and "the_duc" not in subjects  # TT58: scored subjects
    assert overall_average_subjects(2023, 8) is None  # TT22 prints no ĐTB
    rng = random.Random(3)
    table = rowdecode._mean_table(len(subjects))
    for _ in range(100):
        tenths = {s: rng.randrange(30, 101) for s in subjects}
        dtb = table[sum(tenths.values())]
        for delta in (0, 1):
            values = {f"scores.{s}.hk1": t / 10 for s, t in tenths.items()}
            values["scores.dtb.hk1"] = (dtb + delta) / 10
            fails = [f for f in check_year(YearValues("p", 2015, 8, values))
                     if f.rule_id == "overall_average"]
            assert bool(fails) == bool(delta)


def test_a_dtb_misread_is_decoded_to_the_subjects_mean():
    scores = [8.0, 7.5, 6.0, 9.0, 7.0, 6.5, 7.5, 8.5, 7.0, 6.0, 7.5]  # mean 7,32 -> 7,3
    text, conf, ambiguous, suggestions = rowdecode.decode_average(
        [("7,8", 0.6), ("7,3", 0.35)], [_one_hot(x) for x in scores])
    assert text == "7,3" and conf > 0.99 and not ambiguous
    assert suggestions == ()  # 7,8 cannot be the mean: nothing else worth offering


def test_decode_rows_decodes_the_dtb_cell_of_a_tt58_page_only():
    from pipelines.validate.rules import overall_average_subjects
    scores = [8.0, 7.5, 6.0, 9.0, 7.0, 6.5, 7.5, 8.5, 7.0, 6.0, 7.5]
    subjects = overall_average_subjects(2015, 8)
    assert len(subjects) == len(scores)
    rows = [_reading(f"scores.{s}.hk1", "score", f"{x:.1f}".replace(".", ","), 0.97, style="print")
            for s, x in zip(subjects, scores, strict=True)]
    rows.append(_reading("scores.dtb.hk1", "score", "7,8", 0.6, ["7,8", "7,3"], [0.6, 0.35]))
    d = decode_rows(_page(*rows))
    assert d.cells[(PAGE, "scores.dtb.hk1")].text == "7,3"
    assert d.cells[(PAGE, "scores.dtb.hk1")].confidence > 0.9
    tt22 = _page(*rows).assign(text=lambda f: f["text"].where(f["field_id"] != "school_year", "2023-2024"))
    assert decode_rows(tt22).cells == {}
