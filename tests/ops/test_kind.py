"""`inv kind.*`: kind and `helm install` cannot run here, so their exact argv lists are
asserted through a RecordingRunner; kubectl goes to the real kube-apiserver and the docker
SDK to the private dockerd."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import sys
import uuid

import pytest
import sh
import yaml
from invoke import Exit

from tasks.core.config import REPO_ROOT
from tasks.core.errors import OpsError
from tasks.core.images import Preloader
from tasks.core.runner import RecordingRunner
from tasks.core import chartlock
from tasks.kind import fetch_detail, repo_name, run_kind, run_status
from tests.ops.conftest import RoutingRunner, make_console, make_context, output

HELM_VERSION = ["helm", "version", "--template", "{{.Version}}"]
KIND_VERSION = ["kind", "version"]
GET_CLUSTERS = ["kind", "get", "clusters"]
REPO_LIST = ["helm", "repo", "list", "-o", "json"]


@pytest.fixture
def chart(tmp_path) -> pathlib.Path:
    """A minimal chart with a Chart.lock whose dependency tarball is not vendored yet."""
    root = tmp_path / "chart"
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v2", "name": "soma-infra", "version": "0.3.1",
        "dependencies": [{"name": "redis", "version": "23.1.1", "repository": "https://charts.example"}]}))
    chartlock.write_lock(root)  # in sync: what `inv chart.lock` writes
    (root / "values.yaml").write_text("redis:\n  enabled: true\n  replicas: 1\n")
    for mode in ("dev", "prod"):
        (root / f"values-{mode}.yaml").write_text(f"redis:\n  replicas: {3 if mode == 'prod' else 1}\n")
    (tmp_path / "kind.yaml").write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n")
    return root


def kind_context(chart: pathlib.Path, cluster, image: str, ns: str, dry: bool = False):
    return make_context(dry=dry, soma={
        "chart": str(chart), "kind_config": str(chart.parent / "kind.yaml"), "namespace": ns,
        "kubeconfig": cluster.kubeconfig, "context": "soma-test", "images": [image]})


@pytest.mark.kube
@pytest.mark.docker
def test_full_runs_the_exact_commands_in_order(kube_cluster, docker_daemon, cnpg_operator, chart, tmp_path):
    ns = f"kind-full-{uuid.uuid4().hex[:6]}"
    # An operator release of its own name, not installed yet: its steps run (helm recorded);
    # its CRDs are Established already (the cnpg_operator fixture), so the wait is all set.
    op_release, op_ns = f"cnpg-{uuid.uuid4().hex[:6]}", f"cnpg-{uuid.uuid4().hex[:6]}"
    # `helm status -o json` prints the whole release: values and rendered Secrets included.
    # Helm 4 adds info.resources: the live objects, Secret data included.
    status = {"name": "sharedinfra", "version": 1, "info": {"status": "deployed", "resources": {
                  "v1/Secret": [{"metadata": {"name": "sharedinfra-redis"}, "data": {"pw": "cmVzb3VyY2UtcHctNA=="}}]}},
              "chart": {"metadata": {"name": "soma-infra", "version": "0.3.1"}, "values": {"pw": "chart-pw-1"}},
              "config": {"redis": {"auth": {"password": "values-pw-2"}}},
              "manifest": "kind: Secret\ndata:\n  password: bWFuaWZlc3QtcHctMw==\n"}
    recorder = RecordingRunner(tools=("helm", "kind"), replies={
        ("helm", "version"): ("v3.16.4", "", 0),
        ("kind", "version"): ("kind v0.27.0 go1.23.6 linux/amd64\n", "", 0),
        ("kind", "get", "clusters"): [("soma\n", "", 0)] * 3 + [("", "No kind clusters found.\n", 0)],
        ("kind", "delete", "cluster"): ("", "Deleting cluster \"soma\" ...\n", 0),
        ("kind", "create", "cluster"): ("", "Creating cluster \"soma\" ...\n", 0),
        ("kind", "load", "docker-image"): ("", "", 0),
        # helm knows no repository yet; after the add it knows the one Chart.lock names.
        ("helm", "repo", "list"): [("", "Error: no repositories to show\n", 1)] * 3
        + [('[{"name": "soma-charts-example", "url": "https://charts.example"}]', "", 0)],
        ("helm", "repo", "add"): ('"soma-charts-example" has been added\n', "", 0),
        ("helm", "dependency", "build"): ("Saving 1 charts\n", "", 0),
        ("helm", "upgrade", "--install"): ('Release "sharedinfra" has been upgraded.\n', "", 0),
        ("helm", "status"): (json.dumps(status), "", 0),
    })
    runner = RoutingRunner(recorder)
    console = make_console()
    client = docker_daemon.client()
    ctx = kind_context(chart, kube_cluster, docker_daemon.image, ns)
    ctx.config.soma["evidence_dir"] = str(tmp_path)
    ctx.config.soma["postgres_operator"] = {**ctx.config.soma["postgres_operator"], "release": op_release,
                                            "namespace": op_ns}

    result = run_kind(ctx, "full", mode="dev", runner=runner, docker_client=client, console=console,
                      evidence=True)

    k = ["--kubeconfig", kube_cluster.kubeconfig, "--kube-context", "soma-test"]
    assert recorder.calls == [
        HELM_VERSION,                                   # flag names depend on the major version
        GET_CLUSTERS, GET_CLUSTERS,                     # the preview
        REPO_LIST,                                      # ... which asks helm for its repositories
        HELM_VERSION, KIND_VERSION,                     # preflight gates
        GET_CLUSTERS, ["kind", "delete", "cluster", "--name", "soma"],
        GET_CLUSTERS, ["kind", "create", "cluster", "--name", "soma", "--config",
                       str(chart.parent / "kind.yaml"), "--wait", "300s"],
        ["kind", "load", "docker-image", docker_daemon.image, "--name", "soma"],
        REPO_LIST, REPO_LIST,                           # asked again at its turn, then in the action
        ["helm", "repo", "add", "soma-charts-example", "https://charts.example", "--force-update"],
        # the operator's chart comes from its own repository, which helm does not know yet
        ["helm", "repo", "add", "soma-cloudnative-pg-github-io-charts", "https://cloudnative-pg.github.io/charts",
         "--force-update"],
        ["helm", "dependency", "build", str(chart)],
        # the operator release first: its chart renders the CRDs soma-infra's Cluster needs
        ["helm", "upgrade", "--install", op_release, "soma-cloudnative-pg-github-io-charts/cloudnative-pg",
         "-n", op_ns, "--version", "0.29.0", "--create-namespace",
         "-f", "infra/helm/operators/cloudnative-pg.yaml", "--wait", "--timeout", "300s", *k],
        ["helm", "upgrade", "--install", "sharedinfra", str(chart), "-n", ns,
         "-f", str(chart / "values.yaml"), "-f", str(chart / "values-dev.yaml"),
         "--wait", "--timeout", "300s", *k],
        ["helm", "status", "sharedinfra", "-n", ns, "-o", "json", *k],
    ]
    states = {s.name: s.state for s in result.steps}
    assert states == {
        "preflight": "done", "delete kind cluster soma": "done", "create kind cluster soma": "done",
        "pull 1 images (parallel 3)": "ok", "load images into the kind node": "done",
        "helm repo add": "done", "helm dependency build": "done",
        f"helm upgrade --install {op_release} (operator)": "done", "wait for cloudnative-pg CRDs": "ok",
        f"ensure namespace {ns}": "done",
        "helm upgrade --install sharedinfra": "done", "readiness gate": "ok",
    }
    assert kube_cluster.get_json("namespace", ns)["metadata"]["name"] == ns  # really created
    assert "helm status: sharedinfra revision 1 deployed" in output(console)
    record = next((tmp_path / "sprint-1").glob("kind-full-*.json")).read_text()
    assert json.loads(record)["extra"]["helm_status"] == {
        "name": "sharedinfra", "version": 1, "info": {"status": "deployed"},
        "resources": {"v1/Secret": ["sharedinfra-redis"]}, "chart": {"name": "soma-infra", "version": "0.3.1"}}
    evidence = record + next((tmp_path / "sprint-1").glob("kind-full-*.txt")).read_text()
    for secret in ("chart-pw-1", "values-pw-2", "bWFuaWZlc3QtcHctMw==", "cmVzb3VyY2UtcHctNA=="):
        assert secret not in evidence  # the evidence gets committed: no values, no manifest
    kube_cluster.kubectl("delete", "namespace", ns, "--wait=false")


@pytest.mark.kube
@pytest.mark.docker
def test_helm4_flag_names_and_prod_timeouts(kube_cluster, docker_daemon, cnpg_operator, chart):
    ns = f"kind-h4-{uuid.uuid4().hex[:6]}"
    recorder = RecordingRunner(tools=("helm",), replies={
        ("helm", "version"): ("v4.1.0", "", 0),
        ("helm", "repo", "list"): ('[{"name": "example", "url": "https://charts.example/"}]', "", 0),
        ("helm", "dependency", "build"): ("", "", 0),
        ("helm", "upgrade", "--install"): ("", "", 0),
        ("helm", "status"): ("{}", "", 0),
    })
    ctx = kind_context(chart, kube_cluster, docker_daemon.image, ns)

    run_kind(ctx, "deploy", mode="prod", runner=RoutingRunner(recorder), console=make_console())

    assert not any(c[:3] == ["helm", "repo", "add"] for c in recorder.calls)  # already known
    upgrade = next(c for c in recorder.calls if c[:2] == ["helm", "upgrade"])
    assert upgrade == ["helm", "upgrade", "--install", "sharedinfra", str(chart), "-n", ns,
                       "-f", str(chart / "values.yaml"), "-f", str(chart / "values-prod.yaml"),
                       "--wait=watcher", "--timeout", "900s", "--rollback-on-failure",
                       "--kubeconfig", kube_cluster.kubeconfig, "--kube-context", "soma-test"]
    kube_cluster.kubectl("delete", "namespace", ns, "--wait=false")


def test_full_dry_run_on_a_machine_without_kind_or_helm_exits_zero(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not any(os.path.exists(os.path.join(p, t)) for t in ("kind", "helm")))
    env["SOMA_EVIDENCE_DIR"] = str(tmp_path)
    done = sh.Command(str(pathlib.Path(sys.executable).parent / "inv"))(
        "kind.full", "--mode=dev", "--dry", "--evidence", _cwd=str(REPO_ROOT), _env={**env, "COLUMNS": "200"},
        _return_cmd=True, _ok_code=list(range(256)), _tty_out=False)
    text = done.stdout.decode()
    assert done.exit_code == 0, done.stderr.decode()
    assert "install kind" in text  # the reason a step could not be checked
    assert "dry run: nothing was changed" in text
    record = json.loads(next((tmp_path / "sprint-1").glob("kind-full-*.json")).read_text())
    steps = {s["name"]: s for s in record["plans"][0]["steps"]}
    assert list(steps) == [
        "preflight", "delete kind cluster soma", "create kind cluster soma", "pull 12 images (parallel 3)",
        "load images into the kind node", "helm repo add", "helm dependency build",
        "helm upgrade --install cnpg (operator)", "wait for cloudnative-pg CRDs", "ensure namespace soma-infra",
        "helm upgrade --install sharedinfra", "readiness gate"]
    # Repository-relative paths: the commands carry no machine paths (cwd is the root).
    assert steps["helm upgrade --install sharedinfra"]["detail"] == (
        "helm upgrade --install sharedinfra infra/helm/soma-infra -n soma-infra -f "
        "infra/helm/soma-infra/values.yaml -f infra/helm/soma-infra/values-dev.yaml --wait "
        "--timeout 300s --kube-context kind-soma")
    assert steps["create kind cluster soma"]["detail"] == (
        "kind create cluster --name soma --config infra/kind/soma-kind.yaml --wait 300s")
    assert steps["delete kind cluster soma"]["state"] == "change?"
    # The dry run says truthfully what must be fetched, and that preflight checks the lock.
    assert steps["helm dependency build"]["detail"].startswith(
        "helm dependency build infra/helm/soma-infra  (fetches redis-ha 4.39.0 from "
        "https://dandydeveloper.github.io/charts,")
    assert "postgresql-ha" not in json.dumps(record["plans"])
    # The operator release, then its CRDs, before soma-infra: said truthfully in the dry run.
    assert steps["helm upgrade --install cnpg (operator)"]["detail"] == (
        "helm upgrade --install cnpg soma-cloudnative-pg-github-io-charts/cloudnative-pg -n cnpg-system "
        "--version 0.29.0 --create-namespace -f infra/helm/operators/cloudnative-pg.yaml --wait --timeout 300s "
        "--kube-context kind-soma  (cloudnative-pg 0.29.0 from https://cloudnative-pg.github.io/charts)")
    assert steps["wait for cloudnative-pg CRDs"]["detail"] == (
        "kubectl --context kind-soma wait --for=condition=Established crd/clusters.postgresql.cnpg.io "
        "crd/poolers.postgresql.cnpg.io --timeout=120s")
    assert "operator pin" in steps["preflight"]["detail"]
    assert steps["helm dependency build"]["state"] == "change"
    assert "Chart.lock in sync" in steps["preflight"]["detail"]
    assert record["outcome"] == "ok" and record["plans"][0]["dry"] is True
    # No gate runs in a dry run, yet the record says what the machine has.
    assert record["tools"]["kind"] == record["tools"]["helm"] == "not installed"
    assert record["tools"]["kubectl"].startswith("1.")
    assert str(REPO_ROOT) not in json.dumps(record["plans"])


@pytest.mark.docker
def test_preload_skips_present_images_and_names_every_failed_pull(docker_daemon):
    with socket.socket() as s:  # a loopback port nobody listens on: pulls fail fast, offline
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    missing = [f"127.0.0.1:{closed}/soma/missing-{i}:1" for i in range(3)]
    pre = Preloader(docker_daemon.client(), cluster="soma", parallel=2)

    assert pre.missing_locally([docker_daemon.image, *missing]) == missing
    with pytest.raises(OpsError) as failed:
        pre.pull([docker_daemon.image, *missing])
    for image in missing:
        assert image in str(failed.value)
    assert [t.action for t in pre.pull([docker_daemon.image])] == ["present"]
    # No kind node container: every image still has to be loaded.
    assert pre.node_images() is None
    assert pre.missing_on_node([docker_daemon.image]) == [docker_daemon.image]


@pytest.mark.docker
def test_preload_task_loads_each_image_into_the_node_and_times_it(docker_daemon, tmp_path, chart):
    recorder = RecordingRunner(tools=("kind",), replies={
        ("kind", "version"): ("kind v0.24.0 go1.22.6 linux/amd64\n", "", 0),
        ("kind", "load"): ("", "", 0)})
    ctx = make_context(soma={"images": [docker_daemon.image], "evidence_dir": str(tmp_path),
                             "kind_config": str(chart.parent / "kind.yaml"), "chart": str(chart)})

    run_kind(ctx, "preload", runner=RoutingRunner(recorder), docker_client=docker_daemon.client(),
             console=make_console(), evidence=True)

    assert recorder.calls[-1] == ["kind", "load", "docker-image", docker_daemon.image, "--name", "soma"]
    record = json.loads(next((tmp_path / "sprint-1").glob("kind-preload-*.json")).read_text())
    steps = {s["name"]: s["state"] for s in record["plans"][0]["steps"]}
    assert steps["pull 1 images (parallel 3)"] == "ok"  # the engine has it: no pull at all
    assert "pulls" not in record["extra"]
    assert record["extra"]["loads"][0]["image"] == docker_daemon.image
    assert isinstance(record["extra"]["loads"][0]["seconds"], float)
    assert record["tools"]["kind"] == "0.24.0"


def test_too_old_kind_stops_at_preflight_before_any_change(chart, tmp_path):
    recorder = RecordingRunner(tools=("kind",), replies={
        ("kind", "version"): ("kind v0.22.0 go1.21 linux/amd64\n", "", 0),
        ("kind", "get", "clusters"): ("", "", 0)})
    ctx = make_context(soma={"kind_config": str(chart.parent / "kind.yaml"), "chart": str(chart)})

    class Pingable:
        def ping(self):
            return True

    from invoke import Exit
    with pytest.raises(Exit) as stopped:
        run_kind(ctx, "create", runner=RoutingRunner(recorder), docker_client=Pingable(), console=make_console())
    assert "install kind >= 0.24 (found 0.22.0)" in str(stopped.value.message)
    assert stopped.value.code == 127  # a missing or too-old tool, even inside a plan
    assert not any(call[:2] == ["kind", "create"] for call in recorder.calls)


def test_dependency_build_only_when_a_locked_tarball_is_missing(chart):
    assert [d.tarball for d in chartlock.to_fetch(chart)] == ["redis-23.1.1.tgz"]
    assert fetch_detail(chart) == "fetches redis 23.1.1 from https://charts.example"
    (chart / "charts").mkdir()
    (chart / "charts" / "redis-23.1.1.tgz").write_bytes(b"\x1f\x8b")
    assert chartlock.to_fetch(chart) == []
    assert fetch_detail(chart) == "nothing to fetch: every locked tarball is in charts/"
    assert repo_name("https://charts.bitnami.com/bitnami") == "soma-charts-bitnami-com-bitnami"


@pytest.mark.kube
@pytest.mark.parametrize("broken, message", [
    (lambda chart: (chart / "Chart.lock").unlink(), "no Chart.lock: run `inv chart.lock`"),
    (lambda chart: (chart / "Chart.yaml").write_text((chart / "Chart.yaml").read_text().replace("23.1.1", "23.1.3")),
     "Chart.lock is out of sync with Chart.yaml"),
])
def test_full_with_a_bad_lock_stops_at_preflight_before_any_change(kube_cluster, chart, broken, message):
    broken(chart)
    ns = f"kind-lock-{uuid.uuid4().hex[:6]}"
    recorder = RecordingRunner(tools=("helm", "kind"), replies={
        ("helm", "version"): ("v4.2.3", "", 0), ("kind", "version"): ("kind v0.27.0 go1.23.6 linux/amd64\n", "", 0),
        ("kind", "get", "clusters"): ("soma\n", "", 0), ("helm", "repo", "list"): ("[]", "", 0)})
    ctx = kind_context(chart, kube_cluster, "soma-test/busybox:1", ns)

    class Pingable:
        def ping(self):
            return True

    from invoke import Exit
    with pytest.raises(Exit) as stopped:
        run_kind(ctx, "full", runner=RoutingRunner(recorder), docker_client=Pingable(), console=make_console())

    assert "chart dependencies" in str(stopped.value.message) and message in str(stopped.value.message)
    # Nothing destructive ran: the existing cluster was neither deleted nor recreated.
    assert not any(call[:2] in (["kind", "delete"], ["kind", "create"], ["helm", "dependency"],
                                ["helm", "upgrade"]) for call in recorder.calls)


@pytest.fixture
def fresh_registry_images(docker_registry, docker_daemon):
    """The registry's images, absent from the engine so each test really pulls them."""
    client = docker_daemon.client()
    for ref in docker_registry.images:
        try:
            client.images.remove(ref)
        except Exception:  # not present: nothing to remove
            pass
    return list(docker_registry.images)


