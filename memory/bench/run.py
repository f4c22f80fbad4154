"""Run every method on every workload and size; collect figures and ratios."""

from __future__ import annotations

import gc
import math
import os
import platform
import time

import numpy as np

from memory.engine.importance import AdaptiveImportance

from . import datasets, measure, methods

HNSW_M, HNSW_EFC, EF = 16, 100, 64
SETTLE_QUERIES = 20_000  # at most this many untimed queries for the recall guard to decide


def machine() -> dict:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    import faiss
    import hnswlib  # noqa: F401

    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "faiss": faiss.__version__, "threads": int(os.environ.get("OMP_NUM_THREADS", "0") or 0),
            "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "loadavg_start": os.getloadavg()}


def _norms(w) -> np.ndarray | None:
    if w.importance is None:
        return None
    imp = AdaptiveImportance()
    for r in w.importance.tolist():
        imp.observe(r)
    return imp.map_many(w.importance)


def run_one(w, k: int, threads: int, log) -> dict:
    """All methods on one workload. Queries run on `threads`; index builds (not timed) on every core."""
    n, d = w.vectors.shape
    build_threads = max(threads, os.cpu_count() or 1)
    ids = [f"m{i}" for i in range(n)]
    w.norms = _norms(w)
    weights, truth = measure.ground_truth(w, k)
    unit = w.vectors / np.linalg.norm(w.vectors, axis=1, keepdims=True)
    folded = np.ascontiguousarray((unit * weights[:, None]) if w.weighted else unit, dtype=np.float32)
    unit = np.ascontiguousarray(unit, dtype=np.float32)
    builders = [
        ("numpy scan f32", lambda: methods.numpy_method(folded, k)),
        ("FAISS IndexFlatIP", lambda: methods.faiss_flat(folded, k)),
        ("FAISS SQ fp16", lambda: methods.faiss_sq16(folded, k)),
        ("hnswlib raw", lambda: methods.hnsw_raw(unit, k, m=HNSW_M, ef_construction=HNSW_EFC, ef=EF, threads=build_threads)),
        ("engine f32 exact, no pruning", lambda: methods.engine_method(
            "engine f32 exact, no pruning", w, ids, k, norms=w.norms, threads=threads, pruning=False,
            quantized_scan=False)),
        ("engine f32 exact, no int8 codes", lambda: methods.engine_method(
            "engine f32 exact, no int8 codes", w, ids, k, norms=w.norms, threads=threads, quantized_scan=False)),
        ("engine f32 exact", lambda: methods.engine_method(
            "engine f32 exact", w, ids, k, norms=w.norms, threads=threads)),
        ("engine f16 exact", lambda: methods.engine_method(
            "engine f16 exact", w, ids, k, norms=w.norms, threads=threads, dtype="float16")),
        ("engine ANN hnsw + guard", lambda: methods.engine_method(
            "engine ANN hnsw + guard", w, ids, k, norms=w.norms, threads=build_threads, ann="hnsw", ann_min_rows=0,
            ann_ef=EF, hnsw_m=HNSW_M, hnsw_ef_construction=HNSW_EFC)),
    ]
    built = []
    for label, build in builders:
        t = time.perf_counter()
        m = build()
        built.append((label, m, time.perf_counter() - t))
        log(f"  {w.name:9s} n={n:>8,d} built {m.name} in {built[-1][2]:.1f} s")
    by_label = {label: m for label, m, _ in built}
    settle = settle_guard(by_label["engine ANN hnsw + guard"], w.queries, k, log)
    # the peer doing the same index work as the engine: raw hnswlib with the guard's beam
    built.insert(4, ("hnswlib raw, engine's beam", methods.hnsw_beam(by_label["hnswlib raw"], k, settle["beam"]), 0.0))
    # Interleaved timing: query i runs through every method (in a rotating order) before
    # query i + 1, so a burst of load from other processes hits all methods alike.
    ms = [m for _, m, _ in built]
    for m in ms:
        measure.warm_up(m.query, w.queries)
        if hasattr(m, "reset"):
            m.reset()
    lat = measure.interleaved(ms, w.queries)
    rows = []
    for (label, m, build_s), t in zip(built, lat):
        found = [m.query(q) for q in w.queries]   # answers of one more pass, for recall
        per_q_bytes = m.bytes_per_query()
        row = {"method": m.name, "family": m.family, "build_s": round(build_s, 2),
               "p50_ms": float(np.percentile(t, 50) * 1e3), "p95_ms": float(np.percentile(t, 95) * 1e3),
               "qps": float(1.0 / t.mean()), "recall_at_10": measure.recall_at_k(found, truth, k),
               "bytes_per_query": per_q_bytes, "note": m.note}
        if m.batch is not None and label in ("engine f32 exact", "FAISS IndexFlatIP"):
            for th in (1, 2):  # the whole query set as one batch, on 1 and 2 threads
                t0 = time.perf_counter()
                m.batch(w.queries, threads=th)
                row[f"batch_qps_{th}t"] = len(w.queries) / (time.perf_counter() - t0)
            row["batch_qps"] = row["batch_qps_1t"]
        if label.startswith("engine ANN"):
            eng = m.engine
            eng.drain()
            st = eng.stats()
            row["guard_recall"] = st["ann_recall_at_k"]
            row["guard_fallback"] = st["ann_fallback_exact"]
            row["guard_samples"] = st["ann_recall_samples"]
            row["guard_widenings"] = st["ann_widenings"]
            row["guard_level"] = st["ann_widen_level"]
            row["guard_settle"] = settle
            row["guard_decisions"] = [(d["action"], d["from_level"], d["to_level"], d["samples"],
                                       round(d["lower"], 4), round(d["upper"], 4))
                                      for d in st["ann_guard"]["decisions"]]
            row["guard_check_share"] = st["ann_guard"]["check_share"]
            row["ann_python_us"] = st["ann_python_us"]
            row["ann_exact_for_speed"] = st["ann_exact_for_speed"]
        rows.append(row)
        log(f"  {w.name:9s} n={n:>8,d} {m.name:30s} p50 {row['p50_ms']:8.3f} ms  recall {row['recall_at_10']:.4f}")
    for m in ms:
        m.close()
    del built, ms
    gc.collect()
    return {"workload": w.name, "n": n, "d": d, "k": k, "queries": len(w.queries), "methods": rows,
            "ratios": ratios(rows, w.weighted)}


