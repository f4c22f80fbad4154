"""`inv reset` against a real kube-apiserver + etcd + kube-controller-manager."""

from __future__ import annotations

import json
import pathlib
import sys
import uuid

import pytest
from invoke import Exit

from tasks.core.runner import RecordingRunner
from tasks.reset import run_reset
from tests.ops.conftest import RoutingRunner, make_console, make_context, output

pytestmark = pytest.mark.kube


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def namespaces(cluster) -> set[str]:
    return {line.split("/", 1)[1] for line in cluster.kubectl("get", "ns", "-o", "name").split()}


def hold_with_finalizer(cluster, ns: str, name: str = "held") -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "finalizers": ["soma.test/hold"]},
        "data": {"k": "v"}}))


def reset(cluster, ns, **kwargs):
    kwargs.setdefault("console", make_console())
    return run_reset(kwargs.pop("ctx", None) or make_context(), namespace=ns,
                     kubeconfig=cluster.kubeconfig, **kwargs)


def test_reset_deletes_namespace_and_second_run_is_all_set(kube_cluster):
    ns = unique("reset-a")
    kube_cluster.kubectl("create", "namespace", ns)
    kube_cluster.kubectl("create", "configmap", "settings", "-n", ns, "--from-literal=a=b")

    first = reset(kube_cluster, ns, timeout=90)

    assert first.outcome == "done"
    assert [(s.name, s.state) for s in first.steps] == [
        ("uninstall helm release", "ok"),
        (f"delete namespace {ns}", "done"),
        (f"wait for namespace {ns} to go", "done"),
        (f"verify namespace {ns} is gone", "ok"),
    ]
    assert ns not in namespaces(kube_cluster)

    console = make_console()
    second = reset(kube_cluster, ns, timeout=90, console=console)
    assert second.outcome == "all-set"
    assert second.changed == []
    assert "all set" in output(console)


def test_dry_run_prints_the_plan_and_changes_nothing(kube_cluster):
    ns = unique("reset-dry")
    kube_cluster.kubectl("create", "namespace", ns)
    console = make_console()

    result = reset(kube_cluster, ns, ctx=make_context(dry=True), console=console)

    assert result.outcome == "planned"
    assert [s.state for s in result.steps] == ["ok", "change", "change", "change"]
    text = output(console)
    assert f"kubectl --kubeconfig {kube_cluster.kubeconfig} delete namespace {ns} --wait=false" in text
    assert "dry run: nothing was changed" in text
    assert f"inv reset (namespace {ns}, release sharedinfra, context soma-test)" in text  # which cluster
    assert ns in namespaces(kube_cluster)
    assert "deletionTimestamp" not in kube_cluster.get_json("namespace", ns)["metadata"]


def test_stuck_namespace_names_blockers_and_needs_force_finalize(kube_cluster):
    ns = unique("reset-stuck")
    kube_cluster.kubectl("create", "namespace", ns)
    hold_with_finalizer(kube_cluster, ns)
    console = make_console()

    with pytest.raises(Exit) as stopped:
        reset(kube_cluster, ns, timeout=4, console=console)

    assert stopped.value.code == 1
    message = str(stopped.value.message)
    assert f"namespace {ns} still Terminating" in message
    assert "ConfigMap/held finalizers: soma.test/hold" in message
    assert "--force-finalize" in message
    text = output(console)
    assert f"namespace {ns} is stuck in Terminating" in text
    assert "soma.test/hold" in text
    assert kube_cluster.get_json("namespace", ns)["metadata"].get("deletionTimestamp")

    console = make_console()
    forced = reset(kube_cluster, ns, timeout=2, force_finalize=True, console=console)

    assert [(s.name, s.state) for s in forced.steps] == [
        ("uninstall helm release", "ok"),
        (f"delete namespace {ns}", "ok"),  # already Terminating: not deleted twice
        (f"wait for namespace {ns} to go", "done"),
        (f"force-finalize namespace {ns}", "done"),
        (f"verify namespace {ns} is gone", "ok"),
    ]
    assert ns not in namespaces(kube_cluster)
    assert "namespace finalizers cleared" in output(console)


def test_force_finalize_clears_the_kubernetes_finalizer_when_no_controller_runs(kube_cluster):
    ns = unique("reset-nokcm")
    kube_cluster.kubectl("create", "namespace", ns)
    kube_cluster.kubectl("create", "configmap", "plain", "-n", ns, "--from-literal=a=b")
    with kube_cluster.controllers_stopped():
        console = make_console()
        with pytest.raises(Exit):
            reset(kube_cluster, ns, timeout=3, console=console)
        assert "Namespace/" + ns in output(console)
        assert kube_cluster.get_json("namespace", ns)["spec"]["finalizers"] == ["kubernetes"]

        forced = reset(kube_cluster, ns, timeout=1, force_finalize=True)

        assert forced.outcome == "done"
        assert ns not in namespaces(kube_cluster)


