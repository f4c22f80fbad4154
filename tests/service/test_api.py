"""The HTTP API against a real service on SQLite: resources, errors, tenancy, limits."""

from __future__ import annotations

import json
import logging

import pytest

from tests.service.conftest import DIM, auth, vec


def test_create_get_delete_roundtrip(sqlite_app):
    c = sqlite_app.client
    r = c.post("/v1/memories", json={"vector": vec(1), "payload": {"task": "x"}, "importance": 3,
                                     "coordinate": [1, 2, 3]})
    assert r.status_code == 201
    body = r.get_json()
    assert r.headers["Location"] == f"/v1/memories/{body['id']}"
    assert body["payload"] == {"task": "x"} and body["coordinate"] == [1.0, 2.0, 3.0]
    assert body["embedding_model"] == "client" and body["dim"] == DIM
    got = c.get(f"/v1/memories/{body['id']}?include_vector=true").get_json()
    assert got["access_count"] == 1 and len(got["vector"]) == DIM
    assert c.delete(f"/v1/memories/{body['id']}").status_code == 204
    assert c.delete(f"/v1/memories/{body['id']}").status_code == 204
    r = c.get(f"/v1/memories/{body['id']}")
    assert r.status_code == 404 and r.mimetype == "application/problem+json"
    # an id no memory can have is absent too: 204, and no event
    assert c.delete("/v1/memories/" + "x" * 200).status_code == 204
    kinds = [json.loads(e.event)["type"] for e in sqlite_app.store.unpublished()]
    assert kinds == ["memory.created", "memory.deleted"]


def test_post_existing_id_conflicts_put_upserts(sqlite_app):
    c = sqlite_app.client
    assert c.post("/v1/memories", json={"vector": vec(1), "id": "a"}).status_code == 201
    r = c.post("/v1/memories", json={"vector": vec(2), "id": "a"})
    assert r.status_code == 409
    created = c.get("/v1/memories/a").get_json()["created_at"]
    r = c.put("/v1/memories/a", json={"vector": vec(2), "payload": {"v": 2}})
    assert r.status_code == 200 and r.get_json()["payload"] == {"v": 2}
    assert r.get_json()["created_at"] == created
    assert c.put("/v1/memories/b", json={"text": "new one"}).status_code == 201
    assert c.put("/v1/memories/b", json={"text": "x", "id": "c"}).status_code == 400
    kinds = [json.loads(e.event)["type"] for e in sqlite_app.store.unpublished()]
    assert kinds == ["memory.created", "memory.updated", "memory.created"]


def test_recall_ranks_and_filters(sqlite_app):
    c = sqlite_app.client
    items = [{"text": "the cat sat on the mat", "id": "cat", "payload": {"topic": "pets"}},
             {"text": "kafka broker outage runbook", "id": "ops", "payload": {"topic": "ops"},
              "memory_type": "semantic"},
             {"text": "the dog sat on the log", "id": "dog", "payload": {"topic": "pets"},
              "created_at": "2020-01-01T00:00:00Z"}]
    assert c.post("/v1/memories/bulk", json={"items": items}).status_code == 201
    res = c.post("/v1/recall", json={"text": "cat on a mat", "k": 3}).get_json()["results"]
    assert res[0]["id"] == "cat"
    assert {"id", "score", "similarity", "importance", "decay", "memory_type", "payload",
            "created_at"} <= set(res[0])
    sem = c.post("/v1/recall", json={"text": "cat", "memory_type": "semantic"}).get_json()["results"]
    assert [r["id"] for r in sem] == ["ops"]
    pets = c.post("/v1/recall", json={"text": "runbook", "filters": {"payload": {"topic": "pets"}}}).get_json()
    assert {r["id"] for r in pets["results"]} == {"cat", "dog"}
    old = c.post("/v1/recall", json={"text": "sat", "filters": {"created_at": {"lte": "2021-01-01T00:00:00Z"}}})
    assert [r["id"] for r in old.get_json()["results"]] == ["dog"]
    exp = c.post("/v1/recall", json={"text": "cat", "k": 1, "explain": True}).get_json()["results"][0]
    assert exp["explain"]["similarity"] == exp["similarity"]
    batch = c.post("/v1/recall/batch", json={"queries": [{"text": "cat mat"}, {"text": "kafka runbook"}],
                                             "k": 1}).get_json()["results"]
    assert [b[0]["id"] for b in batch] == ["cat", "ops"]


