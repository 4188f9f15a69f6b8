"""What every store function shares: the user's scope, the sessions, the acting user, the claim's
clock (an expired claim counts as open: :func:`claim_expired`, the one place that says so) and the
audit row written with every change."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, false, or_, select, true
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from pipelines.contracts.templates import is_invisible
from pipelines.db import utcnow, writer
from pipelines.review.db import ROLES, AuditLog, ReviewItem, User
from pipelines.review.errors import Forbidden, NotFound, UserError
from pipelines.settings import get_settings

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
def reading(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@contextmanager
def writing(engine: Engine) -> Iterator[Session]:
    """One write transaction, committed at the end (SQLite: the write lock is taken at BEGIN)."""
    with Session(writer(engine), expire_on_commit=False) as s, s.begin():
        yield s


def acting(s: Session, user: User) -> User:
    """The user as the database has it now: deactivation and scope changes apply at once."""
    me = s.get(User, user.id)
    if me is None or not me.active:
        raise Forbidden("Tài khoản không còn hoạt động. Hãy đăng nhập lại hoặc liên hệ quản trị viên.")
    if me.role not in ROLES:
        raise Forbidden("Bạn không có quyền duyệt phiếu.")
    return me


def check_scope(me: User, item: ReviewItem) -> None:
    if not user_scope(me).allows(item.district, item.school):
        raise Forbidden(f"Mục #{item.id} nằm ngoài phạm vi của bạn ({user_scope(me).describe_vi()}).")


def locked_item(s: Session, me: User, item_id: int) -> ReviewItem:
    """The item, row-locked until commit (PostgreSQL; SQLite's IMMEDIATE transaction already is)."""
    item = s.execute(
        select(ReviewItem).where(ReviewItem.id == item_id).with_for_update()
    ).scalar_one_or_none()
    if item is None:
        raise NotFound(f"Không có mục #{item_id}.")
    check_scope(me, item)
    return item


def claim_ttl(ttl_s: int | float | None) -> dt.timedelta:
    if ttl_s is None:
        ttl_s = get_settings().review_claim_ttl_s
    return dt.timedelta(seconds=ttl_s)


# --- the claim's clock: an expired claim counts as open --------------------------------------------
def claim_expired(now: dt.datetime) -> ColumnElement[bool]:
    """A claim whose time ran out (``claimed_until`` before ``now``): the item counts as open, for claiming,
    counting and reporting alike. The one SQL expression that says so."""
    return and_(ReviewItem.status == "claimed", ReviewItem.claimed_until < now)


def claimable(now: dt.datetime) -> ColumnElement[bool]:
    """Open, or claimed with the claim expired."""
    return or_(ReviewItem.status == "open", claim_expired(now))


def live_status(now: dt.datetime) -> ColumnElement[str]:
    """The status as reviewers see it: ``open`` for an expired claim, else the stored one."""
    return case((claim_expired(now), "open"), else_=ReviewItem.status)


def claim_live(item: ReviewItem, now: dt.datetime) -> bool:
    """:func:`claim_expired`'s negation for an item already loaded: claimed, and the claim still runs."""
    return item.status == "claimed" and item.claimed_until is not None and item.claimed_until >= now


def held_by_other(item: ReviewItem, me: User, now: dt.datetime) -> bool:
    return claim_live(item, now) and item.claimed_by != me.id


# --- audit ----------------------------------------------------------------------------------------
MAX_NOTE = 500
"""A person's note (the reason given for a reopen, …) keeps at most this many characters."""


def clean_note(text: str | None) -> str:
    """A note as the audit log keeps it: NFC, control and format characters (bidi overrides, zero-width,
    NUL) dropped, white space collapsed, at most MAX_NOTE characters."""
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



PAPER_ROLES = ("data_team", "admin")
"""Who resolves items from the paper book and reopens finished ones."""

