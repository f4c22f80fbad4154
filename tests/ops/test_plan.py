"""Plan semantics: table first, --dry stops there, converge on re-ask, 'all set', failures named."""

from __future__ import annotations

import pytest

from tasks.core.errors import OpsError, StepFailed, ToolMissing
from tasks.core.plan import Plan, Step
from tests.ops.conftest import make_console, output


class World:
    """A tiny real state machine the steps converge (files would do as well)."""

    def __init__(self):
        self.state = {"cluster": False, "images": False}
        self.actions = []

    def step(self, key, kind="cli"):
        def act():
            self.actions.append(key)
            self.state[key] = True
            return f"{key} ready"
        return Step(f"make {key}", act, kind, f"create {key}", needed=lambda: not self.state[key])


def test_dry_prints_every_step_and_runs_none():
    world, console = World(), make_console()
    plan = Plan("inv demo", console=console)
    plan.extend([world.step("cluster"), world.step("images", kind="sdk")])
    result = plan.run(dry=True)
    assert world.actions == []
    assert result.outcome == "planned" and [s.state for s in result.steps] == ["change", "change"]
    text = output(console)
    assert "inv demo (dry run)" in text and "create cluster" in text and "sdk" in text


def test_second_run_is_all_set_and_changes_nothing():
    world = World()
    first = Plan("inv demo", console=make_console())
    first.extend([world.step("cluster"), world.step("images")])
    assert first.run().changed == ["make cluster", "make images"]
    console = make_console()
    again = Plan("inv demo", console=console)
    again.extend([world.step("cluster"), world.step("images")])
    result = again.run()
    assert result.all_set and world.actions == ["cluster", "images"]
    assert "all set" in output(console)


def test_each_step_is_asked_again_before_it_runs():
    world = World()
    plan = Plan("inv demo", console=make_console())
    plan.add(world.step("cluster"))
    # Both steps converge the same state: the second finds it done and does not act again.
    plan.add(Step("make cluster again", lambda: world.actions.append("twice"), needed=lambda: not world.state["cluster"]))
    result = plan.run()
    assert world.actions == ["cluster"]
    assert [s.state for s in result.steps] == ["done", "ok"]
    assert result.steps[1].note == "already converged"


def test_failure_stops_the_plan_names_the_step_and_keeps_the_record():
    world = World()
    console = make_console()
    plan = Plan("inv demo", console=console, redact=lambda t: t.replace("hunter2", "***"))

    def boom():
        raise OpsError("token hunter2 rejected")

    plan.extend([world.step("cluster"), Step("push", boom), world.step("images")])
    with pytest.raises(StepFailed) as failed:
        plan.run()
    assert failed.value.step == "push"
    assert [s.state for s in plan.result.steps] == ["done", "failed", "not-run"]
    assert plan.result.outcome == "failed" and "***" in plan.result.error and "hunter2" not in plan.result.error
    assert world.actions == ["cluster"]
    assert "FAIL push" in output(console)


def test_a_step_that_cannot_be_checked_shows_why_in_the_preview():
    def needs_kind():
        raise ToolMissing("install kind >= 0.24")

    console = make_console()
    plan = Plan("inv demo", console=console)
    plan.add(Step("create cluster", lambda: None, needed=needs_kind))
    result = plan.run(dry=True)
    assert result.steps[0].state == "change?"
    assert "cannot check: install kind >= 0.24" in output(console)
    with pytest.raises(StepFailed, match="install kind"):
        _run_single(needs_kind)


def _run_single(needed):
    plan = Plan("inv demo", console=make_console())
    plan.add(Step("create cluster", lambda: None, needed=needed))
    return plan.run()


def test_bad_steps_are_rejected():
    plan = Plan("inv demo", console=make_console())
    plan.add(Step("a", lambda: None))
    with pytest.raises(ValueError, match="duplicate"):
        plan.add(Step("a", lambda: None))
    with pytest.raises(ValueError, match="kind"):
        Step("b", lambda: None, kind="shell")


def test_a_long_step_reports_progress_in_a_log():
    import time

    console = make_console()  # not a terminal: progress comes as log lines
    plan = Plan("inv demo", console=console)
    plan.add(Step("wait a bit", lambda: time.sleep(2.5)))
    original = plan._progress
    plan._progress = lambda name: original(name, every_s=1.0)
    plan.run()
    assert "wait a bit: still running (" in output(console)


def test_only_checks_running_is_all_set_but_a_change_is_not():
    world, console = World(), make_console()
    plan = Plan("inv demo", console=console)
    plan.extend([Step("gate", lambda: "tools ok", "check"), world.step("cluster")])
    world.state["cluster"] = True  # already converged: only the gate runs
    result = plan.run()
    assert result.outcome == "done" and result.changed == ["gate"] and result.changes == []
    assert "all set: only checks ran" in output(console)

    world.state["cluster"], console = False, make_console()
    again = Plan("inv demo", console=console)
    again.extend([Step("gate", lambda: "tools ok", "check"), world.step("cluster")])
    assert again.run().changes == ["make cluster"]
    assert "all set" not in output(console)
