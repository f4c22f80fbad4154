"""The one redaction policy: every rule, with generated secrets (hypothesis), not only hand-picked ones."""

from __future__ import annotations

import base64
import json
import string

from hypothesis import assume, given, settings, strategies as st

from tasks.day2.redaction import REDACTED, Policy, secret_key

SECRET = st.text(string.ascii_letters + string.digits + "!#%*+-._~", min_size=6, max_size=40).filter(
    lambda s: s.strip("*") == s and not s.startswith(("-", ".")))


@given(pw=SECRET, user=st.text(string.ascii_lowercase, min_size=1, max_size=8))
@settings(max_examples=200, deadline=None)
def test_password_in_any_url_is_removed_user_and_host_stay(pw, user):
    assume(pw not in f"connecting to {user} db.soma-infra.svc:5432/app?sslmode=require postgresql")
    for scheme in ("postgresql", "postgres+psycopg", "redis", "amqp", "https"):
        line = f"connecting to {scheme}://{user}:{pw}@db.soma-infra.svc:5432/app?sslmode=require"
        out = Policy()(line)
        assert pw not in out
        assert f"{scheme}://{user}:{REDACTED}@db.soma-infra.svc:5432/app" in out


@given(pw=SECRET)
@settings(max_examples=200, deadline=None)
def test_keyword_dsn_bearer_vault_and_key_value_forms(pw):
    assume(pw.lower() not in "host=db user=app dbname=x authorization bearer db_password postgres_password "
                             "api_key client_secret x=1")
    policy = Policy()
    samples = [f"host=db user=app password={pw} dbname=x", f"Authorization: Bearer {pw}",
               f'{{"db_password": "{pw}"}}', f"POSTGRES_PASSWORD={pw}", f"api_key: {pw}",
               f"client_secret={pw}&x=1"]
    for sample in samples:
        assert pw not in policy(sample), sample


@given(token=st.text(string.ascii_letters + string.digits, min_size=24, max_size=40))
@settings(max_examples=100, deadline=None)
def test_vault_tokens_are_removed_by_shape(token):
    for prefix in ("hvs.", "hvb.", "s."):
        assert token not in Policy()(f"token issued {prefix}{token} for role app")


def test_private_key_block_is_removed_whole():
    body = base64.b64encode(b"x" * 300).decode()
    pem = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
    out = Policy()(f"tls.key: |\n{pem}\n")
    assert body not in out and "BEGIN RSA PRIVATE KEY" in out


@given(value=SECRET)
@settings(max_examples=100, deadline=None)
def test_learned_values_go_everywhere_in_plain_and_base64(value):
    policy = Policy()
    policy.learn_secret({"kind": "Secret", "data": {"k": base64.b64encode(value.encode()).decode()}})
    out = policy(f"log line mentions {value} and its base64 {base64.b64encode(value.encode()).decode()}")
    assert value not in out and base64.b64encode(value.encode()).decode() not in out


def test_scrub_keeps_secret_keys_drops_values_and_last_applied():
    policy = Policy()
    secret = {"kind": "Secret", "metadata": {"name": "db", "annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"password":"aGVsbG8="}}'}},
        "data": {"password": base64.b64encode(b"hunter22").decode()}}
    out = policy.scrub(secret)
    assert out["data"] == {"password": REDACTED}
    assert out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] == REDACTED
    env = policy.scrub({"env": [{"name": "DB_PASSWORD", "value": "s3cr3t-value"}, {"name": "LOG", "value": "info"}]})
    assert env["env"][0]["value"] == REDACTED and env["env"][1]["value"] == "info"
    # the value scrubbed from the structure is learned: it goes from free text too
    assert "s3cr3t-value" not in policy("echo s3cr3t-value")


def test_names_of_secrets_are_not_secrets():
    for name in ("secretName", "secretRef", "tokenSecretRef", "secretStoreRef", "secretKey", "serviceAccountToken"):
        assert not secret_key(name), name
    for name in ("password", "DB_PASSWORD", "apiKey", "client_secret", "root_token", "DATABASE_URL", "dsn"):
        assert secret_key(name), name


def test_ordinary_text_is_left_alone():
    message = "SecretSyncedError: could not get secret data from provider; TokenReview: allowed"
    assert Policy()(message) == message
    line = json.dumps({"kind": "Deployment", "replicas": 3, "image": "busybox:1", "secretName": "db-creds"})
    assert Policy()(line) == line


def test_text_pass_over_json_keeps_escaped_newlines_and_digests():
    body = json.dumps({"diff": "-  password: sha256:aa11\n+  password: sha256:bb22\n kind: Secret\n",
                       "log": "db_password=hunter2hunter2\nnext line"})
    out = json.loads(Policy()(body))
    assert out["diff"].splitlines() == ["-  password: sha256:aa11", "+  password: sha256:bb22", " kind: Secret"]
    assert out["log"] == "db_password=***\nnext line"
