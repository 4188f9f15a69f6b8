"""Read a template's fields from an aligned page: crop, clean, Tesseract per field type."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from pipelines import tess
from pipelines.contracts import FieldSpec, Template, field_types
from pipelines.forms.draw import mm_to_px

ENGINE = "tesseract"
MARGIN_MM = 0.8
"""Crop margin around a box: room for residual misalignment; table rules are removed."""
SPECK_MM = 0.3
"""Ink components smaller than this square are noise or the dotted writing line."""
MIN_INK_PX_MM2 = 0.5
"""Less ink than this area (mm²) after cleaning means the box is empty."""


@dataclass(frozen=True)
class FieldReading:
    field_id: str
    field_type: str
    text: str
    confidence: float
    engine: str
    settings: str
    box_px: tuple[int, int, int, int]
    """x, y, w, h of the crop in the aligned page at the reading dpi."""


def _crop_box(spec: FieldSpec, dpi: int, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    x, y, w, h = spec.box
    x0 = max(0, mm_to_px(x - MARGIN_MM, dpi))
    y0 = max(0, mm_to_px(y - MARGIN_MM, dpi))
    x1 = min(shape[1], mm_to_px(x + w + MARGIN_MM, dpi))
    y1 = min(shape[0], mm_to_px(y + h + MARGIN_MM, dpi))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def clean_crop(crop: np.ndarray, dpi: int) -> np.ndarray:
    """Binary ink mask (uint8 0/255) of a crop with table rules and specks removed."""
    blurred = cv2.GaussianBlur(crop, (3, 3), 0)
    _, ink = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    if float(crop.max()) - float(crop.min()) < 60:  # flat crop: Otsu would split paper noise
        return np.zeros_like(crop)
    h, w = ink.shape
    lines = np.zeros_like(ink)
    for kw, kh in ((max(10, int(w * 0.6)), 1), (1, max(10, int(h * 0.7)))):
        opened = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (kw, kh)))
        lines |= opened
    lines = cv2.dilate(lines, np.ones((3, 3), np.uint8))
    ink = cv2.bitwise_and(ink, cv2.bitwise_not(lines))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    min_area = (SPECK_MM * dpi / 25.4) ** 2
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] < min_area:
            ink[labels == i] = 0
    return ink


def _settings(ftype: str) -> tuple[str, int, str | None]:
    ft = field_types()[ftype]
    return ft.lang, ft.psm, ft.whitelist


def read_field(page: np.ndarray, spec: FieldSpec, dpi: int = 300) -> FieldReading:
    lang, psm, whitelist = _settings(spec.type)
    settings = f"lang={lang} psm={psm}" + (f" whitelist={whitelist}" if whitelist else "")
    box = _crop_box(spec, dpi, page.shape)
    x, y, w, h = box
    ink = clean_crop(page[y : y + h, x : x + w], dpi) if w and h else np.zeros((1, 1), np.uint8)
    if int(np.count_nonzero(ink)) < MIN_INK_PX_MM2 * (dpi / 25.4) ** 2:
        return FieldReading(spec.field_id, spec.type, "", 1.0, ENGINE, settings, box)
    # Black text on white with a white border: what Tesseract reads best.
    pad = mm_to_px(1.0, dpi)
    img = cv2.copyMakeBorder(255 - ink, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    variables = {"tessedit_char_whitelist": whitelist} if whitelist else None
    api = tess.get_api(lang, psm, variables=variables)
    api.SetImage(Image.fromarray(img))
    api.SetSourceResolution(dpi)
    api.Recognize()
    text = unicodedata.normalize("NFC", " ".join((api.GetUTF8Text() or "").split()))
    confs: list[float] = []
    it = api.GetIterator()
    level = tess.tesserocr.RIL.SYMBOL  # via pipelines.tess, which sets OMP_THREAD_LIMIT first
    if it is not None and text:
        while True:
            if not it.Empty(level):
                confs.append(it.Confidence(level))
            if not it.Next(level):
                break
    conf = (min(confs) / 100.0) if (text and confs) else 0.0
    return FieldReading(spec.field_id, spec.type, text, round(max(0.0, min(1.0, conf)), 4), ENGINE,
                        settings, box)


def read_fields(aligned_gray: np.ndarray, template: Template, dpi: int = 300) -> list[FieldReading]:
    """Every field of ``template`` read from a page already warped into its frame at ``dpi``."""
    return [read_field(aligned_gray, spec, dpi) for spec in template.field_specs()]
