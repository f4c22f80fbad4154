"""Adaptive importance against reference-upstream §1.14, re-derived here from the spec text
(independently of memory/engine/importance.py), value by value over whole insert streams."""

import collections
import math

import numpy as np
import pytest

from memory.engine import AdaptiveImportance, Engine

EPS = 1e-12


class Spec:
    """§1.14 as written: FIFO reservoir of 512, running min/max, q10/q50/q90/q99 every 64
    inserts, min-max -> winsorised -> logistic with k = min(ln 9 / (q90 - q10), 25).
    One documented deviation (docs/engine.md): min-max with span 0 gives 1.0."""

    def __init__(self):
        self.res = collections.deque(maxlen=512)
        self.lo, self.hi, self.n, self.q = math.inf, -math.inf, 0, None

    def insert(self, raw):
        self.res.append(raw)
        self.lo, self.hi, self.n = min(self.lo, raw), max(self.hi, raw), self.n + 1
        if self.q is None or self.n % 64 == 0:
            self.q = np.percentile(list(self.res), [10, 50, 90, 99])
        return self.method(), self.norm(raw)

    def method(self):
        if len(self.res) < 64:
            return "minmax"
        q10, q50, q90, q99 = self.q
        tail_max = (self.hi - q90) / max(q90 - q50, EPS)
        tail_ext = (q99 - q90) / max(q90 - q50, EPS)
        asym = (q90 - q50) / max(q50 - q10, EPS)
        if tail_max <= 5 and asym <= 3:
            return "minmax"
        if tail_max <= 15 and tail_ext <= 8:
            return "winsor"
        return "logistic"

    def norm(self, raw):
        q10, q50, q90, _ = self.q
        m = self.method()
        if m == "minmax":
            span = self.hi - self.lo
            return 1.0 if span == 0 else min(1.0, max(0.0, (raw - self.lo) / span))
        spread = q90 - q10
        if m == "winsor":
            spread = spread or 1.0
            lo, hi = max(self.lo, q10 - 0.25 * spread), min(self.hi, q90 + 0.25 * spread)
            return 0.5 if hi - lo < EPS else (min(max(raw, lo), hi) - lo) / (hi - lo)
        if spread < EPS:
            return 0.5
        k = min(math.log(9) / spread, 25.0)
        return 1.0 / (1.0 + math.exp(-k * (raw - q50)))


STREAMS = {
    "uniform": lambda r: r.uniform(0, 10, 1500),
    "moderate tail": lambda r: np.concatenate([r.normal(5, 1, 700), r.uniform(9, 12, 20)])[r.permutation(720)],
    "heavy tail": lambda r: r.lognormal(0, 2.0, 1500),
    "narrow core, k capped": lambda r: np.where(r.random(1500) < 0.02, r.uniform(0, 100, 1500),
                                                r.uniform(1.0, 1.02, 1500)),
    "drift past the reservoir": lambda r: np.concatenate([r.uniform(0, 1, 700), r.lognormal(3, 1.5, 800)]),
}


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_adaptive_importance_follows_the_spec(name):
    raws = STREAMS[name](np.random.default_rng(11)).tolist()
    spec, imp = Spec(), AdaptiveImportance()
    methods = collections.Counter()
    for n, raw in enumerate(raws):
        want_method, want = spec.insert(raw)
        got = imp.normalise(raw)
        assert imp.method == want_method, (n, raw)
        assert got == pytest.approx(want, abs=1e-12), (n, raw, want_method)
        methods[want_method] += 1
    assert methods["minmax"] >= 63  # the warm-up
    if name == "narrow core, k capped":
        q10, _, q90, _ = spec.q
        assert math.log(9) / (q90 - q10) > 25 and methods["logistic"]  # the cap is what was used


def test_every_method_is_reached():
    seen = set()
    for make in STREAMS.values():
        spec = Spec()
        for raw in make(np.random.default_rng(11)).tolist():
            seen.add(spec.insert(raw)[0])
    assert seen == {"minmax", "winsor", "logistic"}


def test_quantiles_refresh_every_64_inserts_only():
    imp = AdaptiveImportance()
    for raw in np.linspace(0, 1, 64):
        imp.normalise(float(raw))
    before = imp.snapshot()
    for _ in range(63):  # far outside the core, but no refresh before insert 128
        imp.normalise(1000.0)
    assert imp.snapshot()["q90"] == before["q90"]
    imp.normalise(1000.0)
    assert imp.snapshot()["q90"] > before["q90"]


