"""Fixtures of the deploy tests: a CA made in the test, PostgreSQL that only speaks TLS with
passwords, and the memory service run as a process from the onboarding contract alone."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import secrets
import shutil
import sys
import tempfile
import time

import requests
import pytest
import sh

from tests.fixtures._net import free_port
from tests.fixtures.postgres import PostgresServer, pg_bin

APP_USER = "sa01"


@dataclasses.dataclass(frozen=True)
class TestCA:
    root: pathlib.Path
    ca: pathlib.Path       # the CA certificate clients trust
    cert: pathlib.Path     # server certificate for localhost / 127.0.0.1, signed by the CA
    key: pathlib.Path


def make_ca(root: pathlib.Path, name: str = "soma-test") -> TestCA:
    """A self-signed CA and a server certificate it signs (openssl through sh, argv only)."""
    openssl = sh.Command("openssl")
    root.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}-ca",
            "-keyout", str(root / "ca.key"), "-out", str(root / "ca.pem"), _err_to_out=True)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", str(root / "server.key"), "-out", str(root / "server.csr"), _err_to_out=True)
    (root / "san.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", str(root / "server.csr"), "-CA", str(root / "ca.pem"),
            "-CAkey", str(root / "ca.key"), "-CAcreateserial", "-days", "2",
            "-extfile", str(root / "san.cnf"), "-out", str(root / "server.pem"), _err_to_out=True)
    return TestCA(root, root / "ca.pem", root / "server.pem", root / "server.key")


@dataclasses.dataclass
class TlsPostgres:
    server: PostgresServer
    ca: TestCA
    password: str
    user: str = APP_USER

    @property
    def port(self) -> int:
        return self.server.port

    def create_database(self, name: str) -> str:
        """A database owned by the app role, created over the local socket as postgres."""
        import psycopg
        with psycopg.connect(host=self.server.datadir, port=self.port, user="postgres",
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{self.user}"')
        return name

    def ssl_connections(self, dbname: str) -> list[tuple[bool, str]]:
        """(ssl, version) of every client connection to `dbname`, from pg_stat_ssl."""
        import psycopg
        with psycopg.connect(host=self.server.datadir, port=self.port, user="postgres",
                             dbname="postgres", autocommit=True) as conn:
            return [tuple(r) for r in conn.execute(
                "SELECT s.ssl, coalesce(s.version, '') FROM pg_stat_ssl s JOIN pg_stat_activity a "
                "USING (pid) WHERE a.datname = %s AND a.backend_type = 'client backend'", (dbname,))]


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory) -> TestCA:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def postgres_tls(test_ca):
    """PostgreSQL that accepts TCP only over TLS with a SCRAM password (pg_hba hostssl);
    the superuser keeps the local socket for the test's own setup."""
    bindir = pg_bin()
    datadir = tempfile.mkdtemp(prefix="soma-pgtls-")
    shutil.chown(datadir, "postgres", "postgres")
    server = PostgresServer(bindir=bindir, datadir=datadir, port=free_port())
    password = secrets.token_urlsafe(18)
    try:
        server._as_postgres("initdb", "-D", datadir, "-U", "postgres", "--auth-local=trust",
                            "--auth-host=reject", "-E", "UTF8")
        for src, name in ((test_ca.cert, "server.crt"), (test_ca.key, "server.key")):
            shutil.copy(src, os.path.join(datadir, name))
            shutil.chown(os.path.join(datadir, name), "postgres", "postgres")
            os.chmod(os.path.join(datadir, name), 0o600)
        with open(os.path.join(datadir, "postgresql.conf"), "a") as fh:
            fh.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
                     "password_encryption = 'scram-sha-256'\n")
        with open(os.path.join(datadir, "pg_hba.conf"), "w") as fh:
            fh.write("local all postgres trust\n"
                     "hostnossl all all 0.0.0.0/0 reject\n"
                     "hostssl all all 127.0.0.1/32 scram-sha-256\n")
        server.start()
        import psycopg
        from psycopg import sql
        with psycopg.connect(host=datadir, port=server.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(APP_USER), sql.Literal(password)))
    except sh.ErrorReturnCode as exc:
        pytest.fail(f"TLS PostgreSQL fixture failed: {exc.stderr.decode(errors='replace')[-2000:]}")
    yield TlsPostgres(server, test_ca, password)
    try:
        if server.running:
            server.stop("immediate")
    finally:
        shutil.rmtree(datadir, ignore_errors=True)


def base_env() -> dict[str, str]:
    """This process's environment without any SOMA_MEMORY_* or contract key."""
    from memory import contract
    keys = {k for keys in contract.CONTRACT_FIELDS.values() for k in keys} | set(contract.SECRET_KEYS)
    return {k: v for k, v in os.environ.items()
            if not k.startswith("SOMA_MEMORY_") and k not in keys and k != contract.SECRETS_DIR}


class ServiceProcess:
    """`python -m memory serve` as a child process, killed by the test or at teardown."""

    def __init__(self, env: dict[str, str], port: int, log: pathlib.Path):
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}"
        self.proc = sh.Command(sys.executable)("-m", "memory", "serve", _env={**env,
                                               "SOMA_MEMORY_PORT": str(port), "SOMA_MEMORY_HOST": "127.0.0.1"},
                                               _bg=True, _bg_exc=False, _out=str(log), _err_to_out=True)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.proc.is_alive():
                break
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"service on {self.port} not ready:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc.is_alive():
            try:
                self.proc.kill()
                self.proc.wait()
            except (sh.ErrorReturnCode, sh.SignalException, ProcessLookupError):
                pass

    def stop(self) -> None:
        if self.proc.is_alive():
            try:
                self.proc.terminate()
                self.proc.wait(timeout=20)
            except (sh.ErrorReturnCode, sh.SignalException, sh.TimeoutException, ProcessLookupError):
                self.kill()


@pytest.fixture
def service_process(tmp_path):
    started: list[ServiceProcess] = []

    def start(env: dict[str, str], port: int | None = None) -> ServiceProcess:
        port = port or free_port()
        proc = ServiceProcess(env, port, tmp_path / f"service-{port}.log")
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