def settle_guard(m, queries: np.ndarray, k: int, log) -> dict:
    """Untimed queries until the recall guard has decided about its level (confirmed it,
    or fallen back), as a long-running service would have, at most SETTLE_QUERIES. Returns
    what happened and the beam (ef) the engine then searches with."""
    eng = m.engine
    cfg = eng.config
    t0 = time.perf_counter()
    done = 0
    while done < SETTLE_QUERIES:
        for q in queries:
            m.query(q)
        done += len(queries)
        eng.drain()
        st = eng.stats()["ann_guard"]
        lv = st["evidence"].get(st["level"], {})
        if st["state"] == "exact_fallback" or (lv.get("samples", 0) >= st["min_samples"] and lv["lower"] >= st["floor"]):
            break
    st = eng.stats()
    out = {"queries": done, "seconds": round(time.perf_counter() - t0, 1), "state": st["ann_guard"]["state"],
           "level": st["ann_widen_level"],
           "beam": max(cfg.ann_ef, cfg.ann_candidates * k) * 2 ** st["ann_widen_level"],
           "evidence": st["ann_guard"]["evidence"].get(st["ann_widen_level"])}
    log(f"  guard settled after {done} queries: {out['state']} at level {out['level']} (beam {out['beam']})")
    return out


def ratios(rows: list[dict], weighted: bool) -> dict:
    by = {r["method"]: r for r in rows}
    faiss = by["FAISS IndexFlatIP"]["p50_ms"]
    f32 = by["engine f32 exact"]["p50_ms"]
    raw = next(r for r in rows if r["method"].startswith("hnswlib raw (ef"))
    beam = next(r for r in rows if r["method"].startswith("hnswlib raw (beam"))
    ann = by["engine ANN hnsw + guard"]
    out = {
        "exact_f32_vs_faiss_flat": f32 / faiss,
        "codes_vs_no_codes": f32 / by["engine f32 exact, no int8 codes"]["p50_ms"],
        "f16_vs_our_f32": by["engine f16 exact"]["p50_ms"] / f32,
        "ann_qps_vs_raw_hnswlib": ann["qps"] / raw["qps"],
        "ann_qps_vs_raw_same_beam": ann["qps"] / beam["qps"],
        "ann_recall_at_10": ann["recall_at_10"],
        "raw_same_beam_recall_at_10": beam["recall_at_10"],
        "ann_python_us": ann.get("ann_python_us"),
    }
    fl, ours = by["FAISS IndexFlatIP"], by["engine f32 exact"]
    if "batch_qps_1t" in fl and "batch_qps_1t" in ours:
        for th in (1, 2):
            out[f"batch_{th}t_vs_faiss_batch_{th}t"] = ours[f"batch_qps_{th}t"] / fl[f"batch_qps_{th}t"]
        out["batch_speedup_2t"] = ours["batch_qps_2t"] / ours["batch_qps_1t"]
        out["faiss_batch_speedup_2t"] = fl["batch_qps_2t"] / fl["batch_qps_1t"]
    if weighted:
        out["pruned_vs_faiss_flat"] = f32 / faiss
    return out


