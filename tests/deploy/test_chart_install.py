"""`helm upgrade --install` of infra/helm/soma-memory into the real kube-apiserver (1.20) in
every mode, with the real helm binary.

The API server has no kubelet, so pods stay Pending and a Job never completes: the install
runs with --no-hooks (helm would wait for the migration hook Job forever), and the hook Job
itself is sent to the API server with a server-side dry run. The Prometheus Operator CRDs
cannot be downloaded here, so the test installs minimal CRDs of the same group, version and
kinds (schema: preserve unknown fields) so ServiceMonitor and PrometheusRule are stored."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from tasks.core.config import MODES
from tests.deploy.test_chart import CHART, RELEASE, helm, values_args

pytestmark = [pytest.mark.kube, pytest.mark.slow]


def crd(kind: str, plural: str) -> dict:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.monitoring.coreos.com"},
            "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}}


@pytest.fixture(scope="module")
def cluster(kube_cluster):
    manifests = "---\n".join(yaml.safe_dump(crd(k, p)) for k, p in
                             (("ServiceMonitor", "servicemonitors"), ("PrometheusRule", "prometheusrules")))
    kube_cluster.kubectl("apply", "-f", "-", input=manifests)
    for plural in ("servicemonitors", "prometheusrules"):
        kube_cluster.kubectl("wait", "--for=condition=Established", f"crd/{plural}.monitoring.coreos.com",
                             "--timeout=60s")
    return kube_cluster


def install(k8s_clients, cluster, ns: str, mode: str):
    return helm(k8s_clients, "upgrade", "--install", RELEASE, str(CHART), "-n", ns, *values_args(mode),
                "--no-hooks", "--timeout", "120s", "--kubeconfig", cluster.kubeconfig)


@pytest.mark.parametrize("mode", MODES)
def test_installs_into_the_api_server(k8s_clients, cluster, mode):
    ns = f"mem-{mode}-{os.urandom(3).hex()}"
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    try:
        out = install(k8s_clients, cluster, ns, mode)
        assert "STATUS: deployed" in str(out), str(out)

        deployments = {d["metadata"]["name"]: d for d in cluster.get_json("deployments", "-n", ns)["items"]}
        expected = {"soma-memory-api", "soma-memory-relay"} | ({"soma-memory-consumer"} if mode != "dev" else set())
        assert set(deployments) == expected
        api = deployments["soma-memory-api"]["spec"]["template"]["spec"]
        assert api["securityContext"]["runAsNonRoot"] is True
        assert api["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert api["containers"][0]["envFrom"][0]["configMapRef"]["name"] == f"{ns}-settings"
        assert cluster.get_json("service", "soma-memory", "-n", ns)["spec"]["ports"][0]["port"] == 80
        policies = {p["metadata"]["name"] for p in cluster.get_json("networkpolicy", "-n", ns)["items"]}
        assert len(policies) == 4
        big = mode in ("staging", "prod-lite", "prod")
        kinds = {"ingress": big, "pdb": big, "cronjob": big, "servicemonitor": big, "prometheusrule": big,
                 "hpa": mode in ("staging", "prod")}
        for kind, wanted in kinds.items():
            items = cluster.get_json(kind, "-n", ns)["items"]
            assert bool(items) == wanted, (kind, items)
        if mode == "prod":
            # the 1.20 server got the API versions it serves (chosen from its version)
            hpa = cluster.get_json("hpa.v2beta2.autoscaling", "soma-memory-api", "-n", ns)
            assert hpa["spec"]["maxReplicas"] == 10
            rules = cluster.get_json("prometheusrule", "soma-memory", "-n", ns)["spec"]["groups"][0]["rules"]
            assert len(rules) == 5

        # the migration hook Job is accepted by the API server (server-side dry run)
        job = helm(k8s_clients, "template", RELEASE, str(CHART), "-n", ns, *values_args(mode),
                   "--show-only", "templates/job-migrate.yaml", "--kube-version", "1.20.2")
        dry = cluster.kubectl("apply", "--dry-run=server", "-n", ns, "-f", "-", "-o", "json", input=str(job))
        assert json.loads(dry)["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert cluster.get_json("jobs", "-n", ns)["items"] == []  # a dry run stores nothing

        # converge: the second run upgrades in place to revision 2, same objects
        again = install(k8s_clients, cluster, ns, mode)
        assert "REVISION: 2" in str(again)
        assert {d["metadata"]["name"] for d in cluster.get_json("deployments", "-n", ns)["items"]} == expected
    finally:
        cluster.kubectl("delete", "namespace", ns, "--wait=false")


def test_a_bad_value_installs_nothing(k8s_clients, cluster):
    ns = f"mem-bad-{os.urandom(3).hex()}"
    cluster.kubectl("create", "namespace", ns)
    try:
        out = helm(k8s_clients, "upgrade", "--install", RELEASE, str(CHART), "-n", ns, *values_args("prod"),
                   "--set", "contract.kafka.replicationFactor=0", "--no-hooks", "--kubeconfig",
                   cluster.kubeconfig, ok=(1,))
        assert "replicationFactor" in out.stderr.decode()
        assert cluster.get_json("deployments", "-n", ns)["items"] == []
        assert cluster.get_json("secrets", "-n", ns, "-l", "owner=helm")["items"] == []
    finally:
        cluster.kubectl("delete", "namespace", ns, "--wait=false")
