"""What every day-2 task shares: its flags, a session with kubectl/helm/settings, the ending.

    with day2_session(c, "health.snapshot", flags) as d:
        d.s (the core Session), d.kubectl, d.helm, d.view, d.settings, d.namespaces
        plan = d.s.plan(); plan.extend(...); d.s.run_plan(plan)
        finish(d, report, json_path)      # table, --json FILE, evidence
    raise_for(report)                     # exit 0 pass / 3 warn / 4 fail, after the session

The exit code is raised after the session closed, so the evidence of a run that found
problems still says what it found, and a warning does not look like a crashed run.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from invoke import Exit

from tasks.core import helm as helm_mod
from tasks.core.cli import session
from tasks.core.errors import OpsError
from tasks.core.kubectl import Kubectl
from tasks.core.versions import MINIMUMS
from tasks.day2.cluster import ClusterView
from tasks.day2.redaction import Policy
from tasks.day2.report import PASS, Report
from tasks.day2.settings import Day2Settings, day2_settings

HELP = {
    "mode": "dev, test, staging, prod-lite or prod (default: soma.mode); picks the thresholds",
    "namespace": "an app namespace to include as well (repeatable); the shared-infra one is soma.namespace",
    "context": "kubeconfig context (default: current)",
    "kubeconfig": "kubeconfig file (default: kubectl's own)",
    "evidence": "write a transcript and JSON run record into docs/sprints/sprint-<n>/",
    "json": "also write the report as JSON into this file",
    "set": "override any soma setting, repeatable: --set namespace=x",
}
ENDPOINT_HELP = {
    "postgres": "PostgreSQL primary DSN, no password (PGPASSWORD) (default day2.endpoints.postgres)",
    "pgbouncer": "PgBouncer admin console DSN (dbname=pgbouncer), no password (default day2.endpoints.pgbouncer)",
    "kafka": "Kafka bootstrap servers (default day2.endpoints.kafka)",
    "vault": "Vault address; the token comes from VAULT_TOKEN (default day2.endpoints.vault)",
    "memory": "memory service URL; a token from SOMA_MEMORY_TOKEN (default day2.endpoints.memory)",
}


def endpoint_help(*names: str) -> dict:
    return {n: ENDPOINT_HELP[n] for n in names}


def endpoint_flags(**given) -> dict:
    """The endpoint flags a task was given (None: not given, the configuration decides)."""
    return {k: v for k, v in given.items() if v is not None}


@dataclass
class Day2:
    s: Any
    settings: Day2Settings
    kubectl: Kubectl
    helm: helm_mod.Helm
    view: ClusterView
    namespaces: list[str]
    target: str

    @property
    def cfg(self):
        return self.s.cfg


def namespaces_of(cfg, extra) -> list[str]:
    out = [cfg.namespace]
    for ns in extra or ():
        if ns not in out:
            out.append(ns)
    return out


@contextmanager
def day2_session(c, name: str, mode=None, namespaces=(), context=None, kubeconfig=None, evidence=False,
                 runner=None, console=None, sets=(), day2_overrides=None, inputs=None,
                 include_shared=True):
    overrides = {"context": context, "kubeconfig": kubeconfig}
    with session(c, name, mode=mode, evidence=evidence, overrides=overrides, runner=runner,
                 console=console, sets=sets,
                 inputs={**(inputs or {}), "namespaces": list(namespaces or ()),
                         **({"context": context} if context else {})}) as s:
        settings = day2_settings(c, s.cfg.mode, day2_overrides)
        try:
            s.evidence.tools["kubectl"] = str(s.runner.require("kubectl", MINIMUMS["kubectl"]))
        except OpsError:
            if not s.dry:
                raise
        kubectl = Kubectl(s.runner, s.cfg.kubeconfig, s.cfg.context, timeout=s.cfg.timeouts["command"])
        helm_cli = helm_mod.detect(s.runner, s.cfg.kubeconfig, s.cfg.context)
        try:
            target = kubectl.target()
        except OpsError as exc:
            target = f"unknown: {exc}"
        ns = namespaces_of(s.cfg, namespaces) if include_shared else list(namespaces or ()) or [s.cfg.namespace]
        yield Day2(s, settings, kubectl, helm_cli, ClusterView(kubectl), ns, target)


def finish(d: Day2, report: Report, json_path: str | None, policy: Policy | None = None) -> Report:
    """Redact, print the table, keep it in the evidence, write --json: one set of rows for all.

    Rows can quote what the cluster said (an event message with a DSN in it), so the day-2
    redaction policy goes over every row before anyone sees it, not only over the bundle."""
    policy = policy or Policy(d.s.runner.redact.secrets)
    for check in report.checks:
        check.detail = policy(check.detail)
        if check.evidence is not None:
            check.evidence = json.loads(policy(json.dumps(policy.scrub(check.evidence), default=str)))
    report.print(d.s.console)
    d.s.evidence.add("report", report.to_dict())
    if json_path:
        path = report.write_json(json_path, d.s.runner.redact)
        d.s.console.print(f"json: {d.cfg.rel(path)}")
    return report


def raise_for(name: str, report: Report | None) -> None:
    if report is not None and report.status != PASS:
        raise Exit(f"{name}: {report.status} ({', '.join(f'{n} {s}' for s, n in report.counts().items() if n)})",
                   code=report.exit_code)
