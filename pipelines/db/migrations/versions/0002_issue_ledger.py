"""The issue stage's ledger: every issue, supersession and revocation of a record (append-only).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Names follow the naming convention of pipelines.db.Base and pipelines.issue.ledger.LedgerEntry,
# so autogenerate sees no difference. Timestamps are naive UTC (pipelines.db.UTCDateTime).

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "issue_ledger"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("record_id", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("xml_sha256", sa.String(64), nullable=False),
        sa.Column("pdf_sha256", sa.String(64), nullable=False),
        sa.Column("xml_uri", sa.String(1024), nullable=False),
        sa.Column("pdf_uri", sa.String(1024), nullable=False),
        sa.Column("signer_certs", sa.JSON(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("supersedes", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.CheckConstraint(_in("event", ("issue", "supersede", "revoke")), name="ck_issue_ledger_event"),
        sa.CheckConstraint(_in("status", ("current", "superseded", "revoked")),
                           name="ck_issue_ledger_status"),
        sa.PrimaryKeyConstraint("seq", name="pk_issue_ledger"),
        sa.UniqueConstraint("record_id", "version", "event", name="uq_issue_ledger_version_event"),
        sa.UniqueConstraint("entry_hash", name="uq_issue_ledger_entry_hash"),
    )
    op.create_index("ix_issue_ledger_record", TABLE, ["record_id", "version"])
    op.create_index("ix_issue_ledger_xml_sha256", TABLE, ["xml_sha256"])
    op.create_index("ix_issue_ledger_pdf_sha256", TABLE, ["pdf_sha256"])
    _append_only()


def _append_only() -> None:
    """Rows can be added, never changed or deleted (also not by hand): as review_decision in 0001."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION issue_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
            END $$""")
        op.execute(f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
                   "FOR EACH ROW EXECUTE FUNCTION issue_ledger_append_only()")
        op.execute(f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION issue_ledger_append_only()")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE} "
                       f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only'); END")


def downgrade() -> None:
    op.drop_table(TABLE)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS issue_ledger_append_only()")
