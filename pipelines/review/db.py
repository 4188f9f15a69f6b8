"""The review console's tables: users, review items, reviewers' decisions, the audit log, sessions.

Declared on the hocba database's shared base (``pipelines.db``: engines, the UTC timestamp type and the
one Alembic history live there). Tables carry a ``review_`` prefix.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from pipelines.db import Base, UTCDateTime, one_of, utcnow

ROLES = ("admin", "data_team", "reviewer")
SCOPE_KINDS = ("all", "district", "school")
STATUSES = ("open", "claimed", "done", "needs_paper")
ACTIONS = ("accept", "correct", "illegible")


class User(Base):
    """A console account. Passwords are argon2 hashes; accounts are deactivated, never deleted."""

    __tablename__ = "review_user"
    __table_args__ = (
        CheckConstraint(one_of("role", ROLES), name="role"),
        CheckConstraint(one_of("scope_kind", SCOPE_KINDS), name="scope_kind"),
        CheckConstraint("(scope_kind = 'all') = (scope_code IS NULL)", name="scope_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope_code: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:  # ids only: usernames may be personal names
        return f"<User #{self.id} {self.role} {self.scope_kind}:{self.scope_code}>"


class ReviewItem(Base):
    """One flagged field of one page, from the validate stage's review_queue, and its review state."""

    __tablename__ = "review_item"
    __table_args__ = (
        UniqueConstraint("batch_id", "page_id", "field_id", name="uq_review_item_key"),
        CheckConstraint(one_of("status", STATUSES), name="status"),
        # The queue order of claim_next, restricted to claimable rows.
        Index("ix_review_item_queue", "status", "batch_id", "book_ref", "page_id", "id"),
        Index("ix_review_item_scope", "district", "school"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(255))
    district: Mapped[str] = mapped_column(String(64))
    school: Mapped[str] = mapped_column(String(64))
    book_ref: Mapped[str] = mapped_column(String(255))
    page_id: Mapped[str] = mapped_column(String(255))
    template_id: Mapped[str] = mapped_column(String(64))
    field_id: Mapped[str] = mapped_column(String(128))
    field_type: Mapped[str] = mapped_column(String(32))
    vocabulary: Mapped[str | None] = mapped_column(String(64))
    raw_text: Mapped[str] = mapped_column(Text)
    proposed_value: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    candidates: Mapped[list[str]] = mapped_column(JSON)
    crop_uri: Mapped[str | None] = mapped_column(String(1024))
    page_image_uri: Mapped[str | None] = mapped_column(String(1024))
    box_px: Mapped[list[float]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="open")
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("review_user.id"))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    needs_second: Mapped[bool] = mapped_column(Boolean, default=False)
    first_value: Mapped[str | None] = mapped_column(Text)
    first_by: Mapped[int | None] = mapped_column(ForeignKey("review_user.id"))
    final_value: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("review_user.id"))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:  # ids only: values are personal data
        return f"<ReviewItem #{self.id} {self.page_id}/{self.field_id} {self.status}>"


class ReviewDecision(Base):
    """What one reviewer entered for one item (append-only: a database trigger refuses changes)."""

    __tablename__ = "review_decision"
    __table_args__ = (CheckConstraint(one_of("action", ACTIONS), name="action"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_item.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("review_user.id"))
    action: Mapped[str] = mapped_column(String(16))
    value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditLog(Base):
    """Who did what when, with the old and new value (append-only: a database trigger refuses changes)."""

    __tablename__ = "review_audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("review_user.id"))
    action: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("review_item.id"), index=True)
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    def __repr__(self) -> str:
        return f"<AuditLog #{self.id} {self.action} user={self.user_id} item={self.item_id}>"


class LoginSession(Base):
    """One logged-in browser (migration 0003). The cookie carries a random token; only its SHA-256 is
    stored, so a copy of this table logs nobody in. Logout, a password change and deactivation delete
    the rows; expiry (absolute and idle, see ``pipelines.settings``) is checked on every request."""

    __tablename__ = "review_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("review_user.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    def __repr__(self) -> str:  # never the hash
        return f"<LoginSession #{self.id} user={self.user_id}>"


APPEND_ONLY_TABLES = ("review_decision", "review_audit_log")
