"""Fixtures of the review console's tests: accounts, queue rows, and the databases of ``tests.db.fixtures``
(SQLite always, PostgreSQL too when ``HOCBA_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

import pandas as pd
import pytest
from argon2 import PasswordHasher

from pipelines.review import auth

PASSWORD = "mat-khau-du-dai-1"
DISTRICT_A, SCHOOL_A = "HN-BD", "HN-BD-THCS01"
DISTRICT_B, SCHOOL_B = "HN-CG", "HN-CG-THCS02"
SCHOOL_A2 = "HN-BD-THCS05"
BATCH_A = f"{DISTRICT_A}/{SCHOOL_A}/2024-001"
BATCH_A2 = f"{DISTRICT_A}/{SCHOOL_A2}/2024-001"
BATCH_B = f"{DISTRICT_B}/{SCHOOL_B}/2024-001"


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
