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


# -- 1: time values stay in the range the service stores and formats -----------------------
@pytest.mark.parametrize("created", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                                     "1969-12-31T23:59:59Z", "1970-01-01T00:30:00+01:00",
                                     "3000-01-01T00:00:01Z", -1, 32503680001, "2020-02-30T00:00:00Z",
                                     "2020-01-01T00:00:00", "2020-01-01", "1700000000", True])
def test_created_at_out_of_range_is_refused(sqlite_app, created):
    c = sqlite_app.client
    r = c.post("/v1/memories", json={"id": "poison-ts", "text": "shopping list", "created_at": created})
    assert r.status_code == 400, r.get_data(as_text=True)
    r = c.post("/v1/memories/bulk", json={"items": [{"text": "a"}, {"text": "b", "created_at": created}]})
    assert r.status_code == 400
    _nothing_stored(sqlite_app)
    r = c.post("/v1/recall", json={"text": "x", "filters": {"created_at": {"gte": created}}})
    assert r.status_code == 400


@pytest.mark.parametrize("created", ["1971-01-01T00:00:00+23:59", "2998-12-31T23:59:59.999999999-23:59",
                                     0, 32503680000, "2020-06-01t12:00:00z"])
def test_created_at_edges_store_and_read_back(sqlite_app, created):
    c = sqlite_app.client
    r = c.put("/v1/memories/edge", json={"text": "shopping list", "created_at": created})
    assert r.status_code == 201, r.get_data(as_text=True)
    for resp in (c.get("/v1/memories/edge"),
                 c.post("/v1/recall", json={"text": "shopping list"}),
                 c.post("/v1/recall/batch", json={"queries": [{"text": "shopping"}]})):
        assert resp.status_code == 200
        _strict_json(resp)
    assert c.get("/v1/memories/edge").get_json()["created_at"].endswith("Z")


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


# -- 3: strict JSON in, strict JSON out ------------------------------------------------------
@pytest.mark.parametrize("raw", ['{"text": "x", "payload": {"n": NaN}}',
                                 '{"text": "x", "payload": {"n": 1e400}}',
                                 '{"text": "x", "payload": {"deep": [{"n": -Infinity}]}}',
                                 '{"text": "x", "coordinate": [1e400]}'])
def test_payload_nan_and_infinity_are_400(sqlite_app, raw):
    c = sqlite_app.client
    r = c.post("/v1/memories", data=raw, content_type="application/json")
    assert r.status_code == 400, r.get_data(as_text=True)
    r = c.put("/v1/memories/p", data=raw, content_type="application/json")
    assert r.status_code == 400
    r = c.post("/v1/memories/bulk", data='{"items": [' + raw + "]}", content_type="application/json")
    assert r.status_code == 400
    _nothing_stored(sqlite_app)
    r = c.post("/v1/recall", data='{"text": "x", "filters": {"payload": {"n": NaN}}}',
               content_type="application/json")
    assert r.status_code == 400


# -- 4: the rate limit follows the authenticated identity; failed auth is throttled ---------
def test_rate_limit_cannot_be_bypassed_by_spelling_the_header(make_running):
    app = make_running(tokens=TOKENS, rate_limit="3/minute")
    c = app.client
    assert [c.get("/v1/stats", headers=auth("tok-alpha-ro")).status_code for _ in range(3)] == [200] * 3
    for header in ("bearer tok-alpha-ro", "BEARER tok-alpha-ro", "Bearer  tok-alpha-ro",
                   "Bearer tok-alpha-ro "):
        r = c.get("/v1/stats", headers={"Authorization": header})
        assert r.status_code == 429, header
    # the bucket is the identity's across routes, not one per route
    assert c.post("/v1/recall", json={"text": "x"}, headers=auth("tok-alpha-ro")).status_code == 429
    assert c.get("/v1/stats", headers=auth("tok-beta-rw")).status_code == 200


