"""Chart.lock: the committed lock is what real helm computes, and `helm dependency build`
takes it, fetching every dependency from a loopback repository that answers for the real
repository URLs (tests/chart/chartrepo.py)."""

from __future__ import annotations

import shutil

import pytest
import sh
import yaml

from tasks.core import chart, chartlock
from tests.chart.chartrepo import ChartRepo


def repositories(chart_dir) -> dict[str, list[tuple[str, str]]]:
    repos: dict[str, list[tuple[str, str]]] = {}
    for dep in chartlock.requirements(chart_dir):
        repos.setdefault(dep["repository"], []).append((dep["name"], str(dep["version"])))
    return repos


@pytest.fixture()
def chart_copy(tmp_path):
    target = tmp_path / "soma-infra"
    shutil.copytree(chart.CHART_DIR, target, ignore=shutil.ignore_patterns("charts", "tmpcharts*"))
    return target


def helm(k8s_clients, *args, env, ok=(0,)):
    return sh.Command(k8s_clients["helm"])(*args, _env=env, _ok_code=list(ok), _return_cmd=True,
                                           _err_to_out=True, _tty_out=False)


def test_committed_lock_matches_chart_yaml():
    assert chartlock.lock_problem(chart.CHART_DIR) is None
    lock = yaml.safe_load((chart.CHART_DIR / "Chart.lock").read_text())
    pinned = {(d["name"], d["repository"], str(d["version"])) for d in chartlock.requirements(chart.CHART_DIR)}
    assert {(d["name"], d["repository"], d["version"]) for d in lock["dependencies"]} == pinned
    # Rendering again changes nothing (the stamp is kept while the digest holds).
    assert chartlock.render_lock(chart.CHART_DIR) == (chart.CHART_DIR / "Chart.lock").read_text()


def test_helm_dependency_build_takes_the_committed_lock(k8s_clients, chart_copy, tmp_path):
    with ChartRepo(tmp_path / "repo", repositories(chart_copy)) as repo:
        env = repo.helm_env()
        for i, url in enumerate(repositories(chart_copy)):
            helm(k8s_clients, "repo", "add", f"r{i}", url, env=env)
        out = helm(k8s_clients, "dependency", "build", str(chart_copy), env=env)

    vendored = sorted(p.name for p in (chart_copy / "charts").glob("*.tgz"))
    assert vendored == sorted(d.tarball for d in chartlock.locked(chart_copy)), str(out)
    for tgz in (chart_copy / "charts").glob("*.tgz"):
        assert tgz.read_bytes() == repo.tarballs[tgz.name[:-4]]  # the stand-in, byte for byte
    assert chartlock.to_fetch(chart_copy) == []
    # Fetched from the real URLs, answered by the loopback repository.
    for dep in chartlock.locked(chart_copy):
        host_path = dep.repository.split("://", 1)[1].rstrip("/")
        assert f"{host_path}/{dep.tarball}" in repo.requests
    # helm left the committed lock alone: it was in sync.
    assert (chart_copy / "Chart.lock").read_text() == (chart.CHART_DIR / "Chart.lock").read_text()


def test_helm_refuses_a_lock_out_of_sync_and_so_does_the_check(k8s_clients, chart_copy, tmp_path):
    text = (chart_copy / "Chart.yaml").read_text().replace("version: 4.39.0", "version: 4.38.0")
    (chart_copy / "Chart.yaml").write_text(text)
    assert "out of sync" in chartlock.lock_problem(chart_copy)
    with ChartRepo(tmp_path / "repo", repositories(chart_copy)) as repo:
        out = helm(k8s_clients, "dependency", "build", str(chart_copy), env=repo.helm_env(), ok=range(1, 256))
    assert "the lock file (Chart.lock) is out of sync with the dependencies file (Chart.yaml)" in str(out)
    assert not list(chart_copy.glob("charts/*.tgz"))  # refused before fetching anything


def test_digest_is_what_helm_dependency_update_writes(k8s_clients, chart_copy, tmp_path):
    """helm writes its own lock from the loopback repository; ours must agree byte for byte
    on the digest, and `inv chart.lock`'s file must carry the same entries."""
    (chart_copy / "Chart.lock").unlink()
    with ChartRepo(tmp_path / "repo", repositories(chart_copy)) as repo:
        helm(k8s_clients, "dependency", "update", str(chart_copy), env=repo.helm_env())
    written = yaml.safe_load((chart_copy / "Chart.lock").read_text())
    ours = yaml.safe_load(chartlock.render_lock(chart_copy))
    assert written["digest"] == ours["digest"] == chartlock.digest(
        chartlock.requirements(chart_copy), written["dependencies"])
    assert written["dependencies"] == ours["dependencies"]


def test_chart_lock_task_checks_and_rewrites(chart_copy, capsys):
    from invoke import Config, Context, Exit

    from tasks import chart as chart_tasks
    from tasks.core.config import REPO_ROOT

    config = Config(project_location=str(REPO_ROOT))
    config.load_project()
    ctx = Context(config)
    chart_tasks.lock_task(ctx, chart=str(chart_copy), check=True)
    text = (chart_copy / "Chart.yaml").read_text().replace("version: 2.9.0", "version: 2.8.0")
    (chart_copy / "Chart.yaml").write_text(text)
    before = (chart_copy / "Chart.lock").read_text()
    with pytest.raises(Exit, match="out of sync"):
        chart_tasks.lock_task(ctx, chart=str(chart_copy), check=True)
    assert (chart_copy / "Chart.lock").read_text() == before  # --check writes nothing
    chart_tasks.lock_task(ctx, chart=str(chart_copy))
    assert chartlock.lock_problem(chart_copy) is None
    lock = yaml.safe_load((chart_copy / "Chart.lock").read_text())
    assert {"name": "external-secrets", "repository": "https://charts.external-secrets.io",
            "version": "2.8.0"} in lock["dependencies"]
    assert "Chart.lock written" in capsys.readouterr().out


def test_a_chart_without_dependencies_needs_no_lock(tmp_path):
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: plain\nversion: 1.0.0\n")
    assert chartlock.lock_problem(tmp_path) is None and chartlock.to_fetch(tmp_path) == []
