"""The cluster-backed analyzers, pass and fail, on the real API server.

Pods never run here, so CrashLoopBackOff, OOMKilled, Pending/Unschedulable and Ready are written
through the status subresource, the way a kubelet or the scheduler would; the FailedMount event
and the External Secrets objects (CRDs installed, conditions written) are real API objects too.
"""

from __future__ import annotations

from tasks.core.kubectl import Kubectl
from tasks.core.runner import Runner
from tasks.day2 import analyzers
from tasks.day2.cluster import ClusterView
from tasks.day2.report import FAIL, PASS
from tests.day2.conftest import (apply, crashloop, event, new_namespace, oomkilled, pod, running, set_ready,
                                 stage_pod, unschedulable)

T = {}


def view_of(cluster) -> ClusterView:
    return ClusterView(Kubectl(Runner(timeout=60), cluster.kubeconfig))


def facts_for(cluster, ns: str) -> dict:
    v = view_of(cluster)
    return {"pods": v.items("pods", ns), "events": v.events(ns),
            "externalsecrets": v.items("externalsecrets.external-secrets.io", ns)}


def externalsecret(name: str, ns: str) -> dict:
    return {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"},
                     "target": {"name": name}, "data": [{"secretKey": "password",
                                                         "remoteRef": {"key": "app/db", "property": "password"}}]}}


def test_a_healthy_namespace_passes_every_cluster_analyzer(kube, eso_installed):
    ns = new_namespace(kube, "good")
    apply(kube, pod("web", ns), externalsecret("db", ns))
    stage_pod(kube, ns, "web", running())
    set_ready(kube, "externalsecrets.external-secrets.io", ns, "db", True, "secret synced")
    facts = facts_for(kube, ns)
    for fn in (analyzers.crashloop, analyzers.oomkilled, analyzers.pending, analyzers.failed_mounts,
               analyzers.externalsecrets):
        check = fn(facts, T)
        assert check.status == PASS, (fn.__name__, check.detail)


def test_each_cluster_analyzer_fails_on_its_own_problem_and_names_it(kube, eso_installed):
    ns = new_namespace(kube, "bad")
    apply(kube, pod("crash", ns), pod("oom", ns), pod("stuck", ns), pod("vol", ns), externalsecret("db", ns),
          event(ns, "vol", "Pod", "vol", "FailedMount",
                'MountVolume.SetUp failed for volume "data" : secret "db-creds" not found'))
    stage_pod(kube, ns, "crash", crashloop())
    stage_pod(kube, ns, "oom", oomkilled())
    stage_pod(kube, ns, "stuck", unschedulable())
    stage_pod(kube, ns, "vol", running(ready=False))
    set_ready(kube, "externalsecrets.external-secrets.io", ns, "db", False,
              "could not get secret data from provider: permission denied")
    facts = facts_for(kube, ns)

    check = analyzers.crashloop(facts, T)
    assert check.status == FAIL and f"{ns}/crash app (7 restarts)" in check.detail
    check = analyzers.oomkilled(facts, T)
    assert check.status == FAIL and f"{ns}/oom app (last run)" in check.detail
    assert check.evidence[0]["exit_code"] == 137
    check = analyzers.pending(facts, T)
    assert check.status == FAIL and "Insufficient memory" in check.detail and f"{ns}/stuck" in check.detail
    check = analyzers.failed_mounts(facts, T)
    assert check.status == FAIL and f"Pod/{ns}/vol FailedMount" in check.detail
    check = analyzers.externalsecrets(facts, T)
    assert check.status == FAIL and "permission denied" in check.detail


def test_a_pod_no_node_took_is_pending_with_that_reason(kube):
    ns = new_namespace(kube, "wait")
    apply(kube, pod("later", ns))  # no scheduler here: it stays Pending with no conditions
    check = analyzers.pending(facts_for(kube, ns), T)
    assert check.status == "warn" and "not scheduled: no node has taken it" in check.detail


def test_without_the_external_secrets_api_the_analyzer_skips(kube):
    assert analyzers.externalsecrets({"externalsecrets": None}, T).status == "skip"
