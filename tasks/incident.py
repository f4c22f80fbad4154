"""`inv incident.bundle`: everything an incident needs, in one redacted .tar.gz (playbook §8.3).

For the shared-infra namespace (soma.namespace) and each `-n` app namespace: every workload
kind, PVCs, NetworkPolicies, ExternalSecrets and SecretStores, RBAC, events sorted by time and
the logs of every container (current and previous, `--since`, `--log-bytes` each); then PVs,
nodes and their conditions, the Helm release's history, values and manifest, and the service
probes (PostgreSQL, PgBouncer, Kafka, Vault, the memory service; tasks/day2/probes.py).

The archive holds `manifest.json` (each file's size, sha256 and collector; every collector's
errors and timing) and `analysis.json` (the analyzers of tasks/day2/analyzers.py, each
pass/warn/fail with its evidence). A collector that fails is recorded and the rest go on.
One redaction policy (tasks/day2/redaction.py) is applied to every file. The table shows the
analysis; `--json FILE` writes the same analysis. Exit 0 pass, 3 warn, 4 fail.
"""

from __future__ import annotations

import datetime as dt
import pathlib

from invoke import Exit, task

from tasks.core.plan import Step
from tasks.core.runner import format_argv
from tasks.day2 import collectors, probes
from tasks.day2.analyzers import ANALYZERS, analyze
from tasks.day2.bundle import Bundle
from tasks.day2.common import HELP, day2_session, endpoint_flags, endpoint_help, finish, raise_for
from tasks.day2.redaction import Policy
from tasks.day2.report import Check, Report


