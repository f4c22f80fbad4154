"""The glue every onboarding task shares: errors become one line and an exit code, plans
run with Invoke's `--dry`, and `--evidence` records the run."""

import contextlib

from invoke import Exit
from rich.console import Console

from tasks.core.errors import OpsError
from tasks.core.evidence import Evidence
from tasks.core.plan import Plan


@contextlib.contextmanager
def reported():
    """OpsError -> invoke.Exit: the operator sees one clear line, never a traceback."""
    try:
        yield
    except OpsError as exc:
        raise Exit(f"error: {exc}", code=getattr(exc, "exit_code", 1) or 1) from None


def dry_run(c) -> bool:
    return bool(c.config.run.dry)


@contextlib.contextmanager
def session(c, task: str, cfg, svc, inputs: dict, evidence: bool = False):
    """Yields (console, new_plan, evidence); closes the service clients at the end."""
    ev = Evidence(cfg.evidence_path, task=task, inputs=inputs, redact=svc.runner.redact,
                  enabled=evidence, console=Console(record=evidence))
    ev.config = cfg.as_dict()

    def new_plan(title: str) -> Plan:
        return Plan(title, console=ev.console, redact=svc.runner.redact)

    try:
        with ev.recording() as console:
            yield console, new_plan, ev
    finally:
        svc.close()
