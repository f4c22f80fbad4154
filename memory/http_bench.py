"""`inv memory.bench --http`: the service behind its real WSGI server, against chromadb.

Figures, not assertions. Starts a throw-away PostgreSQL cluster (unless --database-url is
given) and `python -m memory serve` on a free loopback port, then measures over HTTP with a
client-supplied vector: single store p50/p95, bulk store p50/p95 and throughput (JSON
floats, vector_b64, and the binary bulk format, which loads each N), exact recall p50/p95 at
each N; in-process ingest (service.write); and the peers in the same run: the database alone
(binary COPY on PostgreSQL, executemany on SQLite, of the same rows into a scratch copy of the
memories table) and chromadb (PersistentClient, cosine HNSW, same vectors and queries) ingest
and query, with its recall@k against the exact answer. `--database-url sqlite` runs it all on
a throw-away SQLite file instead of PostgreSQL.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from memory.bench import pgserver
from memory.bench.report import add_data_argument, emit


def _pct(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


class Keepalive:
    """One keep-alive HTTP/1.1 connection through the standard library, for the timed
    single requests. `requests` costs about 1.2 ms of client Python per call on the 2-core
    machine (1.6 ms against a trivial waitress app, where http.client takes 0.4 ms and wrk
    0.2 ms): measured with it, a single store's latency would be mostly the client's."""

    def __init__(self, base: str):
        import http.client
        import urllib.parse
        u = urllib.parse.urlsplit(base)
        self._conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)

    def send(self, method: str, path: str, body: str) -> tuple[int, bytes]:
        self._conn.request(method, path, body=body.encode(), headers={"Content-Type": "application/json"})
        r = self._conn.getresponse()
        return r.status, r.read()

    def close(self) -> None:
        self._conn.close()


def _b64(v: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(v, dtype="<f4").tobytes()).decode()


def _unit(rng, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class Server:
    """`python -m memory serve` as a child process (sh, argument list)."""

    def __init__(self, database_url: str, dim: int, threads: int):
        import sh
        self.port = pgserver.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "SOMA_MEMORY_DATABASE_URL": database_url, "SOMA_MEMORY_PORT": str(self.port),
               "SOMA_MEMORY_DIM": str(dim), "SOMA_MEMORY_THREADS": str(threads),
               "SOMA_MEMORY_RATE_LIMIT": "10000000/minute", "SOMA_MEMORY_LOG_LEVEL": "WARNING",
               "SOMA_MEMORY_MAX_BODY_BYTES": str(64 * 1024 * 1024),
               # the 64 MB body takes far more than the default 2000 items (see --batch)
               "SOMA_MEMORY_BULK_MAX_ITEMS": "10000",
               "SOMA_MEMORY_BULK_MAX_BODY_BYTES": str(64 * 1024 * 1024)}
        self.log = tempfile.NamedTemporaryFile(prefix="memory-bench-", suffix=".log", delete=False).name
        self.proc = sh.Command(sys.executable)("-m", "memory", "serve", _env=env, _bg=True,
                                               _bg_exc=False, _out=self.log, _err_to_out=True)

    def wait_ready(self, session, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if session.get(self.base + "/readyz", timeout=1).status_code == 200:
                    return
            except Exception:
                pass
            time.sleep(0.1)
        raise SystemExit(f"the service did not become ready; log: {self.log}")

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
            try:
                self.proc.wait()
            except Exception:
                pass


def dataset(kind: str, rng, n: int, queries: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, queries): unit-normal random vectors, or MiniLM embeddings of the docstring
    corpus (memory/bench/textdata.py, cached) with its held-out paragraphs as queries."""
    if kind == "text":
        if dim != 384:
            raise SystemExit("--data text is 384-dimensional (MiniLM): use --dim 384")
        from memory.bench.textdata import TextEmbeddings
        texts = TextEmbeddings(log=lambda s: print(s, file=sys.stderr, flush=True))
        return texts.rows(n), texts.queries(queries)
    return _unit(rng, n, dim), _unit(rng, queries, dim)


