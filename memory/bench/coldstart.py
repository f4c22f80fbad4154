"""`inv memory.bench --cold`: start-up index load time and peak memory, SQLite and PostgreSQL.

Figures, not assertions. For each database and each N the rows are written straight into the
memories table (binary COPY on PostgreSQL, one executemany on SQLite: not the service's write
path, which bench/load and http_bench measure), then a fresh process loads the index the way
`serve` does (MemoryService.load: one snapshot, columnar chunks into the engine) and reports
its wall time and peak RSS (ru_maxrss, the interpreter and numpy included; the RSS before the
load is printed beside it). The peer, in the same run: the same rows read by the same query
and thrown away (binary COPY on PostgreSQL, the raw cursor on SQLite), so the ratio is the
load's cost over the database's own read.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from memory.bench.report import emit

SELECT = ("SELECT namespace, id, memory_type, vector, importance, importance_norm, created_at, {payload}, text "
          "FROM memories WHERE deleted_at IS NULL AND dim = {dim} ORDER BY namespace, id")


def fill(url: str, n: int, dim: int, *, namespaces: tuple[str, ...] = ("default",), seed: int = 0, start: int = 0,
         chunk: int = 50_000, vectors: np.ndarray | None = None) -> None:
    """Write n live memories (ids m<start>.., random unit vectors or row i of `vectors`,
    varied importance) straight into the memories table, spread round-robin over
    `namespaces`. A migrated database."""
    from memory.store import Store
    rng = np.random.default_rng(seed)
    store = Store(url)
    now = time.time()
    cols = ["namespace", "id", "memory_type", "vector", "dim", "model", "importance", "importance_norm",
            "payload", "created_at", "updated_at", "access_count"]
    try:
        with store.engine.begin() as conn:
            raw = conn.connection.driver_connection
            for lo in range(start, start + n, chunk):
                hi = min(start + n, lo + chunk)
                if vectors is None:
                    v = rng.standard_normal((hi - lo, dim)).astype("<f4")
                    v /= np.linalg.norm(v, axis=1, keepdims=True)
                else:
                    v = np.ascontiguousarray(vectors[lo - start: hi - start], dtype="<f4")
                imp = rng.lognormal(0.0, 0.5, hi - lo)
                norm = rng.uniform(0.2, 1.0, hi - lo)
                created = now - rng.uniform(0, 86400 * 30, hi - lo)
                rows = [(namespaces[i % len(namespaces)], f"m{i}", "semantic" if i % 3 == 0 else "episodic",
                         v[i - lo].tobytes(), dim, "bench", float(imp[i - lo]), float(norm[i - lo]),
                         json.dumps({"i": i}), float(created[i - lo]), now, 0) for i in range(lo, hi)]
                if store.dialect == "postgresql":
                    with raw.cursor() as cur, cur.copy(f"COPY memories ({', '.join(cols)}) FROM STDIN") as copy:
                        for r in rows:
                            copy.write_row(r)
                else:
                    raw.executemany(f"INSERT INTO memories ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                    rows)
    finally:
        store.close()


def read_peer(url: str, dim: int) -> tuple[float, int]:
    """Seconds to read every live row with the load's query and drop it: (seconds, bytes)."""
    from memory.store import Store
    store = Store(url)
    got = 0
    try:
        with store.engine.connect() as conn:
            raw = conn.connection.driver_connection
            t0 = time.perf_counter()
            if store.dialect == "postgresql":
                sql = f"COPY ({SELECT.format(payload='payload::text', dim=dim)}) TO STDOUT (FORMAT BINARY)"
                with raw.cursor() as cur, cur.copy(sql) as copy:
                    for block in copy:
                        got += len(block)
            else:
                cur = raw.cursor()
                cur.execute(SELECT.format(payload="payload", dim=dim))
                while batch := cur.fetchmany(65_536):
                    got += len(batch)
                cur.close()
            return time.perf_counter() - t0, got
    finally:
        store.close()


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(url: str, dim: int) -> dict:
    """In a fresh process: load the index as `serve` does (after the kernels, which `serve`
    loads before the index too); time, rows, RSS before, peak RSS."""
    from memory import runtime
    from memory.config import Settings
    from memory.service import MemoryService
    from memory.embed import make_embedder
    settings = Settings(database_url=url, dim=dim)
    store = runtime.open_store(settings)
    svc = MemoryService(settings, store, make_embedder("hash", dim), runtime.engine_factory(settings),
                        runtime.normaliser_factory(settings))
    from memory.engine.jit import warm_up
    warm_up(runtime.engine_factory(settings))  # as serve does before its load: kernels from the disk cache
    before = _rss_mb()
    t0 = time.perf_counter()
    svc.start(follow=False)
    seconds = time.perf_counter() - t0
    rows = sum(svc.index_sizes().values())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    svc.stop()
    store.close()
    return {"seconds": seconds, "rows": rows, "rss_before_mb": before, "peak_rss_mb": peak}


