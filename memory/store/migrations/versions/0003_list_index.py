"""Listing newest first: an index on (namespace, created_at, id), the keyset of GET /v1/memories.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_memories_ns_created", "memories", ["namespace", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_memories_ns_created", "memories")
