"""Engine parameters with their defaults; validated once at construction."""

from __future__ import annotations

import dataclasses
import math

from .errors import InvalidArgument

DTYPES = ("float32", "float16")
ANN_BACKENDS = (None, "hnsw", "faiss")


@dataclasses.dataclass(frozen=True)
class EngineConfig:
    # --- score = max(0, q.v) * i**alpha * max(decay_floor, 2**(-(now - created) / half_life_s))
    alpha: float = 1.0
    half_life_s: float = math.inf          # tau; inf disables decay
    decay_floor: float = 0.0
    # --- storage
    dtype: str = "float32"                 # "float16" halves the bytes read per query
    initial_capacity: int = 1024           # rows; grows by doubling
    block_rows: int = 1024                 # rows per pruning block
    pruning: bool = True                   # skip blocks whose weight bound cannot enter the top k
    reorganize_share: float = 0.25         # re-sort rows by weight after this share of rows changed
    quantized_scan: bool = True            # exact search scans an int8 copy, re-ranks candidates exactly
    # --- hot tier
    hot_bytes: int | None = None           # byte budget of the in-memory tier; None = unlimited
    # --- retention R = g1*i^alpha + g2*2^(-(now-t_access)/tau_r) + g3*log(1+c)/log(1+Cmax) - g4*cost
    gamma1: float = 1.0
    gamma2: float = 1.0
    gamma3: float = 0.5
    gamma4: float = 0.1
    retention_half_life_s: float = 7 * 86400.0
    cost_unit_bytes: int = 4096            # cost = bytes held by the row / cost_unit_bytes
    # --- importance normalisation (reference §1.14)
    importance_reservoir: int = 512
    importance_recompute_every: int = 64
    # --- ANN with recall guard
    ann: str | None = None                 # None | "hnsw" | "faiss"
    ann_min_rows: int = 20_000             # below this the guard answers exactly
    recall_floor: float = 0.95
    recall_sample: float = 0.02            # at most this share of ANN queries is checked exactly
    recall_window: int = 200               # checks kept per widening level as evidence
    recall_budget: float = 0.05            # checks may cost at most this share of query time (0 = no cap)
    recall_confidence: float = 0.95        # one-sided confidence of the bounds the guard decides on
    recall_min_samples: int = 30           # checks a level needs before any decision about it
    recall_probe_every: int = 256          # in fallback, re-run every n-th query through the index
    ann_prefer_faster: bool = True         # take the exact path when it is measured faster
    ann_ef: int = 64                       # hnsw ef_search (widened by the guard)
    ann_candidates: int = 6                # candidates fetched = ann_candidates * k (widened)
    ann_max_widen: int = 3                 # doublings before falling back to exact
    hnsw_m: int = 16
    hnsw_ef_construction: int = 100
    threads: int = 1                       # threads for index builds
    batch_threads: int = 0                 # threads splitting a search_batch; 0 = one per core
    # --- metrics
    latency_window: int = 1024             # searches kept for p95 (gate G1)

    def __post_init__(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise InvalidArgument(f"EngineConfig: {msg}")

        need(math.isfinite(self.alpha) and self.alpha >= 0, f"alpha must be finite and >= 0, got {self.alpha!r}")
        need(self.half_life_s > 0, f"half_life_s must be > 0 (inf disables decay), got {self.half_life_s!r}")
        need(0.0 <= self.decay_floor <= 1.0, f"decay_floor must be in [0, 1], got {self.decay_floor!r}")
        need(self.dtype in DTYPES, f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        need(self.initial_capacity >= 1, "initial_capacity must be >= 1")
        need(self.block_rows >= 64, "block_rows must be >= 64")
        need(0 < self.reorganize_share <= 1, "reorganize_share must be in (0, 1]")
        need(self.hot_bytes is None or self.hot_bytes > 0, f"hot_bytes must be None or > 0, got {self.hot_bytes!r}")
        for name in ("gamma1", "gamma2", "gamma3", "gamma4"):
            value = getattr(self, name)
            need(math.isfinite(value) and value >= 0, f"{name} must be finite and >= 0, got {value!r}")
        need(self.retention_half_life_s > 0, "retention_half_life_s must be > 0")
        need(self.cost_unit_bytes > 0, "cost_unit_bytes must be > 0")
        need(self.importance_reservoir >= 8 and self.importance_recompute_every >= 1,
             "importance_reservoir must be >= 8 and importance_recompute_every >= 1")
        need(self.ann in ANN_BACKENDS, f"ann must be one of {ANN_BACKENDS}, got {self.ann!r}")
        need(self.ann_min_rows >= 0, "ann_min_rows must be >= 0")
        need(0.0 <= self.recall_floor <= 1.0, "recall_floor must be in [0, 1]")
        need(0.0 <= self.recall_sample <= 1.0, "recall_sample must be in [0, 1]")
        need(0.0 <= self.recall_budget <= 1.0, "recall_budget must be in [0, 1] (0 = no cap)")
        need(0.5 <= self.recall_confidence < 1.0, "recall_confidence must be in [0.5, 1)")
        need(self.recall_min_samples >= 1 and self.recall_probe_every >= 1,
             "recall_min_samples and recall_probe_every must be >= 1")
        need(self.recall_window >= self.recall_min_samples, "recall_window must be >= recall_min_samples")
        need(self.recall_window >= 1 and self.ann_ef >= 1 and self.ann_candidates >= 1 and self.ann_max_widen >= 0,
             "recall_window, ann_ef, ann_candidates must be >= 1 and ann_max_widen >= 0")
        need(self.hnsw_m >= 2 and self.hnsw_ef_construction >= 1, "hnsw_m >= 2 and hnsw_ef_construction >= 1")
        need(self.threads >= 1 and self.latency_window >= 16, "threads >= 1 and latency_window >= 16")
        need(self.batch_threads >= 0, "batch_threads must be >= 0 (0 = one per core)")

    @property
    def decays(self) -> bool:
        return math.isfinite(self.half_life_s)
