"""Store: every read and write of the service's tables, for SQLite and PostgreSQL alike.

Writers serialise: on PostgreSQL a transaction-scoped advisory lock, on SQLite `BEGIN
IMMEDIATE` (a dedicated engine). That keeps `outbox.seq` in commit order, which is what lets
every process follow the change log without missing a row. Any database outage surfaces as
StoreUnavailable so the API can answer 503 instead of 500.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from typing import Iterable, Iterator, Sequence

import numpy as np
import sqlalchemy as sa
from sqlalchemy import event as sa_event

from memory.errors import EventError, StoreError, StoreUnavailable
from memory.memory_type import MemoryType
from memory.store import load, migrate, pool
from memory.store.schema import links, memories, memory_events, outbox, processed_events

WRITE_LOCK_KEY = 0x50AA_3E  # advisory lock id of the single-writer section on PostgreSQL


def _type_value(memory_type: MemoryType | str) -> str:
    """The column's value: a MemoryType (a str given is checked against it) as plain str."""
    return MemoryType(memory_type).value


@dataclasses.dataclass
class MemoryRow:
    namespace: str
    id: str
    memory_type: MemoryType
    vector: np.ndarray
    model: str
    importance: float
    importance_norm: float | None
    payload: dict
    created_at: float
    updated_at: float
    coordinate: list[float] | None = None
    last_access: float | None = None
    access_count: int = 0
    deleted_at: float | None = None
    text: str | None = None  # the memory's content, as given

    @property
    def dim(self) -> int:
        return int(self.vector.shape[0])

    @classmethod
    def from_db(cls, m) -> "MemoryRow":
        return cls(namespace=m.namespace, id=m.id, memory_type=MemoryType(m.memory_type),
                   vector=np.frombuffer(m.vector, dtype="<f4"), model=m.model,
                   importance=m.importance, importance_norm=m.importance_norm,
                   payload=m.payload, created_at=m.created_at, updated_at=m.updated_at,
                   coordinate=m.coordinate, last_access=m.last_access,
                   access_count=m.access_count, deleted_at=m.deleted_at, text=m.text)


@dataclasses.dataclass(frozen=True)
class LinkRow:
    from_id: str
    to_id: str
    type: str
    weight: float
    created_at: float


@dataclasses.dataclass(frozen=True)
class OutboxRow:
    seq: int
    event_id: str
    namespace: str
    memory_id: str
    type: str
    event: str
    created_at: float


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Map driver errors to the service's tree: outages to StoreUnavailable."""
    try:
        yield
    except sa.exc.IntegrityError as exc:
        raise StoreError(f"constraint violated: {exc.orig}") from exc
    except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError) as exc:
        raise StoreUnavailable(f"database unavailable: {type(exc.orig or exc).__name__}") from exc
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise StoreUnavailable("database connection lost") from exc
        raise StoreError(f"database error: {type(exc.orig).__name__}") from exc


