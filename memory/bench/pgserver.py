"""A throw-away PostgreSQL cluster on a free loopback port, for the benchmarks and tests.

initdb refuses to run as root, so the cluster is created and run as the `postgres` system
user through `runuser` (argument lists through `sh`). `fsync=off`: the figures measure the
service, not the disk. The test suite's session fixture (tests/fixtures/postgres.py) wraps
the same class, so the benchmarks need nothing from the tests package.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import socket
import tempfile
import time

import sh


class PostgresUnavailable(RuntimeError):
    """The server binaries are missing or the cluster did not start."""


def bindir() -> str:
    """The newest installed PostgreSQL server's bin folder."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise PostgresUnavailable("PostgreSQL server binaries not found (/usr/lib/postgresql/<v>/bin)")
    return os.path.dirname(found[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


@dataclasses.dataclass
class PostgresServer:
    bindir: str
    datadir: str
    port: int
    host: str = "127.0.0.1"
    user: str = "postgres"

    def _as_postgres(self, prog: str, *args: str) -> str:
        return str(sh.Command("runuser")("-u", "postgres", "--", os.path.join(self.bindir, prog), *args))

    def init(self) -> None:
        self._as_postgres("initdb", "-D", self.datadir, "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL with the psycopg 3 driver."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        import psycopg
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def start(self) -> None:
        self._as_postgres("pg_ctl", "-D", self.datadir, "-l", os.path.join(self.datadir, "server.log"),
                          "-w", "-t", "30", "-o",
                          f"-p {self.port} -k {self.datadir} -c listen_addresses={self.host} "
                          "-c fsync=off -c max_connections=200", "start")
        if not wait_port(self.port, 15):
            raise PostgresUnavailable(f"PostgreSQL did not listen on {self.host}:{self.port}")

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres("pg_ctl", "-D", self.datadir, "-m", mode, "-w", "stop")

    @property
    def running(self) -> bool:
        return os.path.exists(os.path.join(self.datadir, "postmaster.pid"))


def throwaway(database: str, datadir: str | None = None) -> PostgresServer:
    """A started cluster with `database` created; the caller stops it (`stop("immediate")`)
    and removes its `datadir`."""
    datadir = datadir or tempfile.mkdtemp(prefix="soma-pg-")
    shutil.chown(datadir, "postgres", "postgres")
    pg = PostgresServer(bindir=bindir(), datadir=datadir, port=free_port())
    pg.init()
    pg.start()
    pg.create_database(database)
    return pg
