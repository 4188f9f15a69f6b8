"""Engines for the hocba database: one code path for SQLite and PostgreSQL.

The embedded default is a SQLite file under HOCBA_HOME; a district server several console processes
share is PostgreSQL. SQLite gets WAL (readers never wait for the writer), a long ``busy_timeout``
(writers queue instead of failing) and foreign keys; write transactions on SQLite begin with
``BEGIN IMMEDIATE`` because a deferred transaction that reads first and writes later fails with
"database is locked" whatever the timeout (measured, see docs: "Console, database and browser tests").
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Connection, Engine

WRITE = "hocba_write"
"""Execution option: this connection's transactions write (SQLite: ``BEGIN IMMEDIATE``)."""


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
