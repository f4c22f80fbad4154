"""The readiness gate says when Vault is sealed or uninitialised, against the real
kube-apiserver: the pods carry the labels Vault's Kubernetes service registration keeps
current (`vault-initialized`, `vault-sealed`). No kubelet runs here, so the pods stay
Pending and the gate names that too."""

from __future__ import annotations

import json

import pytest

from tasks.core.errors import NotConverged
from tasks.core.kubectl import Kubectl
from tasks.core.readiness import readiness, vault_state, wait_ready
from tasks.core.runner import Runner

pytestmark = pytest.mark.kube


def vault_pod(name: str, ns: str, initialized: str, sealed: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"app.kubernetes.io/name": "vault", "vault-initialized": initialized,
                                    "vault-sealed": sealed}},
            "spec": {"containers": [{"name": "vault", "image": "hashicorp/vault:2.0.4"}]}}


@pytest.fixture
def ns(make_namespace):
    return make_namespace("vault")


def test_gate_names_sealed_and_uninitialised_vault_pods(kube_cluster, ns):
    pods = {"sharedinfra-vault-0": ("false", "true"), "sharedinfra-vault-1": ("true", "true"),
            "sharedinfra-vault-2": ("true", "false")}
    for name, (initialized, sealed) in pods.items():
        kube_cluster.kubectl("apply", "-f", "-", input=json.dumps(vault_pod(name, ns, initialized, sealed)))
    k = Kubectl(Runner(timeout=60), kubeconfig=kube_cluster.kubeconfig)

    problems = readiness(k, ns)

    assert set(problems) == set(pods)  # Pending: no kubelet runs here
    assert problems["sharedinfra-vault-0"].startswith("Vault uninitialised: initialise it once")
    assert problems["sharedinfra-vault-1"].startswith("Vault sealed: unseal sharedinfra-vault-1")
    assert not problems["sharedinfra-vault-2"].startswith("Vault")  # unsealed: only Pending remains
    assert all("phase Pending" in why for why in problems.values())
    with pytest.raises(NotConverged) as stuck:
        wait_ready(k, ns, timeout_s=0.2, poll_s=0.1)
    assert "Vault uninitialised" in str(stuck.value) and "Vault sealed" in str(stuck.value)


def test_vault_state_reads_only_vault_labels():
    assert vault_state({"metadata": {"name": "p", "labels": {"app": "redis"}}}) is None
    assert vault_state({"metadata": {"name": "p", "labels": {"vault-initialized": "true",
                                                             "vault-sealed": "false"}}}) is None
    # Uninitialised wins: a fresh Vault is also sealed, and init comes first.
    assert vault_state({"metadata": {"name": "p", "labels": {"vault-initialized": "false",
                                                             "vault-sealed": "true"}}}).startswith("Vault uninit")
