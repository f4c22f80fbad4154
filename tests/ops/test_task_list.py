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
    assert collections["kube"]["default"] == "build"
    for name in ("kind", "config", "reset", "preflight"):
        assert all(t["help"] for t in collections[name]["tasks"]), name  # every task says what it does
