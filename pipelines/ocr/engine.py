"""Read a template's fields from an aligned page: crop, clean, Tesseract per field type."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from pipelines import tess
from pipelines.contracts import FieldSpec, FieldType, Template, field_types
from pipelines.forms.draw import mm_to_px
from pipelines.ocr import plausibility
from pipelines.ocr._image import form_mask

ENGINE = "tesseract"
MARGIN_MM = 0.8
"""Crop margin around a box: room for residual misalignment; table rules are removed."""
SPECK_MM = 0.15
"""Ink components smaller than this square are noise. Not larger: the dot below
(dấu nặng) of 10-pt print is ~0.3 mm; the dotted writing line goes with the form mask."""
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
    engine_confidence: float = 1.0
    """The engine's own confidence, before the checks (``plausibility.py``) capped it."""
    checks: tuple[str, ...] = ()
    """Checks that lowered the confidence: implausible, disagree, page_unreliable."""
    checkable: bool = False
    """Whether the field's type has a format or vocabulary to check the reading against."""


def _crop_box(spec: FieldSpec, dpi: int, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    x, y, w, h = spec.box
    x0 = max(0, mm_to_px(x - MARGIN_MM, dpi))
    y0 = max(0, mm_to_px(y - MARGIN_MM, dpi))
    x1 = min(shape[1], mm_to_px(x + w + MARGIN_MM, dpi))
    y1 = min(shape[0], mm_to_px(y + h + MARGIN_MM, dpi))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def clean_crop(
    crop: np.ndarray, dpi: int, margin_px: int = 0, form: np.ndarray | None = None
) -> np.ndarray:
    """Binary ink mask (uint8 0/255) of a crop with table rules, specks and intruders removed.

    An intruder is ink that enters the crop from outside the field's box (``margin_px``
    in from each edge): a signature's stroke, the stamp's ring, a neighbour's tall
    letter. A component touching the crop's edge with most of its ink in the margin
    belongs to something else and is dropped. ``form`` (bool, the crop's part of
    ``_image.form_mask``) is the pre-printed form's ink: dropped first.
    """
    blurred = cv2.GaussianBlur(crop, (3, 3), 0)
    _, ink = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    if float(crop.max()) - float(crop.min()) < 60:  # flat crop: Otsu would split paper noise
        return np.zeros_like(crop)
    if form is not None:
        ink[form] = 0
    h, w = ink.shape
    lines = np.zeros_like(ink)
    for kw, kh in ((max(10, int(w * 0.6)), 1), (1, max(10, int(h * 0.7)))):
        opened = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (kw, kh)))
        lines |= opened
    lines = cv2.dilate(lines, np.ones((3, 3), np.uint8))
    ink = cv2.bitwise_and(ink, cv2.bitwise_not(lines))
    ink = _drop_dotted_rules(ink, dpi)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    min_area = (SPECK_MM * dpi / 25.4) ** 2
    inner = np.zeros_like(ink, dtype=bool)
    if margin_px > 0 and h > 2 * margin_px and w > 2 * margin_px:
        inner[margin_px:h - margin_px, margin_px:w - margin_px] = True
    else:
        inner[:] = True
    drop = np.zeros(n, dtype=bool)
    for i in range(1, n):
        x, y, cw, ch, area = stats[i]
        if area < min_area:
            drop[i] = True
        elif x == 0 or y == 0 or x + cw >= w or y + ch >= h:
            inside = int(np.count_nonzero(inner[labels == i]))
            drop[i] = inside < 0.5 * area
    ink[drop[labels]] = 0
    return ink


DOT_MM = 0.6
"""A dot of a dotted writing line fits in this square; a row of them spaced under
``DOT_GAP_MM`` apart, spanning a third of the crop, is a rule, not writing."""
DOT_GAP_MM = 1.5


