"""`inv reset` against a real kube-apiserver + etcd + kube-controller-manager, with the real
kubectl 1.36 (tasks/core/clients.py) for every kubectl call."""

from __future__ import annotations

import json
import pathlib
import re
import sys
import uuid

import pytest
from invoke import Exit

from tasks.core.config import REPO_ROOT
from tasks.core.runner import RecordingRunner
from tasks.reset import run_reset
from tests.ops.conftest import RoutingRunner, make_console, make_context, output

pytestmark = [pytest.mark.kube, pytest.mark.usefixtures("real_kubectl")]
RELEASE_LABEL = "soma.sh/release=sharedinfra"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def owned(cluster, ns: str, label: str | None = RELEASE_LABEL) -> str:
    """A namespace as kind.deploy leaves it: labelled with the release that owns it."""
    cluster.kubectl("create", "namespace", ns)
    if label:
        cluster.kubectl("label", "namespace", ns, label)
    return ns


def namespaces(cluster) -> set[str]:
    return {line.split("/", 1)[1] for line in cluster.kubectl("get", "ns", "-o", "name").split()}


def hold_with_finalizer(cluster, ns: str, name: str = "held") -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "finalizers": ["soma.test/hold"]},
        "data": {"k": "v"}}))


def reset(cluster, ns, **kwargs):
    """run_reset as a script runs it: --context names the test cluster, --yes."""
    kwargs.setdefault("console", make_console())
    kwargs.setdefault("context", "soma-test")
    kwargs.setdefault("yes", True)
    return run_reset(kwargs.pop("ctx", None) or make_context(), namespace=ns,
                     kubeconfig=cluster.kubeconfig, **kwargs)


def test_reset_deletes_namespace_and_second_run_is_all_set(kube_cluster):
    ns = unique("reset-a")
    owned(kube_cluster, ns)
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
    owned(kube_cluster, ns)
    console = make_console()

    result = reset(kube_cluster, ns, ctx=make_context(dry=True), console=console)

    assert result.outcome == "planned"
    assert [s.state for s in result.steps] == ["ok", "change", "change", "change"]
    text = output(console)
    # the plan shows the kubeconfig as $KUBECONFIG: no machine path in a plan or its evidence
    assert f"kubectl --kubeconfig $KUBECONFIG --context soma-test delete namespace {ns} --wait=false" in text
    assert kube_cluster.kubeconfig not in text
    assert "dry run: nothing was changed" in text
    # which cluster, which namespace, which release, how many claims
    assert f"inv reset (context soma-test, namespace {ns}, release sharedinfra, 0 PVC(s))" in text
    assert f"PVCs deleted with namespace {ns}: none" in text
    assert ns in namespaces(kube_cluster)
    assert "deletionTimestamp" not in kube_cluster.get_json("namespace", ns)["metadata"]


def test_stuck_namespace_names_blockers_and_needs_force_finalize(kube_cluster):
    ns = unique("reset-stuck")
    owned(kube_cluster, ns)
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
    owned(kube_cluster, ns)
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
    owned(kube_cluster, ns)
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
         "--kubeconfig", kube_cluster.kubeconfig, "--kube-context", "soma-test"],
    ]
    assert ns not in namespaces(kube_cluster)


def test_evidence_records_inputs_config_steps_and_outcome(kube_cluster, tmp_path):
    ns = unique("reset-ev")
    owned(kube_cluster, ns)
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
    owned(kube_cluster, ns)
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


def test_the_inv_command_line_end_to_end(kube_cluster, real_kubectl, tmp_path):
    import sh

    from tasks.core.config import REPO_ROOT

    ns = unique("reset-cli")
    owned(kube_cluster, ns)
    hold_with_finalizer(kube_cluster, ns)
    inv = sh.Command(str(pathlib.Path(sys.executable).parent / "inv"))
    path = f"{pathlib.Path(real_kubectl).parent}:/usr/bin:/bin"

    def run(*args):
        # -n as kubectl spells it; no terminal here, so --yes is what a script passes
        done = inv("reset", "-n", ns, f"--kubeconfig={kube_cluster.kubeconfig}", *args,
                   _cwd=str(REPO_ROOT), _ok_code=list(range(256)), _return_cmd=True, _tty_out=False,
                   # HOME keeps kubectl's discovery cache out of the repository
                   _env={"PATH": path, "COLUMNS": "200", "HOME": str(tmp_path)})
        return done.exit_code, done.stdout.decode(), done.stderr.decode()

    code, out, err = run("--timeout=3s")
    assert code == 2 and "pass --context soma-test" in err  # not kind-soma: refused
    code, out, err = run("--context=soma-test", "--timeout=3s")
    assert code == 1 and "pass --yes" in err  # no terminal to confirm on
    assert kube_cluster.get_json("namespace", ns)["metadata"].get("deletionTimestamp") is None
    code, out, err = run("--context=soma-test", "--yes", "--timeout=3s")
    assert code == 1
    assert "soma.test/hold" in out and "--force-finalize" in err
    code, out, err = run("--context=soma-test", "--yes", "--timeout=1s", "--force-finalize")
    assert code == 0, err
    assert ns not in namespaces(kube_cluster)
    code, out, _ = run("--context=soma-test", "--yes", "--timeout=1m")
    assert code == 0 and "all set" in out
    code, _, err = run("--context=soma-test", "--yes", "--timeout=soon")
    assert code == 2 and "--timeout 'soon' is not a duration" in err