def make_engine(url: str, *, immediate: bool = False, ping_after_idle_s: float = pool.PING_AFTER_IDLE_S) -> sa.Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        eng = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               poolclass=sa.pool.QueuePool, pool_size=8, max_overflow=8)

        @sa_event.listens_for(eng, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (pysqlite quirk)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # WAL+NORMAL survives a process kill
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @sa_event.listens_for(eng, "begin")
        def _on_begin(conn):
            # on the driver's connection: through SQLAlchemy's execution path this one
            # statement cost ~100 us of a ~2 ms single store
            with _cursor(conn.connection.driver_connection) as cur:
                cur.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        return eng
    eng = sa.create_engine(url, pool_size=10, max_overflow=10, pool_timeout=5,
                           connect_args={"connect_timeout": 3})
    pool.ping_when_idle(eng, ping_after_idle_s)  # instead of pool_pre_ping: no round trip when busy
    return eng


class Tx:
    """One write transaction: memory rows, links and their outbox events commit together.

    On PostgreSQL a write is a few network round trips, and under load each costs a context
    switch to the server and back, which is most of a single write's latency. So the
    writer lock goes out in one pipeline with the first read (existing ids), and a small
    write's INSERTs are held and sent in one pipeline with the COMMIT (finish()): a single
    store is two round trips (lock + read, writes + commit) instead of six; the pool pings
    a connection only after it idled (store/pool.py).
    The lock is still taken before anything is read or written, and COMMIT still returns
    only once the server made it durable."""

    def __init__(self, conn: sa.Connection, dialect: str):
        self._conn = conn
        self.dialect = dialect
        self._locked = dialect != "postgresql"  # SQLite: BEGIN IMMEDIATE took it already
        self._pending: list[tuple[str, list]] = []  # PostgreSQL: small writes, sent at commit

    @property
    def conn(self) -> sa.Connection:
        """The transaction's connection, for a statement of the caller's own: the lock is
        taken and held writes are sent first, so it sees and orders like any other."""
        self._sync()
        return self._conn

    def _raw(self):
        return self._conn.connection.driver_connection

    def _sync(self) -> None:
        """Before a statement of its own: the lock taken, the held writes sent."""
        if not self._locked or self._pending:
            raw = self._raw()
            with _cursor(raw), raw.pipeline():
                self._send_held(raw)

    def _send_held(self, raw) -> None:
        if not self._locked:
            raw.execute(_LOCK_SQL, (WRITE_LOCK_KEY,))
            self._locked = True
        for sql, rows in self._pending:
            raw.cursor().executemany(sql, rows)
        self._pending = []

    def finish(self) -> None:
        """Send what is held and COMMIT in one pipeline (PostgreSQL; SQLAlchemy's commit then
        finds the transaction closed and sends nothing). An error raises here, before the
        caller acknowledges anything; the caller's rollback then cleans up."""
        if not self._pending:
            return
        raw = self._raw()
        with _cursor(raw), raw.pipeline():
            self._send_held(raw)
            raw.execute("COMMIT")

    def existing(self, namespace: str, ids: Sequence[str]) -> dict[str, bool]:
        """id -> True if live, False if tombstoned; absent ids are missing."""
        return {rid: live for rid, (live, _) in self.existing_created(namespace, ids).items()}

    def existing_created(self, namespace: str, ids: Sequence[str]) -> dict[str, tuple[bool, float]]:
        """id -> (live, created_at) for the ids that have a row (live or tombstoned). The ids
        go as one parameter (an array on PostgreSQL, a JSON array on SQLite), so the
        statement does not grow, nor get built, per id."""
        out: dict[str, tuple[bool, float]] = {}
        if self.dialect == "postgresql":
            sql = ("SELECT id, deleted_at, created_at FROM memories "
                   "WHERE namespace = %s AND id = ANY(%s::varchar[])")
        else:
            sql = ("SELECT id, deleted_at, created_at FROM memories "
                   "WHERE namespace = ? AND id IN (SELECT value FROM json_each(?))")
        for i in range(0, len(ids), 50_000):
            chunk = list(ids[i:i + 50_000])
            if self.dialect == "postgresql":
                raw = self._raw()
                with _cursor(raw), raw.pipeline():  # the lock and this read: one round trip
                    self._send_held(raw)
                    cur = raw.execute(sql, (namespace, chunk))
                found = cur.fetchall()  # after the pipeline's one sync (fetching inside adds one)
            else:  # the driver's cursor: SQLAlchemy's result set-up is most of a small read
                with _cursor(self._raw()) as cur:
                    found = cur.execute(sql, (namespace, _JSON_TEXT(chunk))).fetchall()
            for rid, deleted, created in found:
                out[rid] = (deleted is None, created)
        return out

    def insert_memories(self, rows: Sequence[MemoryRow]) -> None:
        if not rows:
            return
        self.write_memories(_columns(rows), [False] * len(rows))

    def write_memories(self, c: dict, replaced: Sequence[bool]) -> None:
        """Insert (replaced False) or replace (True) memories given column by column: the
        service's batch as it is, without a row object or a statement per memory.

        PostgreSQL: binary COPY for the inserts of a batch (a vector travels as raw bytea),
        executemany (one pipeline) otherwise. SQLite: executemany of one prepared statement.
        A replace resets access counts and the tombstone, as a new row would have them."""
        n = len(c["ids"])
        vecs = np.ascontiguousarray(c["vectors"], dtype="<f4")
        dim, width = vecs.shape[1], vecs.shape[1] * 4
        block = vecs.tobytes()
        blobs = [block[i:i + width] for i in range(0, n * width, width)]
        dumps = _JSON_TEXT
        coords = [None if x is None else dumps(x) for x in c["coordinates"]]
        payloads = list(map(dumps, c["payloads"]))
        ns, now = c["namespace"], c["now"]
        types = list(map(_type_value, c["memory_types"]))  # plain text for every driver
        cols = zip(c["ids"], types, blobs, c["models"], c["importance"], c["norms"], coords,
                   payloads, c["created"], c["texts"], replaced)
        new = [(ns, mid, mt, blob, dim, model, imp, nrm, coord, pay, made, now, text)
               for mid, mt, blob, model, imp, nrm, coord, pay, made, text, old in cols if not old]
        if len(new) < n:
            cols = zip(c["ids"], types, blobs, c["models"], c["importance"], c["norms"], coords,
                       payloads, c["created"], c["texts"], replaced)
            old = [(mt, blob, dim, model, imp, nrm, coord, pay, made, now, text, ns, mid)
                   for mid, mt, blob, model, imp, nrm, coord, pay, made, text, was in cols if was]
        else:
            old = []
        raw = self._raw()
        if self.dialect == "postgresql":
            if len(new) > 50:
                self._sync()
                self._copy_memories(raw, new)
            elif new:
                self._pending.append((_INSERT_PG, new))
            if old:
                self._pending.append((_UPDATE_PG, old))
            return
        with _cursor(raw) as cur:
            if new:
                cur.executemany(_INSERT_SQLITE, new)
            if old:
                cur.executemany(_UPDATE_SQLITE, old)

    @staticmethod
    def _copy_memories(raw, rows: list[tuple]) -> None:
        # binary COPY: a vector travels as raw bytea instead of hex text (3x fewer bytes); a
        # json column's binary form is its text, so the JSON encoded once above goes as is
        types = ["varchar", "varchar", "varchar", "bytea", "int4", "varchar", "float8", "float8",
                 "text", "text", "float8", "float8", "text"]
        with _cursor(raw) as cur:
            with cur.copy(f"COPY memories ({', '.join(_MEMORY_COLS)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                for r in rows:
                    copy.write_row(r)

    def update_memories(self, rows: Sequence[MemoryRow]) -> None:
        if rows:
            self.write_memories(_columns(rows), [True] * len(rows))

    def tombstone(self, namespace: str, ids: Sequence[str], now: float) -> None:
        self._sync()
        for i in range(0, len(ids), 5000):
            chunk = list(ids[i:i + 5000])
            self._conn.execute(memories.update().where(
                memories.c.namespace == namespace, memories.c.id.in_(chunk)).values(deleted_at=now))
            self._conn.execute(links.delete().where(
                links.c.namespace == namespace,
                sa.or_(links.c.from_id.in_(chunk), links.c.to_id.in_(chunk))))

    def live_ids(self, namespace: str, memory_type: MemoryType | None) -> list[str]:
        self._sync()
        q = sa.select(memories.c.id).where(memories.c.namespace == namespace,
                                           memories.c.deleted_at.is_(None))
        if memory_type:
            q = q.where(memories.c.memory_type == _type_value(memory_type))
        return [r[0] for r in self._conn.execute(q)]

    def upsert_link(self, namespace: str, link: LinkRow) -> None:
        self._sync()
        key = (links.c.namespace == namespace, links.c.from_id == link.from_id,
               links.c.to_id == link.to_id, links.c.type == link.type)
        res = self._conn.execute(links.update().where(*key).values(weight=link.weight))
        if res.rowcount == 0:
            self._conn.execute(links.insert().values(namespace=namespace, **dataclasses.asdict(link)))

    def add_events(self, events: Sequence[dict]) -> None:
        """events: dicts with event_id, namespace, memory_id, type, event (JSON text).
        Binary COPY on PostgreSQL for a batch, executemany of one statement otherwise."""
        if not events:
            return
        now = time.time()
        rows = [(e["event_id"], e["namespace"], e["memory_id"], e["type"], e["event"], now) for e in events]
        raw = self._raw()
        if self.dialect == "postgresql" and len(rows) <= 50:
            self._pending.append((_OUTBOX_PG, rows))
        elif self.dialect == "postgresql":
            self._sync()
            cols = "event_id, namespace, memory_id, type, event, created_at"
            with _cursor(raw) as cur:
                with cur.copy(f"COPY outbox ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["varchar", "varchar", "varchar", "varchar", "text", "float8"])
                    for r in rows:
                        copy.write_row(r)
        else:
            with _cursor(raw) as cur:
                cur.executemany(_OUTBOX_PG if self.dialect == "postgresql" else _OUTBOX_SQLITE, rows)


_LOCK_SQL = "SELECT pg_advisory_xact_lock(%s)"
_JSON_TEXT = json.JSONEncoder(separators=(",", ":")).encode  # what sa.JSON reads back alike

_MEMORY_COLS = ["namespace", "id", "memory_type", "vector", "dim", "model", "importance",
                "importance_norm", "coordinate", "payload", "created_at", "updated_at", "text"]
_SET_COLS = ["memory_type", "vector", "dim", "model", "importance", "importance_norm", "coordinate",
             "payload", "created_at", "updated_at", "text"]


def _statements(mark: str, json_cast: str) -> tuple[str, str, str]:
    cast = {"coordinate": json_cast, "payload": json_cast}
    values = ", ".join(mark + cast.get(col, "") for col in _MEMORY_COLS)
    insert = f"INSERT INTO memories ({', '.join(_MEMORY_COLS)}) VALUES ({values})"
    sets = ", ".join(f"{col} = {mark}{cast.get(col, '')}" for col in _SET_COLS)
    update = (f"UPDATE memories SET {sets}, last_access = NULL, access_count = 0, deleted_at = NULL "
              f"WHERE namespace = {mark} AND id = {mark}")
    events = f"INSERT INTO outbox (event_id, namespace, memory_id, type, event, created_at) VALUES ({', '.join([mark] * 6)})"
    return insert, update, events


_INSERT_SQLITE, _UPDATE_SQLITE, _OUTBOX_SQLITE = _statements("?", "")
_INSERT_PG, _UPDATE_PG, _OUTBOX_PG = _statements("%s", "::json")


@contextlib.contextmanager
def _cursor(raw):
    """A driver cursor whose errors become SQLAlchemy's (IntegrityError, OperationalError,
    ...), so translate_errors maps them as it maps every other statement's."""
    base = type(raw).__module__.split(".")[0]
    dbapi = __import__(base)  # psycopg or sqlite3: the module whose Error tree `raw` raises
    cur = raw.cursor()
    try:
        yield cur
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(None, None, exc, dbapi.Error) from exc
    finally:
        cur.close()


def _columns(rows: Sequence[MemoryRow]) -> dict:
    """MemoryRow objects as write_memories' columns (the single-row and replica paths)."""
    return {"namespace": rows[0].namespace, "ids": [r.id for r in rows],
            "vectors": np.stack([np.asarray(r.vector, dtype=np.float32) for r in rows]),
            "models": [r.model for r in rows], "memory_types": [r.memory_type for r in rows],
            "importance": [float(r.importance) for r in rows],
            "norms": [None if r.importance_norm is None else float(r.importance_norm) for r in rows],
            "coordinates": [r.coordinate for r in rows], "payloads": [r.payload for r in rows],
            "created": [r.created_at for r in rows], "now": rows[0].updated_at,
            "texts": [r.text for r in rows]}


class Store:
    """The service's database. Thread-safe; one per process."""

    def __init__(self, url: str, *, ping_after_idle_s: float = pool.PING_AFTER_IDLE_S):
        self.url = url
        with translate_errors():
            self.engine = make_engine(url, ping_after_idle_s=ping_after_idle_s)
            self.dialect = self.engine.dialect.name
            # SQLite needs a second engine whose transactions take the write lock up front
            self.write_engine = make_engine(url, immediate=True) if self.dialect == "sqlite" else self.engine

    def close(self) -> None:
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()

    # -- schema -----------------------------------------------------------------------
    def migrate(self) -> str:
        with translate_errors():
            return migrate.upgrade(self.engine)

    def check_migrated(self) -> None:
        with translate_errors():
            migrate.check(self.engine)

    def ping(self) -> None:
        with translate_errors(), self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- writes -----------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        with translate_errors(), self.write_engine.begin() as conn:
            tx = Tx(conn, self.dialect)  # on PostgreSQL it takes the writer lock before its first statement
            yield tx
            tx.finish()

    def touch_many(self, reads: Sequence[tuple[str, str, int, float]]) -> None:
        """Add counted reads, (namespace, id, reads, last read), in one transaction."""
        if not reads:
            return
        stmt = memories.update().where(
            memories.c.namespace == sa.bindparam("ns"), memories.c.id == sa.bindparam("mid")).values(
            last_access=sa.func.max(sa.func.coalesce(memories.c.last_access, 0.0), sa.bindparam("last"))
            if self.dialect == "sqlite" else
            sa.func.greatest(sa.func.coalesce(memories.c.last_access, 0.0), sa.bindparam("last")),
            access_count=memories.c.access_count + sa.bindparam("n"))
        with translate_errors(), self.engine.begin() as conn:
            conn.execute(stmt, [{"ns": ns, "mid": mid, "n": n, "last": last} for ns, mid, n, last in reads])

    # -- reads ------------------------------------------------------------------------
    def get(self, namespace: str, memory_id: str, *, include_deleted: bool = False) -> MemoryRow | None:
        rows = self.get_many(namespace, [memory_id], include_deleted=include_deleted)
        return rows[0] if rows else None

    def get_many(self, namespace: str, ids: Sequence[str], *,
                 include_deleted: bool = False) -> list[MemoryRow]:
        out = []
        with translate_errors(), self.engine.connect() as conn:
            for i in range(0, len(ids), 5000):
                q = sa.select(memories).where(memories.c.namespace == namespace,
                                              memories.c.id.in_(list(ids[i:i + 5000])))
                if not include_deleted:
                    q = q.where(memories.c.deleted_at.is_(None))
                out.extend(MemoryRow.from_db(m) for m in conn.execute(q))
        return out

    def iter_live(self, chunk: int = 5000) -> Iterator[list[MemoryRow]]:
        """Every live memory of every namespace, in chunks (start-up index load)."""
        last: tuple[str, str] = ("", "")
        while True:
            with translate_errors(), self.engine.connect() as conn:
                q = (sa.select(memories)
                     .where(memories.c.deleted_at.is_(None),
                            sa.tuple_(memories.c.namespace, memories.c.id) > sa.tuple_(*last))
                     .order_by(memories.c.namespace, memories.c.id).limit(chunk))
                rows = [MemoryRow.from_db(m) for m in conn.execute(q)]
            if not rows:
                return
            yield rows
            last = (rows[-1].namespace, rows[-1].id)

    @contextlib.contextmanager
    def index_snapshot(self, dim: int, chunk_rows: int = 65_536) -> Iterator[load.IndexSnapshot]:
        """Every live memory of `dim` in columnar chunks from one snapshot (store/load.py)."""
        with translate_errors(), load.snapshot(self.engine, dim, chunk_rows) as snap:
            yield snap

    def page(self, namespace: str, limit: int, *, before: tuple[float, str] | None = None,
             memory_type: MemoryType | None = None, created_range: tuple | None = None) -> list[MemoryRow]:
        """Up to `limit` live memories, newest first (created_at, then id, both descending),
        strictly after the keyset position `before`: a page never repeats or skips a row
        that exists throughout, whatever is written or deleted between pages."""
        q = sa.select(memories).where(memories.c.namespace == namespace, memories.c.deleted_at.is_(None))
        if before is not None:
            q = q.where(sa.tuple_(memories.c.created_at, memories.c.id) < sa.tuple_(*before))
        if memory_type:
            q = q.where(memories.c.memory_type == _type_value(memory_type))
        gte, lte = created_range or (None, None)
        if gte is not None:
            q = q.where(memories.c.created_at >= gte)
        if lte is not None:
            q = q.where(memories.c.created_at <= lte)
        q = q.order_by(memories.c.created_at.desc(), memories.c.id.desc()).limit(limit)
        with translate_errors(), self.engine.connect() as conn:
            return [MemoryRow.from_db(m) for m in conn.execute(q)]

    def keyword(self, namespace: str, text: str, limit: int, *, memory_type: MemoryType | None = None,
                created_range: tuple | None = None) -> list[str]:
        """Ids of live memories whose text matches any word of `text`, best first, by the
        database's full-text index (revision 0004): FTS5's bm25 on SQLite, ts_rank_cd over
        the 'simple' tsvector on PostgreSQL. A whitespace-separated word is matched as a
        phrase of its tokens, so `E-4021` finds the tokens `e`, `4021` next to each other.
        Words too common to rank by are left out first (_selective)."""
        # U+0000 ends an SQLite string early and PostgreSQL text refuses it: a separator here
        words = list(dict.fromkeys(w for w in text.replace("\x00", " ").split()
                                   if any(ch.isalnum() for ch in w)))[:64]
        with translate_errors(), self.engine.connect() as conn:
            words = self._selective(conn, namespace, words)
            if not words:
                return []
            return self._keyword(conn, namespace, words, limit, memory_type, created_range)

    # A word found in more rows than this is too common to rank by: its weight in bm25 /
    # ts_rank_cd is near nothing, yet it would make the database rank most of the namespace
    # (a whole paragraph as the query took seconds at 100k rows on PostgreSQL).
    COMMON_WORD_ROWS = 1000

    def _selective(self, conn, namespace: str, words: list[str]) -> list[str]:
        """The words of a query found in at most COMMON_WORD_ROWS rows, counted with the
        full-text index and stopping at the bound, so the count costs little even for
        `the`. SQLite's FTS5 table spans namespaces, so there the count does too."""
        if len(words) <= 1:
            return words  # one word is ranked whatever its frequency: it is all there is
        cap = self.COMMON_WORD_ROWS
        # one statement, one capped count per word (a round trip per word was up to 64)
        params: dict = {"ns": namespace, "cap": cap + 1}
        counts = []
        for n, w in enumerate(words):
            if self.dialect == "sqlite":
                counts.append(f"(SELECT count(*) FROM (SELECT 1 FROM memories_fts WHERE memories_fts MATCH :w{n} "
                              "LIMIT :cap))")
                params[f"w{n}"] = '"' + w.replace('"', '""') + '"'
            else:
                counts.append(f"(SELECT count(*) FROM (SELECT 1 FROM memories m WHERE m.namespace = :ns "
                              f"AND m.text_tsv @@ phraseto_tsquery('simple', :w{n}) LIMIT :cap) AS hits{n})")
                params[f"w{n}"] = w
        found = conn.execute(sa.text("SELECT " + ", ".join(counts)), params).one()
        kept = [w for w, c in zip(words, found) if c <= cap]
        # only common words: rank by the longest, as a one-word query would be
        return kept or [max(words, key=len)]

    def _keyword(self, conn, namespace: str, words: list[str], limit: int, memory_type, created_range) -> list[str]:
        params: dict = {"ns": namespace, "lim": limit}
        where = ["m.namespace = :ns", "m.deleted_at IS NULL"]
        if memory_type:
            where.append("m.memory_type = :mt")
            params["mt"] = _type_value(memory_type)
        gte, lte = created_range or (None, None)
        if gte is not None:
            where.append("m.created_at >= :gte")
            params["gte"] = gte
        if lte is not None:
            where.append("m.created_at <= :lte")
            params["lte"] = lte
        if self.dialect == "sqlite":
            # each word a quoted FTS5 phrase (a quote doubled inside), any of them matching
            params["q"] = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
            sql = ("SELECT m.id FROM memories_fts f JOIN memories m ON m.rowid = f.rowid "
                   f"WHERE memories_fts MATCH :q AND {' AND '.join(where)} "
                   "ORDER BY bm25(memories_fts), m.id LIMIT :lim")
        else:
            parts = []
            for i, w in enumerate(words):
                params[f"w{i}"] = w
                parts.append(f"phraseto_tsquery('simple', :w{i})")
            sql = (f"SELECT m.id FROM memories m, (SELECT {' || '.join(parts)} AS query) AS q "
                   f"WHERE m.text_tsv @@ q.query AND {' AND '.join(where)} "
                   "ORDER BY ts_rank_cd(m.text_tsv, q.query) DESC, m.id LIMIT :lim")
        return [r[0] for r in conn.execute(sa.text(sql), params)]

    def counts(self, namespace: str) -> dict[str, int]:
        with translate_errors(), self.engine.connect() as conn:
            q = (sa.select(memories.c.memory_type, sa.func.count())
                 .where(memories.c.namespace == namespace, memories.c.deleted_at.is_(None))
                 .group_by(memories.c.memory_type))
            return {t: n for t, n in conn.execute(q)}

    def links_of(self, namespace: str, memory_id: str, link_type: str | None) -> list[LinkRow]:
        with translate_errors(), self.engine.connect() as conn:
            q = sa.select(links.c.from_id, links.c.to_id, links.c.type, links.c.weight,
                          links.c.created_at).where(links.c.namespace == namespace,
                                                    links.c.from_id == memory_id)
            if link_type:
                q = q.where(links.c.type == link_type)
            return [LinkRow(*r) for r in conn.execute(q.order_by(links.c.to_id, links.c.type))]

    def all_links(self, namespace: str, link_type: str | None) -> list[LinkRow]:
        with translate_errors(), self.engine.connect() as conn:
            q = sa.select(links.c.from_id, links.c.to_id, links.c.type, links.c.weight,
                          links.c.created_at).where(links.c.namespace == namespace)
            if link_type:
                q = q.where(links.c.type == link_type)
            return [LinkRow(*r) for r in conn.execute(q)]

    # -- change log and outbox --------------------------------------------------------
    def max_seq(self) -> int:
        with translate_errors(), self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.coalesce(sa.func.max(outbox.c.seq), 0))).scalar_one()

    def changes_since(self, seq: int, limit: int = 10_000) -> list[tuple[int, str, str, str, str]]:
        """(seq, namespace, memory_id, type, event_id) after `seq`, in commit order."""
        with translate_errors(), self.engine.connect() as conn:
            q = (sa.select(outbox.c.seq, outbox.c.namespace, outbox.c.memory_id, outbox.c.type,
                           outbox.c.event_id)
                 .where(outbox.c.seq > seq).order_by(outbox.c.seq).limit(limit))
            return [tuple(r) for r in conn.execute(q)]

    def events_at(self, seqs: Sequence[int]) -> dict[int, str]:
        """seq -> the CloudEvent (JSON text) of those outbox rows."""
        out: dict[int, str] = {}
        with translate_errors(), self.engine.connect() as conn:
            for i in range(0, len(seqs), 5000):
                q = sa.select(outbox.c.seq, outbox.c.event).where(outbox.c.seq.in_(list(seqs[i:i + 5000])))
                out.update((seq, event) for seq, event in conn.execute(q))
        return out

    def unpublished(self, limit: int = 1000) -> list[OutboxRow]:
        with translate_errors(), self.engine.connect() as conn:
            q = (sa.select(outbox.c.seq, outbox.c.event_id, outbox.c.namespace, outbox.c.memory_id,
                           outbox.c.type, outbox.c.event, outbox.c.created_at)
                 .where(outbox.c.published_at.is_(None)).order_by(outbox.c.seq).limit(limit))
            return [OutboxRow(*r) for r in conn.execute(q)]

    def mark_published(self, seqs: Iterable[int]) -> int:
        seqs = list(seqs)
        if not seqs:
            return 0
        n = 0
        with translate_errors(), self.engine.begin() as conn:
            for i in range(0, len(seqs), 5000):
                n += conn.execute(outbox.update().where(outbox.c.seq.in_(seqs[i:i + 5000]))
                                  .values(published_at=time.time())).rowcount
        return n

    def outbox_lag(self, namespace: str | None = None) -> tuple[int, float | None]:
        """(unpublished events, created_at of the oldest one), of one namespace when given."""
        q = (sa.select(sa.func.count(), sa.func.min(outbox.c.created_at))
             .where(outbox.c.published_at.is_(None)))
        if namespace is not None:
            q = q.where(outbox.c.namespace == namespace)
        with translate_errors(), self.engine.connect() as conn:
            n, oldest = conn.execute(q).one()
            return int(n), oldest

    # -- consumer side ----------------------------------------------------------------
    def apply_event(self, consumer: str, event: dict) -> bool:
        """Record one consumed event once. False only when this consumer already applied it.

        Every other failure raises, so the consumer retries and then dead-letters the event
        instead of committing its offset as if applied: StoreUnavailable for an outage (the
        consumer holds the offset), EventError for anything the database refused (a value
        too long, a constraint, a trigger). A unique-key error is "already applied" only
        when this consumer's processed row is there afterwards: a concurrent consumer of the
        same group won the insert race.
        """
        try:
            with translate_errors(), self.write_engine.begin() as conn:
                if self._processed(conn, consumer, event["id"]):
                    return False
                now = time.time()
                conn.execute(processed_events.insert().values(
                    consumer=consumer, event_id=event["id"], processed_at=now))
                # another consumer group may have logged it into this database already
                logged = conn.execute(sa.select(memory_events.c.event_id).where(
                    memory_events.c.event_id == event["id"])).first()
                if not logged:
                    conn.execute(memory_events.insert().values(
                        event_id=event["id"], type=event["type"],
                        namespace=event.get("namespace", ""), memory_id=event.get("subject", ""),
                        data=json.dumps(event.get("data")), received_at=now))
                return True
        except StoreUnavailable:
            raise
        except StoreError as exc:
            with translate_errors(), self.engine.connect() as conn:
                if self._processed(conn, consumer, event["id"]):
                    return False
            raise EventError(f"event {str(event['id'])[:80]!r} not applied: {exc}") from exc

    @staticmethod
    def _processed(conn: sa.Connection, consumer: str, event_id: str) -> bool:
        return conn.execute(sa.select(processed_events.c.event_id).where(
            processed_events.c.consumer == consumer,
            processed_events.c.event_id == event_id)).first() is not None

    def consumed(self) -> list[tuple[str, str, str]]:
        with translate_errors(), self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                sa.select(memory_events.c.event_id, memory_events.c.type, memory_events.c.memory_id))]
