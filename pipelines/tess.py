"""Tesseract through tesserocr: where the language data is, and one API object per setting.

``pytesseract`` starts a process per call (~140 ms); tesserocr's in-process API does
the same work in a few ms, but only when the API object is created once and reused.
``get_api`` keeps one per (tessdata, lang, psm, oem, variables) in each process.
An API object is not thread-safe: use it from the thread (process) that got it.
"""

from __future__ import annotations

import os

# Before libtesseract loads: Tesseract's OpenMP threads make a 2-core machine ~3x
# slower (measured, DESIGN.md); we parallelize across pages with processes instead.
# setdefault: an operator who sets it on purpose keeps their value.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from collections.abc import Mapping
from pathlib import Path

import tesserocr
from tesserocr import OEM, PSM

from pipelines.errors import ConfigError
from pipelines.settings import get_settings

__all__ = ["OEM", "PSM", "get_api", "tessdata_dir", "version"]

# Where Debian/Ubuntu packages put the data (tesseract-ocr 5, then 4), then other common places.
TESSDATA_CANDIDATES: tuple[str, ...] = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
)

_INSTALL_HINT = (
    "Install the system packages: apt-get install tesseract-ocr tesseract-ocr-vie "
    "(osd and eng come with tesseract-ocr), or set HOCBA_TESSDATA to a folder that "
    "holds vie.traineddata, eng.traineddata and osd.traineddata."
)


def tessdata_dir() -> Path:
    """The tessdata folder: ``HOCBA_TESSDATA`` if set, else the first system folder found.

    Raises ``ConfigError`` (saying what to install) when there is none.
    """
    configured = get_settings().tessdata
    if configured is not None:
        path = Path(configured).expanduser()
        if not path.is_dir():
            raise ConfigError(f"HOCBA_TESSDATA={configured} is not a folder. {_INSTALL_HINT}")
        return path
    for candidate in TESSDATA_CANDIDATES:
        path = Path(candidate)
        if path.is_dir() and any(path.glob("*.traineddata")):
            return path
    raise ConfigError(
        f"No Tesseract language data found (looked in {', '.join(TESSDATA_CANDIDATES)}). "
        + _INSTALL_HINT
    )


def _check_languages(path: Path, lang: str) -> None:
    missing = [code for code in lang.split("+") if not (path / f"{code}.traineddata").is_file()]
    if missing:
        raise ConfigError(
            f"Tesseract language data {', '.join(m + '.traineddata' for m in missing)} "
            f"is missing from {path}. {_INSTALL_HINT}"
        )


_APIS: dict[tuple, tesserocr.PyTessBaseAPI] = {}


def get_api(
    lang: str,
    psm: PSM | int,
    *,
    oem: OEM | int = OEM.DEFAULT,
    variables: Mapping[str, str] | None = None,
) -> tesserocr.PyTessBaseAPI:
    """The process's shared API for these settings, created on first use and then reused.

    ``lang`` is a Tesseract language string (``"vie"``, ``"vie+eng"``, ``"osd"``).
    Callers set the image and read results; they must not change the page segmentation
    mode or variables of the shared object (ask for another key instead).
    """
    path = tessdata_dir()
    frozen_vars = tuple(sorted((variables or {}).items()))
    key = (str(path), lang, int(psm), int(oem), frozen_vars)
    api = _APIS.get(key)
    if api is None:
        _check_languages(path, lang)
        # tesserocr wants the folder with a trailing separator on some versions.
        api = tesserocr.PyTessBaseAPI(path=str(path) + os.sep, lang=lang, psm=psm, oem=oem)
        for name, value in frozen_vars:
            if not api.SetVariable(name, value):
                api.End()
                raise ConfigError(f"Tesseract has no variable {name!r} (value {value!r})")
        _APIS[key] = api
    return api


def version() -> str:
    """Tesseract's version number ("5.3.4"), for provenance columns."""
    return tesserocr.tesseract_version().split()[1]


def close_all() -> None:
    """End every cached API (tests; a process that exits does not need it)."""
    while _APIS:
        _, api = _APIS.popitem()
        api.End()