def _bulk_batches(s, base: str, batches: int, size: int, item) -> list[float]:
    """`batches` JSON bulk requests of `size` items (item(j) builds item j), each timed; the
    stored memories are deleted afterwards so the measured N stays exact."""
    lat = []
    for b in range(batches):
        body = json.dumps({"items": [item(j) for j in range(b * size, (b + 1) * size)]})
        t0 = time.perf_counter()
        r = s.post(base + "/v1/memories/bulk", data=body, headers={"Content-Type": "application/json"})
        lat.append(time.perf_counter() - t0)
        assert r.status_code == 201, r.text[:300]
    s.delete(base + "/v1/memories?memory_type=episodic")
    return lat


def run(args) -> dict:
    import requests
    rng = np.random.default_rng(args.seed)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    nmax = sizes[-1]
    data, queries = dataset(args.data, rng, nmax, args.queries, args.dim)
    results: dict = {"data": args.data, "dim": args.dim, "k": args.k, "queries": args.queries, "sizes": sizes,
                     "bulk_batch": args.batch, "threads": args.threads}

    pg = None
    url = args.database_url
    if url == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp(prefix='soma-bench-sqlite-')}/memory.db"
    results["database"] = "sqlite" if url.startswith("sqlite") else "postgresql"
    if not url:
        pg = pgserver.throwaway("bench")
        url = pg.url("bench")
    from memory.store import Store
    Store(url).migrate()
    server = Server(url, args.dim, args.threads)
    s = requests.Session()
    try:
        server.wait_ready(s)
        # -- single store -------------------------------------------------------------------
        one = Keepalive(server.base)
        lat = []
        for i in range(args.singles):
            body = json.dumps({"vector": data[i].tolist(), "id": f"s{i}"})
            t0 = time.perf_counter()
            status, text = one.send("POST", "/v1/memories", body)
            lat.append(time.perf_counter() - t0)
            assert status == 201, text
        results["single_store_ms"] = _pct(lat)
        lat = []
        for i in range(args.singles):
            body = json.dumps({"vector_b64": _b64(data[i])})
            t0 = time.perf_counter()
            status, text = one.send("PUT", f"/v1/memories/b{i}", body)
            lat.append(time.perf_counter() - t0)
            assert status == 201, text
        results["single_store_b64_ms"] = _pct(lat)
        results["client"] = "http.client keep-alive (timed single requests), requests (bulk)"
        # bulk with JSON float arrays, measured apart (then deleted) so N stays exact below
        lat = _bulk_batches(s, server.base, args.json_batches, args.batch,
                            lambda j: {"vector": data[j].tolist(), "id": f"j{j}"})
        if lat:
            results["bulk_json_request_ms"] = _pct(lat)
            results["http_bulk_json_per_s"] = args.batch * len(lat) / sum(lat)

        # -- bulk with vector_b64, measured apart (then deleted) ------------------------------
        lat = _bulk_batches(s, server.base, args.b64_batches, args.batch,
                            lambda j: {"vector_b64": _b64(data[j % nmax]), "id": f"b64-{j}"})
        if lat:
            results["bulk_request_ms"] = _pct(lat)
            results["http_bulk_ingest_per_s"] = args.batch * len(lat) / sum(lat)

        # -- binary bulk store up to each N, recall at each N ----------------------------------
        from memory.api import bulk_binary
        bulk_lat, loaded, recall = [], 0, {}
        t_ingest = 0.0
        for n in sizes:
            while loaded < n:
                hi = min(n, loaded + args.batch)
                body = bulk_binary.encode([{"id": f"m{j}"} for j in range(loaded, hi)], data[loaded:hi])
                t0 = time.perf_counter()
                r = s.post(server.base + "/v1/memories/bulk/binary", data=body,
                           headers={"Content-Type": bulk_binary.MEDIA_TYPE})
                dt = time.perf_counter() - t0
                assert r.status_code == 201, r.text[:300]
                bulk_lat.append(dt)
                t_ingest += dt
                loaded = hi
            lat = []
            for q in queries:
                body = json.dumps({"vector": q.tolist(), "k": args.k, "exact": True})
                t0 = time.perf_counter()
                status, text = one.send("POST", "/v1/recall", body)
                lat.append(time.perf_counter() - t0)
                assert status == 200, text
            recall[n] = _pct(lat)
        results["binary_request_ms"] = _pct(bulk_lat)
        results["http_binary_ingest_per_s"] = loaded / t_ingest
        results["http_recall_ms"] = {str(n): v for n, v in recall.items()}
        one.close()
    finally:
        server.stop()

    # -- in-process ingest into PostgreSQL (service.write: one transaction, COPY) ----------
    from memory import runtime
    from memory.config import Settings
    from memory.service import NewMemory
    settings = Settings(database_url=url, dim=args.dim)
    store = Store(url)
    svc = runtime.build_service(settings, follow=False, store=store)
    svc.delete_scoped("default", "episodic")
    t0 = time.perf_counter()
    for lo in range(0, nmax, args.batch * 4):
        hi = min(nmax, lo + args.batch * 4)
        svc.write("pgbench", [NewMemory(vector=data[j], model="client", id=f"p{j}") for j in range(lo, hi)],
                  upsert=True)
    results["pg_ingest_per_s"] = nmax / (time.perf_counter() - t0)
    svc.stop()
    results["db_alone_per_s"] = _database_alone(store, data, args.batch)
    results["db_commit_ms"] = _pct(_commits_alone(store, data, args.singles))
    store.close()
    if pg is not None:
        pg.stop("immediate")
        shutil.rmtree(pg.datadir, ignore_errors=True)

    # -- exact ground truth for recall@k ----------------------------------------------------
    truth = {n: np.argsort(-(queries @ data[:n].T), axis=1)[:, :args.k] for n in sizes}

    # -- chromadb side by side --------------------------------------------------------------
    try:
        import chromadb
    except ImportError:
        results["chromadb"] = "not installed (pip install -e '.[bench]')"
        return results
    chroma_dir = tempfile.mkdtemp(prefix="chroma-bench-")
    client = chromadb.PersistentClient(path=chroma_dir)
    hnsw = {"space": "cosine"}
    if args.chroma_ef:  # raise ef_search so chromadb answers at (near) the same recall
        hnsw["ef_search"] = args.chroma_ef
    col = client.create_collection("bench", configuration={"hnsw": hnsw})
    loaded, t_ingest, chroma = 0, 0.0, {}
    max_batch = min(args.batch * 4, client.get_max_batch_size())
    for n in sizes:
        while loaded < n:
            hi = min(n, loaded + max_batch)
            t0 = time.perf_counter()
            col.add(ids=[f"m{j}" for j in range(loaded, hi)], embeddings=data[loaded:hi])
            t_ingest += time.perf_counter() - t0
            loaded = hi
        lat, found = [], []
        for q in queries:
            t0 = time.perf_counter()
            res = col.query(query_embeddings=[q], n_results=args.k)
            lat.append(time.perf_counter() - t0)
            found.append([int(i[1:]) for i in res["ids"][0]])
        hit = np.mean([len(set(f) & set(t.tolist())) / args.k for f, t in zip(found, truth[n])])
        chroma[str(n)] = {"query_ms": _pct(lat), "recall_at_k": float(hit)}
    results["chromadb"] = {"ingest_per_s": loaded / t_ingest, "query": chroma,
                           "version": chromadb.__version__, "ef_search": args.chroma_ef or "default"}
    shutil.rmtree(chroma_dir, ignore_errors=True)
    return results


