"""Blank-page threshold: empty scanned sheets with noise vs. the sparsest pages with writing.

These cases are the calibration of blank.BLANK_MAX_INK_RATIO (see its comment).
"""

from __future__ import annotations

import functools

import cv2
import fontpkg_indie_flower
import fontpkg_noto_sans
import numpy as np
import pytest

from pipelines.ingest.blank import BLANK_MAX_INK_RATIO, measure_ink
from tests.ingest.helpers import a4_sheet, sign_on, write_on

HAND = str(fontpkg_indie_flower.ROOT / "files" / "IndieFlower-Regular.ttf")
SANS = str(fontpkg_noto_sans.ROOT / "files" / "NotoSans[wdth,wght].ttf")


def measure(page: np.ndarray):
    half = cv2.resize(page, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    return measure_ink(half, dpi=150)


EMPTY = {
    "plain": {},
    "heavy noise": {"noise": 15},
    "300 dust specks": {"dust": 300},
    "a hair": {"hair": True, "dust": 30},
    "show-through": {"show_through": True},
    "edge and spine shadows": {"edges": True},
    "uneven light": {"uneven_light": True, "show_through": True, "dust": 100},
    "everything": {
        "noise": 12,
        "dust": 300,
        "hair": True,
        "show_through": True,
        "edges": True,
        "uneven_light": True,
    },
}


@pytest.mark.parametrize("kind", EMPTY)
def test_empty_sheets_are_blank(kind: str) -> None:
    got = measure(a4_sheet(seed=len(kind), **EMPTY[kind]))
    assert got.is_blank, got
    assert got.ink_ratio < BLANK_MAX_INK_RATIO


@functools.cache
def _base() -> np.ndarray:
    return a4_sheet(seed=20, noise=10, dust=50, show_through=True, edges=True)


SPARSE = {
    "handwritten date": lambda s: write_on(
        s, "Ngày 25 tháng 5 năm 2010", font=HAND, px=52, xy=(1300, 2600), ink=60
    ),
    "one handwritten word": lambda s: write_on(s, "Đã ký", font=HAND, px=56, xy=(1500, 2600), ink=60),
    "one word in pencil": lambda s: write_on(s, "Đã ký", font=HAND, px=56, xy=(1500, 2600), ink=140),
    "one handwritten digit": lambda s: write_on(s, "8", font=HAND, px=60, xy=(1500, 2600), ink=60),
    "a signature": sign_on,
    "one printed line": lambda s: write_on(
        s, "Xác nhận của Hiệu trưởng", font=SANS, px=36, xy=(300, 1500), ink=30
    ),
}


@pytest.mark.parametrize("kind", SPARSE)
def test_sparse_pages_are_not_blank(kind: str) -> None:
    got = measure(SPARSE[kind](_base()))
    assert not got.is_blank, got


def test_ink_ratio_of_a_written_page_is_orders_above() -> None:
    page = _base()
    for i in range(20):
        page = write_on(
            page,
            "Toán 8,5 Ngữ văn 7,0 Tiếng Anh 9,0",
            font=SANS,
            px=40,
            xy=(250, 300 + i * 140),
            ink=30,
        )
    assert measure(page).ink_ratio > 0.01
