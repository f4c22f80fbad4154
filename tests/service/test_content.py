"""A memory's content (`text`) on real SQLite and PostgreSQL: stored beside the vector,
served by GET and both recalls, carried by its CloudEvent, picked up by a following process
and by an event consumer, size-limited, and added by a migration that keeps existing rows."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import sqlalchemy as sa

from memory.events import cloudevents
from memory.store import Store
from memory.store import migrate as mig
from memory.store.schema import memories
from tests.service.conftest import DIM, vec


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request):
    return request.getfixturevalue("pg_url") if request.param == "postgresql" else None


def test_text_reads_back_on_every_read_path(make_running, url):
    app = make_running(url)
    c = app.client
    r = c.post("/v1/memories", json={"id": "cat", "text": "the cat sat on the mat", "payload": {"k": 1}})
    assert r.status_code == 201 and r.json["text"] == "the cat sat on the mat"
    assert r.json["payload"] == {"k": 1} and r.json["embedding_model"] == app.service.embedder.model_id
    assert c.get("/v1/memories/cat").json["text"] == "the cat sat on the mat"
    [hit] = c.post("/v1/recall", json={"text": "the cat sat on the mat", "k": 1}).json["results"]
    assert (hit["id"], hit["text"]) == ("cat", "the cat sat on the mat")
    [[bhit]] = c.post("/v1/recall/batch", json={"queries": [{"text": "cat"}], "k": 1}).json["results"]
    assert bhit["text"] == "the cat sat on the mat"
    # a memory stored from a vector alone has no content: null, on every path
    c.put("/v1/memories/bare", json={"vector": vec(3)})
    assert c.get("/v1/memories/bare").json["text"] is None
    hits = c.post("/v1/recall", json={"vector": vec(3), "k": 2}).json["results"]
    assert hits[0]["id"] == "bare" and hits[0]["text"] is None


def test_vector_and_text_uses_the_vector_and_keeps_the_text(make_running, url):
    app = make_running(url)
    c = app.client
    v = vec(7)
    r = c.post("/v1/memories", json={"id": "both", "vector": v, "text": "words that embed elsewhere"})
    assert r.status_code == 201, r.json
    assert r.json["embedding_model"] == "client" and r.json["text"] == "words that embed elsewhere"
    stored = c.get("/v1/memories/both?include_vector=true").json
    assert np.allclose(stored["vector"], np.asarray(v, np.float32))
    # the bulk path too, with vector_b64
    import base64
    b64 = base64.b64encode(np.asarray(vec(8), "<f4").tobytes()).decode()
    assert c.post("/v1/memories/bulk", json={"items": [{"id": "b2", "vector_b64": b64, "text": "t2"}]}).status_code == 201
    got = c.get("/v1/memories/b2?include_vector=true").json
    assert got["text"] == "t2" and got["embedding_model"] == "client"
    assert np.allclose(got["vector"], np.asarray(vec(8), np.float32))
    # a vector and vector_b64 together stay refused
    r = c.post("/v1/memories", json={"vector": v, "vector_b64": b64})
    assert r.status_code == 400 and "not both" in r.get_data(as_text=True)


def test_text_size_limit_refuses_and_stores_nothing(make_running, url):
    app = make_running(url, max_text_chars=40)
    c = app.client
    seq = app.store.max_seq()
    assert c.post("/v1/memories", json={"vector": vec(1), "text": "x" * 41}).status_code == 400
    r = c.post("/v1/memories/bulk", json={"items": [{"vector": vec(1), "text": "x" * 20},
                                                    {"vector": vec(2), "text": "y" * 21}]})
    assert r.status_code == 400 and "at most 40 characters" in r.json["detail"]
    assert app.store.max_seq() == seq and app.store.counts("default") == {}
    assert c.post("/v1/memories", json={"vector": vec(1), "text": "x" * 40}).status_code == 201
    # the document states the same maximum
    doc = c.get("/openapi.json").json
    assert doc["components"]["schemas"]["MemoryIn"]["properties"]["text"]["maxLength"] == 40


def test_event_carries_text_and_followers_store_it(make_running, url):
    writer = make_running(url)
    reader = make_running(writer.settings.database_url or writer.settings.effective_database_url)
    seq = writer.store.max_seq()
    writer.client.put("/v1/memories/m1", json={"text": "remember the milk", "payload": {"a": 1}})
    [row] = [e for e in writer.store.unpublished(1000) if e.seq > seq]
    event = cloudevents.parse(row.event)
    assert event["data"]["text"] == "remember the milk"
    # another process following the change log serves the text from its own index
    assert reader.service.follow_once() >= 1
    [hit] = reader.client.post("/v1/recall", json={"text": "remember the milk", "k": 1}).json["results"]
    assert (hit["id"], hit["text"]) == ("m1", "remember the milk")
    # an event consumer applying the event records its content
    assert writer.store.apply_event("content-test", json.loads(row.event))
    [(eid, etype, mid)] = [c for c in writer.store.consumed() if c[0] == event["id"]]
    with writer.store.engine.connect() as conn:
        from memory.store.schema import memory_events
        data = conn.execute(sa.select(memory_events.c.data).where(memory_events.c.event_id == eid)).scalar_one()
    assert json.loads(data)["text"] == "remember the milk" and mid == "m1"


def test_migration_0002_keeps_existing_rows(make_running, url, tmp_path):
    url = url or f"sqlite:///{tmp_path / 'old.db'}"
    store = Store(url)
    mig.upgrade(store.engine, "0001")
    now = time.time()
    row = {"namespace": "default", "id": "old", "memory_type": "semantic",
           "vector": np.asarray(vec(5), "<f4").tobytes(), "dim": DIM, "model": "client", "importance": 2.0,
           "importance_norm": 0.5, "coordinate": None, "payload": {"kept": True}, "created_at": now - 10,
           "updated_at": now - 10, "last_access": None, "access_count": 3, "deleted_at": None}
    # the columns of revision 0001 (the table of today less `text`)
    old = sa.table("memories", *[sa.column(name, memories.c[name].type) for name in row])
    with store.engine.begin() as conn:
        conn.execute(old.insert(), [row])
    assert store.migrate() == mig.head()  # 0002 adds text, later revisions follow
    store.close()
    app = make_running(url, migrate=False)
    got = app.client.get("/v1/memories/old").json
    assert got["text"] is None and got["payload"] == {"kept": True} and got["importance"] == 2.0
    assert got["memory_type"] == "semantic" and got["access_count"] >= 3
    assert app.client.post("/v1/recall", json={"vector": vec(5), "k": 1}).json["results"][0]["id"] == "old"
    # and a new write beside it stores its text
    app.client.put("/v1/memories/new", json={"text": "fresh"})
    assert app.client.get("/v1/memories/new").json["text"] == "fresh"


def test_text_with_nul_is_refused_on_both_databases(make_running, url):
    """PostgreSQL text cannot hold U+0000: refused (400, nothing stored) everywhere alike."""
    app = make_running(url)
    seq = app.store.max_seq()
    for method, path, body in [("PUT", "/v1/memories/a", {"text": "\u0000"}),
                               ("POST", "/v1/memories", {"vector": vec(1), "text": "a\u0000b"}),
                               ("POST", "/v1/memories/bulk", {"items": [{"text": "ok"}, {"text": "x\u0000"}]})]:
        r = app.client.open(path, method=method, json=body)
        assert r.status_code == 400 and "U+0000" in r.get_data(as_text=True), r.get_data(as_text=True)
    assert app.store.max_seq() == seq and app.store.counts("default") == {}
    # a recall query is not stored: it may hold one
    assert app.client.post("/v1/recall", json={"text": "a\u0000b"}).status_code == 200
