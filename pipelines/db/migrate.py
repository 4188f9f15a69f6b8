"""One Alembic history for the whole hocba database (``migrations/`` next to this module).

Revisions 0001–0004 hold the review console's tables and the issue ledger; the version table keeps
its first name, ``review_alembic_version``, so databases made before the history moved here upgrade in
place. Tables carry their stage's prefix (``review_``, ``issue_``), so the database can share a
PostgreSQL database with Dagster's storage without a clash.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, Engine

from pipelines.db.engine import make_engine, writer
from pipelines.db.schema import Base

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "review_alembic_version"

MODEL_MODULES = ("pipelines.review.db", "pipelines.issue.ledger")
"""The modules that declare models on :class:`Base`, by name. The stages import this package, never
the reverse: :func:`metadata` imports them only when the whole schema is wanted."""


def metadata() -> MetaData:
    """Every table of the database as the models declare them (Alembic's target metadata; the test
    that compares the migrations with the models). Imports :data:`MODEL_MODULES` on first use."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata


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
