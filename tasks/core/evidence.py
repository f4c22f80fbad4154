"""`--evidence`: a transcript and a JSON run record per task run, in docs/sprints/sprint-<n>/.

    ev = Evidence(cfg.evidence_path, task="reset", inputs={...}, redact=runner.redact)
    with ev.recording() as console:          # console tees to the terminal and records
        ev.config, ev.tools = cfg.as_dict(), {"kubectl": "1.32.4"}
        ev.add_plan(plan.run(dry=dry))       # or ev.add_plan(plan.result) on failure
    ev.written                               # (transcript .txt, record .json)

The record holds inputs, effective config, tool versions, steps with states and durations,
extra outputs (e.g. `helm status`) and the outcome (`ok` or `failed: <error>`). Both files are
written to a temporary name and renamed, so a crash never leaves half a record; everything
passes through the redactor first, then through `paths`, which turns this machine's paths
into placeholders (the kubeconfig into `$KUBECONFIG`, the repository into `.`, the home
folder into `~`): evidence is committed, and an absolute path says nothing to a reader on
another machine. With `enabled=False` nothing is written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import platform
import time
from contextlib import contextmanager
from typing import Any, Callable

from rich.console import Console

from tasks.core.plan import PlanResult


class Evidence:
    def __init__(self, folder: pathlib.Path, task: str, inputs: dict | None = None,
                 redact: Callable[[str], str] = str, enabled: bool = True,
                 console: Console | None = None, clock=dt.datetime.now,
                 paths: dict[str, str] | None = None):
        self.folder = pathlib.Path(folder)
        self.task = task
        self.inputs = dict(inputs or {})
        self.redact = redact
        self.enabled = enabled
        self.clock = clock
        # Longest first, so the kubeconfig inside the repository is not half-replaced by ".".
        self.paths = sorted(((str(k), v) for k, v in (paths or {}).items() if k and len(str(k)) > 1),
                            key=lambda kv: len(kv[0]), reverse=True)
        self.config: dict = {}
        self.tools: dict = {}
        self.plans: list[dict] = []
        self.extra: dict[str, Any] = {}
        self.outcome = "unknown"
        self.written: tuple[pathlib.Path, pathlib.Path] | None = None
        # record=True keeps everything printed so it can be exported as the transcript.
        self.console = console or Console(record=enabled)

    def add_plan(self, result: PlanResult | None) -> None:
        if result is not None:
            self.plans.append(result.to_dict())

    def add(self, key: str, value: Any) -> None:
        self.extra[key] = value

    @contextmanager
    def recording(self):
        started_at, t0 = self.clock(dt.timezone.utc), time.monotonic()
        try:
            yield self.console
            self.outcome = "ok"
        except BaseException as exc:
            self.outcome = f"failed: {exc}"
            raise
        finally:
            if self.enabled:
                self.written = self.write(started_at, time.monotonic() - t0)
                self.console.print(f"evidence: {self.written[0]} and {self.written[1].name}")

    def record(self, started_at: dt.datetime, seconds: float) -> dict:
        return {
            "task": self.task,
            "started_at": started_at.isoformat(timespec="seconds"),
            "seconds": round(seconds, 3),
            "outcome": self.outcome,
            "inputs": self.inputs,
            "config": self.config,
            "tools": self.tools,
            "host": {"python": platform.python_version(), "system": platform.system()},
            "plans": self.plans,
            **({"extra": self.extra} if self.extra else {}),
        }

    def scrub(self, text: str) -> str:
        text = self.redact(text)
        for path, placeholder in self.paths:
            text = text.replace(path + "/", placeholder + "/").replace(path, placeholder)
        return text

    def write(self, started_at: dt.datetime, seconds: float) -> tuple[pathlib.Path, pathlib.Path]:
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = f"{self.task.replace('.', '-')}-{started_at.strftime('%Y%m%dT%H%M%SZ')}"
        text = self.scrub(self.console.export_text(clear=False)) if self.console.record else ""
        record = self.scrub(json.dumps(self.record(started_at, seconds), indent=2, default=str))
        transcript, data = self.folder / f"{stem}.txt", self.folder / f"{stem}.json"
        for path, body in ((transcript, text), (data, record + "\n")):
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(body)
            os.replace(tmp, path)
        return transcript, data
