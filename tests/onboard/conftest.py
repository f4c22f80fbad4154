"""Onboarding test wiring: each fixture points the tasks at one real service through the
same environment variables an operator sets, and nothing else. Every kubectl the tasks run
is the real kubectl 1.36 (`real_kubectl`, first on PATH)."""

import json
import os

import pytest

from tests.onboard import eso
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
def eso_cluster(kube_cluster):
    """The kube-apiserver with the real External Secrets CRDs and the shared-infra namespace
    the chart would have created. `create`, not `apply`: the CRDs are larger than the
    last-applied annotation may be. --validate=false: v2.9's CRDs declare `selectableFields`
    (Kubernetes 1.30), a field of the CRD itself that the 1.20 server does not know and
    drops (server-side apply would refuse it); the empty-string defaults that 1.20 cannot
    take are dropped (eso.crds_for_the_test_server); every other rule is the real one."""
    for crd in eso.crds_for_the_test_server():
        if not kube_cluster.kubectl("get", "crd", crd["metadata"]["name"], "--ignore-not-found").strip():
            kube_cluster.kubectl("create", "--validate=false", "-f", "-", input=json.dumps(crd))
    for name in eso.crd_names():
        kube_cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{name}")
    kube_cluster.kubectl("apply", "-f", "-", input='{"apiVersion": "v1", "kind": "Namespace", '
                                                   '"metadata": {"name": "soma-infra"}}')
    return kube_cluster


@pytest.fixture
def kube_env(eso_cluster, real_kubectl, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SOMA_KUBECONFIG", eso_cluster.kubeconfig)
    return eso_cluster
