"""Importance that ranks sensibly: the weight is mapped into [importance_floor, 1], and
processes that follow the change log normalise the same raw value alike (two real service
processes on one PostgreSQL database)."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest

from memory.config import ConfigError, Settings
from memory.engine import AdaptiveImportance
from tests.client.server import Server, migrated, service_env
from tests.service.conftest import DIM


def _unit(i: int, dim: int = DIM) -> list[float]:
    v = [0.0] * dim
    v[i] = 1.0
    return v


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_default_memories_after_one_important_one_still_rank_by_similarity(make_running, kind, request):
    """The issue's example: one `importance: 2` memory, then memories without importance.
    Under the upstream formula each of those gets importance_norm 0 and score 0."""
    app = make_running(request.getfixturevalue("pg_url") if kind == "postgresql" else None)
    c = app.client
    assert c.put("/v1/memories/vip", json={"vector": _unit(5), "importance": 2}).json["importance_norm"] == 1.0
    near = [1.0, 0.3] + [0.0] * (DIM - 2)
    far = [1.0, 1.5] + [0.0] * (DIM - 2)
    a = c.put("/v1/memories/near", json={"vector": near}).json
    b = c.put("/v1/memories/far", json={"vector": far}).json
    floor = app.settings.importance_floor
    assert floor == 0.2 and a["importance_norm"] == b["importance_norm"] == pytest.approx(floor)
    hits = c.post("/v1/recall", json={"vector": _unit(0), "k": 3}).json["results"]
    assert [h["id"] for h in hits[:2]] == ["near", "far"]  # similarity decides between equals
    assert all(h["score"] > 0 for h in hits[:2])  # a positive similarity gives a positive score
    assert hits[0]["score"] == pytest.approx(hits[0]["similarity"] * floor ** app.settings.alpha, rel=1e-5)


def test_floor_maps_into_the_interval_and_is_configured():
    plain, floored = AdaptiveImportance(), AdaptiveImportance(floor=0.25)
    raws = np.random.default_rng(0).lognormal(size=300)
    for r in raws:
        u, f = plain.normalise(float(r)), floored.normalise(float(r))
        assert f == pytest.approx(0.25 + 0.75 * u) and 0.25 <= f <= 1.0
    with pytest.raises(ConfigError, match="IMPORTANCE_FLOOR"):
        Settings(importance_floor=0.0).validate()
    assert Settings.from_env({"SOMA_MEMORY_IMPORTANCE_FLOOR": "0.5"}).importance_floor == 0.5


H = {"Authorization": "Bearer client-alpha-rw"}


def _wait_indexed(url: str, n: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if httpx.get(url + "/v1/stats", headers=H).json()["indexed"] == n:
            return
        time.sleep(0.1)
    pytest.fail(f"{url} did not follow the log to {n} memories")


@pytest.mark.postgres
def test_two_processes_normalise_alike_after_following_the_log(postgres_server, tmp_path_factory):
    postgres_server.create_database("importance_two")
    url = migrated(postgres_server.url("importance_two"))
    log = tmp_path_factory.mktemp("importance-logs")
    a = Server(service_env(url), str(log / "a.log"))
    b = Server(service_env(url), str(log / "b.log"))
    try:
        rng = np.random.default_rng(7)
        reference = AdaptiveImportance(floor=Settings.importance_floor)  # the log, in commit order
        n = 0
        for batch in range(4):  # varied raw values through A only: enough to leave min-max
            raws = rng.lognormal(sigma=1.5, size=50)
            items = [{"id": f"a{batch}-{i}", "vector": rng.normal(size=32).tolist(), "importance": float(r)}
                     for i, r in enumerate(raws)]
            assert httpx.post(a.url + "/v1/memories/bulk", json={"items": items}, headers=H).status_code == 201
            reference.normalise_many(raws)
            n += len(items)
        # now the same raw value, written alternately through each process once it has followed
        for i, server in enumerate([b, a, b, a]):
            _wait_indexed(server.url, n)
            r = httpx.put(f"{server.url}/v1/memories/x{i}", json={"vector": rng.normal(size=32).tolist(),
                                                                    "importance": 3.7}, headers=H)
            assert r.status_code == 201
            assert r.json()["importance_norm"] == pytest.approx(reference.normalise(3.7), abs=1e-12), i
            n += 1
    finally:
        a.stop()
        b.stop()
