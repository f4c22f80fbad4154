"""Half-life decay folded into a static per-row weight.

decay(now, t) = 2**(-(now - t)/tau) = 2**(-(now - t_ref)/tau) * 2**((t - t_ref)/tau).
The first factor is the same for every row, so ranking by similarity * i**alpha *
2**((t - t_ref)/tau) is ranking by the full score: no per-row exponential at query time.
t_ref is rebased to the newest creation time whenever a row would sit more than
REBASE_HALF_LIVES half-lives above it, so the float32 weights never overflow (rows more
than ~140 half-lives older than the newest underflow to 0, i.e. their decay is < 1e-42).

A decay floor breaks the pure product (max(floor, .) is not a product), so with a floor
the per-query weight is imp * max(floor, tw * g): one O(N) vector max, still no exp.
"""

from __future__ import annotations

import math

import numpy as np

REBASE_HALF_LIVES = 64.0


class TimeBase:
    def __init__(self, half_life_s: float, floor: float) -> None:
        self.tau = half_life_s
        self.floor = floor
        self.t_ref: float | None = None
        self.rebases = 0

    @property
    def active(self) -> bool:
        return math.isfinite(self.tau)

    def needs_rebase(self, created: np.ndarray) -> bool:
        if not self.active or created.size == 0:
            return False
        newest = float(created.max())
        return self.t_ref is None or (newest - self.t_ref) / self.tau > REBASE_HALF_LIVES

    def rebase(self, newest: float) -> None:
        self.t_ref = newest
        self.rebases += 1

    def time_factor(self, created: np.ndarray) -> np.ndarray:
        """2**((t - t_ref)/tau) per row (float64); 1 when decay is off."""
        if not self.active:
            return np.ones(created.shape, dtype=np.float64)
        with np.errstate(over="ignore", under="ignore"):
            return np.exp2((created - self.t_ref) / self.tau)

    def query_factor(self, now: float) -> float:
        """2**(-(now - t_ref)/tau): the factor shared by every row at time `now`."""
        if not self.active or self.t_ref is None:
            return 1.0
        return 2.0 ** (-(now - self.t_ref) / self.tau) if (now - self.t_ref) / self.tau < 1070 else 0.0

    def decay(self, now: float, created: np.ndarray) -> np.ndarray:
        """The reported decay per row: max(floor, 2**(-(now - t)/tau))."""
        if not self.active:
            return np.ones(np.shape(created), dtype=np.float64)
        with np.errstate(over="ignore", under="ignore"):
            d = np.exp2(-(now - np.asarray(created, dtype=np.float64)) / self.tau)
        return np.maximum(d, self.floor)
