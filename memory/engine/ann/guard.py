"""Recall guard: sample live ANN queries through the exact path and react to low recall.

Every round(1 / recall_sample)-th ANN query is also answered exactly; recall@k of the ANN
answer against the exact one is averaged over the last `recall_window` samples. When the
average falls under `recall_floor` (after at least min(8, window) samples) the guard widens
the search (twice the candidates and ef); after `ann_max_widen` widenings it falls back to
the exact path for good. Below `ann_min_rows` rows the engine answers exactly anyway.

Calibration: the first `recall_window` ANN queries after the guard starts, and after every
widening, are all checked inline, so the guard judges a new setting within a window instead
of after window / recall_sample queries.

Cost control: the guard times ANN queries and exact checks (moving averages). Sampling is
thinned so the checks cost at most `budget` of the ANN time (every
max(1/recall_sample, t_exact / (budget * t_ann))-th query), and when the exact path is
measured faster than ANN (pruning makes exact search cheap on weighted data) queries take
the exact path, with one ANN probe every PROBE_EVERY queries to keep both timings fresh.

With `background=True` the exact reference runs on one worker thread off the caller's path
(at most MAX_PENDING checks queued; further samples are skipped and counted), so the guard
costs a sampled query almost nothing; `drain()` waits for queued checks.
"""

from __future__ import annotations

import collections
import concurrent.futures
import math
import threading

MAX_PENDING = 4
PROBE_EVERY = 64
EWMA = 0.05


class RecallGuard:
    def __init__(self, *, floor: float, sample: float, window: int, candidates: int, ef: int, max_widen: int,
                 background: bool = True, budget: float = 0.05) -> None:
        self.floor = floor
        self.every = 0 if sample <= 0 else max(1, round(1.0 / sample))
        self.window = window
        self.base_candidates = candidates
        self.base_ef = ef
        self.max_widen = max_widen
        self.level = 0
        self.fallback = False
        self.samples = 0
        self.widenings = 0
        self._recalls: collections.deque[float] = collections.deque(maxlen=window)
        self._count = 0
        self._lock = threading.Lock()
        self._calibrate = window
        self.budget = budget
        self.t_ann: float | None = None
        self.t_exact: float | None = None
        self._since_probe = 0
        self.exact_for_speed = 0
        self.skipped = 0
        self._background = background
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: set[concurrent.futures.Future] = set()

    @property
    def background(self) -> bool:
        return self._background

    def check(self, fn) -> None:
        """Queue fn() (which takes the engine's read lock and calls record) on the worker thread."""
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                self.skipped += 1
                return
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="recall-guard")
            fut = self._pool.submit(fn)
            self._pending.add(fut)
        fut.add_done_callback(self._done)

    def _done(self, fut) -> None:
        with self._lock:
            self._pending.discard(fut)
        fut.result()  # surface errors of the check in the worker's log

    def drain(self) -> None:
        with self._lock:
            pending = list(self._pending)
        concurrent.futures.wait(pending)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def candidates(self, k: int) -> int:
        return self.base_candidates * k * (2 ** self.level)

    def ef(self, k: int) -> int:
        return max(self.base_ef * (2 ** self.level), self.candidates(k))

    def after_ann(self, seconds: float) -> str | None:
        """Record an ANN query's time and say whether to check it (one lock round-trip)."""
        with self._lock:
            self.t_ann = seconds if self.t_ann is None else self.t_ann + EWMA * (seconds - self.t_ann)
            return self._mode()

    def _mode(self) -> str | None:
        """None (no check), "inline" (calibrating) or "sample" (a sampled live query); the
        caller holds self._lock."""
        if self._calibrate > 0:
            self._calibrate -= 1
            return "inline"
        if not self.every:
            return None
        every = self.every
        if self.t_ann and self.t_exact and self.budget > 0:
            every = max(every, math.ceil(self.t_exact / (self.budget * self.t_ann)))
        self._count += 1
        if self._count >= every:
            self._count = 0
            return "sample"
        return None

    def use_exact_for_speed(self) -> bool:
        """True when exact search is measured faster than ANN (then skip ANN, probing now and then)."""
        with self._lock:
            if self._calibrate > 0 or not (self.t_ann and self.t_exact) or self.t_exact >= self.t_ann:
                return False
            self._since_probe += 1
            if self._since_probe >= PROBE_EVERY:
                self._since_probe = 0
                return False
            self.exact_for_speed += 1
            return True

    def time_exact(self, seconds: float) -> None:
        with self._lock:
            self.t_exact = seconds if self.t_exact is None else self.t_exact + EWMA * (seconds - self.t_exact)

    def record(self, recall: float) -> None:
        with self._lock:
            self.samples += 1
            self._recalls.append(recall)
            if len(self._recalls) < min(8, self.window):
                return
            if sum(self._recalls) / len(self._recalls) >= self.floor:
                return
            if self.level < self.max_widen:
                self.level += 1
                self.widenings += 1
                self._calibrate = self.window
            else:
                self.fallback = True
            self._recalls.clear()

    @property
    def recall(self) -> float | None:
        with self._lock:
            return sum(self._recalls) / len(self._recalls) if self._recalls else None

    def metrics(self) -> dict:
        return {"ann_recall_at_k": self.recall, "ann_recall_samples": self.samples,
                "ann_widen_level": self.level, "ann_widenings": self.widenings,
                "ann_fallback_exact": self.fallback, "ann_recall_skipped": self.skipped,
                "ann_ms": None if self.t_ann is None else self.t_ann * 1e3,
                "exact_ms": None if self.t_exact is None else self.t_exact * 1e3,
                "ann_exact_for_speed": self.exact_for_speed}
