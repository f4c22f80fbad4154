"""`inv memory.bench --load`: recall throughput over HTTP, measured by `wrk` in its own process.

Figures, not assertions. N memories are written straight into an SQLite file (recall never
reads the database: it answers from the in-process index), then each server configuration
is started as its own process and `wrk` (Debian's package; a Lua script sends `POST
/v1/recall` with `vector_b64` bodies, one query after another from a fixed set) measures
requests/s and latency p50/p95/p99 at each concurrency, for ANN and for exact recall.

Configurations: `waitress` (`python -m memory serve`: one process, WSGI threads) and
`gunicorn` (2 worker processes x threads, `memory.api:create_app()`; each worker holds its
own index and follows the change log). The engine's own timings (`ann_ms`, `exact_ms`, the
Python time around an ANN call `ann_python_us`) are read from /v1/stats after the runs.

Peer in the same run: chromadb in-process (no HTTP), the same vectors and queries, one
query at a time: p50/p95 and the queries/s of one thread.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from memory.bench.report import add_data_argument, emit

LUA = """
local bodies = {%s}
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", "/v1/recall", {["Content-Type"] = "application/json"}, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%.1f %%.1f %%.1f %%d %%d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


def _b64(v: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(v, dtype="<f4").tobytes()).decode()


def lua_script(queries: np.ndarray, k: int, exact: bool) -> str:
    bodies = [json.dumps({"vector_b64": _b64(q), "k": k, "exact": exact}) for q in queries]
    return LUA % ", ".join(json.dumps(b) for b in bodies)  # a JSON string is a valid Lua string here


def wrk(url: str, script: str, connections: int, seconds: float) -> dict:
    """One wrk run; requests/s and latency percentiles in ms."""
    threads = max(1, min(2, connections))
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",  # whole seconds only
                          "--timeout", "10s", "-s", script, url], check=True, capture_output=True, text=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    reqs, dur_us, p50, p95, p99, status_err, sock_err = line.split()[1:]
    return {"requests": int(reqs), "rps": int(reqs) / (int(dur_us) / 1e6), "p50_ms": float(p50) / 1e3,
            "p95_ms": float(p95) / 1e3, "p99_ms": float(p99) / 1e3, "non_2xx": int(status_err),
            "socket_errors": int(sock_err)}


class Server:
    def __init__(self, kind: str, env: dict, port: int, threads: int, workers: int, log: str):
        self.base = f"http://127.0.0.1:{port}"
        env = {**env, "SOMA_MEMORY_PORT": str(port), "SOMA_MEMORY_THREADS": str(threads)}
        if kind == "waitress":
            argv = [sys.executable, "-m", "memory", "serve"]
        else:
            argv = [sys.executable, "-m", "gunicorn", "-w", str(workers), "--threads", str(threads),
                    "-k", "gthread", "-b", f"127.0.0.1:{port}", "--timeout", "900", "memory.api:create_app()"]
        self.logf = open(log, "w")
        self.proc = subprocess.Popen(argv, env=env, stdout=self.logf, stderr=subprocess.STDOUT)
        self.log = log

    def wait_ready(self, timeout: float) -> None:
        import httpx
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.base + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise SystemExit(f"server not ready; log {self.log}:\n{open(self.log).read()[-2000:]}")

    def stats(self) -> dict:
        import httpx
        return httpx.get(self.base + "/v1/stats", timeout=10).json()

    def rss_mb(self) -> float:
        """Resident memory of the server and its children (gunicorn's workers)."""
        pids = [self.proc.pid]
        try:
            pids += [int(p) for p in open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read().split()]
        except OSError:
            pass
        total = 0
        for pid in pids:
            try:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.logf.close()


def chroma_peer(data: np.ndarray, queries: np.ndarray, k: int) -> dict:
    try:
        import chromadb
    except ImportError:
        return {"error": "not installed (pip install -e '.[bench]')"}
    client = chromadb.EphemeralClient()
    col = client.create_collection(f"load{time.time_ns()}", configuration={"hnsw": {"space": "cosine"}})
    step = client.get_max_batch_size()
    for lo in range(0, len(data), step):
        col.add(ids=[f"m{j}" for j in range(lo, min(len(data), lo + step))], embeddings=data[lo: lo + step])
    lat = []
    for q in queries:
        t0 = time.perf_counter()
        col.query(query_embeddings=[q], n_results=k)
        lat.append(time.perf_counter() - t0)
    a = np.asarray(lat) * 1e3
    return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)),
            "qps_one_thread": 1e3 / float(a.mean()), "version": chromadb.__version__}