@pytest.mark.docker
def test_parallel_preload_pulls_from_a_local_registry(docker_daemon, fresh_registry_images):
    client = docker_daemon.client()
    pre = Preloader(client, cluster="soma", parallel=3)
    assert pre.missing_locally(fresh_registry_images) == fresh_registry_images

    timings = pre.pull(fresh_registry_images)

    assert [(t.image, t.action) for t in timings] == [(ref, "pulled") for ref in fresh_registry_images]
    assert all(t.seconds > 0 for t in timings)
    assert pre.missing_locally(fresh_registry_images) == []
    assert [t.action for t in pre.pull(fresh_registry_images)] == ["present"] * len(fresh_registry_images)


@pytest.mark.docker
def test_preload_task_records_each_pull_in_the_evidence(docker_daemon, fresh_registry_images, tmp_path, chart):
    recorder = RecordingRunner(tools=("kind",), replies={
        ("kind", "version"): ("kind v0.27.0 go1.23.6 linux/amd64\n", "", 0),
        ("kind", "load"): ("", "", 0)})
    ctx = make_context(soma={"images": fresh_registry_images, "evidence_dir": str(tmp_path),
                             "kind_config": str(chart.parent / "kind.yaml"), "chart": str(chart)})
    console = make_console()

    result = run_kind(ctx, "preload", runner=RoutingRunner(recorder), docker_client=docker_daemon.client(),
                      console=console, evidence=True)

    assert [s.state for s in result.steps] == ["done", "done", "done"]
    assert [c for c in recorder.calls if c[:2] == ["kind", "load"]] == [
        ["kind", "load", "docker-image", ref, "--name", "soma"] for ref in fresh_registry_images]
    record = json.loads(next((tmp_path / "sprint-1").glob("kind-preload-*.json")).read_text())
    assert sorted(p["image"] for p in record["extra"]["pulls"]) == sorted(fresh_registry_images)
    assert {p["action"] for p in record["extra"]["pulls"]} == {"pulled"}
    assert "3 pulled, 0 present" in output(console)