def test_bulk_is_all_or_nothing(sqlite_app):
    c = sqlite_app.client
    bad = [{"vector": vec(i), "id": f"b{i}"} for i in range(5)] + [{"vector": [0.0] * DIM, "id": "zero"}]
    r = c.post("/v1/memories/bulk", json={"items": bad})
    assert r.status_code == 400 and "item 5" in r.get_json()["detail"]
    assert c.get("/v1/memories/b0").status_code == 404
    assert sqlite_app.store.outbox_lag()[0] == 0
    # one id twice in a bulk (an upsert): the later item is stored, as two PUTs would
    dup = [{"vector": vec(1), "id": "d", "payload": {"n": 1}}, {"vector": vec(2), "id": "e"},
           {"vector": vec(3), "id": "d", "payload": {"n": 2}}]
    r = c.post("/v1/memories/bulk", json={"items": dup})
    assert r.status_code == 201 and r.get_json() == {"count": 2, "ids": ["e", "d"]}
    assert c.get("/v1/memories/d").get_json()["payload"] == {"n": 2}


def test_bulk_limit(make_running):
    app = make_running(bulk_max_items=3)
    r = app.client.post("/v1/memories/bulk", json={"items": [{"vector": vec(i)} for i in range(4)]})
    assert r.status_code == 400 and "at most 3" in r.get_json()["detail"]
    assert app.client.get("/v1/stats").get_json()["memories"] == 0


def test_batch_recall_limit(make_running):
    app = make_running(batch_max_queries=2)
    r = app.client.post("/v1/recall/batch", json={"queries": [{"vector": vec(i)} for i in range(3)]})
    assert r.status_code == 400 and r.get_json()["detail"] == "a batch holds at most 2 queries, got 3"
    r = app.client.post("/v1/recall/batch", json={"queries": [{"vector": vec(i)} for i in range(2)]})
    assert r.status_code == 200 and r.get_json() == {"results": [[], []]}


def test_scoped_delete_counts_in_one_transaction(sqlite_app):
    c = sqlite_app.client
    items = [{"vector": vec(i), "memory_type": "semantic" if i % 2 else "episodic"} for i in range(10)]
    c.post("/v1/memories/bulk", json={"items": items})
    r = c.delete("/v1/memories?memory_type=semantic")
    assert r.status_code == 200 and r.get_json() == {"deleted": 5}
    assert c.delete("/v1/memories?memory_type=semantic").get_json() == {"deleted": 0}
    assert c.delete("/v1/memories").status_code == 400
    assert c.get("/v1/stats").get_json()["by_type"] == {"episodic": 5, "semantic": 0}
    hits = c.post("/v1/recall", json={"vector": vec(1), "k": 10}).get_json()["results"]
    assert len(hits) == 5 and all(h["memory_type"] == "episodic" for h in hits)


@pytest.mark.parametrize("body, fragment", [
    ({"vector": [1.0] * (DIM - 1)}, "dims"),
    ({"vector": [1.0] * DIM, "vector_b64": "AAAAAA=="}, "not both"),
    ({}, "give 'text'"),
    ({"vector": [1.0] * DIM, "colour": "red"}, "Extra inputs"),
    ({"vector": [1.0] * DIM, "k": 0}, "greater than or equal"),
    ({"vector": [1.0] * DIM, "k": 1001}, "less than or equal"),
    ({"vector": [0.0] * DIM}, "all zero"),
    ({"vector": [-0.0] * DIM}, "all zero"),
])
def test_recall_rejects_bad_input(sqlite_app, body, fragment):
    r = sqlite_app.client.post("/v1/recall", json=body)
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert fragment in r.get_json()["detail"]


@pytest.mark.parametrize("raw", ['{"vector": [NaN' + ', 1.0' * (DIM - 1) + ']}',
                                 '{"vector": [Infinity' + ', 1.0' * (DIM - 1) + ']}',
                                 '{"vector": [1.0,'])
def test_nan_inf_and_malformed_json_are_400(sqlite_app, raw):
    r = sqlite_app.client.post("/v1/memories", data=raw, content_type="application/json")
    assert r.status_code == 400
    assert sqlite_app.store.outbox_lag()[0] == 0


