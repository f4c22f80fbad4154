"""Counting the live rows at start-up from an index: a partial index on (namespace, dim)
over the rows that are not tombstoned.

The index load counts live rows per namespace and dimension first (the slabs are reserved
and /readyz reports progress against that total). Without an index the count reads the
whole table, vectors included: ~17% of a SQLite load (docs/benchmarks.md). With this one
it is an index-only scan. Partial on both databases, so tombstones never enter it.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    live = sa.text("deleted_at IS NULL")
    op.create_index("ix_memories_live_ns_dim", "memories", ["namespace", "dim"],
                    sqlite_where=live, postgresql_where=live)


def downgrade() -> None:
    op.drop_index("ix_memories_live_ns_dim", "memories")
