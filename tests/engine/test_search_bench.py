"""The search benchmark runs end to end on tiny real data (300 MiniLM-embedded docstring
paragraphs, both databases behind the real server; chromadb when installed): figures are
printed, never asserted. What is asserted is the shape of the output and what each mode
finds: keyword finds the exact token that the vector query misses."""

from __future__ import annotations

import json

import pytest

from memory.bench import search
from memory.bench.textdata import TextEmbeddings, cache_root
from tasks.memory import search_bench_argv

N, QUERIES = 300, 10


@pytest.fixture(scope="module")
def corpus():
    # a small corpus of its own (the first 500 paragraphs of the installed packages), cached
    # outside the repository beside the benchmark's: embedded once per machine, then read
    data = TextEmbeddings(cache=cache_root().with_name("minilm-docstrings-smoke"), log=lambda s: None,
                          limit=500, query_pool=200)
    return search.load_corpus(N, data)


@pytest.mark.postgres
@pytest.mark.slow
def test_search_bench_on_sqlite_and_postgresql(corpus, postgres_server, tmp_path):
    postgres_server.create_database("search_bench")
    r = search.run(n=N, queries=QUERIES, pages=5, text_queries=4, backends=("sqlite", "postgresql"), chroma=False,
                   database_url=postgres_server.url("search_bench"), corpus=corpus, log=lambda s: None)
    assert r["n"] == N and r["queries"] == QUERIES and set(r["systems"]) == {"sqlite", "postgresql"}
    assert r["systems"]["sqlite"]["vacuum_analyze_s"] is None and r["systems"]["postgresql"]["vacuum_analyze_s"] > 0
    for name in ("sqlite", "postgresql"):
        s = r["systems"][name]
        assert s["ingest_per_s"] > 0
        for measure in ("vector", "keyword", "hybrid_token", "list_first"):
            assert s[measure]["count"] == QUERIES and 0 < s[measure]["p50_ms"] <= s[measure]["p95_ms"], measure
        assert s["hybrid_text"]["count"] == r["text_queries"] == 4
        # every page walked by cursor lists every memory once; each filter keeps a tenth
        assert s["list_walk"] | {"p50_ms": 0, "p95_ms": 0} == {"count": 6, "pages": 6, "listed": N, "complete": True,
                                                               "p50_ms": 0, "p95_ms": 0}
        assert (s["list_type"]["listed"], s["list_type"]["complete"]) == (N // 10, True)
        assert (s["list_payload"]["listed"], s["list_payload"]["complete"]) == (N // 10, True)
        q = r["quality"][name]
        assert q["keyword_top1_has_token"] == 1.0 and q["hybrid_token_has_token"] == 1.0
        assert q["keyword_only"] > 0 and q["keyword_only"] >= 1.0 - q["vector_has_token"] - 1e-9
        example = q["keyword_only_examples"][0]
        texts = dict(zip((f"m{i}" for i in range(N)), corpus[0]))
        assert search._has(texts[example["keyword_top1"]], example["token"])
        assert not any(search._has(texts[i], example["token"]) for i in example["vector_top"])
    # both databases answer the same: the same stored texts hold each token
    assert r["quality"]["sqlite"]["keyword_has_token"] == r["quality"]["postgresql"]["keyword_has_token"] == 1.0
    md = search.report(r)
    assert "| measure (p50 / p95 ms) | sqlite | postgresql |" in md and f"{N:,} listed in 6 pages" in md
    out = tmp_path / "r.json"
    out.write_text(json.dumps(r))
    assert json.loads(out.read_text())["systems"]["sqlite"]["list_walk"]["listed"] == N


@pytest.mark.slow
def test_search_bench_chromadb_peer(corpus):
    pytest.importorskip("chromadb", reason="the peer is in the bench extra: pip install -e '.[bench]'")
    r = search.run(n=N, queries=QUERIES, backends=(), chroma=True, corpus=corpus, log=lambda s: None)
    c = r["systems"]["chromadb"]
    assert c["ingest_per_s"] > 0 and c["version"]
    for measure in search.CHROMA_MEASURES:
        assert c[measure]["count"] == QUERIES and 0 < c[measure]["p50_ms"] <= c[measure]["p95_ms"]
    # $contains is a substring filter: every answer holds the token (the plain query need not)
    assert r["quality"]["chromadb"]["query_contains_has_token"] == 1.0
    assert r["quality"]["chromadb"]["get_contains_has_token"] == 1.0
    assert "| measure (p50 / p95 ms) | chromadb |" in search.report(r)


def test_pick_queries_takes_the_rarest_whole_word_present_in_the_rows():
    rows = ["the frobnicate helper", "frobnicate again", "uses max_seq_length here", "nothing"]
    queries = ["call frobnicate with max_seq_length", "no rare words", "frobnicate twice"]
    assert search.pick_queries(queries, rows, 5) == [(0, "max_seq_length"), (2, "frobnicate")]
    assert search.pick_queries(queries, rows, 1) == [(0, "max_seq_length")]


def test_search_bench_task_command_line():
    assert search_bench_argv(n=1000, queries=50, json_path="out.json", markdown=None) == [
        "-m", "memory.bench.search", "--n", "1000", "--queries", "50", "--json", "out.json"]
