"""A memory's content: memories.text, nullable, so every existing row stays as it is.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN on both databases: no table rebuild, rows keep their values (text NULL)
    op.add_column("memories", sa.Column("text", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("memories") as batch:  # SQLite drops a column by rebuilding
        batch.drop_column("text")
