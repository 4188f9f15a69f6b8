"""Databases for the review console's tests: SQLite always, PostgreSQL too when one is given.

Set ``HOCBA_TEST_DATABASE_URL`` to a PostgreSQL server (``scripts/test-postgres.sh start DIR`` prints one)
and every test taking ``engine`` or ``db_url`` runs on both. On PostgreSQL the session gets its own
database (``hocba_test_<random>``, dropped at the end) and each test its own schema in it, so tests
never see each other's rows and a server shared with other work is left as it was.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pandas as pd
import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL, Engine

from pipelines.review import auth, db

PG_URL = os.environ.get("HOCBA_TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]

PASSWORD = "mat-khau-du-dai-1"
DISTRICT_A, SCHOOL_A = "HN-BD", "HN-BD-THCS01"
DISTRICT_B, SCHOOL_B = "HN-CG", "HN-CG-THCS02"
SCHOOL_A2 = "HN-BD-THCS05"
BATCH_A = f"{DISTRICT_A}/{SCHOOL_A}/2024-001"
BATCH_A2 = f"{DISTRICT_A}/{SCHOOL_A2}/2024-001"
BATCH_B = f"{DISTRICT_B}/{SCHOOL_B}/2024-001"


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


def queue_rows(batch_id: str, n_pages: int = 1, *, book_ref: str = "BOOK-0001",
               fields: tuple[tuple[str, str, str | None], ...] | None = None) -> pd.DataFrame:
    """review_queue rows (data_contracts/tables/review_queue.yaml) with real template and field ids.

    ``fields``: (field_id, field_type, proposed_value) per page, on template year_thcs_tt22.
    """
    fields = fields or (
        ("scores.toan.hk1", "score", "8,5"),
        ("sign_date", "date", "25/05/2019"),
        ("results.hk1.ket_qua_hoc_tap", "grade_enum", "Khá"),
        ("full_name", "name", None),
    )
    rows = []
    for p in range(n_pages):
        page = f"{book_ref}-p{p + 2:03d}"
        for i, (fid, ftype, proposed) in enumerate(fields):
            rows.append({
                "batch_id": batch_id, "book_ref": book_ref, "page_id": page, "template_id": "year_thcs_tt22",
                "field_id": fid, "field_type": ftype, "raw_text": proposed or "?", "proposed_value": proposed,
                "confidence": 0.4, "reasons": ["low_confidence"], "candidates": [],
                "crop_uri": f"crops/{page}/{fid}.png", "page_image_uri": f"pages/{page}.png",
                "box_px": [10.0, 20.0 + 30 * i, 100.0, 24.0],
            })
    return pd.DataFrame(rows)


@pytest.fixture
def cheap_hashing(monkeypatch) -> None:
    """argon2 at its lowest cost: seven accounts per test at the real cost take seconds.

    test_auth keeps the real parameters."""
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def users(engine, cheap_hashing) -> dict:
    """Accounts in two districts, one school, and the city."""
    made = {}
    for name, role, scope in [
        ("an.bd", "reviewer", f"district:{DISTRICT_A}"),
        ("ba.bd", "reviewer", f"district:{DISTRICT_A}"),
        ("chi.bd", "reviewer", f"district:{DISTRICT_A}"),
        ("binh.cg", "reviewer", f"district:{DISTRICT_B}"),
        ("thu.school", "reviewer", f"school:{SCHOOL_A2}"),
        ("dung.bd", "data_team", f"district:{DISTRICT_A}"),
        ("quantri", "admin", "all"),
    ]:
        made[name] = auth.add_user(engine, name, PASSWORD, role, scope)
    return made
