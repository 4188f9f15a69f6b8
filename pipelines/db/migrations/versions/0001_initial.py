"""The review console's tables: users, review items, decisions and the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-05-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Timestamps are naive UTC (SQLite has no time zones): pipelines.db.UTCDateTime converts.
# Names follow the naming convention of pipelines.db.Base, so autogenerate sees no difference.

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = ("review_decision", "review_audit_log")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "review_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("scope_kind", sa.String(16), nullable=False),
        sa.Column("scope_code", sa.String(64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(_in("role", ("admin", "data_team", "reviewer")), name="ck_review_user_role"),
        sa.CheckConstraint(_in("scope_kind", ("all", "district", "school")),
                           name="ck_review_user_scope_kind"),
        sa.CheckConstraint("(scope_kind = 'all') = (scope_code IS NULL)", name="ck_review_user_scope_code"),
        sa.PrimaryKeyConstraint("id", name="pk_review_user"),
        sa.UniqueConstraint("username", name="uq_review_user_username"),
    )
    op.create_table(
        "review_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(255), nullable=False),
        sa.Column("district", sa.String(64), nullable=False),
        sa.Column("school", sa.String(64), nullable=False),
        sa.Column("book_ref", sa.String(255), nullable=False),
        sa.Column("page_id", sa.String(255), nullable=False),
        sa.Column("template_id", sa.String(64), nullable=False),
        sa.Column("field_id", sa.String(128), nullable=False),
        sa.Column("field_type", sa.String(32), nullable=False),
        sa.Column("vocabulary", sa.String(64), nullable=True),
        sa.Column("raw_text", sa.Text(), nullable=False),
        sa.Column("proposed_value", sa.Text(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("crop_uri", sa.String(1024), nullable=True),
        sa.Column("page_image_uri", sa.String(1024), nullable=True),
        sa.Column("box_px", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claimed_by", sa.Integer(), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("needs_second", sa.Boolean(), nullable=False),
        sa.Column("first_value", sa.Text(), nullable=True),
        sa.Column("first_by", sa.Integer(), nullable=True),
        sa.Column("final_value", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(_in("status", ("open", "claimed", "done", "needs_paper")),
                           name="ck_review_item_status"),
        _fk("review_item", "claimed_by", "review_user"),
        _fk("review_item", "first_by", "review_user"),
        _fk("review_item", "resolved_by", "review_user"),
        sa.PrimaryKeyConstraint("id", name="pk_review_item"),
        sa.UniqueConstraint("batch_id", "page_id", "field_id", name="uq_review_item_key"),
    )
    # The queue order of claim_next, restricted to claimable rows.
    op.create_index("ix_review_item_queue", "review_item",
                    ["status", "batch_id", "book_ref", "page_id", "id"])
    op.create_index("ix_review_item_scope", "review_item", ["district", "school"])
    op.create_table(
        "review_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(_in("action", ("accept", "correct", "illegible")),
                           name="ck_review_decision_action"),
        _fk("review_decision", "item_id", "review_item"),
        _fk("review_decision", "user_id", "review_user"),
        sa.PrimaryKeyConstraint("id", name="pk_review_decision"),
    )
    op.create_index("ix_review_decision_item_id", "review_decision", ["item_id"])
    op.create_table(
        "review_audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        _fk("review_audit_log", "item_id", "review_item"),
        _fk("review_audit_log", "user_id", "review_user"),
        sa.PrimaryKeyConstraint("id", name="pk_review_audit_log"),
    )
    op.create_index("ix_review_audit_log_at", "review_audit_log", ["at"])
    op.create_index("ix_review_audit_log_item_id", "review_audit_log", ["item_id"])
    _append_only()


def _append_only() -> None:
    """Decisions and the audit log can be added to, never changed or deleted (also not by hand)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION review_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
            END $$""")
        for table in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION review_append_only()")
    else:
        for table in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


def downgrade() -> None:
    for table in ("review_audit_log", "review_decision", "review_item", "review_user"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS review_append_only()")
