"""Group verification: many fields of one type side by side, claimed, saved and released together."""

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pipelines.review import store
from pipelines.review.api.deps import (
    Console,
    ConsoleDep,
    CurrentUser,
    PostedForm,
    current_user,
    flash,
    ids,
    progress,
    render,
    undo_view,
)
from pipelines.review.db import ReviewItem, User
from pipelines.review.errors import AlreadyResolved, Forbidden, InvalidValue, NotClaimed, NotFound
from pipelines.review.views import Nav, item_view, message_vi, resolve_action, retyped

GROUP_SIZE = 24

router = APIRouter(dependencies=[Depends(current_user)])


def claim_group(console: Console, user: User, nav: Nav) -> list[ReviewItem]:
    """Up to GROUP_SIZE items of the group claimed for this user, their own open claims first, then
    in their queue order (claim_next); ones others hold are left alone."""
    claimed: list[ReviewItem] = []
    while len(claimed) < GROUP_SIZE:
        it = store.claim_next(console.engine, user, ttl_s=console.ttl_s, resume=True,
                              skip=[c.id for c in claimed], **nav.store_args())
        if it is None:
            break
        claimed.append(it)
    return claimed


def group_page(request: Request, console: Console, user: User, nav: Nav, items: list[ReviewItem], *,
               status_code: int = 200, errors: dict[int, str] | None = None,
               typed: dict[int, str] | None = None, saved: int = 0) -> Response:
    views = [item_view(it, user) for it in items]
    typed = typed or {}
    for v in views:
        v["value"] = typed.get(v["id"], v["proposed_value"] or "")
    return render(request, "group.html", user, status_code=status_code, nav=nav, items=views,
                  errors=errors or {}, saved=saved, progress=progress(console, user, nav),
                  undo=undo_view(console, user, request.query_params.get("undo")))


@router.get("/group", response_class=HTMLResponse)
def group_get(request: Request, user: CurrentUser, console: ConsoleDep) -> Response:
    """The user's own claims in the group; claiming more is a POST (/group/claim)."""
    nav = Nav.of(request.query_params)
    return group_page(request, console, user, nav,
                      store.list_items(console.engine, user, held_by_me=True, limit=GROUP_SIZE,
                                       **nav.store_args()))


@router.post("/group/claim")
def group_claim(request: Request, user: CurrentUser, form: PostedForm, console: ConsoleDep) -> Response:
    nav = Nav.of(form)
    if not claim_group(console, user, nav):
        flash(request, f"Không còn trường nào cần duyệt ({nav.describe()}).")
    return RedirectResponse(f"/group{nav.query()}", status_code=303)


@router.post("/group", response_class=HTMLResponse)
def group_post(request: Request, user: CurrentUser, form: PostedForm, console: ConsoleDep) -> Response:
    """One form for the group: unchanged values are accepted, changed ones corrected, emptied ones saved
    as blank on the paper, ticked ones marked illegible; the ones that fail come back with their
    messages. Then the next group is claimed."""
    nav = Nav.of(form)
    item_ids = ids(form.getlist("item"))
    illegible = set(ids(form.getlist("illegible")))
    errors: dict[int, str] = {}
    typed: dict[int, str] = {}
    failed: list[Any] = []
    saved = 0
    for item_id in item_ids:
        item = store.get_item(console.engine, user, item_id)
        value = str(form.get(f"value_{item_id}") or "")
        action = "illegible" if item_id in illegible else resolve_action("auto", value, item)
        try:
            store.submit(console.engine, user, item_id, action=action,
                         value=value if action == "correct" else None)
            saved += 1
        except AlreadyResolved:  # finished meanwhile (e.g. by Enter on its card): nothing to do
            continue
        except InvalidValue as exc:
            hint = getattr(exc, "suggestion", None)
            errors[item_id] = message_vi(exc) + (f" Có phải là {hint}?" if hint else "")
            if retyped(exc, value) is not None:
                typed[item_id] = value
            failed.append(item)
        except NotClaimed:
            errors[item_id] = "Trường này đang được người khác duyệt; đã bỏ qua."
            typed[item_id] = value
            failed.append(item)
    if errors:
        return group_page(request, console, user, nav, failed, status_code=422, errors=errors, typed=typed,
                          saved=saved)
    more = claim_group(console, user, nav)
    flash(request, f"Đã lưu {saved} trường."
          + ("" if more else f" Không còn trường nào cần duyệt ({nav.describe()})."))
    return RedirectResponse(f"/group{nav.query()}", status_code=303)


@router.post("/group/release")
def group_release(request: Request, user: CurrentUser, form: PostedForm, console: ConsoleDep) -> Response:
    for item_id in ids(form.getlist("item")):
        try:
            store.release(console.engine, user, item_id)
        except (NotClaimed, NotFound, Forbidden):
            continue
    return RedirectResponse("/", status_code=303)
