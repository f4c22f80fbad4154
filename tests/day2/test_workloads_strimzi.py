"""Strimzi keeps Kafka's broker pods in StrimziPodSets, not StatefulSets: the day-2 workload
rows (health.snapshot, incident bundles) count them like any workload, against the real API
server with the stand-in Strimzi CRDs (fixture operator_crds)."""

from __future__ import annotations

import json

from tasks.core.kubectl import Kubectl
from tasks.core.runner import Runner
from tasks.day2.cluster import ClusterView
from tasks.day2.workloads import desired_ready, workload_status
from tests.day2.conftest import apply, new_namespace, pod, stage_pod, unschedulable


def podset(name: str, ns: str, pods: list[str]) -> dict:
    labels = {"strimzi.io/cluster": "sharedinfra-kafka", "strimzi.io/pool-name": "dual-role"}
    return {"apiVersion": "core.strimzi.io/v1", "kind": "StrimziPodSet", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"matchLabels": labels},
                     "pods": [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": p, "labels": labels}}
                              for p in pods]}}


def test_a_podset_with_a_pod_not_ready_is_a_failing_row_with_the_pods_reason(kube_cluster, operator_crds):
    ns = new_namespace(kube_cluster, "sps")
    try:
        names = ["sharedinfra-kafka-dual-role-0", "sharedinfra-kafka-dual-role-1"]
        apply(kube_cluster, podset("sharedinfra-kafka-dual-role", ns, names))
        labels = {"strimzi.io/cluster": "sharedinfra-kafka", "strimzi.io/pool-name": "dual-role"}
        apply(kube_cluster, *(pod(n, ns, labels=labels) for n in names))
        stage_pod(kube_cluster, ns, names[1], unschedulable())
        kube_cluster.kubectl("patch", "strimzipodset", "sharedinfra-kafka-dual-role", "-n", ns,
                             "--subresource=status", "--type=merge",
                             "-p", json.dumps({"status": {"observedGeneration": 1, "pods": 2, "readyPods": 1,
                                                          "currentPods": 2}}))
        k = Kubectl(Runner(timeout=60), kubeconfig=kube_cluster.kubeconfig)
        rows = [r for r in workload_status(ClusterView(k), k, ns) if r["kind"] == "StrimziPodSet"]
        assert len(rows) == 1
        row = rows[0]
        assert (row["desired"], row["ready"], row["rolled_out"]) == (2, 1, False)
        assert f"{names[1]}: " in row["reason"] and "Insufficient memory" in row["reason"]
    finally:
        kube_cluster.kubectl("delete", "namespace", ns, "--wait=false")


def test_desired_ready_of_a_podset_follows_its_status():
    obj = {"kind": "StrimziPodSet", "metadata": {"generation": 2},
           "spec": {"pods": [{}, {}, {}]}, "status": {"observedGeneration": 2, "readyPods": 3, "currentPods": 3}}
    assert desired_ready(obj) == (3, 3, True)
    obj["status"]["currentPods"] = 2  # a rolling restart under way
    assert desired_ready(obj) == (3, 3, False)
