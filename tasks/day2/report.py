"""One result shape for every day-2 task: checks with pass/warn/fail, a table and JSON.

    report = Report("inv health.snapshot", context="soma-test", namespaces=["soma-infra"])
    report.add(Check("postgres", "replication lag", WARN, "12 MiB behind", {"bytes": 12582912}))
    report.print(console)             # the rich table people read
    report.write_json(path)           # the same data for machines (--json FILE)
    report.exit_code                  # 0 pass, 3 warn, 4 fail (docs/operations.md)

The table and the JSON come from the same `Check` objects, so they cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"
STATUSES = (PASS, WARN, FAIL, SKIP)
_RANK = {SKIP: 0, PASS: 0, WARN: 1, FAIL: 2}
# Distinct from 1 (a step failed), 2 (bad configuration) and 127 (tool missing).
EXIT_CODES = {PASS: 0, WARN: 3, FAIL: 4}
EXIT_DRIFT = 5
_STYLE = {PASS: "green", WARN: "yellow", FAIL: "bold red", SKIP: "dim"}


@dataclass
class Check:
    area: str
    name: str
    status: str
    detail: str = ""
    evidence: Any = None

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")


def worst(statuses) -> str:
    out = PASS
    for status in statuses:
        if _RANK[status] > _RANK[out]:
            out = status
    return out


def threshold(value: float | None, warn: float, fail: float) -> str:
    """pass below `warn`, warn from `warn`, fail from `fail`; None (unknown) is a warning."""
    if value is None:
        return WARN
    return FAIL if value >= fail else WARN if value >= warn else PASS


@dataclass
class Report:
    title: str
    context: str = ""
    namespaces: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    generated_at: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc)
                              .isoformat(timespec="seconds"))

    def add(self, *checks: Check) -> None:
        self.checks.extend(checks)

    @property
    def status(self) -> str:
        return worst(c.status for c in self.checks)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for c in self.checks if c.status == s) for s in STATUSES}

    def to_dict(self) -> dict:
        return {"title": self.title, "generated_at": self.generated_at, "context": self.context,
                "namespaces": self.namespaces, "status": self.status, "counts": self.counts(),
                "checks": [asdict(c) for c in self.checks], **self.extra}

    def table(self) -> Table:
        table = Table(title=None)
        for column in ("area", "check", "status", "detail"):
            table.add_column(column, overflow="fold")
        for c in self.checks:
            table.add_row(c.area, c.name, f"[{_STYLE[c.status]}]{c.status}[/]", c.detail)
        return table

    def print(self, console: Console) -> None:
        console.print(f"[bold]{self.title}[/]" + (f" (context {self.context})" if self.context else ""))
        console.print(self.table())
        counts = self.counts()
        console.print(f"[{_STYLE[self.status]}]{self.status}[/]: "
                      + ", ".join(f"{n} {s}" for s, n in counts.items() if n))

    def write_json(self, path: str | os.PathLike, redact=str) -> pathlib.Path:
        return write_json(path, self.to_dict(), redact)


def write_json(path: str | os.PathLike, data: Any, redact=str) -> pathlib.Path:
    """Atomically (temporary name, then rename), through the redactor."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(redact(json.dumps(data, indent=2, default=str, sort_keys=False)) + "\n")
    os.replace(tmp, path)
    return path
