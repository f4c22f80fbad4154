"""MemoryService: the store, one engine per namespace, and the follower that keeps them equal.

Write path (one writer per process, `_write_lock`): validate, normalise importance once,
commit the memory rows and their outbox events in ONE transaction, then update the engine.
The stored normalised importance is what every process loads, so replicas rank alike.

Read path: recall runs on the in-process engines and a small per-namespace catalog (type,
payload, created) without touching the database, so recall keeps answering while the
store is briefly down. GET reads the store, the source of truth.

Scale-out: at start a process records the outbox's last sequence, loads every live memory,
then follows the outbox from that sequence, re-reading each changed row from the store.
Re-applying a row is idempotent, so any number of processes converge on the same index.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from typing import Callable, Sequence

import numpy as np

from memory import intake
from memory.config import Settings
from memory.engine import checks, normalise_batch
from memory.errors import Conflict, NotFound, RequestInvalid, StoreUnavailable
from memory.events import cloudevents
from memory.graph import shortest_path
from memory.memory_type import KIND, MemoryType
from memory.store import LinkRow, MemoryRow, Store

log = logging.getLogger("memory.service")



class Meta:
    """A memory's recall catalog entry. `payload` may be given as its JSON text (the
    start-up load) and is then parsed on first read: a million json.loads at start cost
    seconds, while a recall reads only its k hits' payloads."""

    __slots__ = ("memory_type", "_payload", "created_at", "text")

    def __init__(self, memory_type: MemoryType | str, payload: dict | str, created_at: float, text: str | None = None):
        self.memory_type = memory_type
        self._payload = payload
        self.created_at = created_at
        self.text = text

    @property
    def payload(self) -> dict:
        p = self._payload
        if isinstance(p, str):  # two threads may both parse it: the same dict either way
            p = self._payload = json.loads(p)
        return p

    def __eq__(self, other) -> bool:
        return isinstance(other, Meta) and (self.memory_type, self.payload, self.created_at, self.text) == (
            other.memory_type, other.payload, other.created_at, other.text)

    def __repr__(self) -> str:
        return f"Meta({self.memory_type!r}, {self.payload!r}, {self.created_at!r}, {self.text!r})"


@dataclasses.dataclass
class NewMemory:
    """A validated write request; `vector` already has the service's dim."""
    vector: np.ndarray
    model: str
    memory_type: MemoryType = MemoryType.episodic
    payload: dict = dataclasses.field(default_factory=dict)
    importance: float = 1.0
    coordinate: list[float] | None = None
    id: str | None = None
    created_at: float | None = None
    text: str | None = None  # the content, stored as given (whether or not it was embedded)


@dataclasses.dataclass
class Batch:
    """A validated write, column by column: what the binary bulk format decodes to directly,
    and what write() turns its items into. One entry per memory in every column."""
    vectors: np.ndarray                  # (n, dim) float32
    ids: list[str | None]                # None: a new random id
    models: list[str]
    memory_types: list[str]
    payloads: list[dict]
    importance: np.ndarray               # raw, float64
    coordinates: list[list[float] | None]
    created_at: list[float | None]       # None: now (or, on a replace, the stored time)
    texts: list[str | None]

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, keep: Sequence[int]) -> "Batch":
        pick = lambda col: [col[i] for i in keep]  # noqa: E731
        return Batch(self.vectors[list(keep)], pick(self.ids), pick(self.models), pick(self.memory_types),
                     pick(self.payloads), self.importance[list(keep)], pick(self.coordinates),
                     pick(self.created_at), pick(self.texts))

    @classmethod
    def of(cls, items: Sequence["NewMemory"]) -> "Batch":
        return cls(vectors=np.stack([np.asarray(it.vector, np.float32) for it in items]) if items
                   else np.empty((0, 0), np.float32),
                   ids=[it.id for it in items], models=[it.model for it in items],
                   memory_types=[it.memory_type for it in items], payloads=[it.payload for it in items],
                   importance=np.asarray([float(it.importance) for it in items], dtype=np.float64),
                   coordinates=[it.coordinate for it in items], created_at=[it.created_at for it in items],
                   texts=[it.text for it in items])


class NamespaceIndex:
    """One namespace: its engine, importance normaliser and recall catalog."""

    def __init__(self, engine, normaliser):
        self.engine = engine
        self.normaliser = normaliser
        self.catalog: dict[str, Meta] = {}


