"""The invoke tasks: `inv chart.lint|render|check|images` on a real Invoke Context."""

from __future__ import annotations

import pytest
import yaml
from invoke import Config, Context, Exit

from tasks import chart as chart_tasks
from tasks.core import chart
from tasks.core.config import MODES, REPO_ROOT
from tasks.core.errors import ConfigError


@pytest.fixture()
def ctx():
    # The project's invoke.yaml `soma` section, loaded the way `inv` loads it.
    config = Config(project_location=str(REPO_ROOT))
    config.load_project()
    return Context(config)


def test_render_to_a_directory_writes_one_file_per_template(ctx, tmp_path, capsys):
    out = tmp_path / "rendered"
    chart_tasks.render_task(ctx, mode="test", out=str(out))
    names = sorted(p.name for p in out.iterdir())
    # kafka-users.yaml renders nothing in test (PLAINTEXT listener), so no file is written.
    assert names == ["NOTES.txt", "configmap-endpoints.yaml", "kafka-cluster.yaml", "networkpolicy.yaml",
                     "postgres-cluster.yaml", "postgres-networkpolicy.yaml", "postgres-pooler.yaml"]
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / n) for n in names]
    docs = [d for d in yaml.safe_load_all((out / "networkpolicy.yaml").read_text()) if d]
    assert len(docs) == 4 and {d["metadata"]["labels"]["soma.sh/mode"] for d in docs} == {"test"}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_render_to_stdout_uses_the_configured_mode_release_and_namespace(ctx, capsys):
    chart_tasks.render_task(ctx, release="other", namespace="infra-x")
    docs = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    assert {d["metadata"]["namespace"] for d in docs} == {"infra-x"}
    assert {d["metadata"]["labels"]["soma.sh/mode"] for d in docs} == {ctx.config.soma.mode}
    assert {d["metadata"]["labels"]["app.kubernetes.io/instance"] for d in docs} == {"other"}


def test_bad_inputs_exit_with_one_clear_line(ctx, tmp_path):
    with pytest.raises(Exit) as caught:
        chart_tasks.render_task(ctx, mode="qa")
    assert caught.value.code == ConfigError.exit_code
    assert str(caught.value.message) == "chart: unknown mode 'qa'; choose one of: dev, test, staging, prod-lite, prod"
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    with pytest.raises(Exit, match="exists and is not a directory"):
        chart_tasks.render_task(ctx, mode="dev", out=str(blocker))
    assert blocker.read_text() == "keep me"
    with pytest.raises(Exit, match="no Chart.yaml"):
        chart_tasks.lint_task(ctx, chart=str(tmp_path))


def test_lint_and_check_cover_every_mode(ctx, capsys):
    chart_tasks.lint_task(ctx)
    chart_tasks.check(ctx)
    out = capsys.readouterr().out
    for mode in MODES:
        assert mode in out
    assert "dependency tarballs not vendored" in out and "valid" in out
    assert out.count("all off") == len(MODES)  # check also runs with every condition false


def test_images_match_the_preload_list(ctx, capsys):
    """What kind.preload loads (invoke.yaml soma.images) is every image any mode pins, and
    the CloudNativePG operator's (its own release, infra/helm/operators/cloudnative-pg.yaml)."""
    from tasks.core.config import soma_config
    from tasks.core.operator import Operator
    pinned = set()
    for mode in MODES:
        chart_tasks.images_task(ctx, mode=mode)
        printed = capsys.readouterr().out.split()
        assert len(printed) == len(set(printed))
        pinned |= set(printed)
    operator = Operator.from_config(soma_config(ctx, environ={})).image()
    assert operator == "ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0"
    assert sorted(pinned | {operator}) == sorted(ctx.config.soma.images)
    # redis-ha runs Sentinel from the Redis image; PostgreSQL + PgBouncer; Strimzi: operator + Kafka
    assert len(pinned) == 11


def test_images_of_a_mode_follow_its_enabled_services(merged):
    test_images = chart.images(merged["test"])
    assert not [i for i in test_images if "grafana" in i or "prometheus" in i]
    # Strimzi's operator (also the User Operator) and the Kafka image it runs for kafka.version.
    assert {"quay.io/strimzi/operator:1.2.0", "quay.io/strimzi/kafka:1.2.0-kafka-4.3.1"} <= set(test_images)
    assert not [i for i in chart.images(merged["prod"]) if "bitnamilegacy/kafka" in i]


def test_out_directory_that_cannot_be_created_is_a_clear_error(ctx, tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    (parent / "afile").write_text("x")
    with pytest.raises(Exit, match="cannot create --out"):
        chart_tasks.render_task(ctx, mode="dev", out=str(parent / "afile" / "sub"))
