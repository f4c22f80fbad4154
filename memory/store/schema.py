"""The tables. Alembic's first revision creates exactly these; later changes get revisions.

Times are epoch seconds (float) so SQLite and PostgreSQL agree without time-zone handling.
`outbox.seq` is the change log every process follows; writes serialise on PostgreSQL (an
advisory lock, see repository.py) so sequence order is commit order and no follower skips
a row that commits late.
"""

import sqlalchemy as sa

metadata = sa.MetaData()

# BIGINT autoincrement on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

memories = sa.Table(
    "memories", metadata,
    sa.Column("namespace", sa.String(128), primary_key=True),
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("memory_type", sa.String(16), nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),        # float32 little-endian bytes
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("model", sa.String(128), nullable=False),         # embedding model id
    sa.Column("importance", sa.Float, nullable=False),          # raw, as given
    sa.Column("importance_norm", sa.Float, nullable=True),      # set once, never recomputed
    sa.Column("coordinate", sa.JSON, nullable=True),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("last_access", sa.Float, nullable=True),
    sa.Column("access_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("deleted_at", sa.Float, nullable=True),           # tombstone
    sa.Column("text", sa.Text, nullable=True),                  # the content (revision 0002)
    sa.Index("ix_memories_ns_type", "namespace", "memory_type"),
    sa.Index("ix_memories_ns_created", "namespace", "created_at", "id"),  # listing (revision 0003)
    # the start-up count of live rows, index-only (revision 0005)
    sa.Index("ix_memories_live_ns_dim", "namespace", "dim", sqlite_where=sa.text("deleted_at IS NULL"),
             postgresql_where=sa.text("deleted_at IS NULL")),
)

links = sa.Table(
    "links", metadata,
    sa.Column("namespace", sa.String(128), primary_key=True),
    sa.Column("from_id", sa.String(128), primary_key=True),
    sa.Column("to_id", sa.String(128), primary_key=True),
    sa.Column("type", sa.String(64), primary_key=True),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_links_to", "namespace", "to_id"),
)

outbox = sa.Table(
    "outbox", metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False, unique=True),
    sa.Column("namespace", sa.String(128), nullable=False),
    sa.Column("memory_id", sa.String(128), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("event", sa.Text, nullable=False),                # the CloudEvent, JSON text
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("published_at", sa.Float, nullable=True),
    # partial index: the relay only ever asks for unpublished rows
    sa.Index("ix_outbox_unpublished", "seq", postgresql_where=sa.text("published_at IS NULL"),
             sqlite_where=sa.text("published_at IS NULL")),
)

# Consumer side: events applied (idempotency by event id) and the applied change log.
processed_events = sa.Table(
    "processed_events", metadata,
    sa.Column("consumer", sa.String(128), primary_key=True),
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("processed_at", sa.Float, nullable=False),
)

memory_events = sa.Table(
    "memory_events", metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("namespace", sa.String(128), nullable=False),
    sa.Column("memory_id", sa.String(128), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
)
