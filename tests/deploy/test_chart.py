"""infra/helm/soma-memory through the real helm binary: lint and template in all five modes,
strict Kubernetes schemas, Pod Security `restricted`, everything issue 11 lists, and the
values schema refusing bad values."""

from __future__ import annotations

import json
import os
import tempfile

import kubernetes_validate
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
import sh
import yaml

from tasks.core import podsecurity
from tasks.core.config import MODES, REPO_ROOT

CHART = REPO_ROOT / "infra" / "helm" / "soma-memory"
KUBE_VERSION = "1.30.0"
RELEASE, NAMESPACE = "soma-memory", "sa01"
CUSTOM = ("monitoring.coreos.com/v1",)  # Prometheus Operator kinds: no built-in schema


def helm(k8s_clients, *args, ok=(0,)):
    return sh.Command(k8s_clients["helm"])(*args, _ok_code=list(ok), _return_cmd=True, _err_to_out=False,
                                           _env={"HOME": "/nonexistent-helm-home", "PATH": "/usr/bin:/bin", "NO_COLOR": "1",
                                                 **{f"HELM_{kind}_HOME": os.path.join(tempfile.gettempdir(),
                                                                                      f"soma-helm-{kind.lower()}")
                                                    for kind in ("CACHE", "CONFIG", "DATA")}})


def values_args(mode: str) -> list[str]:
    return ["-f", str(CHART / "values.yaml"), "-f", str(CHART / f"values-{mode}.yaml")]


def template(k8s_clients, mode: str, *extra: str, kube_version: str = KUBE_VERSION) -> list[dict]:
    out = helm(k8s_clients, "template", RELEASE, str(CHART), "-n", NAMESPACE, *values_args(mode),
               "--kube-version", kube_version, *extra)
    return [d for d in yaml.safe_load_all(str(out)) if d]


