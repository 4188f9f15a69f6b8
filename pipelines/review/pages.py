"""What the review pages say about where a reviewer is: plain Python, no web.

Breadcrumbs in words (school, student, school year and page, the field's Vietnamese label) instead of
batch, page and field ids; the book's pages for the viewer; the queue's batches with open work first and
their school names; the day's progress line. The facts come from ``books.BookDirectory``; where a table
has not been written yet, the codes stand in, said plainly ("Trường mã HN-BD-THCS01", "Sổ THCS01-0001").
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from pipelines.ids import BatchKey, batch_name
from pipelines.review import labels
from pipelines.review.books import BatchInfo, BookDirectory, school_year_words
from pipelines.review.coverage_view import VN_TZ, fmt_int


def start_of_day(now: dt.datetime | None = None) -> dt.datetime:
    """Midnight of today in Việt Nam, as a UTC time (what "hôm nay" counts from)."""
    local = (now or dt.datetime.now(dt.UTC)).astimezone(VN_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)


def progress_words(p: dict[str, int]) -> str:
    """"còn 1.569 ô · hôm nay bạn đã duyệt 120"."""
    return f"còn {fmt_int(p['remaining'])} ô · hôm nay bạn đã duyệt {fmt_int(p['done_today'])}"


def school_label(school: str, name: str | None) -> str:
    return name if name else f"Trường mã {school}"


def book_url(batch_id: str, book_ref: str) -> str:
    return "/book?" + urlencode({"batch": batch_id, "book": book_ref})


def page_url(batch_id: str, page_id: str) -> str:
    return "/book/page?" + urlencode({"batch": batch_id, "page": page_id})


def student_label(info: BatchInfo, book_ref: str) -> str:
    name = info.book(book_ref).student_name
    return f"{name} · sổ {book_ref}" if name else f"Sổ {book_ref}"


def page_words(info: BatchInfo, book_ref: str, page_id: str, position: int | None = None) -> str:
    """"Năm học 2023-2024 · lớp 8 · trang 2" with what is known; "Trang 2" at least."""
    p = info.book(book_ref).page(page_id)
    parts = []
    if p is not None and p.school_year:
        parts.append(f"Năm học {school_year_words(p.school_year)}")
        if p.grade:
            parts.append(f"lớp {p.grade}")
    no = p.book_page_no if p is not None and p.book_page_no else position
    if no:
        parts.append(f"trang {no}")
    text = " · ".join(parts)
    return text[:1].upper() + text[1:] if text else "Trang không rõ số"


def book_pages(info: BatchInfo, book_ref: str, item_pages: list[str], current: str) -> list[dict[str, Any]]:
    """The book's pages, in book order, for the viewer (PageUp/PageDown) and the book page: those
    page_images knows, else the pages the book's items are on."""
    known = [p.page_id for p in info.book(book_ref).pages]
    ids = known or sorted(set(item_pages) | {current})
    # A page's number only where page_images gives it: the flagged pages alone say nothing of it.
    return [{"page_id": pid, "url": page_url(info.batch_id, pid), "current": pid == current,
             "label": page_words(info, book_ref, pid, i + 1) if known
             else f"Trang thứ {i + 1} có ô cần duyệt"}
            for i, pid in enumerate(ids)]


def item_context(directory: BookDirectory, item: Any, item_pages: list[str]) -> dict[str, Any]:
    """Breadcrumbs and the book's pages of an item page."""
    info = directory.batch(item.batch_id)
    pages = book_pages(info, item.book_ref, item_pages, item.page_id)
    return {
        "crumbs": [
            {"text": school_label(item.school, info.school_name), "url": None},
            {"text": student_label(info, item.book_ref), "url": book_url(item.batch_id, item.book_ref)},
            {"text": page_words(info, item.book_ref, item.page_id), "url": None},
            {"text": labels.field_label(item.template_id, item.field_id), "url": None},
        ],
        "student": info.book(item.book_ref).student_name,
        "book_url": book_url(item.batch_id, item.book_ref),
        "pages": pages,
    }


def queue_batches(batches: list[dict[str, Any]], directory: BookDirectory) -> list[dict[str, Any]]:
    """The queue's batches (``_queue_view`` rows) with open work first, each with its school's name and
    its books' students."""
    out = []
    for b in batches:
        info = directory.batch(b["batch_id"])
        key = BatchKey.lenient(b["batch_id"])
        school = key.school if key else ""
        out.append({**b, "school": school, "school_label": school_label(school, info.school_name),
                    "school_named": bool(info.school_name), "batch_name": batch_name(b["batch_id"]),
                    "books": [{**k, "student": info.book(k["book_ref"]).student_name,
                               "url": book_url(b["batch_id"], k["book_ref"])} for k in b["books"]]})
    return sorted(out, key=lambda b: (b["totals"].get("remaining", 0) == 0, b["batch_id"]))


__all__ = ["book_pages", "book_url", "item_context", "page_url", "page_words",
           "progress_words", "queue_batches", "school_label", "start_of_day", "student_label"]
