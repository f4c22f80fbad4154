"""`inv restart.check`: prove restart safety (playbook §7) one workload at a time.

For each StatefulSet, then Deployment, then DaemonSet of the namespace(s), by name:
`kubectl rollout restart <kind>/<name>`, then a readiness gate on that workload (the
controller has seen the new generation, every replica is updated and ready) with the
time to ready recorded. The next workload restarts only after the previous one is ready:
the first that does not become ready within `--timeout` stops the run and names why its
pods are not ready. `inv --dry restart.check` lists the order and restarts nothing.
Exit 0 every workload came back, 4 one did not, 1/2/127 as everywhere else.
"""

from __future__ import annotations

import time

from invoke import task

from tasks.core.errors import NotConverged, OpsError
from tasks.core.plan import Step
from tasks.core.readiness import readiness
from tasks.core.runner import format_argv
from tasks.day2.cluster import WORKLOADS
from tasks.day2.common import HELP, day2_session, finish, raise_for
from tasks.day2.report import FAIL, PASS, SKIP, Check, Report
from tasks.day2.workloads import desired_ready

_SHORT = {"statefulsets.apps": "statefulset", "deployments.apps": "deployment", "daemonsets.apps": "daemonset"}


def wait_rolled_out(kubectl, resource: str, name: str, namespace: str, timeout_s: float, poll_s: float = 1.0,
                    sleep=time.sleep) -> float:
    """Seconds until the workload is rolled out and ready; NotConverged naming its pods otherwise."""
    t0 = time.monotonic()
    while True:
        obj = kubectl.get_json(resource, name, namespace)
        if obj is None:
            raise NotConverged(f"{_SHORT[resource]}/{name} disappeared during its restart")
        desired, ready, done = desired_ready(obj)
        if done:
            return time.monotonic() - t0
        if time.monotonic() - t0 >= timeout_s:
            why = readiness(kubectl, namespace)
            lines = "; ".join(f"{p}: {w}" for p, w in sorted(why.items())) or "no pod reports a reason"
            raise NotConverged(f"{_SHORT[resource]}/{name}: {ready}/{desired} ready after {timeout_s:g}s ({lines})")
        sleep(poll_s)


def run_restart(c, mode=None, namespaces=(), context=None, kubeconfig=None, evidence=False, json_path=None,
                timeout=None, runner=None, console=None, sets=()) -> Report | None:
    with day2_session(c, "restart.check", mode, namespaces, context, kubeconfig, evidence, runner, console, sets,
                      include_shared=False) as d:
        timeout_s = float(timeout or d.cfg.timeouts["readiness"])
        report = Report(f"inv restart.check ({', '.join(d.namespaces)})", d.target, d.namespaces,
                        extra={"timeout_s": timeout_s})
        order, checks = [], {}
        try:
            for ns in d.namespaces:
                for resource in WORKLOADS:
                    for obj in sorted(d.view.items(resource, ns) or [], key=lambda o: o["metadata"]["name"]):
                        order.append((ns, resource, obj["metadata"]["name"]))
        except OpsError:
            if not d.s.dry:
                raise
            d.s.console.print("[yellow]cannot list the workloads; the order is unknown[/]")

        def restart(ns, resource, name):
            def go():
                d.kubectl.run("rollout", "restart", f"{_SHORT[resource]}/{name}", "-n", ns)
                seconds = wait_rolled_out(d.kubectl, resource, name, ns, timeout_s)
                checks[(ns, resource, name)] = Check("restart", f"{ns}/{_SHORT[resource]}/{name}", PASS,
                                                     f"ready {seconds:.1f}s after the restart",
                                                     {"seconds_to_ready": round(seconds, 2)})
                return f"ready after {seconds:.1f}s"
            return go

        plan = d.s.plan(f"inv restart.check (namespaces {', '.join(d.namespaces)}, context {d.target})")
        for i, (ns, resource, name) in enumerate(order, 1):
            plan.add(Step(f"{i}. restart {ns}/{_SHORT[resource]}/{name}", restart(ns, resource, name), "cli",
                          format_argv(d.kubectl.argv("rollout", "restart", f"{_SHORT[resource]}/{name}", "-n", ns))
                          + f"; then wait ready (<= {timeout_s:g}s)"))
        failure = None
        try:
            result = d.s.run_plan(plan)
        except OpsError as exc:
            failure, result = exc, plan.result
        if result.dry:
            return None
        for (ns, resource, name), record in zip(order, result.steps):
            label = f"{ns}/{_SHORT[resource]}/{name}"
            if (ns, resource, name) in checks:
                report.add(checks[(ns, resource, name)])
            elif record.state == "failed":
                report.add(Check("restart", label, FAIL, record.note, {"seconds": round(record.seconds, 2)}))
            else:
                report.add(Check("restart", label, SKIP, "not restarted: an earlier workload did not come back"))
        if not order:
            report.add(Check("restart", ", ".join(d.namespaces), SKIP, "no StatefulSet, Deployment or DaemonSet"))
        finish(d, report, json_path)
        if failure is not None:
            d.s.evidence.outcome = f"failed: {failure}"
        return report


@task(iterable=["namespace", "set_"], help={**HELP, "namespace": "namespace whose workloads restart (repeatable; "
                                            "default soma.namespace)",
                                            "timeout": "seconds each workload may take to be ready again "
                                                       "(default soma.timeouts.readiness)"})
def check(c, mode=None, namespace=None, context=None, kubeconfig=None, evidence=False, json=None, timeout=None,
          set_=None):
    """Rollout-restart each workload in order, waiting for it to be ready before the next; time to ready."""
    raise_for("restart.check", run_restart(c, mode, namespace or (), context, kubeconfig, evidence, json,
                                           float(timeout) if timeout else None, sets=set_ or ()))
