"""The readiness gate waits for Strimzi's Kafka and KafkaUser to report Ready, against the
real kube-apiserver: the operator creates Kafka's pods only after the install, so a gate
that looked at pods alone would pass before any broker exists. The kinds come from the
stand-in CRDs of the loopback chart repository (real group, version and names)."""

from __future__ import annotations

import json

import pytest

from tasks.core.errors import NotConverged
from tasks.core.kubectl import Kubectl
from tasks.core.readiness import readiness, strimzi_state, wait_ready
from tasks.core.runner import Runner

pytestmark = pytest.mark.kube


@pytest.fixture
def ns(make_namespace, operator_crds):
    return make_namespace("kafka")


def _status(kube_cluster, ns, resource, name, conditions):
    kube_cluster.kubectl("patch", resource, name, "-n", ns, "--subresource=status", "--type=merge",
                         "-p", json.dumps({"status": {"conditions": conditions}}))


def test_gate_waits_for_kafka_and_its_users_to_be_ready(kube_cluster, ns):
    for kind, name in (("Kafka", "sharedinfra-kafka"), ("KafkaUser", "soma-admin")):
        kube_cluster.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "kafka.strimzi.io/v1", "kind": kind,
            "metadata": {"name": name, "namespace": ns, "labels": {"strimzi.io/cluster": "sharedinfra-kafka"}},
            "spec": {}}))
    k = Kubectl(Runner(timeout=60), kubeconfig=kube_cluster.kubeconfig)

    problems = readiness(k, ns)  # no pod at all yet: the operator has not acted
    assert set(problems) == {"Kafka/sharedinfra-kafka", "KafkaUser/soma-admin"}
    assert problems["Kafka/sharedinfra-kafka"].startswith("no status yet: the Strimzi operator has not reconciled it")
    with pytest.raises(NotConverged, match="2 pod\\(s\\) and operator object\\(s\\) in"):
        wait_ready(k, ns, timeout_s=0.2, poll_s=0.1)

    _status(kube_cluster, ns, "kafka", "sharedinfra-kafka", [
        {"type": "NotReady", "status": "True", "reason": "Creating", "message": "Kafka cluster is being deployed"}])
    _status(kube_cluster, ns, "kafkauser", "soma-admin", [{"type": "Ready", "status": "True"}])
    assert readiness(k, ns) == {"Kafka/sharedinfra-kafka": "NotReady Creating: Kafka cluster is being deployed"}

    _status(kube_cluster, ns, "kafka", "sharedinfra-kafka", [{"type": "Ready", "status": "True"}])
    assert readiness(k, ns) == {}
    assert wait_ready(k, ns, timeout_s=1) == f"every pod in {ns} is ready"


def test_a_kind_the_cluster_lacks_is_nothing_to_wait_for(kube_cluster, ns):
    from tasks.core import readiness as gate

    k = Kubectl(Runner(timeout=60), kubeconfig=kube_cluster.kubeconfig)
    assert gate._operator_items(k, "widgets.example.com", ns) == []


def test_strimzi_state_reads_the_ready_condition_only():
    assert strimzi_state({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}) is None
    assert strimzi_state({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "X"}]}}) == (
        "Ready False X")
    assert strimzi_state({"status": {}}).startswith("no status yet")
    warned = {"status": {"conditions": [{"type": "Warning", "status": "True", "reason": "UnforceableProblem",
                                         "message": "m"}, {"type": "NotReady", "status": "True"}]}}
    assert strimzi_state(warned) == "Warning UnforceableProblem: m; NotReady"
