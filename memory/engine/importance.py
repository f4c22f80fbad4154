"""Adaptive importance normalisation, exactly as reference-upstream §1.14.

State: a FIFO reservoir of the last 512 raw values, the running global min/max, and the
quantiles q10/q50/q90/q99 recomputed every 64 inserts. Each insert updates the state and
then maps its raw value with the method the decision tree picks at that moment (a batch is
one insert: all its values are observed first, then each is mapped); the value is stored
and never recomputed afterwards (a later method change does not touch it).

Deliberate deviation 1 (the importance floor): with `floor` > 0 the normalised value is
mapped into [floor, 1] (floor + (1 - floor) * value). Under §1.14 alone the lowest raw
value seen maps to 0, and since the score multiplies by importance_norm^alpha, one
`importance: 2` memory followed by default (1.0) ones gives each of those a score of 0
whatever its similarity: they never rank again. With a floor, equal importances leave
similarity to decide and a positive similarity always gives a positive score. The class
default (0) is §1.14 exactly; the service passes SOMA_MEMORY_IMPORTANCE_FLOOR (0.2).

Deliberate deviation 2: when every raw value seen so far is equal (span 0) the min-max
stage returns 1.0, not (raw - min) / 1.0 = 0, because a zero importance would zero the
score of every memory and erase the similarity ranking (the common case "importance
omitted, default 1.0" would otherwise rank nothing).

Any finite raw values give a finite result in [0, 1]: a difference of two finite values can
overflow (1.7e308 - -1.7e308 = inf, and inf / inf = NaN), so where one would, the ratio is
taken between halves instead, which is the same ratio and cannot overflow (`_ratio`).
"""

from __future__ import annotations

import collections
import math

import numpy as np

EPS = 1e-12
K_CAP = 25.0
WARMUP = 64


def _ratio(a: float, b: float, c: float, d: float, floor: float | None = None) -> float:
    """(a - b) / (c - d), the denominator at least `floor`, without overflowing.

    Exactly the plain expression whenever both differences are finite (so the §1.14 values
    are bit for bit the same); otherwise the same ratio between halves."""
    num, den = a - b, c - d
    if not (math.isfinite(num) and math.isfinite(den)):
        num, den = a / 2 - b / 2, c / 2 - d / 2
        floor = None if floor is None else floor / 2
    if floor is not None:
        den = max(den, floor)
    return num / den


def _percentiles(values: np.ndarray) -> np.ndarray:
    """q10/q50/q90/q99; numpy interpolates with differences of neighbours, which overflow for
    values near the float range, so those are taken on halves (exact, a factor of two)."""
    if math.isfinite(float(values.max()) - float(values.min())):
        return np.percentile(values, [10, 50, 90, 99])
    return np.percentile(values / 2, [10, 50, 90, 99]) * 2


