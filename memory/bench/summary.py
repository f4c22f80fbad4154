"""`python -m memory.bench.summary DIR`: issue 13's table from one suite run (memory/bench/suite.py).

Reads the JSON every step of the suite wrote into DIR and prints one Markdown row per
measure and dataset: this project, the peer measured in the same run, the ratio, the target
and whether it is met. A step that did not run or failed is shown as missing, not guessed.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys


def _load(folder: pathlib.Path, name: str) -> dict | None:
    try:
        return json.loads((folder / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None


def _met(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "**no**")


def rows(folder: pathlib.Path) -> list[tuple[str, str, str, str, str, str, str]]:
    """(measure, data, ours, peer, ratio, target, met)."""
    out = []
    for step, data in (("http-sqlite", "text"), ("http-postgresql", "text"), ("http-postgresql-random", "random")):
        r = _load(folder, step)
        if r is None:
            out.append((f"bulk ingest over HTTP ({step})", data, "not run", "", "", "", "-"))
            continue
        db = r.get("database", "postgresql")
        target = 25_000 if db == "sqlite" else 40_000
        alone = r["db_alone_per_s"]
        peer_name = "SQLite executemany alone" if db == "sqlite" else "binary COPY alone"
        for label, key in (("binary format", "http_binary_ingest_per_s"), ("vector_b64", "http_bulk_ingest_per_s")):
            if key in r:
                ours = r[key]
                out.append((f"bulk ingest over HTTP, {label}, {db}", data, f"{ours:,.0f}/s",
                            f"{peer_name} {alone:,.0f}/s", f"{ours / alone:.2f}x", f"≥ {target:,}/s",
                            _met(ours >= target)))
        ch = r.get("chromadb")
        if isinstance(ch, dict) and "http_binary_ingest_per_s" in r:
            ours = r["http_binary_ingest_per_s"]
            out.append((f"bulk ingest over HTTP, binary format, {db}, vs chromadb", data, f"{ours:,.0f}/s",
                        f"chromadb add in-process {ch['ingest_per_s']:,.0f}/s",
                        f"{ours / ch['ingest_per_s']:.1f}x", "", "-"))
        if db == "postgresql":
            p50, p95 = r["single_store_b64_ms"]
            peer = ""
            if "db_commit_ms" in r:
                peer = "one-row INSERT + COMMIT alone p50 / p95 %.2f / %.2f ms" % tuple(r["db_commit_ms"])
            out.append(("single store over HTTP (vector_b64), PostgreSQL, p50 / p95", data,
                        f"{p50:.2f} / {p95:.2f} ms", peer,
                        f"{p95 / r['db_commit_ms'][1]:.1f}x p95" if "db_commit_ms" in r else "",
                        "p95 ≤ 3 ms", _met(p95 <= 3.0)))
    eng = _load(folder, "engine")
    for run in (eng or {}).get("runs", []):
        ra = run["ratios"]
        data = "text" if run["workload"] == "text" else "random"
        name = f"{run['workload']} {run['n']:,}"
        out.append((f"ANN QPS vs raw hnswlib (ef 64), {name}", data, f"recall {ra.get('ann_recall_at_10', 0):.3f}",
                    "raw hnswlib", f"{ra['ann_qps_vs_raw_hnswlib']:.2f}x", "≥ 0.9x", _met(ra["ann_qps_vs_raw_hnswlib"] >= 0.9)))
        out.append((f"ANN QPS vs raw hnswlib at the guard's beam, {name}", data,
                    f"recall {ra.get('ann_recall_at_10', 0):.3f} vs {ra.get('raw_same_beam_recall_at_10', 0):.3f}",
                    "raw hnswlib, same beam", f"{ra['ann_qps_vs_raw_same_beam']:.2f}x", "≥ 0.9x",
                    _met(ra["ann_qps_vs_raw_same_beam"] >= 0.9)))
        out.append((f"Python around an ANN query, {name}", data, f"{ra['ann_python_us']:.0f} µs", "", "",
                    "≤ 20 µs", _met(ra["ann_python_us"] <= 20)))
        out.append((f"exact float32 p50 vs FAISS IndexFlatIP, {name}", data, "identical to brute force",
                    "FAISS IndexFlatIP", f"{ra['exact_f32_vs_faiss_flat']:.2f}x", "≤ 0.3x",
                    _met(ra["exact_f32_vs_faiss_flat"] <= 0.3)))
    for step, data in (("load", "text"), ("load-random", "random")):
        r = _load(folder, step)
        if r is None:
            continue
        ch = r.get("chromadb") or {}
        for server, res in r["runs"].items():
            runs = res["runs"]
            ann1 = runs.get("ann@1")
            best = max((v["rps"] for k, v in runs.items() if k.startswith("ann@")), default=0.0)
            if ann1:
                out.append((f"ANN recall over HTTP at 100k, {server}, p50 at c=1 / best req/s (c 1, 8, 32)", data,
                            f"{ann1['p50_ms']:.2f} ms / {best:,.0f}/s",
                            f"chromadb in-process p50 {ch.get('p50_ms', float('nan')):.2f} ms" if ch else "",
                            f"{ann1['p50_ms'] / ch['p50_ms']:.1f}x p50" if ch.get("p50_ms") else "",
                            "p50 ≤ 1.5 ms, ≥ 3k/s", _met(ann1["p50_ms"] <= 1.5 and best >= 3000)))
    cold = _load(folder, "cold")
    for backend, sizes in (cold or {}).get("backends", {}).items():
        for n, c in sizes.items():
            out.append((f"cold start (index load), {backend}, {int(n):,} rows", "random",
                        f"{c['seconds']:.1f} s, peak RSS {c['peak_rss_mb']:,.0f} MB",
                        f"reading the rows alone {c['peer_read_s']:.1f} s", f"{c['seconds'] / c['peer_read_s']:.1f}x",
                        "≤ 10 s at 1M" if int(n) >= 1_000_000 else "",
                        _met(c["seconds"] <= 10) if int(n) >= 1_000_000 else "-"))
    return out


def markdown(folder: pathlib.Path) -> str:
    lines = ["| measure | data | this project | peer (same run) | ratio | target | met |",
             "|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows(folder)]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="memory.bench.summary", description=__doc__.split("\n\n")[0])
    p.add_argument("folder", help="a suite folder (python -m memory.bench.suite --out)")
    a = p.parse_args(argv)
    print(markdown(pathlib.Path(a.folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
