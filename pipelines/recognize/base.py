"""The recognizer protocol: what OCR asks of any engine that reads a field's crop.

A recognizer reads a batch of cells of one field type and returns, per cell, its
ranked candidate texts with probabilities. The first candidate is the reading; the
others are what row decoding (``validate/rowdecode.py``) and the review console's
suggestions choose from. Which recognizer reads which (field type, writing style) is
data: ``recognizers`` in ``data_contracts/templates/field_types.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

Style = Literal["hand", "print"]
STYLES: tuple[Style, ...] = ("hand", "print")


@dataclass(frozen=True)
class Candidate:
    text: str
    """A whole reading of the cell, NFC ('' is never a candidate: an empty box is not read)."""
    p: float
    """Probability that ``text`` is exactly what the cell holds, in [0, 1]."""


@dataclass(frozen=True)
class Cell:
    """One field's crop of the aligned page."""

    gray: np.ndarray
    """The crop, uint8 gray, the box plus ``engine.MARGIN_MM`` on each side."""
    ink: np.ndarray
    """``engine.clean_crop``'s mask of the crop (uint8 0/255): the form, table rules,
    specks and intruders removed. Not empty: empty boxes never reach a recognizer."""
    dpi: int


@dataclass(frozen=True)
class Reading:
    candidates: tuple[Candidate, ...]
    """Best first; at most a handful. Empty: the recognizer read nothing."""
    engine: str
    """Recognizer name and version, as stored in ``field_readings.engine``."""
    settings: str = ""
    checks: tuple[str, ...] = ()
    """What the recognizer itself doubts (``disagree``: two readings of the cell differ);
    OCR caps the confidence for each (``ocr/plausibility.py``)."""

    @property
    def text(self) -> str:
        return self.candidates[0].text if self.candidates else ""

    @property
    def confidence(self) -> float:
        return self.candidates[0].p if self.candidates else 0.0


@runtime_checkable
class Recognizer(Protocol):
    name: str

    def read(self, cells: Sequence[Cell], field_type: str) -> list[Reading]:
        """One reading per cell, in order. Raises only for a broken installation
        (``pipelines.errors.ConfigError``); a cell it cannot read gets ``Reading((), …)``."""
        ...


@dataclass(frozen=True)
class StyleGuess:
    style: Style
    confidence: float
    """Probability of ``style``, in [0.5, 1]."""
