"""The JSON API under /api (review.js and the tests): batch counts, one item, a decision, the undo of
"needs the paper book". Answers are the output schemas of ``pipelines.review.schemas``."""

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from pipelines.review import store
from pipelines.review.api.deps import ConsoleDep, CurrentUser, current_user
from pipelines.review.schemas import BatchCountsOut, ItemOut, SubmitBody
from pipelines.review.views import queue_view, resolve_action

router = APIRouter(prefix="/api", dependencies=[Depends(current_user)])


@router.get("/batches")
def api_batches(user: CurrentUser, console: ConsoleDep) -> list[BatchCountsOut]:
    """Counts per batch within the user's scope: open, claimed, done, needs_paper, remaining."""
    return [BatchCountsOut(batch_id=b["batch_id"], **b["totals"])
            for b in queue_view(store.queue_summary(console.engine, user))]


@router.get("/items/{item_id}")
def api_item(item_id: int, user: CurrentUser, console: ConsoleDep) -> ItemOut:
    return ItemOut.of(store.get_item(console.engine, user, item_id), user)


@router.post("/items/{item_id}", response_model=ItemOut)
def api_submit(item_id: int, body: SubmitBody, user: CurrentUser, console: ConsoleDep) -> Any:
    """Same as the item form: accept | correct (with value; empty: blank on the paper) | illegible
    (with ``confirm: true``) | auto."""
    item = store.get_item(console.engine, user, item_id)
    if body.action == "illegible" and not body.confirm:
        return JSONResponse({"error": "confirm_required", "message": "Cần xác nhận trước khi chuyển "
                             "trường sang danh sách cần xem sổ giấy."}, status_code=422)
    value = body.value or ""
    action = resolve_action(body.action, value, item)
    saved = store.submit(console.engine, user, item_id, action=action,
                         value=value if action == "correct" else None)
    return ItemOut.of(saved, user)


@router.post("/items/{item_id}/undo-paper")
def api_undo_paper(item_id: int, user: CurrentUser, console: ConsoleDep) -> ItemOut:
    """Take back one's own "needs the paper book" (group mode's undo): the item is claimed again."""
    item = store.get_item(console.engine, user, item_id)
    saved = store.undo_paper(console.engine, user, item_id, ttl_s=console.ttl_s,
                             batch_accepted_at=console.directory.accepted_at(item.batch_id))
    return ItemOut.of(saved, user)
