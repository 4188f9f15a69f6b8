"""The reviewer's actions, each one write transaction with its audit row: load, claim, release, skip,
submit (with the entry checks), take back "needs the paper book", resolve from the paper, reopen.

Each takes the acting user and re-reads them inside the transaction (``core.acting``); an item outside
their scope is ``Forbidden`` (``core.locked_item``). See the package's docstring for the rules."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection
from typing import Any

import pandas as pd
from sqlalchemy import exists, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from pipelines.contracts import field_types, table_contract
from pipelines.db import utcnow
from pipelines.errors import InputError
from pipelines.review.db import AuditLog, ReviewDecision, ReviewItem, User
from pipelines.review.errors import (
    ActionRefused,
    AlreadyResolved,
    InvalidValue,
    NotClaimed,
    SecondEntryByOther,
)
from pipelines.review.labels import expected_vi, field_label, problem_message
from pipelines.review.store.core import (
    PAPER_ROLES,
    QUEUE_ORDER,
    acting,
    claim_ttl,
    claimable,
    held_by_other,
    locked_item,
    record_audit,
    require_role,
    user_scope,
    writing,
)
from pipelines.validate.normalize import normalize_field
from pipelines.validate.records import field_vocabulary

log = logging.getLogger("pipelines.review.store")


# --- loading --------------------------------------------------------------------------------------
def _text(x: Any) -> str | None:
    if x is None or (isinstance(x, float) and pd.isna(x)) or x is pd.NA:
        return None
    return str(x)


def _strings(x: Any) -> list[str]:
    if x is None or (isinstance(x, float) and pd.isna(x)):
        return []
    return [str(v) for v in list(x)]


def _floats(x: Any) -> list[float]:
    if x is None or (isinstance(x, float) and pd.isna(x)):
        return []
    return [float(v) for v in list(x)]


def load_items(
    engine: Engine,
    review_queue: pd.DataFrame,
    *,
    district: str,
    school: str,
    second_review_fields: frozenset[str] = frozenset(),
) -> int:
    """Insert the rows of one review_queue partition; rows already loaded stay untouched.

    Returns how many rows were new. ``second_review_fields``: field ids that need two independent
    entries.
    """
    missing = [c for c in table_contract("review_queue").column_names if c not in review_queue.columns]
    if missing:
        raise InputError(f"review_queue lacks columns {missing} (data_contracts/tables/review_queue.yaml)")
    if review_queue.empty:
        return 0
    rows = []
    for r in review_queue.drop_duplicates(["batch_id", "page_id", "field_id"]).itertuples(index=False):
        rows.append({
            "batch_id": str(r.batch_id), "district": district, "school": school, "book_ref": str(r.book_ref),
            "page_id": str(r.page_id), "template_id": str(r.template_id), "field_id": str(r.field_id),
            "field_type": str(r.field_type),
            "vocabulary": field_vocabulary(str(r.template_id), str(r.field_id)),
            "raw_text": _text(r.raw_text) or "", "proposed_value": _text(r.proposed_value),
            "confidence": float(r.confidence), "reasons": _strings(r.reasons),
            "candidates": _strings(r.candidates), "crop_uri": _text(r.crop_uri),
            "page_image_uri": _text(r.page_image_uri), "box_px": _floats(r.box_px),
            "status": "open", "needs_second": str(r.field_id) in second_review_fields,
            "created_at": utcnow(),
        })
    batches = sorted({r["batch_id"] for r in rows})
    with writing(engine) as s:
        existing = {tuple(r) for r in s.execute(
            select(ReviewItem.batch_id, ReviewItem.page_id, ReviewItem.field_id)
            .where(ReviewItem.batch_id.in_(batches))
        )}
        new = [r for r in rows if (r["batch_id"], r["page_id"], r["field_id"]) not in existing]
        inserted = 0
        if new:
            ins = _insert_ignoring_duplicates(s, new)
            inserted = len(s.execute(ins, new).all())
        record_audit(s, action="load_items", detail={
            "batch_ids": batches, "district": district, "school": school, "rows": len(rows), "new": inserted,
        })
    log.info("review items loaded: batches=%s rows=%d new=%d", batches, len(rows), inserted)
    return inserted


def _insert_ignoring_duplicates(s: Session, rows: list[dict]):
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: a concurrent load of the same rows is no error."""
    table = ReviewItem.__table__
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        ins = pg_insert(table).on_conflict_do_nothing(index_elements=["batch_id", "page_id", "field_id"])
    elif dialect == "sqlite":
        ins = sqlite_insert(table).on_conflict_do_nothing(index_elements=["batch_id", "page_id", "field_id"])
    else:
        ins = insert(table)
    return ins.returning(table.c.id)


