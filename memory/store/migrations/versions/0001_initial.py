"""Initial schema: memories, links, outbox, consumer tables.

Revision ID: 0001
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "memories",
        sa.Column("namespace", sa.String(128), primary_key=True),
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("memory_type", sa.String(16), nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("importance", sa.Float, nullable=False),
        sa.Column("importance_norm", sa.Float, nullable=True),
        sa.Column("coordinate", sa.JSON, nullable=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("last_access", sa.Float, nullable=True),
        sa.Column("access_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("deleted_at", sa.Float, nullable=True),
    )
    op.create_index("ix_memories_ns_type", "memories", ["namespace", "memory_type"])
    op.create_table(
        "links",
        sa.Column("namespace", sa.String(128), primary_key=True),
        sa.Column("from_id", sa.String(128), primary_key=True),
        sa.Column("to_id", sa.String(128), primary_key=True),
        sa.Column("type", sa.String(64), primary_key=True),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_links_to", "links", ["namespace", "to_id"])
    op.create_table(
        "outbox",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("namespace", sa.String(128), nullable=False),
        sa.Column("memory_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("published_at", sa.Float, nullable=True),
    )
    op.create_index("ix_outbox_unpublished", "outbox", ["seq"],
                    postgresql_where=sa.text("published_at IS NULL"),
                    sqlite_where=sa.text("published_at IS NULL"))
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(128), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("processed_at", sa.Float, nullable=False),
    )
    op.create_table(
        "memory_events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("namespace", sa.String(128), nullable=False),
        sa.Column("memory_id", sa.String(128), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("memory_events", "processed_events", "outbox", "links", "memories"):
        op.drop_table(table)
