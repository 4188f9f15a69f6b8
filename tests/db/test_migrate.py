"""The one Alembic history: upgrades, concurrent upgrades, models and migrations agreeing, the shipped
scripts."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from pipelines import db

ROOT = Path(__file__).resolve().parents[2]
TABLES = {"review_user", "review_item", "review_decision", "review_audit_log", "issue_ledger",
          "review_session"}
HEAD = "0004"  # newest revision (0003: server-side console sessions; 0004: the ledger's batch columns)


def test_upgrade_creates_every_table_and_is_idempotent(db_url):
    engine = db.make_engine(db_url)
    try:
        assert db.current_revision(engine) is None
        db.upgrade(engine)
        names = set(inspect(engine).get_table_names())
        assert names == TABLES | {db.VERSION_TABLE}
        assert db.current_revision(engine) == HEAD
        columns = {c["name"] for c in inspect(engine).get_columns("review_item")}
        assert {"batch_id", "district", "school", "vocabulary", "box_px", "claimed_until", "needs_second",
                "first_value", "first_by", "final_value", "resolved_by", "resolved_at"} <= columns
        uniques = inspect(engine).get_unique_constraints("review_item")
        assert any(u["column_names"] == ["batch_id", "page_id", "field_id"] for u in uniques)

        db.upgrade(engine)  # again: nothing to do, nothing broken
        db.upgrade(db_url)  # by URL too
        assert set(inspect(engine).get_table_names()) == names
        with engine.connect() as conn:
            assert conn.execute(text(f"SELECT count(*) FROM {db.VERSION_TABLE}")).scalar() == 1
    finally:
        engine.dispose()


def test_a_database_made_before_the_history_moved_upgrades_in_place(db_url):
    """Databases migrated from pipelines/review/migrations/ keep their version table and revision ids."""
    assert db.VERSION_TABLE == "review_alembic_version"
    from alembic import command

    engine = db.make_engine(db_url)
    try:
        with db.writer(engine).connect() as conn:
            command.upgrade(db.alembic_config(conn), "0003")
            conn.commit()
        with engine.begin() as conn:
            assert conn.execute(text("SELECT version_num FROM review_alembic_version")).scalar_one() == "0003"
        db.upgrade(engine)
        assert db.current_revision(engine) == HEAD
        assert {"batch_id", "replaces_batch_id"} <= {c["name"] for c in inspect(engine).get_columns(
            "issue_ledger")}
    finally:
        engine.dispose()


def test_the_migration_matches_the_models(engine):
    """What the revisions create is what the ORM declares (no drift for the next autogenerate)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": db.VERSION_TABLE, "compare_type": True})
        diff = compare_metadata(ctx, db.metadata())
    assert diff == []
    assert set(db.metadata().tables) == TABLES  # every stage's models, loaded by name


def test_concurrent_upgrades_of_a_fresh_database_queue(db_url):
    """The console, the pipeline and a CLI may start at once on an empty database: all succeed."""
    code = "import sys; from pipelines.db import upgrade; upgrade(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", code, db_url], stderr=subprocess.PIPE, text=True,
                              cwd=ROOT) for _ in range(3)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    # And threads of one process.
    failed: list[BaseException] = []

    def run() -> None:
        try:
            db.upgrade(db_url)
        except BaseException as exc:  # asserted below
            failed.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert failed == [] and not any(t.is_alive() for t in threads)
    engine = db.make_engine(db_url)
    try:
        assert db.current_revision(engine) == HEAD
        assert set(inspect(engine).get_table_names()) == TABLES | {db.VERSION_TABLE}
    finally:
        engine.dispose()


def test_migration_scripts_ship_inside_the_package():
    """Alembic finds env.py and the revisions inside pipelines/, which the wheel packs whole."""
    root = ROOT / "pipelines" / "db" / "migrations"
    assert root == db.MIGRATIONS_DIR
    assert (root / "env.py").is_file() and (root / "script.py.mako").is_file()
    assert [p.name for p in sorted((root / "versions").glob("*.py"))] == [
        "0001_initial.py", "0002_issue_ledger.py", "0003_sessions.py", "0004_ledger_batch.py"]
    assert not (ROOT / "pipelines" / "review" / "migrations").exists()  # one history
    assert 'packages = ["pipelines"]' in (ROOT / "pyproject.toml").read_text()
