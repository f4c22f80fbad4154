"""Hot-tier accounting: byte budget, evictions, promotions, hit ratio and the G1 gate.

The engine holds the hot tier; rows past the byte budget leave it (lowest retention first)
and are reported to the caller as evicted ids, because the store keeps them. A lookup by id
of an evicted row is a miss; re-adding an evicted id is a promotion.
"""

from __future__ import annotations

import collections

import numpy as np

G1_ROWS = 200_000
G1_P95_MS = 25.0


class HotTier:
    def __init__(self, budget: int | None, latency_window: int) -> None:
        self.budget = budget
        self.evicted: set[str] = set()
        self.evictions = 0
        self.promotions = 0
        self.hits = 0
        self.misses = 0
        self._lat = collections.deque(maxlen=latency_window)

    def over_budget(self, held: int) -> int:
        """Bytes above the budget (0 when within it or unlimited)."""
        return 0 if self.budget is None else max(0, held - self.budget)

    def record_evicted(self, ids: list[str]) -> None:
        self.evicted.update(ids)
        self.evictions += len(ids)

    def record_added(self, ids) -> None:
        if self.evicted:
            back = self.evicted.intersection(ids)
            self.promotions += len(back)
            self.evicted.difference_update(back)

    def record_removed(self, ids) -> None:
        self.evicted.difference_update(ids)

    def lookup(self, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1

    def latency(self, seconds: float) -> None:
        self._lat.append(seconds)

    def metrics(self, rows: int, held: int) -> dict:
        lat = np.fromiter(self._lat, dtype=np.float64) * 1e3
        p50 = float(np.percentile(lat, 50)) if lat.size else None
        p95 = float(np.percentile(lat, 95)) if lat.size else None
        total = self.hits + self.misses
        return {
            "hot_bytes": held,
            "hot_budget": self.budget,
            "hot_tier_hit_ratio": (self.hits / total) if total else 1.0,
            "promotions": self.promotions,
            "eviction_count": self.evictions,
            "evicted_resident_elsewhere": len(self.evicted),
            "search_p50_ms": p50,
            "search_p95_ms": p95,
            "g1_gate": bool(rows > G1_ROWS and p95 is not None and p95 > G1_P95_MS),
        }