def test_helm_release_is_uninstalled_with_the_exact_argv(kube_cluster):
    ns = unique("reset-helm")
    kube_cluster.kubectl("create", "namespace", ns)
    # Helm's own storage record (what `helm install` leaves), so the plan sees a release.
    kube_cluster.kubectl("create", "secret", "generic", "sh.helm.release.v1.sharedinfra.v1", "-n", ns,
                         "--type=helm.sh/release.v1", "--from-literal=release=e30=")
    kube_cluster.kubectl("label", "secret", "sh.helm.release.v1.sharedinfra.v1", "-n", ns,
                         "owner=helm", "name=sharedinfra", "status=deployed", "version=1")
    recorder = RecordingRunner(tools=("helm",), replies={
        ("helm", "version"): ("v3.15.2", "", 0),
        ("helm", "uninstall"): ('release "sharedinfra" uninstalled\n', "", 0),
    })
    runner = RoutingRunner(recorder)

    result = reset(kube_cluster, ns, timeout=90, runner=runner)

    assert result.steps[0].state == "done"
    assert recorder.calls == [
        ["helm", "version", "--template", "{{.Version}}"],
        ["helm", "version", "--template", "{{.Version}}"],
        ["helm", "uninstall", "sharedinfra", "-n", ns, "--ignore-not-found", "--timeout", "300s",
         "--kubeconfig", kube_cluster.kubeconfig],
    ]
    assert ns not in namespaces(kube_cluster)


def test_evidence_records_inputs_config_steps_and_outcome(kube_cluster, tmp_path):
    ns = unique("reset-ev")
    kube_cluster.kubectl("create", "namespace", ns)
    ctx = make_context(soma={"evidence_dir": str(tmp_path), "sprint": 7})

    reset(kube_cluster, ns, ctx=ctx, timeout=90, evidence=True)

    folder = tmp_path / "sprint-7"
    records = sorted(folder.glob("reset-*.json"))
    transcripts = sorted(folder.glob("reset-*.txt"))
    assert len(records) == 1 and len(transcripts) == 1
    record = json.loads(records[0].read_text())
    assert record["task"] == "reset"
    assert record["outcome"] == "ok"
    assert record["inputs"]["namespace"] == ns
    assert record["config"]["namespace"] == ns
    assert record["tools"]["kubectl"].startswith("1.")
    steps = record["plans"][0]["steps"]
    assert [s["state"] for s in steps] == ["ok", "done", "done", "ok"]
    assert all(isinstance(s["seconds"], float) for s in steps)
    assert f"delete namespace {ns}" in transcripts[0].read_text()


def test_failed_run_still_writes_evidence_with_the_failure(kube_cluster, tmp_path):
    ns = unique("reset-evfail")
    kube_cluster.kubectl("create", "namespace", ns)
    hold_with_finalizer(kube_cluster, ns)
    ctx = make_context(soma={"evidence_dir": str(tmp_path)})

    with pytest.raises(Exit):
        reset(kube_cluster, ns, ctx=ctx, timeout=2, evidence=True)

    record = json.loads(next((tmp_path / "sprint-1").glob("reset-*.json")).read_text())
    assert record["outcome"].startswith("failed:")
    assert record["plans"][0]["outcome"] == "failed"
    assert any("soma.test/hold" in line for line in record["extra"]["blockers"])
    reset(kube_cluster, ns, timeout=1, force_finalize=True)  # leave the cluster clean


def test_unknown_mode_is_one_clear_error(kube_cluster):
    with pytest.raises(Exit) as stopped:
        run_reset(make_context(), mode="qa", namespace="whatever", kubeconfig=kube_cluster.kubeconfig)
    assert stopped.value.code == 2
    assert "unknown mode 'qa'" in str(stopped.value.message)


def test_the_inv_command_line_end_to_end(kube_cluster, tmp_path):
    import sh

    from tasks.core.config import REPO_ROOT

    ns = unique("reset-cli")
    kube_cluster.kubectl("create", "namespace", ns)
    hold_with_finalizer(kube_cluster, ns)
    inv = sh.Command(str(pathlib.Path(sys.executable).parent / "inv"))

    def run(*args):
        done = inv("reset", f"--namespace={ns}", f"--kubeconfig={kube_cluster.kubeconfig}", *args,
                   _cwd=str(REPO_ROOT), _ok_code=list(range(256)), _return_cmd=True, _tty_out=False,
                   # HOME keeps kubectl's discovery cache out of the repository
                   _env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(tmp_path)})
        return done.exit_code, done.stdout.decode(), done.stderr.decode()

    code, out, err = run("--timeout=3")
    assert code == 1
    assert "soma.test/hold" in out and "--force-finalize" in err
    code, out, err = run("--timeout=1", "--force-finalize")
    assert code == 0, err
    assert ns not in namespaces(kube_cluster)
    code, out, _ = run("--timeout=1")
    assert code == 0 and "all set" in out
    code, _, err = run("--timeout=soon")
    assert code == 2 and "--timeout must be a whole number of seconds" in err
