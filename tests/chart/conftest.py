"""Shared, session-scoped renders of the soma-infra chart (the Helm engine runs in-process)."""

from __future__ import annotations

import pytest
import yaml

from tasks.core import chart
from tasks.core.config import MODES


@pytest.fixture(scope="session")
def rendered() -> dict[str, chart.Rendered]:
    """The chart's own manifests for every mode, rendered once per session."""
    return {mode: chart.render(mode) for mode in MODES}


@pytest.fixture(scope="session")
def merged() -> dict[str, dict]:
    """values.yaml coalesced with each overlay by the Helm engine."""
    return {mode: chart.merged_values(mode) for mode in MODES}


def by_kind(rendered_mode: chart.Rendered, kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in rendered_mode.documents() if d["kind"] == kind}


def write_yaml(path, data) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)
