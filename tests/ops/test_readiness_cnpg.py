"""The readiness gate counts CloudNativePG's Cluster and Pooler, against the real
kube-apiserver with the stand-in CRDs of the cnpg_operator fixture. No operator runs here,
so the objects get no status until the test writes one through the status subresource, as
the operator would: the gate names them until then, and lets them pass after."""

from __future__ import annotations

import json

import pytest

from tasks.core import chart
from tasks.core.kubectl import Kubectl
from tasks.core.readiness import cluster_problem, pooler_problem, readiness
from tasks.core.runner import Runner

pytestmark = pytest.mark.kube


@pytest.fixture
def ns(make_namespace):
    return make_namespace("cnpg-ready")


def set_status(kube_cluster, ns: str, kind: str, name: str, status: dict) -> None:
    kube_cluster.kubectl("patch", kind, name, "-n", ns, "--subresource=status", "--type=merge",
                         "-p", json.dumps({"status": status}))


def test_gate_names_a_cluster_and_pooler_the_operator_has_not_made_ready(kube_cluster, cnpg_operator, ns):
    docs = [d for d in chart.render("prod", namespace=ns).documents() if d["kind"] in ("Cluster", "Pooler")]
    kube_cluster.kubectl("apply", "-n", ns, "-f", "-", input="\n---\n".join(json.dumps(d) for d in docs))
    kubectl = Kubectl(Runner(timeout=60), kube_cluster.kubeconfig, "soma-test")

    waiting = readiness(kubectl, ns)
    assert waiting == {
        "Cluster/sharedinfra-postgres": "0/3 instances ready, phase no status yet (is the CloudNativePG operator running?)",
        "Pooler/sharedinfra-postgres-pooler": "0/2 PgBouncer instances created (is the CloudNativePG operator running?)"}

    set_status(kube_cluster, ns, "clusters.postgresql.cnpg.io", "sharedinfra-postgres", {
        "instances": 3, "readyInstances": 2, "phase": "Waiting for the instances to become active",
        "phaseReason": "Some instances are not yet active", "currentPrimary": "sharedinfra-postgres-1"})
    set_status(kube_cluster, ns, "poolers.postgresql.cnpg.io", "sharedinfra-postgres-pooler", {"instances": 2})
    assert readiness(kubectl, ns) == {"Cluster/sharedinfra-postgres": (
        "2/3 instances ready, phase Waiting for the instances to become active: Some instances are not yet "
        "active, primary sharedinfra-postgres-1")}

    set_status(kube_cluster, ns, "clusters.postgresql.cnpg.io", "sharedinfra-postgres", {
        "readyInstances": 3, "phase": "Cluster in healthy state", "phaseReason": None,
        "conditions": [{"type": "Ready", "status": "True", "reason": "ClusterIsReady", "message": "Cluster is Ready",
                        "lastTransitionTime": "2026-11-30T00:00:00Z"}]})
    assert readiness(kubectl, ns) == {}


def test_without_the_crds_the_gate_only_judges_pods(kube_cluster, ns):
    """Where CloudNativePG is not installed (an app namespace, a cluster without the operator)
    the API server does not serve the kinds: that is no error, there is nothing to wait for."""
    kubectl = Kubectl(Runner(timeout=60), kube_cluster.kubeconfig, "soma-test")
    result = kubectl.run("get", "widgets.nothing.example", "-o", "json", "-n", ns, check=False)
    assert not result.ok and "the server doesn't have a resource type" in result.stderr
    assert readiness(kubectl, ns) == {}


def test_a_ready_condition_with_fewer_ready_instances_is_not_ready():
    spec = {"spec": {"instances": 3}}
    ready = [{"type": "Ready", "status": "True"}]
    assert cluster_problem({**spec, "status": {"readyInstances": 3, "conditions": ready}}) is None
    assert cluster_problem({**spec, "status": {"readyInstances": 1, "conditions": ready,
                                                "phase": "Cluster in healthy state"}}).startswith("1/3")
    assert pooler_problem({"spec": {"instances": 2}, "status": {"instances": 2}}) is None
    assert pooler_problem({"spec": {}, "status": {}}) == ("0/1 PgBouncer instances created "
                                                          "(is the CloudNativePG operator running?)")
