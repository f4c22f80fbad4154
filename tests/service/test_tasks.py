"""`inv memory.migrate|relay|...` through the real invoke CLI: options reach the service as
SOMA_MEMORY_* variables, and a refusal is the service's one-line error with its exit code."""

from __future__ import annotations

import os
import pathlib
import sys

import sh

from memory.store import Store
from memory.store import migrate as mig

ROOT = pathlib.Path(__file__).parents[2]


def _inv(*args: str, env: dict | None = None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("SOMA_MEMORY_")}
    inv = sh.Command(str(pathlib.Path(sys.executable).with_name("inv")))
    return inv(*args, _cwd=str(ROOT), _env={**base, **(env or {})}, _ok_code=[0, 1],
               _return_cmd=True, _timeout=120)


def test_inv_memory_migrate_brings_the_named_database_to_head(tmp_path):
    url = f"sqlite:///{tmp_path / 'tasks.db'}"
    out = _inv("memory.migrate", "--database-url", url)
    assert out.exit_code == 0 and f"database at revision {mig.head()}" in out.stdout.decode()
    Store(url).check_migrated()


def test_inv_memory_relay_without_a_broker_says_what_to_set(tmp_path):
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    Store(url).migrate()
    out = _inv("memory.relay", env={"SOMA_MEMORY_DATABASE_URL": url})
    assert out.exit_code == 1
    assert "SOMA_MEMORY_KAFKA_BOOTSTRAP is not set" in out.stderr.decode()
    assert "Traceback" not in out.stderr.decode()
