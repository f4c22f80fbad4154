"""The recall guard's decisions (the real RecallGuard, fed recalls directly): sound under
noise, widening before falling back, and recoverable."""

import numpy as np

from memory.engine.ann import RecallGuard


def guard(**kw):
    cfg = dict(floor=0.95, sample=1.0, window=200, candidates=6, ef=64, max_widen=3, budget=0.0, confidence=0.95,
               min_samples=30, probe_every=16)
    cfg.update(kw)
    return RecallGuard(**cfg)


def recalls(rng, mean, n, k=10):
    """Per-query recall@k with each true neighbour found with probability `mean`."""
    return rng.binomial(k, mean, n) / k


def test_noise_above_the_floor_never_widens():
    """True recall 0.97 against a floor of 0.95 (the case that fell back in one of two runs):
    over 20 independent streams of 1000 checks, not one decision."""
    for seed in range(20):
        g = guard()
        for r in recalls(np.random.default_rng(seed), 0.97, 1000):
            g.record(g.level, float(r))
        assert g.level == 0 and not g.fallback, seed
        m = g.metrics()["ann_guard"]
        assert m["evidence"][0]["samples"] == 200 and m["evidence"][0]["lower"] >= 0.95


def test_a_few_dozen_low_checks_are_not_enough():
    g = guard()
    for _ in range(29):
        g.record(0, 0.5)
    assert g.level == 0  # fewer than min_samples: no decision, however bad
    g.record(0, 0.5)
    assert g.level == 1 and g.widenings == 1


def test_widens_before_falling_back_then_recovers_and_narrows():
    rng = np.random.default_rng(1)
    g = guard(max_widen=2)
    for _ in range(3):  # every level is bad: widen, widen, then fall back
        level = g.level
        for r in recalls(rng, 0.80, 60):
            if g.level != level or g.fallback:
                break
            g.record(level, float(r))
    assert g.fallback and g.widenings == 2
    assert [d["action"] for d in g.metrics()["ann_guard"]["decisions"]] == ["widen", "widen", "fallback"]
    # in fallback, probes at the widest level: every probe_every-th exact query
    probes = [g.after_exact(0.001) for _ in range(64)]
    assert sum(probes) == 4 and g.probe_levels(None) == [2]
    # the data changed: the widest level is good again -> ANN serves again at that level
    for r in recalls(rng, 0.995, 200):
        if not g.fallback:
            break
        g.record(2, float(r))
    assert not g.fallback and g.level == 2
    # confirmed there, so checks also try the next narrower level, and go back when it is good
    for r in recalls(rng, 0.995, 200):
        g.record(2, float(r))
        for probe in g.probe_levels(2 if g.level == 2 else None):
            g.record(probe, float(r))
        if g.level < 2:
            break
    assert g.level == 1
    actions = [d["action"] for d in g.metrics()["ann_guard"]["decisions"]]
    assert actions[-2:] == ["recover", "narrow"]
    last = g.metrics()["ann_guard"]["decisions"][-1]
    assert last["evidence_level"] == 1 and last["samples"] >= 30 and last["lower"] >= 0.95


def test_budget_bounds_how_often_checks_run():
    """With a 5% budget and checks measured at 20x a query, at most ~1 query in 400 is sampled
    once the cost is known (the sampling share alone would allow every query)."""
    g = guard(budget=0.05)
    g.t_check = 0.020
    sampled = sum(g.after_ann(0.001) is not None for _ in range(4000))
    assert 1 <= sampled <= 4000 * 0.05 * 0.001 / 0.020 + 4
