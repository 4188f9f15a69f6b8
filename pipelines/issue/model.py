"""A book as the issue stage sees it: accepted values with provenance, grouped by page, and its scans.

``build_records`` turns a batch's ``accepted_records`` (the final value of every field, who reviewed
it), ``normalized_records`` (which template and rule set each page has) and ``scan_manifest`` (the
files the book was scanned into) into one ``BookRecord`` per book. The XML, the PDF and the content
hash are all made from this one object, so they cannot disagree about what the book says.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipelines.contracts import ContractError, templates
from pipelines.domain.grading import era_for
from pipelines.ids import BatchKey
from pipelines.issue.errors import RecordInvalid


@dataclass(frozen=True)
class FieldValue:
    field_id: str
    value: str | None
    """The final value in the pipeline's canonical text form (``8,5``, ``05/09/2009``), NFC."""
    source: str
    """``auto`` (accepted as read) or ``review`` (entered or confirmed by a reviewer)."""
    reviewed_by: str | None
    reviewed_at: dt.datetime | None


@dataclass(frozen=True)
class YearPage:
    page_id: str
    template_id: str
    rule_set: str | None
    school_year: int
    """Start year: 2012 is the school year 2012-2013."""
    grade: int
    fields: dict[str, FieldValue]


@dataclass(frozen=True)
class ScanRef:
    file_path: str
    file_sha256: str


@dataclass(frozen=True)
class BookRecord:
    record_id: str
    batch_id: str
    district: str
    school: str
    book_ref: str
    student_id: str
    identity: dict[str, FieldValue]
    years: tuple[YearPage, ...]
    scans: tuple[ScanRef, ...]
    identity_page_id: str | None = None
    """The identity page's id (provenance of the identity fields); None when the book has none."""
    replaces_batch_id: str | None = None
    """The earlier batch of the school whose scans of this book these replace (scan_manifest's
    ``replaces_batch_id``); None when the book replaces nothing. Not part of the record's content."""

    @property
    def fields(self) -> list[tuple[str | None, FieldValue]]:
        """Every field with its page id, identity first, in page order."""
        out: list[tuple[str | None, FieldValue]] = [
            (self.identity_page_id, f) for f in self.identity.values()]
        for y in self.years:
            out.extend((y.page_id, f) for f in y.fields.values())
        return out


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def make_record_id(school: str, book_ref: str) -> str:
    """``{school}-{book_ref}``, safe in a file name and a URL: other characters become ``_``."""
    rid = _UNSAFE.sub("_", unicodedata.normalize("NFC", f"{school}-{book_ref}")).strip("._-")
    if not rid:
        raise RecordInvalid(None, [f"no record id can be made from school {school!r} and book {book_ref!r}"])
    return rid


def _missing(v: Any) -> bool:
    return v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _text(v: Any) -> str | None:
    if _missing(v):
        return None
    s = unicodedata.normalize("NFC", str(v)).strip()
    return s or None


def _when(v: Any) -> dt.datetime | None:
    if _missing(v):
        return None
    ts = pd.Timestamp(v)
    if pd.isna(ts):
        return None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def _int(v: Any) -> int | None:
    if _missing(v):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _start_year(value: str | None) -> int | None:
    m = re.fullmatch(r"(\d{4})-\d{4}", value or "")
    return int(m.group(1)) if m else None


def _grade_of_class(value: str | None) -> int | None:
    m = re.match(r"(\d{1,2})[A-Z]", value or "")
    return int(m.group(1)) if m else None


def _columns(df: pd.DataFrame, names: list[str]) -> list[list[Any]]:
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise ContractError(f"frame lacks columns {missing}")
    return [df[n].tolist() for n in names]


@dataclass
class _Book:
    batch_id: str
    book_ref: str
    student_id: str | None = None
    pages: dict[str, dict[str, FieldValue]] = field(default_factory=dict)
    page_years: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)


