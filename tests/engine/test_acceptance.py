"""The roadmap's acceptance matrix (reference §1.11), one test per row, named exactly."""

import math

import numpy as np
import pytest

from memory.engine import Engine, EngineConfig

DIM = 32


def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def test_norm_invariant(rng):
    eng = Engine(DIM)
    vecs = rng.normal(scale=50.0, size=(200, DIM))
    eng.add([f"m{i}" for i in range(200)], vecs)
    norms = np.array([np.linalg.norm(eng.row(f"m{i}")["vector"]) for i in range(200)])
    assert np.abs(norms - 1.0).max() < 1e-6
    # direction is kept: the stored vector equals the input divided by its norm
    np.testing.assert_allclose(eng.row("m7")["vector"], unit(vecs[7]), atol=1e-6)


def test_similarity_monotonicity(rng):
    eng = Engine(DIM)
    q = unit(rng.normal(size=DIM))
    ortho = unit(rng.normal(size=DIM) - (rng.normal(size=DIM) @ q) * q)
    ortho = unit(ortho - (ortho @ q) * q)
    angles = np.linspace(0.0, 1.4, 8)  # radians, increasing -> cosine decreasing
    vecs = [math.cos(a) * q + math.sin(a) * ortho for a in angles]
    eng.add([f"a{i}" for i in range(8)][::-1], np.array(vecs)[::-1])  # insertion order must not matter
    hits = eng.search(q, 8)
    assert [h.id for h in hits] == [f"a{i}" for i in range(8)]
    sims = [h.similarity for h in hits]
    assert sims == sorted(sims, reverse=True)
    np.testing.assert_allclose(sims, np.cos(angles), atol=1e-6)


def test_zero_similarity_clamp(rng):
    eng = Engine(DIM)
    q = unit(rng.normal(size=DIM))
    eng.add(["opposite", "orthogonal-ish"], np.stack([-q, unit(rng.normal(size=DIM))]))
    hits = eng.search(q, 5)
    assert len(hits) == 2
    by_id = {h.id: h for h in hits}
    assert by_id["opposite"].similarity == 0.0 and by_id["opposite"].score == 0.0
    assert all(h.score >= 0.0 and h.similarity >= 0.0 for h in hits)


def test_importance_present(rng):
    eng = Engine(DIM)
    res = eng.add([f"m{i}" for i in range(100)], rng.normal(size=(100, DIM)), importance=rng.exponential(size=100))
    assert res.importance_norm.shape == (100,)
    assert ((res.importance_norm >= 0) & (res.importance_norm <= 1)).all()
    for i in (0, 50, 99):
        row = eng.row(f"m{i}")
        assert 0.0 <= row["importance_norm"] <= 1.0
        assert row["importance_norm"] == res.importance_norm[i]
    # at equal similarity, higher importance ranks higher
    v = unit(rng.normal(size=DIM))
    eng2 = Engine(DIM)
    eng2.add(["low", "high"], np.stack([v, v]), importance=[1.0, 100.0])
    hits = eng2.search(v, 2)
    assert [h.id for h in hits] == ["high", "low"]
    assert all(h.importance == eng2.row(h.id)["importance_norm"] for h in hits)


def test_half_life_halving(rng):
    tau = 3600.0
    eng = Engine(DIM, EngineConfig(half_life_s=tau))
    v = unit(rng.normal(size=DIM))
    eng.add(["x"], v[None, :], created=[1_000_000.0])
    for dt, want in ((0.0, 1.0), (tau, 0.5), (2 * tau, 0.25)):
        (hit,) = eng.search(v, 1, now=1_000_000.0 + dt)
        assert abs(hit.decay - want) < 1e-6
        assert abs(hit.score - hit.similarity * hit.importance * want) < 1e-6
    # decay runs from creation, not from the last access
    eng.touch(["x"], now=1_000_000.0 + tau)
    assert abs(eng.search(v, 1, now=1_000_000.0 + tau)[0].decay - 0.5) < 1e-6
    # the floor: decay never goes below it, and is exact above it
    floored = Engine(DIM, EngineConfig(half_life_s=tau, decay_floor=0.3))
    floored.add(["x"], v[None, :], created=[1_000_000.0])
    assert abs(floored.search(v, 1, now=1_000_000.0 + tau)[0].decay - 0.5) < 1e-6
    assert floored.search(v, 1, now=1_000_000.0 + 2 * tau)[0].decay == 0.3
    # tau = inf disables decay
    eng_inf = Engine(DIM)
    eng_inf.add(["x"], v[None, :], created=[0.0])
    assert eng_inf.search(v, 1, now=1e9)[0].decay == 1.0