def _database_alone(store, data: np.ndarray, batch: int) -> float:
    """The peer of bulk ingest: the same rows (id, vector bytes and the memories table's other
    columns) written by the database's fastest path alone, batch by batch, one transaction
    each, into a scratch copy of the memories table with its keys and indexes: binary COPY
    on PostgreSQL, executemany of one prepared statement on SQLite. No events, no index."""
    import sqlalchemy as sa
    pg = store.dialect == "postgresql"
    rows = [("peer", f"p{j}", "episodic", data[j].astype("<f4").tobytes(), data.shape[1], "client", 1.0, 1.0,
             None, "{}", 1.0, 1.0, None) for j in range(len(data))]
    cols = ("namespace, id, memory_type, vector, dim, model, importance, importance_norm, coordinate, "
            "payload, created_at, updated_at, text")
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS peer_memories")
        conn.exec_driver_sql("CREATE TABLE peer_memories (LIKE memories INCLUDING ALL)" if pg else
                             "CREATE TABLE peer_memories AS SELECT * FROM memories WHERE 0")
        if not pg:
            conn.exec_driver_sql("CREATE UNIQUE INDEX peer_pk ON peer_memories (namespace, id)")
    t0 = time.perf_counter()
    for lo in range(0, len(rows), batch):
        with store.engine.begin() as conn:
            raw = conn.connection.driver_connection
            if pg:
                with raw.cursor() as cur, cur.copy(f"COPY peer_memories ({cols}) FROM STDIN (FORMAT BINARY)") as cp:
                    cp.set_types(["varchar", "varchar", "varchar", "bytea", "int4", "varchar", "float8", "float8",
                                  "text", "text", "float8", "float8", "text"])
                    for row in rows[lo:lo + batch]:
                        cp.write_row(row)
            else:
                raw.executemany(f"INSERT INTO peer_memories ({cols}) VALUES ({', '.join('?' * 13)})",
                                rows[lo:lo + batch])
    per_s = len(rows) / (time.perf_counter() - t0)
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE peer_memories"))
    return per_s


