"""Done when: `inv --list` shows reset, kind.*, config.show and preflight (the real CLI)."""

from __future__ import annotations

import json
import pathlib
import sys

import sh

from tasks.core.config import REPO_ROOT


def test_inv_list_shows_the_shared_infra_tasks():
    inv = sh.Command(str(pathlib.Path(sys.executable).parent / "inv"))
    listed = json.loads(str(inv("--list", "--list-format=json", _cwd=str(REPO_ROOT), _tty_out=False)))
    collections = {c["name"]: c for c in listed["collections"]}

    assert [t["name"] for t in collections["kind"]["tasks"]] == ["create", "delete", "deploy", "full", "preload", "status"]
    assert [t["name"] for t in collections["config"]["tasks"]] == ["show"]
    # `inv reset` and `inv preflight` answer to the bare collection name.
    assert collections["reset"]["default"] == "reset"
    assert collections["preflight"]["default"] == "preflight"
    # The test harness is under `dev`, not among operators' collections.
    assert "kube" not in collections and "test" not in collections
    dev = {c["name"]: c for c in collections["dev"]["collections"]}
    assert dev["kube"]["default"] == "build"
    assert {t["name"] for t in dev["test"]["tasks"]} >= {"run", "setup"}
    # No task at the top and no default: the list leads with operators' collections, and a
    # bare `inv` never starts the suite (that is `inv dev.test`).
    assert listed["tasks"] == [] and listed["default"] is None
    assert dev["test"]["default"] == "run"
    helped = str(inv("dev.test", "--help", _cwd=str(REPO_ROOT), _tty_out=False))
    assert "run the whole suite" in helped
    assert {t["name"] for t in collections["vault"]["tasks"]} == {"apply", "auth", "init"}
    assert [t["name"] for t in collections["secrets"]["tasks"]] == ["create"]
    for name in ("kind", "config", "reset", "preflight", "app", "vault", "secrets"):
        assert all(t["help"] for t in collections[name]["tasks"]), name  # every task says what it does
