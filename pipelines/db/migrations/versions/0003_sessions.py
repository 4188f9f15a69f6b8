"""Server-side console sessions: one row per logged-in browser, keyed by a hash of its token.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Names follow the naming convention of pipelines.db.Base (model: pipelines.review.db.LoginSession),
# so autogenerate sees no difference. Timestamps are naive UTC (pipelines.db.UTCDateTime).
# Only the SHA-256 of the random session token is stored: a copy of this table logs nobody in.

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLE = "review_session"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["review_user.id"],
                                name="fk_review_session_user_id_review_user"),
        sa.PrimaryKeyConstraint("id", name="pk_review_session"),
        sa.UniqueConstraint("token_hash", name="uq_review_session_token_hash"),
    )
    op.create_index("ix_review_session_user_id", TABLE, ["user_id"])
    op.create_index("ix_review_session_last_seen_at", TABLE, ["last_seen_at"])


def downgrade() -> None:
    op.drop_table(TABLE)