def default_output(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"incident-{now.strftime('%Y%m%dT%H%M%SZ')}.tar.gz"


def run_bundle(c, mode=None, namespaces=(), context=None, kubeconfig=None, output=None, since=None,
               log_bytes=None, evidence=False, json_path=None, runner=None, console=None, sets=(),
               endpoints=None) -> Report | None:
    overrides = {"bundle.since": since, "bundle.log_bytes": log_bytes,
                 **{f"endpoints.{k}": v for k, v in (endpoints or {}).items()}}
    with day2_session(c, "incident.bundle", mode, namespaces, context, kubeconfig, evidence, runner, console,
                      sets, overrides, inputs={"output": output}) as d:
        cfg, st = d.cfg, d.settings
        since, limit = st.bundle["since"], int(st.bundle["log_bytes"])
        out = pathlib.Path(output or default_output())
        bundle = Bundle(Policy())
        bundle.policy.learn(*d.s.runner.redact.secrets)
        facts: dict = {}
        report = Report(f"inv incident.bundle ({', '.join(d.namespaces)})", d.target, d.namespaces)

        def collect_namespace(ns):
            def go():
                bundle.run("kube-objects", collectors.kube_objects, d.view, ns)
                bundle.run("events", collectors.events, d.view, ns)
                bundle.run("logs", collectors.logs, d.kubectl, d.view, ns, since, limit)
                return f"{len(bundle.files)} files, {len(bundle.errors)} errors so far"
            return go

        def collect_cluster():
            bundle.run("cluster-objects", collectors.cluster_objects, d.view)
            bundle.run("helm", collectors.helm_release, d.helm, cfg.release, cfg.namespace)
            return f"{len(bundle.files)} files"

        def probe():
            facts["probes"] = probes.run_all(d.s.runner, st.endpoints, kafka_groups=st.kafka_groups)
            bundle.run("probes", collectors.probes, facts["probes"])
            return ", ".join(f"{k}: {'skip' if v is None else 'error' if 'error' in v else 'ok'}"
                             for k, v in facts["probes"].items())

        def analyse_and_write():
            def safe(fn, default):
                try:
                    return fn()
                except Exception as exc:  # recorded in the manifest by the collector already
                    bundle.error("analysis", str(exc))
                    return default
            facts["pods"] = safe(lambda: d.view.pods(d.namespaces), [])
            facts["events"] = safe(lambda: [e for ns in d.namespaces for e in d.view.events(ns)], [])
            facts["externalsecrets"] = safe(
                lambda: d.view.all_items("externalsecrets.external-secrets.io", d.namespaces), None)
            report.add(*analyze(facts, st.thresholds))
            meta = {"format": 1, "task": "incident.bundle", "generated_at": report.generated_at,
                    "context": d.target, "namespaces": d.namespaces, "release": cfg.release,
                    "mode": cfg.mode, "since": since, "log_bytes": limit,
                    "redaction": "tasks/day2/redaction.py (structure + text, every file)"}
            path, written = bundle.write(out, {"status": report.status, "thresholds": st.thresholds,
                                               "analyzers": [{"name": c.evidence["analyzer"], "title": c.name,
                                                              "status": c.status, "detail": c.detail,
                                                              "evidence": c.evidence["found"]}
                                                             for c in report.checks]}, meta)
            report.extra.update({"bundle": out.name,
                                 "files": len(written["manifest"]["files"]), "errors": written["manifest"]["errors"]})
            return f"{path.name}: {len(bundle.files) + 2} files, {len(bundle.errors)} collector errors"

        plan = d.s.plan(f"inv incident.bundle (namespaces {', '.join(d.namespaces)}, context {d.target})")
        for ns in d.namespaces:
            plan.add(Step(f"collect namespace {ns}", collect_namespace(ns), "check",
                          f"{format_argv(d.kubectl.argv('get', '<every workload kind>', '-n', ns, '-o', 'json'))}; "
                          f"events; kubectl logs --since={since} --limit-bytes={limit} [--previous] per container"))
        plan.add(Step("collect cluster and helm", collect_cluster, "check",
                      "kubectl get pv,nodes,storageclasses; "
                      f"helm history/get values --all/get manifest {cfg.release} -n {cfg.namespace}"))
        plan.add(Step("probe services", probe, "sdk", probes.describe(st.endpoints)))
        plan.add(Step("analyze and write the bundle", analyse_and_write, "check",
                      f"analyzers: {', '.join(ANALYZERS)}; redact; write {out.name} "
                      "(manifest.json, analysis.json)"))
        result = d.s.run_plan(plan)
        if result.dry:
            return None
        if bundle.errors:
            report.add(Check("bundle", "collector errors", "warn",
                             f"{len(bundle.errors)} recorded in manifest.json (first: {bundle.errors[0]['collector']}: "
                             f"{bundle.policy(bundle.errors[0]['error'])[:160]})", None))
        finish(d, report, json_path, bundle.policy)
        d.s.console.print(f"bundle: {report.extra['bundle']}")
        return report


@task(iterable=["namespace", "set_"], help={**HELP, **endpoint_help("postgres", "pgbouncer", "kafka", "vault", "memory"),
      "output": "the .tar.gz to write (default: incident-<UTC time>.tar.gz here)",
      "since": "logs newer than this (kubectl --since, e.g. 30m; default day2.bundle.since)",
      "log-bytes": "cap per container log, current and previous each (default day2.bundle.log_bytes)"})
def bundle(c, mode=None, namespace=None, context=None, kubeconfig=None, output=None, since=None,
           log_bytes=None, evidence=False, json=None, set_=None, postgres=None, pgbouncer=None, kafka=None,
           vault=None, memory=None):
    """Collect a redacted incident bundle (.tar.gz with manifest.json and analysis.json)."""
    if log_bytes is not None and not str(log_bytes).isdigit():
        raise Exit(f"incident.bundle: --log-bytes must be a whole number of bytes, not {log_bytes!r}", code=2)
    report = run_bundle(c, mode, namespace or (), context, kubeconfig, output, since,
                        int(log_bytes) if log_bytes else None, evidence, json, sets=set_ or (),
                        endpoints=endpoint_flags(postgres=postgres, pgbouncer=pgbouncer, kafka=kafka, vault=vault,
                                                 memory=memory))
    raise_for("incident.bundle", report)
