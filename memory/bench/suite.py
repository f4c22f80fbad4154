"""`python -m memory.bench.suite`: every benchmark of docs/benchmarks.md in one run.

One after another, each in its own process so none inherits another's heap or threads: the
engine against FAISS and hnswlib (synthetic sets and MiniLM text embeddings), the service
over HTTP (ingest, single store, recall) on PostgreSQL and SQLite, recall throughput under a
separate load generator, cold start, and list/keyword/hybrid search. Each step writes its
JSON and Markdown into one folder with `suite.json`: the commit, the machine, and the load
average and wall time around every step, so a reader can tell a quiet run from a loaded one.
Figures only; nothing here passes or fails on a time.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time

import sh

# (name, module, arguments): the full run; --quick shrinks every size for a smoke run
STEPS = [
    ("engine", "memory.bench", ["--sizes", "100000", "--workloads", "clustered,agent,text", "--queries", "200"]),
    ("http-postgresql", "memory.http_bench", ["--sizes", "100000", "--data", "text"]),
    ("http-sqlite", "memory.http_bench", ["--sizes", "100000", "--data", "text", "--database-url", "sqlite"]),
    ("http-postgresql-random", "memory.http_bench", ["--sizes", "100000"]),
    ("load", "memory.bench.load", ["-n", "100000", "--data", "text"]),
    ("load-random", "memory.bench.load", ["-n", "100000", "--configs", "waitress"]),
    ("cold", "memory.bench.coldstart", ["--sizes", "100000,1000000"]),
    ("search", "memory.bench.search", ["--n", "100000"]),
]
QUICK = {
    "engine": ["--sizes", "2000", "--workloads", "clustered", "--queries", "20"],
    "http-postgresql": ["--sizes", "2000", "--queries", "20", "--singles", "20", "--batch", "100"],
    "http-sqlite": ["--sizes", "2000", "--queries", "20", "--singles", "20", "--batch", "100",
                    "--database-url", "sqlite"],
    "load": ["-n", "2000", "--seconds", "1", "--concurrency", "1,8", "--data", "text"],
    "load-random": ["-n", "2000", "--seconds", "1", "--concurrency", "1", "--configs", "waitress"],
    "http-postgresql-random": ["--sizes", "2000", "--queries", "20", "--singles", "20", "--batch", "100"],
    "cold": ["--sizes", "2000"],
    "search": ["--n", "300", "--queries", "20", "--pages", "5"],
}


def _commit() -> str:
    try:
        return str(sh.git("rev-parse", "--short", "HEAD")).strip()
    except (sh.ErrorReturnCode, sh.CommandNotFound):
        return "unknown"


def _machine() -> dict:
    cpu = "unknown"
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def run(out: pathlib.Path, only: list[str], quick: bool, log=print) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    record = {"commit": _commit(), "machine": _machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "steps": []}
    for name, module, args in STEPS:
        if only and name not in only:
            continue
        argv = ["-m", module, *(QUICK[name] if quick else args),
                "--json", str(out / f"{name}.json"), "--markdown", str(out / f"{name}.md")]
        log(f"== {name}: python {' '.join(argv)}")
        step = {"name": name, "argv": argv, "load_before": os.getloadavg()}
        t0 = time.monotonic()
        try:
            sh.Command(sys.executable)(*argv, _out=sys.stdout, _err=sys.stderr)
            step["exit"] = 0
        except sh.ErrorReturnCode as exc:  # one failed step does not lose the others' figures
            step["exit"] = exc.exit_code
            log(f"== {name} failed with exit code {exc.exit_code}")
        step["seconds"] = round(time.monotonic() - t0, 1)
        step["load_after"] = os.getloadavg()
        record["steps"].append(step)
        (out / "suite.json").write_text(json.dumps(record, indent=2))
    return record


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="memory.bench.suite", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=f"bench-results/suite-{time.strftime('%Y%m%dT%H%M%S')}")
    p.add_argument("--only", default="", help=f"comma-separated steps of {', '.join(s[0] for s in STEPS)}")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that every step runs")
    a = p.parse_args(argv)
    only = [s for s in a.only.split(",") if s]
    unknown = set(only) - {s[0] for s in STEPS}
    if unknown:
        p.error(f"unknown steps {sorted(unknown)}")
    record = run(pathlib.Path(a.out), only, a.quick, log=lambda s: print(s, file=sys.stderr, flush=True))
    failed = [s["name"] for s in record["steps"] if s["exit"]]
    print(f"suite: {len(record['steps'])} steps in {a.out}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
