"""GET /v1/memories on real SQLite and PostgreSQL: filters, keyset pagination newest first,
stable while other requests write and delete between pages."""

from __future__ import annotations

import datetime as dt
import json
import threading
from urllib.parse import quote

import pytest

from memory.api import schemas as s
from tests.service.conftest import vec


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def app(request, make_running):
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    return make_running(url, rate_limit="1000000/minute")


def _page(c, **params):
    query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
    r = c.get(f"/v1/memories?{query}")
    assert r.status_code == 200, r.get_data(as_text=True)
    return s.ListOut.model_validate(r.json)


def _all(c, cursor=None, **params):
    seen = []
    while True:
        page = _page(c, **params, **({"cursor": cursor} if cursor else {}))
        seen.extend(page.memories)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


def test_newest_first_with_filters_and_text(app):
    c = app.client
    items = [{"id": f"m{i:02d}", "text": f"note {i}", "created_at": 1_700_000_000.0 + i * 10,
              "memory_type": "semantic" if i % 3 == 0 else "episodic",
              "payload": {"topic": "ops" if i % 2 else "home", "n": i}} for i in range(20)]
    items.append({"id": "tie-a", "vector": vec(1), "created_at": 1_700_000_050.0})  # same time as m05
    assert c.post("/v1/memories/bulk", json={"items": items}).status_code == 201
    page = _page(c, limit=3)
    assert [m.id for m in page.memories] == ["m19", "m18", "m17"] and page.next_cursor
    assert page.memories[0].text == "note 19" and page.memories[0].payload == {"topic": "ops", "n": 19}
    every = _all(c, limit=4)
    keys = [(m.created_at, m.id) for m in every]
    assert len(every) == 21 and keys == sorted(keys, reverse=True)
    tie = dt.datetime.fromtimestamp(1_700_000_050.0, dt.timezone.utc)
    assert [m.id for m in every if m.created_at == tie] == ["tie-a", "m05"]  # id descending
    assert {m.id for m in _all(c, memory_type="semantic", limit=2)} == {f"m{i:02d}" for i in range(0, 20, 3)}
    assert [m.id for m in _all(c, payload=json.dumps({"topic": "ops"}), limit=3)] == \
        [f"m{i:02d}" for i in range(19, 0, -2)]
    assert [m.id for m in _page(c, payload=json.dumps({"topic": "ops", "n": 7})).memories] == ["m07"]
    ranged = _all(c, created_after="2023-11-14T22:15:00Z", created_before=1_700_000_120.0)
    assert [m.id for m in ranged] == ["m12", "m11", "m10", "m09", "m08", "m07", "m06", "m05", "tie-a", "m04",
                                      "m03", "m02", "m01"][:len(ranged)] and ranged[0].id == "m12"
    assert _page(c, created_after=1_800_000_000).memories == []
    # listing counts no access (it is not a read of one memory)
    assert c.get("/v1/memories/m19").json["access_count"] == 1


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=x", "cursor=nope", "cursor=1.5~",
                                   "memory_type=other", "created_after=-1", "created_before=nan",
                                   "created_after=2021-02-30T00:00:00Z", "payload=[1]", "payload=%7B",
                                   "payload=%7B%22a%22%3A%20NaN%7D", "colour=red"])
def test_bad_parameters_are_400(app, query):
    r = app.client.get(f"/v1/memories?{query}")
    assert r.status_code == 400 and r.mimetype == "application/problem+json", r.get_data(as_text=True)


def test_pages_are_stable_under_concurrent_writes_and_deletes(app):
    """Rows that exist throughout are listed exactly once, in order, while another thread
    writes newer memories and deletes others between the pages."""
    c = app.client
    base = 1_700_000_000.0
    items = [{"id": f"s{i:03d}", "vector": vec(i), "created_at": base + i} for i in range(150)]
    assert c.post("/v1/memories/bulk", json={"items": items}).status_code == 201
    doomed = {f"s{i:03d}" for i in range(0, 150, 7)}
    stop = threading.Event()

    def churn():
        other = app.app.test_client()
        n = 0
        for mid in sorted(doomed):
            other.put(f"/v1/memories/new{n}", json={"vector": vec(1000 + n)})  # newest of all
            other.delete(f"/v1/memories/{mid}")
            n += 1
            if stop.is_set():
                return

    t = threading.Thread(target=churn)
    t.start()
    seen, cursor = [], None
    while True:
        page = _page(c, limit=7, **({"cursor": cursor} if cursor else {}))
        seen.extend(m.id for m in page.memories)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    stop.set()
    t.join(30)
    listed = [m for m in seen if m.startswith("s")]
    assert len(listed) == len(set(listed))  # nothing twice
    kept = {f"s{i:03d}" for i in range(150)} - doomed
    assert kept <= set(listed)  # nothing that lived throughout was skipped
    assert listed == sorted(listed, reverse=True)


def test_payload_filter_scan_is_bounded_and_resumes(app):
    c = app.client
    items = [{"id": f"p{i:03d}", "vector": vec(i), "created_at": 1_700_000_000.0 + i,
              "payload": {"hit": i in (3, 250)}} for i in range(300)]
    assert c.post("/v1/memories/bulk", json={"items": items}).status_code == 201
    app.service.LIST_SCAN = 100  # small enough that one request stops before the next match
    first = _page(c, payload=json.dumps({"hit": True}), limit=5)
    assert [m.id for m in first.memories] == ["p250"] and first.next_cursor
    rest = _all(c, payload=json.dumps({"hit": True}), limit=5, cursor=first.next_cursor)
    assert [m.id for m in rest] == ["p003"]
