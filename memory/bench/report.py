"""Render results: a rich table for people, Markdown for docs/benchmarks.md, JSON for machines."""

from __future__ import annotations

import json

from .run import target_lines


def _f(x, fmt):
    return "n/a" if x is None else format(x, fmt)


COLUMNS = ("method", "p50 ms", "p95 ms", "QPS", "recall@10", "MB scanned/q", "floor ms", "build s")


def _cells(row: dict) -> list[str]:
    mb = None if row["bytes_per_query"] is None else row["bytes_per_query"] / 1e6
    name = row["method"] + (f" ({row['note']})" if row.get("note") else "")
    return [name, _f(row["p50_ms"], ".3f"), _f(row["p95_ms"], ".3f"), _f(row["qps"], ",.0f"),
            _f(row["recall_at_10"], ".4f"), _f(mb, ".2f"), _f(row.get("bandwidth_floor_ms"), ".3f"),
            _f(row["build_s"], ".1f")]


def print_rich(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    m = result["machine"]
    console.print(f"[bold]{m['cpu']}[/], {m['cores']} cores, {m['mem_gib']} GiB; numpy {m['numpy']}, "
                  f"faiss {m['faiss']}; 1 thread per method; read bandwidth {result['bandwidth_gbs']:.2f} GB/s; "
                  f"load average {m['loadavg_start'][0]:.2f} -> {m['loadavg_end'][0]:.2f}")
    for run in result["runs"]:
        t = Table(title=f"{run['workload']}  n={run['n']:,}  d={run['d']}  k={run['k']}  queries={run['queries']}")
        for c in COLUMNS:
            t.add_column(c, justify="left" if c == "method" else "right")
        for row in run["methods"]:
            t.add_row(*_cells(row))
        console.print(t)
    t = Table(title="targets")
    for c in ("run", "target", "value", "limit", "met"):
        t.add_column(c)
    for tag, name, value, limit, met in target_lines(result):
        t.add_row(tag, name, f"{value:.3f}", limit, "[green]yes[/]" if met else "[red]no[/]")
    console.print(t)


def markdown(result: dict) -> str:
    lines = []
    for run in result["runs"]:
        lines.append(f"#### {run['workload']}, n = {run['n']:,}, d = {run['d']}, k = {run['k']}, "
                     f"{run['queries']} queries\n")
        lines.append("| " + " | ".join(COLUMNS) + " |")
        lines.append("|" + "---|" * len(COLUMNS))
        for row in run["methods"]:
            lines.append("| " + " | ".join(_cells(row)) + " |")
        notes = []
        for r in run["methods"]:
            if "batch_qps_1t" in r:
                notes.append(f"{r['method']} as one batch of {run['queries']}: {r['batch_qps_1t']:,.0f} QPS on 1 "
                             f"thread, {r['batch_qps_2t']:,.0f} on 2")
            if "guard_recall" in r:
                s = r.get("guard_settle") or {}
                notes.append(f"guard: settled after {s.get('queries', 'n/a')} untimed queries in state "
                             f"{s.get('state', 'n/a')} at level {r.get('guard_level')} (beam {s.get('beam', 'n/a')}); "
                             f"recall of the checks {_f(r['guard_recall'], '.3f')} over {r['guard_samples']} checks; "
                             f"decisions (action, from, to, checks, lower, upper): {r.get('guard_decisions') or 'none'}; "
                             f"checks cost {_f(r.get('guard_check_share'), '.3f')} of query time; exact-for-speed "
                             f"{r.get('ann_exact_for_speed')}; engine cost around the index call "
                             f"{_f(r.get('ann_python_us'), '.1f')} us")
        if notes:
            lines.append("\n" + "; ".join(notes) + ".")
        lines.append("")
    lines.append("| run | target | value | limit | met |")
    lines.append("|---|---|---|---|---|")
    for tag, name, value, limit, met in target_lines(result):
        lines.append(f"| {tag} | {name} | {value:.3f} | {limit} | {'yes' if met else '**no**'} |")
    return "\n".join(lines) + "\n"


def write_json(result: dict, path: str) -> None:
    with open(path, "w") as fh:
        json.dump(result, fh, indent=1, default=float)


def emit(result: dict, text: str, json_path: str | None, markdown_path: str | None) -> None:
    """A service benchmark's ending: its report printed, and written as JSON and Markdown
    where asked."""
    print(text)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(result, f, indent=1)
    if markdown_path:
        with open(markdown_path, "w") as f:
            f.write(text + "\n")


def add_data_argument(ap) -> None:
    ap.add_argument("--data", choices=("random", "text"), default="random",
                    help="random unit vectors, or MiniLM embeddings of the docstring corpus")