def run(*, sizes, workloads, k, queries, dim, threads, seed, vectors=None, query_file=None, log=print) -> dict:
    rng = np.random.default_rng(seed)
    result = {"machine": machine(), "bandwidth_gbs": None, "runs": [], "started": time.time()}
    bw = measure.read_bandwidth()
    result["bandwidth_gbs"] = bw / 1e9
    log(f"read bandwidth (1 thread): {bw / 1e9:.2f} GB/s")
    plan = []
    if vectors:
        plan.append(lambda: datasets.external(vectors, query_file, queries, rng))
    else:
        make = {"uniform": datasets.uniform, "clustered": datasets.clustered, "agent": datasets.agent_memory,
                "text": lambda n, d, m, rng: datasets.text(n, d, m, rng, log=log)}
        for n in sizes:
            for name in workloads:
                plan.append(lambda n=n, name=name: make[name](n, dim, queries, rng))
    for build in plan:
        w = build()
        run_ = run_one(w, k, threads, log)
        for row in run_["methods"]:
            b = row["bytes_per_query"]
            row["bandwidth_floor_ms"] = None if b is None else b / bw * 1e3
        result["runs"].append(run_)
        del w
        gc.collect()
    result["machine"]["loadavg_end"] = os.getloadavg()
    result["seconds"] = time.time() - result["started"]
    return result


def target_lines(result: dict) -> list[tuple[str, str, float, str, bool]]:
    """(workload@n, target, value, limit, met) for the issue's four targets."""
    out = []
    for r in result["runs"]:
        tag = f"{r['workload']}@{r['n']:,}"
        ra = r["ratios"]
        out.append((tag, "exact f32 p50 / FAISS flat p50", ra["exact_f32_vs_faiss_flat"], "<= 0.3",
                    ra["exact_f32_vs_faiss_flat"] <= 0.3))
        if "pruned_vs_faiss_flat" in ra:
            out.append((tag, "pruned exact p50 / FAISS flat p50", ra["pruned_vs_faiss_flat"], "<= 0.5",
                        ra["pruned_vs_faiss_flat"] <= 0.5))
        out.append((tag, "f16 p50 / our f32 p50", ra["f16_vs_our_f32"], "<= 0.6", ra["f16_vs_our_f32"] <= 0.6))
        out.append((tag, "ANN QPS / raw hnswlib QPS (ef 64)", ra["ann_qps_vs_raw_hnswlib"], ">= 0.9",
                    ra["ann_qps_vs_raw_hnswlib"] >= 0.9))
        out.append((tag, "ANN QPS / raw hnswlib QPS, same beam", ra["ann_qps_vs_raw_same_beam"], ">= 0.9",
                    ra["ann_qps_vs_raw_same_beam"] >= 0.9))
        if isfinite(ra.get("ann_python_us")):
            out.append((tag, "engine cost around the index call, us", ra["ann_python_us"], "<= 20",
                        ra["ann_python_us"] <= 20))
        if "batch_speedup_2t" in ra:
            out.append((tag, "search_batch QPS / FAISS batch QPS, 1 thread", ra["batch_1t_vs_faiss_batch_1t"],
                        ">= 1.0", ra["batch_1t_vs_faiss_batch_1t"] >= 1.0))
            out.append((tag, "search_batch QPS / FAISS batch QPS, 2 threads", ra["batch_2t_vs_faiss_batch_2t"],
                        ">= 1.0", ra["batch_2t_vs_faiss_batch_2t"] >= 1.0))
            out.append((tag, "search_batch speed-up 2 threads / 1", ra["batch_speedup_2t"], ">= 1.5",
                        ra["batch_speedup_2t"] >= 1.5))
        out.append((tag, "ANN recall@10", ra["ann_recall_at_10"], ">= 0.95", ra["ann_recall_at_10"] >= 0.95))
    return out


def isfinite(x) -> bool:
    return x is not None and math.isfinite(x)
