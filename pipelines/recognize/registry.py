"""Recognizers by name: the built-in ones, and plugins a deployment installs.

``field_types.yaml`` names a recognizer per (field type, writing style). A plugin is a
package that declares an entry point in the group ``hocba.recognizers`` whose object is
a zero-argument factory returning a ``Recognizer``::

    [project.entry-points."hocba.recognizers"]
    myengine = "my_package.engine:MyRecognizer"

One instance per name per process (recognizers hold loaded models and API objects).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points

from pipelines.errors import ConfigError
from pipelines.recognize.base import Recognizer

ENTRY_POINT_GROUP = "hocba.recognizers"


def _tesseract() -> Recognizer:
    from pipelines.recognize.tesseract import TesseractRecognizer  # loads libtesseract: only when named

    return TesseractRecognizer()


def _glyphs() -> Recognizer:
    from pipelines.recognize.cells import GlyphRecognizer  # loads the CNN: only when named

    return GlyphRecognizer()


BUILT_IN: dict[str, Callable[[], Recognizer]] = {"tesseract": _tesseract, "glyphs": _glyphs}
_extra: dict[str, Callable[[], Recognizer]] = {}


def register(name: str, factory: Callable[[], Recognizer]) -> None:
    """Make ``name`` resolve to ``factory()`` in this process (tests, embedding applications)."""
    _extra[name] = factory
    get.cache_clear()


def unregister(name: str) -> None:
    _extra.pop(name, None)
    get.cache_clear()


def names() -> list[str]:
    return sorted({*BUILT_IN, *_extra, *(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))})


@cache
def get(name: str) -> Recognizer:
    """The recognizer called ``name``; ``ConfigError`` listing the known names when there is none."""
    factory = _extra.get(name) or BUILT_IN.get(name)
    if factory is None:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if not found:
            raise ConfigError(f"recognizer {name!r} (data_contracts/templates/field_types.yaml) is unknown; "
                              f"known: {', '.join(names())}")
        factory = found[0].load()
    rec = factory()
    if not isinstance(rec, Recognizer):
        raise ConfigError(f"recognizer {name!r}: {type(rec).__name__} has no name/read(cells, field_type)")
    return rec
