"""python -m memory.bench: the engine benchmark (see `--help`)."""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="memory.bench", description=__doc__)
    p.add_argument("--sizes", default="10000,100000", help="comma-separated N (1000000 only when asked)")
    p.add_argument("--workloads", default="uniform,clustered,agent",
                   help="uniform, clustered, agent, text (MiniLM embeddings of docstrings; embedded on first use)")
    p.add_argument("--queries", type=int, default=200, help="queries per run")
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--threads", type=int, default=1, help="threads for every method (BLAS, faiss, hnswlib)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vectors", help="external float32 .npy (rows, dim) instead of the synthetic workloads")
    p.add_argument("--query-file", help="external queries .npy (m, dim) for --vectors")
    p.add_argument("--json", default=None, help="output JSON path (default bench-results/engine-<time>.json)")
    p.add_argument("--markdown", default=None, help="also write the tables as Markdown to this path")
    a = p.parse_args(argv)
    try:
        a.sizes = [int(s) for s in a.sizes.split(",") if s]
    except ValueError:
        p.error(f"--sizes must be comma-separated integers, got {a.sizes!r}")
    a.workloads = [w for w in a.workloads.split(",") if w]
    bad = set(a.workloads) - {"uniform", "clustered", "agent", "text"}
    if bad:
        p.error(f"unknown workloads {sorted(bad)}; choose from uniform, clustered, agent, text")
    if "text" in a.workloads and a.dim != 384:
        p.error("the text workload is 384-dimensional (MiniLM): use --dim 384")
    if a.queries < 10 or a.k < 1 or a.dim < 2 or a.threads < 1 or any(n < a.k for n in a.sizes):
        p.error("need --queries >= 10, k >= 1, --dim >= 2, --threads >= 1 and every size >= k")
    for f in (a.vectors, a.query_file):
        if f and not os.path.isfile(f):
            p.error(f"no such file: {f}")
    if a.query_file and not a.vectors:
        p.error("--query-file needs --vectors")
    return a


def main(argv=None) -> int:
    a = parse(argv)
    # One thread per method: BLAS reads these at import, so set them before numpy loads.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    import faiss

    faiss.omp_set_num_threads(a.threads)
    from . import report, run

    result = run.run(sizes=a.sizes, workloads=a.workloads, k=a.k, queries=a.queries, dim=a.dim,
                     threads=a.threads, seed=a.seed, vectors=a.vectors, query_file=a.query_file,
                     log=lambda s: print(s, file=sys.stderr, flush=True))
    out = pathlib.Path(a.json or f"bench-results/engine-{time.strftime('%Y%m%dT%H%M%S')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    report.write_json(result, str(out))
    report.print_rich(result)
    if a.markdown:
        pathlib.Path(a.markdown).write_text(report.markdown(result))
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