class AdaptiveImportance:
    """Maps raw importance to [0, 1]; monotonic in the raw value for a given state."""

    def __init__(self, reservoir: int = 512, recompute_every: int = 64, floor: float = 0.0) -> None:
        if not 0.0 <= floor <= 1.0:
            raise ValueError(f"importance floor must be in [0, 1], got {floor}")
        self.floor = float(floor)
        self._reservoir: collections.deque[float] = collections.deque(maxlen=reservoir)
        self._every = recompute_every
        self._inserts = 0
        self._min = math.inf
        self._max = -math.inf
        self._q: tuple[float, float, float, float] | None = None
        self.method = "minmax"
        self.switches: collections.Counter[tuple[str, str]] = collections.Counter()

    # -- state -----------------------------------------------------------------------
    def observe(self, raw: float) -> None:
        """Feed one raw value into the state (reservoir, min/max, periodic quantiles)."""
        self._reservoir.append(raw)
        self._min = min(self._min, raw)
        self._max = max(self._max, raw)
        self._inserts += 1
        if self._q is None or self._inserts % self._every == 0:
            q = _percentiles(np.fromiter(self._reservoir, dtype=np.float64))
            self._q = (float(q[0]), float(q[1]), float(q[2]), float(q[3]))
        new = self._choose()
        if new != self.method:
            self.switches[(self.method, new)] += 1
            self.method = new

    def observe_many(self, raws) -> None:
        """observe() each value in order, with the same resulting state (switches included),
        in a few array operations per `recompute_every` values instead of Python per value:
        the index load feeds a whole chunk of stored importances at once.

        Between two quantile recomputations only the running max can change the method
        (_choose reads _q, the max and, past WARMUP, nothing else), so the method is
        evaluated only where the running max rises; the insert that recomputes the
        quantiles goes through observe() itself."""
        v = np.asarray(raws, dtype=np.float64).ravel()
        i, n = 0, v.size
        while i < n:
            if (self._q is not None and len(self._reservoir) == self._reservoir.maxlen >= WARMUP
                    and n - i >= 4 * self._every and self._observe_full(v[i:])):
                return
            if self._q is None or len(self._reservoir) < WARMUP:
                self.observe(float(v[i]))
                i += 1
                continue
            to_boundary = self._every - self._inserts % self._every  # the last of these recomputes
            plain = v[i: i + min(to_boundary - 1, n - i)]
            if plain.size:
                running = np.maximum.accumulate(np.maximum(plain, self._max))
                rises = np.flatnonzero(np.diff(running, prepend=self._max) > 0)
                for j in rises.tolist():
                    self._max = float(running[j])
                    new = self._choose()
                    if new != self.method:
                        self.switches[(self.method, new)] += 1
                        self.method = new
                self._reservoir.extend(plain.tolist())
                self._min = min(self._min, float(plain.min()))
                self._max = max(self._max, float(running[-1]))
                self._inserts += plain.size
                i += plain.size
            if i < n and plain.size == to_boundary - 1:
                self.observe(float(v[i]))
                i += 1

    def _observe_full(self, v: np.ndarray) -> bool:
        """observe_many once the reservoir is full: the quantiles of every recompute in `v`
        come from one percentile call over the windows the reservoir holds at those inserts
        (np.percentile along an axis is the 1-D computation per row), and the method is
        evaluated only at recomputes and where the running max rises. False (nothing
        changed) when a window's spread overflows, which `_percentiles` handles one by one."""
        size, every = self._reservoir.maxlen, self._every
        m = v.size
        ends = np.flatnonzero((self._inserts + 1 + np.arange(m)) % every == 0)  # recomputing inserts
        qs = np.empty((0, 4))
        if ends.size:
            joined = np.concatenate([np.fromiter(self._reservoir, dtype=np.float64, count=size), v])
            windows = np.lib.stride_tricks.sliding_window_view(joined, size)[ends + 1]
            if not np.isfinite(windows.max(axis=1) - windows.min(axis=1)).all():
                return False
            qs = np.percentile(windows, [10, 50, 90, 99], axis=1).T
        running = np.maximum.accumulate(np.maximum(v, self._max))
        rises = np.flatnonzero(np.diff(running, prepend=self._max) > 0)
        at_end = dict(zip(ends.tolist(), range(ends.size)))
        for p in np.union1d(ends, rises).tolist():
            self._max = float(running[p])
            b = at_end.get(p)
            if b is not None:
                self._q = tuple(float(x) for x in qs[b])
            new = self._choose()
            if new != self.method:
                self.switches[(self.method, new)] += 1
                self.method = new
        # the quantiles in force after v: the last recompute's (already set in the loop)
        self._reservoir.extend(v[-size:].tolist())
        self._min = min(self._min, float(v.min()))
        self._max = max(self._max, float(running[-1]))
        self._inserts += m
        return True

    def normalise(self, raw: float) -> float:
        """Observe one insert and return its normalised importance."""
        self.observe(raw)
        return self.map(raw)

    # -- mapping ---------------------------------------------------------------------
    def _choose(self) -> str:
        if len(self._reservoir) < WARMUP or self._q is None:
            return "minmax"
        q10, q50, q90, q99 = self._q
        r_tail_max = _ratio(self._max, q90, q90, q50, EPS)
        r_tail_ext = _ratio(q99, q90, q90, q50, EPS)
        r_asym = _ratio(q90, q50, q50, q10, EPS)
        if r_tail_max <= 5 and r_asym <= 3:
            return "minmax"
        if r_tail_max <= 15 and r_tail_ext <= 8:
            return "winsor"
        return "logistic"

    def map(self, raw: float) -> float:
        """Map a raw value with the current method into [floor, 1], without changing the state."""
        unit = self._unit(raw)
        return unit if self.floor == 0.0 else self.floor + (1.0 - self.floor) * unit

    def _unit(self, raw: float) -> float:
        """§1.14's value in [0, 1]."""
        if self._inserts == 0:
            return 1.0
        if self.method == "minmax":
            if self._max - self._min <= 0:
                return 1.0  # see module docstring
            return float(min(1.0, max(0.0, _ratio(raw, self._min, self._max, self._min))))
        q10, q50, q90, _ = self._q  # type: ignore[misc]
        spread = q90 - q10
        if self.method == "winsor":
            if spread == 0:
                spread = 1.0
            # a quarter of the spread, taken from halves when the spread itself overflows
            quarter = 0.25 * spread if math.isfinite(spread) else 0.5 * (q90 / 2 - q10 / 2)
            lo = max(self._min, q10 - quarter)
            hi = min(self._max, q90 + quarter)
            if hi - lo < EPS:
                return 0.5
            return float(min(1.0, max(0.0, _ratio(min(max(raw, lo), hi), lo, hi, lo))))
        if spread < EPS:
            return 0.5
        k = min(math.log(9.0) / spread, K_CAP)
        z = k * (raw - q50)
        if not math.isfinite(z) or (k == 0.0 and raw != q50):
            # raw - q50 or the spread overflowed: k * (raw - q50) is ln 9 times their ratio
            # (or K_CAP times an infinite distance, which saturates below)
            z = K_CAP * (raw - q50) if k == K_CAP else math.log(9.0) * _ratio(raw, q50, q90, q10)
        try:
            return 1.0 / (1.0 + math.exp(-z))
        except OverflowError:
            return 1.0 if raw > q50 else 0.0

    def normalise_many(self, raws: np.ndarray) -> np.ndarray:
        """One insert of a batch: observe every raw value, then map each with the resulting
        state, so the mapping is monotonic across the batch."""
        self.observe_many(raws)
        return self.map_many(raws)

    def map_many(self, raws: np.ndarray) -> np.ndarray:
        return np.fromiter((self.map(float(r)) for r in raws), dtype=np.float64, count=len(raws))

    def snapshot(self) -> dict:
        q = self._q or (math.nan,) * 4
        return {
            "method": self.method,
            "floor": self.floor,
            "samples": len(self._reservoir),
            "inserts": self._inserts,
            "min": self._min if self._inserts else None,
            "max": self._max if self._inserts else None,
            "q10": q[0], "q50": q[1], "q90": q[2], "q99": q[3],
            "switches": {f"{a}->{b}": n for (a, b), n in self.switches.items()},
        }
