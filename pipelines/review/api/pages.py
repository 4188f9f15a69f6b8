"""The reviewer's pages: the queue, the next field, a field in context (claim, submit, skip, release,
take back "needs the paper book"), its images, and the books (search, a book's pages)."""

import contextlib
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pipelines import db
from pipelines.review import labels, pages, store
from pipelines.review.api.deps import (
    Console,
    ConsoleDep,
    CurrentUser,
    PostedForm,
    current_user,
    flash,
    png,
    progress,
    render,
    undo_view,
)
from pipelines.review.db import ReviewItem, User
from pipelines.review.errors import BadRequest, InvalidValue, NotClaimed, NotFound, SecondEntryByOther
from pipelines.review.views import (
    Nav,
    add,
    item_view,
    message_vi,
    queue_view,
    resolve_action,
    retyped,
    row_counts,
)

router = APIRouter(dependencies=[Depends(current_user)])


def to_item(item_id: int, nav: Nav, **extra: str) -> Response:
    return RedirectResponse(f"/items/{item_id}{nav.query(**extra)}", status_code=303)


def next_item(request: Request, console: Console, user: User, nav: Nav, *, passed: int | None = None,
              undo: int | None = None) -> Response:
    """Claim the reviewer's next field (their own open claim first) and open it; in group mode, back
    to the group; the queue when nothing is left. ``undo``: a field just sent to the paper book, offered
    for undo on the next page; ``passed``: the field just skipped."""
    extra = {"undo": str(undo)} if undo else {}
    if nav.mode == "group":
        return RedirectResponse(f"/group{nav.query(**extra)}", status_code=303)
    item = store.claim_next(console.engine, user, ttl_s=console.ttl_s, resume=True, **nav.store_args())
    if item is None:
        flash(request, f"Không còn trường nào cần duyệt ({nav.describe()}).")
        return RedirectResponse("/" + (f"?{urlencode(extra)}" if extra else ""), status_code=303)
    if passed is not None and item.id == passed:
        flash(request, "Chỉ còn trường này trong phần bạn đang duyệt.")
    return to_item(item.id, nav, **extra)


@router.get("/", response_class=HTMLResponse)
def queue(request: Request, user: CurrentUser, console: ConsoleDep) -> Response:
    batches = pages.queue_batches(queue_view(store.queue_summary(console.engine, user)), console.directory)
    paper = sum(b["totals"].get("needs_paper", 0) for b in batches)
    return render(request, "queue.html", user, batches=batches, progress=progress(console, user),
                  paper=paper if user.role in store.PAPER_ROLES else None,
                  undo=undo_view(console, user, request.query_params.get("undo")))


@router.get("/review/next", response_class=HTMLResponse)
def review_next_page(request: Request, user: CurrentUser, console: ConsoleDep) -> Response:
    """A GET never claims (a link on another site must not): this page offers the claim, on Enter."""
    nav = Nav.of(request.query_params)
    return render(request, "start.html", user, nav=nav, progress=progress(console, user, nav))


@router.post("/review/next")
def review_next(request: Request, user: CurrentUser, form: PostedForm, console: ConsoleDep) -> Response:
    return next_item(request, console, user, Nav.of(form))