def test_failed_auth_is_throttled_per_address(make_running):
    app = make_running(tokens=TOKENS, rate_limit="100/minute", auth_fail_limit="3/minute")
    c = app.client
    codes = [c.get("/v1/stats", headers=auth(f"guess-{i:08d}")).status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
    assert c.get("/v1/stats").status_code == 429  # no token at all is a failed auth too
    r = c.get("/v1/stats", headers=auth("guess-other"), environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert r.status_code == 401  # another address has its own bucket
    # a valid token from the throttled address is its own identity
    assert c.get("/v1/stats", headers=auth("tok-alpha-ro")).status_code == 200


# -- 6: no tenant's names or figures reach another ------------------------------------------
def _two_tenants(app):
    c = app.client
    for i in range(3):
        assert c.post("/v1/memories", json={"vector": vec(i)}, headers=auth("tok-alpha-rw")).status_code == 201
    assert c.post("/v1/memories", json={"vector": vec(9)}, headers=auth("tok-beta-rw")).status_code == 201


def test_metrics_carry_no_tenant_names_by_default(make_running):
    app = make_running(tokens=TOKENS)
    _two_tenants(app)
    text = app.client.get("/metrics").get_data(as_text=True)
    assert "alpha" not in text and "beta" not in text
    assert "memory_index_rows 4.0" in text
    labelled = make_running(tokens=TOKENS, metrics_namespaces=True)
    _two_tenants(labelled)
    text = labelled.client.get("/metrics").get_data(as_text=True)
    assert 'memory_index_rows{namespace="alpha"} 3.0' in text


def test_metrics_can_be_protected(make_running):
    app = make_running(tokens=TOKENS, metrics_token="scrape-secret-1")
    c = app.client
    r = c.get("/metrics")
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    assert c.get("/metrics", headers=auth("tok-alpha-admin")).status_code == 401
    assert c.get("/metrics", headers=auth("scrape-secret-1")).status_code == 200


def test_stats_and_readyz_report_only_the_tenants_own(make_running):
    app = make_running(tokens=TOKENS)
    _two_tenants(app)
    beta = app.client.get("/v1/stats", headers=auth("tok-beta-rw")).get_json()
    assert beta["outbox_pending"] == 1 and beta["memories"] == 1 and beta["indexed"] == 1
    alpha = app.client.get("/v1/stats", headers=auth("tok-alpha-ro")).get_json()
    assert alpha["outbox_pending"] == 3 and alpha["memories"] == 3
    assert app.client.get("/readyz").get_json() == {"status": "ready"}


# -- 8: reads do not write ------------------------------------------------------------------
def _count_transactions(store):
    import sqlalchemy as sa
    seen = []
    for eng in {store.engine, store.write_engine}:
        sa.event.listen(eng, "commit", lambda conn: seen.append(1))
    return seen


def test_get_writes_no_transaction_per_read(make_running):
    app = make_running(tokens=TOKENS)
    c = app.client
    assert c.put("/v1/memories/r", json={"vector": vec(1)}, headers=auth("tok-alpha-rw")).status_code == 201
    commits = _count_transactions(app.store)
    counts = [c.get("/v1/memories/r", headers=auth("tok-alpha-ro")).get_json()["access_count"]
              for _ in range(5)]
    assert counts == [1, 2, 3, 4, 5]  # still counted, and served
    assert commits == []  # but nothing written per read
    assert app.store.get("alpha", "r").access_count == 0
    assert app.service.flush_access() == 1
    assert len(commits) == 1  # one transaction for every read since the last flush
    row = app.store.get("alpha", "r")
    assert row.access_count == 5 and row.last_access is not None
    assert c.get("/v1/memories/r", headers=auth("tok-alpha-ro")).get_json()["access_count"] == 6


def test_access_tracking_can_be_switched_off(make_running):
    app = make_running(access_flush_s=0)
    c = app.client
    assert c.put("/v1/memories/r", json={"vector": vec(1)}).status_code == 201
    commits = _count_transactions(app.store)
    assert c.get("/v1/memories/r").get_json()["access_count"] == 0
    assert app.service.flush_access() == 0 and commits == []


# -- 7: strict types; the document allows exactly what the service accepts ------------------
@pytest.mark.parametrize("path, body", [
    ("/v1/memories", {"vector": vec(1), "importance": True}),
    ("/v1/memories", {"vector": vec(1), "importance": "5"}),
    ("/v1/memories", {"vector": ["1.0"] + vec(1)[1:]}),
    ("/v1/memories", {"vector": [True] + vec(1)[1:]}),
    ("/v1/memories", {"vector": vec(1), "coordinate": ["1"]}),
    ("/v1/memories", {"vector": vec(1), "id": None}),
    ("/v1/memories", {"vector": vec(1), "text": None}),
    ("/v1/memories", {"vector": vec(1), "memory_type": None}),
    ("/v1/memories", {"text": ""}),
    ("/v1/memories", {}),
    ("/v1/memories/bulk", {"items": [{"vector": vec(1)}, {"payload": {}}]}),
    ("/v1/recall", {"vector": vec(1), "k": True}),
    ("/v1/recall", {"vector": vec(1), "k": "5"}),
    ("/v1/recall", {"vector": vec(1), "k": 5.5}),
    ("/v1/recall", {"vector": vec(1), "exact": 1}),
    ("/v1/recall", {"vector": vec(1), "explain": "true"}),
    ("/v1/recall/batch", {"queries": [{"vector": vec(1)}], "k": False}),
    ("/v1/links", {"from": "a", "to": "b", "weight": True}),
    ("/v1/links", {"from": "a", "to": "b", "weight": "1"}),
    ("/v1/links", {"from": "a", "to": "b", "type": ""}),
])
def test_loose_types_are_refused(sqlite_app, path, body):
    c = sqlite_app.client
    for name in ("a", "b"):
        c.put(f"/v1/memories/{name}", json={"vector": vec(ord(name))})
    seq = sqlite_app.store.max_seq()
    r = c.post(path, json=body)
    assert r.status_code == 400, (body, r.get_data(as_text=True))
    assert sqlite_app.store.max_seq() == seq


def test_vectors_beyond_float32_keep_their_direction(sqlite_app):
    c = sqlite_app.client
    for mid, values in (("big", [1e39, 2e39] + [0.0] * (DIM - 2)), ("tiny", [1e-46, 0.0] + [0.0] * (DIM - 2))):
        r = c.put(f"/v1/memories/{mid}", json={"vector": values})
        assert r.status_code == 201, r.get_data(as_text=True)
        stored = c.get(f"/v1/memories/{mid}?include_vector=true").get_json()["vector"]
        assert all(abs(x) <= 1.0 for x in stored) and max(abs(x) for x in stored) == 1.0
    hit = c.post("/v1/recall", json={"vector": [1.0, 2.0] + [0.0] * (DIM - 2), "k": 1}).get_json()
    assert hit["results"][0]["id"] == "big"


@pytest.mark.parametrize("query", ["from=&to=", "from=a&to=", "from=a", "from=a%0A&to=b",
                                   "from=a&to=b&type=", "from=a&to=b&type=a%20b"])
def test_paths_parameters_are_checked(sqlite_app, query):
    c = sqlite_app.client
    for name in ("a", "b"):
        c.put(f"/v1/memories/{name}", json={"vector": vec(ord(name))})
    r = c.get(f"/v1/paths?{query}")
    assert r.status_code == 400 and r.mimetype == "application/problem+json"


def test_include_vector_takes_only_a_boolean(sqlite_app):
    c = sqlite_app.client
    c.put("/v1/memories/a", json={"vector": vec(1)})
    assert c.get("/v1/memories/a?include_vector=yes").status_code == 400
    assert "vector" in c.get("/v1/memories/a?include_vector=true").get_json()
    assert "vector" not in c.get("/v1/memories/a?include_vector=false").get_json()


def test_text_without_word_characters_is_embedded(sqlite_app):
    for text in ("!!!", " ", "\x1c"):
        r = sqlite_app.client.post("/v1/memories", json={"text": text})
        assert r.status_code == 201, (text, r.get_data(as_text=True))


def test_options_and_cors_advertise_only_the_routes_methods(make_running):
    app = make_running(cors_origins=("https://agent.example",))
    c = app.client
    doc = c.get("/openapi.json").get_json()
    for path, ops in doc["paths"].items():
        concrete = path.replace("{id}", "some-id")
        r = c.options(concrete, headers={"Origin": "https://agent.example"})
        allowed = {m.strip().lower() for m in r.headers["Allow"].split(",")} - {"head", "options"}
        assert allowed == set(ops), path
        cors = {m.strip().lower() for m in r.headers["Access-Control-Allow-Methods"].split(",")}
        assert cors - {"head", "options"} == set(ops), path
    # 'bulk' is the bulk resource, never a memory id
    assert c.get("/v1/memories/bulk").status_code == 405
    assert c.put("/v1/memories/bulk", json={"text": "x"}).status_code == 405
    assert c.post("/v1/memories", json={"text": "x", "id": "bulk"}).status_code == 400


def test_bulk_maximum_is_reachable_under_the_body_limit():
    from memory.config import Settings, min_bulk_item_bytes
    from memory.errors import ConfigError
    defaults = Settings()
    defaults.validate()
    assert defaults.bulk_max_items * min_bulk_item_bytes(defaults.dim) < defaults.max_body_bytes
    with pytest.raises(ConfigError, match="cannot be reached"):
        Settings(bulk_max_items=10_000).validate()


def test_bulk_of_the_maximum_size_is_accepted(make_running):
    import base64

    import numpy as np
    app = make_running(bulk_max_items=300, max_body_bytes=300 * min_item(DIM) + 16)
    items = [{"vector_b64": base64.b64encode(np.asarray(vec(i), "<f4").tobytes()).decode()}
             for i in range(300)]
    body = json.dumps({"items": items}, separators=(",", ":"))
    assert len(body) <= app.settings.max_body_bytes
    r = app.client.post("/v1/memories/bulk", data=body, content_type="application/json")
    assert r.status_code == 201 and r.get_json()["count"] == 300


def min_item(dim):
    from memory.config import min_bulk_item_bytes
    return min_bulk_item_bytes(dim)


def test_text_per_request_is_bounded(make_running):
    app = make_running(max_text_chars=1000)
    c = app.client
    r = c.post("/v1/recall/batch", json={"queries": [{"text": "x" * 400}] * 3})
    assert r.status_code == 400 and "at most 1000 characters" in r.get_json()["detail"]
    r = c.post("/v1/memories/bulk", json={"items": [{"text": "y" * 600}, {"text": "z" * 600}]})
    assert r.status_code == 400
    _nothing_stored(app)
    assert c.post("/v1/recall/batch", json={"queries": [{"text": "x" * 500}] * 2}).status_code == 200