# --- claims ---------------------------------------------------------------------------------------
def claim_next(
    engine: Engine,
    user: User,
    *,
    batch_id: str | None = None,
    field_type: str | None = None,
    book_ref: str | None = None,
    ttl_s: int | float | None = None,
    skip: Collection[int] = (),
    resume: bool = False,
) -> ReviewItem | None:
    """Claim the next item for the user in their scope; None when none is left.

    In this order: with ``resume``, the user's own open claim (renewed: a field left by a link, Back or
    a closed tab is the first one given back; what the console's "next" does); then open (or expired)
    items in queue order that the user has not skipped; then the ones they skipped, the oldest skip
    first (``skip``). ``skip``: item ids not to give at all (the ones the caller just passed over).
    """
    ttl = claim_ttl(ttl_s)
    with writing(engine) as s:
        me = acting(s, user)
        now = utcnow()
        where: list[ColumnElement[bool]] = [user_scope(me).clause()]
        if batch_id is not None:
            where.append(ReviewItem.batch_id == batch_id)
        if field_type is not None:
            where.append(ReviewItem.field_type == field_type)
        if book_ref is not None:
            where.append(ReviewItem.book_ref == book_ref)
        if skip:
            where.append(ReviewItem.id.not_in(list(skip)))
        own = None if not resume else s.execute(
            select(ReviewItem)
            .where(ReviewItem.status == "claimed", ReviewItem.claimed_by == me.id, *where)
            .order_by(*QUEUE_ORDER).limit(1).with_for_update()
        ).scalar_one_or_none()
        if own is not None:
            own.claimed_until = now + ttl
            record_audit(s, action="claim", user_id=me.id, item_id=own.id,
                         detail={"ttl_s": ttl.total_seconds(), "renew": True})
            log.debug("claimed item=%d user=%d (own claim)", own.id, me.id)
            return own
        skipped = (AuditLog.item_id == ReviewItem.id, AuditLog.user_id == me.id, AuditLog.action == "skip")
        item_id = _claim_first(s, me, now, ttl, [*where, ~exists().where(*skipped)], QUEUE_ORDER)
        if item_id is None:  # only skipped ones left (few: the user skipped each one): oldest skip first
            last_skip = select(func.max(AuditLog.id)).where(*skipped).scalar_subquery()
            item_id = _claim_first(s, me, now, ttl, where, (last_skip, *QUEUE_ORDER))
        if item_id is None:
            return None
        record_audit(s, action="claim", user_id=me.id, item_id=item_id, detail={"ttl_s": ttl.total_seconds()})
        item = s.execute(select(ReviewItem).where(ReviewItem.id == item_id)
                         .execution_options(populate_existing=True)).scalar_one()
    log.debug("claimed item=%d user=%d", item_id, me.id)
    return item


def _claim_first(s: Session, me: User, now: dt.datetime, ttl: dt.timedelta,
                 where: list[ColumnElement[bool]], order: tuple) -> int | None:
    """Atomically claim the first claimable item matching ``where`` in ``order``: its id, or None."""
    pick = (
        select(ReviewItem.id)
        .where(
            claimable(now),
            # The first of two independent entries never comes back to the one who gave it.
            or_(ReviewItem.first_by.is_(None), ReviewItem.first_by != me.id),
            *where,
        )
        .order_by(*order)
        .limit(1)
    )
    if s.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True, of=ReviewItem)
    stmt = (
        update(ReviewItem)
        .where(ReviewItem.id == pick.scalar_subquery(), claimable(now))
        .values(status="claimed", claimed_by=me.id, claimed_until=now + ttl)
        .returning(ReviewItem.id)
        .execution_options(synchronize_session=False)
    )
    return s.execute(stmt).scalar_one_or_none()


def claim(engine: Engine, user: User, item_id: int, ttl_s: int | float | None = None) -> ReviewItem:
    """Claim one given item (field in context, group mode); renews the user's own claim."""
    ttl = claim_ttl(ttl_s)
    with writing(engine) as s:
        me = acting(s, user)
        now = utcnow()
        item = locked_item(s, me, item_id)
        _check_claimable_by(item, me, now)
        renew = item.status == "claimed" and item.claimed_by == me.id
        item.status, item.claimed_by, item.claimed_until = "claimed", me.id, now + ttl
        record_audit(s, action="claim", user_id=me.id, item_id=item.id,
                     detail={"ttl_s": ttl.total_seconds(), "renew": renew})
    log.debug("claimed item=%d user=%d", item_id, me.id)
    return item