def test_content_type_and_body_limit(make_running):
    app = make_running(max_body_bytes=2000)
    r = app.client.post("/v1/memories", data=json.dumps({"text": "x"}), content_type="text/plain")
    assert r.status_code == 415 and r.mimetype == "application/problem+json"
    # Retry-After says "come back later"; a wrong content type will not get better by waiting
    assert "Retry-After" not in r.headers
    r = app.client.post("/v1/recall", data=json.dumps({"text": "x"}), content_type="text/plain")
    assert r.status_code == 415 and "Retry-After" not in r.headers
    r = app.client.post("/v1/memories", json={"text": "x" * 5000})
    assert r.status_code == 413 and r.mimetype == "application/problem+json"
    assert "Retry-After" not in r.headers
    assert app.client.get("/v1/stats").get_json()["memories"] == 0


def test_tokens_scopes_and_tenancy(tenant_app):
    c = tenant_app.client
    assert c.post("/v1/memories", json={"text": "x"}).status_code == 401
    r = c.post("/v1/memories", json={"text": "x"}, headers={"Authorization": "Basic abc"})
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    assert c.post("/v1/memories", json={"text": "x"}, headers=auth("nope-nope-nope")).status_code == 401
    assert c.post("/v1/memories", json={"text": "x"}, headers=auth("tok-alpha-ro")).status_code == 403
    r = c.post("/v1/memories", json={"text": "secret of alpha", "id": "s1"}, headers=auth("tok-alpha-rw"))
    assert r.status_code == 201 and r.get_json()["namespace"] == "alpha"
    assert c.get("/v1/memories/s1", headers=auth("tok-alpha-ro")).status_code == 200
    assert c.get("/v1/memories/s1", headers=auth("tok-beta-rw")).status_code == 404
    assert c.delete("/v1/memories/s1", headers=auth("tok-beta-rw")).status_code == 204
    assert c.get("/v1/memories/s1", headers=auth("tok-alpha-ro")).status_code == 200
    hits = c.post("/v1/recall", json={"text": "secret of alpha"}, headers=auth("tok-beta-rw")).get_json()
    assert hits["results"] == []
    assert c.delete("/v1/memories?memory_type=episodic", headers=auth("tok-alpha-rw")).status_code == 403
    assert c.delete("/v1/memories?memory_type=episodic", headers=auth("tok-alpha-admin")).get_json() == {"deleted": 1}
    assert c.get("/healthz").status_code == 200


def test_tokens_never_logged(tenant_app, caplog):
    logger = logging.getLogger("memory")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.DEBUG, logger="memory"):
            tenant_app.client.post("/v1/memories", json={"text": "x"}, headers=auth("tok-alpha-rw"))
            tenant_app.client.get("/v1/stats", headers=auth("tok-nobody-xyz"))
    finally:
        logger.removeHandler(caplog.handler)
    text = caplog.text + repr([r.__dict__ for r in caplog.records])
    assert "request" in text
    assert "tok-alpha-rw" not in text and "tok-nobody-xyz" not in text


