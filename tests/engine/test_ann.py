"""hnswlib adapter behind the recall guard (real hnswlib index, no stand-ins)."""

import numpy as np
import pytest

from memory.engine import Engine, EngineConfig

from .reference import brute_scores, check_topk

N, D = 3000, 16


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(30, D))
    vecs = centers[rng.integers(0, 30, N)] + 0.3 * rng.normal(size=(N, D))
    return rng, [f"r{i}" for i in range(N)], vecs


def make(data, **kw):
    rng, ids, vecs = data
    # every query checked, no cost thinning, no speed-based bypass: the guard's logic alone
    cfg = dict(ann="hnsw", ann_min_rows=1000, recall_sample=1.0, recall_window=8, recall_min_samples=8, ann_ef=64,
               recall_budget=0.0, ann_prefer_faster=False)
    cfg.update(kw)
    eng = Engine(D, EngineConfig(**cfg))
    eng.add(ids, vecs)
    return eng


def searched(eng, q, k, **kw):
    """One search, then wait for the check it queued (checks run on the guard's worker)."""
    hits = eng.search(q, k, **kw)
    eng.drain()
    return hits


def test_below_threshold_is_exact(data):
    rng, ids, vecs = data
    eng = Engine(D, EngineConfig(ann="hnsw", ann_min_rows=10 * N))
    eng.add(ids, vecs)
    q = rng.normal(size=D)
    check_topk(eng.search(q, 10), ids, brute_scores(vecs, np.ones(N), None, q), 10)
    st = eng.stats()
    assert st["ann_built"] is False and st["ann_recall_samples"] == 0


def test_recall_metric_and_rerank(data):
    rng, ids, vecs = data
    eng = make(data)
    assert eng.stats()["ann_built"]
    for _ in range(20):
        q = vecs[rng.integers(N)] + 0.1 * rng.normal(size=D)
        hits = searched(eng, q, 10)
        assert len(hits) == 10
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    st = eng.stats()
    assert st["ann_recall_samples"] == 20
    assert st["ann_recall_at_k"] is not None and st["ann_recall_at_k"] >= 0.95
    assert st["ann_fallback_exact"] is False
    guard = st["ann_guard"]
    assert guard["worker"].startswith("recall-guard")  # checks ran off the query thread
    assert guard["evidence"][0]["samples"] == 8  # the last recall_window checks are the evidence
    assert guard["state"] == "ann" and not [d for d in guard["decisions"] if d["action"] != "narrow"]


def test_deleted_rows_never_come_back_through_the_index(data):
    rng, ids, vecs = data
    eng = make(data)
    q = vecs[5]
    first = [h.id for h in eng.search(q, 10)]
    assert eng.remove(first) == 10
    again = eng.search(q, 10)
    assert not set(first) & {h.id for h in again}
    # rows reused from the free list get new labels: the old label must not map to them
    eng.add(["new"], rng.normal(size=(1, D)))
    assert not set(first) & {h.id for h in eng.search(q, 50)}


def test_guard_widens_then_falls_back(data):
    rng, ids, vecs = data
    # strong decay makes the cosine candidates a poor proxy for the full score
    created = rng.uniform(0, 100, N)
    eng = Engine(D, EngineConfig(ann="hnsw", ann_min_rows=1000, recall_sample=1.0, recall_window=64,
                                 recall_min_samples=8, recall_floor=0.999, ann_ef=10, ann_candidates=1,
                                 ann_max_widen=1, half_life_s=5.0, recall_budget=0.0, ann_prefer_faster=False,
                                 recall_probe_every=4))
    eng.add(ids, vecs, created=created)
    for _ in range(40):
        searched(eng, rng.normal(size=D), 10, now=100.0)
    st = eng.stats()
    assert st["ann_widenings"] == 1
    assert st["ann_fallback_exact"] is True
    # each decision carries its evidence: enough checks, and an upper bound under the floor
    decisions = st["ann_guard"]["decisions"]
    assert [d["action"] for d in decisions] == ["widen", "fallback"]
    for d in decisions:
        assert d["samples"] >= 8 and d["upper"] < d["floor"] == 0.999
    # in fallback every 4th query is probed through the index at the widest level, on the worker
    before, probes = st["ann_recall_samples"], st["ann_guard"]["evidence"][1]["samples"]
    for _ in range(8):
        searched(eng, rng.normal(size=D), 10, now=100.0)
    st = eng.stats()
    assert st["ann_recall_samples"] == before + 2 and st["ann_guard"]["evidence"][1]["samples"] == probes + 2
    assert st["ann_fallback_exact"]  # recall at the widest level is still far under 0.999: no recovery
    # after the fallback every answer is the exact one
    norms = np.array([eng.row(i)["importance_norm"] for i in ids])
    q = rng.normal(size=D)
    check_topk(eng.search(q, 10, now=100.0), ids, brute_scores(vecs, norms, created, q, half_life=5.0, now=100.0), 10)


def test_exact_flag_and_filters_bypass_ann(data):
    rng, ids, vecs = data
    eng = make(data, recall_sample=0.0)
    q = rng.normal(size=D)
    ref = brute_scores(vecs, np.ones(N), None, q)
    check_topk(eng.search(q, 10, exact=True), ids, ref, 10)
    allowed = set(ids[::7])
    mask = np.array([i in allowed for i in ids])
    check_topk(eng.search(q, 10, allowed_ids=allowed), ids, np.where(mask, ref, -np.inf), 10)


