"""`inv vault.apply` against a real OpenBao dev server."""

import json

import hvac
import hvac.exceptions
import pytest

from tasks.onboard import manifests, vault_ops
from tasks.onboard.spec import OnboardSpec
from tests.onboard.cli import inv

pytestmark = pytest.mark.vault


def test_apply_twice_writes_then_reports_all_set(vault_env):
    code, out = inv("vault.apply", "--ns", "va01", "--env", "dev")
    assert code == 0, out
    assert "+path \"secret/data/shared-infra/va01/dev\"" in out  # the diff was shown
    assert "done write vault policy va01" in out and "done write vault role va01" in out
    client = vault_env.client()
    rendered = manifests.render(OnboardSpec("va01", "dev"))
    assert client.sys.read_policy("va01")["data"]["rules"] == rendered["vault-policy.hcl"]
    role = vault_ops.read_role(client, "kubernetes", "va01")
    assert role == manifests.vault_role(rendered)

    code, out = inv("vault.apply", "--ns", "va01", "--env", "dev")
    assert code == 0, out
    assert "all set" in out and "done " not in out
    assert "policy and role match" in out


def test_dry_run_prints_the_plan_and_writes_nothing(vault_env):
    code, out = inv("--dry", "vault.apply", "--ns", "va02")
    assert code == 0, out
    assert "dry run" in out and "write vault policy va02" in out
    client = vault_env.client()
    assert "va02" not in client.sys.list_policies()["data"]["policies"]
    assert vault_ops.read_role(client, "kubernetes", "va02") is None


def test_drift_is_shown_and_corrected(vault_env):
    assert inv("vault.apply", "--ns", "va03")[0] == 0
    client = vault_env.client()
    client.sys.create_or_update_policy("va03", 'path "secret/data/*" { capabilities = ["read"] }')
    client.adapter.post("/v1/auth/kubernetes/role/va03", json={"token_ttl": 60})
    code, out = inv("vault.apply", "--ns", "va03")
    assert code == 0, out
    assert '-path "secret/data/*"' in out
    assert '-  "token_ttl": 60' in out and '+  "token_ttl": 86400' in out
    assert vault_ops.read_role(client, "kubernetes", "va03")["token_ttl"] == 86400


def test_seed_from_environment_and_file_never_argv(vault_env, monkeypatch, tmp_path):
    seed = tmp_path / "seed.yaml"
    seed.write_text("redis_password: r3dis-from-file\nkafka_sasl_password: k4fka\n")
    monkeypatch.setenv("SOMA_SEED_POSTGRES_PASSWORD", "pg-s3cret/with:odd@chars")
    monkeypatch.setenv("SOMA_SEED_REDIS_PASSWORD", "r3dis-from-env")
    code, out = inv("vault.apply", "--ns", "va04", "--env", "staging", "--seed-file", str(seed))
    assert code == 0, out
    for secret in ("pg-s3cret", "r3dis-from-env", "r3dis-from-file", "k4fka"):
        assert secret not in out
    data = vault_env.client().secrets.kv.v2.read_secret_version(
        path="shared-infra/va04/staging", raise_on_deleted_version=True)["data"]["data"]
    assert data["redis_password"] == "r3dis-from-env"  # the environment wins over the file
    assert data["kafka_sasl_password"] == "k4fka"
    assert data["postgres_dsn"] == ("postgresql://va04:pg-s3cret%2Fwith%3Aodd%40chars@"
                                    "sharedinfra-postgres-pooler.soma-infra.svc.cluster.local"
                                    ":5432/va04")
    version = vault_env.client().secrets.kv.v2.read_secret_metadata(
        path="shared-infra/va04/staging")["data"]["current_version"]
    code, out = inv("vault.apply", "--ns", "va04", "--env", "staging", "--seed-file", str(seed))
    assert code == 0 and "all set" in out
    assert vault_env.client().secrets.kv.v2.read_secret_metadata(
        path="shared-infra/va04/staging")["data"]["current_version"] == version


