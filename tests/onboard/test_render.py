"""`inv render`: every artefact, deterministic, schema-valid, and mutually consistent."""

import json
import re

import kubernetes_validate
import pytest
import yaml

from tasks.onboard import manifests
from tasks.onboard.spec import SECRET_KEYS, OnboardSpec
from tests.onboard.cli import inv

CONTRACT_KEYS = {"POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER", "REDIS_URL",
                 "KAFKA_BOOTSTRAP_SERVERS", "OPA_URL", "VAULT_ADDR", "VAULT_ROLE"}


@pytest.fixture(scope="module")
def rendered():
    return manifests.render(OnboardSpec("sa01", "dev", "dev"))


@pytest.fixture(scope="module")
def objs(rendered):
    return manifests.load(rendered)


def test_render_is_deterministic_and_fully_substituted(rendered):
    again = manifests.render(OnboardSpec("sa01", "dev", "dev"))
    assert again == rendered
    for name, text in rendered.items():
        assert "{{" not in text and "${" not in text, name
        assert "sa01" in text, name  # every artefact is the app's own, the store included


def test_builtin_kinds_pass_kubernetes_validate(objs):
    checked = manifests.validate_builtin(objs)
    assert sorted(checked) == ["configmap-settings.yaml", "namespace.yaml",
                               "networkpolicy.yaml", "serviceaccount.yaml"]


def server_check(cluster, kubectl: str, obj: dict) -> tuple[int, str]:
    """A server-side dry run through the real kubectl 1.36: the API server validates the
    object against the installed External Secrets CRD and stores nothing."""
    import sh
    done = sh.Command(kubectl)("--kubeconfig", cluster.kubeconfig, "apply", "--dry-run=server",
                               "--validate=strict", "-f", "-", _in=json.dumps(obj), _ok_code=list(range(256)),
                               _return_cmd=True, _tty_out=False)
    return done.exit_code, done.stderr.decode() + done.stdout.decode()


@pytest.mark.kube
@pytest.mark.parametrize("mode", ["dev", "prod"])
def test_external_secrets_resources_pass_the_real_crds(eso_cluster, real_kubectl, mode):
    objs = manifests.load(manifests.render(OnboardSpec("sa01", "dev", mode)))
    eso_cluster.kubectl("create", "namespace", "sa01", check=False)
    for name in ("secretstore.yaml", "externalsecret.yaml"):
        code, out = server_check(eso_cluster, real_kubectl, objs[name])
        assert code == 0, (name, out)
        assert "(server dry run)" in out


@pytest.mark.kube
@pytest.mark.parametrize("mutate, where", [
    (lambda o: o.update(apiVersion="external-secrets.io/v1beta1"), "v1beta1"),
    (lambda o: o["spec"]["data"][0]["remoteRef"].pop("key"), "key"),
    (lambda o: o["spec"]["secretStoreRef"].update(kind="Store"), "kind"),
    (lambda o: o["spec"]["target"].update(nmae="typo"), "nmae"),
])
def test_the_real_crds_reject_broken_external_secrets(eso_cluster, real_kubectl, objs, mutate, where):
    eso_cluster.kubectl("create", "namespace", "sa01", check=False)
    broken = json.loads(json.dumps(objs["externalsecret.yaml"]))
    mutate(broken)
    code, out = server_check(eso_cluster, real_kubectl, broken)
    assert code != 0 and where in out, out


def test_kubernetes_validate_rejects_a_broken_configmap(objs):
    broken = json.loads(json.dumps(objs["configmap-settings.yaml"]))
    broken["data"]["POSTGRES_PORT"] = 5432
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, manifests.K8S_VERSION, strict=True)


def test_externalsecret_contract(objs):
    es = objs["externalsecret.yaml"]
    assert es["apiVersion"] == "external-secrets.io/v1"
    assert es["metadata"] == {"name": "sa01-secrets", "namespace": "sa01",
                              "labels": es["metadata"]["labels"]}
    assert es["spec"]["refreshInterval"] == "1h"
    # the app's own namespaced store, never a shared ClusterSecretStore
    assert es["spec"]["secretStoreRef"] == {"name": "vault", "kind": "SecretStore"}
    assert es["spec"]["target"]["name"] == "sa01-runtime"
    assert {d["secretKey"]: d["remoteRef"]["property"] for d in es["spec"]["data"]} == SECRET_KEYS
    assert {d["remoteRef"]["key"] for d in es["spec"]["data"]} == {"shared-infra/sa01/dev"}


def test_vault_policy_names_exactly_the_path_the_externalsecret_reads(rendered, objs):
    store = objs["secretstore.yaml"]["spec"]["provider"]["vault"]
    key = objs["externalsecret.yaml"]["spec"]["data"][0]["remoteRef"]["key"]
    assert store["version"] == "v2"
    # KV v2: the store reads <path>/data/<key>; the policy must name that, with no glob.
    paths = re.findall(r'^path "([^"]+)"', rendered["vault-policy.hcl"], re.M)
    assert paths == [f"{store['path']}/data/{key}"]
    rules = [ln for ln in rendered["vault-policy.hcl"].splitlines() if not ln.startswith("#")]
    assert not any("*" in ln or "+" in ln for ln in rules)


def test_the_store_logs_in_with_the_apps_own_role_and_service_account(objs, rendered):
    store = objs["secretstore.yaml"]
    assert store["kind"] == "SecretStore" and store["metadata"]["namespace"] == "sa01"
    k8s = store["spec"]["provider"]["vault"]["auth"]["kubernetes"]
    role = manifests.vault_role(rendered)
    assert k8s["role"] == "sa01" and role["token_policies"] == ["sa01"]
    assert k8s["serviceAccountRef"] == {"name": "sa01-sa", "audiences": ["vault"]}
    assert role["bound_service_account_names"] == ["sa01-sa"]
    assert role["bound_service_account_namespaces"] == ["sa01"]
    assert role["audience"] == "vault"


