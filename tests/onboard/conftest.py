"""Onboarding test wiring: each fixture points the tasks at one real service through the
same environment variables an operator sets, and nothing else."""

import json
import os

import pytest

from tests.onboard import eso

ONBOARD_VARS = ("VAULT_ADDR", "SOMA_VAULT_ADDR", "VAULT_TOKEN", "SOMA_PG_ADMIN_DSN",
                "SOMA_DB_PASSWORD", "SOMA_KAFKA_BOOTSTRAP", "SOMA_KUBECONFIG", "SOMA_MODE")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No onboarding setting leaks in from the developer's shell."""
    for name in list(os.environ):
        if name in ONBOARD_VARS or name.startswith(("SOMA_SEED_", "SOMA_ONBOARD_")):
            monkeypatch.delenv(name)


@pytest.fixture
def vault_env(vault_server, monkeypatch):
    monkeypatch.setenv("VAULT_ADDR", vault_server.addr)
    monkeypatch.setenv("VAULT_TOKEN", vault_server.token)
    return vault_server


@pytest.fixture
def pg_env(postgres_server, monkeypatch):
    monkeypatch.setenv("SOMA_PG_ADMIN_DSN", postgres_server.dsn())
    return postgres_server


@pytest.fixture
def kafka_env(kafka_broker, monkeypatch):
    monkeypatch.setenv("SOMA_KAFKA_BOOTSTRAP", kafka_broker.bootstrap)
    return kafka_broker


@pytest.fixture(scope="session")
def eso_cluster(kube_cluster):
    """The kube-apiserver with the external-secrets CRDs (from the schema kept here) and
    the shared-infra namespace the chart would have created."""
    crds = {"apiVersion": "v1", "kind": "List", "items": eso.crds()}
    kube_cluster.kubectl("apply", "-f", "-", input=json.dumps(crds))
    for crd in eso.crds():
        kube_cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                             f"crd/{crd['metadata']['name']}")
    kube_cluster.kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "soma-infra"}}))
    return kube_cluster


@pytest.fixture
def kube_env(eso_cluster, monkeypatch):
    monkeypatch.setenv("SOMA_KUBECONFIG", eso_cluster.kubeconfig)
    return eso_cluster
