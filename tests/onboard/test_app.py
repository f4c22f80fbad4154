"""`inv app.onboard` against every real service: kube-apiserver, OpenBao, PostgreSQL, Tansu.

Done when `inv app.onboard --ns sa01 --env dev --mode dev` produces every artefact and a
second run is a no-op.

Every service is real, the external-secrets custom resources included: the real External
Secrets CRDs (v2.9.0) are installed on the test API server, which validates, stores and
serves them. Every kubectl is the real kubectl 1.36.
"""

import json
import pathlib

import hvac
import hvac.exceptions
import psycopg
import pytest

from invoke import Config, Context

from tasks import app
from tasks.onboard import kafka_ops, kube_ops, manifests, vault_ops
from tasks.onboard.spec import OnboardSpec
from tests.onboard.cli import collection, inv

pytestmark = [pytest.mark.kube, pytest.mark.vault, pytest.mark.postgres, pytest.mark.kafka]

SEED = {"SOMA_SEED_POSTGRES_PASSWORD": "sa01-pg-pass", "SOMA_SEED_REDIS_PASSWORD": "sa01-redis",
        "SOMA_SEED_KAFKA_SASL_PASSWORD": "sa01-sasl"}
# What the seed becomes in Vault: the three properties given and the DSN derived from them.
SEED_PROPERTIES = ("postgres_password", "redis_password", "kafka_sasl_password", "postgres_dsn")


@pytest.fixture
def all_services(kube_env, vault_env, pg_env, kafka_env, monkeypatch):
    for name, value in SEED.items():
        monkeypatch.setenv(name, value)
    return kube_env, vault_env, pg_env, kafka_env


@pytest.fixture
def onboard(capsys):
    """Runs the app.onboard task body; returns (result, out)."""
    soma = collection().configuration()["soma"]

    def run(ns, env="dev", mode="dev", dry=False):
        ctx = Context(Config(overrides={"soma": soma, "run": {"dry": dry}}))
        result = app.run(ctx, ns, env, mode)
        return result, capsys.readouterr().out

    return run


