"""The review console's database: tables, engines and migrations.

One code path for the embedded SQLite default (a file under HOCBA_HOME) and PostgreSQL (a district
server several console processes share). SQLite gets WAL (readers never wait for the writer), a long
``busy_timeout`` (writers queue instead of failing) and foreign keys; write transactions on SQLite begin
with ``BEGIN IMMEDIATE`` because a deferred transaction that reads first and writes later fails with
"database is locked" whatever the timeout (measured, see docs: "Console, database and browser tests").

Tables carry a ``review_`` prefix and Alembic its own version table, so the console can share a
PostgreSQL database with Dagster's storage without a clash.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    make_url,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "review_alembic_version"
WRITE = "hocba_write"
"""Execution option: this connection's transactions write (SQLite: ``BEGIN IMMEDIATE``)."""

ROLES = ("admin", "data_team", "reviewer")
SCOPE_KINDS = ("all", "district", "school")
STATUSES = ("open", "claimed", "done", "needs_paper")
ACTIONS = ("accept", "correct", "illegible")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator):
    """Timestamps stored as naive UTC (SQLite has no time zones), returned aware in UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC timestamp column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })


class User(Base):
    """A console account. Passwords are argon2 hashes; accounts are deactivated, never deleted."""

    __tablename__ = "review_user"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role"),
        CheckConstraint(_in("scope_kind", SCOPE_KINDS), name="scope_kind"),
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
        CheckConstraint(_in("status", STATUSES), name="status"),
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
    __table_args__ = (CheckConstraint(_in("action", ACTIONS), name="action"),)

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


# --- engines --------------------------------------------------------------------------------------
def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite tuned for several processes writing one file. Statement parameters
    (field values, names) are left out of database errors, which end up in logs."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")  # the driver installed (psycopg 3), not psycopg2
    if u.get_backend_name() != "sqlite":
        return create_engine(u, pool_pre_ping=True, hide_parameters=True)
    if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
        Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(u, connect_args={"timeout": 30}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        # The driver's own transaction handling would BEGIN (deferred) before DML; we begin ourselves.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA busy_timeout = 30000")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: a crash loses no committed data
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def writer(engine: Engine) -> Engine:
    """The same engine, its transactions marked as writing (SQLite takes the write lock at BEGIN)."""
    return engine.execution_options(**{WRITE: True})


# --- migrations -----------------------------------------------------------------------------------
def alembic_config(connection: Connection | None = None):
    """Alembic's configuration, built in code (no alembic.ini): the scripts inside this package."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


_upgrade_lock = threading.Lock()


def upgrade(engine_or_url: Engine | str) -> None:
    """Migrate the database to the newest revision (idempotent; concurrent callers queue).

    Other processes wait on the database (see migrations/env.py); threads of this process on a lock,
    as Alembic keeps the running migration in module globals.
    """
    from alembic import command

    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        with _upgrade_lock, writer(engine).connect() as conn:
            command.upgrade(alembic_config(conn), "head")
            conn.commit()
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: not migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def database(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: the ``database`` setting), migrated; one per URL and process."""
    if url is None:
        from pipelines.settings import get_settings

        url = get_settings().database
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = make_engine(url)
            upgrade(engine)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Close and forget the engines ``database`` made (tests; a process about to fork)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


# The issue stage's ledger lives in this database too (migration 0002): its model joins Base.metadata
# whenever this module is loaded, so the migrations and the ORM are compared on the whole schema.
from pipelines.issue import ledger as _ledger  # noqa: E402, F401  (after Base: the ledger imports it)
