"""Liveness checks of pooled connections, skipped for a connection that was just in use.

SQLAlchemy's `pool_pre_ping` pings on every checkout: one round trip to the server before
each transaction, about a third of a single store's time on PostgreSQL (docs/benchmarks.md).
A connection handed back less than `idle_s` ago was working then; like HikariCP's
`aliveBypassWindowMs` it goes out without a ping. One idle longer is pinged with the
dialect's own ping, and a dead one is replaced before anyone uses it (SQLAlchemy's
documented pessimistic recipe: DisconnectionError from `checkout` makes the pool reconnect
and retry). A connection that died inside the window fails its first statement instead;
SQLAlchemy then sees the disconnect, invalidates the whole pool, and the request answers
503 (StoreUnavailable) once.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy import event

PING_AFTER_IDLE_S = 1.0
_RETURNED = "memory_returned_at"  # time.monotonic() of the last check-in, in the record's info


def ping_when_idle(engine: sa.Engine, idle_s: float = PING_AFTER_IDLE_S) -> None:
    """Install the check on `engine`'s pool (created without pool_pre_ping)."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_conn, record) -> None:
        if dbapi_conn is not None:  # None: the connection was invalidated, nothing to vouch for
            record.info[_RETURNED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn, record, proxy) -> None:
        returned = record.info.get(_RETURNED)
        if returned is not None and time.monotonic() - returned < idle_s:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as exc:
            raise sa.exc.DisconnectionError(f"pooled connection failed its ping: {exc}") from exc
