"""The two write properties, with generated requests over every write endpoint (POST, PUT,
bulk, binary bulk, links, delete one, scoped delete), on SQLite and on the real PostgreSQL fixture:

1. a request answered 4xx changes nothing: memory rows, links, outbox, the in-process
   index (ids, stored values, recall catalog) and the importance normaliser's state are
   identical before and after;
2. a request answered 2xx leaves data that every read path serves with 200 and strict,
   schema-valid JSON: GET of each memory (with the text written), its links, a path,
   recall, batch recall, every page of the listing, stats,
   and the event stream (each new outbox event is a strict-JSON CloudEvent).

Requests mix valid and invalid fields (wrong dims, zero vectors, NaN/1e400 literals,
out-of-range times, loose types, null, unknown fields, bad and reserved ids, missing link
ends, bad scoped deletes) and are sent as raw JSON text, so NaN and 1e400 reach the
service as a client would send them. One service per database runs the whole sequence, so
state builds up (conflicts, replaces, links to deleted memories). Examples are tuned so
the module takes about a minute or two.
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory.api import bulk_binary
from memory.api import schemas as s
from memory.events import cloudevents
from memory.store.schema import links, memories, outbox
from tests.service.conftest import DIM, Running

EXAMPLES = 80  # per database: the module (both) runs in about a minute and a half

# -- generated requests ---------------------------------------------------------------------
IDS = ["a", "b", "c", "d-1", "x.y:z", "e" * 128]
BAD_IDS = ["", "a\n", "bulk", "e" * 129, "-lead", "sp ace", "\u00e9"]

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
small = st.floats(min_value=-10, max_value=10, allow_nan=False)
good_vector = st.lists(small, min_size=DIM, max_size=DIM).filter(lambda v: any(v))
bad_vector = st.one_of(
    st.lists(small, min_size=DIM + 1, max_size=DIM + 1),
    st.just([0.0] * DIM),
    st.just("RAW:[NaN" + ", 1.0" * (DIM - 1) + "]"),
    st.just("RAW:[1e400" + ", 1.0" * (DIM - 1) + "]"),
    st.just(["1.0"] * DIM),
    st.just([True] * DIM),
)
good_time = st.one_of(st.floats(min_value=0, max_value=s.EPOCH_MAX),
                      st.sampled_from(["2020-01-01T00:00:00Z", "1971-01-01T00:00:00+23:59",
                                       "2998-12-31T23:59:59.123456789-23:59", "2024-02-29t12:00:00z"]))
bad_time = st.sampled_from([-1, s.EPOCH_MAX + 1, "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                            "2021-02-30T00:00:00Z", "2020-01-01", True, "RAW:NaN"])
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**53, 2**53), finite, st.text(max_size=8))
payload = st.recursive(json_leaf, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                         st.dictionaries(st.text(max_size=5), kids, max_size=3)),
                       max_leaves=8).map(lambda v: {"v": v})
bad_payload = st.sampled_from(["RAW:{\"n\": NaN}", "RAW:{\"n\": 1e400}", "RAW:{\"d\": [-Infinity]}", [1, 2], "x"])


def _maybe(strategy, bad, p_bad):
    return st.one_of(strategy, bad) if p_bad else strategy


@st.composite
def memory_body(draw, with_id: bool, bad: bool):
    """A memory body; when `bad`, some fields may break a rule (and often do)."""
    body = {}
    kind = draw(st.sampled_from(["vector", "text", "vector", "none", "two"] if bad else ["vector", "text"]))
    if kind in ("vector", "two"):
        body["vector"] = draw(_maybe(good_vector, bad_vector, bad))
    if kind in ("text", "two"):
        body["text"] = draw(st.text(min_size=0 if bad else 1, max_size=30))
    if draw(st.booleans()):
        body["payload"] = draw(_maybe(payload, bad_payload, bad))
    if draw(st.booleans()):
        body["importance"] = draw(_maybe(finite, st.sampled_from([True, "5", None, "RAW:NaN", "RAW:1e400"]), bad))
    if draw(st.booleans()):
        body["created_at"] = draw(_maybe(good_time, bad_time, bad))
    if draw(st.booleans()):
        body["memory_type"] = draw(_maybe(st.sampled_from(["episodic", "semantic"]),
                                          st.sampled_from(["other", None, 1]), bad))
    if draw(st.booleans()):
        body["coordinate"] = draw(_maybe(st.lists(finite, max_size=3),
                                         st.sampled_from([["1"], [True], "RAW:[NaN]"]), bad))
    if with_id and draw(st.booleans()):
        body["id"] = draw(_maybe(st.sampled_from(IDS), st.sampled_from(BAD_IDS + [None, 5]), bad))
    if bad and draw(st.integers(0, 9)) == 0:
        body["colour"] = "red"
    return body


@st.composite
def request(draw):
    """(method, path, raw JSON body or None)."""
    bad = draw(st.booleans())
    what = draw(st.sampled_from(["post", "put", "bulk", "binary", "link", "delete", "scoped"]))
    if what == "post":
        return "POST", "/v1/memories", draw(memory_body(True, bad))
    if what == "put":
        mid = draw(_maybe(st.sampled_from(IDS), st.sampled_from(["a%0A", "bulk", "e" * 129, "sp%20ace"]), bad))
        body = draw(memory_body(False, bad))
        if bad and draw(st.integers(0, 5)) == 0:
            body["id"] = "a"  # PUT's body has no id
        return "PUT", f"/v1/memories/{mid}", body
    if what == "bulk":
        items = draw(st.lists(memory_body(True, bad), min_size=0 if bad else 1, max_size=4))
        return "POST", "/v1/memories/bulk", {"items": items}
    if what == "binary":
        return "POST", "/v1/memories/bulk/binary", draw(binary_body(bad))
    if what == "link":
        body = {"from": draw(_maybe(st.sampled_from(IDS), st.sampled_from(BAD_IDS), bad)),
                "to": draw(_maybe(st.sampled_from(IDS), st.sampled_from(BAD_IDS), bad))}
        if draw(st.booleans()):
            body["weight"] = draw(_maybe(st.floats(0, 1e12), st.sampled_from([-1, True, "1", "RAW:NaN", 1e13]), bad))
        if draw(st.booleans()):
            body["type"] = draw(_maybe(st.sampled_from(["related", "cause"]), st.sampled_from(["", "a b", None]), bad))
        return "POST", "/v1/links", body
    if what == "delete":
        return "DELETE", f"/v1/memories/{draw(st.sampled_from(IDS + ['a%0A']))}", None
    kind = draw(_maybe(st.sampled_from(["episodic", "semantic"]), st.sampled_from(["", "other"]), bad))
    return "DELETE", f"/v1/memories?memory_type={kind}", None


@dataclasses.dataclass
class Binary:
    """A binary bulk body (memory/api/bulk_binary.py) before framing, and how it is broken."""
    items: list
    vectors: np.ndarray
    dim: int
    flaw: str = ""  # "", "magic", "short", "long", "length", "mimetype"

    def encode(self) -> bytes:
        head = raw_json({"dim": self.dim, "items": self.items}).encode()
        block = np.ascontiguousarray(self.vectors, dtype="<f4").tobytes()
        size = len(head) + (7 if self.flaw == "length" else 0)
        body = struct.pack("<4sI", b"SMBX" if self.flaw == "magic" else bulk_binary.MAGIC, size) + head + block
        if self.flaw == "short":
            return body[:-3]
        return body + b"\0\0\0\0" if self.flaw == "long" else body

    @property
    def mimetype(self) -> str:
        return "application/octet-stream" if self.flaw == "mimetype" else bulk_binary.MEDIA_TYPE


@st.composite
def binary_body(draw, bad: bool):
    """Items as a JSON bulk request's, without vectors (the block holds them); when `bad`,
    an item, the dim, a vector (NaN, Inf, all zero) or the framing may be broken."""
    items = []
    for item in draw(st.lists(memory_body(True, bad), min_size=0 if bad else 1, max_size=4)):
        item.pop("vector", None)
        items.append(item)
    rows = draw(st.lists(good_vector, min_size=len(items), max_size=len(items)))
    vectors = np.asarray(rows, dtype=np.float32).reshape(len(items), DIM)
    dim, flaw = DIM, ""
    if bad:
        broken = draw(st.sampled_from(["none", "dim", "nan", "inf", "zero", "tiny", "magic", "short", "long",
                                       "length", "mimetype"]))
        if broken == "dim":
            dim = DIM + 1
        elif broken in ("nan", "inf", "zero", "tiny") and len(items):
            row = draw(st.integers(0, len(items) - 1))
            vectors[row] = {"nan": np.nan, "inf": np.inf, "zero": 0.0, "tiny": 1e-46}[broken]
        elif broken in ("magic", "short", "long", "length", "mimetype"):
            flaw = broken
    return Binary(items, vectors, dim, flaw)


def raw_json(value) -> str:
    """JSON text; strings 'RAW:...' are spliced in as they are (NaN, 1e400, broken parts)."""
    if isinstance(value, str) and value.startswith("RAW:"):
        return value[4:]
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {raw_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(raw_json(v) for v in value) + "]"
    return json.dumps(value)


# -- state and reads --------------------------------------------------------------------------
def snapshot(app: Running) -> dict:
    """Everything a write may change: tables, index, recall catalog and normaliser state."""
    with app.store.engine.connect() as conn:
        tables = {t.name: sorted(tuple(map(repr, row)) for row in conn.execute(sa.select(t)))
                  for t in (memories, links, outbox)}
    index = {}
    for ns, idx in app.service._indexes.items():
        rows = {i: idx.engine.row(i) for i in idx.engine.ids()}
        index[ns] = {
            "rows": {i: (r["vector"].tobytes(), r["importance"], r["importance_norm"], r["created"], r["kind"])
                     for i, r in rows.items()},
            "catalog": {i: (m.memory_type, json.dumps(m.payload, sort_keys=True), m.created_at, m.text)
                        for i, m in idx.catalog.items()},
            "normaliser": (json.dumps(idx.normaliser.snapshot(), sort_keys=True, default=str),
                           list(idx.normaliser._reservoir)),
        }
    return {"tables": tables, "index": index}


def strict(response) -> object:
    def refuse(const):
        raise AssertionError(f"{const} in a response: not JSON")
    return json.loads(response.get_data(as_text=True), parse_constant=refuse)


def expected_texts(method: str, path: str, body, answer: dict) -> dict[str, str | None]:
    """id -> the text a 2xx write stored (None: a vector alone), from the request body."""
    if method == "PUT":
        return {answer["id"]: body.get("text")}
    if path == "/v1/memories" and method == "POST":
        return {answer["id"]: body.get("text")}
    if path in ("/v1/memories/bulk", "/v1/memories/bulk/binary"):
        # ids in request order; a repeated id stores its later item only
        items = body.items if isinstance(body, Binary) else body["items"]
        last = {it["id"]: n for n, it in enumerate(items) if it.get("id")}
        kept = [it for n, it in enumerate(items) if not it.get("id") or last[it["id"]] == n]
        return dict(zip(answer["ids"], (it.get("text") for it in kept)))
    return {}


def check_reads(app: Running, ids: set[str], events_after: int, texts: dict | None = None) -> None:
    c = app.client
    for mid, text in (texts or {}).items():
        assert c.get(f"/v1/memories/{mid}").json["text"] == text
    live = set(app.service._indexes.get("default").engine.ids()) if "default" in app.service._indexes else set()
    stored_text = {}
    for mid in sorted(ids | live):
        r = c.get(f"/v1/memories/{mid}?include_vector=true")
        if mid not in live:
            assert r.status_code == 404
            continue
        assert r.status_code == 200, r.get_data(as_text=True)
        stored_text[mid] = s.Memory.model_validate(strict(r)).text
        r = c.get(f"/v1/memories/{mid}/links")
        assert r.status_code == 200
        s.LinksOut.model_validate(strict(r))
        r = c.get(f"/v1/paths?from={mid}&to={sorted(live)[0]}")
        assert r.status_code == 200
        s.PathOut.model_validate(strict(r))
    query = [1.0] + [0.5] * (DIM - 1)
    r = c.post("/v1/recall", json={"vector": query, "k": 1000, "explain": True})
    assert r.status_code == 200, r.get_data(as_text=True)
    hits = s.RecallOut.model_validate(strict(r)).results
    assert {h.id for h in hits} == live
    assert all(h.text == stored_text[h.id] for h in hits)  # recall serves the content GET does
    r = c.post("/v1/recall/batch", json={"queries": [{"vector": query}, {"text": "shopping list"}], "k": 1000})
    assert r.status_code == 200
    assert all({h.id for h in row} == live for row in s.BatchRecallOut.model_validate(strict(r)).results)
    for mode in ("keyword", "hybrid"):  # the full-text index serves what was written, only live rows
        r = c.post("/v1/recall", json={"text": "shopping list a b c 0 1", "mode": mode, "k": 1000})
        assert r.status_code == 200, r.get_data(as_text=True)
        hits = s.RecallOut.model_validate(strict(r)).results
        assert {h.id for h in hits} <= live and all(h.text == stored_text[h.id] for h in hits)
    listed, cursor = [], ""
    while cursor is not None:  # every page of the listing, newest first
        r = c.get(f"/v1/memories?limit=7{'&cursor=' + cursor if cursor else ''}")
        assert r.status_code == 200, r.get_data(as_text=True)
        page = s.ListOut.model_validate(strict(r))
        listed.extend(page.memories)
        cursor = page.next_cursor
    assert sorted(m.id for m in listed) == sorted(live)
    assert all(m.text == stored_text[m.id] for m in listed)
    r = c.get("/v1/stats")
    assert r.status_code == 200 and s.StatsOut.model_validate(strict(r)).indexed == len(live)
    for event in app.store.changes_since(events_after):
        row = [e for e in app.store.unpublished(100_000) if e.seq == event[0]][0]
        parsed = cloudevents.parse(row.event)
        json.loads(row.event, parse_constant=lambda c: pytest.fail(f"{c} in an event"))
        assert all(math.isfinite(v) for v in _numbers(parsed))


def _numbers(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, float):
        yield value


# -- the properties -----------------------------------------------------------------------
@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def app(request, tmp_path_factory):
    from memory.config import Settings
    from memory.store import Store
    url = ""
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        server.create_database("write_properties")
        url = server.url("write_properties")
    settings = Settings(data_dir=str(tmp_path_factory.mktemp("soma-props-")), database_url=url, dim=DIM,
                        rate_limit="1000000/minute")
    store = Store(settings.effective_database_url)
    store.migrate()
    running = Running(settings, store)
    yield running
    running.close()


def test_4xx_changes_nothing_and_2xx_reads_back(app):
    seen: dict[int, int] = {}

    @given(req=request())
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    def run(req):
        method, path, body = req
        before = snapshot(app)
        seq = app.store.max_seq()
        if isinstance(body, Binary):
            data, mimetype = body.encode(), body.mimetype
        else:
            data, mimetype = (None, None) if body is None else (raw_json(body), "application/json")
        r = app.client.open(path, method=method, data=data, content_type=mimetype)
        seen[r.status_code] = seen.get(r.status_code, 0) + 1
        assert r.status_code < 500, (method, path, data, r.get_data(as_text=True))
        if 400 <= r.status_code < 500:
            assert r.mimetype == "application/problem+json"
            assert snapshot(app) == before, (method, path, data, r.get_data(as_text=True))
            return
        written, texts = set(), {}
        if r.status_code != 204:
            answer = strict(r)
            written |= set(answer.get("ids", [])) | {answer[k] for k in ("id", "from", "to") if k in answer}
            texts = expected_texts(method, path, body, answer)
            if isinstance(body, Binary):  # each block row reads back as it was sent, bit for bit
                last = {it["id"]: n for n, it in enumerate(body.items) if it.get("id")}
                kept = [n for n, it in enumerate(body.items) if not it.get("id") or last[it["id"]] == n]
                for mid, n in zip(answer["ids"], kept):
                    got = app.client.get(f"/v1/memories/{mid}?include_vector=true").json["vector"]
                    assert np.asarray(got, np.float32).tobytes() == body.vectors[n].tobytes()
        check_reads(app, written, seq, texts)

    run()
    # both kinds happened, and not only trivially: writes were stored and refused
    assert sum(n for code, n in seen.items() if 200 <= code < 300) >= EXAMPLES // 5, seen
    assert sum(n for code, n in seen.items() if 400 <= code < 500) >= EXAMPLES // 5, seen