def _commits_alone(store, data: np.ndarray, n: int) -> list[float]:
    """The peer of a single store: one memory row INSERTed and COMMITted alone, `n` times,
    through the same engine and driver into a scratch copy of the memories table (no
    event, no lock, no HTTP). Seconds per transaction."""
    pg = store.dialect == "postgresql"
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS peer_commits")
        conn.exec_driver_sql("CREATE TABLE peer_commits (LIKE memories INCLUDING ALL)" if pg else
                             "CREATE TABLE peer_commits AS SELECT * FROM memories WHERE 0")
    mark = "%s" if pg else "?"
    sql = (f"INSERT INTO peer_commits (namespace, id, memory_type, vector, dim, model, importance, payload, "
           f"created_at, updated_at) VALUES ({', '.join([mark] * 10)})")
    out = []
    with store.engine.connect() as conn:
        raw = conn.connection.driver_connection
        for j in range(n):
            row = ("peer", f"c{j}", "episodic", data[j % len(data)].astype("<f4").tobytes(), data.shape[1],
                   "client", 1.0, "{}", 1.0, 1.0)
            t0 = time.perf_counter()
            cur = raw.cursor()
            cur.execute(sql, row)
            raw.commit()
            out.append(time.perf_counter() - t0)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE peer_commits")
    return out


