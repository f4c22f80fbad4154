"""`inv chart.lint | chart.render | chart.check | chart.images`: the soma-infra chart through
the Helm engine in-process (no helm binary). The work is in tasks/core/chart.py; these tasks
only read the configuration and format the results.

    inv chart.lint [--mode=X]            schema + `helm lint` per mode (all modes by default)
    inv chart.render --mode=X [--out D]  the chart's own manifests, to stdout or files in D
    inv chart.check [--mode=X]           lint, render and validate every manifest against the
                                         Kubernetes schemas (1.30, strict), with the mode's
                                         services and with every dependency condition false
    inv chart.images --mode=X            the container images the values pin
    inv chart.lock [--check]             write Chart.lock from Chart.yaml's pinned versions with
                                         helm's digest (ruamel.yaml); --check only says whether
                                         the committed lock is in sync
    inv chart.upstream-keys              check every mode's keys under each alias (and the
                                         CloudNativePG operator's values) against upstream's
                                         files in SOMA_UPSTREAM_DIR, then record them
                                         (infra/helm/upstream-keys.json) for checks without them

Every failure is one line and a non-zero exit (2 for a bad mode or flag, 1 otherwise).
"""

from __future__ import annotations

from contextlib import contextmanager

from invoke import task
from rich.console import Console
from rich.table import Table

from tasks.core import chartlock
from tasks.core.chart import KUBE_VERSION, check_values, images, lint, render, validate_manifests, write_rendered
from tasks.core.cli import exits
from tasks.core.config import MODES, SomaConfig, check_mode, soma_config


def _config(c, mode: str = "", **flags: str) -> SomaConfig:
    """The effective `soma` config (invoke.yaml, mode defaults, SOMA_* env, then flags)."""
    return soma_config(c, mode=mode or None, overrides={k: v or None for k, v in flags.items()})


def _modes(mode: str) -> list[str]:
    return [check_mode(mode)] if mode else list(MODES)


@contextmanager
def _printed(console: Console, table: Table):
    """Print the table however the block ends: the modes that passed before a failure count."""
    try:
        yield
    finally:
        console.print(table)


@task(name="lint", help={"mode": "one mode (default: all five)", "chart": "chart directory (default: soma.chart)",
                         "subcharts": "--no-subcharts: every dependency condition false"})
def lint_task(c, mode="", chart="", subcharts=True):
    """Check each mode's values against values.schema.json and run `helm lint` on them."""
    console = Console()
    table = Table("mode", "schema", "helm lint", "ignored", title="soma-infra lint")
    with exits("chart"), _printed(console, table):
        cfg = _config(c, chart=chart)
        for m in _modes(mode):
            report = lint(m, cfg.chart_dir, namespace=cfg.namespace, subcharts=subcharts)
            info = "; ".join(msg["error"] for msg in report.messages) or "clean"
            table.add_row(m, "ok", info, "dependency tarballs not vendored" if report.ignored else "")


@task(name="render", help={"mode": "mode to render (default: soma.mode)", "out": "write one file per template here",
                           "release": "release name (default: soma.release)",
                           "namespace": "default: soma.namespace", "chart": "chart directory (default: soma.chart)",
                           "subcharts": "--no-subcharts: every dependency condition false"})
def render_task(c, mode="", out="", release="", namespace="", chart="", subcharts=True):
    """Render the chart's own templates for a mode (like `helm template`, subcharts not vendored)."""
    with exits("chart"):
        cfg = _config(c, mode, release=release, namespace=namespace, chart=chart)
        rendered = render(cfg.mode, cfg.chart_dir, release=cfg.release, namespace=cfg.namespace,
                          subcharts=subcharts)
        if out:
            for path in write_rendered(rendered, out):
                print(path)
        else:
            print(rendered.stream(), end="")


@task(help={"mode": "one mode (default: all five)", "kube_version": f"default {KUBE_VERSION}",
            "chart": "chart directory (default: soma.chart)"})
