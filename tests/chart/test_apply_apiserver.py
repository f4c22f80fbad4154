"""The rendered manifests are accepted by a real kube-apiserver and read back unchanged.

The API server validates them on its side (types, names, label syntax); the kube_cluster
fixture runs etcd + kube-apiserver + kube-controller-manager on loopback. The operator kinds
need their CRDs: Strimzi's through the stand-in ones of tests/chart/chartrepo.py (fixture
operator_crds), CloudNativePG's Cluster and Pooler through a stand-in operator release
(tests/fixtures/cnpg.py, fixture cnpg_operator), so the server knows the kinds and checks
their metadata and required fields, not the operators' full schemas."""

from __future__ import annotations

import os

import pytest
import yaml

from tasks.core import chart

pytestmark = [pytest.mark.kube, pytest.mark.slow]


@pytest.mark.parametrize("mode", ["dev", "prod"])
def test_manifests_apply_and_read_back(kube_cluster, operator_crds, cnpg_operator, mode):
    namespace = f"chart-{mode}-{os.urandom(3).hex()}"
    rendered = chart.render(mode, namespace=namespace)
    # The test server is 1.20, which serves PodDisruptionBudget only as policy/v1beta1; the
    # chart needs >= 1.28 and renders policy/v1 (checked strictly by test_render instead).
    docs = [d for d in rendered.documents() if (d["apiVersion"], d["kind"]) != ("policy/v1", "PodDisruptionBudget")]
    assert mode == "dev" or len(docs) < len(rendered.documents())  # prod has the Pooler's PDB
    kube_cluster.kubectl("create", "namespace", namespace)
    try:
        kube_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(docs))
        want = {d["metadata"]["name"]: d for d in docs if d["kind"] != "PodDisruptionBudget"}

        cm = kube_cluster.get_json("configmap", "sharedinfra-endpoints", "-n", namespace)
        assert cm["data"] == want["sharedinfra-endpoints"]["data"]
        assert cm["metadata"]["labels"] == want["sharedinfra-endpoints"]["metadata"]["labels"]

        live = {p["metadata"]["name"]: p for p in
                kube_cluster.get_json("networkpolicy", "-n", namespace)["items"]}
        assert set(live) == {n for n, d in want.items() if d["kind"] == "NetworkPolicy"}
        for name, policy in live.items():
            assert policy["spec"] == want[name]["spec"], name

        # The Strimzi resources, known to the server through the stand-in CRDs (the operator's
        # own schemas are not checked here: docs/chart.md).
        for kind in ("Kafka", "KafkaNodePool", "KafkaUser"):
            objs = {o["metadata"]["name"]: o for o in kube_cluster.get_json(kind.lower(), "-n", namespace)["items"]}
            assert set(objs) == {n for n, d in want.items() if d["kind"] == kind}, kind
            for name, obj in objs.items():
                assert obj["spec"] == want[name]["spec"], name
        users = {o["metadata"]["name"] for o in kube_cluster.get_json("kafkauser", "-n", namespace)["items"]}
        assert users == ({"soma-admin", "soma-app"} if mode == "prod" else set())
        for kind in ("clusters.postgresql.cnpg.io", "poolers.postgresql.cnpg.io"):
            items = kube_cluster.get_json(kind, "-n", namespace)["items"]
            assert [i["metadata"]["name"] for i in items] == [n for n, d in want.items()
                                                             if d["kind"] == items[0]["kind"]]
            for item in items:
                assert item["spec"] == want[item["metadata"]["name"]]["spec"]
                assert item["metadata"]["labels"] == want[item["metadata"]["name"]]["metadata"]["labels"]
    finally:
        kube_cluster.kubectl("delete", "namespace", namespace, "--wait=false")


def test_api_server_refuses_a_policy_the_schema_tools_would_refuse(kube_cluster):
    namespace = f"chart-bad-{os.urandom(3).hex()}"
    policy = next(d for d in chart.render("dev", namespace=namespace).documents() if d["kind"] == "NetworkPolicy")
    policy["spec"]["policyTypes"] = ["Sideways"]
    kube_cluster.kubectl("create", "namespace", namespace)
    try:
        out = kube_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(policy), check=False)
        listed = kube_cluster.get_json("networkpolicy", "-n", namespace)["items"]
        assert listed == [], out
    finally:
        kube_cluster.kubectl("delete", "namespace", namespace, "--wait=false")


def test_api_server_refuses_a_cluster_without_instances(kube_cluster, cnpg_operator):
    """The stand-in CRD carries the real CRD's required fields: a Cluster without
    spec.instances is refused, and nothing is stored."""
    namespace = f"chart-cnpg-{os.urandom(3).hex()}"
    cluster = next(d for d in chart.render("dev", namespace=namespace).documents() if d["kind"] == "Cluster")
    del cluster["spec"]["instances"]
    kube_cluster.kubectl("create", "namespace", namespace)
    try:
        out = kube_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(cluster), check=False)
        assert "created" not in out, out
        assert kube_cluster.get_json("clusters.postgresql.cnpg.io", "-n", namespace)["items"] == []
    finally:
        kube_cluster.kubectl("delete", "namespace", namespace, "--wait=false")
