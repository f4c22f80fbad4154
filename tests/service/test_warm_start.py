"""Fast from the first query: the kernels are cached on disk outside the repository and
compiled (or loaded) before /readyz says ready. Latencies are printed as figures (see
docs/benchmarks.md, "First recall after start"), never asserted."""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time

import httpx
import numpy as np
import pytest
import sh

from tests.client.server import Server, service_env

ROOT = pathlib.Path(__file__).parents[2]
PROBE = ("import time, numba; t = time.perf_counter(); "
         "from memory.engine import Engine, EngineConfig, jit; "
         "jit.warm_up(lambda: Engine(384, EngineConfig())); "
         "print(numba.config.CACHE_DIR, time.perf_counter() - t)")


def _env(cache_home: pathlib.Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOMA_MEMORY_") and k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(cache_home)
    return env


def _cache_files(root: pathlib.Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*") if p.suffix in (".nbi", ".nbc")}


def test_kernels_are_cached_outside_the_repository_and_loaded_on_the_next_start(tmp_path):
    repo_before = _cache_files(ROOT)
    env = _env(tmp_path)
    first = sh.Command(sys.executable)("-c", PROBE, _env=env, _return_cmd=True, _timeout=300)
    cache_dir, cold_s = first.stdout.decode().split()
    assert pathlib.Path(cache_dir) == tmp_path / "somastack" / "numba"
    written = _cache_files(pathlib.Path(cache_dir))
    assert any(f.endswith(".nbc") for f in written) and any("jit" in f for f in written)
    second = sh.Command(sys.executable)("-c", PROBE, _env=env, _return_cmd=True, _timeout=300)
    warm_s = float(second.stdout.decode().split()[1])
    # loaded, not compiled again: no kernel file was added or rewritten
    assert _cache_files(pathlib.Path(cache_dir)) == written
    assert _cache_files(ROOT) == repo_before  # nothing cached inside the checkout
    print(f"\nwarm_up: {float(cold_s):.2f} s compiling into an empty cache, {warm_s:.3f} s from the disk cache")


def _first_recalls(url: str, log: pathlib.Path, cache_home: pathlib.Path, n: int = 10_000) -> tuple[float, float]:
    """Start the service, fill it through bulk (no recall runs), then time recalls 1 and 2."""
    env = {**service_env(url), "XDG_CACHE_HOME": str(cache_home)}
    env.pop("NUMBA_CACHE_DIR", None)
    t0 = time.perf_counter()
    server = Server(env, str(log))
    ready_s = time.perf_counter() - t0
    token = {"Authorization": "Bearer client-alpha-rw"}
    try:
        rng = np.random.default_rng(7)
        with httpx.Client(base_url=server.url, headers=token, timeout=120) as http:
            for lo in range(0, n, 2000):  # BULK_MAX_ITEMS' default
                items = [{"vector": [float(x) for x in rng.normal(size=32)], "id": f"w{i}"}
                         for i in range(lo, min(n, lo + 2000))]
                assert http.post("/v1/memories/bulk", json={"items": items}).status_code == 201
            times = []
            for seed in (1, 2):
                body = {"vector": [float(x) for x in np.random.default_rng(seed).normal(size=32)], "k": 10}
                t = time.perf_counter()
                r = http.post("/v1/recall", json=body)
                times.append(time.perf_counter() - t)
                assert r.status_code == 200 and len(r.json()["results"]) == 10
        print(f"  start to ready {ready_s:.2f} s", end="")
        return times[0], times[1]
    finally:
        server.stop()


@pytest.mark.slow
def test_first_recall_after_start(tmp_path):
    from memory.store import Store
    cache_home = tmp_path / "cache"
    figures = {}
    for label in ("empty kernel cache", "kernels cached on disk"):
        url = f"sqlite:///{tmp_path / (label.replace(' ', '-') + '.db')}"
        Store(url).migrate()
        print(f"\n{label}:", end="")
        first, second = _first_recalls(url, tmp_path / f"{label}.log", cache_home)
        figures[label] = {"first_ms": round(first * 1e3, 1), "second_ms": round(second * 1e3, 1)}
        print(f", first recall {first * 1e3:.1f} ms, second {second * 1e3:.1f} ms")
    print(json.dumps(figures))
    assert set(figures) == {"empty kernel cache", "kernels cached on disk"}