def test_rate_limit_per_token(make_running):
    from tests.service.conftest import TOKENS
    app = make_running(tokens=TOKENS, rate_limit="3/minute")
    c = app.client
    answers = [c.get("/v1/stats", headers=auth("tok-alpha-ro")) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert all("Retry-After" not in r.headers for r in answers[:3])
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    r = c.get("/v1/stats", headers=auth("tok-alpha-ro"))
    assert r.mimetype == "application/problem+json" and int(r.headers["Retry-After"]) >= 1
    assert c.get("/v1/stats", headers=auth("tok-beta-rw")).status_code == 200


def test_links_and_weighted_path(sqlite_app):
    c = sqlite_app.client
    for name in "abcd":
        c.put(f"/v1/memories/{name}", json={"vector": vec(ord(name))})
    for src, dst, w in [("a", "b", 1), ("b", "c", 1), ("a", "c", 5)]:
        r = c.post("/v1/links", json={"from": src, "to": dst, "type": "related", "weight": w})
        assert r.status_code == 201
    c.post("/v1/links", json={"from": "a", "to": "d", "type": "cause", "weight": 1})
    p = c.get("/v1/paths?from=a&to=c").get_json()
    assert p == {"path": ["a", "b", "c"], "cost": 2.0, "found": True}
    assert c.get("/v1/paths?from=a&to=d&type=related").get_json()["found"] is False
    links = c.get("/v1/memories/a/links?type=related").get_json()["links"]
    assert [(x["to"], x["weight"]) for x in links] == [("b", 1.0), ("c", 5.0)]
    assert c.post("/v1/links", json={"from": "a", "to": "zz"}).status_code == 404
    assert c.post("/v1/links", json={"from": "a", "to": "b", "weight": -1}).status_code == 400
    assert c.get("/v1/paths?from=a").status_code == 400


def test_ops_endpoints(sqlite_app):
    c = sqlite_app.client
    assert c.get("/healthz").get_json() == {"status": "ok"}
    assert c.get("/readyz").status_code == 200
    c.post("/v1/memories", json={"text": "metrics please"})
    m = c.get("/metrics").data.decode()
    assert "memory_http_requests_total" in m and "memory_outbox_pending 1.0" in m
    doc = c.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["schemas"]["MemoryIn"]["additionalProperties"] is False
    recall = doc["paths"]["/v1/recall"]["post"]["responses"]
    assert "Retry-After" in recall["429"]["headers"] and "Retry-After" in recall["503"]["headers"]
    assert "headers" not in recall["415"] and "headers" not in recall["400"]
    r = c.get("/v1/nothing")
    assert r.status_code == 404 and r.mimetype == "application/problem+json"
    assert c.patch("/v1/memories/a").status_code == 405


def test_cors_closed_by_default_open_when_configured(make_running):
    closed = make_running()
    r = closed.client.get("/v1/stats", headers={"Origin": "https://agent.example"})
    assert "Access-Control-Allow-Origin" not in r.headers
    opened = make_running(cors_origins=("https://agent.example",))
    r = opened.client.get("/v1/stats", headers={"Origin": "https://agent.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "https://agent.example"


def test_request_id_echoed(sqlite_app):
    r = sqlite_app.client.get("/v1/memories/none", headers={"X-Request-ID": "abc-123"})
    assert r.headers["X-Request-ID"] == "abc-123" and r.get_json()["request_id"] == "abc-123"


def test_hot_tier_budget_evicts_from_recall_but_keeps_the_memory(make_running):
    app = make_running(hot_bytes=2000)
    c = app.client
    for i in range(40):
        assert c.put(f"/v1/memories/h{i}", json={"vector": vec(i), "importance": 1 + i}).status_code == 201
    kinds = [json.loads(e.event)["type"] for e in app.store.unpublished(10_000)]
    evicted = [json.loads(e.event)["subject"] for e in app.store.unpublished(10_000)
               if json.loads(e.event)["type"] == "memory.evicted"]
    assert kinds.count("memory.created") == 40 and evicted
    assert c.get(f"/v1/memories/{evicted[0]}").status_code == 200
    hits = {h["id"] for h in c.post("/v1/recall", json={"vector": vec(0), "k": 40}).get_json()["results"]}
    assert evicted[0] not in hits and len(hits) < 40


def test_base64_float32_vectors(sqlite_app):
    import base64

    import numpy as np
    c = sqlite_app.client
    v = np.asarray(vec(5), dtype="<f4")
    b64 = base64.b64encode(v.tobytes()).decode()
    r = c.post("/v1/memories", json={"vector_b64": b64, "id": "b64"})
    assert r.status_code == 201 and r.get_json()["embedding_model"] == "client"
    stored = c.get("/v1/memories/b64?include_vector=true").get_json()["vector"]
    assert np.allclose(stored, v)
    hits = c.post("/v1/recall", json={"vector_b64": b64, "k": 1}).get_json()["results"]
    assert hits[0]["id"] == "b64"
    nan = base64.b64encode(np.full(DIM, np.nan, dtype="<f4").tobytes()).decode()
    for bad, fragment in [(b64[:-8], "float32 values"), ("***", "base64"), (nan, "NaN")]:
        r = c.post("/v1/memories", json={"vector_b64": bad})
        assert r.status_code == 400 and fragment in r.get_json()["detail"]
    assert c.post("/v1/memories", json={"vector_b64": b64, "vector": vec(1)}).status_code == 400
