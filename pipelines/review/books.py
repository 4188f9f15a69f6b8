"""What the pipeline's tables tell the console about a batch's books, in the words people know them by.

The review database knows an item by batch, book label, page id and field id. Reviewers know a student's
name, the school's name, the school year and the page of the book. Those live in the stage tables under
the storage root: ``roster`` (school and student names), ``roster_matches`` (the student of each book),
``normalized_records`` (the name and identifier read on the identity page, each page's school year and
grade) and ``page_images`` (each page's number in the book and its stored image). This module reads them
(only the columns it needs), per batch, and keeps them in memory for ``ttl_s``; a table not written yet
simply adds nothing, and the console falls back to the codes. Search folds case and diacritics (
"nguyen van an" finds "Nguyễn Văn An"). Nothing here logs names or identifiers.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq

from pipelines.ids import BatchKey
from pipelines.storage import Storage
from pipelines.table_io import table_path

IDENTITY_FIELDS = ("full_name", "identifier")


@dataclass(frozen=True)
class PageInfo:
    page_id: str
    book_page_no: int | None = None
    """1-based position in the book (None: page_images not written)."""
    school_year: int | None = None
    """Start year of the page's school year (None on the identity page, or not read)."""
    grade: int | None = None
    image_uri: str | None = None


@dataclass(frozen=True)
class BookInfo:
    book_ref: str
    student_name: str | None = None
    """The roster's spelling when the book is matched to a student, else the name read on the page."""
    student_id: str | None = None
    pages: tuple[PageInfo, ...] = ()

    def page(self, page_id: str) -> PageInfo | None:
        return next((p for p in self.pages if p.page_id == page_id), None)


@dataclass(frozen=True)
class BatchInfo:
    batch_id: str
    school: str
    school_name: str | None = None
    books: dict[str, BookInfo] = field(default_factory=dict)

    def book(self, book_ref: str) -> BookInfo:
        return self.books.get(book_ref) or BookInfo(book_ref)


def fold(text: str | None) -> str:
    """Lower case without diacritics, đ as d, spaces collapsed: what search compares."""
    t = unicodedata.normalize("NFD", (text or "").replace("đ", "d").replace("Đ", "D"))
    t = "".join(c for c in t if not unicodedata.combining(c))
    return " ".join(t.casefold().split())


def school_year_words(year: int | None) -> str | None:
    return f"{year}-{year + 1}" if year else None


def _read(storage: Storage, table: str, key: str | None, columns: list[str],
          filters: list | None = None) -> list[dict[str, Any]]:
    rel = table_path(table, key)
    if not storage.exists(rel):
        return []
    with storage.open(rel) as fh:
        return pq.read_table(fh, columns=columns, filters=filters).to_pylist()


def _text(v: Any) -> str | None:
    return v.strip() if isinstance(v, str) and v.strip() else None


def _int(v: Any) -> int | None:
    try:
        return int(v) if v is not None else None
    except (TypeError, ValueError):
        return None