def _drop_dotted_rules(ink: np.ndarray, dpi: int) -> np.ndarray:
    """Remove dotted writing lines the form mask missed (residual misregistration).

    A dot of the line is a small blob; joined horizontally with its neighbours it
    makes a long thin run. The dot below a Vietnamese vowel is a small blob too,
    but alone: it never makes a run.
    """
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    dot = DOT_MM * dpi / 25.4
    small = np.zeros(n, dtype=bool)
    small[1:] = (stats[1:, cv2.CC_STAT_WIDTH] <= dot) & (stats[1:, cv2.CC_STAT_HEIGHT] <= dot)
    if small.sum() < 5:
        return ink
    dots = (small[labels] * 255).astype(np.uint8)
    gap = max(3, round(DOT_GAP_MM * dpi / 25.4))
    runs = cv2.morphologyEx(dots, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (gap, 1)))
    runs = cv2.morphologyEx(runs, cv2.MORPH_OPEN,
                            cv2.getStructuringElement(cv2.MORPH_RECT, (max(gap * 2, ink.shape[1] // 3), 1)))
    on_rule = np.unique(labels[(runs > 0) & (dots > 0)])
    out = ink.copy()
    out[np.isin(labels, on_rule[on_rule > 0])] = 0
    return out


def _recognizer_image(crop: np.ndarray, ink: np.ndarray, image: str, scale: float) -> np.ndarray:
    if image == "gray":  # anti-aliased edges help thin print; only pixels under the ink mask
        keep = cv2.dilate(ink, np.ones((3, 3), np.uint8)) > 0
        img = np.where(keep, crop, 255).astype(np.uint8)
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX)
    else:
        img = 255 - ink
    if scale != 1.0:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=interp)
    return img


def read_field(
    page: np.ndarray, spec: FieldSpec, dpi: int = 300, form: np.ndarray | None = None
) -> FieldReading:
    """Read one field of an aligned page; ``form`` is the template's ``form_mask`` at ``dpi``."""
    ft = field_types()[spec.type]
    settings = f"lang={ft.lang} psm={ft.psm} image={ft.image} scale={ft.scale}" + (
        f" whitelist={ft.whitelist}" if ft.whitelist else "")
    box = _crop_box(spec, dpi, page.shape)
    x, y, w, h = box
    crop = page[y : y + h, x : x + w]
    form_crop = form[y : y + h, x : x + w] if form is not None else None
    if w and h:
        ink = clean_crop(crop, dpi, mm_to_px(MARGIN_MM, dpi), form_crop)
    else:
        ink = np.zeros((1, 1), np.uint8)
    is_checkable = plausibility.checkable(spec)
    if int(np.count_nonzero(ink)) < MIN_INK_PX_MM2 * (dpi / 25.4) ** 2:
        return FieldReading(spec.field_id, spec.type, "", 1.0, ENGINE, settings, box,
                            checkable=is_checkable)
    text, conf = _recognize(crop, ink, ft, ft.image, dpi)
    reading = FieldReading(spec.field_id, spec.type, text, conf, ENGINE, settings, box, conf,
                           checkable=is_checkable)
    if text and is_checkable and not plausibility.plausible(spec, text):
        reading = plausibility.cap(reading, "implausible", plausibility.IMPLAUSIBLE_CAP)
    if ft.second_reading and reading.confidence > plausibility.DISAGREE_CAP:
        other = "binary" if ft.image == "gray" else "gray"
        if _recognize(crop, ink, ft, other, dpi)[0] != text:
            reading = plausibility.cap(reading, "disagree", plausibility.DISAGREE_CAP)
    return reading


def _recognize(crop: np.ndarray, ink: np.ndarray, ft: FieldType, image: str, dpi: int) -> tuple[str, float]:
    """Text and engine confidence of a cleaned crop, with the type's settings."""
    img = _recognizer_image(crop, ink, image, ft.scale)
    pad = mm_to_px(1.0, dpi)  # Tesseract reads best with a white border around the text
    img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    variables = {"tessedit_char_whitelist": ft.whitelist} if ft.whitelist else None
    api = tess.get_api(ft.lang, ft.psm, variables=variables)
    api.SetImage(Image.fromarray(img))
    api.SetSourceResolution(round(dpi * ft.scale))
    api.Recognize()
    text = plausibility.clean_text(api.GetUTF8Text(), ft.trim)
    return text, _confidence(api, text)


def _confidence(api, text: str) -> float:
    """The lowest character confidence, in [0, 1]; 0 when ink was found but no text read.

    The minimum, not the mean: one doubtful digit makes the whole score doubtful.
    """
    if not text:
        return 0.0
    confs: list[float] = []
    it = api.GetIterator()
    level = tess.tesserocr.RIL.SYMBOL  # via pipelines.tess, which sets OMP_THREAD_LIMIT first
    if it is not None:
        while True:
            if not it.Empty(level):
                confs.append(it.Confidence(level))
            if not it.Next(level):
                break
    conf = min(confs) / 100.0 if confs else 0.0
    return round(max(0.0, min(1.0, conf)), 4)


def read_fields(aligned_gray: np.ndarray, template: Template, dpi: int = 300) -> list[FieldReading]:
    """Every field of ``template`` read from a page already warped into its frame at ``dpi``."""
    form = form_mask(template, dpi)
    readings = [read_field(aligned_gray, spec, dpi, form) for spec in template.field_specs()]
    return plausibility.check_page(readings)
