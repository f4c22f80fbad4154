"""Glue between Invoke tasks and the library: dry flag, errors as clean exits, a session.

    with session(c, "reset", mode=mode, evidence=evidence, inputs={...}) as s:
        s.cfg, s.runner, s.console, s.dry, s.evidence
        s.run_plan(plan)      # runs it, records it in the evidence

Every OpsError leaves the task as `invoke.Exit(message, code)`: one line, no traceback
(`exits(name)` does that alone, for tasks that need no plan: config.show, chart.*).
"""

from __future__ import annotations

import pathlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Mapping

from invoke import Exit, Task
from rich.console import Console

from tasks.core.config import SomaConfig, parse_sets, soma_config
from tasks.core.errors import OpsError
from tasks.core.evidence import Evidence
from tasks.core.plan import Plan, PlanResult
from tasks.core.runner import Runner


class OpsTask(Task):
    """An Invoke task with chosen extra flag names, as kubectl and helm have them (`-n` for
    --namespace), without Invoke's automatic ones (first free letter of every flag, which
    would give --force-finalize a -f).

        @task(klass=OpsTask, flag_aliases={"namespace": ("n",)})
    """

    def __init__(self, *args, flag_aliases: Mapping[str, tuple] | None = None, **kwargs):
        kwargs["auto_shortflags"] = False
        super().__init__(*args, **kwargs)
        self.flag_aliases = {k: tuple(v) for k, v in (flag_aliases or {}).items()}

    def arg_opts(self, name, default, taken_names):
        opts = super().arg_opts(name, default, taken_names)
        extra = [a for a in self.flag_aliases.get(name, ()) if a not in taken_names]
        opts["names"] = [*opts["names"], *extra]
        return opts


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

    def run_plan(self, plan: Plan, confirm=None) -> PlanResult:
        try:
            result = plan.run(dry=self.dry, confirm=confirm)
        finally:
            self.evidence.add_plan(plan.result)
        return result


@contextmanager
def exits(name: str, redact=str):
    """Any OpsError inside leaves as `invoke.Exit("<name>: <message>", <its exit code>)`.
    `redact` is the runner's redactor: a driver's message can quote what it was given (a
    DSN, a server reply), and by then the redactor has learnt the secrets."""
    try:
        yield
    except OpsError as exc:
        raise Exit(f"{name}: {redact(str(exc))}", code=exc.exit_code) from None


def machine_paths(cfg: SomaConfig) -> dict[str, str]:
    """This machine's paths and what evidence says instead (see tasks.core.evidence)."""
    paths = {str(cfg.root): ".", str(pathlib.Path.home()): "~"}
    evidence_dir = cfg.path("evidence_dir")
    if not evidence_dir.is_relative_to(cfg.root):  # an evidence folder elsewhere
        paths[str(evidence_dir)] = "$SOMA_EVIDENCE_DIR"
    if cfg.values.get("kubeconfig"):
        paths[str(cfg.values["kubeconfig"])] = "$KUBECONFIG"
    return paths


@contextmanager
def session(c, name: str, mode: str | None = None, evidence: bool = False,
            overrides: Mapping[str, Any] | None = None, inputs: Mapping[str, Any] | None = None,
            runner=None, console: Console | None = None, sets=(), cfg: SomaConfig | None = None):
    """`cfg`: a configuration already worked out (onboarding checks its inputs against it
    before anything starts); otherwise it is built here from mode, overrides and --set."""
    own_runner = runner is None
    runner = runner or Runner()
    with exits(name, runner.redact):
        if cfg is None:
            # A named flag (--namespace) wins over the same key given as --set namespace=...
            given = {k: v for k, v in (overrides or {}).items() if v is not None}
            cfg = soma_config(c, mode=mode, overrides={**parse_sets(sets), **given})
        if own_runner:
            runner.timeout, runner.cwd = cfg.timeouts["command"], cfg.root
        runner.redact.alias(machine_paths(cfg))
        ev = Evidence(cfg.evidence_path, task=name, inputs=dict(inputs or {}, mode=cfg.mode),
                      redact=runner.redact, enabled=evidence, console=console,
                      paths=machine_paths(cfg))
        ev.config = cfg.as_dict()
        with ev.recording() as out:
            yield Session(name, cfg, runner, out, is_dry(c), ev)