def _check_claimable_by(item: ReviewItem, me: User, now: dt.datetime) -> None:
    if item.status in ("done", "needs_paper"):
        raise AlreadyResolved(f"Mục #{item.id} đã được xử lý xong.")
    if item.needs_second and item.first_by == me.id:
        raise SecondEntryByOther(f"Bạn đã nhập lần thứ nhất cho mục #{item.id}; lần nhập thứ hai phải do "
                                 "người khác.")
    if held_by_other(item, me, now):
        raise NotClaimed(f"Mục #{item.id} đang được người khác duyệt.")


def release(engine: Engine, user: User, item_id: int) -> ReviewItem:
    """Give a claim back (the item is open again). Admins and data teams may release anyone's claim."""
    with writing(engine) as s:
        me = acting(s, user)
        item = locked_item(s, me, item_id)
        if item.status == "open":
            return item
        if item.status != "claimed":
            raise AlreadyResolved(f"Mục #{item.id} đã được xử lý xong.")
        if item.claimed_by != me.id and me.role == "reviewer":
            raise NotClaimed(f"Mục #{item.id} không do bạn nhận.")
        record_audit(s, action="release", user_id=me.id, item_id=item.id,
                     detail={"claimed_by": item.claimed_by})
        item.status, item.claimed_by, item.claimed_until = "open", None, None
    return item


def skip(engine: Engine, user: User, item_id: int) -> ReviewItem:
    """Pass over an item the user cannot decide now: their claim is released (the item is open for
    others) and it goes to the back of their own queue (``claim_next``). Audit ``skip``."""
    with writing(engine) as s:
        me = acting(s, user)
        now = utcnow()
        item = locked_item(s, me, item_id)
        if item.status in ("done", "needs_paper"):
            raise AlreadyResolved(f"Mục #{item.id} đã được xử lý xong.")
        if held_by_other(item, me, now):
            raise NotClaimed(f"Mục #{item.id} đang được người khác duyệt.")
        record_audit(s, action="skip", user_id=me.id, item_id=item.id,
                     detail={"claimed_by": item.claimed_by})
        item.status, item.claimed_by, item.claimed_until = "open", None, None
    log.debug("skipped item=%d user=%d", item_id, me.id)
    return item


# --- decisions ------------------------------------------------------------------------------------
_CLASSES_VI = {"letters": "chữ cái", "marks": "dấu", "digits": "chữ số 0-9", "spaces": "khoảng trắng"}
_REFUSAL_VI = {
    "too_long": "Giá trị quá dài",
    "invisible_character": "Giá trị có ký tự ẩn hoặc ký tự điều khiển (ví dụ ký tự đổi chiều chữ)",
    "non_ascii_digit": "Giá trị có chữ số không phải 0-9 thông thường",
    "character_not_allowed": "Giá trị không đúng dạng: có ký tự không được phép",
}


def allowed_vi(policy: Any) -> str:
    """What an entry policy (``pipelines.contracts.templates.EntryPolicy``) lets a person type, in
    Vietnamese: "chữ số 0-9, khoảng trắng và các dấu , . (tối đa 8 ký tự)"."""
    parts = [_CLASSES_VI[c] for c in policy.allow]
    if policy.punctuation:
        parts.append("các dấu " + " ".join(policy.punctuation))
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " và " + parts[-1]
    return f"{text} (tối đa {policy.max_length} ký tự)"


def check_entry(item: ReviewItem, value: str, *, classes: bool = True) -> None:
    """Refuse (InvalidValue) a value the field type's entry policy (data_contracts, field_types.yaml:
    length, characters) does not allow, naming the field and what it allows; the value is never repeated.
    Non-ASCII digits (Arabic-Indic ٨, full-width ８, …) are refused for every type, not folded.
    ``classes`` False: only the length and the characters never allowed (control, bidi, …)."""
    ft = field_types().get(item.field_type)
    if ft is None:  # a type the contracts no longer know: the normalizer refuses it
        return
    why = ft.entry.refusal(value, classes=classes)
    if why is not None:
        label = field_label(item.template_id, item.field_id)
        raise InvalidValue(item.field_id, f"{_REFUSAL_VI[why]}. Trường «{label}» chỉ nhận "
                           f"{allowed_vi(ft.entry)}.", why)


