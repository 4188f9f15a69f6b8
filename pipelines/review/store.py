"""What reviewers do to flagged fields, as plain functions over the console's database.

Every function that takes a ``user`` re-reads that user inside its transaction and enforces the user's
scope (all, one district, one school): an item outside it is ``Forbidden``, whatever the caller checked.
Claims are atomic: two reviewers asking for the next item at the same moment never get the same one
(SQLite: one ``UPDATE … WHERE id = (SELECT … LIMIT 1) … RETURNING`` inside a ``BEGIN IMMEDIATE``;
PostgreSQL: the same with ``FOR UPDATE SKIP LOCKED`` in the subquery). A claim expires after
``review_claim_ttl_s``; an expired claim is claimable again.

Second review: an item with ``needs_second`` (identity fields, when ``review_second_identity`` is on)
needs two agreeing entries by two people. The first entry (audit ``accept``/``correct``, detail
``entry: 1``) stores first_value/first_by and reopens the item; a later entry by another person that
agrees resolves it (audit ``second_entry``), one that disagrees replaces first_value/first_by and
reopens it (audit ``second_disagree``). ``illegible`` sends any item to the paper book at once.

The reviewer's way through the queue: ``claim_next`` gives the reviewer's own open claim first (a page
left by a link or Back keeps nothing stuck), then the items they have not passed over, then the ones
they skipped (``skip``: audit ``skip``, the claim released), the oldest skip first. An item sent to the
paper book by mistake comes back with ``undo_paper`` (the same reviewer, until the batch is accepted);
the data team resolves the rest from the paper (``resolve_paper``, audit ``paper_resolve``) and may
reopen any finished item (``reopen``, audit ``reopen``).

Every change writes its ReviewDecision and AuditLog row (old and new value) in the same transaction.
Logs carry ids only: values, names and birth dates stay in the database.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import and_, case, exists, false, func, insert, or_, select, true, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from pipelines.contracts import table_contract
from pipelines.db import utcnow, writer
from pipelines.errors import InputError
from pipelines.review.db import (
    ROLES,
    STATUSES,
    AuditLog,
    ReviewDecision,
    ReviewItem,
    User,
)
from pipelines.review.errors import (
    ActionRefused,
    AlreadyResolved,
    Forbidden,
    InvalidValue,
    NotClaimed,
    NotFound,
    SecondEntryByOther,
    UserError,
)
from pipelines.review.labels import expected_vi, field_label, problem_message
from pipelines.validate.records import field_vocabulary

log = logging.getLogger(__name__)

QUEUE_ORDER = (ReviewItem.batch_id, ReviewItem.book_ref, ReviewItem.page_id, ReviewItem.id)


# --- scope ----------------------------------------------------------------------------------------
_SCOPE_WORDS = {"district": "quận/huyện", "school": "trường"}


@dataclass(frozen=True)
class Scope:
    """Which items a user may see and review: ``all``, ``district:CODE`` or ``school:CODE``."""

    kind: str
    code: str | None = None

    @classmethod
    def parse(cls, text: str) -> Scope:
        text = (text or "").strip()
        if text == "all":
            return cls("all", None)
        kind, sep, code = text.partition(":")
        kind, code = kind.strip(), code.strip()
        if not sep or kind not in _SCOPE_WORDS or not code or any(c.isspace() or c == ":" for c in code):
            raise UserError(f"Phạm vi không hợp lệ: {text!r}. Cần 'all', 'district:MÃ' hoặc 'school:MÃ' "
                            "(ví dụ district:HN-BD hoặc school:HN-BD-THCS01).")
        return cls(kind, code)

    def __str__(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}:{self.code}"

    def allows(self, district: str | None, school: str | None) -> bool:
        if self.kind == "all":
            return True
        if self.kind == "district":
            return district == self.code
        if self.kind == "school":
            return school == self.code
        return False

    def contains(self, other: Scope) -> bool:
        """Whether every item ``other`` allows is allowed here (school codes are globally unique, but a
        school's district is not known from its code alone, so only ``all`` contains other kinds)."""
        return self.kind == "all" or self == other

    def clause(self) -> ColumnElement[bool]:
        """The scope as a WHERE condition on review items."""
        if self.kind == "all":
            return true()
        if self.kind == "district":
            return ReviewItem.district == self.code
        if self.kind == "school":
            return ReviewItem.school == self.code
        return false()

    def describe_vi(self) -> str:
        return "toàn thành phố" if self.kind == "all" else f"{_SCOPE_WORDS[self.kind]} {self.code}"


def user_scope(user: User) -> Scope:
    return Scope(user.scope_kind, user.scope_code)


def require_role(user: User, *roles: str) -> None:
    """Forbidden unless ``user`` is active and has one of ``roles``."""
    if not user.active or user.role not in roles:
        raise Forbidden("Bạn không có quyền thực hiện thao tác này.")


# --- sessions -------------------------------------------------------------------------------------
@contextmanager
def _reading(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@contextmanager
def _writing(engine: Engine) -> Iterator[Session]:
    """One write transaction, committed at the end (SQLite: the write lock is taken at BEGIN)."""
    with Session(writer(engine), expire_on_commit=False) as s, s.begin():
        yield s


def _acting(s: Session, user: User) -> User:
    """The user as the database has it now: deactivation and scope changes apply at once."""
    me = s.get(User, user.id)
    if me is None or not me.active:
        raise Forbidden("Tài khoản không còn hoạt động. Hãy đăng nhập lại hoặc liên hệ quản trị viên.")
    if me.role not in ROLES:
        raise Forbidden("Bạn không có quyền duyệt phiếu.")
    return me


def _check_scope(me: User, item: ReviewItem) -> None:
    if not user_scope(me).allows(item.district, item.school):
        raise Forbidden(f"Mục #{item.id} nằm ngoài phạm vi của bạn ({user_scope(me).describe_vi()}).")


def _locked_item(s: Session, me: User, item_id: int) -> ReviewItem:
    """The item, row-locked until commit (PostgreSQL; SQLite's IMMEDIATE transaction already is)."""
    item = s.execute(
        select(ReviewItem).where(ReviewItem.id == item_id).with_for_update()
    ).scalar_one_or_none()
    if item is None:
        raise NotFound(f"Không có mục #{item_id}.")
    _check_scope(me, item)
    return item


def _ttl(ttl_s: int | float | None) -> dt.timedelta:
    if ttl_s is None:
        from pipelines.settings import get_settings

        ttl_s = get_settings().review_claim_ttl_s
    return dt.timedelta(seconds=ttl_s)


def _claimable(now: dt.datetime) -> ColumnElement[bool]:
    return or_(
        ReviewItem.status == "open",
        and_(ReviewItem.status == "claimed", ReviewItem.claimed_until < now),
    )


def _held_by_other(item: ReviewItem, me: User, now: dt.datetime) -> bool:
    return (item.status == "claimed" and item.claimed_by != me.id
            and item.claimed_until is not None and item.claimed_until >= now)


# --- audit ----------------------------------------------------------------------------------------
MAX_NOTE = 500
"""A person's note (the reason given for a reopen, …) keeps at most this many characters."""


def clean_note(text: str | None) -> str:
    """A note as the audit log keeps it: NFC, control and format characters (bidi overrides, zero-width,
    NUL) dropped, white space collapsed, at most MAX_NOTE characters."""
    import unicodedata

    from pipelines.contracts.templates import is_invisible

    if not text:
        return ""
    text = unicodedata.normalize("NFC", str(text)[:4 * MAX_NOTE])
    return " ".join("".join(" " if is_invisible(c) else c for c in text).split())[:MAX_NOTE]


def record_audit(
    session: Session,
    *,
    action: str,
    user_id: int | None = None,
    item_id: int | None = None,
    old_value: str | None = None,
    new_value: str | None = None,
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    """Add one audit row to ``session``'s transaction (it commits or rolls back with the change)."""
    row = AuditLog(at=utcnow(), action=action, user_id=user_id, item_id=item_id, old_value=old_value,
                   new_value=new_value, reason=clean_note(reason), detail=detail or {})
    session.add(row)
    return row


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
    with _reading(engine) as s:
        return list(s.scalars(q.order_by(AuditLog.id.desc()).limit(limit)))


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
    with _writing(engine) as s:
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
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        ins = pg_insert(table).on_conflict_do_nothing(index_elements=["batch_id", "page_id", "field_id"])
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

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
    ttl = _ttl(ttl_s)
    with _writing(engine) as s:
        me = _acting(s, user)
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
            _claimable(now),
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
        .where(ReviewItem.id == pick.scalar_subquery(), _claimable(now))
        .values(status="claimed", claimed_by=me.id, claimed_until=now + ttl)
        .returning(ReviewItem.id)
        .execution_options(synchronize_session=False)
    )
    return s.execute(stmt).scalar_one_or_none()


def claim(engine: Engine, user: User, item_id: int, ttl_s: int | float | None = None) -> ReviewItem:
    """Claim one given item (field in context, group mode); renews the user's own claim."""
    ttl = _ttl(ttl_s)
    with _writing(engine) as s:
        me = _acting(s, user)
        now = utcnow()
        item = _locked_item(s, me, item_id)
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
    if _held_by_other(item, me, now):
        raise NotClaimed(f"Mục #{item.id} đang được người khác duyệt.")


def release(engine: Engine, user: User, item_id: int) -> ReviewItem:
    """Give a claim back (the item is open again). Admins and data teams may release anyone's claim."""
    with _writing(engine) as s:
        me = _acting(s, user)
        item = _locked_item(s, me, item_id)
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
    with _writing(engine) as s:
        me = _acting(s, user)
        now = utcnow()
        item = _locked_item(s, me, item_id)
        if item.status in ("done", "needs_paper"):
            raise AlreadyResolved(f"Mục #{item.id} đã được xử lý xong.")
        if _held_by_other(item, me, now):
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
    from pipelines.contracts import field_types

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
    from pipelines.validate.normalize import normalize_field

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
    with _writing(engine) as s:
        me = _acting(s, user)
        now = utcnow()
        item = _locked_item(s, me, item_id)
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
PAPER_ROLES = ("data_team", "admin")
"""Who resolves items from the paper book and reopens finished ones."""


def undo_paper(engine: Engine, user: User, item_id: int, *, batch_accepted_at: dt.datetime | None = None,
               ttl_s: int | float | None = None) -> ReviewItem:
    """Take back one's own "needs the paper book": the item is claimed by the user again, to be decided.

    Only the reviewer who sent it, while it still waits for the paper book, and only until the batch is
    accepted: ``batch_accepted_at`` is when the batch's accepted_records were last written (None: never);
    written after the item went to the paper book means the batch was accepted without it. Audit
    ``paper_undo``."""
    ttl = _ttl(ttl_s)
    with _writing(engine) as s:
        me = _acting(s, user)
        now = utcnow()
        item = _locked_item(s, me, item_id)
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
    with _writing(engine) as s:
        me = _acting(s, user)
        require_role(me, *PAPER_ROLES)
        now = utcnow()
        item = _locked_item(s, me, item_id)
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
    ttl = _ttl(ttl_s)
    with _writing(engine) as s:
        me = _acting(s, user)
        require_role(me, *PAPER_ROLES)
        now = utcnow()
        item = _locked_item(s, me, item_id)
        if item.status not in ("done", "needs_paper"):
            raise ActionRefused("Trường này chưa duyệt xong: không cần mở lại.")
        record_audit(s, action="reopen", user_id=me.id, item_id=item.id, old_value=item.final_value,
                     reason=reason, detail={"status": item.status, "resolved_by": item.resolved_by})
        item.status, item.claimed_by, item.claimed_until = "claimed", me.id, now + ttl
        item.first_value, item.first_by, item.resolved_by, item.resolved_at = None, None, None, None
    log.info("reopened item=%d user=%d", item_id, me.id)
    return item


# --- reading --------------------------------------------------------------------------------------
def get_item(engine: Engine, user: User, item_id: int) -> ReviewItem:
    with _reading(engine) as s:
        me = _acting(s, user)
        item = s.get(ReviewItem, item_id)
        if item is None:
            raise NotFound(f"Không có mục #{item_id}.")
        _check_scope(me, item)
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
    with _reading(engine) as s:
        me = _acting(s, user)
        q = select(ReviewItem).where(user_scope(me).clause())
        if held_by_me:
            q = q.where(ReviewItem.status == "claimed", ReviewItem.claimed_by == me.id,
                        ReviewItem.claimed_until >= utcnow())
        if batch_id is not None:
            q = q.where(ReviewItem.batch_id == batch_id)
        if field_type is not None:
            q = q.where(ReviewItem.field_type == field_type)
        if book_ref is not None:
            q = q.where(ReviewItem.book_ref == book_ref)
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
    now = utcnow()
    expired = func.sum(case((ReviewItem.claimed_until < now, 1), else_=0))
    q = (select(*keys, ReviewItem.status, func.count(), expired)
         .where(where).group_by(*keys, ReviewItem.status))
    for *key, status, n, n_expired in s.execute(q):
        n_expired = int(n_expired or 0) if status == "claimed" else 0
        yield tuple(key), status, int(n) - n_expired
        if n_expired:
            yield tuple(key), "open", n_expired


def queue_summary(engine: Engine, user: User) -> list[dict[str, Any]]:
    """Per batch, book and field type in the user's scope: counts by status (expired claims are open).

    Each row: batch_id, district, school, book_ref, field_type, open, claimed, done, needs_paper, total.
    """
    keys = (ReviewItem.batch_id, ReviewItem.district, ReviewItem.school, ReviewItem.book_ref,
            ReviewItem.field_type)
    with _reading(engine) as s:
        me = _acting(s, user)
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
    with _reading(engine) as s:
        me = _acting(s, user)
        q = select(func.count()).select_from(ReviewItem).where(
            ReviewItem.status.in_(("open", "claimed")), user_scope(me).clause())
        if batch_id is not None:
            q = q.where(ReviewItem.batch_id == batch_id)
        if field_type is not None:
            q = q.where(ReviewItem.field_type == field_type)
        if book_ref is not None:
            q = q.where(ReviewItem.book_ref == book_ref)
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
    with _reading(engine) as s:
        for (b,), status, n in _status_counts(s, (ReviewItem.batch_id,), where):
            out.setdefault(b, _zero_counts())[status] += n
    return dict(sorted(out.items()))


def last_resolved(engine: Engine) -> dict[str, dt.datetime | None]:
    """Per batch with items: when its last item was resolved (None: none yet). One query, for the
    review loop's sensor, which asks this of every batch every minute."""
    q = select(ReviewItem.batch_id, func.max(ReviewItem.resolved_at)).group_by(ReviewItem.batch_id)
    with _reading(engine) as s:
        return {b: t for b, t in s.execute(q)}


CORRECTIONS_COLUMNS = ("batch_id", "book_ref", "page_id", "field_id", "status", "value", "reviewed_by",
                       "reviewed_at")


def corrections(engine: Engine, batch_id: str) -> pd.DataFrame:
    """Every item of a batch with its outcome: value is the final value (None until resolved, and for
    needs_paper), reviewed_by the resolving user's username, reviewed_at when (UTC)."""
    reviewer = aliased(User)
    now = utcnow()
    status = case((and_(ReviewItem.status == "claimed", ReviewItem.claimed_until < now), "open"),
                  else_=ReviewItem.status)
    q = (select(ReviewItem.batch_id, ReviewItem.book_ref, ReviewItem.page_id, ReviewItem.field_id,
                status.label("status"), ReviewItem.final_value.label("value"),
                reviewer.username.label("reviewed_by"), ReviewItem.resolved_at.label("reviewed_at"))
         .outerjoin(reviewer, reviewer.id == ReviewItem.resolved_by)
         .where(ReviewItem.batch_id == batch_id)
         .order_by(*QUEUE_ORDER))
    with _reading(engine) as s:
        rows = [tuple(r) for r in s.execute(q)]
    df = pd.DataFrame(rows, columns=list(CORRECTIONS_COLUMNS), dtype=object)  # None stays None
    df["reviewed_at"] = pd.to_datetime(df["reviewed_at"], utc=True).astype("datetime64[us, UTC]")
    return df


def usernames(engine: Engine, user_ids: Collection[int | None]) -> dict[int, str]:
    """user id → username, for showing who claimed or resolved an item."""
    ids = sorted({i for i in user_ids if i is not None})
    if not ids:
        return {}
    with _reading(engine) as s:
        return {uid: name for uid, name in s.execute(select(User.id, User.username).where(User.id.in_(ids)))}
