"""Decoding to 8-bit gray at 300 dpi: the resolution rule, modes, errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pipelines.ingest import raster


def test_declared_dpi_resamples_per_axis() -> None:
    gray = np.full((1000, 1700), 200, np.uint8)  # fax-style 204 × 98 dpi, ~A4
    out, rule = raster.normalize_dpi(gray, (204.0, 98.0))
    assert rule == "declared"
    assert out.shape == (round(1000 * 300 / 98), round(1700 * 300 / 204))


def test_300_dpi_untouched() -> None:
    gray = np.zeros((3508, 2480), np.uint8)
    out, rule = raster.normalize_dpi(gray, (300.0, 300.0))
    assert out is gray and rule == "declared"


@pytest.mark.parametrize("dpi", [None, (72.0, 72.0)])
def test_unknown_or_implausible_dpi_fits_a4(dpi) -> None:
    # A phone photo: 3024 × 4032 "at 72 dpi" would be a 42 × 56 inch sheet.
    gray = np.zeros((4032, 3024), np.uint8)
    out, rule = raster.normalize_dpi(gray, dpi)
    assert rule == "a4_fit"
    assert out.shape == (round(4032 * 2480 / 3024), 2480)  # the short side limits


def test_a4_fit_landscape() -> None:
    out, _ = raster.normalize_dpi(np.zeros((1000, 2000), np.uint8), None)
    assert out.shape == (1754, 3508)  # the long side limits: 3508 / 2000 < 2480 / 1000


def _png(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("1", 1, 255),
        ("RGB", (255, 0, 0), 255),  # red drops out (the school's stamp)
        ("RGB", (30, 45, 140), 30),  # blue pen stays dark
        ("I;16", 65535, 255),
        ("RGBA", (0, 0, 0, 0), 255),
    ],
)
def test_modes_to_gray(tmp_path, mode, value, expected) -> None:
    path = tmp_path / "p.png"
    path.write_bytes(_png(Image.new(mode, (1240, 1748), value), dpi=(300, 300)))
    page = raster.decode_page(str(path), "png", 0)
    assert page.gray.dtype == np.uint8 and page.gray.shape == (1748, 1240)
    assert int(page.gray[0, 0]) == expected
    assert page.source_dpi == 300 and page.exif_rotation == 0


def test_count_and_decode_errors(tmp_path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(raster.FileOpenError):
        raster.count_pages(str(bad), "png")
    good = tmp_path / "good.png"
    good.write_bytes(_png(Image.new("L", (100, 100), 9))[:-30])  # IEND and some data gone
    assert raster.count_pages(str(good), "png").pages == 1  # the header opens
    with pytest.raises(raster.PageDecodeError, match="png page 0"):
        raster.decode_page(str(good), "png", 0)