def test_onboard_sa01_produces_every_artefact_and_second_run_is_a_no_op(all_services, onboard):
    kube, vault, pg, kafka = all_services
    result, out = onboard("sa01", "dev", "dev")
    assert result.outcome == "done", out
    for secret in SEED.values():
        assert secret not in out

    # Kubernetes: namespace with its labels, SA, the app's own store, ExternalSecret, ConfigMap.
    ns = kube.get_json("namespace", "sa01")
    assert ns["metadata"]["labels"]["soma.sh/allow-shared-infra"] == "true"
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert kube.get_json("serviceaccount", "sa01-sa", "-n", "sa01")["metadata"]["name"] == "sa01-sa"
    # Custom resources, accepted by the real CRDs and stored as rendered (nothing pruned).
    es = kube.get_json("externalsecret", "sa01-secrets", "-n", "sa01")
    store = kube.get_json("secretstore", "vault", "-n", "sa01")
    sent = {m["kind"]: m for m in manifests.load(
        manifests.render(OnboardSpec("sa01", "dev", "dev"))).values() if manifests.is_custom(m)}
    for live in (es, store):
        # every rendered field stored as rendered (the CRDs add their defaults, e.g.
        # target.deletionPolicy), nothing pruned
        assert kube_ops.contains(live["spec"], sent[live["kind"]]["spec"]), live["kind"]
    assert es["spec"]["data"][0]["remoteRef"]["key"] == "shared-infra/sa01/dev"
    assert es["spec"]["target"]["name"] == "sa01-runtime"
    assert store["spec"]["provider"]["vault"]["auth"]["kubernetes"]["role"] == "sa01"
    assert store["spec"]["provider"]["vault"]["server"].startswith("http://")  # dev: no TLS
    cm = kube.get_json("configmap", "sa01-settings", "-n", "sa01")
    assert cm["data"]["VAULT_ROLE"] == "sa01" and cm["data"]["VAULT_ADDR"].startswith("http://")
    np = kube.get_json("networkpolicy", "allow-from-sa01", "-n", "soma-infra")
    selector = np["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]
    assert selector["kubernetes.io/metadata.name"] == "sa01"
    # The policy really selects the live namespace (every label it asks for is there).
    assert selector.items() <= ns["metadata"]["labels"].items()

    # Vault: policy, role, KV seed with a derived DSN.
    client = vault.client()
    rendered = manifests.render(OnboardSpec("sa01", "dev", "dev"))
    assert client.sys.read_policy("sa01")["data"]["rules"] == rendered["vault-policy.hcl"]
    assert vault_ops.read_role(client, "kubernetes", "sa01") == manifests.vault_role(rendered)
    data, _ = vault_ops.kv_read(client, "secret", "shared-infra/sa01/dev")
    assert set(data) == set(SEED_PROPERTIES)

    # PostgreSQL: role with Vault's password, database owned by it.
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        assert conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database "
                            "WHERE datname = 'sa01'").fetchone() == ("sa01",)

    # Kafka: both topics as specified.
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    for topic in kafka_ops.topics_for(OnboardSpec("sa01")):
        state = kafka_ops.describe(admin, topic)
        assert (state.partitions, state.replication, state.config) == (
            6, 1, {"retention.ms": "259200000"})

    # Second run: nothing to change, nothing written.
    policy_before = client.sys.read_policy("sa01")["data"]
    kv_version = vault_ops.kv_read(client, "secret", "shared-infra/sa01/dev")[1]
    live = {"ns": ("namespace", "sa01"), "cm": ("configmap", "sa01-settings", "-n", "sa01"),
            "np": ("networkpolicy", "allow-from-sa01", "-n", "soma-infra"),
            "es": ("externalsecret", "sa01-secrets", "-n", "sa01"),
            "store": ("secretstore", "vault", "-n", "sa01")}
    rv = {k: kube.get_json(*args)["metadata"]["resourceVersion"] for k, args in live.items()}
    result, out = onboard("sa01", "dev", "dev")
    assert result.outcome == "all-set", out
    assert "all set" in out and "done " not in out
    assert client.sys.read_policy("sa01")["data"] == policy_before
    assert vault_ops.kv_read(client, "secret", "shared-infra/sa01/dev")[1] == kv_version
    assert rv == {k: kube.get_json(*args)["metadata"]["resourceVersion"] for k, args in live.items()}


def test_dry_run_touches_no_cluster_vault_or_database(all_services):
    # Through the CLI: under --dry nothing is written anywhere.
    kube, vault, pg, _ = all_services
    code, out = inv("--dry", "app.onboard", "--ns", "sa02", "--env", "dev", "--mode", "dev")
    assert code == 0, out
    assert "dry run" in out and "apply Namespace sa02" in out
    assert "sa02" not in kube.kubectl("get", "ns", "-o", "name")
    assert "sa02" not in vault.client().sys.list_policies()["data"]["policies"]
    assert vault_ops.read_role(vault.client(), "kubernetes", "sa02") is None
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'sa02'").fetchone() == (0,)


def test_drift_in_the_cluster_is_converged(all_services, onboard):
    kube, *_ = all_services
    assert onboard("sa03")[0].outcome == "done"
    kube.kubectl("label", "namespace", "sa03", "soma.sh/allow-shared-infra-", "--overwrite")
    kube.kubectl("patch", "configmap", "sa03-settings", "-n", "sa03", "--type", "merge",
                 "-p", json.dumps({"data": {"VAULT_ADDR": "https://wrong"}}))
    result, out = onboard("sa03")
    assert result.changed == ["apply Namespace sa03", "apply ConfigMap sa03-settings"], out
    assert "done apply Namespace sa03" in out and "done apply ConfigMap sa03-settings" in out
    assert "done apply ExternalSecret" not in out
    assert kube.get_json("namespace", "sa03")["metadata"]["labels"][
        "soma.sh/allow-shared-infra"] == "true"
    assert kube.get_json("configmap", "sa03-settings", "-n", "sa03")["data"][
        "VAULT_ADDR"] == "http://sharedinfra-vault.soma-infra.svc.cluster.local:8200"


