"""Hot tier budget and evictions, decay rebasing, pruning counts, the G1 gate."""

import numpy as np
import pytest

from memory.engine import Engine, EngineConfig, UnknownId
from memory.engine.hottier import HotTier

from .reference import brute_scores, check_topk

D = 8


def test_hot_tier_evicts_lowest_retention(rng):
    probe = Engine(D)
    probe.add(["p"], rng.normal(size=(1, D)))
    row_bytes = probe.row("p")["bytes"]
    eng = Engine(D, EngineConfig(hot_bytes=100 * row_bytes))
    now = 1_000_000.0
    ids = [f"m{i}" for i in range(100)]
    imp = np.arange(100, dtype=float)
    res = eng.add(ids, rng.normal(size=(100, D)), importance=imp, created=[now] * 100)
    assert res.evicted == [] and len(eng) == 100
    ranking_before = [i for i, _ in eng.retention_ranking(now=now)]
    res = eng.add([f"n{i}" for i in range(10)], rng.normal(size=(10, D)), importance=[99.0] * 10, created=[now] * 10)
    assert len(res.evicted) == 10
    assert set(res.evicted) == set(ranking_before[:10])  # the lowest retention left first
    assert len(eng) == 100
    st = eng.stats()
    assert st["eviction_count"] == 10 and st["hot_bytes"] <= 100 * row_bytes
    # a lookup of an evicted id is a miss, a resident one a hit
    victim = res.evicted[0]
    with pytest.raises(UnknownId, match="evicted"):
        eng.row(victim)
    assert victim not in eng and victim not in {h.id for h in eng.search(rng.normal(size=D), 200)}
    eng.row("m99")
    st = eng.stats()
    assert st["hot_tier_hit_ratio"] == 0.5
    # the store reloads it: a promotion
    eng.add([victim], rng.normal(size=(1, D)), importance=[99.0], created=[now])
    assert eng.stats()["promotions"] == 1 and victim in eng


def test_g1_gate_flag():
    tier = HotTier(None, latency_window=64)
    for _ in range(64):
        tier.latency(0.030)
    assert tier.metrics(rows=200_001, held=0)["g1_gate"] is True
    assert tier.metrics(rows=200_000, held=0)["g1_gate"] is False
    for _ in range(64):
        tier.latency(0.010)
    assert tier.metrics(rows=300_000, held=0)["g1_gate"] is False


def test_decay_rebase_keeps_ranking_exact(rng):
    tau = 10.0
    eng = Engine(D, EngineConfig(half_life_s=tau, block_rows=64))
    n = 600
    vecs = rng.normal(size=(n, D))
    created = np.sort(rng.uniform(0, 3000 * tau, n))  # 3000 half-lives: float32 would overflow without rebase
    ids = [f"t{i}" for i in range(n)]
    for lo in range(0, n, 50):
        eng.add(ids[lo:lo + 50], vecs[lo:lo + 50], created=created[lo:lo + 50])
    assert eng.stats()["time_rebases"] > 1
    now = created[-1] + 3 * tau
    q = rng.normal(size=D)
    hits = eng.search(q, 10, now=now)
    assert all(np.isfinite(h.score) for h in hits)
    check_topk(hits, ids, brute_scores(vecs, np.ones(n), created, q, half_life=tau, now=now), 10)


def test_pruning_reads_fewer_rows_with_varied_weights(rng):
    n = 20_000
    day = 86400.0
    vecs = rng.normal(size=(n, 32))
    created = rng.uniform(0, 90 * day, n)
    imp = rng.pareto(1.5, n)
    ids = [f"a{i}" for i in range(n)]
    pruned = Engine(32, EngineConfig(half_life_s=7 * day, block_rows=512))
    plain = Engine(32, EngineConfig(half_life_s=7 * day, block_rows=512, pruning=False))
    res = pruned.add(ids, vecs, importance=imp, created=created)
    plain.add(ids, vecs, importance_norm=res.importance_norm, created=created)
    now = 90 * day
    for _ in range(10):
        q = rng.normal(size=32)
        a, b = pruned.search(q, 10, now=now), plain.search(q, 10, now=now)
        assert [h.id for h in a] == [h.id for h in b]
    sp, su = pruned.stats(), plain.stats()
    assert su["scan_share"] == 1.0
    assert sp["bytes_scanned"] < 0.5 * su["bytes_scanned"]


def test_held_bytes_stay_the_sum_of_resident_rows(rng):
    """The budget is checked against a running byte count (no scan per insert); it must equal
    the bytes of the resident rows after adds, replacements, removals and evictions."""
    eng = Engine(D, EngineConfig(hot_bytes=60 * (D * 4 + 85 + 100), block_rows=64, initial_capacity=4))
    for rnd in range(8):
        ids = [f"h{rnd}-{i}" for i in range(25)] + ([f"h{rnd - 1}-3"] if rnd else [])  # one replacement
        eng.add(ids, rng.normal(size=(len(ids), D)), extra_bytes=rng.integers(0, 200, len(ids)),
                importance=rng.uniform(0, 5, len(ids)))
        eng.remove([f"h{rnd}-{i}" for i in range(0, 25, 4)])
        st = eng.stats()
        assert st["hot_bytes"] == sum(eng.row(i)["bytes"] for i in eng.ids())
        assert st["hot_bytes"] <= st["hot_budget"]
    assert eng.stats()["eviction_count"] > 0
