"""`inv preflight`: tool version gates (kubectl, helm, kind, docker) and capability checks.

Exit 0 when every check passes, 127 when a tool is missing or too old, 1 when another
check fails (docker engine down, a config file missing); the table says why each exists.
jq is no longer needed: versions are parsed in Python.
"""

from __future__ import annotations

from invoke import task
from rich.table import Table

from tasks.core import dockerengine
from tasks.core.cli import session
from tasks.core.preflight import run_checks, verdict

STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


def show(console, checks) -> None:
    console.print("[bold]preflight[/]")
    table = Table()
    for column in ("check", "status", "found", "required", "why"):
        table.add_column(column, overflow="fold")
    for check in checks:
        table.add_row(check.name, f"[{STYLE[check.status]}]{check.status}[/]", check.found,
                      check.required, check.reason)
    console.print(table)


def run_preflight(c, mode=None, evidence=False, runner=None, docker_ping=None, console=None, sets=()):
    with session(c, "preflight", mode=mode, evidence=evidence, runner=runner, console=console, sets=sets) as s:
        checks, versions = run_checks(s.runner, s.cfg, docker_ping=docker_ping or dockerengine.ping)
        s.evidence.tools.update({k: str(v) for k, v in versions.items()})
        s.evidence.add("checks", [ch.to_dict() for ch in checks])
        show(s.console, checks)
        failed = verdict(checks)
        if failed:
            raise failed  # the session turns it into one line and exit 127 (tool) or 1
        s.console.print("[green]preflight passed[/]")
        return checks


@task(default=True, iterable=["set_"], help={"mode": "mode whose values overlay must exist (default: soma.mode)",
                                             "evidence": "write a transcript and JSON run record",
                                             "set": "override any soma setting, repeatable: --set timeouts.helm=600 --set images=a:1,b:2",})
def preflight(c, mode=None, evidence=False, set_=None):
    """Check tool versions (kubectl>=1.28, helm>=3.13, kind>=0.24, docker>=24) and capabilities."""
    run_preflight(c, mode, evidence, sets=set_ or ())
