"""`inv memory.deploy` and `inv kind.full --memory-ns`: kind and a waiting `helm install`
cannot run here, so their exact argv lists are asserted through a RecordingRunner; kubectl
goes to the real kube-apiserver and the docker SDK to the private dockerd."""

from __future__ import annotations

import json
import os

import pytest

from tasks.core.config import REPO_ROOT
from invoke.exceptions import Exit
from tasks.core.memory_deploy import CHART, run_deploy
from tasks.core.runner import RecordingRunner
from tasks.kind import run_kind
from tests.ops.conftest import RoutingRunner, make_console, make_context, output

pytestmark = [pytest.mark.kube, pytest.mark.docker]
TAG = "somastack/memory:0123456789ab"


def recorder() -> RecordingRunner:
    return RecordingRunner(tools=("helm", "kind"), replies={
        ("helm", "version"): ("v4.2.3", "", 0),
        ("kind", "version"): ("kind v0.27.0 go1.23.6 linux/amd64\n", "", 0),
        ("kind", "get", "clusters"): ("soma\n", "", 0),
        ("kind", "load", "docker-image"): ("", "", 0),
        ("helm", "upgrade", "--install"): ('Release "soma-memory" has been upgraded.\n', "", 0),
    })


def context(cluster, tmp_path, dry=False):
    ctx = make_context(dry=dry, soma={"kubeconfig": cluster.kubeconfig, "context": "soma-test"})
    ctx.config.soma["evidence_dir"] = str(tmp_path)
    return ctx


def onboard(cluster, ns: str, tokens: bool = True) -> None:
    """What `inv app.onboard` leaves behind (ConfigMap and the Secret the ExternalSecret makes)."""
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("create", "configmap", f"{ns}-settings", "-n", ns, "--from-literal=POSTGRES_HOST=pg")
    cluster.kubectl("create", "secret", "generic", f"{ns}-runtime", "-n", ns, "--from-literal=POSTGRES_PASSWORD=x")
    if tokens:
        cluster.kubectl("create", "secret", "generic", "soma-memory-tokens", "-n", ns, "--from-literal=tokens.json={}")


@pytest.fixture
def tagged(docker_daemon):
    """The image under the deploy's tag already in the engine, so the build step is not needed."""
    client = docker_daemon.client()
    client.images.get(docker_daemon.image).tag(*TAG.split(":"))
    yield client
    client.images.remove(TAG)
    client.close()


def test_deploy_runs_the_exact_commands_and_writes_sprint_3_evidence(kube_cluster, tagged, tmp_path):
    ns = f"memdeploy-{os.urandom(3).hex()}"
    onboard(kube_cluster, ns)
    rec = recorder()
    console = make_console()
    try:
        result = run_deploy(context(kube_cluster, tmp_path), ns, mode="staging", tag=TAG, evidence=True,
                            runner=RoutingRunner(rec), docker_client=tagged, console=console)
        k = ["--kubeconfig", kube_cluster.kubeconfig, "--kube-context", "soma-test"]
        chart = CHART.relative_to(REPO_ROOT)
        assert [c for c in rec.calls if c[:2] in (["kind", "load"], ["helm", "upgrade"])] == [
            ["kind", "load", "docker-image", TAG, "--name", "soma"],
            ["helm", "upgrade", "--install", "soma-memory", str(chart), "-n", ns,
             "-f", str(chart / "values.yaml"), "-f", str(chart / "values-staging.yaml"),
             "--wait=watcher", "--timeout", "600s", *k,
             "--set", "image.repository=somastack/memory", "--set", "image.tag=0123456789ab"],
        ]
        states = {s.name: s.state for s in result.steps}
        assert states == {"preflight": "done", f"build image {TAG}": "ok",
                          "load the memory image into the kind node": "done",
                          f"onboarding contract in {ns}": "done", "helm upgrade --install soma-memory": "done",
                          f"readiness gate {ns}": "ok"}
        record = json.loads(next((tmp_path / "sprint-3").glob("memory-deploy-*.json")).read_text())
        assert record["inputs"]["ns"] == ns and record["inputs"]["mode"] == "staging"
    finally:
        kube_cluster.kubectl("delete", "namespace", ns, "--wait=false")


def test_deploy_stops_before_helm_when_the_contract_is_missing(kube_cluster, tagged, tmp_path):
    ns = f"memdeploy-{os.urandom(3).hex()}"
    onboard(kube_cluster, ns, tokens=False)
    rec = recorder()
    try:
        with pytest.raises(Exit) as info:
            run_deploy(context(kube_cluster, tmp_path), ns, mode="dev", tag=TAG, runner=RoutingRunner(rec),
                       docker_client=tagged, console=make_console())
        message = str(info.value.message)
        assert "step 'onboarding contract in" in message and "missing secret soma-memory-tokens" in message
        assert f"inv app.onboard --ns {ns}" in message and info.value.code == 1
        assert not [c for c in rec.calls if c[:2] == ["helm", "upgrade"]]
    finally:
        kube_cluster.kubectl("delete", "namespace", ns, "--wait=false")


def test_kind_full_plans_the_memory_service_after_the_shared_infra(kube_cluster, docker_daemon, tmp_path):
    console = make_console()
    client = docker_daemon.client()
    result = run_kind(context(kube_cluster, tmp_path, dry=True), "full", mode="dev", memory_ns="sa01",
                      runner=RoutingRunner(recorder()),
                      docker_client=client, console=console)
    names = [s.name for s in result.steps]
    assert names.index("helm upgrade --install sharedinfra") < names.index("helm upgrade --install soma-memory")
    assert names[-1] == "readiness gate sa01"
    assert "dry run: nothing was changed" in output(console)
    client.close()
