"""The service benchmarks run end to end on tiny data (figures printed, never asserted) and
the task builds the exact command lines it runs."""

from __future__ import annotations

import argparse

from memory.bench import coldstart, load
from tasks.memory import cold_argv, load_argv


def test_load_bench_measures_recall_with_wrk_against_a_real_server():
    args = argparse.Namespace(n=1500, dim=16, k=5, queries=8, seconds=1, concurrency=[1, 4],
                              configs="waitress:1x2", ann="", ready_timeout=300, seed=1, data="random")
    r = load.run(args)
    runs = r["runs"]["waitress:1x2"]["runs"]
    assert set(runs) == {"ann@1", "ann@4", "exact@1", "exact@4"}
    for x in runs.values():  # every request answered 200: the Lua bodies are valid recalls
        assert x["requests"] > 0 and x["non_2xx"] == 0 and x["socket_errors"] == 0
    text = load.report(r)
    assert "| waitress:1x2 | exact | 4 |" in text and "Peer: chromadb" in text


def test_cold_start_bench_loads_what_it_filled():
    args = argparse.Namespace(sizes="3000", backends="sqlite", dim=16, namespaces=2, database_url="",
                              child="", json="", markdown="")
    r = coldstart.run(args)
    x = r["backends"]["sqlite"]["3000"]
    assert x["rows"] == 3000 and x["peak_rss_mb"] >= x["rss_before_mb"] > 0
    assert "| sqlite | 3,000 |" in coldstart.report(r)


def test_bench_task_command_lines():
    assert load_argv(sizes="10000,100000", dim=384, k=10, seed=0, json_path="l.json", markdown=None) == [
        "-m", "memory.bench.load", "-n", "100000", "--dim", "384", "-k", "10", "--seed", "0", "--json", "l.json"]
    assert cold_argv(sizes="100000,1000000", dim=384, json_path=None, markdown="c.md") == [
        "-m", "memory.bench.coldstart", "--sizes", "100000,1000000", "--dim", "384", "--markdown", "c.md"]
