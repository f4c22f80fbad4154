"""Memory service tasks: serve, migrate, relay, consume, mcp and the benchmarks.

Every task runs its work as a child process through `sh` with an argument list, so thread
counts and environment are set before numpy loads and nothing goes through a shell.
"""

from __future__ import annotations

import os
import signal
import sys

import sh
from invoke import task
from invoke.exceptions import Exit

BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def bench_argv(*, sizes: str, workloads: str, queries: int, dim: int, k: int, threads: int, seed: int,
               vectors: str | None, query_file: str | None, json_path: str | None,
               markdown: str | None) -> list[str]:
    argv = ["-m", "memory.bench", "--sizes", sizes, "--workloads", workloads, "--queries", str(queries),
            "--dim", str(dim), "-k", str(k), "--threads", str(threads), "--seed", str(seed)]
    for flag, value in (("--vectors", vectors), ("--query-file", query_file), ("--json", json_path),
                        ("--markdown", markdown)):
        if value:
            argv += [flag, value]
    return argv


@task(help={
    "sizes": "comma-separated N (default 10000,100000; add 1000000 explicitly)",
    "workloads": "uniform,clustered,agent",
    "queries": "queries per run",
    "dim": "vector dimension of the synthetic workloads",
    "k": "top-k",
    "threads": "threads for every method (BLAS, faiss, hnswlib); same for all",
    "seed": "random seed",
    "vectors": "external float32 .npy (rows, dim) instead of the synthetic workloads",
    "queries_file": "external queries .npy for --vectors",
    "json": "JSON output path (default bench-results/engine-<time>.json)",
    "markdown": "also write the tables as Markdown here",
    "http": "benchmark the service over HTTP (waitress, PostgreSQL) against chromadb instead",
    "search": "benchmark listing and keyword/hybrid recall over HTTP (SQLite and PostgreSQL, MiniLM "
              "text) against chromadb's where_document instead",
    "n": "memories for --search (default 100000)",
    "load": "recall requests/s and p50/p95 under wrk at concurrency 1, 8, 32 (memory/bench/load.py; "
            "N = the largest of --sizes)",
    "cold": "start-up index load time and peak RSS on SQLite and PostgreSQL at each of --sizes "
            "(memory/bench/coldstart.py)",
    "suite": "every benchmark above, one after another, into one folder (memory/bench/suite.py; "
             "--json names the folder)",
})
def bench(c, sizes="10000,100000", workloads="uniform,clustered,agent", queries=200, dim=384, k=10, threads=1,
          seed=0, vectors=None, queries_file=None, json=None, markdown=None, http=False, search=False, n=100000,
          load=False, cold=False, suite=False):
    """Benchmark the engine against numpy, FAISS (flat, fp16) and hnswlib; print a table, write JSON."""
    if suite:
        return _service_bench(["-m", "memory.bench.suite"] + (["--out", json] if json else []))
    if search:
        return _service_bench(search_bench_argv(n=int(n), queries=int(queries), json_path=json, markdown=markdown))
    if http:
        return http_bench(sizes=sizes, queries=int(queries), dim=int(dim), k=int(k), seed=int(seed),
                          json_path=json, markdown=markdown)
    if load or cold:
        return _service_bench(load_argv(sizes=sizes, dim=int(dim), k=int(k), seed=int(seed), json_path=json,
                                        markdown=markdown) if load else
                              cold_argv(sizes=sizes, dim=int(dim), json_path=json, markdown=markdown))
    argv = bench_argv(sizes=sizes, workloads=workloads, queries=int(queries), dim=int(dim), k=int(k),
                      threads=int(threads), seed=int(seed), vectors=vectors, query_file=queries_file,
                      json_path=json, markdown=markdown)
    env = {**os.environ, **{var: str(threads) for var in BLAS_THREAD_VARS}}
    try:
        sh.Command(sys.executable)(*argv, _env=env, _out=sys.stdout, _err=sys.stderr)
    except sh.ErrorReturnCode as exc:  # the child already printed its error (argparse, data)
        raise Exit(code=exc.exit_code) from None


# -- the service: serve, migrate, relay, consume (configuration: SOMA_MEMORY_* variables) --
def service_argv(command: str) -> list[str]:
    return ["-m", "memory", command]


def _service_env(overrides: dict[str, str | None]) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in overrides.items():
        if value not in (None, ""):
            env[f"SOMA_MEMORY_{name.upper()}"] = str(value)
    return env


def _exit_code(proc) -> int:
    """The child's exit code; killed by signal N: 128 + N, as a shell reports it."""
    try:
        proc.wait()
    except sh.ErrorReturnCode as exc:  # SignalException included (negative exit_code)
        return exc.exit_code if exc.exit_code >= 0 else 128 - exc.exit_code
    return 0


def _fd_or_none(stream):
    # the child inherits our descriptors (no copying thread, so MCP over stdio passes
    # straight through); a replaced stream (pytest capture) falls back to sh's own pipes
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return stream


def _run_service(command: str, *args: str, **overrides) -> None:
    """Run `python -m memory <command>` as a child; SIGINT and SIGTERM to this process are
    forwarded to it, and the task exits with the child's code (through invoke's Exit)."""
    proc = sh.Command(sys.executable)(*service_argv(command), *args, _env=_service_env(overrides),
                                      _in=_fd_or_none(sys.stdin), _out=_fd_or_none(sys.stdout) or sys.stdout,
                                      _err=_fd_or_none(sys.stderr) or sys.stderr, _bg=True, _bg_exc=False)

    def forward(signum, _frame):
        if proc.is_alive():
            proc.signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = _exit_code(proc)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code:
        raise Exit(code=code)


