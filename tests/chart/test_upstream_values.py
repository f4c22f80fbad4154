"""Every key our values set under a subchart alias exists in that chart version's own
values.yaml (or its values.schema.json), and the result passes that schema.

The upstream files are read in place from ../shared/data/upstream/charts (SOMA_UPSTREAM_DIR
overrides); they are never copied into the repository. Without the folder these tests skip
and say which folder they looked for."""

from __future__ import annotations

import functools
import pathlib

import pytest

from tasks.core import chart, chartlock, upstream
from tasks.core.config import MODES
from tasks.core.values import merge_values


def _root():
    root = upstream.upstream_dir()
    if not (root / "charts").is_dir():
        pytest.skip(f"upstream chart values not found: {root / 'charts'} (set {upstream.ENV})")
    return root


@functools.cache
def _problems(mode: str, root: str) -> dict[str, list[str]]:
    return chart.subchart_value_problems(mode, root=pathlib.Path(root))[0]


DEPENDENCIES = chartlock.requirements(chart.CHART_DIR)


@pytest.mark.parametrize("dep", DEPENDENCIES, ids=[d.get("alias") or d["name"] for d in DEPENDENCIES])
@pytest.mark.parametrize("mode", MODES)
def test_every_key_under_an_alias_exists_upstream_and_passes_its_schema(mode, dep):
    root = _root()
    folder = upstream.chart_folder(dep["name"], str(dep["version"]), root)
    if folder is None:
        pytest.skip(f"no upstream values for {dep['name']} {dep['version']}: "
                    f"{root / 'charts' / (dep['name'] + '-' + str(dep['version']))} is absent")
    problems = _problems(mode, str(root))
    assert problems.get(dep.get("alias") or dep["name"], []) == []


def test_the_check_finds_a_misspelt_key_and_a_schema_violation(tmp_path):
    root = _root()
    folder = upstream.chart_folder("redis", "23.1.1", root)
    if folder is None:
        pytest.skip(f"no {root}/charts/redis-23.1.1")
    defaults, schema = upstream.load_defaults(folder)
    assert upstream.unknown_keys({"master": {"persistance": {"size": "1Gi"}}}, defaults, schema,
                                 upstream.commented_keys(folder)) == ["master.persistance.size"]
    assert upstream.unknown_keys({"master": {"persistence": {"size": "1Gi"}}, "replica": {"podLabels": {"team": "soma"}}},
                                 defaults, schema) == []
    violations = upstream.schema_violations(merge_values(defaults, {"architecture": 5}), schema)
    assert any(v.startswith("architecture:") for v in violations), violations


def test_commented_out_upstream_options_count_as_known(tmp_path):
    folder = tmp_path / "charts" / "demo-1.0.0"
    folder.mkdir(parents=True)
    (folder / "values.yaml").write_text("server:\n  persistence:\n    size: 1Gi\n    # storageClass: \"-\"\n")
    defaults, schema = upstream.load_defaults(folder)
    commented = upstream.commented_keys(folder)
    ours = {"server": {"persistence": {"storageClass": "fast", "sizee": "2Gi"}}, "fullnameOverride": "x"}
    assert upstream.unknown_keys(ours, defaults, schema, commented) == ["server.persistence.sizee"]
    assert upstream.chart_folder("demo", "1.0.0", tmp_path) == folder
    assert upstream.chart_folder("demo", "2.0.0", tmp_path) is None


def test_security_context_maps_take_kubernetes_fields_only(tmp_path):
    folder = tmp_path / "charts" / "demo-1.0.0"
    folder.mkdir(parents=True)
    (folder / "values.yaml").write_text("server:\n  securityContext:\n    runAsUser: 1000\n"
                                        "  statefulSet:\n    securityContext:\n      pod: {}\n      container:\n        runAsUser: 100\n")
    defaults, _ = upstream.load_defaults(folder)
    ours = {"server": {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "runAsNonRot": True}}}
    assert upstream.unknown_keys(ours, defaults) == ["server.securityContext.runAsNonRot"]
    vault_like = {"server": {"statefulSet": {"securityContext": {"container": {"privileged": False}}}}}
    assert upstream.unknown_keys(vault_like, defaults) == []