class BookDirectory:
    """Per-process cache of ``BatchInfo`` by batch and of school names, each kept ``ttl_s`` seconds."""

    def __init__(self, storage: Storage, ttl_s: float = 300.0) -> None:
        self.storage = storage
        self.ttl_s = ttl_s
        self._batches: dict[str, tuple[float, BatchInfo]] = {}
        self._schools: tuple[float, dict[str, str]] | None = None
        self._lock = threading.Lock()

    def school_names(self) -> dict[str, str]:
        """School code → name, from the roster."""
        now = time.monotonic()
        with self._lock:
            if self._schools is not None and now - self._schools[0] < self.ttl_s:
                return self._schools[1]
        names: dict[str, str] = {}
        for r in _read(self.storage, "roster", None, ["school_code", "school_name"]):
            code, name = _text(r["school_code"]), _text(r["school_name"])
            if code and name:
                names.setdefault(code, name)
        with self._lock:
            self._schools = (now, names)
        return names

    def school_name(self, school: str) -> str | None:
        return self.school_names().get(school)

    def batch(self, batch_id: str) -> BatchInfo:
        now = time.monotonic()
        with self._lock:
            hit = self._batches.get(batch_id)
            if hit is not None and now - hit[0] < self.ttl_s:
                return hit[1]
        info = self._load(batch_id)
        with self._lock:
            self._batches[batch_id] = (now, info)
            if len(self._batches) > 500:  # a console open for weeks: forget the oldest
                for k in sorted(self._batches, key=lambda k: self._batches[k][0])[:100]:
                    del self._batches[k]
        return info

    def _load(self, batch_id: str) -> BatchInfo:
        key = BatchKey.lenient(batch_id)
        school = key.school if key else ""
        st = self.storage
        pages: dict[str, dict[str, dict[str, Any]]] = {}  # book → page → facts
        for r in _read(st, "page_images", batch_id, ["book_ref", "page_id", "book_page_no", "image_uri"]):
            pages.setdefault(r["book_ref"], {})[r["page_id"]] = {
                "book_page_no": _int(r["book_page_no"]), "image_uri": _text(r["image_uri"])}
        read_name: dict[str, str] = {}
        read_id: dict[str, str] = {}
        for r in _read(st, "normalized_records", batch_id,
                       ["book_ref", "page_id", "school_year", "grade", "field_id", "value"]):
            facts = pages.setdefault(r["book_ref"], {}).setdefault(r["page_id"], {})
            if facts.get("school_year") is None and r["school_year"] is not None:
                facts["school_year"], facts["grade"] = _int(r["school_year"]), _int(r["grade"])
            if r["field_id"] == "full_name" and _text(r["value"]):
                read_name.setdefault(r["book_ref"], _text(r["value"]))
            elif r["field_id"] == "identifier" and _text(r["value"]):
                read_id.setdefault(r["book_ref"], _text(r["value"]))
        matched = {r["book_ref"]: _text(r["student_id"])
                   for r in _read(st, "roster_matches", batch_id, ["book_ref", "student_id"])}
        roster_names: dict[str, str] = {}
        if school and any(matched.values()):
            for r in _read(st, "roster", None, ["student_id", "full_name"],
                           filters=[("school_code", "=", school)]):
                sid, name = _text(r["student_id"]), _text(r["full_name"])
                if sid and name:
                    roster_names.setdefault(sid, name)
        books: dict[str, BookInfo] = {}
        for book in sorted(set(pages) | set(matched) | set(read_name)):
            sid = matched.get(book) or read_id.get(book)
            ps = pages.get(book, {})
            infos = tuple(sorted(
                (PageInfo(page_id=p, book_page_no=f.get("book_page_no"), school_year=f.get("school_year"),
                          grade=f.get("grade"), image_uri=f.get("image_uri")) for p, f in ps.items()),
                key=lambda p: (p.book_page_no is None, p.book_page_no or 0, p.page_id)))
            name = roster_names.get(sid or "") or read_name.get(book)
            books[book] = BookInfo(book_ref=book, student_name=name, student_id=sid, pages=infos)
        return BatchInfo(batch_id=batch_id, school=school, school_name=self.school_name(school) if school
                         else None, books=books)

    def matches(self, query: str, batch_id: str, book_refs: Iterable[str]) -> list[str]:
        """The books among ``book_refs`` of the batch whose label, student name or identifier contain
        ``query`` (case and diacritics folded; digits of an identifier compared as typed)."""
        q = fold(query)
        if not q:
            return []
        info = self.batch(batch_id)
        out = []
        for ref in book_refs:
            b = info.book(ref)
            if q in fold(ref) or (b.student_name and q in fold(b.student_name)) \
                    or (b.student_id and q.replace(" ", "") in b.student_id):
                out.append(ref)
        return out

    def accepted_at(self, batch_id: str) -> dt.datetime | None:
        """When the batch's accepted_records were last written (UTC), None if never."""
        return modified_at(self.storage, table_path("accepted_records", batch_id))


def modified_at(storage: Storage, rel: str) -> dt.datetime | None:
    """A stored file's modification time (UTC), None when it does not exist."""
    if not storage.exists(rel):
        return None
    t = storage.fs.modified(storage.full(rel))
    if t.tzinfo is None:  # fsspec's local filesystem and s3fs answer in UTC
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC)


__all__ = ["BatchInfo", "BookDirectory", "BookInfo", "PageInfo", "fold", "modified_at", "school_year_words"]
