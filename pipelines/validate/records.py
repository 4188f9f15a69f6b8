"""Field readings → typed values per page, and the per-book views the rules and the roster need."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import pandas as pd

from pipelines.contracts import ContractError, templates
from pipelines.domain.grading import era_for
from pipelines.ids import BatchKey
from pipelines.validate.normalize import Normalized, normalize_field
from pipelines.validate.roster import BookIdentity
from pipelines.validate.rules import IdentityValues, YearValues

GENDERS = {"Nam": "male", "Nữ": "female"}
"""Book's gender words (vocabulary ``gender``) → the roster's and the identifier's terms."""


@cache
def field_vocabulary(template_id: str, field_id: str) -> str | None:
    """The vocabulary a template names for a field (enums, grade levels); None when it has none."""
    tpl = templates().get(template_id)
    if tpl is None:
        return None
    try:
        return tpl.field(field_id).vocabulary
    except KeyError:
        return None


def normalize_readings(readings: pd.DataFrame, layouts: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Rows of ``normalized_records`` and, per (page_id, field_id), the ``Normalized``."""
    ok_pages = set(layouts.loc[layouts["status"] == "ok", "page_id"])
    typed: dict[tuple[str, str], Normalized] = {}
    rows = []
    for r in readings.itertuples(index=False):
        n = (normalize_field(r.field_type, r.text, field_vocabulary(r.template_id, r.field_id))
             if r.page_id in ok_pages else Normalized(None, error="unknown_layout"))
        typed[(r.page_id, r.field_id)] = n
        rows.append({"batch_id": r.batch_id, "book_ref": r.book_ref, "page_id": r.page_id,
                     "template_id": r.template_id, "field_id": r.field_id, "field_type": r.field_type,
                     "raw_text": r.text, "value": n.value, "value_number": n.number,
                     "value_date": n.date, "confidence": float(r.confidence), "parse_error": n.error})
    df = pd.DataFrame(rows)
    # Each year page's school year and grade come from its own header fields.
    year = {}
    for pid, g in df.groupby("page_id", sort=False) if len(df) else []:
        v = dict(zip(g["field_id"], g["value_number"], strict=True))
        sy, grade = v.get("school_year"), v.get("class_name")
        year[pid] = (_int(sy), _int(grade))
    df["school_year"] = df["page_id"].map(lambda p: year.get(p, (None, None))[0])
    df["grade"] = df["page_id"].map(lambda p: year.get(p, (None, None))[1])
    df["rule_set"] = [_rule_set(sy, g) for sy, g in zip(df["school_year"], df["grade"], strict=True)]
    return df, typed


def _int(x) -> int | None:
    return None if x is None or pd.isna(x) else int(x)


def _rule_set(school_year: int | None, grade: int | None) -> str | None:
    if school_year is None or grade is None:
        return None
    try:
        return era_for(school_year, grade).rule_set
    except ContractError:
        return None


def typed_value(field_type: str, n: Normalized) -> object:
    """The value the rules compare: numbers for scores/integers/years, dates, else the text."""
    if n.value is None:
        return None
    if field_type in ("score", "integer"):
        return n.number
    if field_type == "school_year":  # the start year, as the rules compare years
        return int(n.number) if n.number is not None else None
    if field_type == "date":
        return n.date
    return n.value


@dataclass(frozen=True)
class BookPages:
    book_ref: str
    school_code: str | None
    identity: IdentityValues | None
    years: list[YearValues]
    names: list[tuple[float, str]]  # (confidence, normalized name) of every page's full_name


def books(records: pd.DataFrame, typed: dict) -> Iterator[BookPages]:
    """Each book's identity page and year pages as the rule checks take them."""
    for book_ref, g in records.groupby("book_ref", sort=True):
        identity, years = None, []
        names = [(float(c), typed[(p, "full_name")].value)
                 for p, f, c in zip(g["page_id"], g["field_id"], g["confidence"], strict=True)
                 if f == "full_name" and typed[(p, f)].value]
        for (pid, tid), pg in g.groupby(["page_id", "template_id"], sort=False):
            values = {f: typed_value(ft, typed[(pid, f)])
                      for f, ft in zip(pg["field_id"], pg["field_type"], strict=True)}
            tpl = templates().get(tid)
            if tpl is None:
                continue
            if tpl.page_kind == "identity_page":
                identity = IdentityValues(pid, values)
            else:
                years.append(YearValues(pid, _int(pg["school_year"].iloc[0]), _int(pg["grade"].iloc[0]),
                                        values))
        key = BatchKey.lenient(str(g["batch_id"].iloc[0]))
        yield BookPages(book_ref, key.school if key else None, identity,
                        sorted(years, key=lambda y: (y.school_year or 0, y.page_id)), names)


def book_identity(book: BookPages) -> BookIdentity:
    """What the book says about its student. The name is the most confident of the pages'
    readings: a handwritten identity page often reads worse than a printed year page."""
    v = book.identity.values if book.identity else {}
    name = max(book.names)[1] if book.names else None
    birth = v.get("birth_date")
    return BookIdentity(
        book_ref=book.book_ref, school_code=book.school_code,
        student_id=v.get("identifier") or None, full_name=name,
        birth_date=birth if isinstance(birth, dt.date) else None,
        gender=GENDERS.get(v.get("gender") or ""),
    )
