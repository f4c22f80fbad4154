"""The binary bulk format (POST /v1/memories/bulk/binary) and the batch write path beneath
both bulk routes, on SQLite and on the real PostgreSQL fixture: what a batch stores reads
back on every path, each memory gets exactly one event, the COPY and executemany paths
store what the one-row path stores, and the route's own body limit and errors hold.
Generated inputs for both write properties are in test_write_properties.py."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import sqlalchemy as sa

from memory.api import bulk_binary
from memory.api.schemas import iso
from memory.config import Settings, binary_bulk_bytes
from memory.errors import ConfigError
from tests.service.conftest import DIM

MT = bulk_binary.MEDIA_TYPE


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def app(request, make_running):
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    return make_running(url, bulk_max_items=500, rate_limit="1000000/minute")


def _post(app, body: bytes, mimetype: str = MT):
    return app.client.post("/v1/memories/bulk/binary", data=body, content_type=mimetype)


def test_batch_reads_back_everywhere_with_one_event_each(app):
    """120 memories (above the COPY threshold on PostgreSQL) with every field set."""
    n = 120
    vecs = _vectors(n)
    items = [{"id": f"m{i}", "text": f"note number {i} about shopping", "payload": {"i": i, "tag": "x"},
              "memory_type": "semantic" if i % 2 else "episodic", "importance": float(i % 7),
              "coordinate": [i, 0.5], "created_at": 1_700_000_000 + i} for i in range(n)]
    r = _post(app, bulk_binary.encode(items, vecs))
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.json == {"count": n, "ids": [f"m{i}" for i in range(n)]}
    for i in (0, 61, 119):
        got = app.client.get(f"/v1/memories/m{i}?include_vector=true").json
        assert np.asarray(got["vector"], np.float32).tobytes() == vecs[i].tobytes()
        assert (got["text"], got["payload"], got["memory_type"], got["coordinate"], got["embedding_model"]) == (
            items[i]["text"], items[i]["payload"], items[i]["memory_type"], [i, 0.5], "client")
        assert got["importance"] == i % 7 and got["created_at"].startswith("2023-11-14T22:")
    hits = app.client.post("/v1/recall", json={"vector": vecs[61].tolist(), "k": 3}).json["results"]
    assert hits[0]["id"] == "m61" and hits[0]["payload"] == {"i": 61, "tag": "x"}
    words = app.client.post("/v1/recall", json={"text": "number 61", "mode": "keyword", "k": 5}).json["results"]
    assert "m61" in [h["id"] for h in words]
    listed = app.client.get("/v1/memories?limit=1000").json["memories"]
    assert sorted(m["id"] for m in listed) == sorted(f"m{i}" for i in range(n))
    with app.store.engine.connect() as conn:
        events = conn.execute(sa.text("select memory_id, type, event from outbox order by seq")).all()
    assert [e.memory_id for e in events] == [f"m{i}" for i in range(n)]
    assert {e.type for e in events} == {"memory.created"}
    data = json.loads(events[61].event)["data"]
    assert data["payload"] == {"i": 61, "tag": "x"} and data["text"] == items[61]["text"]
    assert np.frombuffer(__import__("base64").b64decode(data["vector_b64"]), "<f4").tobytes() == vecs[61].tobytes()
    # a replace: the batch updates rows in place, keeps their creation time, says memory.updated
    r = _post(app, bulk_binary.encode([{"id": "m1", "text": "replaced"}, {"id": "new"}], _vectors(2, 1)))
    assert r.status_code == 201
    got = app.client.get("/v1/memories/m1").json
    assert got["text"] == "replaced" and got["created_at"] == iso(1_700_000_001)
    with app.store.engine.connect() as conn:
        tail = conn.execute(sa.text("select memory_id, type from outbox order by seq desc limit 2")).all()
    assert sorted(map(tuple, tail)) == [("m1", "memory.updated"), ("new", "memory.created")]


def test_batch_path_stores_what_single_writes_store(app, make_running, request):
    """The same memories through the binary route (COPY on PostgreSQL) and through one PUT
    each (one-row statements), on the same kind of database: equal rows."""
    vecs = _vectors(60, 2)
    items = [{"id": f"k{i}", "payload": {"n": [i, None, "é"]}, "importance": 3.0, "created_at": 1e9 + i,
              "text": "t"} for i in range(60)]
    assert _post(app, bulk_binary.encode(items, vecs)).status_code == 201
    url = None
    if app.store.dialect == "postgresql":
        server = request.getfixturevalue("postgres_server")
        server.create_database("binary_twin")
        url = server.url("binary_twin")
    other = make_running(url)
    for i, it in enumerate(items):
        body = {k: v for k, v in it.items() if k != "id"} | {"vector": vecs[i].tolist()}
        assert other.client.put(f"/v1/memories/k{i}", json=body).status_code == 201

    def rows(a):
        with a.store.engine.connect() as conn:
            return [(r.id, bytes(r.vector), r.payload, r.importance, r.created_at, r.text, r.dim)
                    for r in conn.execute(sa.text("select * from memories order by id"))]
    def fixed(rs):  # payload JSON text differs in spacing only: compare parsed
        return [(*r[:2], r[2] if isinstance(r[2], dict) else json.loads(r[2]), *r[3:]) for r in rs]
    assert fixed(rows(app)) == fixed(rows(other))


@pytest.mark.parametrize("body,status,fragment", [
    (b"SM", 400, "starts with"),
    (b"XXXX" + struct.pack("<I", 2) + b"{}", 400, "starts with b'SMB1'"),
    (b"SMB1" + struct.pack("<I", 999) + b"{}", 400, "runs past"),
    (b"SMB1" + struct.pack("<I", 2) + b"{}", 400, None),  # no dim, no items: pydantic names them
])
def test_framing_errors_are_clear_and_change_nothing(app, body, status, fragment):
    r = _post(app, body)
    assert r.status_code == status and r.mimetype == "application/problem+json"
    if fragment:
        assert fragment in r.json["detail"]
    assert app.client.get("/v1/stats").json["memories"] == 0


def test_item_and_block_errors(app):
    good = _vectors(2)
    cases = [
        (bulk_binary.encode([{"id": "a"}, {"id": "b"}], good)[:-4], "need a block of"),
        (bulk_binary.encode([{"id": "a"}], _vectors(1).repeat(1, axis=0)).replace(
            f'"dim":{DIM}'.encode(), f'"dim":{DIM + 1}'.encode()), f"the service uses {DIM}"),
        (bulk_binary.encode([{"id": "a"}, {"id": "b"}], np.vstack([good[0], np.zeros(DIM)])), "item 1: vector must be non-zero"),
        (bulk_binary.encode([{"id": "a"}, {"id": "b"}], np.vstack([good[0], np.full(DIM, np.nan)])), "item 1: the vector contains NaN"),
        (bulk_binary.encode([{"text": "a\x00b"}], good[:1]), "U+0000"),
    ]
    for body, fragment in cases:
        r = _post(app, body)
        assert r.status_code == 400 and fragment in r.json["detail"], (fragment, r.json)
    for item in ({"id": None}, {"vector": [1.0] * DIM}, {"importance": "5"}, {"id": "bulk"}, {"text": ""}):
        r = _post(app, bulk_binary.encode([item], good[:1]))
        assert r.status_code == 400 and r.json["errors"], item
    assert _post(app, bulk_binary.encode([{}], good[:1]), "application/json").status_code == 415
    assert _post(app, bulk_binary.encode([{}] * 501, _vectors(501))).json["detail"].startswith(
        "a bulk request holds at most 500 items")
    assert app.client.get("/v1/stats").json["memories"] == 0


def test_own_body_limit(make_running):
    """BULK_MAX_BODY_BYTES bounds this route and only it; MAX_BODY_BYTES the others."""
    body = bulk_binary.encode([{"text": "x" * 100}] * 20, _vectors(20))
    limit = len(body) + 100
    app = make_running(max_body_bytes=2500, bulk_max_items=20, bulk_max_body_bytes=limit)
    assert 2500 < len(body) <= limit
    assert _post(app, body).status_code == 201  # above the normal limit, within its own
    assert _post(app, body + b"\0" * 101).status_code == 413
    assert app.client.post("/v1/memories", data=b"{" + b" " * 3000 + b"}",
                           content_type="application/json").status_code == 413
    with pytest.raises(ConfigError, match="BULK_MAX_BODY_BYTES"):
        Settings(dim=384, bulk_max_items=2000, bulk_max_body_bytes=2000 * 384 * 4).validate()
    assert Settings().bulk_max_body_bytes >= binary_bulk_bytes(Settings().bulk_max_items, Settings().dim)


def test_binary_bulk_is_in_the_document(app):
    doc = app.client.get("/openapi.json").json
    op = doc["paths"]["/v1/memories/bulk/binary"]["post"]
    assert MT in op["requestBody"]["content"] and "201" in op["responses"] and "413" in op["responses"]
