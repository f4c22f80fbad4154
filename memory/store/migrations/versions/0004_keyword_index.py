"""Keyword search over memories.text with the database's own full-text index.

SQLite: an FTS5 table over memories.text (external content, keyed by the memories rowid)
kept equal by triggers, and filled from the existing rows. PostgreSQL: a generated
tsvector column (the 'simple' configuration: tokens as written, no stemming, so an exact
token such as an error code matches only itself) with a GIN index.

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_SQLITE_UP = [
    "CREATE VIRTUAL TABLE memories_fts USING fts5(text, content='memories', content_rowid='rowid', "
    "tokenize='unicode61')",
    "CREATE TRIGGER memories_fts_ai AFTER INSERT ON memories BEGIN "
    "INSERT INTO memories_fts(rowid, text) VALUES (new.rowid, new.text); END",
    "CREATE TRIGGER memories_fts_ad AFTER DELETE ON memories BEGIN "
    "INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.rowid, old.text); END",
    "CREATE TRIGGER memories_fts_au AFTER UPDATE OF text ON memories BEGIN "
    "INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.rowid, old.text); "
    "INSERT INTO memories_fts(rowid, text) VALUES (new.rowid, new.text); END",
    "INSERT INTO memories_fts(memories_fts) VALUES ('rebuild')",
]
_PG_UP = [
    "ALTER TABLE memories ADD COLUMN text_tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple', coalesce(text, ''))) STORED",
    "CREATE INDEX ix_memories_text_tsv ON memories USING gin (text_tsv)",
]


def upgrade() -> None:
    for statement in (_SQLITE_UP if op.get_bind().dialect.name == "sqlite" else _PG_UP):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in ("DROP TRIGGER memories_fts_au", "DROP TRIGGER memories_fts_ad",
                          "DROP TRIGGER memories_fts_ai", "DROP TABLE memories_fts"):
            op.execute(statement)
    else:
        op.execute("DROP INDEX ix_memories_text_tsv")
        op.execute("ALTER TABLE memories DROP COLUMN text_tsv")
