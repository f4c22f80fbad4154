"""The chart's own manifests for every mode: contents, labels, and strict Kubernetes schemas."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from tasks.core import chart
from tasks.core.config import MODES
from tasks.core.errors import ChartError, ManifestError

from .conftest import by_kind, write_yaml

CONTRACT_KEYS = {"POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER", "REDIS_URL",
                 "KAFKA_BOOTSTRAP_SERVERS", "OPA_URL", "VAULT_ADDR"}  # playbook §3.4 minus VAULT_ROLE
RECOMMENDED_LABELS = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                      "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of", "app.kubernetes.io/component",
                      "helm.sh/chart"}
# The oldest version we support and the newest the validator knows.
KUBE_VERSIONS = sorted({chart.KUBE_VERSION, kubernetes_validate.latest_version()})


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("mode", MODES)
def test_every_manifest_is_valid_kubernetes_strict(rendered, mode, version):
    docs = rendered[mode].documents()
    assert chart.validate_manifests(docs, version) == len(docs) > 0
    # the operator kinds are CloudNativePG's and Strimzi's only, checked as OPERATOR_KINDS says
    assert {d["kind"] for d in docs if chart.is_operator_kind(d)} <= {
        "Cluster", "Pooler", "Kafka", "KafkaNodePool", "KafkaUser"}


def test_validation_rejects_what_the_api_server_would(rendered):
    policy = copy.deepcopy(next(d for d in rendered["dev"].documents() if d["kind"] == "NetworkPolicy"))
    policy["spec"]["policyTypes"] = "Ingress"  # must be a list
    typo = copy.deepcopy(next(d for d in rendered["dev"].documents() if d["kind"] == "ConfigMap"))
    typo["metadata"]["lables"] = {"a": "b"}  # strict: unknown fields fail
    with pytest.raises(ManifestError) as caught:
        chart.validate_manifests([policy, typo], chart.KUBE_VERSION)
    message = str(caught.value)
    assert f"NetworkPolicy/{policy['metadata']['name']}" in message
    assert "ConfigMap/sharedinfra-endpoints" in message and "lables" in message


def test_unknown_kind_is_reported_not_skipped():
    with pytest.raises(ManifestError, match="no schema for example.com/v1 Widget"):
        chart.validate_manifests([{"apiVersion": "example.com/v1", "kind": "Widget",
                                   "metadata": {"name": "w"}}], chart.KUBE_VERSION)
    # A Strimzi kind at an API version Strimzi 1.2.0 no longer serves is not waved through.
    with pytest.raises(ManifestError, match="no schema for kafka.strimzi.io/v1beta2 Kafka"):
        chart.validate_manifests([{"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "Kafka",
                                   "metadata": {"name": "k"}}], chart.KUBE_VERSION)


@pytest.mark.parametrize("mode", MODES)
def test_manifests_carry_namespace_and_recommended_labels(rendered, mode):
    for doc in rendered[mode].documents():
        meta = doc["metadata"]
        assert meta["namespace"] == "soma-infra"
        assert RECOMMENDED_LABELS <= set(meta["labels"]), meta["name"]
        assert meta["labels"]["app.kubernetes.io/name"] == "soma-infra"
        assert meta["labels"]["app.kubernetes.io/instance"] == "sharedinfra"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        assert meta["labels"]["soma.sh/mode"] == mode


@pytest.mark.parametrize("mode", MODES)
def test_endpoints_configmap_publishes_the_contract(rendered, merged, mode):
    data = by_kind(rendered[mode], "ConfigMap")["sharedinfra-endpoints"]["data"]
    assert CONTRACT_KEYS <= set(data)
    assert all(isinstance(v, str) for v in data.values())
    assert data["SOMA_INFRA_MODE"] == mode
    # Apps go through the PgBouncer Pooler, which follows the primary (never an instance).
    assert data["POSTGRES_HOST"] == "sharedinfra-postgres-pooler.soma-infra.svc.cluster.local"
    assert data["POSTGRES_PORT"] == "5432"
    assert data["POSTGRES_DB"] == "somaagent01" and data["POSTGRES_USER"] == "soma"
    # redis-ha's one Service fronts every node; with three (staging, prod-lite, prod) apps
    # ask Sentinel, on the same Service, which node is the master.
    assert data["REDIS_URL"] == "redis://sharedinfra-redis.soma-infra.svc.cluster.local:6379/0"
    if mode in ("dev", "test"):
        assert "REDIS_SENTINEL_HOST" not in data
    else:
        assert (data["REDIS_SENTINEL_HOST"], data["REDIS_SENTINEL_PORT"], data["REDIS_SENTINEL_MASTER"]) == (
            "sharedinfra-redis.soma-infra.svc.cluster.local", "26379", "sharedinfra")
    # Strimzi's bootstrap Service of the Kafka resource sharedinfra-kafka.
    assert data["KAFKA_BOOTSTRAP_SERVERS"] == "sharedinfra-kafka-kafka-bootstrap.soma-infra.svc.cluster.local:9092"
    assert data["OPA_URL"] == "http://sharedinfra-opa.soma-infra.svc.cluster.local:8181/v1/data"
    # The scheme follows the Vault listener: https exactly where TLS is on.
    tls = not merged[mode]["vault"]["global"]["tlsDisable"]
    assert data["VAULT_ADDR"] == ("https" if tls else "http") + "://sharedinfra-vault.soma-infra.svc.cluster.local:8200"
    assert data["KAFKA_SECURITY_PROTOCOL"] == merged[mode]["kafka"]["listeners"]["client"]["protocol"]
    if mode in ("dev", "test"):
        assert data["KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT" and "KAFKA_SASL_MECHANISM" not in data
    else:
        assert (data["KAFKA_SECURITY_PROTOCOL"], data["KAFKA_SASL_MECHANISM"]) == ("SASL_PLAINTEXT", "SCRAM-SHA-512")


def test_disabled_services_publish_no_endpoint(rendered):
    data = by_kind(rendered["test"], "ConfigMap")["sharedinfra-endpoints"]["data"]
    assert "PROMETHEUS_URL" not in data and "GRAFANA_URL" not in data
    assert data["SOMA_INFRA_SERVICES"] == "postgres,redis,kafka,vault,opa"
    full = by_kind(rendered["prod"], "ConfigMap")["sharedinfra-endpoints"]["data"]
    assert full["PROMETHEUS_URL"] == "http://sharedinfra-prometheus-server.soma-infra.svc.cluster.local:80"
    assert full["GRAFANA_URL"] == "http://sharedinfra-grafana.soma-infra.svc.cluster.local:80"


def test_release_and_namespace_flow_into_every_name(tmp_path):
    extra = write_yaml(tmp_path / "x.yaml", {"endpointsConfigMap": {"name": "", "clusterDomain": "corp.local"}})
    out = chart.render("staging", extra_files=[extra], release="infra2", namespace="shared-x")
    docs = out.documents()
    assert {d["metadata"]["namespace"] for d in docs} == {"shared-x"}
    cm = by_kind(out, "ConfigMap")["infra2-endpoints"]["data"]
    assert cm["POSTGRES_HOST"] == "sharedinfra-postgres-pooler.shared-x.svc.corp.local"
    assert all(n.startswith("infra2-soma-infra-") for n in by_kind(out, "NetworkPolicy"))
    assert by_kind(out, "Pooler")["sharedinfra-postgres-pooler"]["spec"]["cluster"]["name"] == "sharedinfra-postgres"
    assert "release infra2 in namespace shared-x" in out.notes


def test_invalid_release_name_is_refused():
    with pytest.raises(ChartError, match="invalid release name 'Bad_Release'"):
        chart.render("dev", release="Bad_Release")


def test_notes_tell_the_operator_what_to_do(rendered):
    dev, prod = rendered["dev"].notes, rendered["prod"].notes
    assert "mode dev" in dev
    assert "kubectl label namespace <app-namespace> soma.sh/allow-shared-infra=true --overwrite" in dev
    assert "kubectl get configmap sharedinfra-endpoints -n soma-infra" in dev
    assert "WARNING" not in dev  # dev opens the API server egress
    assert "networkPolicy.apiServer is disabled" in prod
    assert "Vault starts sealed" in prod and "Vault starts sealed" not in dev
    assert "kubectl wait kafka/sharedinfra-kafka -n soma-infra --for=condition=Ready" in dev
    assert "Secret of the same name (soma-admin, soma-app)" in prod and "Secret of the same name" not in dev


def test_stream_is_a_helm_template_style_yaml_stream(rendered):
    stream = rendered["dev"].stream()
    assert stream.count("# Source: soma-infra/templates/networkpolicy.yaml") == 5
    assert stream.count("# Source: soma-infra/templates/configmap-endpoints.yaml") == 1
    import yaml
    assert stream.count("# Source: soma-infra/templates/kafka-cluster.yaml") == 2
    assert [d["kind"] for d in yaml.safe_load_all(stream) if d] == (
        ["ConfigMap", "KafkaNodePool", "Kafka"] + ["NetworkPolicy"] * 5 + ["Cluster", "NetworkPolicy", "Pooler"])
    for name in ("postgres-cluster", "postgres-networkpolicy", "postgres-pooler"):
        assert stream.count(f"# Source: soma-infra/templates/{name}.yaml") == 1


def test_invalid_namespace_and_unknown_kubernetes_version_are_refused(rendered):
    with pytest.raises(ChartError, match="invalid namespace 'Soma_Infra'"):
        chart.render("dev", namespace="Soma_Infra")
    with pytest.raises(ChartError, match=r"no Kubernetes schemas for version '1.99.0'; known: 1\.\d+\.0 to 1\.\d+\.0"):
        chart.validate_manifests(rendered["dev"].documents(), "1.99.0")


def test_endpoints_configmap_can_be_switched_off(tmp_path):
    extra = write_yaml(tmp_path / "nocm.yaml", {"endpointsConfigMap": {"enabled": False}})
    out = chart.render("dev", extra_files=[extra])
    assert by_kind(out, "ConfigMap") == {}
    assert "kubectl get configmap" not in out.notes
    assert len(by_kind(out, "NetworkPolicy")) == 6  # five for the namespace, one for the postgres operator
