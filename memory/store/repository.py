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
from memory.store import load, migrate
from memory.store.schema import links, memories, memory_events, outbox, processed_events

WRITE_LOCK_KEY = 0x50AA_3E  # advisory lock id of the single-writer section on PostgreSQL


@dataclasses.dataclass
class MemoryRow:
    namespace: str
    id: str
    memory_type: str
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

    def to_db(self) -> dict:
        return {
            "namespace": self.namespace, "id": self.id, "memory_type": self.memory_type,
            "vector": np.ascontiguousarray(self.vector, dtype="<f4").tobytes(), "dim": self.dim,
            "model": self.model, "importance": float(self.importance),
            "importance_norm": None if self.importance_norm is None else float(self.importance_norm),
            "coordinate": self.coordinate, "payload": self.payload,
            "created_at": self.created_at, "updated_at": self.updated_at,
            "last_access": self.last_access, "access_count": self.access_count,
            "deleted_at": self.deleted_at, "text": self.text,
        }

    @classmethod
    def from_db(cls, m) -> "MemoryRow":
        return cls(namespace=m.namespace, id=m.id, memory_type=m.memory_type,
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


def make_engine(url: str, *, immediate: bool = False) -> sa.Engine:
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
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
        return eng
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10,
                            pool_timeout=5, connect_args={"connect_timeout": 3})


