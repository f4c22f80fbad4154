"""Property tests: every search path equals a plain numpy brute force on random data."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory.engine import Engine, EngineConfig

from .reference import brute_scores, check_topk

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

case = st.fixed_dictionaries({
    "seed": st.integers(0, 2**32 - 1),
    "n": st.integers(1, 700),
    "dim": st.sampled_from([3, 8, 17]),
    "k": st.integers(1, 25),
    "alpha": st.sampled_from([0.0, 0.5, 1.0, 2.0]),
    "half_life": st.sampled_from([np.inf, 50.0, 1000.0]),
    "floor": st.sampled_from([0.0, 0.05]),
    "dtype": st.sampled_from(["float32", "float16"]),
    "removed": st.floats(0.0, 0.6),
    "skew": st.booleans(),
})


def build(c):
    rng = np.random.default_rng(c["seed"])
    n, dim = c["n"], c["dim"]
    vecs = rng.normal(size=(n, dim))
    if c["dtype"] == "float16":  # compare against what float16 storage holds
        vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float16).astype(np.float64)
    imp = rng.lognormal(sigma=2.0, size=n) if c["skew"] else rng.uniform(0, 10, n)
    created = rng.uniform(0, 2000, n)
    ids = [f"id{i}" for i in range(n)]
    cfg = EngineConfig(alpha=c["alpha"], half_life_s=c["half_life"], decay_floor=c["floor"], dtype=c["dtype"],
                       block_rows=64, initial_capacity=16)
    eng = Engine(dim, cfg)
    # several batches so importance state, growth and reorganisation all happen
    norms = np.empty(n)
    for lo in range(0, n, 97):
        res = eng.add(ids[lo:lo + 97], vecs[lo:lo + 97], importance=imp[lo:lo + 97], created=created[lo:lo + 97])
        norms[lo:lo + 97] = res.importance_norm
    keep = np.ones(n, bool)
    gone = rng.random(n) < c["removed"]
    eng.remove([i for i, g in zip(ids, gone) if g])
    keep &= ~gone
    return rng, eng, ids, vecs, norms, created, keep


def tol(c):
    return 2e-5 if c["dtype"] == "float32" else 2e-3


@SETTINGS
@given(case)
def test_exact_and_pruned_equal_brute_force(c):
    rng, eng, ids, vecs, norms, created, keep = build(c)
    unpruned = Engine(c["dim"], EngineConfig(alpha=c["alpha"], half_life_s=c["half_life"], decay_floor=c["floor"],
                                              dtype=c["dtype"], pruning=False))
    live = [i for i, k in zip(ids, keep) if k]
    if live:
        idx = np.flatnonzero(keep)
        unpruned.add(live, vecs[idx], importance_norm=norms[idx], created=created[idx])
    for _ in range(3):
        q = rng.normal(size=c["dim"])
        now = float(rng.uniform(1000, 3000))
        ref = brute_scores(vecs, norms, created, q, alpha=c["alpha"], half_life=c["half_life"], floor=c["floor"],
                           now=now, mask=keep)
        check_topk(eng.search(q, c["k"], now=now), ids, ref, c["k"], tol(c))
        check_topk(unpruned.search(q, c["k"], now=now), ids, ref, c["k"], tol(c))


@SETTINGS
@given(case, st.integers(1, 9))
def test_batch_equals_brute_force(c, m):
    rng, eng, ids, vecs, norms, created, keep = build(c)
    qs = rng.normal(size=(m, c["dim"]))
    now = 2500.0
    results = eng.search_batch(qs, c["k"], now=now)
    assert len(results) == m
    for q, hits in zip(qs, results):
        ref = brute_scores(vecs, norms, created, q, alpha=c["alpha"], half_life=c["half_life"], floor=c["floor"],
                           now=now, mask=keep)
        check_topk(hits, ids, ref, c["k"], tol(c))


@SETTINGS
@given(case)
def test_filters_equal_brute_force(c):
    rng, eng, ids, vecs, norms, created, keep = build(c)
    q = rng.normal(size=c["dim"])
    allowed = rng.random(len(ids)) < rng.uniform(0.01, 0.5)
    hits = eng.search(q, c["k"], now=2000.0, allowed_ids=[i for i, a in zip(ids, allowed) if a])
    ref = brute_scores(vecs, norms, created, q, alpha=c["alpha"], half_life=c["half_life"], floor=c["floor"],
                       now=2000.0, mask=keep & allowed)
    check_topk(hits, ids, ref, c["k"], tol(c))
    lo, hi = sorted(rng.uniform(0, 2000, 2))
    hits = eng.search(q, c["k"], now=2000.0, created_range=(lo, hi))
    ref = brute_scores(vecs, norms, created, q, alpha=c["alpha"], half_life=c["half_life"], floor=c["floor"],
                       now=2000.0, mask=keep & (created >= lo) & (created <= hi))
    check_topk(hits, ids, ref, c["k"], tol(c))


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(2, 300))
def test_deletes_never_resurface(seed, n):
    rng = np.random.default_rng(seed)
    eng = Engine(8, EngineConfig(block_rows=64, initial_capacity=4))
    removed: set[str] = set()
    alive: set[str] = set()
    next_id = 0
    for _ in range(6):
        batch = [f"x{next_id + i}" for i in range(int(rng.integers(1, n)))]
        next_id += len(batch)
        eng.add(batch, rng.normal(size=(len(batch), 8)), importance=rng.uniform(0, 5, len(batch)))
        alive.update(batch)
        gone = [i for i in sorted(alive) if rng.random() < 0.4]
        assert eng.remove(gone + ["never-added"]) == len(gone)
        alive.difference_update(gone)
        removed.update(gone)
        assert len(eng) == len(alive)
        q = rng.normal(size=8)
        everything = eng.search(q, len(alive) + 5)
        assert {h.id for h in everything} == alive
        for hits in eng.search_batch(rng.normal(size=(3, 8)), len(alive) + 5):
            assert {h.id for h in hits} == alive
        assert not removed & set(eng.ids())
        assert all(i not in eng for i in removed)
    # a removed id can come back only by being added again
    back = sorted(removed)[:1]
    if back:
        eng.add(back, rng.normal(size=(1, 8)))
        assert back[0] in eng


@SETTINGS
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=700),
       st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=50))
def test_importance_monotonic(history, probe):
    from memory.engine.importance import AdaptiveImportance

    imp = AdaptiveImportance()
    for r in history:
        imp.observe(r)
    probe = sorted(probe)
    mapped = imp.map_many(np.asarray(probe))
    assert ((mapped >= 0) & (mapped <= 1)).all()
    assert (np.diff(mapped) >= -1e-12).all(), (imp.method, probe, mapped)
    # and through the engine: one batch maps monotonically, stored values never change later
    eng = Engine(4)
    rng = np.random.default_rng(len(history))
    ids = [f"p{i}" for i in range(len(probe))]
    res = eng.add(ids, rng.normal(size=(len(probe), 4)), importance=probe)
    assert (np.diff(res.importance_norm) >= -1e-12).all()
    eng.add([f"h{i}" for i in range(len(history))], rng.normal(size=(len(history), 4)), importance=history)
    assert [eng.row(i)["importance_norm"] for i in ids] == res.importance_norm.tolist()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.sampled_from(["hnsw", "faiss"]))
def test_deletes_never_resurface_through_the_index(seed, backend):
    """The same property on the ANN path: removed and evicted rows never come back through the index,
    also after their slots are reused and the slab is re-packed."""
    rng = np.random.default_rng(seed)
    eng = Engine(8, EngineConfig(ann=backend, ann_min_rows=10, block_rows=64, recall_sample=0.0,
                                 ann_prefer_faster=False, initial_capacity=8,
                                 hot_bytes=30 * (8 * 4 + 85)))  # 30 rows stay resident: every first batch evicts
    gone: set[str] = set()
    alive: set[str] = set()
    vecs: dict[str, np.ndarray] = {}
    for rnd in range(6):
        batch = [f"y{rnd}-{i}" for i in range(int(rng.integers(40, 120)))]
        v = rng.normal(size=(len(batch), 8))
        evicted = eng.add(batch, v).evicted
        vecs.update(zip(batch, v))
        alive.update(batch)
        alive.difference_update(evicted)
        gone.update(evicted)
        out = [i for i in sorted(alive) if rng.random() < 0.4]
        eng.remove(out)
        alive.difference_update(out)
        gone.update(out)
        assert eng.stats()["ann_built"]
        assert set(eng.ids()) == alive
        for probe in rng.choice(sorted(gone), size=min(5, len(gone)), replace=False):
            hits = eng.search(vecs[probe], 10)  # the removed row's own vector: its best match
            assert probe not in {h.id for h in hits} and {h.id for h in hits} <= alive
    st = eng.stats()
    assert st["ann_ms"] is not None  # the index answered (not only the exact path)
    assert st["eviction_count"] > 0  # and the budget evicted rows along the way
