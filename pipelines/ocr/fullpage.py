"""Whole-page Tesseract: the fallback for pages no template fits, and the benchmark baseline.

One ``pytesseract`` call per page (a process, ~0.1 s overhead, negligible against
the seconds a full A4 page takes): the page layout analysis of Tesseract finds
the text lines itself.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import pytesseract

from pipelines import tess

FULL_PAGE_LANG = "vie"
FULL_PAGE_CONFIG = "--psm 3 --dpi 300"


@dataclass(frozen=True)
class Word:
    text: str
    confidence: float  # [0, 1]
    box: tuple[int, int, int, int]  # x, y, w, h on the page
    line: tuple[int, int, int]  # (block, paragraph, line): words of one line share it


def full_page_words(gray: np.ndarray, *, lang: str = FULL_PAGE_LANG) -> list[Word]:
    """Every word Tesseract finds on the page, in reading order."""
    data = pytesseract.image_to_data(
        gray, lang=lang, config=f"{FULL_PAGE_CONFIG} --tessdata-dir {tess.tessdata_dir()}",
        output_type=pytesseract.Output.DICT,
    )
    words = []
    for i, text in enumerate(data["text"]):
        text = unicodedata.normalize("NFC", (text or "").strip())
        conf = float(data["conf"][i])
        if not text or conf < 0:
            continue
        words.append(Word(
            text, max(0.0, min(1.0, conf / 100.0)),
            (int(data["left"][i]), int(data["top"][i]), int(data["width"][i]), int(data["height"][i])),
            (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i])),
        ))
    return words


def page_text(words: list[Word]) -> tuple[str, float]:
    """The page's text, one line per Tesseract line, and its lowest word confidence."""
    lines: dict[tuple[int, int, int], list[str]] = {}
    for w in words:
        lines.setdefault(w.line, []).append(w.text)
    text = "\n".join(" ".join(ws) for ws in lines.values())
    return text, (min(w.confidence for w in words) if words else 0.0)
