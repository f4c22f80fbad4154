"""Runs onboarding tasks through Invoke's real CLI machinery (argument parsing, `--dry`,
`Exit` codes), in-process for speed, with the repository's invoke.yaml as configuration.
The collection holds the onboarding modules only, so the tests do not depend on every
other task module importing cleanly."""

import contextlib
import io
import pathlib

import yaml
from invoke import Collection, Program

from tasks import app, db, kafka, render, secrets, vault

REPO = pathlib.Path(__file__).resolve().parents[2]
MODULES = {"render": render, "vault": vault, "db": db, "kafka": kafka, "app": app,
           "secrets": secrets}


def collection() -> Collection:
    ns = Collection()
    for name, module in MODULES.items():
        ns.add_collection(Collection.from_module(module, name=name))
    soma = yaml.safe_load((REPO / "invoke.yaml").read_text())["soma"]
    ns.configure({"run": {"echo": False}, "soma": soma})
    return ns


def inv(*argv: str) -> tuple[int, str]:
    """(exit code, stdout + stderr) of `inv <argv>`."""
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            Program(namespace=collection(), name="inv", binary="inv").run(["inv", *argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue()
