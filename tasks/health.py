"""`inv health.snapshot`: a pass/warn/fail table of the shared infrastructure (playbook §8.2).

Rows: the Helm release status (from Helm's storage Secret); every StatefulSet, Deployment
and DaemonSet not ready, with the reason its pods give; PostgreSQL replication lag in bytes
and seconds (`pg_stat_replication`) and PgBouncer's pools; Kafka consumer-group lag from the
admin API (a group with no commit is a warning, not "caught up"); Vault seal and health;
ExternalSecret conditions; the memory service's readiness and outbox lag. Thresholds come
from `day2.thresholds` for the mode. `--json FILE` writes the same rows. Exit 0/3/4.
"""

from __future__ import annotations

import functools

from invoke import task

from tasks.core.plan import Step
from tasks.core.release import deployed_release
from tasks.core.runner import format_argv
from tasks.day2 import analyzers, probes
from tasks.day2.common import HELP, day2_session, endpoint_flags, endpoint_help, finish, raise_for
from tasks.day2.report import FAIL, PASS, SKIP, WARN, Check, Report
from tasks.day2.workloads import workload_status


def release_check(kubectl, release: str, namespace: str) -> Check:
    current = deployed_release(kubectl, release, namespace)
    if current is None:
        return Check("helm", f"release {release}", FAIL, f"not installed in {namespace}")
    info = current.get("info") or {}
    meta = (current.get("chart") or {}).get("metadata") or {}
    evidence = {"revision": current.get("version"), "status": info.get("status"),
                "chart": f"{meta.get('name')}-{meta.get('version')}", "updated": info.get("last_deployed")}
    status = PASS if info.get("status") == "deployed" else FAIL
    return Check("helm", f"release {release}", status,
                 f"{info.get('status')} (revision {current.get('version')}, {evidence['chart']})", evidence)


def workload_checks(view, kubectl, namespace: str) -> list[Check]:
    rows = workload_status(view, kubectl, namespace)
    if not rows:
        return [Check("workloads", namespace, WARN, "no StatefulSet, Deployment or DaemonSet", [])]
    bad = [r for r in rows if not r["rolled_out"] or r["ready"] < r["desired"]]
    out = [Check("workloads", f"{r['namespace']}/{r['kind']}/{r['name']}", FAIL,
                 f"{r['ready']}/{r['desired']} ready: {r['reason']}", r) for r in bad]
    if not bad:
        out.append(Check("workloads", namespace, PASS, f"{len(rows)} workload(s) ready", rows))
    return out


def probe_row(key: str, area: str, name: str):
    """Decorates a row built from probe `key`'s answer: SKIP when that endpoint is not
    configured, FAIL with the probe's error, else the decorated function's row."""
    def wrap(row):
        @functools.wraps(row)
        def check(facts: dict) -> Check:
            got = facts.get(key)
            if got is None:
                return Check(area, name, SKIP, f"{key} endpoint not configured")
            if "error" in got:
                return Check(area, name, FAIL, got["error"], got)
            return row(got)
        return check
    return wrap


@probe_row("pgbouncer", "postgres", "pgbouncer")
def pgbouncer_check(got: dict) -> Check:
    """No pool: PgBouncer serves no database. Clients waiting for a server connection: the
    pool is too small or PostgreSQL is slow or unreachable behind it."""
    pools = [p for p in got["pools"] if p.get("database") != "pgbouncer"]  # the admin console itself
    if not pools:
        return Check("postgres", "pgbouncer", FAIL, "no pool: PgBouncer serves no database", got["pools"])
    waiting = [p for p in pools if int(p.get("cl_waiting") or 0) > 0]
    if waiting:
        return Check("postgres", "pgbouncer", WARN, "clients waiting for a server connection: " + ", ".join(
            f"{p.get('database')}/{p.get('user')} {p.get('cl_waiting')} (longest {p.get('maxwait')}s)"
            for p in waiting), got["pools"])
    return Check("postgres", "pgbouncer", PASS, f"{len(pools)} pool(s), no client waiting", got["pools"])


