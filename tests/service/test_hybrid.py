"""Keyword and hybrid recall on real SQLite (FTS5) and PostgreSQL (tsvector + GIN): an exact
token only keyword search finds, a paraphrase only the vector finds, hybrid finds both, and
each hit names the lists that found it."""

from __future__ import annotations

import pytest

from memory.service import MemoryService


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def app(request, make_running):
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    return make_running(url, dim=64)


def _ids(hits):
    return [h["id"] for h in hits]


def test_exact_token_keyword_paraphrase_vector_hybrid_both(app):
    c = app.client
    code = "deploy failed with error E-4021 during the rollout"
    cat = "the cat sat on the mat"
    assert c.put("/v1/memories/code", json={"text": code}).status_code == 201
    assert c.put("/v1/memories/cat", json={"text": cat}).status_code == 201
    for i in range(20):
        c.put(f"/v1/memories/n{i}", json={"text": f"unrelated note number {i} about gardening"})
    # the paraphrase of `cat`: its vector is the memory's own (what a good embedder would give
    # for a paraphrase); its words share nothing with the memory's text
    vec = c.get("/v1/memories/cat?include_vector=true").json["vector"]
    para = "feline resting upon rug"

    kw = c.post("/v1/recall", json={"text": "E-4021", "mode": "keyword", "k": 5}).json["results"]
    assert _ids(kw) == ["code"] and kw[0]["lists"] == {"keyword": 1} and kw[0]["text"] == code
    assert c.post("/v1/recall", json={"text": para, "mode": "keyword", "k": 5}).json["results"] == []

    v = c.post("/v1/recall", json={"vector": vec, "text": para, "k": 1}).json["results"]
    assert _ids(v) == ["cat"] and v[0]["lists"] == {"vector": 1}
    by_code = c.post("/v1/recall", json={"vector": vec, "text": "E-4021", "k": 3}).json["results"]
    assert "code" not in _ids(by_code[:1])  # the vector alone does not rank the token first

    both = c.post("/v1/recall", json={"vector": vec, "text": f"{para} E-4021", "mode": "hybrid",
                                      "k": 2, "explain": True}).json["results"]
    assert set(_ids(both)) == {"cat", "code"}
    lists = {h["id"]: h["lists"] for h in both}
    assert lists["code"]["keyword"] == 1 and lists["cat"]["vector"] == 1
    assert all(h["score"] > 0 for h in both)
    assert "sum(1/(60 + rank))" in both[0]["explain"]["formula"]
    # batch recall takes the mode for every query
    batch = c.post("/v1/recall/batch", json={"queries": [{"text": "E-4021"}, {"text": "rollout"}],
                                             "mode": "keyword", "k": 3}).json["results"]
    assert [_ids(r) for r in batch] == [["code"], ["code"]]


def test_rrf_score_and_filters(app):
    c = app.client
    c.put("/v1/memories/a", json={"text": "alpha beta", "memory_type": "semantic", "payload": {"t": 1}})
    c.put("/v1/memories/b", json={"text": "alpha gamma", "payload": {"t": 2}})
    hits = c.post("/v1/recall", json={"text": "alpha", "mode": "hybrid", "k": 5}).json["results"]
    for h in hits:
        fused = sum(1 / (MemoryService.RRF_K + r) for r in h["lists"].values())
        assert h["score"] == pytest.approx(fused * h["importance"] ** app.settings.alpha * h["decay"])
    assert _ids(c.post("/v1/recall", json={"text": "alpha", "mode": "keyword", "memory_type": "semantic"})
                .json["results"]) == ["a"]
    assert _ids(c.post("/v1/recall", json={"text": "alpha", "mode": "keyword",
                                           "filters": {"payload": {"t": 2}}}).json["results"]) == ["b"]
    # deleted and replaced texts leave the index
    c.delete("/v1/memories/a")
    c.put("/v1/memories/b", json={"text": "delta only"})
    assert c.post("/v1/recall", json={"text": "alpha", "mode": "keyword"}).json["results"] == []
    assert _ids(c.post("/v1/recall", json={"text": "delta", "mode": "keyword"}).json["results"]) == ["b"]


def test_keyword_modes_need_text(app):
    r = app.client.post("/v1/recall", json={"vector": [1.0] * 64, "mode": "keyword"})
    assert r.status_code == 400 and "needs 'text'" in r.json["detail"]
    r = app.client.post("/v1/recall", json={"text": "x", "mode": "fuzzy"})
    assert r.status_code == 400
    # any query text is a query: NUL, quotes, FTS5 and tsquery operators, surrogate-free astral
    app.client.put("/v1/memories/q", json={"text": "NEAR AND OR quote\"d x*y E-4021 \U0001F600"})
    for text in ["a\u0000b", '"', 'quote"d', "NEAR(a b)", "x* OR", "!&|:()", "E-4021", "\U0001F600 \r%\u008b"]:
        for mode in ("keyword", "hybrid"):
            r = app.client.post("/v1/recall", json={"text": text, "mode": mode})
            assert r.status_code == 200, (text, mode, r.get_data(as_text=True))


def test_words_too_common_to_rank_by_are_left_out(app):
    """A word more rows hold than Store.COMMON_WORD_ROWS does not rank: a query of a common and
    a rare word ranks by the rare one, so the database never ranks most of the namespace."""
    c = app.client
    store = app.service.store
    store.COMMON_WORD_ROWS = 3  # this store's bound (an instance setting), small enough to reach
    for i in range(5):
        c.put(f"/v1/memories/c{i}", json={"text": f"common words everywhere {i}"})
    c.put("/v1/memories/rare", json={"text": "a zebra crossing"})
    kw = c.post("/v1/recall", json={"text": "common zebra", "mode": "keyword", "k": 10}).json["results"]
    assert _ids(kw) == ["rare"]
    # every word common: the longest alone ranks, as a one-word query would
    only_common = c.post("/v1/recall", json={"text": "common everywhere", "mode": "keyword",
                                              "k": 10}).json["results"]
    assert sorted(_ids(only_common)) == [f"c{i}" for i in range(5)]
    # below the bound nothing is left out
    store.COMMON_WORD_ROWS = 1000
    kw = c.post("/v1/recall", json={"text": "common zebra", "mode": "keyword", "k": 10}).json["results"]
    assert set(_ids(kw)) == {"rare", *(f"c{i}" for i in range(5))}
