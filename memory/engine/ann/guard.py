"""Recall guard: sampled exact checks off the query path, decisions on confidence bounds.

Queries never wait for a check. A sampled ANN query hands its answer to one worker thread
(`check`), which computes the exact answer itself (engine.py takes the read lock only per
chunk of rows and drops the check if a write came in between) and records recall@k at the
level the query was served at.

Evidence is kept per widening level: the last `window` recalls of queries served (or
probed) at that level. A level's recall is judged by a one-sided normal bound at
`confidence` on the mean (see `_bounds`: the variance never falls below a binomial one, so
a short run of perfect checks proves little). No decision is taken on fewer than
`min_samples` checks. Decisions, each logged with its
evidence:

- `widen`: the upper bound at the current level is below the floor -> double candidates and
  ef (level + 1). `fallback`: the same at the widest level -> answer exactly.
- `narrow`: at level L > 0 the checks also re-run the query at level L - 1 on the worker
  (an ANN query, cheap); when that level's lower bound reaches the floor, go back to it.
- `recover`: in fallback the engine keeps answering exactly and every `probe_every`-th
  query is re-run through the index at the widest level on the worker against the exact
  answer it already has; when that level's lower bound reaches the floor, ANN serves again.
  So a fallback is never for good.

Cost: a check is queued only when the budget allows (`budget` x the time spent answering
queries, a token bucket charged with each check's measured time) and at most every
1/sample-th query; at most MAX_PENDING checks wait, further ones are skipped and counted.
budget 0 means no time cap (only the sampling share).

`ann_prefer_faster`: when the exact path is measured faster than ANN (pruning makes exact
search cheap on weighted data), queries take the exact path, with one ANN query every
PROBE_EVERY queries to keep both timings fresh.
"""

from __future__ import annotations

import collections
import concurrent.futures
import math
import statistics
import threading
import time

MAX_PENDING = 4
PROBE_EVERY = 64
EWMA = 0.05
DECISIONS_KEPT = 32


