"""Tesseract as a recognizer: one candidate per cell, the lowest character confidence as its probability.

Tesseract's confidence is not a calibrated probability (it stays high on handwriting
it misreads); validate calibrates thresholds on it per (field type, style). A type with
``second_reading`` is read twice, binary and gray: when the two disagree, both texts are
candidates and the reading carries the check ``disagree``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image

from pipelines import tess
from pipelines.contracts import FieldType, field_types
from pipelines.forms.draw import mm_to_px
from pipelines.recognize.base import Candidate, Cell, Reading
from pipelines.recognize.text import clean_text

NAME = "tesseract"


def settings_of(ft: FieldType) -> str:
    return f"lang={ft.lang} psm={ft.psm} image={ft.image} scale={ft.scale}" + (
        f" whitelist={ft.whitelist}" if ft.whitelist else "")


class TesseractRecognizer:
    name = NAME

    def read(self, cells: Sequence[Cell], field_type: str) -> list[Reading]:
        ft = field_types()[field_type]
        engine = f"{NAME} {tess.version()}"
        out = []
        for cell in cells:
            text, conf = recognize(cell, ft, ft.image)
            candidates = (Candidate(text, conf),) if text else ()
            checks: tuple[str, ...] = ()
            if ft.second_reading and text:
                other_text, other_conf = recognize(cell, ft, "binary" if ft.image == "gray" else "gray")
                if other_text != text:
                    checks = ("disagree",)
                    if other_text:
                        candidates += (Candidate(other_text, other_conf),)
            out.append(Reading(candidates, engine, settings_of(ft), checks))
        return out


def _image(cell: Cell, image: str, scale: float) -> np.ndarray:
    if image == "gray":  # anti-aliased edges help thin print; only pixels under the ink mask
        keep = cv2.dilate(cell.ink, np.ones((3, 3), np.uint8)) > 0
        img = np.where(keep, cell.gray, 255).astype(np.uint8)
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX)
    else:
        img = 255 - cell.ink
    if scale != 1.0:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=interp)
    return img


def recognize(cell: Cell, ft: FieldType, image: str) -> tuple[str, float]:
    """Text and engine confidence of a cleaned cell, with the type's settings."""
    img = _image(cell, image, ft.scale)
    pad = mm_to_px(1.0, cell.dpi)  # Tesseract reads best with a white border around the text
    img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    variables = {"tessedit_char_whitelist": ft.whitelist} if ft.whitelist else None
    api = tess.get_api(ft.lang, ft.psm, variables=variables)
    api.SetImage(Image.fromarray(img))
    api.SetSourceResolution(round(cell.dpi * ft.scale))
    api.Recognize()
    text = clean_text(api.GetUTF8Text(), ft.trim)
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
