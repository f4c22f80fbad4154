"""The benchmark runs end to end on tiny data (figures are printed, never asserted) and the
task builds the exact command line it runs."""

import json

from memory.bench import report, run
from tasks.memory import bench_argv


def test_bench_runs_every_method_and_exact_ones_are_exact(tmp_path):
    logs = []
    result = run.run(sizes=[400], workloads=["uniform", "agent"], k=5, queries=12, dim=16, threads=1, seed=3,
                     log=logs.append)
    assert [r["workload"] for r in result["runs"]] == ["uniform", "agent"]
    for r in result["runs"]:
        by = {m["method"]: m for m in r["methods"]}
        assert set(by) >= {"numpy scan f32", "FAISS IndexFlatIP", "FAISS SQ fp16", "engine f32 exact",
                           "engine f32 exact, no pruning", "engine f32 exact, no int8 codes", "engine f16 exact",
                           "engine ANN hnsw + guard", "hnswlib raw (beam=64)"}
        for name in ("numpy scan f32", "FAISS IndexFlatIP", "engine f32 exact", "engine f32 exact, no pruning",
                     "engine f32 exact, no int8 codes"):
            assert by[name]["recall_at_10"] == 1.0, name
        assert set(r["ratios"]) >= {"exact_f32_vs_faiss_flat", "f16_vs_our_f32", "ann_qps_vs_raw_hnswlib",
                                    "ann_qps_vs_raw_same_beam", "batch_speedup_2t", "codes_vs_no_codes"}
        assert by["FAISS IndexFlatIP"]["batch_qps_2t"] > 0 and by["engine f32 exact"]["batch_qps_2t"] > 0
    out = tmp_path / "r.json"
    report.write_json(result, str(out))
    assert json.loads(out.read_text())["runs"][1]["ratios"]["pruned_vs_faiss_flat"] > 0
    md = report.markdown(result)
    assert "#### agent, n = 400" in md and "| run | target |" in md


def test_bench_task_command_line():
    argv = bench_argv(sizes="10000", workloads="agent", queries=50, dim=384, k=10, threads=1, seed=0,
                      vectors="X.npy", query_file="Q.npy", json_path="out.json", markdown=None)
    assert argv == ["-m", "memory.bench", "--sizes", "10000", "--workloads", "agent", "--queries", "50",
                    "--dim", "384", "-k", "10", "--threads", "1", "--seed", "0", "--vectors", "X.npy",
                    "--query-file", "Q.npy", "--json", "out.json"]