@task(help={"host": "listen address (default 127.0.0.1)", "port": "listen port (default 9595)",
            "database_url": "database (default: embedded SQLite under ./data)"})
def serve(c, host=None, port=None, database_url=None):
    """Run the memory service (waitress). With no configuration: SQLite, loopback, no auth."""
    _run_service("serve", host=host, port=port, database_url=database_url)


@task(help={"database_url": "database (default: embedded SQLite under ./data)"})
def migrate(c, database_url=None):
    """Bring the database schema to the latest Alembic revision."""
    _run_service("migrate", database_url=database_url)


@task(help={"bootstrap": "Kafka bootstrap servers", "topic": "event topic (default memory.events)"})
def relay(c, bootstrap=None, topic=None):
    """Publish the outbox to Kafka (idempotent producer, rows marked after delivery)."""
    _run_service("relay", kafka_bootstrap=bootstrap, topic=topic)


@task(help={"bootstrap": "Kafka bootstrap servers", "topic": "event topic (default memory.events)",
            "group": "consumer group"})
def consume(c, bootstrap=None, topic=None, group=None):
    """Apply events once by id into memory_events; poison messages go to <topic>.dlq."""
    _run_service("consume", kafka_bootstrap=bootstrap, topic=topic, consumer_group=group)


@task(help={"transport": "stdio (default) or http (streamable HTTP)",
            "host": "HTTP listen address (default 127.0.0.1)", "port": "HTTP listen port (default 9596)",
            "url": "a running memory service to call (default: build it in-process from SOMA_MEMORY_*)"})
def mcp(c, transport="stdio", host=None, port=None, url=None):
    """Serve the MCP tools remember, recall and forget (stdio or streamable HTTP).
    The stdio token comes from SOMA_MEMORY_MCP_TOKEN, never an option."""
    args = ["--transport", transport]
    for flag, value in (("--host", host), ("--port", port)):
        if value:
            args += [flag, str(value)]
    _run_service("mcp", *args, mcp_url=url)


def http_bench_argv(*, sizes: str, queries: int, dim: int, k: int, seed: int, json_path: str | None,
                    markdown: str | None) -> list[str]:
    argv = ["-m", "memory.http_bench", "--sizes", sizes, "--queries", str(queries), "--dim", str(dim),
            "-k", str(k), "--seed", str(seed)]
    for flag, value in (("--json", json_path), ("--markdown", markdown)):
        if value:
            argv += [flag, value]
    return argv


def search_bench_argv(*, n: int, queries: int, json_path: str | None, markdown: str | None) -> list[str]:
    return ["-m", "memory.bench.search", "--n", str(n), "--queries", str(queries)] + _outputs(json_path, markdown)


def load_argv(*, sizes: str, dim: int, k: int, seed: int, json_path: str | None, markdown: str | None) -> list[str]:
    n = max(int(s) for s in sizes.split(","))
    argv = ["-m", "memory.bench.load", "-n", str(n), "--dim", str(dim), "-k", str(k), "--seed", str(seed)]
    return argv + _outputs(json_path, markdown)


def cold_argv(*, sizes: str, dim: int, json_path: str | None, markdown: str | None) -> list[str]:
    return ["-m", "memory.bench.coldstart", "--sizes", sizes, "--dim", str(dim)] + _outputs(json_path, markdown)


def _outputs(json_path: str | None, markdown: str | None) -> list[str]:
    return [arg for flag, value in (("--json", json_path), ("--markdown", markdown)) if value for arg in (flag, value)]


def _service_bench(argv: list[str]) -> None:
    try:
        sh.Command(sys.executable)(*argv, _out=sys.stdout, _err=sys.stderr)
    except sh.ErrorReturnCode as exc:  # the child already printed its error
        raise Exit(code=exc.exit_code) from None


def http_bench(**kwargs) -> None:
    """`inv memory.bench --http`: service behind waitress + PostgreSQL vs chromadb (memory/http_bench.py)."""
    sh.Command(sys.executable)(*http_bench_argv(**kwargs), _out=sys.stdout, _err=sys.stderr)


@task(iterable=["set_"], help={
    "ns": "the onboarded application namespace (inv app.onboard --ns)",
    "mode": "dev, test, staging, prod-lite or prod (default: soma.mode)",
    "cluster": "kind cluster name (default: soma.cluster)",
    "tag": "image reference (default somastack/memory:<git commit>)",
    "base_image": "BASE_IMAGE of the Dockerfile (default python:3.11-slim-bookworm; "
                  "'debootstrap' builds a Debian base locally)",
    "evidence": "write a transcript and JSON run record into docs/sprints/sprint-3/",
    "set": "override any soma setting, repeatable: --set timeouts.helm=600"})
def deploy(c, ns, mode=None, cluster=None, tag=None, base_image=None, evidence=False, set_=None):
    """Build the image, load it into kind, helm upgrade --install soma-memory, readiness gate."""
    from tasks.core.cli import exits
    from tasks.core.memory_deploy import run_deploy
    with exits("memory.deploy"):
        run_deploy(c, ns, mode, cluster, tag, base_image, evidence, sets=set_ or ())