def test_guard_checks_off_the_query_path(data):
    rng, ids, vecs = data
    eng = make(data, recall_sample=0.5)
    for _ in range(40):
        eng.search(vecs[rng.integers(N)], 10)
    eng.drain()
    st = eng.stats()
    # every 2nd query sampled; a full queue skips (and counts) instead of making a query wait
    assert st["ann_recall_samples"] + st["ann_recall_skipped"] == 20
    assert st["ann_recall_samples"] >= 1 and st["ann_recall_at_k"] >= 0.95
    assert st["ann_guard"]["worker"].startswith("recall-guard")
    eng.close()


def test_chunked_exact_check_equals_exact_search(rng):
    """The check scans CHECK_CHUNK_ROWS rows per hold of the read lock; pieced together it is
    the exact answer, and a write in between drops it."""
    from memory.engine.engine import CHECK_CHUNK_ROWS

    n = 2 * CHECK_CHUNK_ROWS + 500
    vecs = rng.normal(size=(n, 8))
    ids = [f"c{i}" for i in range(n)]
    for cfg in (EngineConfig(ann="hnsw", ann_min_rows=10 * n),
                EngineConfig(ann="hnsw", ann_min_rows=10 * n, quantized_scan=False, half_life_s=50.0)):
        eng = Engine(8, cfg)
        eng.add(ids, vecs, importance=rng.uniform(0, 5, n), created=rng.uniform(0, 100, n))
        for q in rng.normal(size=(3, 8)):
            expected = [h.id for h in eng.search(q, 7, now=100.0, exact=True)]
            assert sorted(eng._exact_ids_chunked(q.astype(np.float32) / np.linalg.norm(q), 7, 100.0)) == sorted(expected)


def test_faiss_adapter_reranks_and_forgets_deleted_rows(data):
    rng, ids, vecs = data
    eng = Engine(D, EngineConfig(ann="faiss", ann_min_rows=1000, recall_sample=1.0, recall_window=8,
                                 recall_min_samples=8, recall_budget=0.0, ann_prefer_faster=False))
    eng.add(ids, vecs)
    q = vecs[11]
    first = [h.id for h in searched(eng, q, 10)]
    assert first[0] == "r11"
    eng.remove(first)
    assert not set(first) & {h.id for h in searched(eng, q, 30)}
    st = eng.stats()
    assert st["ann_built"] and st["ann_recall_samples"] == 2 and st["ann_recall_at_k"] >= 0.95


def test_default_guard_answers_stay_exact_or_reranked(data):
    """With cost thinning and the speed bypass on (defaults), answers are still well formed
    and the timings the guard decides on are exposed."""
    rng, ids, vecs = data
    eng = Engine(D, EngineConfig(ann="hnsw", ann_min_rows=1000))
    eng.add(ids, vecs)
    for _ in range(400):
        q = vecs[rng.integers(N)]
        hits = eng.search(q, 10)
        assert len(hits) == 10 and len({h.id for h in hits}) == 10
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    eng.drain()
    st = eng.stats()
    assert st["ann_ms"] is not None and st["exact_ms"] is not None and st["ann_python_us"] > 0
    assert 1 <= st["ann_recall_samples"] <= 400 // 50  # at most the 2% sampling share
    share = st["ann_guard"]["check_share"]
    assert share is not None and share > 0
    eng.close()


def test_labels_follow_rows_through_reorganisation(data):
    rng, ids, vecs = data
    eng = Engine(D, EngineConfig(ann="hnsw", ann_min_rows=1000, block_rows=256, recall_sample=0.0,
                                 ann_prefer_faster=False))
    eng.add(ids, vecs)
    before = eng.stats()["reorganizations"]
    gone = ids[::3]
    eng.remove(gone)                                   # holes, then refills and a re-pack
    extra = [f"x{i}" for i in range(1500)]
    eng.add(extra, rng.normal(size=(1500, D)))
    assert eng.stats()["reorganizations"] > before
    for i in list(range(1, N, 97)):
        if ids[i] in gone:
            continue
        hits = eng.search(vecs[i], 10)
        assert hits[0].id == ids[i] and abs(hits[0].similarity - 1.0) < 1e-5  # its label maps to its row
        assert not set(gone) & {h.id for h in hits}


def test_kinds_and_batch_filters(rng):
    eng = Engine(8)
    v = rng.normal(size=(60, 8))
    eng.add([f"k{i}" for i in range(60)], v, kinds=[i % 3 for i in range(60)], created=np.arange(60.0))
    for hits in eng.search_batch(v[:4], 5, kinds=[2], created_range=(10.0, None)):
        assert hits and all(int(h.id[1:]) % 3 == 2 and int(h.id[1:]) >= 10 for h in hits)
    assert {h.id for h in eng.search(v[0], 100, allowed_ids={"k1", "k2", "nope"})} == {"k1", "k2"}


def test_hnsw_reuses_deleted_slots(rng):
    eng = Engine(D, EngineConfig(ann="hnsw", ann_min_rows=100, recall_sample=0.0, ann_prefer_faster=False))
    eng.add([f"s{i}" for i in range(300)], rng.normal(size=(300, D)))
    for rnd in range(5):
        eng.remove([f"s{i}" for i in range(100)] if rnd == 0 else [f"u{rnd - 1}-{i}" for i in range(100)])
        fresh = [f"u{rnd}-{i}" for i in range(100)]
        v = rng.normal(size=(100, D))
        eng.add(fresh, v)
        assert eng.search(v[7], 1)[0].id == fresh[7]
    assert eng.stats()["ann_index_slots"] <= 300  # five rounds of 100 updates did not grow the graph
    assert len(eng) == 300
