"""The data team's pages: the list of fields waiting for the paper book, their answers from it, and
reopening a finished field."""

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pipelines.review import labels, pages, store
from pipelines.review.api.deps import (
    Console,
    ConsoleDep,
    CurrentUser,
    PostedForm,
    current_user,
    flash,
    render,
    require_paper_role,
)
from pipelines.review.api.pages import to_item
from pipelines.review.db import User
from pipelines.review.errors import InvalidValue
from pipelines.review.views import Nav, message_vi, retyped

router = APIRouter(dependencies=[Depends(current_user)])


def paper_page(request: Request, console: Console, user: User, *, status_code: int = 200,
               errors: dict[int, str] | None = None, typed: dict[int, str] | None = None) -> Response:
    rows = []
    for it in store.list_items(console.engine, user, status="needs_paper", limit=500):
        info = console.directory.batch(it.batch_id)
        rows.append({
            "id": it.id, "school": pages.school_label(it.school, info.school_name),
            "student": pages.student_label(info, it.book_ref),
            "where": pages.page_words(info, it.book_ref, it.page_id),
            "label": labels.field_label(it.template_id, it.field_id),
            "raw_text": it.raw_text, "proposed_value": it.proposed_value,
            "crop_url": f"/items/{it.id}/crop" if it.crop_uri else None,
            "book_url": pages.book_url(it.batch_id, it.book_ref),
            "hint": labels.field_type_hint(it.field_type, it.vocabulary),
        })
    return render(request, "paper.html", user, status_code=status_code, rows=rows, errors=errors or {},
                  typed=typed or {})


@router.get("/paper", response_class=HTMLResponse)
def paper_list(request: Request, user: CurrentUser, console: ConsoleDep) -> Response:
    require_paper_role(user)
    return paper_page(request, console, user)


@router.post("/paper/{item_id}", response_class=HTMLResponse)
def paper_resolve(request: Request, item_id: int, user: CurrentUser, form: PostedForm,
                  console: ConsoleDep) -> Response:
    require_paper_role(user)
    not_on_paper = form.get("not_on_paper") == "1"
    value = str(form.get("value") or "")
    try:
        item = store.resolve_paper(console.engine, user, item_id, value=None if not_on_paper else value)
    except InvalidValue as exc:
        typed: dict[int, Any] = {} if retyped(exc, value) is None else {item_id: value}
        return paper_page(request, console, user, status_code=422, errors={item_id: message_vi(exc)},
                          typed=typed)
    label = labels.field_label(item.template_id, item.field_id)
    flash(request, f"Đã lưu kết quả xem sổ giấy: {label} — "
                   + ("không có trên sổ." if item.final_value is None else f"{item.final_value}."))
    return RedirectResponse("/paper", status_code=303)


@router.post("/items/{item_id}/reopen")
def item_reopen(request: Request, item_id: int, user: CurrentUser, form: PostedForm,
                console: ConsoleDep) -> Response:
    require_paper_role(user)
    store.reopen(console.engine, user, item_id, reason=str(form.get("reason") or "").strip()[:500],
                 ttl_s=console.ttl_s)
    flash(request, "Đã mở lại trường: sửa giá trị rồi bấm Enter để lưu.")
    return to_item(item_id, Nav.of(form))
