"""The incident bundle's collectors: each fills a Bundle and may raise; Bundle.run records it.

    kube_objects(bundle, view, ns)       every workload kind, storage, policies, RBAC, External Secrets
    cluster_objects(bundle, view)        PVs, nodes (with their conditions), storage classes
    events(bundle, view, ns)             sorted by time, as JSON and as a readable table
    helm_release(bundle, helm, release, ns)   history, values (--all), manifest
    logs(bundle, kubectl, view, ns, since, limit)   every container, current and previous
    probes(bundle, facts)                the probe facts as files

A per-object failure (one container's logs) is recorded as an error of its collector and the
loop goes on; the run as a whole never stops half-way.
"""

from __future__ import annotations

import json

from tasks.core.helm import Helm
from tasks.core.kubectl import Kubectl
from tasks.day2.cluster import CLUSTER, NAMESPACED, ClusterView, event_time


def _short(resource: str) -> str:
    return resource.split(".")[0]


def _listings(bundle, view: ClusterView, collector: str, resources, namespace: str | None = None):
    """(resource, items) for each resource the cluster lists; a failure or an API the cluster
    lacks is recorded as the collector's error and the loop goes on."""
    where = f"{namespace}/" if namespace else ""
    for resource in resources:
        try:
            items = view.items(resource, namespace)
        except Exception as exc:
            bundle.error(collector, f"{where}{resource}: {exc}")
            continue
        if items is None:
            bundle.error(collector, f"{resource}: API not installed in this cluster")
            continue
        yield resource, items


def kube_objects(bundle, view: ClusterView, namespace: str) -> None:
    if view.namespace(namespace) is None:
        raise RuntimeError(f"namespace {namespace} does not exist")
    for resource, items in _listings(bundle, view, "kube-objects", NAMESPACED, namespace):
        if resource == "secrets":
            for secret in items:
                bundle.policy.learn_secret(secret)
        bundle.add_json(f"namespaces/{namespace}/{_short(resource)}.json", items, "kube-objects")


def cluster_objects(bundle, view: ClusterView) -> None:
    for resource, items in _listings(bundle, view, "cluster-objects", CLUSTER):
        bundle.add_json(f"cluster/{_short(resource)}.json", items, "cluster-objects")
        if resource == "nodes":
            conditions = {n["metadata"]["name"]: [{k: c.get(k) for k in ("type", "status", "reason", "message",
                                                                         "lastTransitionTime")}
                                                  for c in (n.get("status") or {}).get("conditions") or []]
                          for n in items}
            bundle.add_json("cluster/node-conditions.json", conditions, "node-conditions")
    bundle.add_json("cluster/version.json", view.k.version_json(), "cluster-objects")


def events(bundle, view: ClusterView, namespace: str) -> None:
    listed = view.events(namespace)
    bundle.add_json(f"namespaces/{namespace}/events.json", listed, "events")
    lines = [f"{event_time(e)}  {e.get('type', ''):8} {e.get('reason', ''):24} "
             f"{(e.get('involvedObject') or {}).get('kind', '')}/{(e.get('involvedObject') or {}).get('name', '')}"
             f"  {e.get('message', '')}" for e in listed]
    bundle.add_text(f"namespaces/{namespace}/events.txt", "\n".join(lines) + "\n", "events")


def helm_release(bundle, helm: Helm, release: str, namespace: str) -> None:
    run = helm.runner.run
    base = ["-n", namespace] + helm.global_flags()
    history = run([helm.binary, "history", release, "-o", "json", *base], check=False, timeout=60)
    if not history.ok:
        raise RuntimeError(f"helm history {release}: {history.stderr.strip() or history.stdout.strip()}")
    bundle.add_json(f"helm/{namespace}/{release}/history.json", json.loads(history.stdout or "[]"), "helm")
    values = run([helm.binary, "get", "values", release, "--all", "-o", "json", *base], timeout=60)
    parsed = json.loads(values.stdout or "{}")
    bundle.policy.scrub(parsed)  # learn the secret-named values before the manifest goes out
    bundle.add_json(f"helm/{namespace}/{release}/values.json", parsed, "helm")
    manifest = run([helm.binary, "get", "manifest", release, *base], timeout=60)
    bundle.add_text(f"helm/{namespace}/{release}/manifest.yaml", _scrub_manifest(bundle.policy, manifest.stdout), "helm")


def _scrub_manifest(policy, text: str) -> str:
    """The rendered YAML with the structural rules applied per document (Secret data)."""
    import yaml

    docs = []
    for doc in yaml.safe_load_all(text):
        if doc is None:
            continue
        if doc.get("kind") == "Secret":
            policy.learn_secret(doc)
        docs.append(policy.scrub(doc))
    return yaml.safe_dump_all(docs, sort_keys=False)


def logs(bundle, kubectl: Kubectl, view: ClusterView, namespace: str, since: str, limit_bytes: int) -> None:
    """`kubectl logs` for every container (init ones too), current and previous.

    Logs come from the kubelet of the pod's node. A pod no node took has none to ask (the API
    server answers an empty log, which would pass for "no output"), so that is recorded as an
    error per container without a call; a node or container that cannot answer is recorded
    with the server's own message, per container and per current/previous.
    """
    for pod in view.items("pods", namespace) or []:
        name = pod["metadata"]["name"]
        spec = pod.get("spec") or {}
        containers = [c["name"] for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]
        for container in containers:
            for previous in (False, True):
                label = f"{namespace}/{name}/{container}" + (" (previous)" if previous else "")
                if not spec.get("nodeName"):
                    bundle.error("logs", f"{label}: the pod is on no node, so no kubelet holds its logs")
                    continue
                args = ["logs", name, "-n", namespace, "-c", container, f"--since={since}",
                        f"--limit-bytes={limit_bytes}"] + (["--previous"] if previous else [])
                result = kubectl.run(*args, check=False)
                if not result.ok:
                    why = (result.stderr.strip().splitlines() or [f"exit {result.exit_code}"])[-1]
                    bundle.error("logs", f"{label}: {why}")
                    continue
                suffix = ".previous.log" if previous else ".log"
                bundle.add_text(f"logs/{namespace}/{name}/{container}{suffix}", result.stdout, "logs")


def probes(bundle, facts: dict) -> None:
    for name, got in (facts or {}).items():
        if got is None:
            continue
        bundle.add_json(f"probes/{name}.json", got, f"probe-{name}")
        if "error" in got:
            bundle.error(f"probe-{name}", got["error"])
