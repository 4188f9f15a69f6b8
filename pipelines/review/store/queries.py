"""What the console and the pipeline read of review: one item, listings, counts and reports.

Read-only. The scoped ones take the acting user and show only their scope; ``batch_counts``,
``last_resolved`` and ``corrections`` are the pipeline's, unscoped. Everywhere an expired claim counts as
open (``core.claim_expired``). What other stages read (coverage) is ``pipelines.review.queries``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator
from typing import Any

import pandas as pd
from sqlalchemy import case, func, not_, select, true
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from pipelines.db import utcnow
from pipelines.review.db import STATUSES, AuditLog, ReviewItem, User
from pipelines.review.errors import NotFound
from pipelines.review.store.core import (
    QUEUE_ORDER,
    acting,
    check_scope,
    claim_expired,
    live_status,
    reading,
    user_scope,
)


# --- items ---------------------------------------------------------------------------------------
def _filters(**equal: str | None) -> list[ColumnElement[bool]]:
    """``ReviewItem.<column> == value`` for each filter given (None: not filtered)."""
    return [getattr(ReviewItem, column) == value for column, value in equal.items() if value is not None]


def get_item(engine: Engine, user: User, item_id: int) -> ReviewItem:
    with reading(engine) as s:
        me = acting(s, user)
        item = s.get(ReviewItem, item_id)
        if item is None:
            raise NotFound(f"Không có mục #{item_id}.")
        check_scope(me, item)
        return item


def list_items(
    engine: Engine,
    user: User,
    *,
    batch_id: str | None = None,
    field_type: str | None = None,
    book_ref: str | None = None,
    page_id: str | None = None,
    status: str | Collection[str] | None = ("open", "claimed"),
    held_by_me: bool = False,
    limit: int | None = 200,
) -> list[ReviewItem]:
    """Items in the user's scope, queue order. ``status`` None: every status; ``page_id``: one page's
    flagged fields (field in context); ``held_by_me``: only the user's own live claims (group mode)."""
    with reading(engine) as s:
        me = acting(s, user)
        q = select(ReviewItem).where(user_scope(me).clause())
        if held_by_me:
            q = q.where(ReviewItem.status == "claimed", ReviewItem.claimed_by == me.id,
                        not_(claim_expired(utcnow())))
        q = q.where(*_filters(batch_id=batch_id, field_type=field_type, book_ref=book_ref))
        if page_id is not None:
            q = q.where(ReviewItem.page_id == page_id)
        if status is not None:
            q = q.where(ReviewItem.status.in_([status] if isinstance(status, str) else list(status)))
        q = q.order_by(*QUEUE_ORDER)
        if limit is not None:
            q = q.limit(limit)
        return list(s.scalars(q))


def _zero_counts() -> dict[str, int]:
    return dict.fromkeys(STATUSES, 0)


def _status_counts(s: Session, keys: tuple, where: ColumnElement[bool]) -> Iterator[tuple[tuple, str, int]]:
    """(group key, status, count) with expired claims counted as open."""
    expired = func.sum(case((claim_expired(utcnow()), 1), else_=0))
    q = (select(*keys, ReviewItem.status, func.count(), expired)
         .where(where).group_by(*keys, ReviewItem.status))
    for *key, status, n, n_expired in s.execute(q):
        n_expired = int(n_expired or 0)
        yield tuple(key), status, int(n) - n_expired
        if n_expired:
            yield tuple(key), "open", n_expired


def queue_summary(engine: Engine, user: User) -> list[dict[str, Any]]:
    """Per batch, book and field type in the user's scope: counts by status (expired claims are open).

    Each row: batch_id, district, school, book_ref, field_type, open, claimed, done, needs_paper, total.
    """
    keys = (ReviewItem.batch_id, ReviewItem.district, ReviewItem.school, ReviewItem.book_ref,
            ReviewItem.field_type)
    with reading(engine) as s:
        me = acting(s, user)
        groups: dict[tuple, dict[str, int]] = {}
        for key, status, n in _status_counts(s, keys, user_scope(me).clause()):
            counts = groups.setdefault(key, _zero_counts())
            counts[status] = counts.get(status, 0) + n
    names = ("batch_id", "district", "school", "book_ref", "field_type")
    return [{**dict(zip(names, key, strict=True)), **counts, "total": sum(counts.values())}
            for key, counts in sorted(groups.items())]


DECISION_AUDITS = ("accept", "correct", "illegible", "second_entry", "second_disagree", "paper_resolve")
"""Audit actions that are one decision by the acting user (what "reviewed today" counts)."""


