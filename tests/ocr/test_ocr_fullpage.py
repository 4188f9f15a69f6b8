"""Full-page Tesseract under faults: a fake `tesseract` that hangs or crashes, the exact outcome asserted."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytesseract
import pytest

from pipelines.ocr.errors import OcrEngineError
from pipelines.ocr.fullpage import full_page_words

PAGE = np.full((200, 300), 255, np.uint8)


@pytest.fixture
def fake_tesseract(tmp_path, monkeypatch):
    """Install a `tesseract` whose reading does ``body`` (it answers --version like Tesseract 5)."""

    def install(body: str) -> Path:
        script = tmp_path / "tesseract"
        version = 'if [ "$1" = "--version" ]; then echo "tesseract 5.3.4"; exit 0; fi'
        script.write_text(f"#!/bin/sh\n{version}\n{body}\n")
        script.chmod(0o755)
        monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(script))
        return script

    return install


def test_a_page_tesseract_hangs_on_is_read_as_empty_with_a_warning(fake_tesseract, caplog):
    fake_tesseract("exec sleep 30")
    t0 = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="pipelines.ocr.fullpage"):
        words = full_page_words(PAGE, timeout_s=0.3)
    assert words == []
    assert time.perf_counter() - t0 < 10  # stopped, not waited for
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "full-page Tesseract ran over 0.3 s and was stopped: the page is read as empty")]


def test_a_tesseract_crash_is_a_typed_error_with_the_cause_chained(fake_tesseract):
    fake_tesseract('echo "Error opening data file vie.traineddata" >&2; exit 1')
    failed = r"full-page Tesseract failed \(status 1\): .*vie\.traineddata"
    with pytest.raises(OcrEngineError, match=failed) as exc:
        full_page_words(PAGE, timeout_s=5)
    assert isinstance(exc.value.__cause__, pytesseract.TesseractError)


def test_a_missing_tesseract_is_a_typed_error(monkeypatch, tmp_path):
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(tmp_path / "no-such-tesseract"))
    with pytest.raises(OcrEngineError, match="full-page Tesseract could not run"):
        full_page_words(PAGE, timeout_s=5)


def test_a_version_probe_that_hangs_is_a_typed_error_naming_what_to_check(tmp_path, monkeypatch):
    import pipelines.ocr.fullpage as fullpage

    script = tmp_path / "tesseract"
    script.write_text("#!/bin/sh\nexec sleep 30\n")
    script.chmod(0o755)
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(script))
    probe = pytesseract.pytesseract.get_tesseract_version
    monkeypatch.setattr(probe, "_result", probe)  # not probed yet in this process
    monkeypatch.setattr(fullpage, "VERSION_TIMEOUT_S", 0.3)
    t0 = time.perf_counter()
    with pytest.raises(OcrEngineError, match=r"--version` did not answer within 0\.3 s: check that"):
        full_page_words(PAGE, timeout_s=5)
    assert time.perf_counter() - t0 < 10


def test_the_version_probe_answers_once_for_pytesseract(fake_tesseract, monkeypatch):
    fake_tesseract("exit 1")
    probe = pytesseract.pytesseract.get_tesseract_version
    monkeypatch.setattr(probe, "_result", probe)
    with pytest.raises(OcrEngineError):
        full_page_words(PAGE, timeout_s=5)
    assert str(probe(cached=True)) == "5.3.4"  # handed over: pytesseract runs no probe of its own
