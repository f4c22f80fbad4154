"""Every day-2 task works as a plan under `inv --dry`: it prints its steps and does nothing."""

from __future__ import annotations

import pytest

from tasks.audit import run_audit
from tasks.cutover import run_cutover
from tasks.dr import run_drill
from tasks.drift import run_drift
from tasks.health import run_health
from tasks.incident import run_bundle
from tasks.restart import run_restart
from tests.day2.conftest import make_console, make_context, text

RUNS = {
    "incident.bundle": (run_bundle, "analyze and write the bundle"),
    "health.snapshot": (run_health, "probe services"),
    "audit.access": (run_audit, "judge each namespace"),
    "drift.check": (run_drift, "render the chart"),
    "restart.check": (run_restart, "inv restart.check"),
    "dr.drill": (run_drill, "postgres dump, restore, compare"),
    "cutover.check": (run_cutover, "read DR drill and evidence records"),
}


@pytest.mark.parametrize("name", list(RUNS))
def test_dry_run_prints_the_plan_and_writes_nothing(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fn, step = RUNS[name]
    console = make_console()
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "ev"), "kubeconfig": str(tmp_path / "no-such-kubeconfig")},
                       dry=True)
    assert fn(ctx, console=console, json_path=str(tmp_path / "out.json")) is None
    shown = text(console)
    assert step in shown and "dry run: nothing was changed" in shown
    assert list(tmp_path.iterdir()) == [], "a dry run wrote something"