@pytest.mark.parametrize("mode, scheme, ca", [("dev", "http", False), ("test", "http", False),
                                              ("staging", "https", True), ("prod-lite", "https", True),
                                              ("prod", "https", True)])
def test_the_vault_scheme_and_ca_follow_the_mode(mode, scheme, ca):
    objs = manifests.load(manifests.render(OnboardSpec("sa01", "dev", mode)))
    vault = objs["secretstore.yaml"]["spec"]["provider"]["vault"]
    assert vault["server"] == f"{scheme}://sharedinfra-vault.soma-infra.svc.cluster.local:8200"
    assert objs["configmap-settings.yaml"]["data"]["VAULT_ADDR"] == vault["server"]
    if ca:
        assert vault["caProvider"] == {"type": "ConfigMap", "name": "vault-ca", "key": "ca.crt"}
    else:
        assert "caProvider" not in vault


def test_network_policy_and_namespace_share_the_label(objs):
    label = "soma.sh/allow-shared-infra"
    assert objs["namespace.yaml"]["metadata"]["labels"][label] == "true"
    assert objs["namespace.yaml"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # an application namespace never carries the release's ownership label: reset refuses it
    assert "soma.sh/release" not in objs["namespace.yaml"]["metadata"]["labels"]
    np = objs["networkpolicy.yaml"]
    peer = np["spec"]["ingress"][0]["from"]
    # One `from` element with both labels: AND, not OR.
    assert peer == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "sa01", label: "true"}}}]
    assert np["metadata"]["namespace"] == "soma-infra"


def test_configmap_contract(objs):
    data = objs["configmap-settings.yaml"]["data"]
    assert CONTRACT_KEYS <= set(data)
    assert data["VAULT_ADDR"].startswith("http://sharedinfra-vault.soma-infra.svc")  # dev
    assert data["POSTGRES_HOST"] == "sharedinfra-postgres-pooler.soma-infra.svc.cluster.local"
    assert data["POSTGRES_PORT"] == "5432"
    assert data["VAULT_ROLE"] == data["POSTGRES_DB"] == data["POSTGRES_USER"] == "sa01"
    assert data["KAFKA_EVENTS_TOPIC"] == "sa01.events"
    assert data["KAFKA_BOOTSTRAP_SERVERS"] == "sharedinfra-kafka-kafka-bootstrap.soma-infra.svc.cluster.local:9092"
    # The shared chart's redis-ha Service (no -master Service); one node in dev, no Sentinel keys.
    assert data["REDIS_URL"] == "redis://sharedinfra-redis.soma-infra.svc.cluster.local:6379/0"
    assert not [k for k in data if k.startswith("REDIS_SENTINEL_")]


@pytest.mark.parametrize("mode", ["staging", "prod-lite", "prod"])
def test_configmap_names_sentinel_where_redis_runs_three_nodes(mode):
    """The same keys and values the shared chart's endpoints ConfigMap publishes in that mode."""
    from tasks.core import chart

    data = manifests.load(manifests.render(OnboardSpec("sa01", "prod", mode)))["configmap-settings.yaml"]["data"]
    endpoints = next(d for d in chart.render(mode).documents()
                     if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "sharedinfra-endpoints")["data"]
    # Kafka: Strimzi's bootstrap Service, as the chart publishes it.
    keys = ("REDIS_URL", "REDIS_SENTINEL_HOST", "REDIS_SENTINEL_PORT", "REDIS_SENTINEL_MASTER", "KAFKA_BOOTSTRAP_SERVERS")
    assert {k: data[k] for k in keys} == {k: endpoints[k] for k in keys}


def test_vault_role(rendered):
    role = manifests.vault_role(rendered)
    assert role == {"bound_service_account_names": ["sa01-sa"],
                    "bound_service_account_namespaces": ["sa01"],
                    "token_policies": ["sa01"], "token_ttl": 86400, "audience": "vault"}


def test_release_and_infra_namespace_come_from_config(monkeypatch):
    monkeypatch.setenv("SOMA_RELEASE", "edge")
    monkeypatch.setenv("SOMA_NAMESPACE", "shared")
    code, out = inv("render", "-n", "sa01", "--mode", "staging", "--env", "staging")
    assert code == 0, out
    assert "edge-postgres-pooler.shared.svc.cluster.local" in out
    assert "https://edge-vault.shared.svc.cluster.local:8200" in out


def test_inv_render_out_writes_identical_files(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert inv("render", "--ns", "sa01", "--env", "staging", "--out", str(first))[0] == 0
    assert inv("render", "--namespace", "sa01", "--env", "staging", "--out", str(second))[0] == 0
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(manifests.ARTEFACTS)
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes()
    es = yaml.safe_load((first / "externalsecret.yaml").read_text())
    assert es["spec"]["data"][0]["remoteRef"]["key"] == "shared-infra/sa01/staging"


def test_inv_render_refuses_a_file_as_out_and_writes_nothing(tmp_path):
    target = tmp_path / "file"
    target.write_text("keep")
    code, out = inv("render", "--ns", "sa01", "--out", str(target))
    assert code == 2 and "not a directory" in out
    assert target.read_text() == "keep"


def test_inv_render_out_below_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("keep")
    code, out = inv("render", "--ns", "sa01", "--out", str(tmp_path / "file" / "sub"))
    assert code == 2 and "cannot write into --out" in out, out
    assert "Traceback" not in out
    assert (tmp_path / "file").read_text() == "keep"
