"""Many readers with one writer: readers always see a consistent slab."""

import threading

import numpy as np

from memory.engine import Engine, EngineConfig


def test_readers_and_writer(rng):
    d = 16
    eng = Engine(d, EngineConfig(block_rows=64, initial_capacity=8))
    anchors = rng.normal(size=(20, d))
    eng.add([f"anchor{i}" for i in range(20)], anchors)
    removed: set[str] = set()
    added: set[str] = set()
    removed_lock = threading.Lock()
    errors: list[BaseException] = []
    stop = threading.Event()
    rounds = [0] * 4  # each reader's completed rounds: proves they ran while the writer wrote

    def reader(seed):
        r = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                i = int(r.integers(20))
                with removed_lock:
                    gone = set(removed)
                hits = eng.search(anchors[i], 5)
                assert hits[0].id == f"anchor{i}", hits[0]
                assert not gone & {h.id for h in hits}
                batch = eng.search_batch(anchors[:3], 3)
                assert [b[0].id for b in batch] == ["anchor0", "anchor1", "anchor2"]
                rounds[seed] += 1
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(3000):  # let every reader be mid-loop before the writer starts
            if all(rounds) or errors:
                break
            stop.wait(0.01)
        before = list(rounds)
        w = np.random.default_rng(99)
        for step in range(150):
            batch = [f"w{step}-{j}" for j in range(int(w.integers(1, 40)))]
            # directions far from every anchor cannot outrank an exact anchor match
            eng.add(batch, w.normal(size=(len(batch), d)))
            added.update(batch)
            victims = batch[::2]
            eng.remove(victims)
            with removed_lock:
                removed.update(victims)
            eng.touch(batch[1::2])
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[0]
    assert all(before) and rounds != before, (before, rounds)  # readers searched during the writes
    assert not removed & set(eng.ids())
    assert set(eng.ids()) == {f"anchor{i}" for i in range(20)} | (added - removed)
    assert eng.stats()["rows"] == len(added - removed) + 20


def test_batch_split_over_threads_equals_single_searches(rng):
    """A batch big enough to be split over two threads gives each query its exact answer."""
    from memory.engine.engine import BATCH_SPLIT_WORK

    n, d, m = 24_000, 8, 16
    assert m * n >= BATCH_SPLIT_WORK
    eng = Engine(d, EngineConfig(batch_threads=2, half_life_s=100.0))
    eng.add([f"b{i}" for i in range(n)], rng.normal(size=(n, d)), importance=rng.pareto(1.2, n) + 1,
            created=rng.uniform(0, 500, n))
    qs = rng.normal(size=(m, d))
    batch = eng.search_batch(qs, 10, now=500.0)
    assert [t.name for t in threading.enumerate() if t.name.startswith("search-batch")]  # the pool ran it
    for q, hits in zip(qs, batch):
        assert [(h.id, h.score) for h in hits] == [(h.id, h.score) for h in eng.search(q, 10, now=500.0)]
    eng.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("search-batch")]
