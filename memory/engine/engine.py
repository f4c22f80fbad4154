"""The engine: one namespace's hot memories, ranked by
score = max(0, q.v) * i**alpha * max(decay_floor, 2**(-(now - created)/half_life)).

Thread model: many readers (search, row, stats, retention_ranking) run concurrently; writers
(add, remove, touch) are exclusive. The engine takes its own RW lock; callers never lock.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import threading
import time
from collections.abc import Collection, Sequence

import numpy as np

from . import checks, jit, quant
from . import search as scan
from .ann import RecallGuard, make_adapter
from .config import EngineConfig
from .decay import TimeBase
from .errors import InvalidArgument, UnknownId
from .hottier import HotTier
from .importance import AdaptiveImportance
from .kernel import Kernel
from .labels import LabelMap
from .locking import RWLock
from .results import AddResult, Hit
from .retention import retention_scores
from .slab import Slab
from .vectors import normalise_batch, normalise_queries, normalise_query

GATHER_SHARE = 8  # an id filter smaller than rows/8 is answered by gathering those rows
BATCH_SPLIT_WORK = 1 << 18  # queries x rows below which a batch is not split over threads
CHECK_CHUNK_ROWS = 16_384  # a guard check holds the read lock for at most this many rows at a time


class Engine:
    def __init__(self, dim: int, config: EngineConfig | None = None) -> None:
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or dim < 1:
            raise InvalidArgument(f"dim must be a positive integer, got {dim!r}")
        self.dim = int(dim)
        self.config = cfg = config or EngineConfig()
        self._slab = Slab(self.dim, cfg.dtype, cfg.initial_capacity, cfg.block_rows, codes=cfg.quantized_scan)
        self._kernel = Kernel(self.dim, self._slab.dtype)
        self._importance = AdaptiveImportance(cfg.importance_reservoir, cfg.importance_recompute_every)
        self._time = TimeBase(cfg.half_life_s, cfg.decay_floor)
        self._hot = HotTier(cfg.hot_bytes, cfg.latency_window)
        self._lock = RWLock()
        self._metrics_lock = threading.Lock()
        self._dirty = 0
        self._reorganizations = 0
        self._searches = 0
        self._rows_scanned = 0
        self._rows_reranked = 0
        self._bytes_scanned = 0
        self._rows_total = 0
        self._labels = LabelMap()
        self._batch_threads = cfg.batch_threads or os.cpu_count() or 1
        self._batch_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._ann = None
        self._guard = None
        if cfg.ann is not None:
            # Fail at construction, not on the first big insert, if the backend is missing.
            self._ann = make_adapter(cfg.ann, self.dim, m=cfg.hnsw_m, ef_construction=cfg.hnsw_ef_construction,
                                     threads=cfg.threads)
            self._ann_built = False
            self._guard = RecallGuard(floor=cfg.recall_floor, sample=cfg.recall_sample, window=cfg.recall_window,
                                      candidates=cfg.ann_candidates, ef=cfg.ann_ef, max_widen=cfg.ann_max_widen,
                                      budget=cfg.recall_budget, confidence=cfg.recall_confidence,
                                      min_samples=cfg.recall_min_samples, probe_every=cfg.recall_probe_every)
        self._version = 0  # bumped by every write: a guard check spanning several lock holds sees it
        self._overhead: float | None = None  # EWMA of an ANN search's time outside the index call

    # ================================================================== writes
    def add(self, ids: Sequence[str], vectors, *, importance: Sequence[float] | None = None,
            created: Sequence[float] | None = None, importance_norm: Sequence[float] | None = None,
            kinds: Sequence[int] | None = None, extra_bytes: Sequence[int] | None = None,
            reorganize: bool = True) -> AddResult:
        """Insert or replace rows. The whole batch is validated first; on any error nothing changes.
        reorganize=False leaves the re-sort by weight to a later `reorganize()` (a load in
        chunks sorts once at the end instead of after every chunk)."""
        ids = checks.ids(ids)
        n = len(ids)
        vecs = normalise_batch(vectors, self.dim)
        if vecs.shape[0] != n:
            raise InvalidArgument(f"{n} ids but {vecs.shape[0]} vectors")
        raw = np.ones(n) if importance is None else checks.floats("importance", importance, n)
        norm_given = None if importance_norm is None else checks.floats("importance_norm", importance_norm, n, lo=0.0, hi=1.0)
        now = time.time()
        made = np.full(n, now) if created is None else checks.floats("created", created, n)
        kind = np.zeros(n, np.int32) if kinds is None else checks.ints("kinds", kinds, n, 2**31 - 1)
        extra = np.zeros(n, np.int64) if extra_bytes is None else checks.ints("extra_bytes", extra_bytes, n, 2**62)
        if n == 0:
            return AddResult(importance_norm=np.empty(0), evicted=[])
        with self._lock.write():
            self._version += 1
            # A batch is one insert event (see AdaptiveImportance.normalise_many). Stored
            # normalised values are kept as given; their raw values, when known, still feed
            # the normaliser so later inserts are mapped against the same history.
            if norm_given is None:
                norms = self._importance.normalise_many(raw)
            else:
                norms = norm_given
                if importance is not None:
                    self._importance.observe_many(raw)
            s = self._slab
            known = s.id_to_row.keys() & ids  # replaced rows, found as one set operation
            old = np.fromiter(map(s.id_to_row.__getitem__, known), np.int64, count=len(known))
            if old.size:
                self._release(old)
            rows = s.take_rows(n)
            s.vec[rows] = vecs
            s.set_codes(rows)
            s.row_id[rows] = np.asarray(ids, dtype=object)
            s.id_to_row.update(zip(ids, rows.tolist()))
            s.live[rows] = True
            s.imp_raw[rows] = raw
            s.imp_norm[rows] = norms
            s.imp_alpha[rows] = norms ** self.config.alpha
            s.created[rows] = made
            s.last_access[rows] = made
            s.access_count[rows] = 0
            s.kind[rows] = kind
            s.extra_bytes[rows] = extra
            s.held += int(s.row_bytes(rows).sum())
            self._place_in_time(rows)
            self._assign_labels(rows, vecs)
            self._hot.record_added(ids)
            self._dirty += n
            evicted = self._enforce_budget(now)
            if reorganize:
                self._maybe_reorganize()
            return AddResult(importance_norm=norms.copy(), evicted=evicted)

    def reserve(self, rows: int) -> None:
        """Make room for `rows` rows in total at once (a load that knows its size grows the
        arrays once instead of doubling them, with a copy, log2(n) times)."""
        with self._lock.write():
            self._slab._grow(int(rows))

    def reorganize(self) -> None:
        """Re-sort rows by weight now if enough rows changed since the last time."""
        with self._lock.write():
            self._maybe_reorganize()

    def remove(self, ids: Sequence[str]) -> int:
        """Remove ids; unknown ids are ignored. Returns how many rows were removed."""
        ids = checks.ids(ids, unique=False)
        with self._lock.write():
            self._version += 1
            rows = np.fromiter({self._slab.id_to_row[i] for i in ids if i in self._slab.id_to_row}, np.int64)
            self._hot.record_removed(ids)
            if rows.size:
                self._release(rows)
                self._dirty += rows.size
                self._maybe_reorganize()
            return int(rows.size)

    def touch(self, ids: Sequence[str], now: float | None = None) -> int:
        """Record an access (last access time, access count). Returns how many ids were resident."""
        ids = checks.ids(ids, unique=False)
        now = checks.when(now)
        with self._lock.write():
            s = self._slab
            rows = []
            for i in ids:
                r = s.id_to_row.get(i)
                if r is not None:
                    rows.append(r)
                    self._hot.lookup(True)
                elif i in self._hot.evicted:
                    self._hot.lookup(False)
            if rows:
                rr = np.asarray(rows, np.int64)
                np.add.at(s.access_count, rr, 1)
                s.last_access[rr] = np.maximum(s.last_access[rr], now)
            return len(rows)

    # -------------------------------------------------------------- write helpers
    def _place_in_time(self, rows: np.ndarray) -> None:
        """Set the ranking weight of new rows, rebasing every row when the time base drifts."""
        s, tb = self._slab, self._time
        if tb.needs_rebase(s.created[rows]):
            live = np.flatnonzero(s.live[: s.top])
            tb.rebase(float(s.created[rows].max()))
            s.tw[live] = tb.time_factor(s.created[live])
            s.w[live] = (s.imp_alpha[live] * s.tw[live]).astype(np.float32)
            s.rebuild_bounds()
        else:
            s.tw[rows] = tb.time_factor(s.created[rows])
            s.w[rows] = (s.imp_alpha[rows] * s.tw[rows]).astype(np.float32)
            s.raise_bounds(rows)

    def _assign_labels(self, rows: np.ndarray, vecs: np.ndarray) -> None:
        if self._ann is None:
            return  # labels only exist for an index; without one rows keep label -1
        labels = self._labels.assign(rows)
        self._slab.label[rows] = labels
        if self._ann_built:
            self._ann.add(labels, vecs)
        elif len(self._slab) >= self.config.ann_min_rows:
            self._build_ann()

    def _build_ann(self) -> None:
        s = self._slab
        live = np.flatnonzero(s.live[: s.top])
        for lo in range(0, live.size, 65536):  # bounded float32 copies for a float16 slab
            part = live[lo: lo + 65536]
            self._ann.add(s.label[part], s.vec[part].astype(np.float32))
        self._ann_built = True

    def build_index(self) -> None:
        """Build the ANN index now instead of when the engine first reaches ann_min_rows."""
        if self._ann is None:
            raise InvalidArgument("no ANN backend configured (EngineConfig.ann)")
        with self._lock.write():
            if not self._ann_built:
                self._build_ann()

    def _release(self, rows: np.ndarray) -> None:
        labels = self._slab.label[rows]
        labels = labels[labels >= 0]
        self._labels.forget(labels)
        if self._ann is not None and self._ann_built and labels.size:
            self._ann.remove(labels)
        self._slab.release(rows)

    def _maybe_reorganize(self) -> None:
        s = self._slab
        if not self.config.pruning or s.top <= s.block_rows:
            return
        if self._dirty >= max(s.block_rows, self.config.reorganize_share * len(s)):
            s.reorganize()
            if self._ann is not None:
                self._labels.moved(s.label[: s.top], np.arange(s.top))
            self._dirty = 0
            self._reorganizations += 1

    def _enforce_budget(self, now: float) -> list[str]:
        # O(1) within the budget (a running byte count): no per-insert scan of every row,
        # the upstream pruner's defect (reference §8.21); ranking by retention only to evict.
        s = self._slab
        excess = self._hot.over_budget(s.held)
        if not excess:
            return []
        live = np.flatnonzero(s.live[: s.top])
        r = self._retention(live, now)
        order = live[np.argsort(r, kind="stable")]
        cum = np.cumsum(s.row_bytes(order))
        cut = int(np.searchsorted(cum, excess) + 1)
        victims = order[:cut]
        ids = s.row_id[victims].tolist()
        self._release(victims)
        self._hot.record_evicted(ids)
        self._dirty += victims.size
        return ids

    def _retention(self, rows: np.ndarray, now: float) -> np.ndarray:
        s, c = self._slab, self.config
        return retention_scores(imp_alpha=s.imp_alpha[rows], last_access=s.last_access[rows],
                                access_count=s.access_count[rows], row_bytes=s.row_bytes(rows), now=now,
                                g1=c.gamma1, g2=c.gamma2, g3=c.gamma3, g4=c.gamma4,
                                tau_r=c.retention_half_life_s, cost_unit=c.cost_unit_bytes)

    # ================================================================== reads
    def search(self, query, k: int, *, now: float | None = None, exact: bool = False,
               allowed_ids: Collection[str] | None = None, kinds: Collection[int] | None = None,
               created_range: tuple[float | None, float | None] | None = None) -> list[Hit]:
        """The k best rows by the full score, best first. Filters and `exact=True` take the
        exact path; otherwise a built ANN index answers under the recall guard."""
        t0 = time.perf_counter()
        q = normalise_query(query, self.dim)
        k, now, allowed_ids, kinds, created_range = self._checked(k, now, allowed_ids, kinds, created_range)
        g = self._guard
        index_s = None
        with self._lock.read():
            filtered = allowed_ids is not None or kinds is not None or created_range is not None
            parts = None
            scanned = reranked = 0
            used_codes = False
            top = self._slab.top
            # the ANN path needs no scan plan: its candidates are scored where they come back
            if self._use_ann(exact, filtered) and not (self.config.ann_prefer_faster and g.use_exact_for_speed()):
                parts, index_s = self._ann_search(q, k, now)
            if parts is None:
                t1 = time.perf_counter()
                plan, gather = self._plan(now, allowed_ids, kinds, created_range)
                if gather is not None:
                    rows, _, scanned = scan.topk_rows(self._kernel, self._slab.vec, q, k, gather, plan.weights)
                    parts = self._parts(rows, q, now)
                    reranked = scanned
                else:
                    parts, scanned, reranked = self._exact(q, k, plan, now)
                    used_codes = self._slab.has_codes
                if g is not None and g.fallback and not exact and not filtered and g.after_exact(
                        time.perf_counter() - t1):
                    self._queue_check(q, k, now, None, None, self._slab.row_id[parts[0]].tolist())
            hits = self._make_hits(parts)
        self._count(time.perf_counter() - t0, scanned, reranked, top, codes=used_codes, index_s=index_s)
        return hits

    def search_batch(self, queries, k: int, *, now: float | None = None, exact: bool = False,
                     allowed_ids: Collection[str] | None = None, kinds: Collection[int] | None = None,
                     created_range: tuple[float | None, float | None] | None = None,
                     threads: int | None = None) -> list[list[Hit]]:
        """Top-k for every query row, exactly, through one matrix-matrix product per block;
        a large batch is split over `threads` (default `batch_threads`) threads."""
        qs = normalise_queries(queries, self.dim)
        k, now, allowed_ids, kinds, created_range = self._checked(k, now, allowed_ids, kinds, created_range)
        t0 = time.perf_counter()
        with self._lock.read():
            plan, _ = self._plan(now, allowed_ids, kinds, created_range, gather_ok=False)
            if qs.shape[0] == 0:
                return []
            want = self._batch_threads if threads is None else max(1, int(threads))
            parts = want if qs.shape[0] * plan.top >= BATCH_SPLIT_WORK else 1
            rows, _, scanned = scan.topk_batch(self._kernel, self._slab.vec, qs, k, plan,
                                               pool=self._pool() if parts > 1 else None, parts=parts)
            out = [self._hits(r[r >= 0], q, now) for r, q in zip(rows, qs)]
        # one read of each scanned block serves every query of the batch
        self._count(time.perf_counter() - t0, scanned, scanned, plan.top, queries=qs.shape[0])
        return out

    @staticmethod
    def _checked(k, now, allowed_ids, kinds, created_range):
        """A search's k, time and filters, checked before the lock: k, now, a set of ids, an
        array of kinds, (start, end)."""
        if type(k) is int and k >= 1 and allowed_ids is None and kinds is None and created_range is None:
            # the common query, without the general checks' array round trip
            if now is None:
                return k, time.time(), None, None, None
            if type(now) is float and math.isfinite(now):
                return k, now, None, None, None
        return (checks.top_k(k), checks.when(now),
                None if allowed_ids is None else checks.id_filter(allowed_ids),
                None if kinds is None else checks.kind_set(kinds),
                None if created_range is None else checks.time_range(created_range))

    def _plan(self, now, allowed_ids, kinds, created_range, gather_ok: bool = True):
        """Weights, block bounds and the eligibility mask of one scan; filters already checked."""
        s, tb = self._slab, self._time
        top = s.top
        nb = s.nblocks
        if tb.active and tb.floor > 0 and tb.t_ref is not None:
            g = tb.query_factor(now)
            ia = s.imp_alpha[:top]
            weights = (ia * np.maximum(tb.floor, s.tw[:top] * g)).astype(np.float32)
            bounds = np.maximum(s.block_wmax[:nb] * np.float32(g), s.block_imax[:nb] * np.float32(tb.floor))
        else:
            weights, bounds = s.w[:top], s.block_wmax[:nb]
        mask = None if len(s) == top else s.live[:top]
        gather = None
        if allowed_ids is not None:
            rows = np.fromiter({s.id_to_row[i] for i in allowed_ids if i in s.id_to_row}, np.int64)
            if gather_ok and rows.size * GATHER_SHARE <= top and kinds is None and created_range is None:
                gather = np.sort(rows)
            m = np.zeros(top, bool)
            m[rows] = True
            mask = m if mask is None else (mask & m)
        if kinds is not None:
            m = np.isin(s.kind[:top], kinds)
            mask = m if mask is None else (mask & m)
        if created_range is not None:
            lo, hi = created_range
            c = s.created[:top]
            m = (c >= lo) & (c <= hi)
            mask = m if mask is None else (mask & m)
        plan = scan.ScanPlan(top=top, block_rows=s.block_rows, bounds=bounds, weights=weights, mask=mask,
                             prune=self.config.pruning)
        return plan, gather

    def _use_ann(self, exact: bool, filtered: bool) -> bool:
        return (self._ann is not None and not exact and not filtered and self._ann_built
                and len(self._slab) >= self.config.ann_min_rows and not self._guard.fallback)

    def _ann_query(self, q: np.ndarray, k: int, now: float, level: int):
        """ANN candidates at a widening level, re-ranked by the full score: (the score parts,
        or None when too few live candidates came back and the exact path must answer;
        seconds spent in the index call)."""
        g = self._guard
        t0 = time.perf_counter()
        labels, sims = self._ann.query(q, g.candidates(k, level), g.ef(k, level))
        index_s = time.perf_counter() - t0
        s, tb = self._slab, self._time
        *parts, seen = jit.ann_topk(labels, sims, self._labels.to_row, s.live, k, s.imp_norm, s.created,
                                    float(self.config.alpha), float(tb.tau), float(tb.floor), float(now))
        return (None if parts[0].size < min(k, len(s)) else parts), index_s

    def _ann_search(self, q: np.ndarray, k: int, now: float):
        """(parts or None, seconds in the index call); a sampled query is handed to
        the guard's worker with its answer. Read lock held."""
        g = self._guard
        level = g.level
        t0 = time.perf_counter()
        parts, index_s = self._ann_query(q, k, now, level)
        if parts is None:
            return None, None
        if g.after_ann(time.perf_counter() - t0) is not None:
            self._queue_check(q, k, now, level, self._slab.row_id[parts[0]].tolist(), None)
        return parts, index_s

    def _queue_check(self, q, k: int, now: float, level: int | None, got_ids, ref_ids) -> None:
        """Hand a check to the guard's worker: recall of `got_ids` (served at `level`) against
        the exact answer (`ref_ids`, or computed there), plus the guard's probe levels."""
        self._guard.check(lambda: self._check(q, k, now, level, got_ids, ref_ids))

    def _check(self, q, k: int, now: float, level: int | None, got_ids, ref_ids) -> None:
        """The guard's check, on its worker thread; never holds the read lock for long."""
        g = self._guard
        if ref_ids is None:
            t0 = time.perf_counter()
            ref_ids = self._exact_ids_chunked(q, k, now)
            if ref_ids is None:
                g.dropped()
                return
            g.time_exact(time.perf_counter() - t0)
        ref = set(ref_ids)
        if got_ids is not None:
            g.record(level, len(ref & set(got_ids)) / max(1, len(ref)), k)
        for probe in g.probe_levels(level):
            with self._lock.read():
                parts = self._ann_query(q, k, now, probe)[0] if self._ann_built else None
                ids = None if parts is None else self._slab.row_id[parts[0]].tolist()
            if ids is not None:
                g.record(probe, len(ref & set(ids)) / max(1, len(ref)), k)

    def _exact_ids_chunked(self, q: np.ndarray, k: int, now: float) -> list[str] | None:
        """The exact top-k ids, scanned CHECK_CHUNK_ROWS rows per hold of the read lock, so a
        check never keeps a writer (and the readers queued behind it) waiting long. None when
        a write came in between (the rows moved; the check is dropped)."""
        with self._lock.read():
            version = self._version
            plan, _ = self._plan(now, None, None, None)
            los, his, bounds = scan.scan_order(plan)
        pieces = [(lo, min(lo + CHECK_CHUNK_ROWS, hi), b) for lo0, hi, b in zip(los.tolist(), his.tolist(),
                                                                               bounds.tolist())
                  for lo in range(lo0, hi, CHECK_CHUNK_ROWS)]
        heap_s = np.empty(k, dtype=np.float32)
        heap_r = np.empty(k, dtype=np.int64)
        size = 0
        use = plan.mask is not None
        mask = plan.mask if use else np.zeros(0, dtype=bool)
        start = 0
        while start < len(pieces):
            end, rows = start, 0
            while end < len(pieces) and (rows == 0 or rows + pieces[end][1] - pieces[end][0] <= CHECK_CHUNK_ROWS):
                rows += pieces[end][1] - pieces[end][0]
                end += 1
            part = pieces[start:end]
            lo_ = np.array([p[0] for p in part], np.int64)
            hi_ = np.array([p[1] for p in part], np.int64)
            b_ = np.array([p[2] for p in part], np.float32)
            with self._lock.read():
                if self._version != version:
                    return None
                s = self._slab
                if size == k and heap_s[0] >= b_[0]:
                    break
                if s.has_codes:
                    qc, q_scale, q_err, q_norm = quant.quantise_query(q)
                    size = quant.scan_ranges_q(s.codes.reshape(-1), s.code_scale, s.code_cnorm, s.code_err,
                                               self._kernel.flat(s.vec), q, qc, q_scale, q_err, q_norm, plan.weights,
                                               mask, use, lo_, hi_, b_, k, heap_s, heap_r, size)[0]
                else:
                    size = jit.scan_ranges(self._kernel.flat(s.vec), q, plan.weights, mask, use, lo_, hi_, b_, k,
                                           heap_s, heap_r, size)[0]
            start = end
        with self._lock.read():
            if self._version != version:
                return None
            return self._slab.row_id[heap_r[:size]].tolist()

    def drain(self) -> None:
        """Wait until the recall guard's queued exact checks are done (tests, benchmarks)."""
        if self._guard is not None:
            self._guard.drain()

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._pool_lock:
            if self._batch_pool is None:
                self._batch_pool = concurrent.futures.ThreadPoolExecutor(self._batch_threads,
                                                                         thread_name_prefix="search-batch")
            return self._batch_pool

    def close(self) -> None:
        """Stop the recall guard's worker and the batch threads (later calls start them again)."""
        if self._guard is not None:
            self._guard.close()
        with self._pool_lock:
            pool, self._batch_pool = self._batch_pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def _exact(self, q: np.ndarray, k: int, plan: scan.ScanPlan, now: float):
        """Pruned exact top-k with score parts, in one compiled call: (parts, rows scanned,
        rows read in full). With int8 codes only the rows that can still enter the top k
        are read in full (quant.py); the answer is the same."""
        s, tb = self._slab, self._time
        los, his, bounds = scan.scan_order(plan)
        use = plan.mask is not None
        mask = plan.mask if use else np.zeros(0, dtype=bool)
        flat = self._kernel.flat(s.vec)
        if s.has_codes:
            qc, q_scale, q_err, q_norm = quant.quantise_query(q)
            *parts, scanned, reranked = quant.exact_topk_q(
                s.codes.reshape(-1), s.code_scale, s.code_cnorm, s.code_err, flat, q, qc, q_scale, q_err, q_norm,
                plan.weights, mask, use, los, his, bounds, k, s.imp_norm, s.created, float(self.config.alpha),
                float(tb.tau), float(tb.floor), float(now))
            return parts, int(scanned), int(reranked)
        *parts, scanned = jit.exact_topk(flat, q, plan.weights, mask, use, los, his, bounds, k, s.imp_norm,
                                         s.created, float(self.config.alpha), float(tb.tau), float(tb.floor),
                                         float(now))
        return parts, int(scanned), int(scanned)

    def _parts(self, rows: np.ndarray, q: np.ndarray, now: float):
        """(rows, score, similarity, importance, decay) in float64, best first."""
        s, tb = self._slab, self._time
        return jit.hit_parts(rows.astype(np.int64), self._kernel.flat(s.vec), q.astype(np.float64), s.imp_norm,
                             s.created, float(self.config.alpha), float(tb.tau), float(tb.floor), float(now))

    def _make_hits(self, parts) -> list[Hit]:
        rows, score, sims, imp, dec = parts
        if rows.size == 0:
            return []
        return list(map(Hit._make, zip(self._slab.row_id[rows].tolist(), score.tolist(), sims.tolist(),
                                       imp.tolist(), dec.tolist())))

    def _hits(self, rows: np.ndarray, q: np.ndarray, now: float) -> list[Hit]:
        return self._make_hits(self._parts(rows, q, now))

    def _count(self, seconds: float, scanned: int, full: int, top: int, queries: int = 1,
               codes: bool = False, index_s: float | None = None) -> None:
        """Account a search, per query: rows scanned, and of those the rows read in full
        (all of them unless the int8 codes were scanned, which cost dim + 12 bytes a row)."""
        s = self._slab
        scanned_bytes = full * self.dim * s.dtype.itemsize + (scanned * (self.dim + 12) if codes else 0)
        with self._metrics_lock:
            self._searches += queries
            self._rows_scanned += scanned * queries
            self._rows_reranked += full * queries
            self._bytes_scanned += scanned_bytes * queries
            self._rows_total += top * queries
            self._hot.latency(seconds / queries)
            if index_s is not None:  # the engine's own cost around the index call
                o = seconds - index_s
                self._overhead = o if self._overhead is None else self._overhead + 0.02 * (o - self._overhead)

    # ------------------------------------------------------------------ accessors
    def __len__(self) -> int:
        return len(self._slab)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._slab.id_to_row

    def ids(self) -> list[str]:
        with self._lock.read():
            return list(self._slab.id_to_row)

    def row(self, id_: str) -> dict:
        with self._lock.read():
            s = self._slab
            r = s.id_to_row.get(id_)
            if r is None:
                if id_ in self._hot.evicted:
                    with self._metrics_lock:
                        self._hot.lookup(False)
                    raise UnknownId(f"id {id_!r} was evicted from the hot tier")
                raise UnknownId(f"unknown id {id_!r}")
            with self._metrics_lock:
                self._hot.lookup(True)
            return {"vector": s.vec[r].astype(np.float32), "importance": float(s.imp_raw[r]),
                    "importance_norm": float(s.imp_norm[r]), "created": float(s.created[r]),
                    "last_access": float(s.last_access[r]), "access_count": int(s.access_count[r]),
                    "kind": int(s.kind[r]), "bytes": int(s.row_bytes(r))}

    def retention_ranking(self, now: float | None = None) -> list[tuple[str, float]]:
        """(id, retention score) for every resident row, lowest retention first."""
        now = checks.when(now)
        with self._lock.read():
            s = self._slab
            live = np.flatnonzero(s.live[: s.top])
            r = self._retention(live, now)
            order = np.argsort(r, kind="stable")
            ids = s.row_id[live[order]].tolist()
            return list(zip(ids, r[order].tolist()))

    def stats(self) -> dict:
        with self._lock.read():
            s = self._slab
            item = s.dtype.itemsize
            out = {
                "rows": len(s), "capacity": s.capacity, "dim": self.dim, "dtype": str(s.dtype),
                "bytes": s.nbytes(), "vector_bytes_per_row": self.dim * item,
                "free_rows": len(s.free), "blocks": s.nblocks, "reorganizations": self._reorganizations,
                "time_rebases": self._time.rebases, "decay_active": self._time.active,
                "importance": self._importance.snapshot(),
                "searches": self._searches,
                "rows_scanned": self._rows_scanned,
                "rows_reranked": self._rows_reranked,
                "bytes_scanned": self._bytes_scanned,
                "quantized_scan": s.has_codes,
                "scan_share": (self._rows_scanned / self._rows_total) if self._rows_total else None,
                "ann": self.config.ann, "ann_built": bool(self._ann is not None and self._ann_built),
                "ann_index_slots": getattr(self._ann, "slots", None) if self._ann is not None else None,
            }
            out["ann_python_us"] = None if self._overhead is None else self._overhead * 1e6
            out.update(self._hot.metrics(len(s), s.held))
            if self._guard is not None:
                out.update(self._guard.metrics())
            else:
                out.update({"ann_recall_at_k": None, "ann_fallback_exact": False})
            return out
