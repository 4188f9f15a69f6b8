"""Databases for tests: SQLite always, PostgreSQL too when one is given.

Set ``HOCBA_TEST_DATABASE_URL`` to a PostgreSQL server (``scripts/test-postgres.sh start DIR`` prints one)
and every test taking ``engine`` or ``db_url`` runs on both. On PostgreSQL the session gets its own
database (``hocba_test_<random>``, dropped at the end) and each test its own schema in it, so tests
never see each other's rows and a server shared with other work is left as it was.

Loaded for every test by ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL, Engine

from pipelines import db

PG_URL = os.environ.get("HOCBA_TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


@pytest.fixture(scope="session")
def pg_database() -> Iterator[URL]:
    """A fresh database on the test server for this session, dropped at the end."""
    assert PG_URL, "HOCBA_TEST_DATABASE_URL is not set"
    server = make_url(PG_URL)
    name = f"hocba_test_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name)
    finally:
        db.dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> Iterator[str]:
    """The URL of an empty database (nothing migrated yet)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'review.db'}"
        return
    base: URL = request.getfixturevalue("pg_database")
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        db.dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def engine(db_url) -> Iterator[Engine]:
    """A migrated database."""
    eng = db.make_engine(db_url)
    db.upgrade(eng)
    yield eng
    eng.dispose()
