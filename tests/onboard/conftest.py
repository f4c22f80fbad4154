"""Onboarding test wiring: each fixture points the tasks at one real service through the
same environment variables an operator sets, and nothing else. Every kubectl the tasks run
is the real kubectl 1.36 (`real_kubectl`, first on PATH)."""

import os

import pytest

from tests.ops.conftest import real_kubectl  # noqa: F401  (re-exported fixture)

ONBOARD_VARS = ("VAULT_ADDR", "VAULT_TOKEN", "SOMA_PG_ADMIN_DSN", "SOMA_DB_PASSWORD",
                "SOMA_KAFKA_SASL_PASSWORD", "SOMA_KUBECONFIG", "SOMA_CONTEXT", "SOMA_MODE",
                "SOMA_NAMESPACE", "SOMA_RELEASE")


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
    monkeypatch.setenv("SOMA_ONBOARD_KAFKA_BOOTSTRAP", kafka_broker.bootstrap)
    return kafka_broker


@pytest.fixture(scope="session")
def eso_cluster(kube_cluster, eso_crds):
    """The kube-apiserver with the real External Secrets CRDs (the `eso_crds` fixture: the
    server validates what onboarding applies against upstream's schemas) and the
    shared-infra namespace the chart would have created."""
    kube_cluster.kubectl("apply", "-f", "-", input='{"apiVersion": "v1", "kind": "Namespace", '
                                                   '"metadata": {"name": "soma-infra"}}')
    return kube_cluster


@pytest.fixture
def kube_env(eso_cluster, real_kubectl, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SOMA_KUBECONFIG", eso_cluster.kubeconfig)
    return eso_cluster
