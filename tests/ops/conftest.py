"""Helpers for the operations-library tests: a real Invoke context and a routing runner.

The routing runner sends kubectl (and anything else) to the real `Runner` and only the
tools that cannot run here (kind, helm) to a `RecordingRunner`, whose unanswered calls fail.
"""

from __future__ import annotations

import io
import os
import pathlib

import pytest
from invoke import Config, Context
from rich.console import Console

from tasks.core.config import REPO_ROOT
from tasks.core.runner import RecordingRunner, Runner


def make_context(dry: bool = False, soma: dict | None = None) -> Context:
    config = Config(project_location=str(REPO_ROOT), overrides={"run": {"dry": dry}})
    config.load_project()
    if soma:
        for key, value in soma.items():
            config.soma[key] = value
    return Context(config=config)


def make_console() -> Console:
    return Console(file=io.StringIO(), width=220, record=True, color_system=None)


def output(console: Console) -> str:
    return console.export_text(clear=False)


class RoutingRunner:
    def __init__(self, recorder: RecordingRunner, recorded=("helm", "kind"), real: Runner | None = None):
        self.real = real or Runner(timeout=60)
        self.recorder = recorder
        self.recorded = tuple(recorded)
        self.redact = self.real.redact
        self.calls: list[list[str]] = []  # every argv, in order, real or recorded

    def _target(self, tool: str):
        return self.recorder if tool in self.recorded else self.real

    def which(self, tool):
        return self._target(tool).which(tool)

    def run(self, argv, **kwargs):
        self.calls.append([str(a) for a in argv])
        return self._target(str(argv[0])).run(argv, **kwargs)

    def failure(self, result):
        return self.real.failure(result)

    version = Runner.version
    require = Runner.require


@pytest.fixture
def console():
    return make_console()


@pytest.fixture
def real_kubectl(k8s_clients, monkeypatch):
    """The real kubectl 1.36 (tasks/core/clients.py) first on PATH, so every kubectl the
    tasks run through the Runner is that binary; returns its path."""
    folder = str(pathlib.Path(k8s_clients["kubectl"]).parent)
    monkeypatch.setenv("PATH", folder + os.pathsep + os.environ.get("PATH", ""))
    return k8s_clients["kubectl"]
