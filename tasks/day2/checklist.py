"""docs/cutover.md as data: its check tables, parsed, and each row's source judged.

    rows = parse(text)          # [Item(id, check, source, blocks, section)]
    verdict(statuses)           # "GO" | "GO with warnings" | "NO-GO"

Only tables whose header is `id | check | source | blocks` are read, so prose and other
tables in the document are free to change.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import re
from dataclasses import dataclass

from tasks.core.errors import ConfigError
from tasks.day2.report import FAIL, PASS, SKIP, WARN

HEADER = ["id", "check", "source", "blocks"]
SOURCE = re.compile(r"^(health:[a-z-]+|audit|drift|dr:\d+d|evidence:[a-z.-]+:\d+d|manual)$")


@dataclass
class Item:
    id: str
    check: str
    source: str
    blocks: bool
    section: str


def _cells(line: str) -> list[str]:
    return [c.strip().strip("`") for c in line.strip().strip("|").split("|")]


def parse(text: str) -> list[Item]:
    items, section, in_table = [], "", False
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            section, in_table = line.lstrip("#").strip(), False
            continue
        if not line.strip().startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if [c.lower() for c in cells] == HEADER:
            in_table = True
            continue
        if not in_table or set("".join(cells)) <= set("-: "):
            continue
        if len(cells) != 4:
            raise ConfigError(f"docs/cutover.md line {n}: expected 4 cells, found {len(cells)}")
        ident, check, source, blocks = cells
        if not SOURCE.match(source):
            raise ConfigError(f"docs/cutover.md line {n}: unknown source {source!r}")
        if blocks not in ("yes", "no"):
            raise ConfigError(f"docs/cutover.md line {n}: blocks must be yes or no, not {blocks!r}")
        items.append(Item(ident, check, source, blocks == "yes", section))
    if not items:
        raise ConfigError("docs/cutover.md has no check table (header: id | check | source | blocks)")
    return items


def latest(folder: pathlib.Path, pattern: str) -> pathlib.Path | None:
    found = sorted(folder.glob(pattern))
    return found[-1] if found else None


def age_days(iso: str, now: dt.datetime) -> float:
    when = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return (now - when).total_seconds() / 86400


def recorded(folder: pathlib.Path, source: str, now: dt.datetime) -> tuple[str, str]:
    """(status, detail) for `dr:<N>d` and `evidence:<task>:<N>d` sources."""
    if source.startswith("dr:"):
        days, pattern, what = int(source[3:-1]), "dr-drill-*.json", "DR drill"
    else:
        _, task, days = source.split(":")
        days, pattern, what = int(days[:-1]), f"{task.replace('.', '-')}-*.json", f"{task} evidence"
    path = latest(folder, pattern)
    if path is None:
        return FAIL, f"no {what} record in {folder.name}/"
    data = json.loads(path.read_text())
    if source.startswith("evidence:"):
        report = (data.get("extra") or {}).get("report") or {}
        status = report.get("status") or (PASS if data.get("outcome") == "ok" else FAIL)
        if data.get("outcome") != "ok" and status == PASS:
            status = FAIL
        when = data.get("started_at", "")
    else:
        status, when = data.get("status", FAIL), data.get("generated_at", "")
    age = age_days(when, now) if when else float("inf")
    if age > days:
        return FAIL, f"{path.name}: {age:.1f} days old (limit {days})"
    return status, f"{path.name}: {status}, {age:.1f} days old"


def verdict(rows: list[tuple[Item, str]]) -> str:
    if any(item.blocks and status == FAIL for item, status in rows):
        return "NO-GO"
    if any(status in (WARN, FAIL) for _, status in rows):
        return "GO with warnings"
    return "GO"


__all__ = ["Item", "parse", "recorded", "verdict", "SKIP"]
