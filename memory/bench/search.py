"""`inv memory.bench --search`: listing and keyword / hybrid recall over HTTP at N = 100k,
on SQLite and PostgreSQL side by side, against chromadb's `where_document` filter.

Figures, not assertions. Data: the MiniLM-embedded docstring corpus of `textdata` (its
cache; rows are embedded only if missing). Every system gets the same N texts with the same
embeddings: the service through `POST /v1/memories/bulk` (`vector_b64` + `text`, one
`python -m memory serve` per database, both running at once), chromadb in-process
(`PersistentClient`, cosine HNSW, documents and embeddings). Every 10th memory is
`semantic` (the rest `episodic`) and every memory has the payload `{"shelf": i % 10}`, so
both list filters keep 10%.

Queries (see `pick_queries`): held-out corpus paragraphs (never stored) with their
embeddings, each paired with its rarest word of at least 6 characters that also occurs in
1..max(3, N/5000) stored texts (an identifier or a rare word; an exact token). The vector
query is the paragraph's embedding; the keyword query is the token; hybrid is the token
beside the embedding (what chromadb's `$contains` filter beside an embedding answers) and
also the paragraph's whole text beside its embedding (what a user sends).

Measured, each request timed at the client: list pages (first page repeated; every page of
the namespace walked by cursor; pages walked with `memory_type` and with a payload filter)
and recall per mode, interleaved query by query across systems in a rotating order, so a
burst of load from other processes hits them alike.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import sys
import tempfile
import time
from typing import Callable

import numpy as np

from memory.bench.report import emit

from memory.bench import pgserver
from memory.http_bench import Server, _b64, _pct

LIST_LIMIT = 50
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
BULK_ITEMS, BULK_CHARS = 1000, 50_000  # the service's default MAX_TEXT_CHARS per request
SHELVES = 10
RECALL_MEASURES = ("vector", "keyword", "hybrid_token", "hybrid_text")
CHROMA_MEASURES = ("query", "query_contains", "get_contains")


# -- data and queries ----------------------------------------------------------------------
def load_corpus(n: int, data=None, log=print) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """(row texts, row vectors, held-out query texts, their vectors) from the text cache
    (`data`: a `textdata.TextEmbeddings`; default the benchmark's own cache)."""
    if data is None:
        from memory.bench.textdata import TextEmbeddings
        data = TextEmbeddings(log=log)
    if n > data.available_rows:
        raise SystemExit(f"the docstring corpus has {data.available_rows:,} rows; asked for {n:,}")
    pool = data.query_pool
    # the service refuses U+0000 in a text (PostgreSQL cannot store it) and one docstring of
    # the corpus holds one: a space instead, for every system alike
    texts = [t.replace("\x00", " ") for t in data.texts[: pool + n]]
    return texts[pool:], data.rows(n), texts[:pool], data.queries(pool)


def pick_queries(query_texts: list[str], row_texts: list[str], m: int) -> list[tuple[int, str]]:
    """(held-out paragraph index, token) for the first `m` paragraphs that have a rare token:
    a word of >= 6 characters (letters, digits, `_`; not all digits) found as a whole word in
    1..max(3, N/5000) stored texts; the rarest one, ties to the longest, then alphabetical."""
    max_df = max(3, len(row_texts) // 5000)
    candidates = {w for t in query_texts for w in WORD.findall(t) if len(w) >= 6}
    df: collections.Counter = collections.Counter()
    for t in row_texts:
        df.update(candidates.intersection(WORD.findall(t)))
    picked = []
    for i, t in enumerate(query_texts):
        rare = [w for w in set(WORD.findall(t)) if len(w) >= 6 and 1 <= df[w] <= max_df]
        if rare:
            picked.append((i, min(rare, key=lambda w: (df[w], -len(w), w))))
            if len(picked) == m:
                break
    return picked


# -- timing --------------------------------------------------------------------------------
def interleaved(measures: dict[str, tuple[Callable[[int], object], int]]) -> dict[str, list[float]]:
    """Seconds per call of each measure's fn(step) for its own number of steps; step i goes
    through every measure that has one, in an order rotating by one each step."""
    names = list(measures)
    out: dict[str, list[float]] = {name: [] for name in names}
    for i in range(max((steps for _, steps in measures.values()), default=0)):
        for name in names:
            fn, steps = measures[name]
            if i < steps:
                t = time.perf_counter()
                fn(i)
                out[name].append(time.perf_counter() - t)
        names = names[1:] + names[:1]
    return out


def _stats(seconds: list[float]) -> dict:
    if not seconds:
        return {"count": 0, "p50_ms": None, "p95_ms": None}
    p50, p95 = _pct(seconds)
    return {"count": len(seconds), "p50_ms": p50, "p95_ms": p95}


# -- the service ---------------------------------------------------------------------------
class ServiceSide:
    """One `python -m memory serve` on one database, driven over HTTP with `requests`."""

    def __init__(self, name: str, url: str, threads: int):
        import requests
        from memory.store import Store
        self.name, self.url = name, url
        store = Store(url)
        store.migrate()
        store.close()
        self.server_threads = threads
        self.server = Server(url, 384, threads)
        self.http = requests.Session()

    def start(self) -> None:
        self.server.wait_ready(self.http)

    def stop(self) -> None:
        self.http.close()
        self.server.stop()

    def restart(self, bodies: list[dict]) -> dict:
        """Stop the server and start another on the same database: seconds from the start to
        /readyz 200 (the index load and kernel warm-up included), then the first and second
        answer of each body in ms (issue 9's "first recall after start")."""
        self.server.stop()
        t0 = time.perf_counter()
        self.server = Server(self.url, 384, self.server_threads)
        self.server.wait_ready(self.http, timeout=1800)
        out: dict = {"ready_s": time.perf_counter() - t0}
        for body in bodies:
            for which in ("first", "second"):
                t1 = time.perf_counter()
                self._post("/v1/recall", body)
                out.setdefault(body.get("mode", "vector"), {})[which + "_ms"] = (time.perf_counter() - t1) * 1000
        return out

    def _post(self, path: str, body: dict) -> dict:
        r = self.http.post(self.server.base + path, data=json.dumps(body),
                           headers={"Content-Type": "application/json"})
        if r.status_code not in (200, 201):
            raise SystemExit(f"{self.name}: POST {path} answered {r.status_code}: {r.text[:300]}")
        return r.json()

    def ingest(self, texts: list[str], vectors: np.ndarray, created0: float) -> float:
        """Bulk requests of up to BULK_ITEMS items and BULK_CHARS characters of text; memories/s."""
        t0 = time.perf_counter()
        i = 0
        while i < len(texts):
            items, chars = [], 0
            while i < len(texts) and len(items) < BULK_ITEMS and chars + len(texts[i]) <= BULK_CHARS:
                items.append({"id": f"m{i}", "vector_b64": _b64(vectors[i]), "text": texts[i],
                              "memory_type": "semantic" if i % 10 == 0 else "episodic",
                              "payload": {"shelf": i % SHELVES}, "created_at": created0 + i})
                chars += len(texts[i])
                i += 1
            self._post("/v1/memories/bulk", {"items": items})
        return len(texts) / (time.perf_counter() - t0)

    def settle(self) -> float | None:
        """PostgreSQL: `VACUUM ANALYZE memories`, what autovacuum does within a minute or so
        of a bulk load; until then the planner has no statistics for the new rows and may
        filter every row instead of using the GIN index. Seconds taken; None on SQLite
        (nothing runs in the background there)."""
        if not self.url.startswith("postgresql"):
            return None
        import sqlalchemy as sa
        from memory.store import Store
        store = Store(self.url)
        t0 = time.perf_counter()
        try:
            with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE memories"))
        finally:
            store.close()
        return time.perf_counter() - t0

    def recall(self, body: dict) -> list[dict]:
        return self._post("/v1/recall", body)["results"]

    def page(self, params: dict) -> dict:
        r = self.http.get(self.server.base + "/v1/memories", params=params)
        if r.status_code != 200:
            raise SystemExit(f"{self.name}: GET /v1/memories answered {r.status_code}: {r.text[:300]}")
        return r.json()


class Walk:
    """Pages of one listing followed by cursor; `step` fetches the next page."""

    def __init__(self, side: ServiceSide, params: dict):
        self.side, self.params, self.cursor, self.listed, self.pages, self.done = side, params, None, 0, 0, False

    def step(self, _i: int) -> None:
        if self.done:
            return
        page = self.side.page({**self.params, **({"cursor": self.cursor} if self.cursor else {})})
        self.listed += len(page["memories"])
        self.pages += 1
        self.cursor = page["next_cursor"]
        self.done = self.cursor is None


# -- chromadb --------------------------------------------------------------------------------
class ChromaSide:
    def __init__(self):
        import chromadb
        self.version = chromadb.__version__
        self.dir = tempfile.mkdtemp(prefix="chroma-search-bench-")
        # no telemetry: nothing leaves the machine, and no network call lands in a timed query
        self.client = chromadb.PersistentClient(path=self.dir,
                                                settings=chromadb.config.Settings(anonymized_telemetry=False))
        self.col = self.client.create_collection("search-bench", configuration={"hnsw": {"space": "cosine"}})

    def ingest(self, texts: list[str], vectors: np.ndarray) -> float:
        t0 = time.perf_counter()
        step = min(5000, self.client.get_max_batch_size())
        for lo in range(0, len(texts), step):
            hi = min(len(texts), lo + step)
            self.col.add(ids=[f"m{i}" for i in range(lo, hi)], embeddings=vectors[lo:hi], documents=texts[lo:hi],
                         metadatas=[{"shelf": i % SHELVES} for i in range(lo, hi)])
        return len(texts) / (time.perf_counter() - t0)

    def stop(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# -- the run ---------------------------------------------------------------------------------
def run(*, n: int, queries: int, k: int = 10, pages: int = 200, walk: int = 0, text_queries: int = 20,
        threads: int = 4, backends=("sqlite", "postgresql"), chroma: bool = True, database_url: str = "",
        log=print, corpus=None) -> dict:
    """Ingest, then measure; `corpus` (texts, vectors, query texts, query vectors) replaces
    the text cache (tests). Returns the figures as a JSON-able dict."""
    texts, vectors, qtexts, qvecs = corpus or load_corpus(n, log=log)
    texts, vectors = texts[:n], vectors[:n]
    picked = pick_queries(qtexts, texts, queries)
    if len(picked) < queries:
        log(f"only {len(picked)} held-out paragraphs have a rare token in {n:,} rows; using those")
    if not picked:
        raise SystemExit("no query token found: N too small for the held-out paragraphs")
    qi = [i for i, _ in picked]
    tokens = [t for _, t in picked]
    qb64 = [_b64(qvecs[i]) for i in qi]
    result: dict = {"n": n, "queries": len(picked), "k": k, "list_limit": LIST_LIMIT,
                    "dim": int(vectors.shape[1]), "threads": threads, "tokens": tokens[:20],
                    "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "loadavg_start": _loadavg(), "systems": {}}
    t_run = time.perf_counter()
    sides: list[ServiceSide] = []
    pg = None
    tmp = tempfile.mkdtemp(prefix="soma-search-bench-")
    peer = None
    try:
        for backend in backends:
            if backend == "sqlite":
                url = f"sqlite:///{tmp}/memory.db"
            elif backend == "postgresql":
                url = database_url
                if not url:
                    pg = pgserver.throwaway("bench")
                    url = pg.url("bench")
            else:
                raise SystemExit(f"unknown backend {backend!r}: sqlite or postgresql")
            sides.append(ServiceSide(backend, url, threads))
        created0 = time.time() - n - 60
        for side in sides:
            side.start()
            log(f"{side.name}: ingesting {n:,} memories over HTTP")
            result["systems"][side.name] = {"ingest_per_s": side.ingest(texts, vectors, created0),
                                            "vacuum_analyze_s": side.settle()}
        if chroma:
            try:
                peer = ChromaSide()
            except ImportError:
                result["systems"]["chromadb"] = "not installed (pip install -e '.[bench]')"
            else:
                log(f"chromadb: ingesting {n:,} documents and embeddings")
                result["systems"]["chromadb"] = {"ingest_per_s": peer.ingest(texts, vectors),
                                                 "version": peer.version}

        bodies = {
            "vector": lambda j: {"vector_b64": qb64[j], "k": k},
            "keyword": lambda j: {"text": tokens[j], "mode": "keyword", "k": k},
            "hybrid_token": lambda j: {"text": tokens[j], "vector_b64": qb64[j], "mode": "hybrid", "k": k},
            "hybrid_text": lambda j: {"text": qtexts[qi[j]], "vector_b64": qb64[j], "mode": "hybrid", "k": k},
        }
        answers: dict[str, list] = collections.defaultdict(lambda: [None] * len(picked))

        def recall_fn(side, mode):
            def fn(j):
                answers[f"{side.name}/{mode}"][j] = side.recall(bodies[mode](j))
            return fn

        # a paragraph's every word is a keyword alternative: far slower on PostgreSQL, so fewer
        steps = {mode: len(picked) for mode in RECALL_MEASURES}
        steps["hybrid_text"] = result["text_queries"] = min(text_queries, len(picked))
        measures = {f"{side.name}/{mode}": (recall_fn(side, mode), steps[mode])
                    for side in sides for mode in RECALL_MEASURES}
        if peer is not None:
            col = peer.col

            def c_query(j):
                answers["chromadb/query"][j] = col.query(query_embeddings=[qvecs[qi[j]]], n_results=k)["ids"][0]

            def c_contains(j):
                answers["chromadb/query_contains"][j] = col.query(
                    query_embeddings=[qvecs[qi[j]]], n_results=k, where_document={"$contains": tokens[j]})["ids"][0]

            def c_get(j):
                answers["chromadb/get_contains"][j] = col.get(where_document={"$contains": tokens[j]}, limit=k)["ids"]

            measures.update({"chromadb/query": (c_query, len(picked)),
                             "chromadb/query_contains": (c_contains, len(picked)),
                             "chromadb/get_contains": (c_get, len(picked))})
        # untimed warm-up: connections, caches, chromadb's index load
        for fn, _ in measures.values():
            for j in range(min(2, len(picked))):
                fn(j)
        log(f"recall: {len(measures)} measures x {len(picked)} queries, interleaved")
        timed = interleaved(measures)

        # listing: the first page again and again, then every page by cursor, then filtered walks
        firsts = {f"{s.name}/list_first": ((lambda s: lambda j: s.page({"limit": LIST_LIMIT}))(s), len(picked))
                  for s in sides}
        for fn, _ in firsts.values():
            fn(0)
        log("list: first page")
        timed.update(interleaved(firsts))
        walks = {}
        for s in sides:
            walks[f"{s.name}/list_walk"] = Walk(s, {"limit": LIST_LIMIT})
            walks[f"{s.name}/list_type"] = Walk(s, {"limit": LIST_LIMIT, "memory_type": "semantic"})
            walks[f"{s.name}/list_payload"] = Walk(s, {"limit": LIST_LIMIT, "payload": json.dumps({"shelf": 3})})
        full = walk or -(-n // LIST_LIMIT)
        log(f"list: walking {full:,} pages and {pages} filtered pages by cursor")
        timed.update(interleaved({name: (w.step, full if name.endswith("list_walk") else pages)
                                  for name, w in walks.items()}))
        for name, w in walks.items():
            times = timed[name][: w.pages]  # steps after the last page did nothing
            timed[name] = times
            system, measure = name.split("/")
            result["systems"][system][measure] = {**_stats(times), "pages": w.pages, "listed": w.listed,
                                                  "complete": w.done}
            if measure == "list_walk" and w.pages >= 10:
                result["systems"][system]["list_walk_last_tenth"] = _stats(times[-(w.pages // 10):])
        for name, times in timed.items():
            system, measure = name.split("/")
            if not measure.startswith("list_") or measure == "list_first":
                result["systems"][system][measure] = _stats(times)
        result["quality"] = quality(answers, tokens, texts, sides, peer is not None)
        # last, as it replaces each server: the first answers of a fresh start on N rows
        last = len(picked) - 1
        for side in sides:
            log(f"{side.name}: restart, first recall after start")
            result["systems"][side.name]["restart"] = side.restart(
                [bodies["vector"](last), bodies["keyword"](last), bodies["hybrid_token"](last)])
    finally:
        for side in sides:
            side.stop()
        if peer is not None:
            peer.stop()
        if pg is not None:
            pg.stop("immediate")
            shutil.rmtree(pg.datadir, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    result["loadavg_end"] = _loadavg()
    result["duration_s"] = time.perf_counter() - t_run
    return result


def _has(text: str | None, token: str) -> bool:
    """The token as a whole word, any case (what the full-text indexes match)."""
    return bool(text) and re.search(r"(?<![A-Za-z0-9])" + re.escape(token) + r"(?![A-Za-z0-9])", text, re.I) is not None


def quality(answers: dict, tokens: list[str], texts: list[str], sides, with_chroma: bool) -> dict:
    """Shares of queries whose answers hold a stored text containing the query's token: what
    each mode finds, not how fast. `keyword_only` counts queries where keyword's first hit
    has the token and none of the vector top-k has it (the exact token vector search misses)."""
    def row_text(i):
        return texts[int(i[1:])]

    out = {}
    m = len(tokens)
    for side in sides:
        q = {}
        for mode in RECALL_MEASURES:
            done = [(r, t) for r, t in zip(answers[f"{side.name}/{mode}"], tokens) if r is not None]
            q[f"{mode}_has_token"] = sum(any(_has(h["text"], t) for h in r) for r, t in done) / len(done)
        kw, vec = answers[f"{side.name}/keyword"], answers[f"{side.name}/vector"]
        only = [j for j in range(m) if kw[j] and _has(kw[j][0]["text"], tokens[j])
                and not any(_has(h["text"], tokens[j]) for h in vec[j])]
        q["keyword_top1_has_token"] = sum(bool(r) and _has(r[0]["text"], t) for r, t in zip(kw, tokens)) / m
        q["keyword_only"] = len(only) / m
        q["keyword_only_examples"] = [{"token": tokens[j], "keyword_top1": kw[j][0]["id"],
                                       "vector_top": [h["id"] for h in vec[j][:3]]} for j in only[:3]]
        out[side.name] = q
    if with_chroma:
        out["chromadb"] = {f"{name}_has_token": sum(any(_has(row_text(i), t) for i in ids)
                                                    for ids, t in zip(answers[f"chromadb/{name}"], tokens)) / m
                           for name in CHROMA_MEASURES}
    return out


def _loadavg() -> list[float]:
    try:
        with open("/proc/loadavg") as fh:
            return [float(x) for x in fh.read().split()[:3]]
    except OSError:
        return []


# -- report ------------------------------------------------------------------------------------
ROWS = (  # (label, service measure, chromadb measure)
    ("list, first page", "list_first", None),
    ("list, every page walked by cursor", "list_walk", None),
    ("list, deepest tenth of the walk", "list_walk_last_tenth", None),
    ("list, memory_type=semantic (10%), walked", "list_type", None),
    ("list, payload {{\"shelf\": 3}} (10%), walked", "list_payload", None),
    ("recall vector (paragraph embedding) / chromadb query", "vector", "query"),
    ("recall keyword (token) / chromadb get where_document $contains", "keyword", "get_contains"),
    ("recall hybrid (token + embedding) / chromadb query + where_document $contains", "hybrid_token", "query_contains"),
    ("recall hybrid (paragraph text + embedding), first {text_queries} queries", "hybrid_text", None),
)


def _cell(d) -> str:
    if not isinstance(d, dict) or d.get("p50_ms") is None:
        return "-"
    return f"{d['p50_ms']:.2f} / {d['p95_ms']:.2f}"


def report(r: dict) -> str:
    systems = [s for s in r["systems"] if isinstance(r["systems"][s], dict)]
    services = [s for s in systems if s != "chromadb"]
    ch = r["systems"].get("chromadb")
    ch = ch if isinstance(ch, dict) else None
    head = ["measure (p50 / p95 ms)"] + services + (["chromadb", "ratio p50 (service / chromadb)"] if ch else [])
    lines = [f"N = {r['n']:,} MiniLM-embedded docstring paragraphs (d = {r['dim']}), {r['queries']} queries, "
             f"k = {r['k']}, list limit {r['list_limit']}, waitress threads {r['threads']}; "
             f"load average {r['loadavg_start'][:1]} -> {r['loadavg_end'][:1]}; {r['duration_s']:.0f} s", "",
             "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for label, mine, theirs in ROWS:
        cells = [_cell(r["systems"][s].get(mine)) for s in services]
        if ch:
            c = ch.get(theirs) if theirs else None
            cells.append(_cell(c))
            ratios = []
            for s in services:
                d = r["systems"][s].get(mine)
                if c and isinstance(d, dict) and d.get("p50_ms") and c.get("p50_ms"):
                    ratios.append(f"{s} {d['p50_ms'] / c['p50_ms']:.2f}x")
            cells.append(", ".join(ratios) or "-")
        lines.append(f"| {label.format(**r)} | " + " | ".join(cells) + " |")
    ingest = [f"{r['systems'][s]['ingest_per_s']:,.0f}" for s in services]
    if ch:
        ingest += [f"{ch['ingest_per_s']:,.0f}",
                   ", ".join(f"{s} {r['systems'][s]['ingest_per_s'] / ch['ingest_per_s']:.2f}x" for s in services)]
    lines.append("| ingest, memories/s (bulk over HTTP, vector_b64 + text; chromadb add in-process) | "
                 + " | ".join(ingest) + " |")
    notes = []
    for s in services:
        w, vac = r["systems"][s]["list_walk"], r["systems"][s]["vacuum_analyze_s"]
        notes.append(f"{s}: {w['listed']:,} listed in {w['pages']:,} pages"
                     + (f", VACUUM ANALYZE after the load {vac:.1f} s" if vac is not None else ""))
    lines += ["", "Full walk: " + "; ".join(notes) + "."]
    for s in services:
        rs = r["systems"][s].get("restart")
        if rs:
            lines.append(f"{s}, after a restart on {r['n']:,} rows: /readyz 200 after {rs['ready_s']:.1f} s; first / "
                         "second recall " + ", ".join(f"{mode} {v['first_ms']:.1f} / {v['second_ms']:.1f} ms"
                                                       for mode, v in rs.items() if mode != "ready_s") + ".")
    q = r["quality"]
    for s in services:
        lines.append(f"{s}: token in the top {r['k']}: vector {q[s]['vector_has_token']:.0%}, keyword "
                     f"{q[s]['keyword_has_token']:.0%} (first hit {q[s]['keyword_top1_has_token']:.0%}), hybrid token "
                     f"{q[s]['hybrid_token_has_token']:.0%}, hybrid text {q[s]['hybrid_text_has_token']:.0%}; keyword "
                     f"finds it and vector misses it in {q[s]['keyword_only']:.0%} of queries.")
    if ch:
        lines.append(f"chromadb {ch['version']}: token in the answer: query {q['chromadb']['query_has_token']:.0%}, "
                     f"query + $contains {q['chromadb']['query_contains_has_token']:.0%}, get + $contains "
                     f"{q['chromadb']['get_contains_has_token']:.0%}.")
    elif "chromadb" in r["systems"]:
        lines.append(f"chromadb: {r['systems']['chromadb']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="memory.bench.search", description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="memories (rows of the text cache)")
    ap.add_argument("--queries", type=int, default=200, help="queries per recall measure and first-page repeats")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--pages", type=int, default=200, help="pages walked with each list filter")
    ap.add_argument("--walk", type=int, default=0, help="pages of the unfiltered walk (0: every page)")
    ap.add_argument("--text-queries", type=int, default=20,
                    help="queries of the hybrid measure with a whole paragraph as its text (slow on PostgreSQL)")
    ap.add_argument("--threads", type=int, default=4, help="waitress threads of each service")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--no-chroma", action="store_true", help="leave the chromadb peer out")
    ap.add_argument("--database-url", default="", help="PostgreSQL to use (default: a throw-away cluster)")
    ap.add_argument("--json", default="")
    ap.add_argument("--markdown", default="")
    a = ap.parse_args(argv)
    if min(a.n, a.queries, a.k, a.pages, a.text_queries) < 1 or a.walk < 0:
        ap.error("need --n, --queries, -k, --pages and --text-queries >= 1, --walk >= 0")
    r = run(n=a.n, queries=a.queries, k=a.k, pages=a.pages, walk=a.walk, text_queries=a.text_queries, threads=a.threads,
            backends=[b for b in a.backends.split(",") if b], chroma=not a.no_chroma, database_url=a.database_url,
            log=lambda s: print(s, file=sys.stderr, flush=True))
    emit(r, report(r), a.json, a.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
