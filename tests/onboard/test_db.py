"""`inv db.provision` against a real PostgreSQL cluster."""

import json
import pathlib

import psycopg
import pytest
from psycopg import sql

from tasks.onboard import db_ops
from tests.onboard.cli import inv

pytestmark = pytest.mark.postgres


def _q(dsn, query, params=None):
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query, params).fetchone()


def test_provision_twice_creates_then_reports_all_set(pg_env, monkeypatch):
    monkeypatch.setenv("SOMA_DB_PASSWORD", "db-pa55word")
    code, out = inv("db.provision", "--ns", "db01", "--no-vault")
    assert code == 0, out
    assert "done create role db01" in out and "done create database db01" in out
    assert "db-pa55word" not in out
    dsn = pg_env.dsn()
    assert _q(dsn, "SELECT rolcanlogin, rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid "
                   "WHERE rolname = 'db01'") == (True, True)
    assert _q(dsn, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'db01'") == ("db01",)
    assert _q(dsn, "SELECT has_database_privilege('db01', 'db01', 'CONNECT, CREATE, TEMP')") == (True,)
    # Closed to everyone else: a fresh role cannot connect.
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS db01_other")
        conn.execute("CREATE ROLE db01_other LOGIN")
    assert _q(dsn, "SELECT has_database_privilege('db01_other', 'db01', 'CONNECT')") == (False,)

    state = ("SELECT a.rolpassword, d.datacl::text FROM pg_authid a, pg_database d "
             "WHERE a.rolname = 'db01' AND d.datname = 'db01'")
    before = _q(dsn, state)
    code, out = inv("db.provision", "--ns", "db01", "--no-vault")
    assert code == 0, out
    assert "all set" in out and "done " not in out
    assert _q(dsn, state) == before  # password verifier and ACL untouched


def test_password_from_vault(pg_env, vault_env, monkeypatch):
    monkeypatch.setenv("SOMA_SEED_POSTGRES_PASSWORD", "from-vault-pw")
    assert inv("vault.apply", "--ns", "db02")[0] == 0
    monkeypatch.delenv("SOMA_SEED_POSTGRES_PASSWORD")
    code, out = inv("db.provision", "--ns", "db02")
    assert code == 0, out
    # The test cluster trusts loopback logins, so the role's SCRAM verifier is checked
    # against Vault's password directly.
    verifier = _q(pg_env.dsn(), "SELECT rolpassword FROM pg_authid WHERE rolname = 'db02'")[0]
    assert verifier.startswith("SCRAM-SHA-256$")
    assert _scram_matches(verifier, "from-vault-pw")
    assert not _scram_matches(verifier, "another")


def test_vault_and_environment_disagreeing_is_refused(pg_env, vault_env, monkeypatch):
    monkeypatch.setenv("SOMA_SEED_POSTGRES_PASSWORD", "one")
    assert inv("vault.apply", "--ns", "db03")[0] == 0
    monkeypatch.setenv("SOMA_DB_PASSWORD", "two")
    code, out = inv("db.provision", "--ns", "db03")
    assert code == 1 and "differs from postgres_password in Vault" in out
    assert _q(pg_env.dsn(), "SELECT count(*) FROM pg_roles WHERE rolname = 'db03'") == (0,)


def test_no_password_anywhere_is_a_clear_error(pg_env):
    code, out = inv("db.provision", "--ns", "db04", "--no-vault")
    assert code == 1 and "no database password" in out


def test_missing_admin_dsn_is_a_clear_error(postgres_server):
    code, out = inv("db.provision", "--ns", "db05", "--no-vault")
    assert code == 1 and "SOMA_PG_ADMIN_DSN" in out


@pytest.mark.parametrize("dsn, message", [
    ("postgresql://admin:t0p%zzs3cret@127.0.0.1/postgres",
     "SOMA_PG_ADMIN_DSN is not a valid PostgreSQL connection string"),
    ("postgresql://admin:t0p@zzs3cret@127.0.0.1/postgres", "percent-encode an '@'"),
])
def test_malformed_admin_dsn_is_refused_without_echoing_it(monkeypatch, tmp_path, dsn, message):
    # libpq quotes a DSN it cannot parse, and a password holding '@' becomes part of the
    # host it fails to resolve: neither may reach the console or the evidence.
    monkeypatch.setenv("SOMA_PG_ADMIN_DSN", dsn)
    monkeypatch.setenv("SOMA_DB_PASSWORD", "x-pass")
    monkeypatch.setenv("SOMA_EVIDENCE_DIR", str(tmp_path))
    code, out = inv("db.provision", "--ns", "db07", "--no-vault", "--evidence")
    assert code == 2 and message in out, out
    assert "zzs3cret" not in out
    record = json.loads(next(tmp_path.glob("sprint-*/db-provision-*.json")).read_text())
    assert record["outcome"].startswith("failed")
    # The plan is in the record even though a step failed.
    assert [s["state"] for s in record["plans"][0]["steps"]] == ["failed", "not-run", "not-run"]
    for path in tmp_path.glob("sprint-*/db-provision-*"):
        assert "zzs3cret" not in path.read_text()


def test_dry_run_creates_nothing(pg_env, monkeypatch):
    monkeypatch.setenv("SOMA_DB_PASSWORD", "x-pass")
    code, out = inv("--dry", "db.provision", "--ns", "db06", "--no-vault")
    assert code == 0 and "dry run" in out
    assert _q(pg_env.dsn(), "SELECT count(*) FROM pg_database WHERE datname = 'db06'") == (0,)


def test_the_server_log_never_sees_the_password(pg_env, monkeypatch):
    """With DDL statement logging on, the logged CREATE ROLE carries a SCRAM verifier that
    libpq computed client-side, never the password."""
    monkeypatch.setenv("SOMA_DB_PASSWORD", "never-in-the-log-9")
    log = pathlib.Path(pg_env.datadir, "server.log")
    with psycopg.connect(pg_env.dsn(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET log_statement = 'ddl'")
        conn.execute("SELECT pg_reload_conf()")
    try:
        code, out = inv("db.provision", "--ns", "db08", "--no-vault")
        assert code == 0, out
    finally:
        with psycopg.connect(pg_env.dsn(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM RESET log_statement")
            conn.execute("SELECT pg_reload_conf()")
    text = log.read_text(errors="replace")
    assert 'CREATE ROLE "db08" LOGIN PASSWORD \'SCRAM-SHA-256$' in text
    assert "never-in-the-log-9" not in text
    verifier = _q(pg_env.dsn(), "SELECT rolpassword FROM pg_authid WHERE rolname = 'db08'")[0]
    assert _scram_matches(verifier, "never-in-the-log-9")


def test_identifiers_and_password_are_quoted(pg_env):
    """Names the CLI would refuse still cannot break out of the statements."""
    odd_role, odd_db, pw = 'we"ird; DROP ROLE x', "db-with-dash", "it's \\ tricky"
    conn = db_ops.connect(pg_env.dsn())
    try:
        for stmt in (sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(odd_db)),
                     sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(odd_role))):
            conn.execute(stmt)
        db_ops.create_role(conn, odd_role, pw)
        db_ops.create_database(conn, odd_db, odd_role)
        db_ops.apply_grants(conn, odd_db, odd_role)
        assert db_ops.role_exists(conn, odd_role) and db_ops.database_exists(conn, odd_db)
        assert db_ops.grants_missing(conn, odd_db, odd_role) == []
    finally:
        conn.close()


def _scram_matches(verifier: str, password: str) -> bool:
    """Check a password against a SCRAM-SHA-256 verifier (RFC 5802 / 7677)."""
    import base64
    import hashlib
    import hmac
    method, rest = verifier.split("$", 1)
    iter_salt, keys = rest.split("$", 1)
    iterations, salt = iter_salt.split(":")
    stored_key, _ = keys.split(":")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt),
                                 int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest() == base64.b64decode(stored_key)
