"""Shared fixtures. Every test gets its own HOCBA_HOME so nothing leaks between tests."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

pytest_plugins = ["tests.db.fixtures"]  # db_url, engine: SQLite, and PostgreSQL when one is given


@pytest.fixture
def hocba_home(tmp_path, monkeypatch):
    """A private HOCBA_HOME (and DAGSTER_HOME below it) for one test."""
    from pipelines.settings import get_settings

    home = tmp_path / "hocba"
    monkeypatch.setenv("HOCBA_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("HOCBA_STORAGE_URL", raising=False)
    monkeypatch.delenv("HOCBA_INBOX_URL", raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()
