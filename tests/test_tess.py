"""Tesseract set-up: where the data is, clear errors when it is not, one API per setting."""

from __future__ import annotations

import os

import pytest

from pipelines import tess
from pipelines.errors import ConfigError
from pipelines.settings import get_settings


@pytest.fixture
def env(monkeypatch):
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_thread_limit_set_before_tesseract_loads() -> None:
    assert os.environ["OMP_THREAD_LIMIT"] == "1"


def test_system_tessdata_found(env) -> None:
    env.delenv("HOCBA_TESSDATA", raising=False)
    path = tess.tessdata_dir()
    assert (path / "osd.traineddata").is_file() and (path / "vie.traineddata").is_file()


def test_env_override(env, tmp_path) -> None:
    env.setenv("HOCBA_TESSDATA", str(tmp_path))
    assert tess.tessdata_dir() == tmp_path
    with pytest.raises(ConfigError, match=r"vie\.traineddata.*tesseract-ocr-vie"):
        tess.get_api("vie", tess.PSM.SINGLE_LINE)


def test_env_override_not_a_folder(env, tmp_path) -> None:
    env.setenv("HOCBA_TESSDATA", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="HOCBA_TESSDATA"):
        tess.tessdata_dir()


def test_nothing_installed(env) -> None:
    env.delenv("HOCBA_TESSDATA", raising=False)
    env.setattr(tess, "TESSDATA_CANDIDATES", ("/nonexistent/tessdata",))
    with pytest.raises(ConfigError, match="apt-get install tesseract-ocr tesseract-ocr-vie"):
        tess.tessdata_dir()


def test_api_cached_per_setting(env) -> None:
    env.delenv("HOCBA_TESSDATA", raising=False)
    a = tess.get_api("osd", tess.PSM.OSD_ONLY)
    assert tess.get_api("osd", tess.PSM.OSD_ONLY) is a
    b = tess.get_api(
        "eng", tess.PSM.SINGLE_LINE, variables={"tessedit_char_whitelist": "0123456789,"}
    )
    assert b is not a
    assert (
        tess.get_api(
            "eng", tess.PSM.SINGLE_LINE, variables={"tessedit_char_whitelist": "0123456789,"}
        )
        is b
    )
    assert b.GetVariableAsString("tessedit_char_whitelist") == "0123456789,"


def test_unknown_variable(env) -> None:
    env.delenv("HOCBA_TESSDATA", raising=False)
    with pytest.raises(ConfigError, match="no_such_variable"):
        tess.get_api("eng", tess.PSM.SINGLE_LINE, variables={"no_such_variable": "1"})
