"""Persistence: one SQLAlchemy Core schema for SQLite and PostgreSQL, Alembic migrations."""

from memory.store.repository import Store, MemoryRow, LinkRow, OutboxRow

__all__ = ["Store", "MemoryRow", "LinkRow", "OutboxRow"]
