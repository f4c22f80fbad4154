"""Plans: every task first lists its steps (CLI and SDK alike), prints them, then converges.

    plan = Plan("inv reset", console=None)
    plan.add(Step(name="delete namespace soma-infra", kind="cli",
                  detail="kubectl delete namespace soma-infra --wait=false",
                  needed=lambda: ns_exists(), action=lambda: delete()))
    result = plan.run(dry=c.config.run.dry)

`run` asks each step's `needed()` first and prints the table (state `change` or `ok`).
With `dry=True` it stops after the table, for every kind of step, because SDK calls are
not covered by Invoke's own `--dry`. When nothing is needed it prints "all set" and runs
nothing, so a second run is a no-op; when only `check` steps (gates such as preflight) ran,
it says "all set" too. Otherwise every step is asked `needed()` again right
before its turn (an earlier step may have met or created its need: converge, don't replay), runs
under a spinner with elapsed time, and is timed. The first failure stops the plan with
`StepFailed`; the `PlanResult` (steps, states, durations, outcome) goes into the evidence.

A `needed()` that cannot answer in the preview (kind is not installed, the cluster does not
exist yet) shows the step as `change?` with the reason, so `inv kind.full --dry` works on
any machine; in a real run the step asks again when its turn comes and fails then.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from rich.console import Console
from rich.table import Table

from tasks.core.errors import NotConfirmed, StepFailed

KINDS = ("cli", "sdk", "check")


@dataclass
class Step:
    name: str
    action: Callable[[], Any]
    kind: str = "cli"
    detail: str = ""
    needed: Callable[[], bool] | None = None  # None: always needed

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"step kind must be one of {KINDS}, not {self.kind!r}")


@dataclass
class StepRecord:
    name: str
    kind: str
    detail: str
    state: str  # planned: change | change? | ok ; after run: done | ok | failed | not-run
    seconds: float = 0.0
    note: str = ""
    output: Any = None


@dataclass
class PlanResult:
    title: str
    dry: bool
    steps: list[StepRecord] = field(default_factory=list)
    outcome: str = "planned"  # planned | all-set | done | failed | declined
    error: str = ""
    seconds: float = 0.0

    @property
    def all_set(self) -> bool:
        return self.outcome == "all-set"

    @property
    def changed(self) -> list[str]:
        return [s.name for s in self.steps if s.state == "done"]

    @property
    def changes(self) -> list[str]:
        """Steps that ran and could change something (check steps only look)."""
        return [s.name for s in self.steps if s.state == "done" and s.kind != "check"]

    def output(self, name: str) -> Any:
        for record in self.steps:
            if record.name == name:
                return record.output
        raise KeyError(name)

    def to_dict(self) -> dict:
        return asdict(self)


_STYLE = {"change": "yellow", "change?": "yellow", "ok": "green", "done": "green",
          "failed": "bold red", "not-run": "dim"}


class Plan:
    def __init__(self, title: str, console: Console | None = None, redact: Callable[[str], str] = str):
        self.title = title
        self.console = console or Console()
        self.redact = redact
        self.steps: list[Step] = []
        self.result: PlanResult | None = None

    def add(self, step: Step) -> Step:
        if any(s.name == step.name for s in self.steps):
            raise ValueError(f"duplicate step name {step.name!r}")
        self.steps.append(step)
        return step

    def extend(self, steps) -> None:
        for step in steps:
            self.add(step)

    def _assess(self, step: Step, dry: bool) -> StepRecord:
        record = StepRecord(step.name, step.kind, self.redact(step.detail), "change")
        if step.needed is None:
            return record
        try:
            record.state = "change" if step.needed() else "ok"
        except Exception as exc:  # the preview never crashes; the step's own turn will fail
            # The last line of a failure is the tool's own reason (e.g. connection refused).
            lines = [line for line in self.redact(str(exc)).splitlines() if line.strip()] or ["?"]
            record.state, record.note = "change?", f"cannot check: {lines[-1].strip()}"
        return record

    def table(self, records: list[StepRecord], dry: bool) -> Table:
        table = Table()
        for column in ("#", "step", "kind", "state", "command / call"):
            table.add_column(column, overflow="fold")
        for i, r in enumerate(records, 1):
            state = f"[{_STYLE.get(r.state, '')}]{r.state}[/]"
            detail = r.detail + (f"\n[dim]{r.note}[/]" if r.note else "")
            table.add_row(str(i), r.name, r.kind, state, detail)
        return table

    def run(self, dry: bool = False, confirm: Callable[[PlanResult], bool] | None = None) -> PlanResult:
        """`confirm`, when given, is asked after the table and before the first change (a
        destructive task asks the operator); a False answer stops with `NotConfirmed`."""
        started = time.monotonic()
        result = self.result = PlanResult(self.title, dry)  # kept for evidence on failure
        result.steps = [self._assess(step, dry) for step in self.steps]
        # The title goes on its own line: a table title wraps at the table's width.
        self.console.print(f"[bold]{self.title}[/]" + (" (dry run)" if dry else ""))
        self.console.print(self.table(result.steps, dry))
        if dry:
            self.console.print("dry run: nothing was changed")
            result.seconds = time.monotonic() - started
            return result
        if all(r.state == "ok" for r in result.steps):
            self.console.print("[green]all set[/]: nothing to change")
            result.outcome, result.seconds = "all-set", time.monotonic() - started
            return result
        if confirm is not None and not confirm(result):
            result.outcome, result.error = "declined", "not confirmed"
            for record in result.steps:
                if record.state in ("change", "change?"):
                    record.state = "not-run"
            raise NotConfirmed("not confirmed; nothing was changed")
        # Every step is asked again: an earlier step may have created a need the preview
        # could not see (a recreated cluster needs its images again) or met one.
        for step, record in zip(self.steps, result.steps):
            self._execute(step, record, result)
        result.outcome, result.seconds = "done", time.monotonic() - started
        if not result.changes:
            # Gates (preflight, readiness) always run, yet they change nothing: say so.
            self.console.print("[green]all set[/]: only checks ran, nothing changed")
        return result

    @contextmanager
    def _progress(self, name: str, every_s: float = 15.0):
        """A spinner with the elapsed time on a terminal; elsewhere (CI logs, evidence) one
        "still running" line every `every_s` seconds, so a long wait is never silent."""
        done, t0 = threading.Event(), time.monotonic()
        with self.console.status(f"{name} …", spinner="dots") as status:
            def tick():
                last = 0.0
                while not done.wait(1.0):
                    elapsed = time.monotonic() - t0
                    status.update(f"{name} … {elapsed:.0f}s")
                    if not self.console.is_terminal and elapsed - last >= every_s:
                        last = elapsed
                        self.console.print(f"  … {name}: still running ({elapsed:.0f}s)")

            ticker = threading.Thread(target=tick, name="plan-progress", daemon=True)
            ticker.start()
            try:
                yield
            finally:
                done.set()
                ticker.join()

    def _execute(self, step: Step, record: StepRecord, result: PlanResult) -> None:
        t0 = time.monotonic()
        try:
            if step.needed is not None and not step.needed():
                if record.state != "ok":
                    record.note = "already converged"
                record.state = "ok"
                self.console.print(f"[green]ok[/]   {step.name}" + (f" ({record.note})" if record.note else ""))
                return
            with self._progress(step.name):
                record.output = step.action()
            record.state = "done"
        except Exception as exc:  # any failure stops the plan, named by step
            record.state, record.note = "failed", self.redact(str(exc))
            record.seconds = time.monotonic() - t0
            result.outcome, result.error = "failed", f"{step.name}: {record.note}"
            result.seconds = sum(r.seconds for r in result.steps)
            for later in result.steps[result.steps.index(record) + 1:]:
                if later.state in ("change", "change?"):
                    later.state = "not-run"
            self.console.print(f"[bold red]FAIL[/] {step.name}: {record.note}")
            raise StepFailed(step.name, exc) from exc
        record.seconds = time.monotonic() - t0
        if isinstance(record.output, str) and record.output:
            record.note = self.redact(record.output.splitlines()[0])
        self.console.print(f"[green]done[/] {step.name} ({record.seconds:.1f}s)"
                           + (f" — {record.note}" if record.note else ""))
