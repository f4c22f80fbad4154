"""`inv drift.check`: the live objects of a release against what the chart renders now (playbook §7).

`helm template <release> <chart> -n <ns> -f values.yaml -f values-<mode>.yaml` (the same
files `inv kind.deploy` installs with), then `kubectl get -f -` for the rendered objects,
then per object a unified diff of what the chart sets against the live object projected onto
the same fields (tasks/day2/diff.py): fields the server sets are ignored, Secret values are
compared by digest. A table row per object; `--diff` prints the diffs; `--json FILE` has them.

Exit 0 in sync, 5 drift found (an object differs or is missing), 1/2/127 as everywhere else.
"""

from __future__ import annotations

import json

import yaml
from invoke import Exit, task

from tasks.core.errors import OpsError
from tasks.core.plan import Step
from tasks.core.runner import format_argv
from tasks.core.versions import MINIMUMS
from tasks.day2.common import HELP, day2_session, finish
from tasks.day2.diff import unified
from tasks.day2.report import EXIT_DRIFT, FAIL, PASS, Check, Report


def object_key(obj: dict, namespace: str) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return obj.get("kind", "?"), meta.get("namespace") or namespace, meta.get("name", "?")


def render_argv(helm, release: str, chart, namespace: str, values_files) -> list[str]:
    argv = [helm.binary, "template", release, str(chart), "-n", namespace]
    for path in values_files:
        argv += ["-f", str(path)]
    return argv + helm.global_flags()


def rendered_objects(runner, argv) -> list[dict]:
    out = runner.run(argv, timeout=120).stdout
    return [doc for doc in yaml.safe_load_all(out) if isinstance(doc, dict) and doc.get("kind")]


def live_objects(kubectl, rendered: list[dict], namespace: str) -> dict:
    if not rendered:
        return {}
    listed = {"apiVersion": "v1", "kind": "List", "items": rendered}
    result = kubectl.run("get", "-f", "-", "-n", namespace, "-o", "json", "--ignore-not-found",
                         input=json.dumps(listed), check=False)
    if not result.ok and "NotFound" not in result.stderr:
        raise kubectl.runner.failure(result)
    data = json.loads(result.stdout) if result.stdout.strip() else {}
    items = data.get("items", [data] if data.get("kind") else [])
    return {object_key(o, namespace): o for o in items}


def run_drift(c, mode=None, namespaces=(), context=None, kubeconfig=None, evidence=False, json_path=None,
              show_diff=False, runner=None, console=None, sets=()) -> Report | None:
    if namespaces and len(namespaces) > 1:
        raise Exit("drift.check: a release lives in one namespace; give -n once", code=2)
    sets = list(sets) + ([f"namespace={namespaces[0]}"] if namespaces else [])
    with day2_session(c, "drift.check", mode, (), context, kubeconfig, evidence, runner, console, sets) as d:
        cfg = d.cfg
        ns = cfg.namespace
        values = [cfg.rel(p) for p in cfg.values_files if p.exists()]
        argv = render_argv(d.helm, cfg.release, cfg.rel(cfg.chart_dir), ns, values)
        report = Report(f"inv drift.check (release {cfg.release} in {ns})", d.target, [ns],
                        extra={"chart": str(cfg.rel(cfg.chart_dir)), "values": [str(v) for v in values]})
        got: dict = {}

        def render():
            try:
                d.s.evidence.tools["helm"] = str(d.s.runner.require("helm", MINIMUMS["helm"]))
            except OpsError:
                raise
            got["rendered"] = rendered_objects(d.s.runner, argv)
            return f"{len(got['rendered'])} objects"

        def compare():
            live = live_objects(d.kubectl, got["rendered"], ns)
            diffs = {}
            for obj in got["rendered"]:
                kind, ons, name = object_key(obj, ns)
                label = f"{kind}/{name}"
                current = live.get((kind, ons, name))
                if current is None:
                    report.add(Check("object", f"{ons}/{label}", FAIL, "missing: the chart renders it, "
                                                                        "the cluster does not have it"))
                    continue
                text = unified(obj, current, label)
                diffs[label] = text
                changed = sum(1 for line in text.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---"))
                report.add(Check("object", f"{ons}/{label}", FAIL if text else PASS,
                                 f"drifted ({changed} changed lines)" if text else "in sync",
                                 {"diff": text} if text else None))
            return f"{sum(1 for c in report.checks if c.status != PASS)} drifted or missing"

        plan = d.s.plan(f"inv drift.check (release {cfg.release}, namespace {ns}, context {d.target})")
        plan.add(Step("render the chart", render, "check", format_argv(argv)))
        plan.add(Step("compare with the live objects", compare, "check",
                      format_argv(d.kubectl.argv("get", "-f", "-", "-n", ns, "-o", "json", "--ignore-not-found"))
                      + "  (rendered objects on stdin; server-set fields ignored)"))
        if d.s.run_plan(plan).dry:
            return None
        finish(d, report, json_path)
        if show_diff:
            for check in report.checks:
                if check.evidence and check.evidence.get("diff"):
                    d.s.console.print(check.evidence["diff"], markup=False, highlight=False)
        return report


@task(iterable=["namespace", "set_"], help={**HELP, "namespace": "the release's namespace (default soma.namespace)",
                                            "diff": "print the unified diff of every drifted object"})
def check(c, mode=None, namespace=None, context=None, kubeconfig=None, evidence=False, json=None, diff=False,
          set_=None):
    """Diff the live objects of the release against the chart and values rendered now; exit 5 on drift."""
    report = run_drift(c, mode, namespace or (), context, kubeconfig, evidence, json, diff, sets=set_ or ())
    if report is not None and report.status != "pass":
        raise Exit(f"drift.check: drift in {sum(1 for c in report.checks if c.status != 'pass')} object(s)",
                   code=EXIT_DRIFT)
