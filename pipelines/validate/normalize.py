"""Normalizers: one OCR reading of a field → its canonical value, or a machine-readable error.

Repairs of known OCR confusions are applied and flagged (``repaired``) so the decision stage can
ask a reviewer; nothing is guessed where two readings are equally likely.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from rapidfuzz.fuzz import ratio as _ratio

from pipelines.contracts import vocabularies
from pipelines.validate.text import canonical_tones, fix_eth, loose_key, match_key, nfc, title_name


@dataclass(frozen=True)
class Normalized:
    value: str | None
    """Canonical text of the value; None when not parseable / empty."""
    number: float | None = None
    """Scores and integers (school year: the first year; class: the grade)."""
    date: dt.date | None = None
    error: str | None = None
    """'empty', 'format_invalid', 'out_of_range', 'not_in_vocabulary' or 'ambiguous'."""
    repaired: bool = False
    """The value needed more than NFC / spacing (O→0, 85→8,5, a fuzzy vocabulary match, …)."""
    note: str = ""
    """Short human explanation, e.g. "read '85', taken as 8,5"."""


def _fail(error: str, note: str = "") -> Normalized:
    return Normalized(None, error=error, note=note)


# --- digits ---------------------------------------------------------------------------------------
# Digits are ASCII 0-9 only (the patterns below are re.ASCII; integers check isascii): Arabic-Indic,
# full-width and other Unicode digits are no value of any type, the same for every type. Teachers type
# 0-9; a recognizer with a whitelist outputs nothing else.
# Letters the recognizer returns for digits in a numeric box (the eng model without a whitelist,
# or handwriting): reading them as the digit they resemble is a repair.
_DIGIT_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "l": "1", "I": "1", "|": "1", "S": "5", "B": "8"})
_DATE_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "l": "1", "I": "1", "|": "1"})


def _digits(s: str, table: dict[int, str] = _DATE_LOOKALIKES) -> tuple[str, bool]:
    """``s`` with look-alike letters read as digits, and whether any was."""
    fixed = s.translate(table)
    return fixed, fixed != s


def _ok(value: str, raw: str, repaired: bool, **kw) -> Normalized:
    """A parsed value; a repaired one says what was read."""
    note = f"read {raw!r}, taken as {value}" if repaired else ""
    return Normalized(value, repaired=repaired, note=note, **kw)


# --- score ----------------------------------------------------------------------------------------
_SCORE = re.compile(r"(\d{1,3})(?:\s*[,.]\s*(\d+))?", re.ASCII)


def _score(raw: str) -> Normalized:
    text, repaired = _digits(raw, _DIGIT_LOOKALIKES)
    m = _SCORE.fullmatch(text)
    if not m:
        return _fail("format_invalid", f"{raw!r} is no score")
    whole, dec = m.group(1), m.group(2)
    if dec is not None:
        if len(dec) > 1 and dec[1:].strip("0"):
            return _fail("format_invalid", f"{raw!r} has more than one decimal")
        tenths = int(dec[0])
    elif len(whole) == 1 or whole == "10":  # "10" is ten, never 1,0
        tenths = 0
    elif len(whole) == 2 or whole.startswith("10"):  # comma lost: 85 → 8,5; 100 → 10,0
        whole, tenths, repaired = whole[:-1], int(whole[-1]), True
    else:
        return _fail("format_invalid", f"{raw!r} is no score")
    value = int(whole) + tenths / 10
    if value > 10:
        return _fail("out_of_range", f"{raw!r} is above 10")
    canon = f"{int(whole)},{tenths}"
    return _ok(canon, raw, repaired, number=value)


# --- integer, identifier --------------------------------------------------------------------------
def _integer(raw: str) -> Normalized:
    text, repaired = _digits(raw)
    if not text.isascii() or not text.isdigit():
        return _fail("format_invalid", f"{raw!r} is no whole number")
    value = str(int(text))
    return _ok(value, raw, repaired, number=float(value))


def _identifier(raw: str) -> Normalized:
    text, repaired = _digits(re.sub(r"[\s.]", "", raw))
    if not re.fullmatch(r"[0-9]{12}", text):
        return _fail("format_invalid", f"{raw!r} is not 12 digits")
    return _ok(text, raw, repaired)


# --- date, school year, class ---------------------------------------------------------------------
EARLIEST_DATE = dt.date(1950, 1, 1)  # no student or document of a học bạ being backfilled is older
_DATE = re.compile(r"(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4})", re.ASCII)
_DATE_RUN = re.compile(r"(\d{2})(\d{2})(\d{4})", re.ASCII)  # separators lost: 05092021


def _date(raw: str, today: dt.date) -> Normalized:
    text, repaired = _digits(raw)
    m = _DATE.fullmatch(text)
    if not m:
        m = _DATE_RUN.fullmatch(text)
        repaired = repaired or m is not None
    if not m:
        return _fail("format_invalid", f"{raw!r} is no dd/mm/yyyy date")
    d, mo, y = (int(g) for g in m.groups())
    try:
        date = dt.date(y, mo, d)
    except ValueError:
        return _fail("out_of_range", f"{raw!r} is no calendar date")
    if not EARLIEST_DATE <= date <= today:
        return _fail("out_of_range", f"{raw!r} is before {EARLIEST_DATE:%Y} or in the future")
    canon = f"{date:%d/%m/%Y}"
    return _ok(canon, raw, repaired, date=date)


_SCHOOL_YEAR = re.compile(r"(\d{4})\s*[-/–—]?\s*(\d{4})", re.ASCII)


def _school_year(raw: str, today: dt.date) -> Normalized:
    text, repaired = _digits(raw)
    m = _SCHOOL_YEAR.fullmatch(text)
    if not m:
        return _fail("format_invalid", f"{raw!r} is no yyyy-yyyy school year")
    first, second = int(m.group(1)), int(m.group(2))
    repaired = repaired or text.isdigit()  # separator lost: 20132014
    # A school year starting this calendar year may already be under way.
    plausible_first = EARLIEST_DATE.year <= first <= today.year
    plausible_second = EARLIEST_DATE.year < second <= today.year + 1
    if second != first + 1:
        if plausible_first != plausible_second:  # one side misread, and either could be the true one
            return _fail("ambiguous", f"{raw!r}: years not consecutive, one side misread")
        return _fail("format_invalid", f"{raw!r}: years not consecutive")
    if not plausible_first:
        return _fail("out_of_range", f"{raw!r} is before {EARLIEST_DATE:%Y} or in the future")
    canon = f"{first}-{second}"
    return _ok(canon, raw, repaired, number=float(first))


_CLASS = re.compile(r"([0-9OolI|]{1,2})\s*([A-Za-z])\s*([0-9OolI|]{0,2})(\s*/\s*[0-9])?")
MIN_GRADE, MAX_GRADE = 6, 12  # THCS and THPT only


def _class_name(raw: str) -> Normalized:
    m = _CLASS.fullmatch(raw)
    if not m:
        return _fail("format_invalid", f"{raw!r} is no class like 6A1")
    grade, rg = _digits(m.group(1))
    suffix, rs = _digits(m.group(3))
    canon = (grade + m.group(2) + suffix + re.sub(r"\s", "", m.group(4) or "")).upper()
    if not MIN_GRADE <= int(grade) <= MAX_GRADE:
        return _fail("out_of_range", f"{raw!r}: grade {int(grade)} is not {MIN_GRADE}-{MAX_GRADE}")
    repaired = rg or rs
    return _ok(canon, raw, repaired, number=float(int(grade)))


# --- name, free text ------------------------------------------------------------------------------
# Letters, and at most one hyphen or apostrophe inside each word (H'Mông, Thị-Hoa).
_NAME_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)?")


def _name(raw: str) -> Normalized:
    value = title_name(fix_eth(raw))  # Tesseract's eth Ð is Đ: the same glyph, not a repair
    if not all(_NAME_WORD.fullmatch(w) for w in value.split(" ")):
        return _fail("format_invalid", f"{raw!r} has characters a name cannot have")
    return Normalized(value)


# --- vocabularies ---------------------------------------------------------------------------------
# Fuzzy match on keys (0-100, Indel similarity). Vocabulary words are short: one wrong letter in a
# three-letter word scores 67 (Tất vs Tốt), so a lower bar would take noise; the margin keeps a
# reading that sits between two values (N: Nam or Nu?) out. Dropped marks are scored on loose keys.
FUZZY_MIN_SCORE = 60.0
FUZZY_MIN_MARGIN = 20.0
_Keys = tuple[str, str]  # (match_key, loose_key) of one spelling


def _keys(s: str) -> _Keys:
    return match_key(s), loose_key(s)


@cache
def _vocabulary(
    name: str,
) -> tuple[dict[str, str], dict[str, str], tuple[tuple[str, tuple[_Keys, ...]], ...]]:
    """(exact spelling → value, match_key → value, (value, keys of its spellings)) of a vocabulary."""
    if name not in vocabularies():
        raise ValueError(f"unknown vocabulary {name!r} (rules/vocabularies.yaml)")
    entries = vocabularies()[name].entries
    exact, by_key = {}, {}
    clashes = set()
    for e in entries:
        for spelling in (e.value, *e.variants):
            exact[nfc(spelling)] = e.value
            key = match_key(spelling)
            if by_key.get(key, e.value) != e.value:
                clashes.add(key)  # a key shared by two values only matches its exact spelling
            by_key[key] = e.value
    for key in clashes:
        del by_key[key]
    keys = tuple((e.value, tuple(_keys(s) for s in (e.value, *e.variants))) for e in entries)
    return exact, by_key, keys


def _score_against(raw: _Keys, candidates: tuple[_Keys, ...]) -> float:
    return max(max(_ratio(raw[0], key), _ratio(raw[1], loose)) for key, loose in candidates)


def _enum(raw: str, vocabulary: str) -> Normalized:
    exact, by_key, keys = _vocabulary(vocabulary)
    text = fix_eth(nfc(raw))  # Tesseract's eth Ð is Đ: the same glyph, not a repair
    if text in exact:
        return Normalized(exact[text])
    key = match_key(text)
    if key in by_key:
        return Normalized(by_key[key])
    raw_keys = (key, loose_key(text))
    ranked = sorted(((_score_against(raw_keys, ks), v) for v, ks in keys), reverse=True)
    (best, value), second = ranked[0], (ranked[1][0] if len(ranked) > 1 else 0.0)
    if best >= FUZZY_MIN_SCORE and best - second >= FUZZY_MIN_MARGIN:
        return Normalized(value, repaired=True, note=f"read {raw!r}, closest {vocabulary} value {value}")
    return _fail("not_in_vocabulary", f"{raw!r} is no {vocabulary} value")


# --- dispatch -------------------------------------------------------------------------------------
_PARSERS: dict[str, Callable[[str, str | None, dt.date], Normalized]] = {
    "name": lambda s, v, t: _name(s),
    "free_text": lambda s, v, t: Normalized(nfc(s)),
    "score": lambda s, v, t: _score(s),
    "integer": lambda s, v, t: _integer(s),
    "identifier": lambda s, v, t: _identifier(s),
    "date": lambda s, v, t: _date(s, t),
    "school_year": lambda s, v, t: _school_year(s, t),
    "class_name": lambda s, v, t: _class_name(s),
    "enum": lambda s, v, t: _enum(s, _need(v)),
    "grade_enum": lambda s, v, t: _enum(s, _need(v)),
    "comment": lambda s, v, t: _enum(s, v or "comment"),
}
FIELD_TYPES = frozenset(_PARSERS)


def _need(vocabulary: str | None) -> str:
    if not vocabulary:
        raise ValueError("enum fields need a vocabulary name")
    return vocabulary


def normalize_field(
    field_type: str, raw: str | None, vocabulary: str | None = None, *, today: dt.date | None = None
) -> Normalized:
    """The canonical value of one reading of a field of ``field_type``."""
    try:
        parse = _PARSERS[field_type]
    except KeyError:
        raise ValueError(f"unknown field type {field_type!r}") from None
    text = nfc(raw) if isinstance(raw, str) else ""  # a missing reading may arrive as None or NaN
    if not text:
        return _fail("empty")
    return parse(text, vocabulary, today or dt.date.today())


def normalize_value_for_compare(field_type: str, text: str | None, vocabulary: str | None = None) -> str:
    """A reading or a ground truth in comparable form: the canonical value if it parses, else NFC.

    Names and free text also get one tone style (hoà = hòa), as both spellings are correct.
    """
    raw = nfc(text) if isinstance(text, str) else ""
    if field_type in ("enum", "grade_enum") and not vocabulary:
        return raw
    n = normalize_field(field_type, raw, vocabulary)
    out = n.value if n.value is not None else raw
    return canonical_tones(out) if field_type in ("name", "free_text") else out