def test_retention_ordering():
    now = 10_000_000.0
    day = 86400.0
    cfg = EngineConfig(retention_half_life_s=day, gamma1=1.0, gamma2=1.0, gamma3=0.5, gamma4=0.1, cost_unit_bytes=1024)
    eng = Engine(DIM, cfg)
    rng = np.random.default_rng(3)
    base = dict(created=[now - 30 * day] * 2)
    # each pair differs in exactly one factor of R
    eng.add(["imp-hi", "imp-lo"], rng.normal(size=(2, DIM)), importance=[10.0, 1.0], **base)
    eng.add(["recent", "stale"], rng.normal(size=(2, DIM)), importance=[5.0, 5.0], **base)
    eng.add(["frequent", "rare"], rng.normal(size=(2, DIM)), importance=[5.0, 5.0], **base)
    eng.add(["small", "big"], rng.normal(size=(2, DIM)), importance=[5.0, 5.0], extra_bytes=[0, 64 * 1024], **base)
    eng.touch(["recent"], now=now)
    eng.touch(["stale"], now=now - 10 * day)
    for _ in range(5):
        eng.touch(["frequent"], now=now - 2 * day)
    eng.touch(["rare"], now=now - 2 * day)
    ranking = eng.retention_ranking(now=now)
    pos = {i: n for n, (i, _) in enumerate(ranking)}
    for better, worse in (("imp-hi", "imp-lo"), ("recent", "stale"), ("frequent", "rare"), ("small", "big")):
        assert pos[worse] < pos[better], (worse, better, ranking)
    scores = [r for _, r in ranking]
    assert scores == sorted(scores)
    # and the values are the formula of reference §1.5
    c_max = 5
    row = eng.row("frequent")
    cost = row["bytes"] / 1024
    want = (row["importance_norm"] + 2 ** (-(now - row["last_access"]) / day)
            + 0.5 * math.log1p(5) / math.log1p(c_max) - 0.1 * cost)
    assert abs(dict(ranking)["frequent"] - want) < 1e-6  # i**alpha is kept in float32


def test_float16_recall(rng):
    n, d, k = 5000, 64, 10
    centers = rng.normal(size=(50, d))
    vecs = centers[rng.integers(0, 50, n)] + 0.5 * rng.normal(size=(n, d))
    ids = [f"m{i}" for i in range(n)]
    imp = rng.lognormal(size=n)
    created = rng.uniform(0, 90 * 86400, n)
    cfg = dict(half_life_s=30 * 86400, block_rows=512)
    e32 = Engine(d, EngineConfig(dtype="float32", **cfg))
    e16 = Engine(d, EngineConfig(dtype="float16", **cfg))
    e32.add(ids, vecs, importance=imp, created=created)
    e16.add(ids, vecs, importance=imp, created=created)
    queries = centers[rng.integers(0, 50, 100)] + 0.5 * rng.normal(size=(100, d))
    found = 0
    for q in queries:
        a = {h.id for h in e32.search(q, k, now=90 * 86400)}
        b = {h.id for h in e16.search(q, k, now=90 * 86400)}
        found += len(a & b)
    assert found / (k * len(queries)) >= 0.999
    # a row's own vector as the query: float16 rounding must not push a similarity above 1
    for i in (0, 1, 2):
        (hit,) = e16.search(vecs[i], 1, now=created[i], allowed_ids=[ids[i]])
        assert hit.id == ids[i] and hit.similarity <= 1.0 and hit.score <= 1.0
        assert hit.similarity == pytest.approx(1.0, abs=2e-3)
    assert e16.stats()["bytes"] < e32.stats()["bytes"]
