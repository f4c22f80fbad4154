"""Regression tests of the hardening issue: each defect of the adversarial run, on SQLite.

Each test states the request that once did harm and what must hold now: a clear 4xx, nothing
stored, every read path still answering valid JSON.
"""

from __future__ import annotations

import json

import pytest

from tests.service.conftest import DIM, TOKENS, auth, vec


def _strict_json(response):
    """The body parsed by a parser that refuses NaN and Infinity (what JSON allows)."""
    def refuse(const):
        raise ValueError(f"not JSON: {const}")
    return json.loads(response.get_data(as_text=True), parse_constant=refuse)


def _nothing_stored(app):
    assert app.store.max_seq() == 0
    assert app.client.get("/v1/stats").get_json()["memories"] == 0


# -- 5: ids are matched in full -------------------------------------------------------------
@pytest.mark.parametrize("path_id", ["abc%0A", "abc%0D", "a%0Ab"])
def test_put_id_with_newline_is_refused(sqlite_app, path_id):
    r = sqlite_app.client.put(f"/v1/memories/{path_id}", json={"vector": vec(1)})
    assert r.status_code == 400
    _nothing_stored(sqlite_app)


def test_body_id_with_trailing_newline_is_refused(sqlite_app):
    r = sqlite_app.client.post("/v1/memories", json={"vector": vec(1), "id": "abc\n"})
    assert r.status_code == 400
    r = sqlite_app.client.post("/v1/memories/bulk", json={"items": [{"vector": vec(1), "id": "x" * 128 + "\n"}]})
    assert r.status_code == 400
    _nothing_stored(sqlite_app)
    assert sqlite_app.client.get("/v1/memories/abc%0A").status_code == 404


# -- 2: importance is finite after normalisation; a refused write stores nothing ------------
def test_overflowing_importance_bulk_is_finite_and_readable(make_running):
    app = make_running()
    c = app.client
    items = [{"vector": vec(i), "id": f"m{i}", "importance": 1.7e308 if i % 2 else -1.7e308}
             for i in range(200)]
    r = c.post("/v1/memories/bulk", json={"items": items})
    assert r.status_code == 201, r.get_data(as_text=True)
    rows = app.store.get_many("default", [f"m{i}" for i in range(200)])
    assert len(rows) == 200 and all(0.0 <= x.importance_norm <= 1.0 for x in rows)
    assert all(rows[i].importance_norm > rows[i - 1].importance_norm
               for i in range(1, 200) if int(rows[i].id[1:]) % 2 and not int(rows[i - 1].id[1:]) % 2)
    assert len(app.service._indexes["default"].engine) == 200
    for e in app.store.unpublished(1000):
        json.loads(e.event, parse_constant=lambda c: pytest.fail(f"{c} in an event"))
    # a later default memory is ranked by its importance, not pinned to 0
    r = c.put("/v1/memories/later", json={"vector": vec(999)})
    assert r.status_code == 201 and 0.0 < r.get_json()["importance_norm"] <= 1.0
    hits = _strict_json(c.post("/v1/recall", json={"vector": vec(999), "k": 201}))["results"]
    assert len(hits) == 201 and [h["importance"] for h in hits if h["id"] == "later"][0] > 0.0


def test_refused_write_leaves_normaliser_and_index_alone(sqlite_app):
    c = sqlite_app.client
    assert c.put("/v1/memories/a", json={"vector": vec(1), "importance": 5}).status_code == 201
    idx = sqlite_app.service._indexes["default"]
    before = (idx.normaliser.snapshot(), list(idx.normaliser._reservoir), idx.engine.ids())
    seq = sqlite_app.store.max_seq()
    # a conflict is found inside the transaction; the normaliser must not have moved
    assert c.post("/v1/memories", json={"vector": vec(2), "id": "a", "importance": 1e300}).status_code == 409
    r = c.post("/v1/memories/bulk", json={"items": [{"vector": vec(3), "importance": -1e300},
                                                    {"vector": [0.0] * DIM}]})
    assert r.status_code == 400
    r = c.post("/v1/memories", data='{"text": "x", "payload": {"n": 1e400}}', content_type="application/json")
    assert r.status_code == 400
    idx = sqlite_app.service._indexes["default"]
    assert (idx.normaliser.snapshot(), list(idx.normaliser._reservoir), idx.engine.ids()) == before
    assert sqlite_app.store.max_seq() == seq


def test_refused_write_creates_no_namespace_index(tenant_app):
    c = tenant_app.client
    assert c.put("/v1/memories/a", json={"vector": vec(1)}, headers=auth("tok-alpha-rw")).status_code == 201
    r = c.post("/v1/memories/bulk", json={"items": [{"vector": vec(3)}, {"vector": [0.0] * DIM}]},
               headers=auth("tok-beta-rw"))
    assert r.status_code == 400
    assert set(tenant_app.service.index_sizes()) == {"alpha"}
