"""`inv secrets.create`: the Secrets staging and prod need, from stdin or Vault (OpenBao),
written into the real kube-apiserver through the real kubectl 1.36; values never shown."""

import base64
import io
import uuid

import pytest
from invoke import Config, Context, Exit

from tasks import secrets
from tests.onboard.cli import collection, inv

pytestmark = pytest.mark.kube


@pytest.fixture
def infra_ns(kube_env, monkeypatch):
    """A shared-infra namespace of the test's own, as soma.namespace."""
    ns = f"infra-{uuid.uuid4().hex[:5]}"
    kube_env.kubectl("create", "namespace", ns)
    monkeypatch.setenv("SOMA_NAMESPACE", ns)
    return ns


def run(mode, source, document="", dry=False):
    ctx = Context(Config(overrides={"soma": collection().configuration()["soma"], "run": {"dry": dry}}))
    return secrets.run(ctx, mode, source, stdin=io.StringIO(document))


def data(kube, ns, name):
    found = kube.get_json("secret", name, "-n", ns)
    return found["type"], {k: base64.b64decode(v).decode() for k, v in found["data"].items()}


DOC = """
sharedinfra-redis-auth: {redis-password: "r3dis-pw"}
sharedinfra-grafana-admin: {admin-user: admin, admin-password: "gr4fana-pw"}
"""


def test_from_stdin_creates_then_is_all_set_then_replaces_a_changed_value(kube_env, infra_ns, capsys):
    result = run("staging", "stdin", DOC)
    out = capsys.readouterr().out
    assert result.changed == ["secret sharedinfra-grafana-admin", "secret sharedinfra-redis-auth"]
    assert data(kube_env, infra_ns, "sharedinfra-redis-auth") == ("Opaque", {"redis-password": "r3dis-pw"})
    assert data(kube_env, infra_ns, "sharedinfra-grafana-admin")[1] == {
        "admin-user": "admin", "admin-password": "gr4fana-pw"}
    assert "r3dis-pw" not in out and "gr4fana-pw" not in out
    annotations = kube_env.get_json("secret", "sharedinfra-redis-auth", "-n", infra_ns)["metadata"].get(
        "annotations") or {}
    assert not any("last-applied" in k for k in annotations)  # no second copy of the values

    assert run("staging", "stdin", DOC).outcome == "all-set"
    changed = run("staging", "stdin", 'sharedinfra-redis-auth: {redis-password: "n3w-pw"}')
    assert changed.changed == ["secret sharedinfra-redis-auth"]
    assert data(kube_env, infra_ns, "sharedinfra-redis-auth")[1] == {"redis-password": "n3w-pw"}
    assert "n3w-pw" not in capsys.readouterr().out


@pytest.mark.parametrize("document, message", [
    ("sharedinfra-redis: {redis-password: x}", "unknown Secrets ['sharedinfra-redis']"),
    ("sharedinfra-redis-auth: {password: x}", "unknown keys ['password']"),
    ("sharedinfra-grafana-admin: {admin-user: admin}", "keys ['admin-password'] are missing"),
    ('sharedinfra-redis-auth: {redis-password: ""}', "are missing, empty or not strings"),
    ("sharedinfra-redis-auth: {redis-password: s3cret-in-doc: x}", "not valid YAML/JSON"),
    ("[]", "must hold a mapping"),
])
def test_bad_stdin_is_refused_and_nothing_is_written(kube_env, infra_ns, document, message, capsys):
    with pytest.raises(Exit) as stopped:
        run("prod", "stdin", document)
    assert stopped.value.code == 2 and message in str(stopped.value.message)
    assert "s3cret-in-doc" not in str(stopped.value.message) + capsys.readouterr().out
    assert kube_env.get_json("secrets", "-n", infra_ns, "-l", "app.kubernetes.io/managed-by=soma-ops")[
        "items"] == []


def test_from_vault_creates_every_secret_the_chart_reads(kube_env, vault_env, infra_ns, capsys):
    catalogue = collection().configuration()["soma"]["secrets"]
    kv = vault_env.client().secrets.kv.v2
    values = {}
    for name, spec in catalogue.items():
        values[name] = {k: f"{name}-{k}-{uuid.uuid4().hex[:6]}" for k in spec["keys"]}
        kv.create_or_update_secret(path=f"soma-infra/prod-lite/{name}", secret=values[name])

    result = run("prod-lite", "vault")

    out = capsys.readouterr().out
    assert result.outcome == "done", out
    for name, spec in catalogue.items():
        kind, got = data(kube_env, infra_ns, name)
        assert got == values[name] and kind == spec.get("type", "Opaque")
        assert all(v not in out for v in values[name].values())
    assert run("prod-lite", "vault").outcome == "all-set"


def test_a_value_missing_in_vault_stops_before_any_secret_is_written(kube_env, vault_env, infra_ns):
    kv = vault_env.client().secrets.kv.v2
    kv.create_or_update_secret(path="soma-infra/staging/sharedinfra-redis-auth",
                               secret={"redis-password": "only-this-one"})
    with pytest.raises(Exit) as stopped:
        run("staging", "vault")
    assert stopped.value.code == 1 and "lacks" in str(stopped.value.message)
    assert "only-this-one" not in str(stopped.value.message)
    assert kube_env.get_json("secrets", "-n", infra_ns, "-l", "app.kubernetes.io/managed-by=soma-ops")[
        "items"] == []


@pytest.mark.parametrize("argv", [["secrets.create"], ["secrets.create", "--mode", "dev"],
                                  ["secrets.create", "--mode", "test"]])
def test_dev_test_or_no_mode_is_refused(argv):
    code, out = inv(*argv)
    assert code == 2 and "needs --mode given explicitly" in out


def test_the_postgres_superuser_secret_is_basic_auth_as_cloudnative_pg_reads_it(kube_env, infra_ns, capsys):
    """CloudNativePG's spec.superuserSecret must be a kubernetes.io/basic-auth Secret with
    username and password: secrets.create makes it so (soma.secrets in invoke.yaml)."""
    result = run("prod", "stdin", 'sharedinfra-postgres-admin: {username: postgres, password: "pg-5uper"}')
    assert result.changed == ["secret sharedinfra-postgres-admin"]
    assert data(kube_env, infra_ns, "sharedinfra-postgres-admin") == (
        "kubernetes.io/basic-auth", {"username": "postgres", "password": "pg-5uper"})
    assert "pg-5uper" not in capsys.readouterr().out
