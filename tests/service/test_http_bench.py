"""memory/http_bench.py's own parts that run without a server: the database-alone peer (on
SQLite and the real PostgreSQL fixture) and the report's rows and ratios."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from memory import http_bench
from memory.store import Store


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_database_alone_writes_every_row_then_drops_its_table(kind, tmp_path, request):
    url = request.getfixturevalue("pg_url") if kind == "postgresql" else f"sqlite:///{tmp_path}/m.db"
    store = Store(url)
    store.migrate()
    counted = []

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def _count(conn, cursor, statement, *args):  # the scratch table is created, then dropped
        counted.append(statement.split()[0:2])

    data = np.random.default_rng(0).standard_normal((230, 16)).astype(np.float32)
    rate = http_bench._database_alone(store, data, 100)
    assert rate > 0
    with store.engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        assert "peer_memories" not in names and conn.execute(sa.text("select count(*) from memories")).scalar() == 0
    assert ["DROP", "TABLE"] in counted
    store.close()


def test_report_prints_the_peers_and_ratios():
    r = {"database": "sqlite", "dim": 16, "k": 10, "queries": 5, "bulk_batch": 1000, "threads": 4,
         "single_store_ms": (1.0, 2.0), "single_store_b64_ms": (1.0, 2.5), "bulk_request_ms": (50.0, 60.0),
         "http_bulk_ingest_per_s": 10_000.0, "binary_request_ms": (40.0, 45.0), "http_binary_ingest_per_s": 20_000.0,
         "db_alone_per_s": 40_000.0, "pg_ingest_per_s": 25_000.0, "http_recall_ms": {"1000": (1.0, 2.0)},
         "chromadb": {"ingest_per_s": 2_000.0, "version": "x", "ef_search": 1000,
                      "query": {"1000": {"query_ms": (0.5, 0.6), "recall_at_k": 0.99}}}}
    text = http_bench.report(r)
    assert "binary format; peer: SQLite executemany alone) | 20000 | 40000 | 0.50x |" in text
    assert "binary format; peer: chromadb in-process) | 20000 | 2000 | 10.0x |" in text
    assert "vector_b64; peer: SQLite executemany alone) | 10000 | 40000 | 0.25x |" in text