def test_upstream_transition_case():
    """Upstream's own check: 80x1, 15x2, 5x3, then outliers 500, 1000, 2000 leave min-max, and
    a mid value maps into (0.15, 0.85) under the logistic."""
    imp = AdaptiveImportance()
    for raw in [1.0] * 80 + [2.0] * 15 + [3.0] * 5 + [500.0, 1000.0, 2000.0]:
        imp.normalise(raw)
    assert imp.method in ("winsor", "logistic")
    if imp.method == "logistic":
        assert 0.15 < imp.map(2.0) < 0.85


def test_stored_value_is_the_value_at_insert_time():
    """The engine stores what the normaliser gave at insert time and never recomputes it."""
    raws = STREAMS["drift past the reservoir"](np.random.default_rng(5))
    spec = Spec()
    eng = Engine(4)
    rng = np.random.default_rng(6)
    for n, raw in enumerate(raws[:300].tolist()):
        res = eng.add([f"r{n}"], rng.normal(size=(1, 4)), importance=[raw])
        assert res.importance_norm[0] == pytest.approx(spec.insert(raw)[1], abs=1e-12)
    first = [eng.row(f"r{n}")["importance_norm"] for n in range(300)]
    eng.add([f"s{n}" for n in range(1200)], rng.normal(size=(1200, 4)), importance=raws[300:].tolist())
    assert [eng.row(f"r{n}")["importance_norm"] for n in range(300)] == first


# -- finite in, finite out (the hardening issue's poison bulk) ------------------------------
from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402

_FINITE = st.floats(allow_nan=False, allow_infinity=False)


def test_overflowing_spread_stays_finite():
    """1.7e308 and -1.7e308 alternating: every difference of the two overflows."""
    imp = AdaptiveImportance()
    raws = np.array([1.7e308, -1.7e308] * 100)
    out = imp.normalise_many(raws)
    assert np.isfinite(out).all() and (out >= 0).all() and (out <= 1).all()
    assert out[0] > out[1]  # still monotonic in the raw value
    for r in (1.7e308, 0.0, -1.7e308, 5e-324):
        assert 0.0 <= imp.normalise(r) <= 1.0
    snap = imp.snapshot()
    assert all(math.isfinite(snap[q]) for q in ("q10", "q50", "q90", "q99"))


@hsettings(max_examples=200, deadline=None)
@given(batches=st.lists(st.lists(_FINITE, min_size=1, max_size=80), min_size=1, max_size=6))
def test_any_finite_stream_normalises_to_unit_interval(batches):
    imp = AdaptiveImportance(recompute_every=8)
    for batch in batches:
        raws = np.asarray(batch, dtype=np.float64)
        out = imp.normalise_many(raws)
        assert np.isfinite(out).all() and (out >= 0).all() and (out <= 1).all(), (batch, out)
        order = np.argsort(raws, kind="stable")
        assert (np.diff(out[order]) >= 0).all()  # monotonic within one insert


# -- the batch path is the one-by-one path, as array operations ---------------------------
def _one_by_one(imp: AdaptiveImportance, raws) -> np.ndarray:
    """normalise_many as §1.14 states it: observe each value in order, then map each."""
    for r in raws:
        imp.observe(float(r))
    return np.asarray([imp.map(float(r)) for r in raws])


_SCALES = st.sampled_from([1.0, 1e3, 1e300])


@hsettings(max_examples=300, deadline=None)
@given(batches=st.lists(st.tuples(st.lists(_FINITE, min_size=1, max_size=150), _SCALES), min_size=1, max_size=8),
       floor=st.sampled_from([0.0, 0.2]), every=st.sampled_from([8, 64]), skewed=st.booleans())
def test_batch_path_equals_one_by_one(batches, floor, every, skewed):
    """Same values bit for bit, same state, same switch counts: replicas that normalise one
    by one (or an older process) and a batch writer agree exactly."""
    fast = AdaptiveImportance(reservoir=128, recompute_every=every, floor=floor)
    slow = AdaptiveImportance(reservoir=128, recompute_every=every, floor=floor)
    arrays = AdaptiveImportance(reservoir=128, recompute_every=every, floor=floor)  # never the small path
    for batch, scale in batches:
        raws = np.asarray(batch, dtype=np.float64)
        if skewed:  # heavy tails push the decision tree through winsor and logistic
            raws = np.sign(raws) * np.abs(raws) ** 0.5 * scale if scale < 1e300 else raws
        want = _one_by_one(slow, raws)
        got = fast.normalise_many(raws)
        assert got.tolist() == want.tolist()
        arrays.observe_many(raws)
        assert arrays.map_many(raws).tolist() == want.tolist()
        assert arrays.snapshot() == slow.snapshot() or json_same(arrays.snapshot(), slow.snapshot())
        assert fast.snapshot() == slow.snapshot() or json_same(fast.snapshot(), slow.snapshot())
        assert list(fast._reservoir) == list(slow._reservoir)


