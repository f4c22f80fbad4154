"""Pooled PostgreSQL connections are pinged only after idling (memory/store/pool.py), on a
real server whose backends are terminated under the pool."""

from __future__ import annotations

import psycopg
import pytest

from memory.errors import StoreUnavailable
from memory.store import Store


def _terminate_others(url: str) -> int:
    """Kill every other backend of this database, as a server restart or a failover would."""
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        killed = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
    return killed


def test_an_idle_dead_connection_is_replaced_before_use(pg_url):
    store = Store(pg_url, ping_after_idle_s=0.0)  # every checkout counts as idle: always pinged
    try:
        store.migrate()
        store.ping()
        assert _terminate_others(pg_url) >= 1
        store.ping()  # the ping found the dead connection and the pool reconnected: no error
        assert store.counts("ns") == {}
    finally:
        store.close()


def test_a_connection_just_used_is_not_pinged_and_fails_once(pg_url):
    # within the window the pool trusts the connection (no round trip); had it pinged, the
    # first statement below would have succeeded on a fresh connection
    store = Store(pg_url, ping_after_idle_s=3600.0)
    try:
        store.migrate()
        store.ping()
        assert _terminate_others(pg_url) >= 1
        with pytest.raises(StoreUnavailable):
            store.ping()
        store.ping()  # the disconnect invalidated the pool: the next checkout connects afresh
    finally:
        store.close()
