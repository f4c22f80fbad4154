"""memory.client against the real service process (SQLite and PostgreSQL): every endpoint,
the exception tree, tenancy, retries of 429 and 503 after Retry-After."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory.client import (AsyncMemoryClient, BadRequest, Conflict, ConnectFailed, Forbidden, Hit, Memory,
                           MemoryClient, MemoryClientError, NotFound, ProblemError, RateLimited, Unauthorized,
                           Unavailable)
from tests.client.server import DIM
from tests.fixtures._net import free_port

RW, RO, ADMIN, BETA = "client-alpha-rw", "client-alpha-ro", "client-alpha-admin", "client-beta-rw"


def _uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_every_endpoint_round_trips(server):
    with MemoryClient(server.url, RW) as memory:
        a = memory.remember("the deploy key rotates every 90 days", payload={"topic": "ops", "n": 1},
                            id=_uid("a"), importance=1.0)  # equal importances: similarity ranks
        assert isinstance(a, Memory) and a.namespace == "alpha" and a.payload == {"topic": "ops", "n": 1}
        assert a.importance == 1.0 and a.text == "the deploy key rotates every 90 days"
        assert a.embedding_model.startswith("hash-v1") and a.dim == DIM
        b = memory.remember(vector=np.random.default_rng(1).normal(size=DIM), id=_uid("b"),
                            memory_type="semantic", created_at=1_700_000_000.0)
        assert b.embedding_model == "client" and b.memory_type == "semantic" and b.text is None
        assert b.created_at == "2023-11-14T22:13:20Z"
        c = memory.remember(vector=[float(x) for x in np.random.default_rng(2).normal(size=DIM)], id=_uid("c"))

        got = memory.get(a.id, include_vector=True)
        assert got.id == a.id and len(got.vector) == DIM and got.access_count == 1
        assert got.text == a.text
        hits = memory.recall("the deploy key rotates every 90 days", k=3)
        assert isinstance(hits[0], Hit) and hits[0].id == a.id and hits[0].payload == a.payload
        assert hits[0].text == a.text
        assert hits[0].score > 0 and hits[0].similarity == pytest.approx(1.0, abs=1e-3)
        only = memory.recall("deploy key", k=10, memory_type="semantic")
        assert {h.id for h in only} <= {b.id} and all(h.memory_type == "semantic" for h in only)
        assert memory.recall("deploy key", payload={"topic": "ops"}, explain=True)[0].explain.formula
        assert [h.id for h in memory.recall("deploy", created_before=1_700_000_001.0, k=10)] == [b.id]
        batch = memory.recall_batch(["the deploy key rotates every 90 days",
                                     np.asarray(memory.get(b.id, include_vector=True).vector)], k=1)
        assert [r[0].id for r in batch] == [a.id, b.id]
        assert [r[0].text for r in batch] == [a.text, None]
        kw = {h.id: h for h in memory.recall("rotates", mode="keyword", k=10)}
        assert kw[a.id].lists["keyword"] >= 1 and "vector" not in kw[a.id].lists
        assert memory.recall(a.text, mode="hybrid", k=1)[0].lists == {"vector": 1, "keyword": 1}
        batch_kw = memory.recall_batch(["rotates", "deploy"], mode="keyword", k=10)
        assert all(a.id in {h.id for h in row} for row in batch_kw)
        # a vector and a text: the vector is used, the text kept
        both = memory.remember("kept beside the vector", vector=np.random.default_rng(3).normal(size=DIM),
                               id=_uid("both"))
        assert both.embedding_model == "client" and both.text == "kept beside the vector"
        assert memory.get(both.id).text == "kept beside the vector"
        memory.forget(both.id)

        replaced = memory.put(c.id, "now it is text", payload={"v": 2})
        assert replaced.created_at == c.created_at and replaced.payload == {"v": 2}
        fresh = memory.put(_uid("p"), "a new one")
        assert fresh.access_count == 0
        stored = memory.remember_many([{"text": f"bulk {i}", "id": _uid(f"k{i}")} for i in range(3)]
                                      + [{"vector": np.ones(DIM, np.float32), "payload": {"bulk": True}}])
        assert stored.count == 4 and len(stored.ids) == 4
        block = np.random.default_rng(7).normal(size=(3, DIM)).astype(np.float32)
        fast = memory.remember_vectors(block, [{"id": _uid(f"v{i}"), "text": f"binary {i}", "payload": {"i": i}}
                                               for i in range(3)])
        assert fast.count == 3 and [memory.get(i).text for i in fast.ids] == ["binary 0", "binary 1", "binary 2"]
        assert np.array_equal(np.asarray(memory.get(fast.ids[2], include_vector=True).vector, np.float32), block[2])
        with pytest.raises(BadRequest):  # a NaN row: the service's 400, nothing stored
            memory.remember_vectors(np.full((1, DIM), np.nan, np.float32))

        link = memory.link(a.id, c.id, weight=2.5)
        assert (link.from_, link.to, link.type, link.weight) == (a.id, c.id, "related", 2.5)
        memory.link(c.id, b.id, type="related", weight=1.0)
        assert [x.to for x in memory.links(a.id)] == [c.id]
        path = memory.path(a.id, b.id)
        assert path.found and path.path == [a.id, c.id, b.id] and path.cost == 3.5
        assert not memory.path(b.id, a.id).found

        page = memory.list_memories(limit=2)
        assert len(page.memories) == 2 and page.next_cursor
        every = list(memory.iter_memories(page_size=3))
        assert len({m.id for m in every}) == len(every) >= 8
        assert [m.created_at for m in every] == sorted((m.created_at for m in every), reverse=True)
        assert {m.id: m.text for m in every}[a.id] == a.text
        assert [m.id for m in memory.iter_memories(memory_type="semantic")] == [b.id]
        assert [m.id for m in memory.list_memories(payload={"topic": "ops", "n": 1}).memories] == [a.id]
        assert [m.id for m in memory.list_memories(created_before=1_700_000_001.0).memories] == [b.id]

        stats = memory.stats()
        assert stats.namespace == "alpha" and stats.memories >= 8 and stats.dim == DIM
        assert memory.health() == {"status": "ok"} and memory.ready()["status"] == "ready"
        assert "/v1/recall" in memory.openapi()["paths"]
        assert "memory_" in memory.metrics()

        memory.forget(a.id)
        memory.forget(a.id)  # absent: still fine
        with pytest.raises(NotFound):
            memory.get(a.id)
        assert a.id not in {h.id for h in memory.recall("the deploy key rotates every 90 days", k=10)}
    with MemoryClient(server.url, ADMIN) as admin:
        assert admin.forget_all("semantic") >= 1
        assert admin.recall("deploy", memory_type="semantic") == []


def test_problems_map_onto_the_exception_tree(server):
    with MemoryClient(server.url, RW) as memory:
        mid = memory.remember("one", id=_uid("dup")).id
        with pytest.raises(Conflict) as conflict:
            memory.remember("again", id=mid)
        assert conflict.value.status == 409 and conflict.value.request_id
        assert isinstance(conflict.value, ProblemError) and isinstance(conflict.value, MemoryClientError)
        with pytest.raises(BadRequest) as bad:
            memory.remember(vector=[1.0, 2.0])
        assert "dims" in bad.value.detail
        with pytest.raises(BadRequest) as invalid:
            memory.recall("x", k=0)
        assert invalid.value.errors and invalid.value.errors[0]["loc"] == "k"
        with pytest.raises(BadRequest):
            memory.remember("x", unknown_field=1)  # passed through, refused by the service
        with pytest.raises(ValueError):
            memory.remember()  # neither text nor vector: refused before sending
    with MemoryClient(server.url, RO) as ro, pytest.raises(Forbidden, match="'write' scope"):
        ro.remember("read-only tokens cannot write")
    with MemoryClient(server.url, "not-a-known-token") as nobody, pytest.raises(Unauthorized):
        nobody.recall("anything")
    with MemoryClient(server.url) as anonymous, pytest.raises(Unauthorized):
        anonymous.stats()
    # tenancy: another namespace's id is simply not found, and its recall never sees it
    with MemoryClient(server.url, BETA) as beta:
        with pytest.raises(NotFound):
            beta.get(mid)
        assert mid not in {h.id for h in beta.recall("one", k=50)}


def test_async_client_is_the_same_api(server):
    async def flow():
        async with AsyncMemoryClient(server.url, RW) as memory:
            m = await memory.remember("asynchronous memories recall alike", payload={"a": 1}, id=_uid("as"))
            assert (await memory.get(m.id)).payload == {"a": 1}
            hits, batch = await asyncio.gather(memory.recall("asynchronous memories recall alike", k=1),
                                               memory.recall_batch(["asynchronous memories recall alike"], k=1))
            assert hits[0].id == m.id and batch[0][0].id == m.id
            assert (await memory.stats()).namespace == "alpha"
            await memory.forget(m.id)
            with pytest.raises(NotFound):
                await memory.get(m.id)
            assert (await memory.put(m.id, "back again")).id == m.id  # PUT recreates a deleted id
            with pytest.raises(Conflict):
                await memory.remember("x", id=m.id)
            stored = await memory.remember_vectors(np.ones((2, DIM), np.float32), [{"text": "one"}, {"text": "two"}])
            assert sorted([(await memory.get(i)).text for i in stored.ids]) == ["one", "two"]
    asyncio.run(flow())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.dictionaries(st.text(min_size=1, max_size=20),
                               st.recursive(st.none() | st.booleans() | st.integers(-2**53, 2**53)
                                            | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
                                            lambda inner: st.lists(inner, max_size=3)
                                            | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                                            max_leaves=8), max_size=5),
       text=st.text(min_size=1, max_size=200).filter(lambda t: t.strip()))
def test_whatever_is_stored_reads_back_through_the_client(server, payload, text):
    with MemoryClient(server.url, RW) as memory:
        try:
            m = memory.remember(text, payload=payload, id=_uid("h"))
        except BadRequest:
            return  # refused: then nothing may be stored (the service's own tests cover it)
        got = memory.get(m.id)
        assert got.payload == payload and got.text == m.text == text
        hits = {h.id: h for h in memory.recall(text, k=5, payload=payload or None)}
        assert m.id in hits and hits[m.id].text == text
        memory.forget(m.id)


# -- retries ------------------------------------------------------------------------------
class Recorder:
    """httpx event hook: (status, Retry-After, monotonic time) of every answer."""

    def __init__(self):
        self.seen: list[tuple[int, str | None, float]] = []

    def __call__(self, resp: httpx.Response) -> None:
        self.seen.append((resp.status_code, resp.headers.get("Retry-After"), time.monotonic()))


def test_429_is_retried_after_its_retry_after(make_server):
    srv = make_server(rate_limit="3 per 2 second")
    rec = Recorder()
    with MemoryClient(srv.url, RW, retries=6, http=httpx.Client(event_hooks={"response": [rec]})) as memory:
        ids = [memory.remember(f"limited {i}", id=_uid("rl")).id for i in range(6)]
    assert len(ids) == 6
    statuses = [s for s, _, _ in rec.seen]
    assert statuses.count(201) == 6 and 429 in statuses
    for (status, after, at), (_, _, next_at) in zip(rec.seen, rec.seen[1:]):
        if status == 429:
            assert after is not None and next_at - at >= float(after) - 0.05  # waited as told
    with MemoryClient(srv.url, RW, retries=1) as impatient:
        with pytest.raises(RateLimited) as limited:
            for i in range(10):
                impatient.remember(f"burst {i}")
        assert limited.value.retry_after and limited.value.retry_after >= 1


def test_503_is_retried_until_the_database_returns(make_server, postgres_server):
    srv = make_server("postgresql")
    rec = Recorder()
    with MemoryClient(srv.url, RW, retries=30, max_retry_wait=2,
                      http=httpx.Client(event_hooks={"response": [rec]})) as memory:
        before = memory.remember("before the outage", id=_uid("pre"))
        postgres_server.stop()
        restart = threading.Timer(3.0, postgres_server.start)
        restart.start()
        try:
            during = memory.remember("written across the outage", id=_uid("during"))
        finally:
            restart.join()
        statuses = [s for s, _, _ in rec.seen]
        assert statuses[0] == 201 and 503 in statuses and statuses[-1] == 201
        assert all(after == "1" for s, after, _ in rec.seen if s == 503)
        assert memory.get(during.id).id == during.id and memory.get(before.id).id == before.id
    with MemoryClient(srv.url, RW, retries=2) as brief:
        postgres_server.stop()
        try:
            with pytest.raises(Unavailable) as unavailable:
                brief.remember("no database")
            assert unavailable.value.status == 503 and unavailable.value.retry_after == 1
        finally:
            postgres_server.start()


def test_no_listener_is_a_connect_error_after_retries():
    rec = []
    with MemoryClient(f"http://127.0.0.1:{free_port()}", retries=3,
                      http=httpx.Client(event_hooks={"request": [rec.append]})) as memory:
        with pytest.raises(ConnectFailed, match="cannot connect"):
            memory.health()
    assert len(rec) == 3


def test_fields_a_newer_service_adds_reach_the_caller():
    """What lets the content and listing fields of issue 9 arrive before the client names them."""
    row = {"id": "m1", "namespace": "alpha", "memory_type": "episodic", "payload": {}, "importance": 1.0,
           "embedding_model": "hash-v1-32", "dim": 32, "created_at": "2026-01-01T00:00:00Z",
           "updated_at": "2026-01-01T00:00:00Z", "text": "the stored content"}
    memory = Memory.model_validate(row)
    assert memory.text == "the stored content"
    assert memory.model_dump(exclude_none=True)["text"] == "the stored content"
    hit = Hit.model_validate({"id": "m1", "score": 0.5, "similarity": 0.5, "importance": 1.0, "decay": 1.0,
                              "memory_type": "episodic", "created_at": "2026-01-01T00:00:00Z",
                              "text": "the stored content", "lists": {"vector": 1, "keyword": 3}})
    assert hit.lists == {"vector": 1, "keyword": 3}