def item_page(request: Request, console: Console, user: User, item: ReviewItem, nav: Nav, *,
              status_code: int = 200, error: str | None = None, typed: str | None = None,
              suggestion: str | None = None, editable: bool | None = None, confirm_paper: bool = False,
              undo: Any = None) -> Response:
    view = item_view(item, user)
    if suggestion and suggestion not in view["candidates"]:  # "did you mean 8,5?" as a candidate
        view["candidates"].insert(0, suggestion)
    now = db.utcnow()
    blocked = None
    if item.status == "claimed" and item.claimed_by != user.id and store.claim_live(item, now):
        blocked = "Trường này đang được người khác duyệt."
    elif item.status in ("open", "claimed") and item.needs_second and item.first_by == user.id:
        blocked = "Bạn đã nhập lần thứ nhất cho trường này; lần nhập thứ hai phải do người khác."
    if editable is None:  # a GET: the form only on the user's own live claim
        editable = view["claimed_by_me"] and store.claim_live(item, now)
    editable = bool(editable) and blocked is None
    claimable = not editable and blocked is None and item.status in ("open", "claimed")
    reopened = item.status in ("open", "claimed") and bool(store.audit(console.engine, item_id=item.id,
                                                                       action="reopen", limit=1))
    if typed is not None:
        value = typed
    elif reopened:  # the value it had: Enter keeps it
        value = item.final_value or ""
    else:
        value = item.proposed_value or ""
    book_items = store.list_items(console.engine, user, batch_id=item.batch_id, book_ref=item.book_ref,
                                  status=None, limit=None)
    return render(request, "item.html", user, status_code=status_code, item=view, nav=nav,
                  value=value, error=error, editable=editable, blocked=blocked, claimable=claimable,
                  confirm_paper=confirm_paper, reopened=reopened,
                  ctx=pages.item_context(console.directory, item, [i.page_id for i in book_items]),
                  progress=progress(console, user, nav),
                  undo=undo_view(console, user, undo) if undo else None,
                  own_paper=undo_view(console, user, item.id) if item.status == "needs_paper" else None,
                  manages=user.role in store.PAPER_ROLES)


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_get(request: Request, item_id: int, user: CurrentUser, console: ConsoleDep) -> Response:
    """The field in context, read-only unless the user holds its claim: opening it claims nothing."""
    item = store.get_item(console.engine, user, item_id)
    return item_page(request, console, user, item, Nav.of(request.query_params),
                     undo=request.query_params.get("undo"))


@router.post("/items/{item_id}/claim")
def item_claim(request: Request, item_id: int, user: CurrentUser, form: PostedForm,
               console: ConsoleDep) -> Response:
    nav = Nav.of(form)
    # Held by another, resolved meanwhile, or the second-entry rule: the page says which.
    with contextlib.suppress(NotClaimed, SecondEntryByOther):
        store.claim(console.engine, user, item_id, ttl_s=console.ttl_s)
    return to_item(item_id, nav)


@router.post("/items/{item_id}", response_class=HTMLResponse)
def item_post(request: Request, item_id: int, user: CurrentUser, form: PostedForm,
              console: ConsoleDep) -> Response:
    nav = Nav.of(form)
    action = str(form.get("action") or "auto")
    value = str(form.get("value") or "")
    if action not in ("auto", "accept", "correct", "illegible"):
        raise BadRequest("Thao tác không hợp lệ.")
    item = store.get_item(console.engine, user, item_id)
    if action == "illegible" and form.get("confirm") != "1":
        # One keystroke must not hold a student's book back: the paper book only once confirmed.
        return item_page(request, console, user, item, nav, editable=True, typed=value, confirm_paper=True)
    action = resolve_action(action, value, item)
    try:
        store.submit(console.engine, user, item_id, action=action,
                     value=value if action == "correct" else None)
    except InvalidValue as exc:
        return item_page(request, console, user, item, nav, status_code=422, error=message_vi(exc),
                         typed=retyped(exc, value), suggestion=getattr(exc, "suggestion", None),
                         editable=True)
    return next_item(request, console, user, nav, undo=item_id if action == "illegible" else None)


@router.post("/items/{item_id}/skip")
def item_skip(request: Request, item_id: int, user: CurrentUser, form: PostedForm,
              console: ConsoleDep) -> Response:
    """Esc: pass over the field (released, to the back of this reviewer's queue) and open the next."""
    nav = Nav.of(form)
    with contextlib.suppress(NotClaimed):  # resolved or taken meanwhile: nothing to pass over
        store.skip(console.engine, user, item_id)
    return next_item(request, console, user, nav, passed=item_id)


@router.post("/items/{item_id}/release")
def item_release(request: Request, item_id: int, user: CurrentUser, form: PostedForm,
                 console: ConsoleDep) -> Response:
    """Give the claim back: the "về hàng đợi" link, and review.js when the page is left (pagehide)."""
    with contextlib.suppress(NotClaimed):  # someone else holds it now: nothing of ours to give back
        store.release(console.engine, user, item_id)
    nav = Nav.of(form)
    return RedirectResponse(f"/group{nav.query()}" if nav.mode == "group" else "/", status_code=303)