def check(c, mode="", kube_version=KUBE_VERSION, chart=""):
    """Schema, lint, render and strict Kubernetes validation of every mode, with the mode's
    services and with every dependency condition false."""
    console = Console()
    table = Table("mode", "subcharts", "schema", "lint", "manifests", f"k8s {kube_version}",
                  title="soma-infra check")
    with exits("chart"), _printed(console, table):
        cfg = _config(c, chart=chart)
        for m in _modes(mode):
            for subcharts in (True, False):
                lint(m, cfg.chart_dir, kube_version=kube_version, namespace=cfg.namespace, subcharts=subcharts)
                docs = render(m, cfg.chart_dir, release=cfg.release, namespace=cfg.namespace,
                              subcharts=subcharts).documents()
                checked = validate_manifests(docs, kube_version)
                # Strimzi's kinds have no Kubernetes schema (their CRDs are the operator's).
                verdict = "valid" if checked == len(docs) else f"valid ({len(docs) - checked} Strimzi CRs unchecked)"
                table.add_row(m, "as the mode sets" if subcharts else "all off", "ok", "ok", str(len(docs)), verdict)


@task(name="images", help={"mode": "mode (default: soma.mode)", "chart": "chart directory (default: soma.chart)"})
def images_task(c, mode="", chart=""):
    """Print the container images a mode's values pin, one per line."""
    with exits("chart"):
        cfg = _config(c, mode, chart=chart)
        values = check_values(cfg.mode, cfg.chart_dir)
    for image in images(values):
        print(image)


@task(name="lock", help={"chart": "chart directory (default: soma.chart)",
                         "check": "change nothing; fail when Chart.lock is out of sync with Chart.yaml"})
def lock_task(c, chart="", check=False):
    """Write Chart.lock for Chart.yaml's pinned dependencies, with the digest helm checks."""
    with exits("chart"):
        cfg = _config(c, chart=chart)
        if check:
            problem = chartlock.lock_problem(cfg.chart_dir)
            if problem:
                raise chartlock.ChartError(problem)
            print(f"{cfg.rel(cfg.chart_dir)}/Chart.lock is in sync with Chart.yaml")
            return
        changed = chartlock.write_lock(cfg.chart_dir)
        print(f"{cfg.rel(cfg.chart_dir)}/Chart.lock " + ("written" if changed else "unchanged"))
        for dep in chartlock.to_fetch(cfg.chart_dir):
            print(f"  to fetch: {dep.name} {dep.version} from {dep.repository}")


@task(name="upstream-keys", help={"chart": "chart directory (default: soma.chart)"})
def upstream_keys_task(c, chart=""):
    """Check every mode's keys under each alias, and the operator release's values, against
    the pinned versions' upstream files (SOMA_UPSTREAM_DIR), then record the keys that passed."""
    import json

    from tasks.core import chart as chart_core, upstream
    from tasks.core.operator import Operator
    from tasks.core.values import read_values_file

    with exits("chart"):
        cfg = _config(c, chart=chart)
        root = upstream.upstream_dir()
        sets: dict[tuple[str, str], list] = {}
        for mode in MODES:
            values = chart_core.merged_values(mode, cfg.chart_dir)
            for dep in chart_core.dependencies(cfg.chart_dir):
                sets.setdefault((dep["name"], str(dep["version"])), []).append((mode, values.get(dep["key"]) or {}))
        op = Operator.from_config(cfg)
        if op is not None:
            sets.setdefault((op.chart, op.version), []).append(("operator release", read_values_file(op.values)))
        record, failed = {}, []
        for (name, version), parts in sets.items():
            folder = upstream.chart_folder(name, version, root)
            if folder is None:
                failed.append(f"{name} {version}: no {root / 'charts' / f'{name}-{version}'}")
                continue
            keys: set[str] = set()
            for where, ours in parts:
                found = chart_core.upstream_problems(name, version, ours, root, {})
                failed += [f"{name} {version} ({where}): {p}" for p in found or []]
                keys.update(upstream.our_keys(ours))
            record[f"{name}-{version}"] = upstream.record_entry(folder, keys)
            print(f"{name} {version}: {len(keys)} keys checked against "
                  f"{record[f'{name}-{version}']['source'].get('repository', folder.name)}")
        if failed:
            raise chartlock.ChartError("not recorded:\n  " + "\n  ".join(failed))
        upstream.RECORD.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        print(f"{cfg.rel(upstream.RECORD)} written")