def test_the_rendered_role_logs_in_only_the_app_service_account_and_reads_only_its_secret(
        all_services, onboard):
    """Vault's kubernetes auth against the real API server: a token the API server issues for
    `<ns>-sa` (audience `vault`) logs in through the rendered role and reads exactly the key
    the ExternalSecret names; any other service account or audience is refused."""
    kube, vault, *_ = all_services
    assert onboard("sa05")[0].outcome == "done"
    root = vault.client()
    # The auth method's connection to the API server belongs to the shared-infra deployment
    # (onboarding only enables the mount); the test points it at the test API server.
    ca = pathlib.Path(kube.root, "certs", "apiserver.crt").read_text()
    root.auth.kubernetes.configure(kubernetes_host=kube.server, kubernetes_ca_cert=ca,
                                   token_reviewer_jwt=kube.token, disable_local_ca_jwt=True)
    kube.kubectl("create", "serviceaccount", "intruder", "-n", "sa05")
    # The same service account name in a namespace the role is not bound to.
    kube.kubectl("create", "namespace", "elsewhere", check=False)
    kube.kubectl("create", "serviceaccount", "sa05-sa", "-n", "elsewhere")
    kv = root.secrets.kv.v2
    for path in ("shared-infra/sa05/prod", "shared-infra/other05/dev"):
        kv.create_or_update_secret(path=path, secret={"postgres_password": path})

    def jwt(sa, ns="sa05", audience="vault"):
        return kube.kubectl("create", "token", sa, "-n", ns, "--audience", audience).strip()

    app_client = hvac.Client(url=vault.addr)
    auth = app_client.auth.kubernetes.login("sa05", jwt("sa05-sa"))["auth"]
    assert sorted(auth["token_policies"]) == ["default", "sa05"]
    assert auth["lease_duration"] == 86400
    es = manifests.load(manifests.render(OnboardSpec("sa05")))["externalsecret.yaml"]
    key = es["spec"]["data"][0]["remoteRef"]["key"]
    got = app_client.secrets.kv.v2.read_secret_version(path=key, raise_on_deleted_version=True)
    assert set(got["data"]["data"]) == set(SEED_PROPERTIES)
    for other in ("shared-infra/sa05/prod", "shared-infra/other05/dev"):
        with pytest.raises(hvac.exceptions.Forbidden):
            app_client.secrets.kv.v2.read_secret_version(path=other, raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.Forbidden):
        app_client.secrets.kv.v2.create_or_update_secret(path=key, secret={"x": "y"})

    # The role carries only sa05's policy: there is no shared store role any more.
    assert vault_ops.read_role(root, "kubernetes", "sa05")["token_policies"] == ["sa05"]

    for sa, ns, audience, why in (
            ("intruder", "sa05", "vault", "service account name not authorized"),
            ("default", "sa05", "vault", "service account name not authorized"),
            ("sa05-sa", "elsewhere", "vault", "namespace not authorized"),
            ("sa05-sa", "sa05", "other", "invalid audience")):
        with pytest.raises(hvac.exceptions.VaultError, match=why):
            hvac.Client(url=vault.addr).auth.kubernetes.login("sa05", jwt(sa, ns, audience))


def test_no_database_password_anywhere_stops_the_run_before_any_change(
        kube_env, vault_env, pg_env, kafka_env):
    code, out = inv("app.onboard", "--ns", "sa06", "--env", "dev", "--mode", "dev")
    assert code == 1 and "no database password" in out, out
    assert "sa06" not in kube_env.kubectl("get", "ns", "-o", "name")
    assert "sa06" not in vault_env.client().sys.list_policies()["data"]["policies"]
    with psycopg.connect(pg_env.dsn(), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'sa06'"
                            ).fetchone() == (0,)
    from confluent_kafka.admin import AdminClient
    topics = AdminClient({"bootstrap.servers": kafka_env.bootstrap}).list_topics(timeout=15).topics
    assert "sa06.events" not in topics