def build_records(accepted_records: pd.DataFrame, normalized_records: pd.DataFrame,
                  scan_manifest: pd.DataFrame, *,
                  on_error: Callable[[RecordInvalid], None] | None = None) -> list[BookRecord]:
    """One ``BookRecord`` per (batch, book) of ``accepted_records``, ordered by batch and book.

    Pages take their template from ``normalized_records``; a year page's school year and grade come
    from its final (possibly reviewed) ``school_year`` and ``class_name`` values, falling back to the
    table's columns, and its rule set from the era table for them (else ``normalized_records``'s).
    Scans are every ``scan_manifest`` row of the book in its batch: the manifest holds only files
    ingest accepted (status ``ok`` or ``page_count_mismatch``; unusable files are in file_quarantine).

    A book whose manifest rows name an earlier batch in ``replaces_batch_id`` (a column older
    scan_manifest tables lack) replaces that batch's scans of the book; its files must agree on it.

    A book that cannot be made into a record raises ``RecordInvalid``; with ``on_error`` it is
    reported there instead and left out, and the other books are still returned.
    """
    books: dict[tuple[str, str], _Book] = {}
    cols = ["batch_id", "book_ref", "student_id", "page_id", "school_year", "grade", "field_id", "value",
            "source", "reviewed_by", "reviewed_at"]
    for batch, ref, sid, page, sy, grade, fid, value, source, by, at in zip(
            *_columns(accepted_records, cols), strict=True):
        b = books.get((batch, ref))
        if b is None:
            b = books[(batch, ref)] = _Book(str(batch), str(ref))
        if b.student_id is None and not _missing(sid) and str(sid):
            b.student_id = str(sid)
        fields = b.pages.setdefault(str(page), {})
        reviewed = source == "review"
        fields[str(fid)] = FieldValue(
            field_id=str(fid), value=_text(value), source="review" if reviewed else "auto",
            reviewed_by=_text(by) if reviewed else None, reviewed_at=_when(at) if reviewed else None)
        if str(page) not in b.page_years:
            b.page_years[str(page)] = (_int(sy), _int(grade))

    page_info: dict[str, tuple[str, str | None]] = {}
    for page, tid, rs in zip(*_columns(normalized_records, ["page_id", "template_id", "rule_set"]),
                             strict=True):
        if page not in page_info:
            page_info[str(page)] = (str(tid), _text(rs))

    scans: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
    where: dict[tuple[str, str], tuple[str, str]] = {}
    replaces: dict[tuple[str, str], set[str]] = {}
    scols = ["batch_id", "book_ref", "file_path", "file_sha256", "first_page_no", "district", "school"]
    columns = _columns(scan_manifest, scols)
    # Tables written before the column existed have none: nothing replaced.
    columns.append(scan_manifest["replaces_batch_id"].tolist() if "replaces_batch_id" in scan_manifest.columns
                   else [None] * len(scan_manifest))
    for batch, ref, path, sha, first, district, school, repl in zip(*columns, strict=True):
        scans.setdefault((batch, ref), []).append((_int(first) or 0, str(path), str(sha)))
        where.setdefault((batch, ref), (str(district), str(school)))
        if (r := _text(repl)) is not None:
            replaces.setdefault((batch, ref), set()).add(r)

    out: list[BookRecord] = []
    for key in sorted(books):
        try:
            out.append(_record(books[key], page_info, scans.get(key, []), where.get(key),
                               replaces.get(key, set())))
        except RecordInvalid as exc:
            if on_error is None:
                raise
            on_error(exc)
    return out


def _record(b: _Book, page_info: dict[str, tuple[str, str | None]], scans: list[tuple[int, str, str]],
            where: tuple[str, str] | None, replaces: set[str]) -> BookRecord:
    key = BatchKey.lenient(b.batch_id)
    district, school = where or ((key.district, key.school) if key else ("", ""))
    record_id = make_record_id(school or "unknown", b.book_ref)
    problems: list[str] = []
    if len(replaces) > 1:
        problems.append(f"the book's files name {len(replaces)} different batches in replaces_batch_id "
                        f"({', '.join(sorted(replaces))}): one expected")
    elif replaces == {b.batch_id}:
        problems.append("replaces_batch_id names the book's own batch")
    if not b.student_id:
        problems.append("no student id (the book matched no roster student)")
    if not scans:
        problems.append("no scan in scan_manifest for the book: the record could not name its source")
    tpls = templates()
    identity_page: str | None = None
    identity: dict[str, FieldValue] = {}
    years: list[YearPage] = []
    for page, fields in b.pages.items():
        tid, rule_set = page_info.get(page, ("unknown", None))
        tpl = tpls.get(tid)
        if tpl is None:
            problems.append(f"page {page}: template {tid!r} unknown")
            continue
        if tpl.page_kind == "identity_page":
            if identity_page is not None:
                problems.append(f"two identity pages ({identity_page}, {page})")
                continue
            identity_page, identity = page, fields
            continue
        sy_col, grade_col = b.page_years.get(page, (None, None))
        sy = _start_year(fields["school_year"].value if "school_year" in fields else None) or sy_col
        grade = _grade_of_class(fields["class_name"].value if "class_name" in fields else None) or grade_col
        if sy is None or grade is None:
            problems.append(f"page {page}: no school year or grade")
            continue
        with contextlib.suppress(ContractError):  # else normalized_records' rule set (or None)
            rule_set = era_for(sy, grade).rule_set
        years.append(YearPage(page, tid, rule_set, sy, grade, fields))
    if problems:
        raise RecordInvalid(record_id, problems)
    years.sort(key=lambda y: (y.school_year, y.grade, y.page_id))
    seen: set[str] = set()
    refs = []
    for _, path, sha in sorted(scans):
        if sha not in seen:
            seen.add(sha)
            refs.append(ScanRef(path, sha))
    return BookRecord(
        record_id=record_id, batch_id=b.batch_id, district=district, school=school, book_ref=b.book_ref,
        student_id=str(b.student_id), identity=identity, years=tuple(years), scans=tuple(refs),
        identity_page_id=identity_page, replaces_batch_id=next(iter(replaces), None))