@router.post("/items/{item_id}/undo-paper")
def item_undo_paper(request: Request, item_id: int, user: CurrentUser, form: PostedForm,
                    console: ConsoleDep) -> Response:
    item = store.get_item(console.engine, user, item_id)
    store.undo_paper(console.engine, user, item_id,
                     batch_accepted_at=console.directory.accepted_at(item.batch_id), ttl_s=console.ttl_s)
    flash(request, "Đã hoàn tác: trường trở lại để bạn duyệt.")
    return to_item(item_id, Nav.of(form))


def image(console: Console, item_id: int, user: User, which: Literal["crop", "page"]) -> Response:
    item = store.get_item(console.engine, user, item_id)
    rel = item.crop_uri if which == "crop" else item.page_image_uri
    return png(console, rel, f"item {item_id} has no {which} image")


@router.get("/items/{item_id}/crop")
def item_crop(item_id: int, user: CurrentUser, console: ConsoleDep) -> Response:
    return image(console, item_id, user, "crop")


@router.get("/items/{item_id}/page")
def item_page_image(item_id: int, user: CurrentUser, console: ConsoleDep) -> Response:
    return image(console, item_id, user, "page")


# --- books: search, a book's pages and fields --------------------------------------------------
@router.get("/search", response_class=HTMLResponse)
def search(request: Request, user: CurrentUser, console: ConsoleDep) -> Response:
    """Books in the user's scope by student name, identifier or book label."""
    q = str(request.query_params.get("q") or "").strip()[:100]
    hits: list[dict[str, Any]] = []
    if q:
        by_batch: dict[str, dict[str, dict[str, int]]] = {}
        for row in store.queue_summary(console.engine, user):
            add(by_batch.setdefault(str(row["batch_id"]), {}).setdefault(str(row["book_ref"]), {}),
                row_counts(row))
        for batch_id, books_of in sorted(by_batch.items()):
            info = console.directory.batch(batch_id)
            for ref in console.directory.matches(q, batch_id, sorted(books_of)):
                hits.append({"batch_id": batch_id, "book_ref": ref, **books_of[ref],
                             "student": info.book(ref).student_name,
                             "school": pages.school_label(info.school, info.school_name),
                             "url": pages.book_url(batch_id, ref)})
                if len(hits) >= 100:
                    break
    return render(request, "search.html", user, q=q, hits=hits[:100])


def book_items(console: Console, user: User, batch: str, book: str) -> list[ReviewItem]:
    items = store.list_items(console.engine, user, batch_id=batch, book_ref=book, status=None, limit=None)
    if not items:  # no such book, or outside the user's scope: the same answer
        raise NotFound(f"book {book!r} of batch {batch!r}")
    return items


@router.get("/book", response_class=HTMLResponse)
def book_page(request: Request, user: CurrentUser, console: ConsoleDep) -> Response:
    batch = str(request.query_params.get("batch") or "")
    book = str(request.query_params.get("book") or "")
    items = book_items(console, user, batch, book)
    info = console.directory.batch(batch)
    book_pages = pages.book_pages(info, book, [i.page_id for i in items], items[0].page_id)
    fields: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        fields.setdefault(it.page_id, []).append({
            "id": it.id, "label": labels.field_label(it.template_id, it.field_id),
            "status": it.status, "status_label": labels.status_label(it.status),
            "value": it.final_value})
    return render(request, "book.html", user, batch_id=batch, book_ref=book, pages=book_pages,
                  fields=fields, student=info.book(book).student_name,
                  school=pages.school_label(info.school, info.school_name),
                  remaining=sum(1 for i in items if i.status in ("open", "claimed")))


@router.get("/book/page")
def book_page_image(request: Request, user: CurrentUser, console: ConsoleDep) -> Response:
    """A page of a book with flagged fields in the user's scope, flagged itself or not."""
    batch = str(request.query_params.get("batch") or "")
    page_id = str(request.query_params.get("page") or "")
    on_page = store.list_items(console.engine, user, batch_id=batch, page_id=page_id, status=None, limit=1)
    if on_page:
        return png(console, on_page[0].page_image_uri, f"page {page_id}")
    known = next((p for b in console.directory.batch(batch).books.values() for p in b.pages
                  if p.page_id == page_id), None)
    if known is None or not store.list_items(console.engine, user, batch_id=batch, status=None, limit=1):
        raise NotFound(f"page {page_id}")
    return png(console, known.image_uri, f"page {page_id}")