def run(args) -> dict:
    from memory.bench.coldstart import fill
    from memory.bench.pgserver import free_port
    from memory.store import Store
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: `inv dev.test.setup` installs Debian's wrk")
    from memory.http_bench import dataset
    rng = np.random.default_rng(args.seed)
    data, queries = dataset(args.data, rng, args.n, args.queries, args.dim)
    tmp = tempfile.mkdtemp(prefix="soma-load-")
    results: dict = {"data": args.data, "n": args.n, "dim": args.dim, "k": args.k, "seconds": args.seconds, "ann": args.ann,
                     "cpus": os.cpu_count(), "runs": {}}
    try:
        url = f"sqlite:///{os.path.join(tmp, 'memory.db')}"
        Store(url).migrate()
        fill(url, args.n, args.dim, vectors=data)
        scripts = {}
        for mode in ("ann", "exact"):
            scripts[mode] = os.path.join(tmp, f"{mode}.lua")
            with open(scripts[mode], "w") as f:
                f.write(lua_script(queries, args.k, exact=mode == "exact"))
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("SOMA_MEMORY_")}
        env = {**base_env, "SOMA_MEMORY_DATABASE_URL": url, "SOMA_MEMORY_DIM": str(args.dim),
               "SOMA_MEMORY_ANN": args.ann, "SOMA_MEMORY_LOG_LEVEL": "WARNING",
               "SOMA_MEMORY_RATE_LIMIT": "100000000/minute"}
        for config in args.configs.split(","):
            kind, _, spec = config.partition(":")
            workers, _, threads = (spec or ("1x8" if kind == "waitress" else "2x4")).partition("x")
            server = Server(kind, env, free_port(), int(threads), int(workers), os.path.join(tmp, f"{config}.log"))
            t0 = time.perf_counter()
            try:
                server.wait_ready(args.ready_timeout)
                ready_s = time.perf_counter() - t0
                runs = {}
                for mode in ("ann", "exact"):
                    wrk(server.base + "/v1/recall", scripts[mode], 4, 2)  # warm: guard timings, caches
                    for c in args.concurrency:
                        runs[f"{mode}@{c}"] = r = wrk(server.base + "/v1/recall", scripts[mode], c, args.seconds)
                        print(f"{config} {mode} c={c}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, "
                              f"p95 {r['p95_ms']:.2f} ms", file=sys.stderr, flush=True)
                engine = server.stats().get("engine", {})
                results["runs"][config] = {
                    "ready_s": ready_s, "rss_mb": server.rss_mb(), "runs": runs,
                    "engine": {key: engine.get(key) for key in ("ann_ms", "exact_ms", "ann_python_us",
                                                                 "ann_fallback_exact", "ann_widen_level",
                                                                 "ann_recall_at_k", "ann_exact_for_speed")}}
            finally:
                server.stop()
        results["chromadb"] = chroma_peer(data, queries, args.k)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def report(r: dict) -> str:
    ch = r.get("chromadb", {})
    lines = [f"N {r['n']:,}, dim {r['dim']}, k {r['k']}, {r['cpus']} CPUs, wrk {r['seconds']:g} s per run, "
             f"POST /v1/recall with vector_b64, ANN {r['ann']}, "
             f"{'MiniLM text embeddings' if r.get('data') == 'text' else 'random unit vectors'}", "",
             "| server | recall | concurrency | requests/s | p50 | p95 | p99 | errors | target (ANN: p50 ≤ 1.5 ms, ≥ 3k req/s) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for config, run in r["runs"].items():
        for key, x in run["runs"].items():
            mode, c = key.split("@")
            met = ""
            if mode == "ann":
                met = "met" if x["p50_ms"] <= 1.5 and x["rps"] >= 3000 else "missed"
            lines.append(f"| {config} | {mode} | {c} | {x['rps']:,.0f} | {x['p50_ms']:.2f} ms | {x['p95_ms']:.2f} ms | "
                         f"{x['p99_ms']:.2f} ms | {x['non_2xx'] + x['socket_errors']} | {met} |")
    lines.append("")
    lines.append("| server | ready after | RSS | engine ann_ms / exact_ms (EWMA) | Python around an ANN call | guard |")
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for config, run in r["runs"].items():
        e = run["engine"]
        fmt = (lambda v, unit: "-" if v is None else f"{v:.3f} {unit}")
        guard = "exact fallback" if e.get("ann_fallback_exact") else f"level {e.get('ann_widen_level')}"
        lines.append(f"| {config} | {run['ready_s']:.1f} s | {run['rss_mb']:,.0f} MB | {fmt(e.get('ann_ms'), 'ms')} / "
                     f"{fmt(e.get('exact_ms'), 'ms')} | {fmt(e.get('ann_python_us'), 'µs')} | {guard}, "
                     f"exact-for-speed {e.get('ann_exact_for_speed')} |")
    if "p50_ms" in ch:
        lines.append(f"\nPeer: chromadb {ch['version']} in-process query (no HTTP), one thread: p50 {ch['p50_ms']:.2f} ms, "
                     f"p95 {ch['p95_ms']:.2f} ms, {ch['qps_one_thread']:,.0f} queries/s")
    else:
        lines.append(f"\nPeer: chromadb {ch.get('error')}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--queries", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32])
    ap.add_argument("--configs", default="waitress,gunicorn",
                    help="waitress[:1xTHREADS], gunicorn[:WORKERSxTHREADS] (defaults 1x8, 2x4)")
    ap.add_argument("--ann", default="hnsw")
    ap.add_argument("--ready-timeout", type=float, default=1800)
    ap.add_argument("--seed", type=int, default=0)
    add_data_argument(ap)
    ap.add_argument("--json", default="")
    ap.add_argument("--markdown", default="")
    args = ap.parse_args(argv)
    r = run(args)
    emit(r, report(r), args.json, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
