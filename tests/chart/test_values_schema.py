"""values.schema.json: every overlay passes it, broken overlays are rejected by it, both by
jsonschema and by the Helm engine's own schema check."""

from __future__ import annotations

import copy

import helm_python as helm
import jsonschema
import pytest

from tasks.core import chart
from tasks.core.config import MODES
from tasks.core.errors import ChartError, ValuesError
from tasks.core.errors import ConfigError

from .conftest import write_yaml


def test_schema_is_valid_draft_07():
    schema = chart.load_schema()
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)


@pytest.mark.parametrize("mode", MODES)
def test_every_overlay_passes_the_schema(mode, merged):
    assert chart.schema_violations(merged[mode], chart.load_schema()) == []
    with helm.Chart.load(str(chart.CHART_DIR)) as loaded:
        loaded.validate_schema(chart.overlay_values(mode))  # raises on a violation


# (mode, extra values layered on the overlay, dotted path the violation must name, reason)
BROKEN = [
    ("prod-lite", {"kafka": {"nodePool": {"replicas": 2}}}, "kafka.nodePool.replicas", "must be odd"),
    ("dev", {"kafka": {"nodePool": {"replicas": 4}}}, "kafka.nodePool.replicas", "must be odd"),
    ("staging", {"kafka": {"nodePool": {"replicas": 1}}}, "kafka.nodePool.replicas", "at least 3"),
    ("prod", {"kafka": {"nodePool": {"storage": {"type": "ephemeral"}}}}, "kafka.nodePool.storage.type", "volumes"),
    ("dev", {"kafka": {"nodePool": {"storage": {"type": "persistent-claim", "size": None}}}},
     "kafka.nodePool.storage", "'size' is a required property"),
    ("dev", {"kafka": {"users": [{"name": "soma-admin", "password": "hunter2"}]}}, "kafka.users.0", "password"),
    ("dev", {"kafka": {"version": "3.7.0"}}, "kafka.version", "3.7.0"),
    ("prod", {"vault": {"server": {"ha": {"replicas": 4}}}}, "vault.server.ha.replicas", "must be odd"),
    ("dev", {"redis": {"redisPassword": "hunter2"}}, "redis", "never live in values"),
    ("dev", {"redis": {"sentinel": {"password": "hunter2"}}}, "redis.sentinel", "never live in values"),
    ("dev", {"grafana": {"adminPassword": "hunter2"}}, "grafana", "never live in values"),
    ("dev", {"redis": {"auth": True}}, "redis.existingSecret", "password comes from existingSecret"),
    ("staging", {"redis": {"replicas": 2}}, "redis.replicas", "Sentinels can replace a failed master"),
    ("prod", {"redis": {"auth": False}}, "redis.auth", "auth is on"),
    ("staging", {"vault": {"server": {"dev": {"enabled": True}}}}, "vault.server.dev.enabled", "no Vault dev server"),
    ("prod", {"vault": {"global": {"tlsDisable": True}}}, "vault.global.tlsDisable", "TLS"),
    ("prod", {"kafka": {"listeners": {"client": {"protocol": "PLAINTEXT"}}}},
     "kafka.listeners.client.protocol", "authenticate"),
    ("prod", {"postgres": {"instances": 2}}, "postgres.instances", "at least 3"),
    ("staging", {"postgres": {"instances": 2}}, "postgres.instances", "3 PostgreSQL instances"),
    ("prod-lite", {"postgres": {"instances": 1}}, "postgres.instances", "at least one standby"),
    ("prod", {"postgres": {"pooler": {"instances": 1}}}, "postgres.pooler.instances", "two PgBouncer pods"),
    ("staging", {"postgres": {"enablePDB": False}}, "postgres.enablePDB", "PodDisruptionBudgets are on"),
    ("prod", {"postgres": {"superuserSecret": ""}}, "postgres.superuserSecret", "pre-created Secret"),
    ("dev", {"postgres": {"superuserPassword": "hunter2"}}, "postgres", "never live in values"),
    ("dev", {"postgres": {"imageName": "docker.io/bitnamilegacy/postgresql-repmgr:16.6.0"}},
     "postgres.imageName", "PostgreSQL 17 image"),
    ("dev", {"postgres": {"pooler": {"poolMode": "statement"}}}, "postgres.pooler.poolMode", "statement"),
    ("prod-lite", {"networkPolicy": {"enabled": False}}, "networkPolicy.enabled", "stay on"),
    ("dev", {"kakfa": {"enabled": True}}, "(top level)", "kakfa"),
    ("dev", {"mode": "production"}, "mode", "'production'"),
    ("dev", {"networkPolicy": {"apiServer": {"cidrs": []}}}, "networkPolicy.apiServer.cidrs", "at least one CIDR"),
    ("dev", {"networkPolicy": {"allowedNamespaceLabels": {"bad key!": "true"}}},
     "networkPolicy.allowedNamespaceLabels", "bad key!"),
    # null deletes a key in Helm's coalescing: the label gate cannot be dropped that way.
    ("dev", {"networkPolicy": {"allowedNamespaceLabels": None}}, "networkPolicy",
     "'allowedNamespaceLabels' is a required property"),
    ("dev", {"redis": {"redis": {"port": 70000}}}, "redis.redis.port", "70000"),
    ("dev", {"postgres": {"fullnameOverride": "Shared_Postgres"}}, "postgres.fullnameOverride", "Cluster's name"),
    ("test", {"opa": {"enabled": "yes"}}, "opa.enabled", "'yes'"),
]


