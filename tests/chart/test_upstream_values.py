"""Every key our values set under a subchart alias exists in that chart version's own
values.yaml (or its values.schema.json), and the result passes that schema.

The upstream files are read in place from ../shared/data/upstream/charts (SOMA_UPSTREAM_DIR
overrides); they are never copied into the repository. A pinned version without files there
is checked against the keys recorded as checked with its files (infra/helm/upstream-keys.json,
written by `inv chart.upstream-keys`). Tests of the checker itself that need the data
folder's redis 23.1.1 skip without it and name the folder."""

from __future__ import annotations

import functools

import pytest

from tasks.core import chart, chartlock, upstream
from tasks.core.config import MODES, soma_config
from tasks.core.operator import Operator
from tasks.core.values import merge_values, read_values_file
from tests.ops.conftest import make_context


def _root():
    root = upstream.upstream_dir()
    if not (root / "charts").is_dir():
        pytest.skip(f"upstream chart values not found: {root / 'charts'} (set {upstream.ENV})")
    return root


@functools.cache
def _checked(mode: str) -> tuple[dict[str, list[str]], list[str]]:
    return chart.subchart_value_problems(mode)


DEPENDENCIES = chartlock.requirements(chart.CHART_DIR)


@pytest.mark.parametrize("dep", DEPENDENCIES, ids=[d.get("alias") or d["name"] for d in DEPENDENCIES])
@pytest.mark.parametrize("mode", MODES)
def test_every_key_under_an_alias_was_checked_against_upstream(mode, dep):
    """With the pinned version's upstream files: every key exists there and the values pass
    its schema. Without them: every key is one recorded as checked against them
    (infra/helm/upstream-keys.json), so a new or misspelt key fails until it is checked."""
    problems, missing = _checked(mode)
    assert f"charts/{dep['name']}-{dep['version']}" not in missing, (
        f"neither upstream files nor the record cover {dep['name']} {dep['version']}")
    assert problems.get(dep.get("alias") or dep["name"], []) == []


def test_the_operator_release_values_were_checked_against_upstream():
    op = Operator.from_config(soma_config(make_context(), environ={}))
    found = chart.upstream_problems(op.chart, op.version, read_values_file(op.values))
    assert found == [], found


def test_the_record_was_made_from_the_files_it_names():
    """Where the upstream files of a recorded version are at hand, the record's sha256 are theirs."""
    root = upstream.upstream_dir()
    record = upstream.read_record()
    assert record, upstream.RECORD
    for key, entry in record.items():
        name, _, version = key.rpartition("-")
        folder = upstream.chart_folder(name, version, root)
        assert entry["keys"] and entry["source"].get("commit"), key
        if folder is not None:
            assert upstream.record_entry(folder, set(entry["keys"]))["sha256"] == entry["sha256"], key


def test_the_record_refuses_a_key_it_does_not_list(tmp_path):
    entry = {"keys": ["replicas", "image.tag"]}
    assert upstream.unverified_keys({"replicas": 3, "image": {"tag": "1"}, "enabled": True}, entry) == []
    assert upstream.unverified_keys({"replicas": 3, "image": {"tagg": "1"}}, entry) == ["image.tagg"]
    found = chart.upstream_problems("demo", "1.0.0", {"replicaz": 1}, tmp_path, {"demo-1.0.0": entry})
    assert found == [f"key replicaz was never checked against upstream demo 1.0.0 ({upstream.RECORD.name}: "
                     "run `inv chart.upstream-keys` with its files)"]
    assert chart.upstream_problems("demo", "2.0.0", {"replicas": 1}, tmp_path, {"demo-1.0.0": entry}) is None


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


def test_recording_refuses_without_the_upstream_files(tmp_path, monkeypatch):
    """`inv chart.upstream-keys` records nothing it could not check."""
    from invoke import Exit

    from tasks.chart import upstream_keys_task
    monkeypatch.setenv(upstream.ENV, str(tmp_path))
    before = upstream.RECORD.read_text()
    with pytest.raises(Exit) as refused:
        upstream_keys_task(make_context())
    assert "not recorded" in str(refused.value.message) and "redis-ha 4.39.0: no " in str(refused.value.message)
    assert upstream.RECORD.read_text() == before
