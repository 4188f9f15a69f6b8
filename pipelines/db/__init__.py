"""The hocba database: the shared declarative base, engines, and the one Alembic history.

Review (``pipelines.review.db``) and issue (``pipelines.issue.ledger``) declare their tables on
:class:`Base` and import this package; it imports neither (the migrations' model list is by name,
see :data:`MODEL_MODULES`). SQLite by default (a file under HOCBA_HOME), PostgreSQL by
``HOCBA_DATABASE_URL``.
"""

from __future__ import annotations

import threading

from sqlalchemy.engine import Engine

from pipelines.db.engine import WRITE, make_engine, writer
from pipelines.db.migrate import (
    MIGRATIONS_DIR,
    MODEL_MODULES,
    VERSION_TABLE,
    alembic_config,
    current_revision,
    metadata,
    upgrade,
)
from pipelines.db.schema import Base, UTCDateTime, one_of, utcnow
from pipelines.settings import get_settings

__all__ = [
    "MIGRATIONS_DIR", "MODEL_MODULES", "VERSION_TABLE", "WRITE", "Base", "UTCDateTime", "alembic_config",
    "current_revision", "database", "dispose_engines", "make_engine", "metadata", "one_of", "upgrade",
    "utcnow", "writer",
]

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def database(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: the ``database`` setting), migrated; one per URL and process."""
    if url is None:
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