# --- guards ------------------------------------------------------------------------------

def renamed_context(cluster, tmp_path, name: str) -> str:
    """A copy of the test kubeconfig whose current context is called `name`."""
    config = json.loads(pathlib.Path(cluster.kubeconfig).read_text())
    config["contexts"][0]["name"] = config["current-context"] = name
    path = tmp_path / f"kubeconfig-{name}"
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return str(path)


def test_without_context_it_refuses_a_cluster_that_is_not_kind_soma(kube_cluster):
    ns = owned(kube_cluster, unique("reset-ctx"))
    for ctx in (make_context(), make_context(dry=True)):
        with pytest.raises(Exit) as stopped:
            reset(kube_cluster, ns, context=None, ctx=ctx)
        assert stopped.value.code == 2
        assert "the context in use is 'soma-test', not 'kind-soma'" in str(stopped.value.message)
        assert "pass --context soma-test" in str(stopped.value.message)
    assert ns in namespaces(kube_cluster)


def test_a_context_set_in_config_is_not_a_flag(kube_cluster):
    """soma.context (config or SOMA_CONTEXT) picks the context, but only --context lets a
    reset act on a cluster other than kind-<cluster>."""
    ns = owned(kube_cluster, unique("reset-cfgctx"))
    with pytest.raises(Exit) as stopped:
        reset(kube_cluster, ns, context=None, ctx=make_context(soma={"context": "soma-test"}))
    assert stopped.value.code == 2 and "--context soma-test" in str(stopped.value.message)
    assert ns in namespaces(kube_cluster)


def test_the_kind_context_needs_no_flag(kube_cluster, tmp_path):
    ns = owned(kube_cluster, unique("reset-kind"))
    kubeconfig = renamed_context(kube_cluster, tmp_path, "kind-soma")

    result = run_reset(make_context(), namespace=ns, kubeconfig=kubeconfig, yes=True, timeout=90,
                       console=make_console())

    assert result.outcome == "done"
    assert ns not in namespaces(kube_cluster)


@pytest.mark.parametrize("system", ["kube-system", "default", "kube-public"])
def test_system_namespaces_are_refused(kube_cluster, system):
    with pytest.raises(Exit) as stopped:
        reset(kube_cluster, system)
    assert stopped.value.code == 2
    assert f"namespace {system} is a Kubernetes system namespace" in str(stopped.value.message)
    assert f"--force-namespace={system}" in str(stopped.value.message)
    assert kube_cluster.get_json("namespace", system)["metadata"].get("deletionTimestamp") is None


@pytest.mark.parametrize("label", [None, "soma.sh/release=otherrelease"])
def test_a_namespace_the_release_does_not_own_is_refused_unless_forced_by_name(kube_cluster, label):
    ns = owned(kube_cluster, unique("reset-foreign"), label=label)
    kube_cluster.kubectl("create", "configmap", "theirs", "-n", ns, "--from-literal=a=b")

    with pytest.raises(Exit) as stopped:
        reset(kube_cluster, ns)
    assert stopped.value.code == 2
    assert f"namespace {ns} does not belong to release sharedinfra" in str(stopped.value.message)
    with pytest.raises(Exit):
        reset(kube_cluster, ns, force_namespace="some-other-name")  # forced by name, not by flag
    assert kube_cluster.kubectl("get", "configmap", "theirs", "-n", ns, "-o", "name").strip()

    forced = reset(kube_cluster, ns, force_namespace=ns, timeout=90)
    assert forced.outcome == "done"
    assert ns not in namespaces(kube_cluster)