def _load_in_child(url: str, dim: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "memory.bench.coldstart", "--child", url, "--dim", str(dim)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(args) -> dict:
    from memory.store import Store
    sizes = sorted(int(s) for s in args.sizes.split(","))
    results: dict = {"dim": args.dim, "sizes": sizes, "backends": {}}
    for backend in args.backends.split(","):
        tmp = tempfile.mkdtemp(prefix="soma-cold-")
        pg = None
        try:
            if backend == "postgresql":
                if args.database_url:
                    url = args.database_url
                else:
                    from memory.bench import pgserver
                    pg = pgserver.throwaway("cold", datadir=tmp)
                    url = pg.url("cold")
            else:
                url = f"sqlite:///{os.path.join(tmp, 'memory.db')}"
            Store(url).migrate()
            have, rows = 0, {}
            for n in sizes:
                t0 = time.perf_counter()
                fill(url, n - have, args.dim, namespaces=tuple(f"ns{i}" for i in range(args.namespaces)), start=have, seed=n)
                have = n
                filled = time.perf_counter() - t0
                peer_s, _ = read_peer(url, args.dim)
                load = _load_in_child(url, args.dim)
                rows[str(n)] = {**load, "fill_s": filled, "peer_read_s": peer_s}
                print(f"{backend} N={n}: load {load['seconds']:.2f} s, peak RSS {load['peak_rss_mb']:.0f} MB "
                      f"(before {load['rss_before_mb']:.0f}); peer read {peer_s:.2f} s", file=sys.stderr, flush=True)
            results["backends"][backend] = rows
        finally:
            if pg is not None:
                pg.stop("immediate")
            shutil.rmtree(tmp, ignore_errors=True)
    return results


def report(r: dict) -> str:
    lines = [f"dim {r['dim']}, float32, rows written straight into the table; load = MemoryService.load "
             "in a fresh process (ru_maxrss peak)", "",
             "| database | N | index load | peak RSS (before load) | peer: read the same rows | load / peer | target ≤ 10 s at 1M |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for backend, rows in r["backends"].items():
        peer = "binary COPY TO STDOUT" if backend == "postgresql" else "raw cursor fetchmany"
        for n, x in rows.items():
            met = ("met" if x["seconds"] <= 10 else "missed") if int(n) >= 1_000_000 else ""
            lines.append(f"| {backend} | {int(n):,} | {x['seconds']:.2f} s ({int(n) / x['seconds']:,.0f} rows/s) | "
                         f"{x['peak_rss_mb']:,.0f} MB ({x['rss_before_mb']:,.0f} MB) | {x['peer_read_s']:.2f} s ({peer}) | "
                         f"{x['seconds'] / x['peer_read_s']:.1f}x | {met} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--namespaces", type=int, default=1)
    ap.add_argument("--database-url", default="", help="an existing empty PostgreSQL database")
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    ap.add_argument("--json", default="")
    ap.add_argument("--markdown", default="")
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.dim)))
        return 0
    r = run(args)
    emit(r, report(r), args.json, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