def normalize_entry(item: ReviewItem, value: str | None) -> str:
    """The canonical form of a value a reviewer typed for ``item``; InvalidValue if it has no canonical
    form, has one only by the normalizer's repair of a misreading, or the field type's entry policy
    refuses it (``check_entry``)."""
    if isinstance(value, str):  # too long, invisible or foreign digits: refused before any parsing
        check_entry(item, value, classes=False)
    try:
        n = normalize_field(item.field_type, value.strip() if isinstance(value, str) else value,
                            item.vocabulary)
    except ValueError:  # a field type or vocabulary the contracts no longer know
        n = None
    if n is None or n.value is None:
        code = n.error if n is not None and n.error else "format_invalid"
        problem = problem_message(code)
        raise InvalidValue(item.field_id, f"{problem}: cần {expected_vi(item.field_type, item.vocabulary)}.",
                           code)
    if n.repaired:
        # The normalizer's repairs (85 → 8,5, O → 0, a near vocabulary word) are guesses about a misread;
        # a person types what the paper says, so a value that only parses as a guess is refused.
        expected = expected_vi(item.field_type, item.vocabulary)
        raise InvalidValue(item.field_id, f"Giá trị không đúng dạng: cần {expected}.", "repaired",
                           suggestion=n.value)
    # The normalizer's format errors say more than a character list; what it accepts must also keep to
    # the type's characters (a name in Cyrillic, markup in a free text).
    if isinstance(value, str):
        check_entry(item, value)
    return n.value


def submit(
    engine: Engine,
    user: User,
    item_id: int,
    *,
    action: str,
    value: str | None = None,
    reason: str = "",
) -> ReviewItem:
    """Record a reviewer's decision on an item (claimed by them, or open: claimed and decided at once).

    ``accept`` keeps the proposed value, ``correct`` stores ``value`` normalized (blank: the box is blank
    on the paper, stored as None), ``illegible`` sends the item to the paper book. Raises InvalidValue
    (and saves nothing) when the value does not parse.
    """
    with writing(engine) as s:
        me = acting(s, user)
        now = utcnow()
        item = locked_item(s, me, item_id)
        _check_claimable_by(item, me, now)
        if action == "accept":
            if item.proposed_value is None:
                raise InvalidValue(item.field_id, "Không có giá trị đề xuất để chấp nhận: hãy nhập giá trị "
                                   f"đúng ({expected_vi(item.field_type, item.vocabulary)}).", "no_proposal")
            entry: str | None = item.proposed_value
        elif action == "correct":
            if value is None:
                raise InvalidValue(item.field_id, "Chưa nhập giá trị: nhập giá trị đúng, hoặc để trống nếu ô "
                                   "trên sổ trống.", "empty")
            # Blank means the box is blank on the paper: valid for every type, stored as None.
            entry = normalize_entry(item, value) if value.strip() else None
        elif action == "illegible":
            entry = None
        else:
            raise InvalidValue(item.field_id, "Thao tác không hợp lệ: chọn chấp nhận, sửa, hoặc không đọc "
                               "được.", "action_invalid")

        before = item.first_value if item.first_value is not None else item.proposed_value
        s.add(ReviewDecision(item_id=item.id, user_id=me.id, action=action, value=entry, reason=reason or "",
                             created_at=now))
        audit_action, detail = action, {}
        item.claimed_by, item.claimed_until = None, None
        if action == "illegible":
            item.status, item.final_value = "needs_paper", None
            item.resolved_by, item.resolved_at = me.id, now
        elif not item.needs_second:
            item.status, item.final_value = "done", entry
            item.resolved_by, item.resolved_at = me.id, now
        elif item.first_by is None:
            item.status, item.first_value, item.first_by = "open", entry, me.id
            detail = {"entry": 1}
        elif entry == item.first_value:
            audit_action, detail = "second_entry", {"entry": 2, "agrees": True, "decision": action,
                                                    "first_by": item.first_by}
            item.status, item.final_value = "done", entry
            item.resolved_by, item.resolved_at = me.id, now
        else:
            audit_action, detail = "second_disagree", {"entry": 2, "agrees": False, "decision": action,
                                                       "first_by": item.first_by}
            item.status, item.first_value, item.first_by = "open", entry, me.id
        record_audit(s, action=audit_action, user_id=me.id, item_id=item.id, old_value=before,
                     new_value=entry, reason=reason, detail=detail)
    log.info("review decision item=%d user=%d action=%s status=%s", item.id, me.id, audit_action, item.status)
    return item


