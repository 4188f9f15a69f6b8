"""Errors of the OCR stage.

A page Tesseract takes too long over is not an error: it is read as empty, with a warning
(``fullpage.full_page_words``), so that one pathological page does not stop a batch.
"""

from __future__ import annotations

from pipelines.errors import ExitCode, HocbaError


class OcrError(HocbaError):
    """Base of the OCR stage's errors."""


class OcrEngineError(OcrError):
    """Tesseract failed on a page for another reason than time: it crashed, is not installed, or lacks
    the language. Check `tesseract --version` and `tesseract --list-langs` (``vie`` must be listed)."""

    exit_code = ExitCode.ocr_engine