def test_unknown_seed_property_is_refused(vault_env, tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text('{"postgres_pasword": "typo"}')
    code, out = inv("vault.apply", "--ns", "va05", "--seed-file", str(seed))
    assert code == 2 and "unknown seed properties ['postgres_pasword']" in out
    assert "va05" not in vault_env.client().sys.list_policies()["data"]["policies"]


def test_malformed_seed_file_is_refused_without_echoing_its_values(vault_env, tmp_path):
    # PyYAML's own message quotes the offending line, which holds a secret value.
    seed = tmp_path / "seed.yaml"
    seed.write_text("redis_password: s3cr3t-in-file: x\n")
    code, out = inv("vault.apply", "--ns", "va09", "--seed-file", str(seed))
    assert code == 2 and "is not valid YAML/JSON" in out and "line 1" in out, out
    assert "s3cr3t-in-file" not in out
    assert "va09" not in vault_env.client().sys.list_policies()["data"]["policies"]


def test_missing_token_is_a_clear_error(vault_server, monkeypatch):
    monkeypatch.setenv("VAULT_ADDR", vault_server.addr)
    code, out = inv("vault.apply", "--ns", "va06")
    assert code == 1 and "set VAULT_TOKEN" in out


def test_token_from_rendered_policy_reads_exactly_the_externalsecret_secret(vault_env):
    """The policy grants what the ExternalSecret reads (through the store's KV v2 path) and
    nothing else: not the other env, not another app, not a child path, no write, no list."""
    assert inv("vault.apply", "--ns", "va07", "--env", "dev")[0] == 0
    root = vault_env.client()
    kv = root.secrets.kv.v2
    for path in ("shared-infra/va07/dev", "shared-infra/va07/prod", "shared-infra/other/dev",
                 "shared-infra/va07/dev/extra", "shared-infra/va07"):
        kv.create_or_update_secret(path=path, secret={"postgres_password": path})
    rendered = manifests.render(OnboardSpec("va07", "dev"))
    es = manifests.load(rendered)["externalsecret.yaml"]
    remote_key = es["spec"]["data"][0]["remoteRef"]["key"]
    token = root.auth.token.create(policies=["va07"], no_default_policy=True, ttl="5m")
    app = hvac.Client(url=vault_env.addr, token=token["auth"]["client_token"])

    got = app.secrets.kv.v2.read_secret_version(path=remote_key, raise_on_deleted_version=True)
    assert got["data"]["data"] == {"postgres_password": "shared-infra/va07/dev"}
    for other in ("shared-infra/va07/prod", "shared-infra/other/dev",
                  "shared-infra/va07/dev/extra", "shared-infra/va07"):
        with pytest.raises(hvac.exceptions.Forbidden):
            app.secrets.kv.v2.read_secret_version(path=other, raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.Forbidden):
        app.secrets.kv.v2.create_or_update_secret(path=remote_key, secret={"x": "y"})
    with pytest.raises(hvac.exceptions.Forbidden):
        app.secrets.kv.v2.list_secrets(path="shared-infra/va07")
    with pytest.raises(hvac.exceptions.Forbidden):
        app.sys.read_policy("va07")


def test_evidence_records_the_run_without_secrets(vault_env, monkeypatch, tmp_path):
    monkeypatch.setenv("SOMA_EVIDENCE_DIR", str(tmp_path))
    monkeypatch.setenv("SOMA_SEED_REDIS_PASSWORD", "evidence-s3cret")
    code, out = inv("vault.apply", "--ns", "va08", "--evidence")
    assert code == 0, out
    records = list(tmp_path.glob("sprint-*/vault-apply-*.json"))
    transcripts = list(tmp_path.glob("sprint-*/vault-apply-*.txt"))
    assert len(records) == len(transcripts) == 1
    record = json.loads(records[0].read_text())
    assert record["outcome"] == "ok" and record["inputs"]["ns"] == "va08"
    steps = record["plans"][0]["steps"]
    assert [s["state"] for s in steps][1:] == ["done", "done", "done"]
    assert [s["name"] for s in steps][1:] == [
        "write vault policy va08", "write vault role va08", "seed secret/shared-infra/va08/dev"]
    for path in (records[0], transcripts[0]):
        assert "evidence-s3cret" not in path.read_text()
        assert vault_env.token not in path.read_text()
