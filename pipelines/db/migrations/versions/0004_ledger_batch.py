"""The issue ledger keeps which scan batch each version came from, and the batch it replaced.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Model: pipelines.issue.ledger.LedgerEntry (batch_id, replaces_batch_id), so autogenerate sees no
# difference. Both nullable: rows written before keep NULL there, and the entry hash leaves a NULL
# column out (ledger._HASHED_WHEN_SET), so their hashes and the chain hold as they were.
#
# ADD COLUMN in place on SQLite and PostgreSQL, never a batch-mode table copy: a copy would lose the
# append-only triggers of 0002. Those triggers name no columns (SQLite: BEFORE UPDATE ON the table;
# PostgreSQL: FOR EACH ROW), so they cover the new columns as they are.

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLE = "issue_ledger"
COLUMNS = ("batch_id", "replaces_batch_id")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column(TABLE, sa.Column(name, sa.String(255), nullable=True))


def downgrade() -> None:
    """Drops the columns, only while no row has a value there: the entry hashes of such rows cover
    them, and without them ``hocba ledger check`` would report those rows as changed."""
    named = " OR ".join(f"{c} IS NOT NULL" for c in COLUMNS)
    kept = op.get_bind().execute(sa.text(f"SELECT count(*) FROM {TABLE} WHERE {named}")).scalar_one()
    if kept:
        raise RuntimeError(
            f"{TABLE}: {kept} rows name their batch, and their entry hashes cover it; dropping the columns "
            "would break the hash chain. Keep revision 0004, or restore the backup taken before it.")
    for name in reversed(COLUMNS):
        op.drop_column(TABLE, name)