def test_batch_path_walks_every_method():
    """A stream that visits minmax, winsor and logistic, in batches of every size."""
    rng = np.random.default_rng(3)
    stream = np.concatenate([rng.normal(size=200), rng.lognormal(0, 1, 300), rng.pareto(0.7, 400),
                             rng.normal(size=300)])
    fast, slow = AdaptiveImportance(floor=0.2), AdaptiveImportance(floor=0.2)
    methods, at = set(), 0
    for size in (1, 7, 64, 65, 129, 500, 1, 3, 1000):
        raws = stream[at:at + size]
        at += size
        assert fast.normalise_many(raws).tolist() == _one_by_one(slow, raws).tolist()
        assert fast.snapshot() == slow.snapshot()
        methods.add(fast.method)
    assert methods == {"minmax", "winsor", "logistic"}, methods


def json_same(a: dict, b: dict) -> bool:
    # NaN quantiles before the first recompute compare unequal to themselves
    import json
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _state(a: AdaptiveImportance):
    return a.snapshot(), list(a._reservoir), a.method


@pytest.mark.parametrize("seed", range(6))
def test_observe_many_is_observe_in_order(seed):
    """The index load feeds whole chunks (observe_many): the state, method switches
    included, is the one observe() value by value gives, however the stream is cut."""
    rng = np.random.default_rng(seed)
    # heavy tails and bursts, so the method switches back and forth
    stream = np.concatenate([rng.lognormal(0, 0.3 + seed, 700), rng.pareto(1.5, 900) * 50,
                             rng.normal(1, 0.01, 300), rng.lognormal(2, 2, 2500)])
    one, many = AdaptiveImportance(), AdaptiveImportance()
    for x in stream.tolist():
        one.observe(x)
    cuts = np.sort(rng.choice(np.arange(1, stream.size), size=12, replace=False))
    for part in np.split(stream, cuts):
        many.observe_many(part)
    assert _state(many) == _state(one)
    assert sum(one.switches.values()) > 0  # the stream did exercise switching


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=400),
       st.lists(st.integers(1, 150), min_size=1, max_size=10))
def test_observe_many_matches_observe_property(values, sizes):
    one, many = _one_by_one_and_in_parts(values, sizes, reservoir=64, recompute_every=8)
    assert _state(many) == _state(one)


def _one_by_one_and_in_parts(values, sizes, **kw):
    """Two normalisers fed `values`: one value by value, one in parts of `sizes` (cycled)."""
    one, many = AdaptiveImportance(**kw), AdaptiveImportance(**kw)
    for x in values:
        one.observe(x)
    i = 0
    for size in sizes * (len(values) // max(1, sum(sizes)) + 1):
        many.observe_many(values[i: i + size])
        i += size
        if i >= len(values):
            break
    return one, many


@pytest.mark.parametrize("seed", range(3))
def test_observe_many_whole_stream_at_once(seed):
    """One call over thousands of values takes the windowed path (one percentile call for
    every recompute); the state is still observe()'s, value by value."""
    rng = np.random.default_rng(100 + seed)
    stream = np.concatenate([rng.lognormal(0, 2, 3000), rng.pareto(1.2, 3000) * 10, rng.normal(5, 1, 3000)])
    one, many = AdaptiveImportance(), AdaptiveImportance()
    for x in stream.tolist():
        one.observe(x)
    many.observe_many(stream[:600])  # fills the reservoir (value by value and per segment)
    many.observe_many(stream[600:])  # the windowed path
    assert _state(many) == _state(one) and sum(one.switches.values()) > 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([1.7e308, -1.7e308, 0.0])),
                min_size=1, max_size=300),
       st.lists(st.integers(1, 120), min_size=1, max_size=8))
def test_observe_many_matches_observe_over_the_whole_float_range(values, sizes):
    """Windows whose spread overflows (values near the float range) take the halves path in
    the windowed percentiles too: still observe()'s state, value by value."""
    one, many = _one_by_one_and_in_parts(values, sizes, reservoir=32, recompute_every=4)
    assert _state(many) == _state(one)
