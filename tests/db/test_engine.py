"""Engines of the hocba database: SQLite settings, the PostgreSQL driver, one engine per URL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from pipelines import db

HEAD = "0004"


def test_sqlite_engine_settings(tmp_path):
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'hocba.db'}"
    engine = db.make_engine(url)  # creates the parent folders
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert (tmp_path / "deep" / "er" / "hocba.db").exists()
    finally:
        engine.dispose()


def test_a_plain_postgresql_url_uses_psycopg_3():
    engine = db.make_engine("postgresql://u@db.example/hocba")
    assert engine.url.drivername == "postgresql+psycopg" and engine.url.database == "hocba"
    engine.dispose()


def test_foreign_keys_are_enforced(engine):
    with pytest.raises(Exception, match=r"(?i)foreign key"), engine.begin() as conn:
        conn.execute(text("INSERT INTO review_audit_log (at, action, item_id, reason, detail) "
                          "VALUES (CURRENT_TIMESTAMP, 'claim', 4242, '', '{}')"))


def test_database_is_cached_per_url_and_defaults_to_the_setting(hocba_home):
    try:
        engine = db.database()
        assert engine is db.database()
        assert engine.url.database == str(hocba_home.resolve() / "hocba.db")
        assert db.current_revision(engine) == HEAD
        other = db.database(f"sqlite:///{hocba_home / 'other.db'}")
        assert other is not engine and db.current_revision(other) == HEAD
    finally:
        db.dispose_engines()
