"""Orientation detection with Tesseract OSD: turns when sure, never turns wrongly."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from pipelines.ingest.orientation import TURN_CONFIDENCE, detect_orientation, rotate_cw
from tests.ingest.helpers import A4, FONT, a4_form, add_noise, similarity


@pytest.fixture(scope="module")
def form() -> np.ndarray:
    return np.asarray(a4_form(seed=3, skew=-1.5))


@pytest.mark.parametrize("turned_by", [0, 90, 180, 270])
def test_form_page_made_upright(form: np.ndarray, turned_by: int) -> None:
    scanned = rotate_cw(form, turned_by)  # how it lay on the scanner
    found = detect_orientation(scanned)
    assert found.rotate_cw == (360 - turned_by) % 360
    assert found.confidence >= (TURN_CONFIDENCE if turned_by else 1.0)
    assert similarity(rotate_cw(scanned, found.rotate_cw), form) > 0.99


@pytest.mark.parametrize("turned_by", [0, 90, 180])
def test_page_with_two_words_is_never_turned_wrongly(turned_by: int) -> None:
    img = Image.new("L", A4, 238)
    ImageDraw.Draw(img).text((300, 3000), "điểm lớp", font=ImageFont.truetype(FONT, 44), fill=25)
    page = np.asarray(add_noise(img, 8, seed=turned_by))
    found = detect_orientation(rotate_cw(page, turned_by))
    assert found.rotate_cw in (0, (360 - turned_by) % 360)


def test_rotate_cw() -> None:
    a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert rotate_cw(a, 90).tolist() == [[3, 0], [4, 1], [5, 2]]
    assert rotate_cw(a, 270).tolist() == [[2, 5], [1, 4], [0, 3]]
    assert rotate_cw(rotate_cw(a, 90), 270).tolist() == a.tolist()