@pytest.mark.parametrize("mode,extra,path,reason", BROKEN, ids=[f"{b[0]}:{b[2]}:{b[3]}" for b in BROKEN])
def test_broken_overlay_is_rejected(tmp_path, mode, extra, path, reason):
    extra_file = write_yaml(tmp_path / "broken.yaml", extra)
    with pytest.raises(ValuesError) as caught:
        chart.check_values(mode, extra_files=[extra_file])
    hits = [v for v in caught.value.violations if v.startswith(f"{path}:")]
    assert hits, caught.value.violations
    assert any(reason in v for v in hits), hits
    # The Helm engine enforces the same schema at install time.
    with helm.Chart.load(str(chart.CHART_DIR)) as loaded:
        with pytest.raises(helm.HelmValuesError):
            loaded.validate_schema(chart.overlay_values(mode, extra_files=[extra_file]))


def test_render_refuses_values_that_break_the_schema(tmp_path):
    extra = write_yaml(tmp_path / "even.yaml", {"kafka": {"nodePool": {"replicas": 2}}})
    with pytest.raises(ValuesError, match="kafka.nodePool.replicas"):
        chart.render("prod-lite", extra_files=[extra])


def test_unknown_mode_and_unreadable_overlay_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown mode 'qa'; choose one of: dev, test, staging, prod-lite, prod"):
        chart.check_values("qa")
    bad = tmp_path / "bad.yaml"
    bad.write_text("kafka: [unclosed\n")
    with pytest.raises(ChartError, match="bad.yaml is not valid YAML"):
        chart.check_values("dev", extra_files=[bad])
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(ChartError, match="must hold a mapping"):
        chart.check_values("dev", extra_files=[scalar])
    with pytest.raises(ChartError, match="cannot read"):
        chart.check_values("dev", extra_files=[tmp_path / "absent.yaml"])


def test_chart_without_an_overlay_for_a_mode_is_reported(tmp_path):
    import shutil
    copy_dir = tmp_path / "soma-infra"
    shutil.copytree(chart.CHART_DIR, copy_dir)
    (copy_dir / "values-staging.yaml").unlink()
    with pytest.raises(ChartError, match="values-staging.yaml is missing"):
        chart.render("staging", chart_dir=copy_dir)


def test_schema_violations_lists_every_problem_not_just_the_first(merged):
    values = copy.deepcopy(merged["prod"])
    values["kafka"]["nodePool"]["replicas"] = 2
    values["redis"]["redisPassword"] = "x"
    violations = chart.schema_violations(values, chart.load_schema())
    assert any(v.startswith("kafka.nodePool.replicas:") for v in violations)
    assert any(v.startswith("redis:") for v in violations)
