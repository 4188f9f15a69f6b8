"""Alembic environment of the hocba database (run by ``pipelines.db.upgrade``).

The caller hands over an open connection in ``config.attributes["connection"]``; a plain
``alembic -x url=…`` run builds one from that URL instead. Concurrent upgrades of one database queue:
SQLite's write transaction begins IMMEDIATE (db.writer), PostgreSQL takes an advisory lock first.
The target metadata (for autogenerate) is ``pipelines.db.metadata()``: the stages' model modules,
named in ``pipelines.db.MODEL_MODULES``, imported here at run time, never by ``pipelines.db`` itself.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from pipelines.db import VERSION_TABLE, make_engine, metadata, writer

# Any constant unique to this schema: serializes concurrent `upgrade head` on one PostgreSQL database.
_PG_LOCK_KEY = 0x686F636261  # "hocba"


def _run(connection) -> None:
    # transactional_ddl: Alembic takes SQLite's DDL for non-transactional and would commit after each
    # revision, letting a queued process in between that reads the half-way version and runs the next
    # revision too (then this one fails on "table exists"). Our SQLite connections begin their own
    # transactions (db.make_engine), so DDL is transactional: one transaction, one lock, all revisions.
    context.configure(connection=connection, target_metadata=metadata(), version_table=VERSION_TABLE,
                      render_as_batch=connection.dialect.name == "sqlite", transactional_ddl=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url")
    if not url:
        raise SystemExit("no database: pass -x url=SQLALCHEMY_URL")
    engine = make_engine(url)
    try:
        with writer(engine).connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `upgrade` on a database")
run_migrations_online()