# --- the paper book and reopening -----------------------------------------------------------------
def undo_paper(engine: Engine, user: User, item_id: int, *, batch_accepted_at: dt.datetime | None = None,
               ttl_s: int | float | None = None) -> ReviewItem:
    """Take back one's own "needs the paper book": the item is claimed by the user again, to be decided.

    Only the reviewer who sent it, while it still waits for the paper book, and only until the batch is
    accepted: ``batch_accepted_at`` is when the batch's accepted_records were last written (None: never);
    written after the item went to the paper book means the batch was accepted without it. Audit
    ``paper_undo``."""
    ttl = claim_ttl(ttl_s)
    with writing(engine) as s:
        me = acting(s, user)
        now = utcnow()
        item = locked_item(s, me, item_id)
        if item.status != "needs_paper":
            raise ActionRefused("Trường này không còn ở danh sách cần xem sổ giấy: không có gì để hoàn tác.")
        if item.resolved_by != me.id:
            raise ActionRefused("Chỉ người đã chuyển trường này sang sổ giấy mới hoàn tác được.")
        if batch_accepted_at is not None and item.resolved_at is not None \
                and batch_accepted_at >= item.resolved_at:
            raise ActionRefused("Lô này đã được chấp nhận sau khi trường được chuyển sang sổ giấy: không "
                                "hoàn tác được nữa. Nhóm dữ liệu sẽ xử lý trường này trong danh sách «Cần "
                                "xem sổ giấy».")
        record_audit(s, action="paper_undo", user_id=me.id, item_id=item.id,
                     detail={"marked_at": item.resolved_at.isoformat() if item.resolved_at else None})
        item.status, item.claimed_by, item.claimed_until = "claimed", me.id, now + ttl
        item.final_value, item.resolved_by, item.resolved_at = None, None, None
    log.info("paper undone item=%d user=%d", item_id, me.id)
    return item


def resolve_paper(engine: Engine, user: User, item_id: int, *, value: str | None) -> ReviewItem:
    """The data team's answer from the paper book for an item waiting for it: ``value`` as read on the
    paper (normalized like any entry), blank or None when the paper has nothing there ("không có trên
    sổ"). One entry resolves it, identity fields included: the paper is the source. Audit
    ``paper_resolve`` (detail ``not_on_paper``), with a ``correct`` decision."""
    with writing(engine) as s:
        me = acting(s, user)
        require_role(me, *PAPER_ROLES)
        now = utcnow()
        item = locked_item(s, me, item_id)
        if item.status != "needs_paper":
            raise AlreadyResolved(f"Mục #{item.id} không còn chờ xem sổ giấy.")
        entry = normalize_entry(item, value) if value is not None and value.strip() else None
        reason = "đã xem sổ giấy" if entry is not None else "không có trên sổ giấy"
        s.add(ReviewDecision(item_id=item.id, user_id=me.id, action="correct", value=entry, reason=reason,
                             created_at=now))
        record_audit(s, action="paper_resolve", user_id=me.id, item_id=item.id, old_value=item.proposed_value,
                     new_value=entry, reason=reason, detail={"not_on_paper": entry is None})
        item.status, item.final_value, item.resolved_by, item.resolved_at = "done", entry, me.id, now
        item.claimed_by, item.claimed_until = None, None
    log.info("paper resolved item=%d user=%d", item_id, me.id)
    return item


def reopen(engine: Engine, user: User, item_id: int, *, reason: str = "",
           ttl_s: int | float | None = None) -> ReviewItem:
    """Reopen a finished item (done, or waiting for the paper book) for a new decision: it is claimed by
    the user (data team, admin) at once; its current value stays as final_value until the new decision,
    and an identity field needs its two entries again. The batch then has open work again, so the review
    loop rebuilds its accepted_records once the item is decided. Audit ``reopen`` (old value, reason)."""
    ttl = claim_ttl(ttl_s)
    with writing(engine) as s:
        me = acting(s, user)
        require_role(me, *PAPER_ROLES)
        now = utcnow()
        item = locked_item(s, me, item_id)
        if item.status not in ("done", "needs_paper"):
            raise ActionRefused("Trường này chưa duyệt xong: không cần mở lại.")
        record_audit(s, action="reopen", user_id=me.id, item_id=item.id, old_value=item.final_value,
                     reason=reason, detail={"status": item.status, "resolved_by": item.resolved_by})
        item.status, item.claimed_by, item.claimed_until = "claimed", me.id, now + ttl
        item.first_value, item.first_by, item.resolved_by, item.resolved_at = None, None, None, None
    log.info("reopened item=%d user=%d", item_id, me.id)
    return item
