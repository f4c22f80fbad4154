"""Helpers for the day-2 task tests: a real Invoke context, the real clients on PATH, staging.

Pods never run here (no scheduler, no kubelet), so their states are written through the
API's status subresource (`stage_pod`), as a kubelet would.
"""

from __future__ import annotations

import io
import json
import os
import uuid

import pytest
from invoke import Config, Context
from rich.console import Console

from tasks.core.config import REPO_ROOT


def make_context(soma: dict | None = None, day2: dict | None = None, dry: bool = False) -> Context:
    config = Config(project_location=str(REPO_ROOT), overrides={"run": {"dry": dry}})
    config.load_project()
    for key, value in (soma or {}).items():
        config.soma[key] = value
    for key, value in (day2 or {}).items():
        config.day2[key] = value
    return Context(config=config)


def make_console() -> Console:
    return Console(file=io.StringIO(), width=250, record=True, color_system=None)


def text(console: Console) -> str:
    return console.export_text(clear=False)


@pytest.fixture
def console():
    return make_console()


@pytest.fixture
def clients_on_path(k8s_clients, monkeypatch):
    """The real helm 4 and kubectl 1.36 first on PATH, where the tasks' runner looks."""
    folder = os.path.dirname(k8s_clients["kubectl"])
    monkeypatch.setenv("PATH", folder + os.pathsep + os.environ.get("PATH", ""))
    return k8s_clients


@pytest.fixture
def kube(kube_cluster, clients_on_path, tmp_path):
    """The cluster plus a Context whose evidence goes to tmp_path and whose kubeconfig is the cluster's."""
    return kube_cluster


def new_namespace(cluster, prefix: str, labels: dict | None = None) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))
    # The service account controller makes `default` a moment later; pods need it.
    return name


def apply(cluster, *objects: dict) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))


def pod(name: str, namespace: str, containers=("app",), env=None, labels=None, node: str | None = None) -> dict:
    """A pod; `node` binds it to a node name (no Node object is needed for that), as the
    scheduler would, so `kubectl logs` asks that node's kubelet (and fails: there is none)."""
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name}},
            "spec": {"automountServiceAccountToken": False,
                     "containers": [{"name": c, "image": "busybox:1", "env": env or []} for c in containers]}}
    if node:
        body["spec"]["nodeName"] = node
    return body


def stage_pod(cluster, namespace: str, name: str, status: dict) -> None:
    """Write a pod's status through the status subresource (what a kubelet would report)."""
    current = json.loads(cluster.kubectl("get", "pod", name, "-n", namespace, "-o", "json"))
    current["status"] = status
    cluster.kubectl("replace", "--raw", f"/api/v1/namespaces/{namespace}/pods/{name}/status", "-f", "-",
                    input=json.dumps(current))


def running(container="app", ready=True, restarts=0, last_state=None) -> dict:
    return {"phase": "Running",
            "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": str(ready)}],
            "containerStatuses": [{"name": container, "ready": ready, "restartCount": restarts, "image": "busybox:1",
                                   "imageID": "", "state": {"running": {"startedAt": "2026-11-29T10:00:00Z"}},
                                   "lastState": last_state or {}}]}


def crashloop(container="app") -> dict:
    return {"phase": "Running",
            "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}],
            "containerStatuses": [{"name": container, "ready": False, "restartCount": 7, "image": "busybox:1",
                                   "imageID": "", "state": {"waiting": {"reason": "CrashLoopBackOff",
                                                                        "message": "back-off 5m0s restarting"}},
                                   "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]}


def oomkilled(container="app") -> dict:
    return running(container, ready=False, restarts=2, last_state={
        "terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": "2026-11-29T10:00:00Z",
                       "startedAt": "2026-11-29T09:59:00Z"}})


def unschedulable() -> dict:
    return {"phase": "Pending", "conditions": [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient memory."}]}


def event(namespace: str, name: str, kind: str, obj: str, reason: str, message: str, etype="Warning") -> dict:
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{name}.{uuid.uuid4().hex[:8]}", "namespace": namespace},
            "involvedObject": {"kind": kind, "name": obj, "namespace": namespace},
            "reason": reason, "message": message, "type": etype,
            "firstTimestamp": "2026-11-29T10:00:00Z", "lastTimestamp": "2026-11-29T10:00:00Z", "count": 1,
            "source": {"component": "kubelet"}}


@pytest.fixture(scope="session")
def eso_installed(eso_crds):
    """The real External Secrets CRDs in the cluster (tests/fixtures/kube.py; no controller:
    conditions are written by the test through the status subresource)."""
    return eso_crds


def set_ready(cluster, resource: str, namespace: str | None, name: str, ready: bool, message: str = "") -> None:
    """Write a Ready condition through the status subresource of an ESO object."""
    ns_args = ["-n", namespace] if namespace else []
    current = json.loads(cluster.kubectl("get", resource, name, *ns_args, "-o", "json"))
    condition = {"type": "Ready", "status": str(ready),
                 "reason": "SecretSynced" if ready else "SecretSyncedError",
                 "lastTransitionTime": "2026-11-29T10:00:00Z"}
    if message:  # the 1.20 server reads an empty string as null, which the real schema refuses
        condition["message"] = message
    current["status"] = {"conditions": [condition]}
    group, version = current["apiVersion"].split("/")
    plural = resource.split(".")[0]
    path = (f"/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}/status" if namespace
            else f"/apis/{group}/{version}/{plural}/{name}/status")
    cluster.kubectl("replace", "--raw", path, "-f", "-", input=json.dumps(current))


# A small chart the tests install with the real helm: a Secret and a ConfigMap built from a
# password value, and a Deployment with no replicas (its rollout completes with no kubelet).
CHART = {
    "Chart.yaml": "apiVersion: v2\nname: tiny\nversion: 0.1.0\n",
    "values.yaml": "auth:\n  password: changeme\nreplicas: 0\ngreeting: hello\n",
    "templates/secret.yaml": (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-db\n"
        "stringData:\n  password: {{ .Values.auth.password | quote }}\n"),
    "templates/configmap.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cfg\ndata:\n"
        "  greeting: {{ .Values.greeting | quote }}\n"
        "  db-url: \"postgresql://app:{{ .Values.auth.password }}@db.example:5432/app\"\n"),
    "templates/deployment.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-web\n"
        "spec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels: {app: {{ .Release.Name }}-web}\n"
        "  template:\n    metadata:\n      labels: {app: {{ .Release.Name }}-web}\n    spec:\n"
        "      automountServiceAccountToken: false\n      containers:\n"
        "      - name: web\n        image: busybox:1\n        env:\n        - name: GREETING\n"
        "          value: {{ .Values.greeting | quote }}\n"),
}


def write_chart(folder, password: str = "changeme"):
    import pathlib
    folder = pathlib.Path(folder)
    for name, body in CHART.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body.replace("changeme", password) if name == "values.yaml" else body)
    return folder


def helm(k8s_clients: dict, kubeconfig: str, *args: str) -> str:
    import sh
    return str(sh.Command(k8s_clients["helm"])(*args, "--kubeconfig", kubeconfig, _tty_out=False, _timeout=120,
                                               _err_to_out=True))