class MemoryService:
    def __init__(self, settings: Settings, store: Store, embedder,
                 engine_factory: Callable[[], object], normaliser_factory: Callable[[], object]):
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self._engine_factory = engine_factory
        self._normaliser_factory = normaliser_factory
        self._indexes: dict[str, NamespaceIndex] = {}
        self._write_lock = threading.RLock()
        self._own_events: OrderedDict[str, None] = OrderedDict()  # applied locally already
        self._last_seq = 0
        self._loaded = False
        self._stop = threading.Event()
        self._follower: threading.Thread | None = None
        self.follow_errors = 0
        self._access: dict[tuple[str, str], list] = {}  # (namespace, id) -> [reads, last read]
        self._access_lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self._loader: threading.Thread | None = None
        self.load_progress = (0, None)  # (rows loaded, rows to load; None before the count)
        self.load_error: str | None = None
        self.load_seconds: float | None = None
        self.load_started: float | None = None  # time.monotonic() of the current load

    # -- lifecycle --------------------------------------------------------------------
    def start(self, follow: bool = True, *, background: bool = False,
              prepare: Callable[[], object] | None = None) -> None:
        """Check the schema, load the index, start following other writers.

        background=True returns at once and loads on a thread (the server answers /readyz
        503 with the progress meanwhile); `prepare` runs first on that thread (compiling
        the kernels). A database outage during the load is retried every second."""
        self.store.check_migrated()
        if not background:
            if prepare is not None:
                prepare()
            self.load()
            self._start_followers(follow)
            return
        self._loader = threading.Thread(target=self._load_in_background, args=(follow, prepare),
                                        name="memory-load", daemon=True)
        self._loader.start()

    def _load_in_background(self, follow: bool, prepare) -> None:
        if prepare is not None:
            try:
                prepare()
            except Exception as exc:  # the kernels did not compile: never ready, and /readyz says why
                self.load_error = f"{type(exc).__name__}: {exc}"
                log.exception("preparing the engine failed; the index is not loaded")
                return
        while not self._stop.is_set():
            try:
                self.load()
                break
            except StoreUnavailable as exc:
                self.load_error = str(exc)
                log.warning("index load failed, retrying in 1 s: %s", exc)
                self._stop.wait(1.0)
            except Exception as exc:  # a bug or a bad row: logged, retried slowly, never ready
                self.load_error = f"{type(exc).__name__}: {exc}"
                log.exception("index load failed, retrying in 10 s")
                self._stop.wait(10.0)
        if self._loaded:
            self._start_followers(follow)

    def _start_followers(self, follow: bool) -> None:
        if follow:
            self._follower = threading.Thread(target=self._follow_loop, name="memory-follower",
                                              daemon=True)
            self._follower.start()
            if self.settings.access_flush_s > 0:
                self._flusher = threading.Thread(target=self._flush_loop, name="memory-access",
                                                 daemon=True)
                self._flusher.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in (self._loader, self._follower, self._flusher):
            if thread is not None:
                thread.join(timeout=5)
        try:
            self.flush_access()
        except StoreUnavailable:
            log.warning("access counts of %d memories not written: the database is unreachable",
                        len(self._access))

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self, chunk_rows: int | None = None) -> int:
        """(Re)build every namespace's index from the store, in columnar chunks from one
        snapshot (store/load.py): arrays straight into the engine, the normaliser fed a chunk
        at a time, one re-sort by weight per namespace at the end."""
        t0 = time.perf_counter()
        with self._write_lock:
            self.load_started = time.monotonic()
            self._loaded = False
            self._indexes.clear()
            self.load_progress = (0, None)
            with self.store.index_snapshot(self.settings.dim, chunk_rows or self.settings.load_chunk_rows) as snap:
                self._last_seq = snap.seq  # the snapshot's own: later changes get replayed
                for ns, mid, dim in snap.skipped_rows:
                    log.error("memory %s/%s has dim %d, service dim is %d: not indexed",
                              ns, mid, dim, self.settings.dim)
                if snap.skipped > len(snap.skipped_rows):
                    log.error("%d more memories of another dim than %d: not indexed",
                              snap.skipped - len(snap.skipped_rows), self.settings.dim)
                self.load_progress = (0, snap.total)
                for ns, rows in snap.by_namespace.items():
                    self._index(ns).engine.reserve(rows)
                n = 0
                for chunk in snap.chunks:
                    if self._stop.is_set():
                        return n
                    for ns, part in chunk.by_namespace():
                        idx = self._index(ns)
                        idx.normaliser.observe_many(part.importance)
                        self._apply_chunk(idx, part)
                    n += len(chunk)
                    self.load_progress = (n, snap.total)
            for idx in self._indexes.values():
                idx.engine.reorganize()
            self._loaded = True
            self.load_error = None
            self.load_seconds = time.perf_counter() - t0
            log.info("index loaded: %d memories in %d namespaces in %.1f s, change log at %d",
                     n, len(self._indexes), self.load_seconds, self._last_seq)
            return n

    def _apply_chunk(self, idx: NamespaceIndex, part) -> None:
        """Rows of one namespace as arrays into its engine (no hot-tier eviction bookkeeping
        beyond the catalog: a load writes no events)."""
        norms = np.where(np.isnan(part.importance_norm), 1.0, part.importance_norm)
        result = idx.engine.add(part.ids, part.vectors, importance=part.importance, importance_norm=norms,
                                created=part.created_at, kinds=[KIND[t] for t in part.memory_type],
                                reorganize=False)
        idx.catalog.update(zip(part.ids, map(Meta, part.memory_type, part.payload, part.created_at.tolist(),
                                             part.text)))
        for gone in getattr(result, "evicted", ()):
            idx.catalog.pop(gone, None)

    def _index(self, namespace: str) -> NamespaceIndex:
        idx = self._indexes.get(namespace)
        if idx is None:
            idx = self._indexes[namespace] = NamespaceIndex(self._engine_factory(),
                                                            self._normaliser_factory())
        return idx

    def _apply_rows(self, idx: NamespaceIndex, rows: Sequence[MemoryRow]) -> list[str]:
        """Put rows into the engine; returns ids the hot-tier budget evicted (the store keeps them)."""
        if not rows:
            return []
        result = idx.engine.add(
            [r.id for r in rows], np.stack([r.vector for r in rows]),
            importance=[r.importance for r in rows],
            importance_norm=[r.importance_norm if r.importance_norm is not None else 1.0 for r in rows],
            created=[r.created_at for r in rows],
            kinds=[KIND[r.memory_type] for r in rows])
        idx.catalog.update((r.id, Meta(MemoryType(r.memory_type), r.payload, r.created_at, r.text)) for r in rows)
        evicted = list(getattr(result, "evicted", ()))
        for gone in evicted:
            idx.catalog.pop(gone, None)
        return evicted

    def _remove(self, idx: NamespaceIndex, ids: Sequence[str]) -> None:
        idx.engine.remove(list(ids))
        for i in ids:
            idx.catalog.pop(i, None)

    # -- access tracking --------------------------------------------------------------
    def _flush_loop(self) -> None:
        while not self._stop.wait(self.settings.access_flush_s):
            try:
                self.flush_access()
            except Exception:  # kept for the next round (flush_access puts them back)
                log.exception("writing access counts failed")

    def flush_access(self) -> int:
        """Write the reads counted since the last flush, all in one transaction."""
        with self._access_lock:
            pending, self._access = self._access, {}
        if not pending:
            return 0
        try:
            self.store.touch_many([(ns, mid, n, last) for (ns, mid), (n, last) in pending.items()])
        except Exception:
            with self._access_lock:  # merge back: reads counted meanwhile add to them
                for key, (n, last) in pending.items():
                    now = self._access.setdefault(key, [0, last])
                    now[0] += n
                    now[1] = max(now[1], last)
            raise
        return len(pending)

    # -- following the change log -----------------------------------------------------
    def _follow_loop(self) -> None:
        while not self._stop.wait(self.settings.follow_interval_s):
            try:
                self.follow_once()
            except StoreUnavailable:
                self.follow_errors += 1
            except Exception:  # never let the follower die; the next round retries
                self.follow_errors += 1
                log.exception("follower round failed")

    def follow_once(self) -> int:
        """Apply changes committed by other processes since the last one seen."""
        changes = self.store.changes_since(self._last_seq)
        if not changes:
            return 0
        with self._write_lock:
            todo: dict[str, set[str]] = {}
            written: list[tuple[int, str]] = []  # (seq, namespace) of other writers' stores
            for seq, ns, mid, etype, event_id in changes:
                if event_id in self._own_events:  # this process applied it at commit
                    del self._own_events[event_id]
                    continue
                if etype in ("memory.created", "memory.updated", "memory.deleted"):
                    todo.setdefault(ns, set()).add(mid)
                if etype in ("memory.created", "memory.updated"):
                    written.append((seq, ns))
            self._observe_followed(written)
            for ns, ids in todo.items():
                rows = {r.id: r for r in self.store.get_many(ns, sorted(ids))}
                idx = self._index(ns)
                live = [r for r in rows.values() if r.dim == self.settings.dim]
                self._apply_rows(idx, live)
                self._remove(idx, [i for i in ids if i not in rows])
            self._last_seq = changes[-1][0]
        return len(changes)

    def _observe_followed(self, written: list[tuple[int, str]]) -> None:
        """Feed each namespace's normaliser the raw importances another process stored, in
        commit order, as that process's own normaliser observed them: after following the
        log both hold the same state, so they normalise the same raw value alike."""
        if not written:
            return
        events = self.store.events_at([seq for seq, _ in written])
        for seq, ns in written:
            event = events.get(seq)
            if event is None:
                continue
            raw = cloudevents.parse(event)["data"].get("importance")
            if isinstance(raw, (int, float)) and math.isfinite(raw):
                self._index(ns).normaliser.observe(float(raw))

    # -- writes -----------------------------------------------------------------------
    def _event_data(self, row: MemoryRow) -> dict:
        # the whole row, vector included, so a replica fed only by events can rebuild the
        # index (memory/replica.py)
        return {"id": row.id, "namespace": row.namespace, "memory_type": row.memory_type,
                "importance": row.importance, "importance_norm": row.importance_norm,
                "coordinate": row.coordinate, "payload": row.payload, "model": row.model,
                "dim": row.dim, "created_at": row.created_at, "text": row.text,
                "vector_b64": base64.b64encode(np.ascontiguousarray(row.vector, dtype="<f4").tobytes()).decode()}

    @staticmethod
    def _event_json(namespace: str, b: Batch, ids: list[str], norms: list[float],
                    created: list[float]) -> list[str]:
        """Each memory's event data as JSON text, _event_data's keys in its order. The
        vectors are base64-encoded as one block (each row's text is a slice of it when a row
        is a whole number of 3-byte groups) and spliced in: base64 needs no JSON escaping.
        Raises RequestInvalid for a value JSON cannot carry, before anything commits."""
        n, dim = b.vectors.shape
        block = np.ascontiguousarray(b.vectors, dtype="<f4").tobytes()
        width = dim * 4
        if width % 3 == 0:
            text, step = base64.b64encode(block).decode(), width // 3 * 4
            b64 = [text[i:i + step] for i in range(0, n * step, step)]
        else:
            b64 = [base64.b64encode(block[i:i + width]).decode() for i in range(0, n * width, width)]
        encode = cloudevents.encode
        try:
            return [encode({"id": mid, "namespace": namespace, "memory_type": mt, "importance": imp,
                            "importance_norm": nrm, "coordinate": coord, "payload": payload, "model": model,
                            "dim": dim, "created_at": made, "text": text})[:-1] + f',"vector_b64":"{vec}"}}'
                    for mid, mt, imp, nrm, coord, payload, model, made, text, vec in zip(
                        ids, b.memory_types, b.importance.tolist(), norms, b.coordinates, b.payloads,
                        b.models, created, b.texts, b64)]
        except ValueError:
            raise RequestInvalid("a memory holds NaN or Infinity, which JSON cannot carry") from None

    def write(self, namespace: str, items: Sequence[NewMemory], *, upsert: bool) -> list[tuple[MemoryRow, bool]]:
        """Store items in one transaction. Returns (row, created) per item, in order (a
        repeated id of an upsert once, at its later item). See write_batch."""
        if not items:
            return []
        kept, ids, created, norms, made, now = self._write(namespace, Batch.of(items), upsert=upsert)
        return [(MemoryRow(namespace=namespace, id=mid, memory_type=kept.memory_types[i],
                           vector=kept.vectors[i], model=kept.models[i],
                           importance=float(kept.importance[i]), importance_norm=norms[i],
                           payload=kept.payloads[i], created_at=made[i], updated_at=now,
                           coordinate=kept.coordinates[i], text=kept.texts[i]), fresh)
                for i, (mid, fresh) in enumerate(zip(ids, created))]

    def write_batch(self, namespace: str, batch: Batch, *, upsert: bool = True) -> tuple[list[str], list[bool]]:
        """write() of a columnar batch: (ids, created) in order, without building a row
        object per memory. The bulk path."""
        if not len(batch):
            return [], []
        _, ids, created, _, _, _ = self._write(namespace, batch, upsert=upsert)
        return ids, created

    def _write(self, namespace: str, batch: Batch, *, upsert: bool):
        """Store a batch in one transaction: memory rows and one event per memory.

        upsert=False refuses ids that hold a live memory (Conflict), as POST must.
        Everything that can refuse the request is checked before the transaction opens, and
        the importance normaliser runs on a copy that replaces the namespace's own only after
        the commit: a refused write leaves rows, outbox, index and normaliser as they were.
        Work per memory is array operations and C-level loops (executemany or COPY, one
        encode per event); see docs/benchmarks.md for where the time goes.
        """
        given = [i for i in batch.ids if i]
        if len(given) != len(set(given)):
            if not upsert:
                raise RequestInvalid("duplicate id in the request")
            # an upsert of one id twice stores the later item, as two PUTs in order would
            last = {mid: n for n, mid in enumerate(batch.ids) if mid}
            batch = batch.take([n for n, mid in enumerate(batch.ids) if not mid or last[mid] == n])
        # the engine's own vector check, before anything commits
        normalise_batch(batch.vectors, self.settings.dim)
        n = len(batch)
        missing = sum(1 for mid in batch.ids if not mid)
        drawn = os.urandom(16 * missing).hex()  # 128 random bits per new id, as uuid4().hex
        fresh = iter(drawn[i:i + 32] for i in range(0, 32 * missing, 32))
        ids = [mid if mid else next(fresh) for mid in batch.ids]
        raw = batch.importance
        checks.floats("importance", raw, n)
        now = time.time()
        given_made = [now if c is None else c for c in batch.created_at]
        with self._write_lock:
            current = self._indexes.get(namespace)
            normaliser = copy.deepcopy(current.normaliser) if current else self._normaliser_factory()
            # a batch is one insert event (monotonic across the batch)
            norms_arr = normaliser.normalise_many(raw)
            checks.floats("importance_norm", norms_arr, n, lo=0.0, hi=1.0)
            norms = norms_arr.tolist()
            with self.store.transaction() as tx:
                found = tx.existing_created(namespace, ids)
                if not upsert:
                    taken = [mid for mid in ids if found.get(mid, (False,))[0]]
                    if taken:
                        raise Conflict(f"memory {taken[0]!r} already exists; PUT replaces it")
                # a replace keeps its creation time unless given
                made = [found[mid][1] if c is None and found.get(mid, (False,))[0] else g
                        for mid, c, g in zip(ids, batch.created_at, given_made)]
                # an event JSON cannot carry refuses the write here: the transaction rolls back
                data = self._event_json(namespace, batch, ids, norms, made)
                rows = dict(namespace=namespace, ids=ids, vectors=batch.vectors, models=batch.models,
                            memory_types=batch.memory_types, importance=raw.tolist(), norms=norms,
                            coordinates=batch.coordinates, payloads=batch.payloads, created=made,
                            now=now, texts=batch.texts)
                replaced = [mid in found for mid in ids]
                tx.write_memories(rows, replaced)
                live = [found.get(mid, (False,))[0] for mid in ids]
                events = cloudevents.build_many(["memory.updated" if old else "memory.created" for old in live],
                                                namespace, ids, data, time=now)
                tx.add_events(events)
            self._remember_own(e["event_id"] for e in events)
            idx = self._index(namespace)
            idx.normaliser = normaliser
            evicted = self._apply_batch(idx, ids, batch, norms_arr, made)
            if evicted:
                self._record_evicted(namespace, evicted)
        return batch, ids, [not old for old in live], norms, made, now

    def _apply_batch(self, idx: NamespaceIndex, ids: list[str], b: Batch, norms: np.ndarray,
                     made: list[float]) -> list[str]:
        """_apply_rows for a batch: one engine.add of the whole vector block."""
        result = idx.engine.add(ids, b.vectors, importance=b.importance, importance_norm=norms,
                                created=made, kinds=np.fromiter(map(KIND.__getitem__, b.memory_types),
                                                                np.int32, count=len(ids)))
        idx.catalog.update(zip(ids, map(Meta, b.memory_types, b.payloads, made, b.texts)))
        evicted = list(getattr(result, "evicted", ()))
        for gone in evicted:
            idx.catalog.pop(gone, None)
        return evicted

    # -- request items (validated by the HTTP layer's models, memory.api.schemas) -------
    def save(self, namespace: str, items: Sequence, *, upsert: bool) -> list[tuple[MemoryRow, bool]]:
        """Store request items (MemoryIn): their vectors decoded and checked, or embedded from
        their text (memory/intake.py), then write()."""
        vectors, models = intake.vectors(items, self.settings, self.embedder)
        return self.write(namespace, [
            NewMemory(vector=vectors[i], model=models[i], memory_type=MemoryType(it.memory_type),
                      payload=it.payload, importance=it.importance, coordinate=it.coordinate, id=it.id,
                      created_at=None if it.created_at is None else float(it.created_at), text=it.text)
            for i, it in enumerate(items)], upsert=upsert)

    def save_bulk(self, namespace: str, items: Sequence) -> list[tuple[MemoryRow, bool]]:
        """A bulk request: at most BULK_MAX_ITEMS items, all or nothing, upserted."""
        intake.at_most(items, self.settings.bulk_max_items, "a bulk request", "items")
        return self.save(namespace, items, upsert=True)

    def recall_request(self, namespace: str, request) -> list[tuple[object, Meta, dict]]:
        """One recall (RecallIn: a text and/or vector and the recall options): its hits."""
        [hits] = self._recall_items(namespace, [request], request)
        return hits

    def recall_batch_request(self, namespace: str, request) -> list[list[tuple[object, Meta, dict]]]:
        """A batch (BatchRecallIn: queries and one set of options), at most BATCH_MAX_QUERIES."""
        intake.at_most(request.queries, self.settings.batch_max_queries, "a batch", "queries")
        return self._recall_items(namespace, request.queries, request)

    def _recall_items(self, namespace: str, queries: Sequence, options) -> list[list[tuple[object, Meta, dict]]]:
        mode = options.mode
        if mode != "vector" and any(q.text is None for q in queries):
            raise RequestInvalid(f"mode '{mode}' searches text: every query needs 'text'")
        vectors, _ = intake.vectors(queries, self.settings, self.embedder)
        payload_filter, created_range = None, None
        if options.filters is not None:
            payload_filter = options.filters.payload or None
            window = options.filters.created_at
            if window is not None:
                created_range = tuple(None if t is None else float(t) for t in (window.gte, window.lte))
                gte, lte = created_range
                if gte is not None and lte is not None and gte > lte:
                    return [[] for _ in queries]  # an empty range matches nothing (not an error)
        return self.recall_modes(namespace, vectors, [q.text for q in queries], options.k, mode=mode,
                                 memory_type=options.memory_type, payload_filter=payload_filter,
                                 created_range=created_range, exact=options.exact)

    def score_formula(self, mode: str) -> str:
        """How a hit's score is made in this mode (recall's `explain`)."""
        rank_part = "max(0, cos)" if mode == "vector" else f"sum(1/({self.RRF_K} + rank))"
        return f"{rank_part} * importance_norm^alpha * 2^(-age/half_life)"

    def _record_evicted(self, namespace: str, ids: Sequence[str]) -> None:
        """memory.evicted events: the rows left this process's hot tier but stay stored."""
        now = time.time()
        events = [cloudevents.build("memory.evicted", namespace, i, {"id": i}, time=now) for i in ids]
        try:
            with self.store.transaction() as tx:
                tx.add_events(events)
            self._remember_own(e["event_id"] for e in events)
        except StoreUnavailable:  # the write itself committed; an eviction notice is best effort
            log.warning("could not record %d eviction event(s)", len(events))

    def _remember_own(self, event_ids) -> None:
        for e in event_ids:
            self._own_events[e] = None
        while len(self._own_events) > 100_000:
            self._own_events.popitem(last=False)

    def delete(self, namespace: str, memory_id: str) -> bool:
        """Tombstone one memory. False (and no event) when it is absent or already deleted."""
        return self._delete(namespace, lambda tx: [memory_id] if tx.existing(namespace, [memory_id]).get(memory_id) else []) > 0

    def delete_scoped(self, namespace: str, memory_type: MemoryType | None) -> int:
        return self._delete(namespace, lambda tx: tx.live_ids(namespace, memory_type))

    def _delete(self, namespace: str, select) -> int:
        now = time.time()
        with self._write_lock:
            with self.store.transaction() as tx:
                ids = select(tx)
                if not ids:
                    return 0
                tx.tombstone(namespace, ids, now)
                tx.add_events([cloudevents.build("memory.deleted", namespace, i, {"id": i}, time=now)
                               for i in ids])
            self._remove(self._index(namespace), ids)
        return len(ids)

    def link(self, namespace: str, from_id: str, to_id: str, link_type: str, weight: float) -> LinkRow:
        now = time.time()
        link = LinkRow(from_id=from_id, to_id=to_id, type=link_type, weight=weight, created_at=now)
        with self._write_lock, self.store.transaction() as tx:
            live = tx.existing(namespace, [from_id, to_id])
            for mid in (from_id, to_id):
                if not live.get(mid):
                    raise NotFound(f"memory {mid!r} not found")
            tx.upsert_link(namespace, link)
            tx.add_events([cloudevents.build("memory.linked", namespace, from_id,
                                             dataclasses.asdict(link), time=now)])
        return link

    # -- reads ------------------------------------------------------------------------
    def get(self, namespace: str, memory_id: str, *, touch: bool = True) -> MemoryRow:
        row = self.store.get(namespace, memory_id)
        if row is None:
            raise NotFound(f"memory {memory_id!r} not found")
        if touch:
            now = time.time()
            if self.settings.access_flush_s > 0:
                # counted here, written by flush_access in one transaction for many reads
                with self._access_lock:
                    pending = self._access.setdefault((namespace, memory_id), [0, now])
                    pending[0] += 1
                    pending[1] = now
                    row.access_count += pending[0]
            row.last_access = now
            idx = self._indexes.get(namespace)
            if idx is not None and memory_id in idx.engine:
                idx.engine.touch([memory_id], now=now)
        return row

    LIST_SCAN = 2000  # rows one list request reads at most while a payload filter skips rows

    def list(self, namespace: str, limit: int, *, cursor: tuple[float, str] | None = None,
             memory_type: MemoryType | None = None, created_range: tuple | None = None,
             payload_filter: dict | None = None) -> tuple[list[MemoryRow], tuple[float, str] | None]:
        """A page of live memories, newest first, and the keyset position after it (None at
        the end). Type and time filter in SQL; payload equality is recall's rule (top-level
        keys, Python equality), applied while scanning at most LIST_SCAN rows: a page may
        then hold fewer than `limit` memories and still name a next cursor."""
        out: list[MemoryRow] = []
        scanned, position = 0, cursor
        while True:
            want = limit - len(out) if not payload_filter else min(max(limit * 2, 100), self.LIST_SCAN)
            rows = self.store.page(namespace, want + 1 if not payload_filter else want, before=position,
                                   memory_type=memory_type, created_range=created_range)
            if not payload_filter:
                more = len(rows) > want
                out.extend(rows[:want])
                return out, ((out[-1].created_at, out[-1].id) if more and out else None)
            for row in rows:
                scanned += 1
                position = (row.created_at, row.id)
                if all(row.payload.get(k, _MISSING) == v for k, v in payload_filter.items()):
                    out.append(row)
                    if len(out) == limit:
                        return out, position
            if len(rows) < want:
                return out, None
            if scanned >= self.LIST_SCAN:
                return out, position

    def links(self, namespace: str, memory_id: str, link_type: str | None) -> list[LinkRow]:
        if self.store.get(namespace, memory_id) is None:
            raise NotFound(f"memory {memory_id!r} not found")
        return self.store.links_of(namespace, memory_id, link_type)

    def path(self, namespace: str, src: str, dst: str, link_type: str | None) -> tuple[list[str], float] | None:
        """Weighted shortest path (Dijkstra over link weights, which must be >= 0)."""
        for mid in (src, dst):
            if self.store.get(namespace, mid) is None:
                raise NotFound(f"memory {mid!r} not found")
        links = self.store.all_links(namespace, link_type)
        return shortest_path(((x.from_id, x.to_id, x.weight) for x in links), src, dst)

    def recall(self, namespace: str, queries: np.ndarray, k: int, *, memory_type: MemoryType | None = None,
               payload_filter: dict | None = None, created_range: tuple | None = None,
               exact: bool = False) -> list[list[tuple[object, Meta]]]:
        """Top-k per query row: lists of (Hit, Meta)."""
        idx = self._indexes.get(namespace)
        if idx is None or len(idx.engine) == 0:
            return [[] for _ in range(len(queries))]
        allowed = None
        if payload_filter:
            allowed = [mid for mid, meta in list(idx.catalog.items())
                       if all(meta.payload.get(key, _MISSING) == val for key, val in payload_filter.items())]
            if not allowed:
                return [[] for _ in range(len(queries))]
        kinds = [MemoryType(memory_type).kind] if memory_type else None
        kw = dict(exact=exact, allowed_ids=allowed, kinds=kinds, created_range=created_range)
        if len(queries) == 1:
            hits = [idx.engine.search(queries[0], k, **kw)]
        else:
            hits = idx.engine.search_batch(queries, k, **kw)
        out = []
        for row in hits:
            res = []
            for h in row:
                meta = idx.catalog.get(h.id)
                if meta is not None:
                    res.append((h, meta))
            out.append(res)
        return out

    RRF_K = 60        # reciprocal rank fusion constant (Cormack et al. 2009; as Elasticsearch, Weaviate)
    FUSION_DEPTH = 50  # each list contributes at least this many candidates to a fusion

    def recall_modes(self, namespace: str, queries: np.ndarray, texts: Sequence[str | None], k: int, *,
                     mode: str, memory_type: MemoryType | None = None, payload_filter: dict | None = None,
                     created_range: tuple | None = None,
                     exact: bool = False) -> list[list[tuple[object, Meta, dict]]]:
        """Top-k per query as (Hit, Meta, lists), lists = {list name: 1-based rank}.

        vector: the engine's ranking, as recall(). keyword: the database's full-text index
        over the text. hybrid: both lists fused by reciprocal rank fusion, sum of
        1/(RRF_K + rank) over the lists that found a memory. For keyword and hybrid the
        score is that fused value times importance_norm^alpha times decay (the engine's
        parts for the memory and this query); similarity is reported as the engine's."""
        if mode == "vector":
            found = self.recall(namespace, queries, k, memory_type=memory_type, payload_filter=payload_filter,
                                created_range=created_range, exact=exact)
            return [[(h, m, {"vector": r}) for r, (h, m) in enumerate(row, 1)] for row in found]
        idx = self._indexes.get(namespace)
        if idx is None or len(idx.engine) == 0:
            return [[] for _ in range(len(queries))]
        depth = max(k, self.FUSION_DEPTH)
        out = []
        for q, text in zip(queries, texts):
            lists: dict[str, dict[str, int]] = {}
            if mode == "hybrid":
                [vec_hits] = self.recall(namespace, q[None, :], depth, memory_type=memory_type,
                                         payload_filter=payload_filter, created_range=created_range, exact=exact)
                lists["vector"] = {h.id: r for r, (h, _) in enumerate(vec_hits, 1)}
            ids = self.store.keyword(namespace, text or "", depth * 2 if payload_filter else depth,
                                     memory_type=memory_type, created_range=created_range)
            keep = [i for i in ids if i in idx.catalog and i in idx.engine and (
                not payload_filter or all(idx.catalog[i].payload.get(key, _MISSING) == val
                                          for key, val in payload_filter.items()))][:depth]
            lists["keyword"] = {i: r for r, i in enumerate(keep, 1)}
            union = sorted(set().union(*lists.values()))
            if not union:
                out.append([])
                continue
            parts = {h.id: h for h in idx.engine.search(q, len(union), exact=True, allowed_ids=union)}
            ranked = []
            for mid in union:
                part = parts.get(mid)
                if part is None:
                    continue
                found_in = {name: ranks[mid] for name, ranks in lists.items() if mid in ranks}
                fused = sum(1.0 / (self.RRF_K + r) for r in found_in.values())
                score = fused * part.importance ** self.settings.alpha * part.decay
                ranked.append((part._replace(score=score), idx.catalog[mid], found_in))
            ranked.sort(key=lambda t: (-t[0].score, t[0].id))
            out.append(ranked[:k])
        return out

    def stats(self, namespace: str) -> dict:
        counts = self.store.counts(namespace)
        idx = self._indexes.get(namespace)
        engine_stats = idx.engine.stats() if idx is not None else {}
        pending, oldest = self.store.outbox_lag(namespace)  # the tenant's own backlog only
        return {
            "namespace": namespace,
            "memories": sum(counts.values()),
            "by_type": {t.value: counts.get(t.value, 0) for t in MemoryType},
            "indexed": len(idx.engine) if idx is not None else 0,
            "dim": self.settings.dim,
            "embedding_model": self.embedder.model_id,
            "outbox_pending": pending,
            "outbox_oldest_age_s": (time.time() - oldest) if oldest else 0.0,
            "engine": _jsonable(engine_stats),
        }

    def engine_stats(self) -> dict[str, dict]:
        """Each namespace's engine.stats() (the metrics scrape reads the recall guard here)."""
        return {ns: idx.engine.stats() for ns, idx in list(self._indexes.items())}

    def index_sizes(self) -> dict[str, int]:
        return {ns: len(idx.engine) for ns, idx in list(self._indexes.items())}


_MISSING = object()


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)
