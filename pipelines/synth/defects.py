"""Defects injected into a synthetic district, at configurable rates.

Scan defects (blank or upside-down page, missing page, duplicate, truncated or
empty file) land in the inbox; roster defects (name spelling variant, missing
identifier, identifier whose gender digit disagrees) only in roster.csv; an
unscanned book leaves a roster student without a scan. Every injected defect is
one row of truth/defects.csv.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, fields
from pathlib import Path

from pipelines.contracts import provinces

DEFECT_COLUMNS = ("defect", "district", "school", "batch", "file", "page_index", "book_ref",
                  "student_id", "detail")


@dataclass(frozen=True)
class DefectRates:
    """Share of candidates that get each defect. A rate above 0 gives at least one
    occurrence when a candidate exists, so a small demo corpus shows every kind."""

    blank_page: float = 0.03
    """Per multi-page file (PDF, multi-page TIFF): an empty sheet scanned in between."""
    upside_down: float = 0.02
    """Per page: the sheet fed the wrong way round (turned 180°)."""
    missing_page: float = 0.03
    """Per multi-page file: one page absent; manifest ``pages`` keeps the operator's count."""
    duplicate_file: float = 0.03
    """Per file: a byte copy under another name, listed in the manifest too."""
    truncated_file: float = 0.02
    """Per file: bytes cut off (an interrupted copy)."""
    zero_byte_file: float = 0.02
    """Per file: an empty file."""
    name_variant: float = 0.04
    """Per roster row: tone placement (hoà/hòa) or one letter different from the book."""
    missing_identifier: float = 0.03
    """Per roster row: ma_dinh_danh left blank."""
    gender_digit: float = 0.02
    """Per roster row: the identifier's century/gender digit disagrees with gioi_tinh."""
    unscanned_book: float = 0.05
    """Per student: the book is not on the shelf, so the student has a roster row only."""

    @classmethod
    def none(cls) -> DefectRates:
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"defect rate {f.name}={v} must be within [0, 1]")


DEFECT_TYPES: tuple[str, ...] = tuple(f.name for f in fields(DefectRates))


def quota(rate: float, candidates: int) -> int:
    """How many of ``candidates`` get a defect of ``rate``."""
    if rate <= 0 or candidates == 0:
        return 0
    return min(candidates, max(1, round(rate * candidates)))


def pick(rng: random.Random, rate: float, candidates: list, taken: set | None = None) -> list:
    """A deterministic sample of ``candidates`` (not yet ``taken``) for one defect kind."""
    free = [c for c in candidates if taken is None or c not in taken]
    chosen = rng.sample(free, quota(rate, len(free))) if free else []
    if taken is not None:
        taken.update(chosen)
    return chosen


# --- roster defects ------------------------------------------------------------------
_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}  # huyền sắc ngã hỏi nặng
_TONE_LIST = ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")
_VOWELS = set("aeiouyăâêôơư")


def _split_tone(syllable: str) -> tuple[str, str | None, int]:
    """(syllable without its tone mark, the mark, index of the vowel that carried it)."""
    nfd = unicodedata.normalize("NFD", syllable)
    base, tone, pos = [], None, -1
    for ch in nfd:
        if ch in _TONES:
            tone = ch
            pos = len(unicodedata.normalize("NFC", "".join(base))) - 1
        else:
            base.append(ch)
    return unicodedata.normalize("NFC", "".join(base)), tone, pos


def _put_tone(base: str, tone: str, index: int) -> str:
    return unicodedata.normalize("NFC", base[: index + 1] + tone + base[index + 1:])


def tone_variant(syllable: str) -> str | None:
    """Old ↔ new tone placement of an open oa/oe/uy syllable (hòa ↔ hoà, thủy ↔ thuỷ)."""
    base, tone, pos = _split_tone(syllable)
    low = base.lower()
    if tone is None or low.startswith(("qu", "gi")):
        return None
    for pair in ("oa", "oe", "uy"):
        if low.endswith(pair):
            first = len(base) - 2
            target = first + 1 if pos == first else first
            return _put_tone(base, tone, target)
    return None


def name_variant(full_name: str, rng: random.Random) -> tuple[str, str]:
    """A spelling of ``full_name`` a data-entry clerk might have typed, and its kind."""
    words = full_name.split(" ")
    for i in rng.sample(range(len(words)), len(words)):
        v = tone_variant(words[i])
        if v is not None and v != words[i]:
            return " ".join([*words[:i], v, *words[i + 1:]]), "tone_placement"
    # One letter changed: a vowel given another tone mark (the commonest typing slip).
    i = len(words) - 1 if len(words) == 1 else rng.randrange(1, len(words))
    word = words[i]
    base, tone, pos = _split_tone(word)
    vowels = [k for k, ch in enumerate(base) if ch.lower() in _VOWELS]
    k = pos if pos >= 0 else (vowels[-1] if vowels else 0)
    new = _put_tone(base, rng.choice([t for t in _TONE_LIST if t != (tone or "")]), k)
    return " ".join([*words[:i], new, *words[i + 1:]]), "letter_changed"


def flip_gender_digit(identifier: str) -> str:
    """The same identifier with the other gender's century digit (2 ↔ 3, 0 ↔ 1, ...)."""
    table = provinces().century_gender_digit
    cg = table[identifier[3]]
    for digit, other in table.items():
        if other.century == cg.century and other.gender != cg.gender:
            return identifier[:3] + digit + identifier[4:]
    raise ValueError("identifier has no counterpart digit")


# --- file defects --------------------------------------------------------------------
def truncate(path: Path, rng: random.Random) -> str:
    """Cut the file to 20–80 % of its bytes; returns the detail for defects.csv."""
    data = path.read_bytes()
    keep = max(1, int(len(data) * rng.uniform(0.2, 0.8)))
    path.write_bytes(data[:keep])
    return f"kept {keep} of {len(data)} bytes"


def zero(path: Path) -> str:
    size = path.stat().st_size
    path.write_bytes(b"")
    return f"emptied (was {size} bytes)"