@pytest.fixture(scope="module")
def rendered(k8s_clients) -> dict[str, list[dict]]:
    return {mode: template(k8s_clients, mode) for mode in MODES}


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def root_fs_writable(pod: dict) -> list[str]:
    """Ours, beyond `restricted`: every container's root filesystem is read-only."""
    return [c["name"] for c in (pod.get("containers") or []) + (pod.get("initContainers") or [])
            if (c.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True]


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_lints_clean_with_the_real_helm(k8s_clients, mode):
    out = helm(k8s_clients, "lint", "--strict", str(CHART), *values_args(mode), "--kube-version", KUBE_VERSION)
    text = str(out)
    assert "1 chart(s) linted, 0 chart(s) failed" in text, text
    assert "[WARNING]" not in text and "[ERROR]" not in text, text


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_is_valid_kubernetes_and_pod_security_restricted(rendered, mode):
    docs = rendered[mode]
    for d in docs:
        if d["apiVersion"] in CUSTOM:
            continue
        kubernetes_validate.validate(d, KUBE_VERSION, strict=True)
        assert d["metadata"]["namespace"] == NAMESPACE
        assert d["metadata"]["labels"]["soma.sh/mode"] == mode
    pods = podsecurity.pod_specs(docs)
    assert pods
    for name, pod in pods:
        assert podsecurity.violations(pod) == [], name
        assert root_fs_writable(pod) == [], name
        assert pod["automountServiceAccountToken"] is False, name


@pytest.mark.parametrize("mode", MODES)
def test_the_workloads_run_from_the_onboarding_contract(rendered, mode):
    docs = rendered[mode]
    deployments = by_kind(docs, "Deployment")
    api = deployments["soma-memory-api"]["spec"]["template"]["spec"]
    container = api["containers"][0]
    assert container["envFrom"] == [{"configMapRef": {"name": "sa01-settings"}},
                                    {"secretRef": {"name": "sa01-runtime"}}]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SOMA_MEMORY_RELAY_IN_PROCESS"] == "false"
    assert env["KAFKA_REPLICATION_FACTOR"] == ("1" if mode in ("dev", "test") else "3")
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["serviceAccountName"] == "sa01-sa"
    # no SOMA_MEMORY_DATABASE_URL, no secret value anywhere in the manifests
    assert "SOMA_MEMORY_DATABASE_URL" not in env and "SOMA_MEMORY_KAFKA_SASL_PASSWORD" not in env
    assert not by_kind(docs, "Secret")
    relay = deployments["soma-memory-relay"]["spec"]
    assert relay["replicas"] == 1 and relay["strategy"]["type"] == "Recreate"
    assert relay["template"]["spec"]["containers"][0]["args"] == ["relay"]
    assert ("soma-memory-consumer" in deployments) == (mode != "dev")
    if mode in ("staging", "prod-lite", "prod"):
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["POSTGRES_SSLMODE"] == "verify-full"
        assert env["POSTGRES_SSLROOTCERT"].startswith("/etc/soma/ca/")


def test_dev_has_no_autoscaler_and_prod_has_everything(rendered):
    dev, prod = rendered["dev"], rendered["prod"]
    assert not by_kind(dev, "HorizontalPodAutoscaler") and not by_kind(dev, "Ingress")
    assert not by_kind(dev, "ServiceMonitor") and not by_kind(dev, "CronJob")
    hpa = by_kind(prod, "HorizontalPodAutoscaler")["soma-memory-api"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)
    assert "replicas" not in by_kind(prod, "Deployment")["soma-memory-api"]["spec"]  # the HPA owns it
    pdb = by_kind(prod, "PodDisruptionBudget")["soma-memory-api"]
    assert pdb["apiVersion"] == "policy/v1" and pdb["spec"]["maxUnavailable"] == 1
    ingress = by_kind(prod, "Ingress")["soma-memory"]
    assert ingress["spec"]["tls"] == [{"hosts": ["memory.soma.local"], "secretName": "soma-memory-tls"}]
    assert by_kind(prod, "Service")["soma-memory"]["spec"]["ports"][0]["targetPort"] == "http"


def test_network_policy_admits_the_ingress_controller_and_labelled_namespaces_only(rendered):
    policies = by_kind(rendered["prod"], "NetworkPolicy")
    deny = policies["soma-memory-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in deny and "egress" not in deny
    sources = policies["soma-memory-allow-api-ingress"]["spec"]["ingress"][0]["from"]
    assert sources[0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "ingress-nginx"}
    assert sources[0]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "ingress-nginx"}
    assert sources[1]["namespaceSelector"]["matchLabels"] == {"soma.sh/allow-memory": "true"}
    egress = [e for p in policies.values() for e in p["spec"].get("egress") or []]
    targets = [t["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for e in egress for t in e["to"]]
    assert sorted(targets) == ["kube-system", "soma-infra"]  # shared infra and DNS, nothing else
    ports = {p["port"] for e in egress for p in e["ports"]}
    assert ports == {53, 5432, 9092, 9093}


def test_monitoring_alerts_and_dashboard(rendered):
    docs = rendered["staging"]
    monitor = by_kind(docs, "ServiceMonitor")["soma-memory"]
    assert monitor["spec"]["endpoints"][0]["port"] == "http" and monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    rules = by_kind(docs, "PrometheusRule")["soma-memory"]["spec"]["groups"][0]["rules"]
    exprs = {r["alert"]: r["expr"] for r in rules}
    assert set(exprs) == {"SomaMemoryHighP95Latency", "SomaMemoryHigh5xxRatio", "SomaMemoryOutboxLag",
                          "SomaMemoryConsumerLag", "SomaMemoryDLQGrowing"}
    assert "histogram_quantile(0.95" in exprs["SomaMemoryHighP95Latency"] and "> 0.75" in exprs["SomaMemoryHighP95Latency"]
    assert 'status=~"5.."' in exprs["SomaMemoryHigh5xxRatio"]
    assert "memory_outbox_lag_seconds" in exprs["SomaMemoryOutboxLag"]
    assert 'topic="sa01.events.dlq"' in exprs["SomaMemoryDLQGrowing"]
    dashboard = by_kind(docs, "ConfigMap")["soma-memory-dashboard"]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    board = json.loads(dashboard["data"]["soma-memory.json"])
    exported = {"memory_http_requests_total", "memory_http_request_duration_seconds_bucket",
                "memory_outbox_pending", "memory_outbox_lag_seconds", "memory_index_rows"}
    used = " ".join(t["expr"] for p in board["panels"] for t in p["targets"])
    assert all(name in used for name in exported)


def test_every_service_metric_the_rules_and_dashboard_use_is_exported(rendered, tmp_path):
    import re

    from memory import runtime
    from memory.api import create_app
    from memory.config import Settings
    settings = Settings(data_dir=str(tmp_path), dim=8)
    svc = runtime.build_service(settings, follow=False)
    try:
        client = create_app(settings, svc).test_client()
        assert client.post("/v1/memories", json={"vector": [1.0] * 8}).status_code == 201
        exported = set(re.findall(r"^([a-z_]+)(?:{| )", client.get("/metrics").get_data(as_text=True), re.M))
    finally:
        svc.stop()
        svc.store.close()
    docs = rendered["staging"]
    text = json.dumps(by_kind(docs, "PrometheusRule")) + by_kind(docs, "ConfigMap")["soma-memory-dashboard"]["data"]["soma-memory.json"]
    used = {m for m in re.findall(r"\b(memory_[a-z_]+)", text)}
    assert used and used <= exported, used - exported


def test_migration_hook_and_backup(rendered):
    docs = rendered["prod"]
    job = by_kind(docs, "Job")["soma-memory-migrate"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    cron = by_kind(docs, "CronJob")["soma-memory-backup"]
    assert cron["apiVersion"] == "batch/v1" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert "pg_dump --format=custom" in container["args"][0]
    # The maintained official image (not bitnamilegacy), at the shared PostgreSQL's major
    # version: pg_dump refuses a server newer than itself.
    shared = yaml.safe_load((REPO_ROOT / "infra/helm/soma-infra/values.yaml").read_text())
    server_major = shared["postgres"]["imageName"].split(":")[1].split(".")[0]  # CloudNativePG's image
    repository, tag = container["image"].rsplit(":", 1)
    assert repository == "docker.io/library/postgres" and tag.split(".")[0] == server_major, container["image"]
    env = {e["name"]: e for e in container["env"]}
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "sa01-runtime", "key": "POSTGRES_PASSWORD"}
    assert env["BACKUP_RETENTION_DAYS"]["value"] == "14"
    pvc = by_kind(docs, "PersistentVolumeClaim")["soma-memory-backups"]
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_old_servers_get_the_api_versions_they_serve(k8s_clients):
    docs = template(k8s_clients, "prod", kube_version="1.20.0")
    kinds = {d["kind"]: d["apiVersion"] for d in docs}
    assert kinds["HorizontalPodAutoscaler"] == "autoscaling/v2beta2"
    assert kinds["PodDisruptionBudget"] == "policy/v1beta1"
    assert kinds["CronJob"] == "batch/v1beta1"


@pytest.mark.parametrize("bad, message", [
    (["--set", "mode=qa"], "mode"),
    (["--set", "contract.kafka.replicationFactor=0"], "replicationFactor"),
    (["--set", "contract.postgres.sslmode=sometimes"], "sslmode"),
    (["--set", "image.pullPolicy=Sometimes"], "pullPolicy"),
    (["--set", "memory.extraEnv.PATH=/x"], "PATH"),
    (["--set", "unknownKey=1"], "unknownKey"),
])
def test_the_values_schema_refuses_bad_values(k8s_clients, bad, message):
    out = helm(k8s_clients, "template", RELEASE, str(CHART), "-n", NAMESPACE, *values_args("dev"), *bad, ok=(1,))
    assert "values don't meet the specifications of the schema" in str(out.stderr.decode()), out.stderr
    assert message in out.stderr.decode()


# No infinity: YAML's .inf is not JSON, so helm refuses the file before the schema sees it.
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 70000),
                    st.floats(allow_nan=False, allow_infinity=False, width=32),
                    st.text(max_size=12), st.sampled_from(["dev", "prod", "SASL_SSL", "verify-full", "Never", "1Gi"]))
PATHS = [("mode",), ("image", "pullPolicy"), ("image", "digest"), ("api", "replicas"),
         ("api", "autoscaling", "enabled"), ("api", "autoscaling", "maxReplicas"), ("api", "pdb", "maxUnavailable"),
         ("contract", "kafka", "replicationFactor"), ("contract", "kafka", "securityProtocol"),
         ("contract", "postgres", "sslmode"), ("service", "targetPort"), ("ingress", "enabled"), ("ingress", "host"),
         ("monitoring", "enabled"), ("monitoring", "alerts", "errorRatio"), ("backup", "enabled"),
         ("backup", "schedule"), ("backup", "size"), ("memory", "dim"), ("networkPolicy", "enabled")]


def nested(path, value) -> dict:
    out: dict = value
    for key in reversed(path):
        out = {key: out}
    return out


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(PATHS), SCALARS), min_size=1, max_size=4))
def test_generated_values_are_refused_by_the_schema_or_render_valid_kubernetes(k8s_clients, tmp_path, changes):
    from tasks.core.values import merge_values
    overrides: dict = {}
    for path, value in changes:
        overrides = merge_values(overrides, nested(path, value))
    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump(overrides))
    out = helm(k8s_clients, "template", RELEASE, str(CHART), "-n", NAMESPACE, *values_args("prod"), "-f", str(extra),
               "--kube-version", KUBE_VERSION, ok=(0, 1))
    if out.exit_code:
        assert "values don't meet the specifications of the schema" in out.stderr.decode(), out.stderr
        return
    for d in (d for d in yaml.safe_load_all(str(out)) if d):
        if d["apiVersion"] not in CUSTOM:
            kubernetes_validate.validate(d, KUBE_VERSION, strict=True)