def progress(
    engine: Engine,
    user: User,
    *,
    since: dt.datetime,
    batch_id: str | None = None,
    field_type: str | None = None,
    book_ref: str | None = None,
) -> dict[str, int]:
    """``remaining``: items still to review (open or claimed) in the user's scope and these filters;
    ``done_today``: decisions the user made since ``since`` (the start of their day)."""
    with reading(engine) as s:
        me = acting(s, user)
        q = select(func.count()).select_from(ReviewItem).where(
            ReviewItem.status.in_(("open", "claimed")), user_scope(me).clause())
        q = q.where(*_filters(batch_id=batch_id, field_type=field_type, book_ref=book_ref))
        remaining = int(s.execute(q).scalar_one())
        done = int(s.execute(select(func.count()).select_from(AuditLog).where(
            AuditLog.at >= since, AuditLog.user_id == me.id, AuditLog.action.in_(DECISION_AUDITS))
        ).scalar_one())
    return {"remaining": remaining, "done_today": done}


def batch_counts(engine: Engine, batch_id: str | None = None) -> dict[str, dict[str, int]]:
    """Per batch: open, claimed, done, needs_paper (expired claims are open). Unscoped, for the pipeline.

    A batch asked for by id is in the answer even with no items (all zero).
    """
    where = true() if batch_id is None else ReviewItem.batch_id == batch_id
    out: dict[str, dict[str, int]] = {} if batch_id is None else {batch_id: _zero_counts()}
    with reading(engine) as s:
        for (b,), status, n in _status_counts(s, (ReviewItem.batch_id,), where):
            out.setdefault(b, _zero_counts())[status] += n
    return dict(sorted(out.items()))


def last_resolved(engine: Engine) -> dict[str, dt.datetime | None]:
    """Per batch with items: when its last item was resolved (None: none yet). One query, for the
    review loop's sensor, which asks this of every batch every minute."""
    q = select(ReviewItem.batch_id, func.max(ReviewItem.resolved_at)).group_by(ReviewItem.batch_id)
    with reading(engine) as s:
        return {b: t for b, t in s.execute(q)}


CORRECTIONS_COLUMNS = ("batch_id", "book_ref", "page_id", "field_id", "status", "value", "reviewed_by",
                       "reviewed_at")


def corrections(engine: Engine, batch_id: str) -> pd.DataFrame:
    """Every item of a batch with its outcome: value is the final value (None until resolved, and for
    needs_paper), reviewed_by the resolving user's username, reviewed_at when (UTC)."""
    reviewer = aliased(User)
    q = (select(ReviewItem.batch_id, ReviewItem.book_ref, ReviewItem.page_id, ReviewItem.field_id,
                live_status(utcnow()).label("status"), ReviewItem.final_value.label("value"),
                reviewer.username.label("reviewed_by"), ReviewItem.resolved_at.label("reviewed_at"))
         .outerjoin(reviewer, reviewer.id == ReviewItem.resolved_by)
         .where(ReviewItem.batch_id == batch_id)
         .order_by(*QUEUE_ORDER))
    with reading(engine) as s:
        rows = [tuple(r) for r in s.execute(q)]
    df = pd.DataFrame(rows, columns=list(CORRECTIONS_COLUMNS), dtype=object)  # None stays None
    df["reviewed_at"] = pd.to_datetime(df["reviewed_at"], utc=True).astype("datetime64[us, UTC]")
    return df


def usernames(engine: Engine, user_ids: Collection[int | None]) -> dict[int, str]:
    """user id → username, for showing who claimed or resolved an item."""
    ids = sorted({i for i in user_ids if i is not None})
    if not ids:
        return {}
    with reading(engine) as s:
        return {uid: name for uid, name in s.execute(select(User.id, User.username).where(User.id.in_(ids)))}


# --- audit ---------------------------------------------------------------------------------------
def audit(
    engine: Engine,
    *,
    item_id: int | None = None,
    action: str | None = None,
    user_id: int | None = None,
    limit: int = 200,
) -> list[AuditLog]:
    """The newest audit rows first, optionally of one item, action or user."""
    q = select(AuditLog)
    if item_id is not None:
        q = q.where(AuditLog.item_id == item_id)
    if action is not None:
        q = q.where(AuditLog.action == action)
    if user_id is not None:
        q = q.where(AuditLog.user_id == user_id)
    with reading(engine) as s:
        return list(s.scalars(q.order_by(AuditLog.id.desc()).limit(limit)))
