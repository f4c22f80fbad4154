"""Cold start: the index loads in columnar chunks (store/load.py) into the same index the
row-by-row load built, and the server answers /readyz 503 with the load's progress until
it is complete, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import pytest

from memory.bench.coldstart import fill
from memory.config import Settings
from memory.service import NewMemory
from tests.client.server import Server, migrated, service_env
from tests.service.conftest import DIM


def _row_by_row(svc) -> None:
    """The load as it was before chunking: MemoryRow objects from iter_live, the normaliser
    fed one value at a time, rows applied per namespace with the engine re-sorting as it goes."""
    svc._indexes.clear()
    for chunk in svc.store.iter_live(chunk=5000):
        by_ns: dict = {}
        for row in chunk:
            if row.dim == svc.settings.dim:
                by_ns.setdefault(row.namespace, []).append(row)
        for ns, rows in by_ns.items():
            idx = svc._index(ns)
            for r in rows:
                idx.normaliser.observe(r.importance)
            svc._apply_rows(idx, rows)


def _state(svc, queries) -> dict:
    out = {}
    for ns, idx in sorted(svc._indexes.items()):
        out[ns] = {
            "rows": len(idx.engine), "normaliser": idx.normaliser.snapshot(),
            "catalog": dict(sorted(idx.catalog.items())),
            "recall": [[(h.id, h.score, h.similarity) for h in idx.engine.search(q, 10, exact=True, now=2e9)]
                       for q in queries],
            "filtered": [[h.id for h in idx.engine.search(q, 5, kinds=[1], now=2e9)] for q in queries],
        }
    return out


def _populate(svc, rng) -> None:
    # several namespaces, batches, importances with heavy tails (the normaliser switches),
    # payloads, text, replacements and deletes, so every column of the load is exercised
    for batch in range(6):
        for ns in ("alpha", "beta", "gamma"):
            items = [NewMemory(vector=rng.normal(size=DIM).astype(np.float32), model="t",
                               memory_type="semantic" if j % 3 == 0 else "episodic",
                               payload={"batch": batch, "j": j, "tags": ["x", j]},
                               importance=float(rng.lognormal(0, 1 + batch)), id=f"{ns}-{batch}-{j}",
                               text=None if j % 2 else f"text {j}")
                     for j in range(40)]
            svc.write(ns, items, upsert=True)
    svc.write("alpha", [NewMemory(vector=rng.normal(size=DIM).astype(np.float32), model="t", id="alpha-0-1",
                                  importance=3.0)], upsert=True)
    svc.delete("beta", "beta-1-2")
    svc.delete_scoped("gamma", "semantic")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_chunked_load_builds_the_index_the_row_by_row_load_built(backend, make_running, request):
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    running = make_running(url, load_chunk_rows=37)  # chunks cut across namespaces
    svc = running.service
    rng = np.random.default_rng(7)
    _populate(svc, rng)
    fill(svc.store.url, 5, DIM * 2, namespaces=("alpha",), start=900)  # another dim: not indexed
    queries = rng.normal(size=(8, DIM)).astype(np.float32)

    assert svc.load() == 720 - 1 - 84
    chunked = _state(svc, queries)
    _row_by_row(svc)
    assert _state(svc, queries) == chunked
    assert chunked["alpha"]["rows"] == 240 and chunked["alpha"]["normaliser"]["switches"]
    assert svc.load_progress[0] == svc.load_progress[1] == 720 - 1 - 84


def test_api_answers_503_with_progress_while_loading_and_200_after(make_running, tmp_path):
    """In process, with the load held at its start: /readyz and /v1 are 503 (problem, the
    progress, Retry-After), /healthz is 200; released, the same requests succeed."""
    seed = make_running()
    seed.service.write("default", [NewMemory(vector=np.ones(DIM, np.float32), model="t", id="a")], upsert=True)
    gate = threading.Event()
    from memory.api import create_app
    from memory.service import MemoryService
    svc = MemoryService(seed.settings, seed.store, seed.service.embedder, seed.service._engine_factory,
                        seed.service._normaliser_factory)
    svc.start(follow=False, background=True, prepare=gate.wait)
    try:
        client = create_app(seed.settings, svc).test_client()
        for path, call in (("/readyz", client.get), ("/v1/recall", lambda p: client.post(p, json={"vector": [1.0] * DIM}))):
            resp = call(path)
            assert resp.status_code == 503, path
            assert resp.content_type == "application/problem+json"
            assert int(resp.headers["Retry-After"]) >= 1
            assert resp.get_json()["loaded"] == 0 and "total" not in resp.get_json()  # not counted yet: left out
        assert client.get("/healthz").status_code == 200
        gate.set()
        deadline = time.monotonic() + 60
        while not svc.loaded and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.get("/readyz").status_code == 200
        found = client.post("/v1/recall", json={"vector": [1.0] * DIM}).get_json()
        assert [m["id"] for m in found["results"]] == ["a"]
    finally:
        gate.set()
        svc.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_server_readyz_reports_load_progress_then_ready(backend, tmp_path_factory, request):
    if backend == "sqlite":
        url = migrated(f"sqlite:///{tmp_path_factory.mktemp('cold') / 'memory.db'}")
    else:
        pg = request.getfixturevalue("postgres_server")
        name = f"cold{time.time_ns() % 10**9}"
        pg.create_database(name)
        url = migrated(pg.url(name))
    n = 60_000
    fill(url, n, 32)
    env = service_env(url, load_chunk_rows="1000")
    env.pop("SOMA_MEMORY_TOKENS")  # loopback, no tokens: the default namespace
    log = str(tmp_path_factory.mktemp("cold-log") / "server.log")
    seen, health = [], []
    from tests.fixtures._net import free_port
    import sh
    import sys
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = sh.Command(sys.executable)("-m", "memory", "serve", _env={**env, "SOMA_MEMORY_PORT": str(port)},
                                      _bg=True, _bg_exc=False, _out=log, _err_to_out=True)
    try:
        with httpx.Client(timeout=2) as http:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and proc.is_alive():
                try:
                    resp = http.get(base + "/readyz")
                except httpx.HTTPError:
                    time.sleep(0.01)
                    continue
                if resp.status_code == 200:
                    break
                seen.append((resp.status_code, resp.headers.get("content-type"), resp.headers.get("retry-after"),
                             resp.json()))
                if len(health) < 3:
                    health.append(http.get(base + "/healthz").status_code)
            else:
                pytest.fail(f"never ready; log:\n{open(log).read()[-3000:]}")
            stats = http.get(base + "/v1/stats").json()
    finally:
        Server.stop(type("S", (), {"proc": proc})())
    assert seen, "the server was ready at its first answer: no loading state observed"
    assert health and set(health) == {200}
    loaded = []
    for status, ctype, retry, body in seen:
        assert status == 503 and ctype == "application/problem+json"
        assert retry is not None and int(retry) >= 1
        assert body.get("total") in (None, n) and 0 <= body["loaded"] <= n
        loaded.append(body["loaded"])
    assert loaded == sorted(loaded)
    assert any(0 < x < n for x in loaded), f"no partial progress among {len(seen)} answers"
    assert stats["indexed"] == n


def test_guard_decisions_and_evidence_are_in_stats_and_metrics(make_running):
    """Each recall-guard decision and the evidence behind it reach /v1/stats and /metrics.
    The guard is fed 40 poor checks at level 0 (what its worker records after sampled exact
    checks), which must widen it: the decision, its counter and the bounds all show."""
    from prometheus_client.parser import text_string_to_metric_families
    running = make_running(ann="hnsw")
    svc = running.service
    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(20_000, DIM)).astype(np.float32)
    for lo in range(0, len(vecs), 5000):
        svc.write("default", [NewMemory(vector=v, model="t") for v in vecs[lo:lo + 5000]], upsert=True)
    for q in vecs[:300]:
        assert running.client.post("/v1/recall", json={"vector": q.tolist(), "k": 5}).status_code == 200
    guard = svc._indexes["default"].engine._guard
    guard.drain()
    for _ in range(40):
        guard.record(0, 0.5, k=10)

    stats = running.client.get("/v1/stats").get_json()["engine"]
    g = stats["ann_guard"]
    assert g["level"] == 1 and g["actions"] == {"widen": 1}
    [decision] = g["decisions"]
    assert decision["action"] == "widen" and decision["samples"] >= 30 and decision["upper"] < decision["floor"]

    text = running.client.get("/metrics").get_data(as_text=True)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
    assert samples[("memory_ann_guard_decisions_total", (("action", "widen"),))] == 1
    assert samples[("memory_ann_guard_level", ())] == 1
    assert samples[("memory_ann_guard_fallback", ())] == 0
    assert samples[("memory_ann_recall_checks_total", (("outcome", "checked"),))] == stats["ann_recall_samples"] >= 40
    assert samples[("memory_index_loaded", ())] == 1
    assert stats["ann_python_us"] is None or samples[("memory_ann_python_seconds", ())] == pytest.approx(
        stats["ann_python_us"] / 1e6, rel=0.5)
