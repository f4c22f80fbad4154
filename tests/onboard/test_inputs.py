"""Bad input is refused with a clear message before any step runs."""

import os
import pathlib
import re
import sys

import pytest
import sh

from tasks.onboard.errors import InvalidInput
from tasks.onboard.spec import OnboardSpec, check_namespace
from tests.onboard.cli import REPO, inv

BAD_NAMESPACES = ["SA01", "sa_01", "-sa01", "sa01-", "sa.01", "a" * 64, "", "kube-system",
                  "soma-infra", "sa01;rm"]


@pytest.mark.parametrize("ns", BAD_NAMESPACES)
def test_bad_namespace_is_refused(ns):
    with pytest.raises(InvalidInput):
        check_namespace(ns)


@pytest.mark.parametrize("ns", ["sa01", "a", "a" * 63, "team-7-api"])
def test_good_namespace_is_accepted(ns):
    assert check_namespace(ns) == ns


@pytest.mark.parametrize("kwargs, message", [
    ({"env": "qa"}, "unknown env 'qa'"),
    ({"mode": "production"}, "unknown mode 'production'"),
])
def test_unknown_env_or_mode_is_refused(kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        OnboardSpec("sa01", **kwargs)


@pytest.mark.vault
@pytest.mark.parametrize("argv, message", [
    (["--ns", "Bad_NS"], "not a DNS-1123 label"),
    (["--ns", "sa09", "--env", "qa"], "unknown env 'qa'"),
    (["--ns", "sa09", "--mode", "huge"], "unknown mode 'huge'"),
])
def test_onboard_refuses_before_any_step(vault_env, argv, message):
    code, out = inv("app.onboard", *argv)
    assert code == 2
    assert message in out
    assert "┏" not in out  # no plan table was even printed
    client = vault_env.client()
    assert "sa09" not in client.sys.list_policies()["data"]["policies"]


def _config(onboard=None):
    from tests.onboard.cli import collection
    soma = collection().configuration()["soma"]
    if onboard is not None:
        soma = {**soma, "onboard": onboard}
    return {"soma": soma}


def test_onboard_settings_come_from_config_and_environment():
    """The same layers as every task (tasks.core.config): invoke.yaml < SOMA_* < flags."""
    from tasks.onboard import settings
    spec, endpoints, cfg = settings.load(
        _config({**_config()["soma"]["onboard"], "partitions": 12,
                 "vault_addr": "https://vault.example:8200"}), "sa01",
        environ={"SOMA_ONBOARD_TOKEN_TTL": "3600", "SOMA_ONBOARD_KAFKA_BOOTSTRAP": "k:9092",
                 "SOMA_ONBOARD_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})
    assert (spec.partitions, spec.token_ttl) == (12, 3600)
    assert endpoints.vault_addr == "https://vault.example:8200"
    assert endpoints.kafka_bootstrap == "k:9092"
    assert endpoints.kafka["security_protocol"] == "SASL_SSL"
    assert cfg.sources["onboard.token_ttl"] == "env SOMA_ONBOARD_TOKEN_TTL"
    assert cfg.sources["onboard.partitions"] == "config"


def test_vault_addr_falls_back_to_vaults_own_variable():
    from tasks.onboard import settings
    _, endpoints, _ = settings.load(_config(), "sa01", environ={"VAULT_ADDR": "http://v:8200"})
    assert endpoints.vault_addr == "http://v:8200"


@pytest.mark.parametrize("onboard, environ, message", [
    ({"partitons": 6}, {}, "'partitons' was unexpected"),
    ({}, {"SOMA_ONBOARD_TOKEN_TTL": "a day"}, "SOMA_ONBOARD_TOKEN_TTL='a day'"),
    ({}, {"SOMA_ONBOARD_KAFKA_SECURITY_PROTOCOL": "SASL"}, "soma.onboard.kafka.security_protocol"),
])
def test_bad_onboard_settings_are_refused(onboard, environ, message):
    from tasks.core.errors import ConfigError
    from tasks.onboard import settings
    with pytest.raises(ConfigError, match=re.escape(message)):
        settings.load(_config({**_config()["soma"]["onboard"], **onboard}), "sa01", environ=environ)


@pytest.mark.parametrize("mode, env, environ, want", [
    (None, None, {}, ("dev", "dev")),                       # invoke.yaml: soma.mode dev
    (None, None, {"SOMA_MODE": "test"}, ("test", "test")),  # env defaults to the mode
    ("prod", "prod", {}, ("prod", "prod")),
    ("staging", "dev", {}, ("staging", "dev")),
    ("prod-lite", "prod", {}, ("prod-lite", "prod")),
])
def test_mode_and_env_default_to_soma_mode(mode, env, environ, want):
    from tasks.onboard import settings
    spec, _, _ = settings.load(_config(), "sa01", env=env, mode=mode, environ=environ)
    assert (spec.mode, spec.env) == want


@pytest.mark.parametrize("mode, env, environ, message", [
    (None, None, {"SOMA_MODE": "prod"}, "prod must be named on the command line: --mode prod"),
    (None, "prod", {"SOMA_MODE": "staging"}, "--mode staging"),
    ("prod", None, {}, "mode prod needs --env given explicitly"),
    ("staging", None, {}, "mode staging needs --env"),
])
def test_staging_and_prod_must_be_named(mode, env, environ, message):
    from tasks.onboard import settings
    with pytest.raises(InvalidInput, match=re.escape(message)):
        settings.load(_config(), "sa01", env=env, mode=mode, environ=environ)


def test_the_cli_refuses_prod_from_the_environment(monkeypatch):
    monkeypatch.setenv("SOMA_MODE", "prod")
    code, out = inv("--dry", "app.onboard", "-n", "sa01")
    assert code == 2 and "--mode prod" in out and "┏" not in out


def test_the_configured_shared_infra_namespace_is_refused(monkeypatch):
    monkeypatch.setenv("SOMA_NAMESPACE", "shared")
    code, out = inv("app.onboard", "--ns", "shared")
    assert code == 2 and "is the shared-infra namespace itself" in out, out
    assert "┏" not in out


def test_missing_seed_file_is_refused_before_any_step(tmp_path):
    code, out = inv("app.onboard", "--ns", "sa01", "--seed-file", str(tmp_path / "nope.yaml"))
    assert code == 2 and "cannot read seed file" in out
    assert "┏" not in out


def test_the_real_inv_routes_the_onboarding_tasks_and_refuses_bad_input():
    """Through the repository's tasks.py and the `inv` beside this interpreter: `inv render`
    answers to the bare name, and a bad namespace stops `app.onboard` with exit 2."""
    inv_bin = sh.Command(str(pathlib.Path(sys.executable).parent / "inv"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOMA_")}
    run = {"_cwd": str(REPO), "_env": env, "_ok_code": list(range(256)), "_return_cmd": True,
           "_tty_out": False}
    done = inv_bin("render", "-n", "sa01", **run)
    assert done.exit_code == 0, done.stderr
    assert "name: sa01-settings" in str(done) and "validated 4 built-in manifests" in str(done)
    done = inv_bin("app.onboard", "--ns", "Bad_NS", **run)
    assert done.exit_code == 2
    assert "not a DNS-1123 label" in done.stderr.decode()


def _catalogue():
    from tests.onboard.cli import collection
    return collection().configuration()["soma"]["secrets"]


from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402

_values = st.one_of(st.text(max_size=8), st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2))


@hsettings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["sharedinfra-redis-auth", "sharedinfra-grafana-admin", "other"]),
                       st.one_of(st.dictionaries(st.sampled_from(["redis-password", "admin-user",
                                                                  "admin-password", "x"]), _values),
                                 _values), max_size=3))
def test_a_secrets_document_is_accepted_only_when_complete(document):
    """Generated documents: secrets.create accepts exactly the complete ones, and refuses every
    other with InvalidInput (never another exception, never a value in the message)."""
    from tasks.onboard import secret_sources
    catalogue = _catalogue()
    complete = all(name in catalogue and isinstance(data, dict)
                   and set(data) == set(catalogue[name]["keys"])
                   and all(isinstance(v, str) and v for v in data.values())
                   for name, data in document.items())
    try:
        secret_sources.check(document, catalogue)
    except InvalidInput as exc:
        assert not complete
        words = " ".join([*catalogue, *(k for v in catalogue.values() for k in v["keys"]), "other"])
        for data in document.values():
            for value in (data.values() if isinstance(data, dict) else []):
                # a value that is also part of a name or a key may appear as that name
                if isinstance(value, str) and len(value) > 3 and value not in words:
                    assert value not in str(exc)
        return
    assert complete