class NodeHolding(Preloader):
    """The kind node cannot run here; this seam stands in for its containerd image list."""

    def __init__(self, *args, held=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.held = set(held)

    def node_images(self):
        return self.held


@pytest.mark.docker
def test_images_the_node_already_holds_are_neither_pulled_nor_loaded(docker_daemon, fresh_registry_images):
    on_node, *others = fresh_registry_images
    pre = NodeHolding(docker_daemon.client(), cluster="soma", parallel=2, held={on_node})

    assert pre.missing_on_node(fresh_registry_images) == others
    assert pre.needs_pull(fresh_registry_images) == others
    timings = pre.pull(pre.missing_on_node(fresh_registry_images))

    assert [(t.image, t.action) for t in timings] == [(ref, "pulled") for ref in others]
    assert pre.missing_locally([on_node]) == [on_node]  # never pulled: the node had it


def test_set_flags_reach_the_argv_lists_of_the_plan():
    recorder = RecordingRunner(tools=("helm",), replies={("helm", "version"): ("v3.16.4", "", 0)})
    console = make_console()

    result = run_kind(make_context(dry=True), "deploy", runner=RoutingRunner(recorder), console=console,
                      sets=["timeouts.helm=450", "namespace=infra-z", "release=shared2"])

    detail = {s.name: s.detail for s in result.steps}["helm upgrade --install shared2"]
    assert detail.startswith("helm upgrade --install shared2 infra/helm/soma-infra -n infra-z ")
    assert "--wait --timeout 450s" in detail
    assert not any(call[:2] == ["helm", "upgrade"] for call in recorder.calls)  # dry: nothing ran


def test_delete_removes_only_an_existing_cluster(chart):
    recorder = RecordingRunner(tools=("kind",), replies={
        ("kind", "version"): ("kind v0.27.0 go1.23.6 linux/amd64\n", "", 0),
        ("kind", "get", "clusters"): [("soma\n", "", 0), ("soma\n", "", 0), ("", "No kind clusters found.\n", 0)],
        ("kind", "delete", "cluster"): ("", "Deleting cluster \"soma\" ...\n", 0)})
    ctx = make_context(soma={"kind_config": str(chart.parent / "kind.yaml"), "chart": str(chart)})

    first = run_kind(ctx, "delete", runner=RoutingRunner(recorder), console=make_console())
    second = run_kind(ctx, "delete", runner=RoutingRunner(recorder), console=make_console())

    assert [c for c in recorder.calls if c[:2] == ["kind", "delete"]] == [["kind", "delete", "cluster", "--name", "soma"]]
    assert {s.name: s.state for s in first.steps}["delete kind cluster soma"] == "done"
    # Absent: the step is ok and nothing else runs.
    assert {s.name: s.state for s in second.steps}["delete kind cluster soma"] == "ok"


@pytest.mark.kube
def test_status_reads_cluster_namespace_release_and_pods(kube_cluster, cnpg_operator, chart):
    ns = f"kind-st-{uuid.uuid4().hex[:6]}"
    status = {"name": "sharedinfra", "version": 3, "info": {"status": "deployed"},
              "chart": {"metadata": {"name": "soma-infra", "version": "0.2.0"}}}
    recorder = RecordingRunner(tools=("helm", "kind"), replies={
        ("helm", "version"): ("v4.2.3", "", 0),
        ("kind", "get", "clusters"): ("soma\n", "", 0),
        ("helm", "status"): (json.dumps(status), "", 0)})
    ctx = kind_context(chart, kube_cluster, "soma-test/busybox:1", ns)
    console = make_console()

    rows = run_status(ctx, runner=RoutingRunner(recorder), console=console)
    assert [r[:2] for r in rows] == [("kind cluster soma", "ok"), ("API server (soma-test)", "ok"),
                                     (f"namespace {ns}", "absent")]

    kube_cluster.kubectl("create", "namespace", ns)
    kube_cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sharedinfra-vault-0",
                                                         "labels": {"vault-initialized": "false"}},
        "spec": {"containers": [{"name": "vault", "image": "hashicorp/vault:2.0.4"}]}}))
    try:
        rows = {r[0]: r[1:] for r in run_status(ctx, runner=RoutingRunner(recorder), console=console)}
        assert rows["helm release sharedinfra"] == ("ok", "revision 3, chart soma-infra-0.2.0")
        # the operator release as the cnpg_operator fixture installed it (read from helm's storage)
        assert rows["operator release cnpg"] == ("ok", "cloudnative-pg 0.29.0 in cnpg-system")
        state, detail = rows["pods"]
        assert state == "not ready" and "sharedinfra-vault-0: Vault uninitialised" in detail
        assert "helm release sharedinfra" in output(console)
        # Read-only: nothing but get/status/version calls.
        assert {tuple(c[:2]) for c in recorder.calls} <= {("helm", "version"), ("kind", "get"), ("helm", "status")}
    finally:
        kube_cluster.kubectl("delete", "namespace", ns, "--wait=false")


def test_preflight_refuses_a_missing_operator_values_file_before_anything_is_installed(chart, tmp_path):
    """kind.deploy (and kind.full, whose preflight runs before the cluster is deleted) checks
    the operator's pin and values file first: no helm call changes anything."""
    recorder = RecordingRunner(tools=("helm",), replies={("helm", "version"): ("v4.2.3", "", 0),
                                                         ("helm", "repo", "list"): ("[]", "", 0)})
    ctx = make_context(soma={"chart": str(chart), "kind_config": str(chart.parent / "kind.yaml")})
    ctx.config.soma["postgres_operator"] = {**ctx.config.soma["postgres_operator"],
                                            "values": str(tmp_path / "absent.yaml")}
    with pytest.raises(Exit) as stopped:
        run_kind(ctx, "deploy", mode="dev", runner=RoutingRunner(recorder), console=make_console())
    message = str(stopped.value.message)
    assert "step 'preflight' failed: 1 check(s) failed: postgres operator" in message
    assert f"values file {tmp_path / 'absent.yaml'} not found" in message
    assert not [c for c in recorder.calls if c[:2] in (["helm", "upgrade"], ["helm", "repo"], ["helm", "dependency"])]
