"""Whole-page Tesseract: the fallback for pages no template fits, and the benchmark baseline.

One ``pytesseract`` call per page (a process, ~0.1 s overhead, negligible against
the seconds a full A4 page takes): the page layout analysis of Tesseract finds
the text lines itself. A page it takes longer than ``FULL_PAGE_TIMEOUT_S`` over is read as
empty, with a warning (as OCRmyPDF does); any other failure of Tesseract is an ``OcrEngineError``,
and so is a ``tesseract --version`` that does not answer within ``VERSION_TIMEOUT_S``.
"""

from __future__ import annotations

import logging
import string
import subprocess
import unicodedata
from dataclasses import dataclass

import numpy as np
import pytesseract

from pipelines import tess
from pipelines.ocr.errors import OcrEngineError

log = logging.getLogger(__name__)

FULL_PAGE_LANG = "vie"
FULL_PAGE_CONFIG = "--psm 3 --dpi 300"
FULL_PAGE_TIMEOUT_S = 180.0
"""Longest one full-page Tesseract process may run (a dense A4 page takes seconds): past it the
process is killed and the page read as empty."""
_PYTESSERACT_TIMEOUT = "Tesseract process timeout"
"""The message of the RuntimeError pytesseract raises after killing a process that ran too long."""
VERSION_TIMEOUT_S = 30.0
"""Longest ``tesseract --version`` may take (it answers in milliseconds): pytesseract runs it, once per
process, without a time limit, so it is run here first, with this one."""


def _probe_version() -> None:
    """Run pytesseract's one-off ``tesseract --version`` probe with a time limit, and hand pytesseract
    the answer so that it does not run the probe again without one. ``OcrEngineError`` when Tesseract
    does not answer in time; an ``OSError`` when it cannot start (as pytesseract's own probe)."""
    probe = pytesseract.pytesseract.get_tesseract_version
    if getattr(probe, "_result", None) is not probe:  # already probed (or a pytesseract without the cache)
        return
    cmd, timeout_s = pytesseract.pytesseract.tesseract_cmd, VERSION_TIMEOUT_S
    try:
        out = subprocess.run([cmd, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, timeout=timeout_s, check=False).stdout
    except OSError as exc:
        raise pytesseract.TesseractNotFoundError() from exc
    except subprocess.TimeoutExpired as exc:
        raise OcrEngineError(
            f"`{cmd} --version` did not answer within {timeout_s:g} s: check that `{cmd}` is Tesseract "
            "(pytesseract.tesseract_cmd, else the first `tesseract` on PATH) and that `tesseract --version` "
            "answers in a shell on this machine") from exc
    # Parsed as pytesseract parses it; a version it would refuse is left for its own probe to report.
    raw = out.decode("utf-8", "replace")
    word = raw.lstrip(string.printable[10:]).partition(" ")[0].partition("-")[0]
    pt = pytesseract.pytesseract  # its own packaging.version names: the same parse, no new dependency
    try:
        found = pt.parse(word)
    except pt.InvalidVersion:
        return
    if found >= pt.TESSERACT_MIN_VERSION:
        probe._result = found  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Word:
    text: str
    confidence: float  # [0, 1]
    box: tuple[int, int, int, int]  # x, y, w, h on the page
    line: tuple[int, int, int]  # (block, paragraph, line): words of one line share it


def full_page_words(gray: np.ndarray, *, lang: str = FULL_PAGE_LANG,
                    timeout_s: float = FULL_PAGE_TIMEOUT_S) -> list[Word]:
    """Every word Tesseract finds on the page, in reading order; none, with a warning logged, when
    Tesseract runs longer than ``timeout_s``. ``OcrEngineError`` when Tesseract fails otherwise."""
    try:
        _probe_version()
        data = pytesseract.image_to_data(
            gray, lang=lang, config=f"{FULL_PAGE_CONFIG} --tessdata-dir {tess.tessdata_dir()}",
            output_type=pytesseract.Output.DICT, timeout=timeout_s,
        )
    except pytesseract.TesseractError as exc:  # a RuntimeError too: before the timeout's
        raise OcrEngineError(f"full-page Tesseract failed (status {exc.status}): {exc.message}") from exc
    except RuntimeError as exc:
        if str(exc) != _PYTESSERACT_TIMEOUT:
            raise
        log.warning("full-page Tesseract ran over %s s and was stopped: the page is read as empty", timeout_s)
        return []
    except OSError as exc:  # TesseractNotFoundError, or the process could not start
        raise OcrEngineError(f"full-page Tesseract could not run: {exc}") from exc
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