def test_dry_run_shows_the_whole_plan_with_no_service_at_all(tmp_path, monkeypatch):
    """No Vault, no PostgreSQL, no broker, no cluster: `--dry` still lists every step, and
    each one it cannot check says so (`change?` and the reason)."""
    monkeypatch.setenv("SOMA_KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("SOMA_SEED_POSTGRES_PASSWORD", "dry-pass")
    monkeypatch.setenv("SOMA_EVIDENCE_DIR", str(tmp_path / "evidence"))
    code, out = inv("--dry", "app.onboard", "-n", "sa07", "--evidence")
    assert code == 0, out
    assert "vault: cannot compare (no Vault address" in out
    record = json.loads(next((tmp_path / "evidence").rglob("app-onboard-*.json")).read_text())
    steps = {s["name"]: s for s in record["plans"][0]["steps"]}
    assert list(steps) == [
        "password for role sa07", "apply Namespace sa07", "apply ServiceAccount sa07-sa",
        "enable kubernetes auth at kubernetes/", "write vault policy sa07", "write vault role sa07",
        "seed secret/shared-infra/sa07/dev",
        "apply SecretStore vault", "apply ExternalSecret sa07-secrets", "apply ConfigMap sa07-settings",
        "apply NetworkPolicy allow-from-sa07", "create role sa07", "create database sa07",
        "grant database sa07 to sa07", "create topic sa07.events", "add partitions to sa07.events",
        "set config of sa07.events", "create topic sa07.events.dlq",
        "add partitions to sa07.events.dlq", "set config of sa07.events.dlq"]
    assert all(s["state"] == "change?" and s["note"].startswith("cannot check") for s in steps.values()
               if s["kind"] != "check"), steps
    assert "change?" in out and "cannot check" in out
    assert "dry run: nothing was changed" in out
    assert "dry-pass" not in out


@pytest.mark.parametrize("mode", ["staging", "prod"])
def test_tls_modes_copy_the_vault_ca_into_the_app_namespace(kube_env, mode):
    """staging/prod: the SecretStore's caProvider reads a ConfigMap in its own namespace,
    copied from ca.crt of the shared-infra TLS Secret (the real API server, real kubectl)."""
    from tasks.core.plan import Plan
    from tasks.onboard import settings, steps
    from tasks.onboard.services import Services
    from tests.ops.conftest import make_console

    ns = f"tls-{mode}"
    kube_env.kubectl("create", "namespace", ns, check=False)
    kube_env.kubectl("create", "secret", "generic", "sharedinfra-vault-tls", "-n", "soma-infra",
                     "--from-literal=ca.crt=-----BEGIN CERTIFICATE-----test-ca", check=False)
    ctx = Context(Config(overrides={"soma": collection().configuration()["soma"]}))
    spec, endpoints, _ = settings.load(ctx, ns, "prod", mode)
    with Services(endpoints) as svc:
        plan = Plan("ca", console=make_console())
        plan.add(steps.vault_ca_step(svc, spec))
        assert plan.run().changed == [f"copy Vault CA into {ns}"]
        again = Plan("ca", console=make_console())
        again.add(steps.vault_ca_step(svc, spec))
        assert again.run().outcome == "all-set"
    cm = kube_env.get_json("configmap", "vault-ca", "-n", ns)
    assert cm["data"] == {"ca.crt": "-----BEGIN CERTIFICATE-----test-ca"}
    store = manifests.load(manifests.render(spec))["secretstore.yaml"]
    assert store["spec"]["provider"]["vault"]["caProvider"]["name"] == "vault-ca"
