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
import copy
import math

import numpy as np

EPS = 1e-12
K_CAP = 25.0
WARMUP = 64
SMALL_BATCH = 4  # up to this many values normalise_many takes the one-by-one path itself


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


def _window_percentiles(values: np.ndarray, ends: np.ndarray, cap: int) -> dict[int, np.ndarray]:
    """_percentiles of every full window values[end - cap:end], as one np.percentile along
    rows (the same partition and interpolation per row, so the same values as one call per
    window: a 65k-row load chunk has ~1000 windows, and one call each was ~8% of a load).
    Windows whose spread overflows take _percentiles' own path."""
    ends = ends[ends >= cap]
    if ends.size == 0:
        return {}
    win = np.lib.stride_tricks.sliding_window_view(values, cap)[ends - cap]
    got = np.empty((ends.size, 4))
    with np.errstate(over="ignore", invalid="ignore"):
        plain = np.isfinite(win.max(axis=1) - win.min(axis=1))
    if plain.any():
        got[plain] = np.percentile(win[plain], [10, 50, 90, 99], axis=1).T
    for i in np.flatnonzero(~plain).tolist():
        got[i] = _percentiles(win[i])
    return dict(zip(ends.tolist(), got))


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

    def __deepcopy__(self, memo) -> "AdaptiveImportance":
        # the service copies the state for every write (applied only after the commit):
        # copy the containers directly instead of deepcopy's walk over 512 floats
        twin = copy.copy(self)
        twin._reservoir = collections.deque(self._reservoir, maxlen=self._reservoir.maxlen)
        twin.switches = collections.Counter(self.switches)
        return twin

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

    def normalise(self, raw: float) -> float:
        """Observe one insert and return its normalised importance."""
        self.observe(raw)
        return self.map(raw)

    # -- mapping ---------------------------------------------------------------------
    def _choose(self) -> str:
        return self._method_for(len(self._reservoir), self._q, self._max)

    @staticmethod
    def _method_for(samples: int, q, top: float) -> str:
        """The decision tree on a state: reservoir size, quantiles and running max."""
        if samples < WARMUP or q is None:
            return "minmax"
        q10, q50, q90, q99 = q
        r_tail_max = _ratio(top, q90, q90, q50, EPS)
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

    def _winsor_bounds(self) -> tuple[float, float]:
        """The winsor method's clip range: q10 and q90 widened by a quarter of their spread
        (taken from halves when the spread itself overflows), within the values seen."""
        q10, _, q90, _ = self._q  # type: ignore[misc]
        spread = q90 - q10
        if spread == 0:
            spread = 1.0
        quarter = 0.25 * spread if math.isfinite(spread) else 0.5 * (q90 / 2 - q10 / 2)
        return max(self._min, q10 - quarter), min(self._max, q90 + quarter)

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
            lo, hi = self._winsor_bounds()
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
        raws = np.asarray(raws, dtype=np.float64).reshape(-1)
        if raws.size <= SMALL_BATCH:  # a single store: the scalar path is cheaper than arrays
            values = raws.tolist()
            for r in values:
                self.observe(r)
            return np.asarray([self.map(r) for r in values], dtype=np.float64)
        self.observe_many(raws)
        return self.map_many(raws)

    def observe_many(self, raws: np.ndarray) -> None:
        """observe() of each value in order, as array operations: the same final state
        (reservoir, min/max, quantiles, method) and the same switch counts.

        Between two inserts the method can only change where its inputs change: a quantile
        recompute (every `recompute_every` inserts), the reservoir reaching WARMUP, or a new
        running max. The decision tree runs at those points only, a handful per batch."""
        raws = np.asarray(raws, dtype=np.float64).reshape(-1)
        n = raws.size
        if n <= SMALL_BATCH:  # a single store: ~200 us of array set-up for one value otherwise
            for r in raws.tolist():
                self.observe(r)
            return
        cap = self._reservoir.maxlen
        held = np.fromiter(self._reservoir, dtype=np.float64, count=len(self._reservoir))
        both = np.concatenate([held, raws])
        start, size0 = self._inserts, held.size
        after = start + 1 + np.arange(n)  # insert count after each value
        recompute = after % self._every == 0
        if self._q is None:
            recompute[0] = True
        top = np.maximum(np.maximum.accumulate(raws), self._max)
        prev_top = np.concatenate([[self._max], top[:-1]])
        samples = np.minimum(size0 + 1 + np.arange(n), cap)
        warm = np.asarray([WARMUP - 1 - size0] if 0 <= WARMUP - 1 - size0 < n else [], np.int64)  # reaching WARMUP
        points = np.union1d(np.union1d(np.flatnonzero(recompute), np.flatnonzero(top > prev_top)), warm)
        q = self._q
        at = _window_percentiles(both, size0 + 1 + points[recompute[points]], cap)
        for p in points.tolist():
            if recompute[p]:
                got = at.get(size0 + p + 1)
                if got is None:  # a window shorter than the reservoir (its first inserts)
                    end = size0 + p + 1
                    got = _percentiles(both[max(0, end - cap):end])
                q = (float(got[0]), float(got[1]), float(got[2]), float(got[3]))
            new = self._method_for(int(samples[p]), q, float(top[p]))
            if new != self.method:
                self.switches[(self.method, new)] += 1
                self.method = new
        self._reservoir.extend(raws.tolist())
        self._min = min(self._min, float(raws.min()))
        self._max = float(top[-1])
        self._inserts += n
        self._q = q

    def map_many(self, raws: np.ndarray) -> np.ndarray:
        """map() of each value, as array operations on the current state (bit for bit the
        same values; the rare value whose arithmetic overflows takes map()'s own path)."""
        raws = np.asarray(raws, dtype=np.float64).reshape(-1)
        unit = self._unit_many(raws)
        return unit if self.floor == 0.0 else self.floor + (1.0 - self.floor) * unit

    def _unit_many(self, raws: np.ndarray) -> np.ndarray:
        n = raws.size
        if self._inserts == 0:
            return np.ones(n)
        with np.errstate(over="ignore", invalid="ignore"):
            if self.method == "minmax":
                if self._max - self._min <= 0:
                    return np.ones(n)
                return self._clipped_ratio(raws, self._min, self._max)
            q10, q50, q90, _ = self._q  # type: ignore[misc]
            spread = q90 - q10
            if self.method == "winsor":
                lo, hi = self._winsor_bounds()
                if hi - lo < EPS:
                    return np.full(n, 0.5)
                return self._clipped_ratio(np.minimum(np.maximum(raws, lo), hi), lo, hi)
            if spread < EPS:
                return np.full(n, 0.5)
            k = min(math.log(9.0) / spread, K_CAP)
            z = k * (raws - q50)
            odd = ~np.isfinite(z) | ((k == 0.0) & (raws != q50)) | (z < -700.0)
            # math.exp through map(): numpy's vector exp can differ in the last bit, and a
            # stored value must equal the one-by-one path's exactly
            neg = np.where(odd, 0.0, -z)
            out = 1.0 / (1.0 + np.fromiter(map(math.exp, neg.tolist()), np.float64, count=n))
            for i in np.flatnonzero(odd).tolist():  # overflowed arithmetic: map()'s own path
                out[i] = self._unit(float(raws[i]))
            return out

    @staticmethod
    def _clipped_ratio(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
        """min(1, max(0, _ratio(x, lo, hi, lo))) per value."""
        num, den = x - lo, hi - lo
        plain = np.isfinite(num) & math.isfinite(den)
        out = num / den if plain.all() else np.where(plain, num / den, (x / 2 - lo / 2) / (hi / 2 - lo / 2))
        return np.minimum(np.maximum(out, 0.0), 1.0) + 0.0  # + 0.0: never -0.0

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
