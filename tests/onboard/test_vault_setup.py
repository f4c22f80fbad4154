"""`inv vault.init` against a real, non-dev OpenBao (file storage: it starts uninitialised and
sealed, as the chart's Vault does) that keeps its keys in the real kube-apiserver, and
`inv vault.auth` + per-app isolation through OpenBao's kubernetes auth, whose TokenReview
goes to that same API server."""

import base64
import uuid

import hvac
import hvac.exceptions
import pytest
import sh

from tests.onboard.cli import inv

pytestmark = [pytest.mark.vault, pytest.mark.kube]


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:5]}"


def init_secret(kube, release: str) -> dict:
    data = kube.get_json("secret", f"{release}-vault-init", "-n", "soma-infra")["data"]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


@pytest.fixture
def release(monkeypatch):
    """A release name of its own, so each test's init Secret is its own."""
    name = unique("rel")
    monkeypatch.setenv("SOMA_RELEASE", name)
    return name


def test_init_unseals_and_never_shows_the_keys(sealed_vault, kube_env, release, monkeypatch, tmp_path):
    monkeypatch.setenv("VAULT_ADDR", sealed_vault.addr)
    monkeypatch.setenv("SOMA_EVIDENCE_DIR", str(tmp_path))
    assert sealed_vault.client().sys.read_seal_status()["initialized"] is False

    code, out = inv("vault.init", "--mode", "dev", "--evidence")

    assert code == 0, out
    assert "done initialise Vault" in out and "done unseal Vault" in out
    status = sealed_vault.client().sys.read_seal_status()
    assert status["initialized"] and not status["sealed"]
    keys = init_secret(kube_env, release)
    assert set(keys) == {"root-token", "unseal-key"}
    written = [p.read_text() for p in tmp_path.rglob("vault-init-*")]
    assert len(written) == 2
    for secret in keys.values():
        assert secret not in out
        assert all(secret not in text for text in written)
    root = sealed_vault.client()
    root.token = keys["root-token"]
    assert root.auth.token.lookup_self()["data"]["policies"] == ["root"]

    code, out = inv("vault.init", "--mode", "dev")
    assert code == 0 and "all set" in out, out

    sealed_vault.restart()  # a restarted Vault comes back sealed
    assert sealed_vault.client().sys.read_seal_status()["sealed"] is True
    code, out = inv("vault.init", "--mode", "dev")
    assert code == 0, out
    assert "done unseal Vault" in out and "done initialise" not in out
    assert sealed_vault.client().sys.read_seal_status()["sealed"] is False
    assert keys["unseal-key"] not in out


def test_the_stored_token_serves_the_other_tasks_in_dev(sealed_vault, kube_env, release, monkeypatch):
    monkeypatch.setenv("VAULT_ADDR", sealed_vault.addr)
    assert inv("vault.init", "--mode", "dev")[0] == 0
    code, out = inv("vault.apply", "-n", unique("tok"), "--mode", "dev")  # no VAULT_TOKEN set
    assert code == 0, out
    assert "done write vault policy" in out
    assert init_secret(kube_env, release)["root-token"] not in out


def test_a_leftover_init_secret_stops_init_before_vault_changes(sealed_vault, kube_env, release,
                                                                 monkeypatch):
    monkeypatch.setenv("VAULT_ADDR", sealed_vault.addr)
    kube_env.kubectl("create", "secret", "generic", f"{release}-vault-init", "-n", "soma-infra",
                     "--from-literal=unseal-key=old")
    code, out = inv("vault.init", "--mode", "test")
    assert code == 1 and "holds the keys of another Vault" in out
    assert sealed_vault.client().sys.read_seal_status()["initialized"] is False


@pytest.mark.parametrize("mode", ["staging", "prod-lite", "prod"])
def test_init_is_refused_outside_dev_and_test(mode):
    code, out = inv("vault.init", "--mode", mode)
    assert code == 2 and "docs/onboarding.md" in out


# --- kubernetes auth and per-app isolation -----------------------------------------------

def sa_token(kube, kubectl: str, ns: str, sa: str, audience: str = "vault") -> str:
    return str(sh.Command(kubectl)("--kubeconfig", kube.kubeconfig, "create", "token", sa, "-n", ns,
                                   f"--audience={audience}", "--duration=10m", _tty_out=False)).strip()


def test_each_apps_role_reads_its_own_key_and_not_another_apps(vault_env, kube_env, real_kubectl,
                                                              monkeypatch):
    """Through OpenBao's kubernetes auth against the real API server (TokenReview): app A's
    service account logs in with A's role (as A's SecretStore does) and reads A's key only."""
    ca = f"{kube_env.root}/certs/apiserver.crt"
    code, out = inv("vault.auth", "--kubernetes-host", kube_env.server, "--kubernetes-ca-file", ca,
                    "--token-reviewer")
    assert code == 0, out
    assert "configure auth/kubernetes/config" in out
    code, out = inv("vault.auth", "--kubernetes-host", kube_env.server, "--kubernetes-ca-file", ca,
                    "--token-reviewer")
    assert code == 0 and "all set" in out, out

    apps = {name: unique(name) for name in ("a", "b")}
    for ns in apps.values():
        monkeypatch.setenv("SOMA_SEED_REDIS_PASSWORD", f"redis-of-{ns}")
        code, out = inv("vault.apply", "-n", ns, "--env", "dev")
        assert code == 0, out
        kube_env.kubectl("create", "namespace", ns)
        kube_env.kubectl("create", "serviceaccount", f"{ns}-sa", "-n", ns)
    a, b = apps["a"], apps["b"]
    jwt_a = sa_token(kube_env, real_kubectl, a, f"{a}-sa")

    login = hvac.Client(url=vault_env.addr)
    login.auth.kubernetes.login(role=a, jwt=jwt_a)
    kv = login.secrets.kv.v2
    mine = kv.read_secret_version(path=f"shared-infra/{a}/dev", raise_on_deleted_version=True)
    assert mine["data"]["data"]["redis_password"] == f"redis-of-{a}"
    with pytest.raises(hvac.exceptions.Forbidden):
        kv.read_secret_version(path=f"shared-infra/{b}/dev", raise_on_deleted_version=True)

    # A's service account cannot take B's role, and another audience is not accepted.
    for role, jwt in ((b, jwt_a), (a, sa_token(kube_env, real_kubectl, a, f"{a}-sa", "other"))):
        with pytest.raises((hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest)):
            hvac.Client(url=vault_env.addr).auth.kubernetes.login(role=role, jwt=jwt)
    # B's own login reads B's key (the role/policy pair is not simply broken).
    jwt_b = sa_token(kube_env, real_kubectl, b, f"{b}-sa")
    other = hvac.Client(url=vault_env.addr)
    other.auth.kubernetes.login(role=b, jwt=jwt_b)
    theirs = other.secrets.kv.v2.read_secret_version(path=f"shared-infra/{b}/dev",
                                                     raise_on_deleted_version=True)
    assert theirs["data"]["data"]["redis_password"] == f"redis-of-{b}"
