"""The start-up index load: every live memory, read in columnar chunks from one snapshot.

PostgreSQL streams the rows with one binary COPY, SQLite with one cursor on the raw driver
connection; both read inside one read transaction that also takes the change log's last
sequence, so the process follows the log from exactly the state it loaded. A chunk is a set
of arrays (one float32 block for its vectors, made by one join of the rows' bytes), never a
Python object per row except the catalog's own fields (id, payload, text).

Rows are read in (namespace, id) order, the order the row-by-row load used, so the engine
and the importance normaliser end in the same state as before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from typing import Iterator

import numpy as np
import sqlalchemy as sa

COLUMNS = ("namespace", "id", "memory_type", "vector", "importance", "importance_norm", "created_at",
           "payload", "text")
SKIPPED_LISTED = 20  # rows of another dim named in the log (all of them are counted)


@dataclasses.dataclass
class IndexChunk:
    """Rows of one or more namespaces, as parallel columns; importance_norm NaN = never set."""
    namespace: list[str]
    ids: list[str]
    memory_type: list[str]
    vectors: np.ndarray          # (n, dim) float32
    importance: np.ndarray       # float64
    importance_norm: np.ndarray  # float64
    created_at: np.ndarray       # float64
    payload: list[str]           # JSON text, parsed when first read (service.Meta)
    text: list[str | None]

    def __len__(self) -> int:
        return len(self.ids)

    def by_namespace(self) -> Iterator[tuple[str, "IndexChunk"]]:
        """Runs of one namespace (the rows come ordered by namespace)."""
        ns = self.namespace
        start = 0
        for end in range(1, len(ns) + 1):
            if end == len(ns) or ns[end] != ns[start]:
                if start == 0 and end == len(ns):
                    yield ns[0], self
                else:
                    yield ns[start], self.slice(start, end)
                start = end

    def slice(self, lo: int, hi: int) -> "IndexChunk":
        return IndexChunk(*(getattr(self, f.name)[lo:hi] for f in dataclasses.fields(self)))


@dataclasses.dataclass
class IndexSnapshot:
    seq: int                 # the change log's last sequence in the snapshot
    total: int               # live rows of the service's dim, all to be yielded by `chunks`
    by_namespace: dict[str, int]  # the same, per namespace
    skipped: int             # live rows of another dim (not indexed)
    skipped_rows: list[tuple[str, str, int]]  # the first few of those: (namespace, id, dim)
    chunks: Iterator[IndexChunk]


def _chunk(cols: list[tuple], dim: int) -> IndexChunk:
    ns, ids, types, vecs, imp, norm, created, payload, text = cols
    vectors = np.frombuffer(b"".join(vecs), dtype="<f4").reshape(len(ids), dim)
    return IndexChunk(
        namespace=list(ns), ids=list(ids), memory_type=list(types),
        vectors=vectors.astype(np.float32, copy=False),
        importance=np.asarray(imp, dtype=np.float64),
        importance_norm=np.asarray([np.nan if x is None else x for x in norm], dtype=np.float64)
        if None in norm else np.asarray(norm, dtype=np.float64),
        created_at=np.asarray(created, dtype=np.float64),
        payload=list(payload),
        text=list(text))


def _columnar(rows: Iterator[tuple], dim: int, chunk_rows: int) -> Iterator[IndexChunk]:
    while True:
        batch = list(itertools.islice(rows, chunk_rows))
        if not batch:
            return
        yield _chunk([*zip(*batch)], dim)


def _counts(conn: sa.Connection, dim: int):
    """One scan for every count, of the live-rows index (revision 0005) in its own order."""
    per_ns: dict[str, int] = {}
    skipped = 0
    for ns, row_dim, n in conn.execute(sa.text(
            "SELECT namespace, dim, count(*) FROM memories WHERE deleted_at IS NULL GROUP BY namespace, dim")):
        if row_dim == dim:
            per_ns[ns] = int(n)
        else:
            skipped += int(n)
    listed = [tuple(r) for r in conn.execute(sa.text(
        "SELECT namespace, id, dim FROM memories WHERE deleted_at IS NULL AND dim <> :d "
        "ORDER BY namespace, id LIMIT :n"), {"d": dim, "n": SKIPPED_LISTED})] if skipped else []
    seq = conn.execute(sa.text("SELECT coalesce(max(seq), 0) FROM outbox")).scalar_one()
    return int(seq), sum(per_ns.values()), per_ns, skipped, listed


@contextlib.contextmanager
def snapshot(engine: sa.Engine, dim: int, chunk_rows: int) -> Iterator[IndexSnapshot]:
    """Open one read snapshot; the caller iterates `chunks` inside the with block."""
    select = (f"SELECT namespace, id, memory_type, vector, importance, importance_norm, created_at, "
              f"{{payload}}, text FROM memories WHERE deleted_at IS NULL AND dim = {int(dim)} "
              f"ORDER BY namespace, id")
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            seq, total, per_ns, skipped, listed = _counts(conn, dim)
            raw = conn.connection.driver_connection
            with raw.cursor() as cur:
                sql = f"COPY ({select.format(payload='payload::text')}) TO STDOUT (FORMAT BINARY)"
                with cur.copy(sql) as copy:
                    copy.set_types(["text", "text", "text", "bytea", "float8", "float8", "float8", "text", "text"])
                    yield IndexSnapshot(seq, total, per_ns, skipped, listed, _columnar(copy.rows(), dim, chunk_rows))
    else:
        with engine.connect() as conn, conn.begin():  # BEGIN: one WAL snapshot for every read below
            seq, total, per_ns, skipped, listed = _counts(conn, dim)
            cur = conn.connection.driver_connection.cursor()
            try:
                cur.execute(select.format(payload="payload"))
                rows = itertools.chain.from_iterable(iter(lambda: cur.fetchmany(chunk_rows), []))
                yield IndexSnapshot(seq, total, per_ns, skipped, listed, _columnar(rows, dim, chunk_rows))
            finally:
                cur.close()
