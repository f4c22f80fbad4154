"""Without the `ops` extra, `inv` still lists every task, the memory tasks run, and an
operations task says what to install (tasks/core/extras.py).

The ops packages are made unimportable in a child interpreter the way Python itself
documents (`sys.modules[name] = None` makes `import name` raise ModuleNotFoundError), then
the real invoke program loads the real tasks.py."""

from __future__ import annotations

import os
import pathlib
import re
import sys

import sh

from tasks.core.extras import OPS_HINT, OPS_PACKAGES

ROOT = pathlib.Path(__file__).parents[2]
WITHOUT_OPS = ("import sys\n"
               f"for name in {sorted(OPS_PACKAGES)!r}:\n"
               "    sys.modules[name] = None\n"
               "from invoke.main import program\n"
               "program.run(['inv'] + sys.argv[1:])\n")


def _inv(*args: str, without_ops: bool):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOMA_")}
    if without_ops:
        return sh.Command(sys.executable)("-c", WITHOUT_OPS, *args, _cwd=str(ROOT), _env=env, _ok_code=[0, 1],
                                          _return_cmd=True, _timeout=120)
    inv = sh.Command(str(pathlib.Path(sys.executable).with_name("inv")))
    return inv(*args, _cwd=str(ROOT), _env=env, _ok_code=[0, 1], _return_cmd=True, _timeout=120)


def _names(listing: str) -> list[str]:
    return re.findall(r"^  (\S+)", listing, re.M)


def test_every_task_is_listed_without_the_ops_extra():
    full = _inv("--list", without_ops=False)
    bare = _inv("--list", without_ops=True)
    assert bare.exit_code == 0
    assert _names(bare.stdout.decode()) == _names(full.stdout.decode())
    listing = bare.stdout.decode()
    assert f"[needs {OPS_HINT}]" in listing
    memory_lines = [line for line in listing.splitlines() if line.strip().startswith("memory.")]
    assert memory_lines and not any("needs" in line for line in memory_lines)


def test_an_ops_task_without_the_extra_says_what_to_install():
    out = _inv("chart.lint", "--mode", "dev", without_ops=True)  # its own options still parse
    assert out.exit_code == 1
    err = out.stderr.decode().strip()
    assert err.startswith("inv chart.lint needs the operations extra (") and err.endswith(OPS_HINT)
    assert "Traceback" not in err
    default = _inv("reset", without_ops=True)  # a collection's default task, by its bare name
    assert default.exit_code == 1 and OPS_HINT in default.stderr.decode()


def test_memory_tasks_run_without_the_extra(tmp_path):
    url = f"sqlite:///{tmp_path / 'bare.db'}"
    out = _inv("memory.migrate", "--database-url", url, without_ops=True)
    assert out.exit_code == 0 and "database at revision" in out.stdout.decode()