class Tx:
    """One write transaction: memory rows, links and their outbox events commit together."""

    def __init__(self, conn: sa.Connection, dialect: str):
        self.conn = conn
        self.dialect = dialect

    def existing(self, namespace: str, ids: Sequence[str]) -> dict[str, bool]:
        """id -> True if live, False if tombstoned; absent ids are missing."""
        return {rid: live for rid, (live, _) in self.existing_created(namespace, ids).items()}

    def existing_created(self, namespace: str, ids: Sequence[str]) -> dict[str, tuple[bool, float]]:
        """id -> (live, created_at) for the ids that have a row (live or tombstoned)."""
        out: dict[str, tuple[bool, float]] = {}
        for i in range(0, len(ids), 5000):
            chunk = list(ids[i:i + 5000])
            q = sa.select(memories.c.id, memories.c.deleted_at, memories.c.created_at).where(
                memories.c.namespace == namespace, memories.c.id.in_(chunk))
            for rid, deleted, created in self.conn.execute(q):
                out[rid] = (deleted is None, created)
        return out

    def insert_memories(self, rows: Sequence[MemoryRow]) -> None:
        if not rows:
            return
        if self.dialect == "postgresql" and len(rows) > 50:
            self._copy_memories(rows)
        else:
            self.conn.execute(memories.insert(), [r.to_db() for r in rows])

    def _copy_memories(self, rows: Sequence[MemoryRow]) -> None:
        # binary COPY: a vector travels as raw bytea instead of hex text (3x fewer bytes)
        from psycopg.types.json import Json
        cols = ["namespace", "id", "memory_type", "vector", "dim", "model", "importance",
                "importance_norm", "coordinate", "payload", "created_at", "updated_at",
                "last_access", "access_count", "deleted_at", "text"]
        types = ["varchar", "varchar", "varchar", "bytea", "int4", "varchar", "float8", "float8",
                 "json", "json", "float8", "float8", "float8", "int4", "float8", "text"]
        raw = self.conn.connection.driver_connection
        with raw.cursor() as cur:
            with cur.copy(f"COPY memories ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                for r in rows:
                    copy.write_row((
                        r.namespace, r.id, r.memory_type,
                        np.ascontiguousarray(r.vector, dtype="<f4").tobytes(), r.dim, r.model,
                        float(r.importance),
                        None if r.importance_norm is None else float(r.importance_norm),
                        None if r.coordinate is None else Json(r.coordinate), Json(r.payload),
                        r.created_at, r.updated_at, r.last_access, r.access_count, r.deleted_at, r.text))

    def update_memories(self, rows: Sequence[MemoryRow]) -> None:
        for r in rows:
            d = r.to_db()
            del d["namespace"], d["id"]
            self.conn.execute(memories.update().where(
                memories.c.namespace == r.namespace, memories.c.id == r.id).values(**d))

    def tombstone(self, namespace: str, ids: Sequence[str], now: float) -> None:
        for i in range(0, len(ids), 5000):
            chunk = list(ids[i:i + 5000])
            self.conn.execute(memories.update().where(
                memories.c.namespace == namespace, memories.c.id.in_(chunk)).values(deleted_at=now))
            self.conn.execute(links.delete().where(
                links.c.namespace == namespace,
                sa.or_(links.c.from_id.in_(chunk), links.c.to_id.in_(chunk))))

    def live_ids(self, namespace: str, memory_type: str | None) -> list[str]:
        q = sa.select(memories.c.id).where(memories.c.namespace == namespace,
                                           memories.c.deleted_at.is_(None))
        if memory_type:
            q = q.where(memories.c.memory_type == memory_type)
        return [r[0] for r in self.conn.execute(q)]

    def upsert_link(self, namespace: str, link: LinkRow) -> None:
        key = (links.c.namespace == namespace, links.c.from_id == link.from_id,
               links.c.to_id == link.to_id, links.c.type == link.type)
        res = self.conn.execute(links.update().where(*key).values(weight=link.weight))
        if res.rowcount == 0:
            self.conn.execute(links.insert().values(namespace=namespace, **dataclasses.asdict(link)))

    def add_events(self, events: Sequence[dict]) -> None:
        """events: dicts with event_id, namespace, memory_id, type, event (JSON text)."""
        if not events:
            return
        now = time.time()
        rows = [{**e, "created_at": now} for e in events]
        if self.dialect == "postgresql" and len(rows) > 50:
            raw = self.conn.connection.driver_connection
            cols = ["event_id", "namespace", "memory_id", "type", "event", "created_at"]
            with raw.cursor() as cur:
                with cur.copy(f"COPY outbox ({', '.join(cols)}) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row([r[c] for c in cols])
        else:
            self.conn.execute(outbox.insert(), rows)


class Store:
    """The service's database. Thread-safe; one per process."""

    def __init__(self, url: str):
        self.url = url
        with translate_errors():
            self.engine = make_engine(url)
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
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITE_LOCK_KEY})
            yield Tx(conn, self.dialect)

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
             memory_type: str | None = None, created_range: tuple | None = None) -> list[MemoryRow]:
        """Up to `limit` live memories, newest first (created_at, then id, both descending),
        strictly after the keyset position `before`: a page never repeats or skips a row
        that exists throughout, whatever is written or deleted between pages."""
        q = sa.select(memories).where(memories.c.namespace == namespace, memories.c.deleted_at.is_(None))
        if before is not None:
            q = q.where(sa.tuple_(memories.c.created_at, memories.c.id) < sa.tuple_(*before))
        if memory_type:
            q = q.where(memories.c.memory_type == memory_type)
        gte, lte = created_range or (None, None)
        if gte is not None:
            q = q.where(memories.c.created_at >= gte)
        if lte is not None:
            q = q.where(memories.c.created_at <= lte)
        q = q.order_by(memories.c.created_at.desc(), memories.c.id.desc()).limit(limit)
        with translate_errors(), self.engine.connect() as conn:
            return [MemoryRow.from_db(m) for m in conn.execute(q)]

    def keyword(self, namespace: str, text: str, limit: int, *, memory_type: str | None = None,
                created_range: tuple | None = None) -> list[str]:
        """Ids of live memories whose text matches any word of `text`, best first, by the
        database's full-text index (revision 0004): FTS5's bm25 on SQLite, ts_rank_cd over
        the 'simple' tsvector on PostgreSQL. A whitespace-separated word is matched as a
        phrase of its tokens, so `E-4021` finds the tokens `e`, `4021` next to each other."""
        # U+0000 ends an SQLite string early and PostgreSQL text refuses it: a separator here
        words = [w for w in text.replace("\x00", " ").split() if any(ch.isalnum() for ch in w)][:64]
        if not words:
            return []
        params: dict = {"ns": namespace, "lim": limit}
        where = ["m.namespace = :ns", "m.deleted_at IS NULL"]
        if memory_type:
            where.append("m.memory_type = :mt")
            params["mt"] = memory_type
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
        with translate_errors(), self.engine.connect() as conn:
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
