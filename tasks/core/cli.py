"""Glue between Invoke tasks and the library: dry flag, errors as clean exits, a session.

    with session(c, "reset", mode=mode, evidence=evidence, inputs={...}) as s:
        s.cfg, s.runner, s.console, s.dry, s.evidence
        s.run_plan(plan)      # runs it, records it in the evidence

Every OpsError leaves the task as `invoke.Exit(message, code)`: one line, no traceback
(`exits(name)` does that alone, for tasks that need no plan: config.show, chart.*).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Mapping

from invoke import Exit
from rich.console import Console

from tasks.core.config import SomaConfig, parse_sets, soma_config
from tasks.core.errors import OpsError
from tasks.core.evidence import Evidence
from tasks.core.plan import Plan, PlanResult
from tasks.core.runner import Runner


def is_dry(c) -> bool:
    try:
        return bool(c.config.run.dry)
    except AttributeError:
        return False


@dataclass
class Session:
    name: str
    cfg: SomaConfig
    runner: Any
    console: Console
    dry: bool
    evidence: Evidence
    results: list = field(default_factory=list)

    def plan(self, title: str | None = None) -> Plan:
        return Plan(title or f"inv {self.name}", console=self.console, redact=self.runner.redact)

    def run_plan(self, plan: Plan) -> PlanResult:
        try:
            result = plan.run(dry=self.dry)
        finally:
            self.evidence.add_plan(plan.result)
        return result


@contextmanager
def exits(name: str):
    """Any OpsError inside leaves as `invoke.Exit("<name>: <message>", <its exit code>)`."""
    try:
        yield
    except OpsError as exc:
        raise Exit(f"{name}: {exc}", code=exc.exit_code) from None


@contextmanager
def session(c, name: str, mode: str | None = None, evidence: bool = False,
            overrides: Mapping[str, Any] | None = None, inputs: Mapping[str, Any] | None = None,
            runner=None, console: Console | None = None, sets=()):
    with exits(name):
        # A named flag (--namespace) wins over the same key given as --set namespace=...
        given = {k: v for k, v in (overrides or {}).items() if v is not None}
        cfg = soma_config(c, mode=mode, overrides={**parse_sets(sets), **given})
        runner = runner or Runner(timeout=cfg.timeouts["command"], cwd=cfg.root)
        ev = Evidence(cfg.evidence_path, task=name, inputs=dict(inputs or {}, mode=cfg.mode),
                      redact=runner.redact, enabled=evidence, console=console)
        ev.config = cfg.as_dict()
        with ev.recording() as out:
            yield Session(name, cfg, runner, out, is_dry(c), ev)