def test_the_plan_lists_the_pvcs_it_deletes(kube_cluster):
    ns = owned(kube_cluster, unique("reset-pvc"))
    for name, size in (("data-postgres-0", "8Gi"), ("redis-data", "1Gi")):
        kube_cluster.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
                     "resources": {"requests": {"storage": size}}}}))
    console = make_console()

    result = reset(kube_cluster, ns, ctx=make_context(dry=True), console=console)

    text = output(console)
    assert f"inv reset (context soma-test, namespace {ns}, release sharedinfra, 2 PVC(s))" in text
    assert "data-postgres-0" in text and "8Gi" in text and "redis-data" in text and "standard" in text
    assert result.outcome == "planned"
    assert len(kube_cluster.get_json("pvc", "-n", ns)["items"]) == 2


def test_on_a_terminal_the_operator_types_the_namespace(kube_cluster):
    ns = owned(kube_cluster, unique("reset-ask"))
    prompts = []

    def answer(reply):
        return lambda prompt: prompts.append(prompt) or reply

    with pytest.raises(Exit) as stopped:
        reset(kube_cluster, ns, yes=False, interactive=True, ask=answer("y"))
    assert stopped.value.code == 1 and "not confirmed; nothing was changed" in str(stopped.value.message)
    assert f"delete namespace {ns} in context soma-test with 0 PVC(s)" in prompts[0]
    assert kube_cluster.get_json("namespace", ns)["metadata"].get("deletionTimestamp") is None

    with pytest.raises(Exit) as stopped:
        reset(kube_cluster, ns, yes=False, interactive=False)
    assert "pass --yes" in str(stopped.value.message)
    assert ns in namespaces(kube_cluster)

    done = reset(kube_cluster, ns, yes=False, interactive=True, ask=answer(ns), timeout=90)
    assert done.outcome == "done" and ns not in namespaces(kube_cluster)
    # nothing left to delete: all set, and nobody is asked
    again = reset(kube_cluster, ns, yes=False, interactive=False)
    assert again.outcome == "all-set"


def test_evidence_holds_no_absolute_paths(kube_cluster, tmp_path):
    ns = owned(kube_cluster, unique("reset-paths"))
    ctx = make_context(soma={"evidence_dir": str(tmp_path), "sprint": 3})

    reset(kube_cluster, ns, ctx=ctx, timeout=90, evidence=True)

    for path in (tmp_path / "sprint-3").iterdir():
        text = path.read_text()
        assert kube_cluster.kubeconfig not in text, path.name
        assert kube_cluster.root not in text and str(REPO_ROOT) not in text, path.name
        assert str(tmp_path) not in text, path.name  # the evidence folder itself
        assert not re.search(r'"/(tmp|root|home|work)/', text), path.name
        assert "$KUBECONFIG" in text or path.suffix == ".txt"


def test_reset_leaves_the_cluster_wide_operator_release_unless_asked(kube_cluster, cnpg_operator):
    """The CloudNativePG operator serves every namespace: reset says it leaves it; only
    --operator adds `helm uninstall` of it (helm recorded: the real release stays, and so do
    the CRDs other tests use)."""
    ns = owned(kube_cluster, unique("reset-op"))
    console = make_console()
    left = reset(kube_cluster, ns, timeout=90, console=console)
    assert "uninstall operator release cnpg" not in [s.name for s in left.steps]
    assert ("operator release cnpg in cnpg-system is left: it is cluster-wide (--operator removes it, "
            "its CRDs and every Cluster with them)") in " ".join(output(console).split())

    ns = owned(kube_cluster, unique("reset-op"))
    recorder = RecordingRunner(tools=("helm",), replies={
        ("helm", "version"): ("v4.2.3", "", 0),
        ("helm", "uninstall"): ('release "cnpg" uninstalled\n', "", 0)})
    removed = reset(kube_cluster, ns, timeout=90, operator=True, runner=RoutingRunner(recorder))
    assert removed.steps[-1].name == "uninstall operator release cnpg" and removed.steps[-1].state == "done"
    assert [c for c in recorder.calls if c[:2] == ["helm", "uninstall"]] == [
        ["helm", "uninstall", "cnpg", "-n", "cnpg-system", "--ignore-not-found", "--timeout", "300s",
         "--kubeconfig", kube_cluster.kubeconfig, "--kube-context", "soma-test"]]
    assert ns not in namespaces(kube_cluster)