class RecallGuard:
    def __init__(self, *, floor: float, sample: float, window: int, candidates: int, ef: int, max_widen: int,
                 budget: float = 0.05, confidence: float = 0.95, min_samples: int = 30,
                 probe_every: int = 256) -> None:
        self.floor = floor
        self.every = 0 if sample <= 0 else max(1, round(1.0 / sample))
        self.window = window
        self.base_candidates = candidates
        self.base_ef = ef
        self.max_widen = max_widen
        self.budget = budget
        self.confidence = confidence
        self.z = statistics.NormalDist().inv_cdf(confidence)
        self.min_samples = min_samples
        self.probe_every = probe_every
        self.level = 0
        self.fallback = False
        self.samples = 0
        self.widenings = 0
        self.skipped = 0
        self.stale = 0
        self.exact_for_speed = 0
        self.t_ann: float | None = None
        self.t_exact: float | None = None
        self.t_check: float | None = None
        self._evidence = {lv: collections.deque(maxlen=window) for lv in range(max_widen + 1)}
        self._k = dict.fromkeys(range(max_widen + 1), 10)  # k of the latest check per level
        self._decisions: collections.deque[dict] = collections.deque(maxlen=DECISIONS_KEPT)
        self.actions: collections.Counter[str] = collections.Counter()  # every decision ever, by action
        self._count = 0
        self._queries = 0
        self._since_probe = 0
        self._credit = 0.0
        self._query_seconds = 0.0
        self._check_seconds = 0.0
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: set[concurrent.futures.Future] = set()
        self.worker: str | None = None  # the thread the last check ran on

    # ------------------------------------------------------------ sizes per level
    def candidates(self, k: int, level: int | None = None) -> int:
        return self.base_candidates * k * (2 ** (self.level if level is None else level))

    def ef(self, k: int, level: int | None = None) -> int:
        lv = self.level if level is None else level
        return max(self.base_ef * (2 ** lv), self.candidates(k, lv))

    # ------------------------------------------------------------ the query's side
    def after_ann(self, seconds: float) -> int | None:
        """Record an ANN query's time; the level to check it at when it is sampled, else None."""
        with self._lock:
            self.t_ann = seconds if self.t_ann is None else self.t_ann + EWMA * (seconds - self.t_ann)
            return self.level if self._take_sample(seconds) else None

    def after_exact(self, seconds: float) -> bool:
        """Record a query answered exactly in fallback; True when it should be re-run
        through the index (a recovery probe, costing one ANN query on the worker)."""
        with self._lock:
            if not self.fallback:
                return False
            self._since_probe += 1
            if self._since_probe < self.probe_every:
                self._credit_for(seconds)
                return False
            self._since_probe = 0
            return self._take_sample(seconds, share=False)

    def _credit_for(self, seconds: float) -> None:
        self._query_seconds += seconds
        if self.budget > 0:
            cap = 4 * (self.t_check or seconds)
            self._credit = min(self._credit + self.budget * seconds, max(cap, self.budget * seconds))

    def _take_sample(self, seconds: float, share: bool = True) -> bool:
        """Sampling share, budget and queue decide; the caller holds self._lock."""
        self._credit_for(seconds)
        self._queries += 1
        if not self.every:
            return False
        if share:
            self._count += 1
            if self._count < self.every:
                return False
        if self.budget > 0 and self.t_check is not None and self._credit < self.t_check:
            return False
        self._count = 0
        if len(self._pending) >= MAX_PENDING:
            self.skipped += 1  # skipped, not deferred: the query never waits for the worker
            return False
        self._credit -= self.t_check or 0.0
        return True

    def use_exact_for_speed(self) -> bool:
        """True when exact search is measured faster than ANN (then skip ANN, probing now and then)."""
        with self._lock:
            if not (self.t_ann and self.t_exact) or self.t_exact >= self.t_ann:
                return False
            self._since_probe += 1
            if self._since_probe >= PROBE_EVERY:
                self._since_probe = 0
                return False
            self.exact_for_speed += 1
            return True

    # ------------------------------------------------------------ the worker's side
    def check(self, fn) -> None:
        """Run fn() (the engine's check: exact answer, recalls, `record`) on the worker thread."""
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="recall-guard")
            fut = self._pool.submit(self._timed, fn)
            self._pending.add(fut)
        fut.add_done_callback(self._done)

    def _timed(self, fn) -> None:
        t0 = time.perf_counter()
        self.worker = threading.current_thread().name
        try:
            fn()
        finally:
            spent = time.perf_counter() - t0
            with self._lock:
                self._check_seconds += spent
                self.t_check = spent if self.t_check is None else self.t_check + EWMA * (spent - self.t_check)

    def _done(self, fut) -> None:
        with self._lock:
            self._pending.discard(fut)
        fut.result()  # surface errors of the check in the worker's log

    def drain(self) -> None:
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return
            concurrent.futures.wait(pending)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def time_exact(self, seconds: float) -> None:
        with self._lock:
            self.t_exact = seconds if self.t_exact is None else self.t_exact + EWMA * (seconds - self.t_exact)

    def dropped(self) -> None:
        """A check abandoned because a write changed the rows while it ran."""
        with self._lock:
            self.stale += 1

    def probe_levels(self, served: int | None) -> list[int]:
        """Other levels a check should also run the query at (ANN only, on the worker):
        the next narrower level when the current one is confirmed, the widest in fallback."""
        with self._lock:
            if self.fallback:
                return [self.max_widen]
            if served is not None and served > 0 and self._confirmed(served):
                return [served - 1]
            return []

    def record(self, level: int, recall: float, k: int = 10) -> None:
        """One check's recall@k at `level`; may widen, fall back, narrow or recover."""
        with self._lock:
            self.samples += 1
            self._k[level] = k
            self._evidence[level].append(recall)
            self._decide(level)

    # ------------------------------------------------------------ decisions
    def _bounds(self, level: int) -> tuple[int, float | None, float | None, float | None]:
        """(checks, mean, lower, upper) of a level's recall@k: a one-sided normal bound at
        `confidence` on the mean. The variance is the sample variance, but never below that
        of k independent neighbours at the Laplace-smoothed mean, so a run of perfect checks
        does not claim certainty (30 perfect checks at k = 10 bound recall at ~0.95)."""
        xs = self._evidence[level]
        n = len(xs)
        if not n:
            return 0, None, None, None
        total = sum(xs)
        mean = total / n
        smooth = (total + 1.0) / (n + 2.0)
        var = sum((x - mean) ** 2 for x in xs) / (n - 1) if n > 1 else 0.0
        var = max(var, smooth * (1.0 - smooth) / self._k[level])
        half = self.z * math.sqrt(var / n)
        return n, mean, max(0.0, mean - half), min(1.0, mean + half)

    def _confirmed(self, level: int) -> bool:
        n, _, lower, _ = self._bounds(level)
        return n >= self.min_samples and lower >= self.floor

    def _log(self, action: str, before: int, after: int, evidence_level: int) -> None:
        n, mean, lower, upper = self._bounds(evidence_level)
        self.actions[action] += 1
        self._decisions.append({"at": time.time(), "query": self._queries, "action": action, "from_level": before,
                                "to_level": after, "evidence_level": evidence_level, "samples": n, "mean": mean,
                                "lower": lower, "upper": upper, "floor": self.floor,
                                "confidence": self.confidence})

    def _decide(self, level: int) -> None:
        n, _, lower, upper = self._bounds(level)
        if n < self.min_samples:
            return
        if self.fallback:
            if level == self.max_widen and lower >= self.floor:
                self._log("recover", self.max_widen, self.max_widen, level)
                self.fallback = False
                self.level = self.max_widen
            return
        if level == self.level and upper < self.floor:
            if self.level < self.max_widen:
                self._log("widen", self.level, self.level + 1, level)
                self.level += 1
                self.widenings += 1
            else:
                self._log("fallback", self.level, self.level, level)
                self.fallback = True
                self._since_probe = 0
            self._evidence[level].clear()  # the next decision at this level starts afresh
        elif level == self.level - 1 and lower >= self.floor:
            self._log("narrow", self.level, level, level)
            self.level = level

    # ------------------------------------------------------------ exposure
    @property
    def recall(self) -> float | None:
        with self._lock:
            xs = self._evidence[self.level]
            return sum(xs) / len(xs) if xs else None

    def metrics(self) -> dict:
        with self._lock:
            evidence = {}
            for lv, xs in self._evidence.items():
                n, mean, lower, upper = self._bounds(lv)
                if n:
                    evidence[lv] = {"samples": n, "mean": mean, "lower": lower, "upper": upper}
            xs = self._evidence[self.level]
            return {
                "ann_recall_at_k": sum(xs) / len(xs) if xs else None, "ann_recall_samples": self.samples,
                "ann_widen_level": self.level, "ann_widenings": self.widenings,
                "ann_fallback_exact": self.fallback, "ann_recall_skipped": self.skipped,
                "ann_recall_stale": self.stale,
                "ann_ms": None if self.t_ann is None else self.t_ann * 1e3,
                "exact_ms": None if self.t_exact is None else self.t_exact * 1e3,
                "ann_exact_for_speed": self.exact_for_speed,
                "ann_guard": {
                    "state": "exact_fallback" if self.fallback else "ann", "level": self.level,
                    "floor": self.floor, "confidence": self.confidence, "min_samples": self.min_samples,
                    "evidence": evidence, "decisions": list(self._decisions),
                    "actions": dict(self.actions),
                    "check_ms": None if self.t_check is None else self.t_check * 1e3,
                    "check_share": (self._check_seconds / self._query_seconds) if self._query_seconds else None,
                    "budget": self.budget, "worker": self.worker,
                },
            }
