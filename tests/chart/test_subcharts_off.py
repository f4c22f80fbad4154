"""Every dependency condition false: the chart's own templates still lint, render and
validate, and publish no service endpoint."""

from __future__ import annotations

import pytest

from tasks.core import chart
from tasks.core.config import MODES

from .conftest import by_kind

ALIASES = ["postgres", "redis", "kafka", "vault", "opa", "prometheus", "grafana", "external-secrets"]


def test_conditions_come_from_chart_yaml():
    assert chart.dependency_conditions() == [f"{a}.enabled" for a in ALIASES]
    assert chart.conditions_off() == {a: {"enabled": False} for a in ALIASES}


@pytest.mark.parametrize("mode", MODES)
def test_lint_render_and_validate_with_every_condition_false(mode, rendered):
    values = chart.check_values(mode, subcharts=False)
    assert not any(values[a]["enabled"] for a in ALIASES)
    report = chart.lint(mode, subcharts=False)
    assert all(m["severity"] < chart.LINT_WARNING for m in report.messages)
    off = chart.render(mode, subcharts=False)
    docs = off.documents()
    assert chart.validate_manifests(docs, chart.KUBE_VERSION) == len(docs)
    data = by_kind(off, "ConfigMap")["sharedinfra-endpoints"]["data"]
    assert data == {"SOMA_INFRA_MODE": mode, "SOMA_INFRA_NAMESPACE": "soma-infra", "SOMA_INFRA_SERVICES": ""}
    # The access policy does not depend on which services run.
    assert by_kind(off, "NetworkPolicy") == by_kind(rendered[mode], "NetworkPolicy")
    assert "Services enabled: none" in off.notes