def report(r: dict) -> str:
    data = "MiniLM text embeddings" if r.get("data") == "text" else "unit-normal random vectors"
    lines = [f"{r.get('database', 'postgresql')}, dim {r['dim']}, k {r['k']}, {r['queries']} queries, {data}, "
             f"bulk batches of {r['bulk_batch']}, waitress threads {r['threads']}"
             + (f"; client: {r['client']}" if r.get("client") else ""), "",
             "| measure | memory service | chromadb | ratio |", "| --- | --- | --- | --- |"]
    lines.append("| single store p50 / p95 (HTTP, JSON floats, one commit) | %.2f / %.2f ms | | |" % tuple(r["single_store_ms"]))
    lines.append("| single store p50 / p95 (HTTP, vector_b64, one commit) | %.2f / %.2f ms | | |" % tuple(r["single_store_b64_ms"]))
    if "db_commit_ms" in r:
        lines.append("| peer: one-row INSERT + COMMIT alone (same driver, no HTTP) p50 / p95 | %.2f / %.2f ms | | |"
                     % tuple(r["db_commit_ms"]))
    if "bulk_json_request_ms" in r:
        lines.append("| bulk request p50 / p95 (HTTP, %d items, JSON floats) | %.1f / %.1f ms (%.0f memories/s) | | |" % (
            r["bulk_batch"], *r["bulk_json_request_ms"], r["http_bulk_json_per_s"]))
    db = "SQLite executemany" if r.get("database") == "sqlite" else "PostgreSQL binary COPY"
    alone = r["db_alone_per_s"]
    ch = r["chromadb"] if isinstance(r["chromadb"], dict) else None
    if "bulk_request_ms" in r:
        lines.append("| bulk request p50 / p95 (HTTP, %d items, vector_b64) | %.1f / %.1f ms | | |" % (
            r["bulk_batch"], *r["bulk_request_ms"]))
        ing = r["http_bulk_ingest_per_s"]
        lines.append("| ingest, memories/s (HTTP, vector_b64; peer: %s alone) | %.0f | %.0f | %.2fx |" % (
            db, ing, alone, ing / alone))
    lines.append("| bulk request p50 / p95 (HTTP, %d items, binary format) | %.1f / %.1f ms | | |" % (
        r["bulk_batch"], *r["binary_request_ms"]))
    ing = r["http_binary_ingest_per_s"]
    lines.append("| ingest, memories/s (HTTP, binary format; peer: %s alone) | %.0f | %.0f | %.2fx |" % (
        db, ing, alone, ing / alone))
    lines.append("| ingest, memories/s (HTTP, binary format; peer: chromadb in-process) | %.0f | %s | %s |" % (
        ing, f"{ch['ingest_per_s']:.0f}" if ch else "-", f"{ing / ch['ingest_per_s']:.1f}x" if ch else "-"))
    lines.append("| ingest in-process (service.write), memories/s | %.0f | | |" % r["pg_ingest_per_s"])
    for n, (p50, p95) in r["http_recall_ms"].items():
        c = ch["query"][n] if ch else None
        lines.append("| exact recall N=%s p50 / p95 (HTTP; chromadb in-process, recall@k %s) | %.2f / %.2f ms | %s | %s |" % (
            n, f"{c['recall_at_k']:.3f}" if c else "-", p50, p95,
            f"{c['query_ms'][0]:.2f} / {c['query_ms'][1]:.2f} ms" if c else "-",
            f"{p50 / c['query_ms'][0]:.2f}x p50" if c else "-"))
    if not ch:
        lines.append(f"\nchromadb: {r['chromadb']}")
    else:
        lines.append(f"\nchromadb {ch['version']}, hnsw ef_search {ch['ef_search']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--singles", type=int, default=500)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--json-batches", type=int, default=10, help="bulk requests sent as JSON float arrays")
    ap.add_argument("--b64-batches", type=int, default=10, help="bulk requests sent with vector_b64")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    add_data_argument(ap)
    ap.add_argument("--chroma-ef", type=int, default=1000,
                    help="chromadb hnsw ef_search (0: its default); high so its recall@k nears the exact answer")
    ap.add_argument("--database-url", default="", help="'sqlite' for a throw-away SQLite file; "
                    "empty: a throw-away PostgreSQL cluster")
    ap.add_argument("--json", default="")
    ap.add_argument("--markdown", default="")
    args = ap.parse_args(argv)
    r = run(args)
    emit(r, report(r), args.json, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