@probe_row("vault", "vault", "health")
def vault_health(got: dict) -> Check:
    h = got.get("health") or {}
    if not h.get("initialized", False):
        return Check("vault", "health", FAIL, "not initialized", h)
    status = FAIL if h.get("sealed") else WARN if h.get("standby") else PASS
    return Check("vault", "health", status, f"version {h.get('version')}, sealed={h.get('sealed')}, "
                 f"standby={h.get('standby')}", h)


@probe_row("memory", "memory", "readiness")
def memory_ready(got: dict) -> Check:
    r = got["readyz"]
    return Check("memory", "readiness", PASS if r["status_code"] == 200 else FAIL,
                 f"/readyz {r['status_code']}: {r['body']}", r)


def _area(check: Check, area: str) -> Check:
    check.area = area
    return check


def run_health(c, mode=None, namespaces=(), context=None, kubeconfig=None, evidence=False, json_path=None,
               runner=None, console=None, sets=(), endpoints=None) -> Report | None:
    overrides = {f"endpoints.{k}": v for k, v in (endpoints or {}).items()}
    with day2_session(c, "health.snapshot", mode, namespaces, context, kubeconfig, evidence, runner,
                      console, sets, overrides) as d:
        st, cfg = d.settings, d.cfg
        report = Report(f"inv health.snapshot ({', '.join(d.namespaces)})", d.target, d.namespaces,
                        extra={"mode": cfg.mode, "thresholds": st.thresholds})
        facts: dict = {}

        def kube():
            report.add(release_check(d.kubectl, cfg.release, cfg.namespace))
            for ns in d.namespaces:
                if d.view.namespace(ns) is None:
                    report.add(Check("workloads", ns, FAIL, "namespace does not exist"))
                    continue
                report.add(*workload_checks(d.view, d.kubectl, ns))
            facts["externalsecrets"] = d.view.all_items("externalsecrets.external-secrets.io",
                                                        [n for n in d.namespaces if d.view.namespace(n)])
            return f"{len(report.checks)} rows"

        def probe():
            facts["probes"] = probes.run_all(d.s.runner, st.endpoints, kafka_groups=st.kafka_groups)
            p, t = facts["probes"], st.thresholds
            report.add(_area(analyzers.replication_lag(facts, t), "postgres"), pgbouncer_check(p),
                       _area(analyzers.consumer_lag(facts, t), "kafka"),
                       _area(analyzers.vault_sealed(facts, t), "vault"), vault_health(p),
                       _area(analyzers.externalsecrets(facts, t), "external-secrets"),
                       memory_ready(p), _area(analyzers.outbox_lag(facts, t), "memory"))
            return "probed"

        plan = d.s.plan(f"inv health.snapshot (namespaces {', '.join(d.namespaces)}, context {d.target})")
        plan.add(Step("release and workloads", kube, "check",
                      f"helm storage Secret of {cfg.release}; "
                      + format_argv(d.kubectl.argv("get", "statefulsets,deployments,daemonsets,pods,externalsecrets",
                                                   "-n", "<ns>", "-o", "json"))))
        plan.add(Step("probe services", probe, "sdk", probes.describe(st.endpoints)))
        result = d.s.run_plan(plan)
        if result.dry:
            return None
        return finish(d, report, json_path)


@task(iterable=["namespace", "set_"], help={**HELP, **endpoint_help("postgres", "pgbouncer", "kafka", "vault", "memory")})
def snapshot(c, mode=None, namespace=None, context=None, kubeconfig=None, evidence=False, json=None, set_=None,
             postgres=None, pgbouncer=None, kafka=None, vault=None, memory=None):
    """Pass/warn/fail table: Helm release, workloads, replication, consumer lag, Vault, ExternalSecrets, memory."""
    raise_for("health.snapshot", run_health(c, mode, namespace or (), context, kubeconfig, evidence, json,
                                            sets=set_ or (), endpoints=endpoint_flags(
                                                postgres=postgres, pgbouncer=pgbouncer, kafka=kafka, vault=vault,
                                                memory=memory)))
