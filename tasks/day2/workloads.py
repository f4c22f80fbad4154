"""Workloads (StatefulSets, Deployments, DaemonSets, Strimzi's StrimziPodSets): ready or not, and why not.

    rows = workload_status(view, kubectl, "soma-infra")
    # [{"kind": "StatefulSet", "name": "pg", "desired": 2, "ready": 1, "reason": "pg-1: phase Pending; ..."}]

The reason comes from the core readiness gate's own diagnosis of each pod the workload
selects (phase, scheduling, container waiting/terminated reasons, latest events).
"""

from __future__ import annotations

from tasks.core.readiness import readiness
from tasks.day2.cluster import WORKLOADS, ClusterView


def desired_ready(obj: dict) -> tuple[int, int, bool]:
    """(desired, ready, rolled out) as the workload's own status says."""
    kind, spec, status = obj.get("kind"), obj.get("spec") or {}, obj.get("status") or {}
    if kind == "DaemonSet":
        desired, ready = status.get("desiredNumberScheduled", 0), status.get("numberReady", 0)
        updated = status.get("updatedNumberScheduled", 0)
    elif kind == "StrimziPodSet":  # the Kafka pods: the set lists each pod it must keep
        desired, ready = len(spec.get("pods") or []), status.get("readyPods", 0)
        updated = status.get("currentPods", 0)
    else:
        desired = spec.get("replicas", 1)
        ready, updated = status.get("readyReplicas", 0), status.get("updatedReplicas", 0)
    generation = (obj.get("metadata") or {}).get("generation", 0)
    observed = status.get("observedGeneration", 0) >= generation
    return desired, ready, observed and updated >= desired and ready >= desired


def selects(selector: dict, labels: dict) -> bool:
    match = (selector or {}).get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in match.items()):
        return False
    for expr in (selector or {}).get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values or op == "NotIn" and labels.get(key) in values \
                or op == "Exists" and key not in labels or op == "DoesNotExist" and key in labels:
            return False
    return bool(match or (selector or {}).get("matchExpressions"))


def workload_status(view: ClusterView, kubectl, namespace: str) -> list[dict]:
    rows, why = [], None
    pods = view.items("pods", namespace) or []
    for resource in WORKLOADS:
        for obj in view.items(resource, namespace) or []:
            desired, ready, done = desired_ready(obj)
            row = {"kind": obj.get("kind"), "namespace": namespace, "name": obj["metadata"]["name"],
                   "desired": desired, "ready": ready, "rolled_out": done, "reason": ""}
            if not done or ready < desired:
                if why is None:
                    why = readiness(kubectl, namespace)
                selector = (obj.get("spec") or {}).get("selector") or {}
                mine = [p["metadata"]["name"] for p in pods
                        if selects(selector, (p.get("metadata") or {}).get("labels") or {})]
                reasons = [f"{name}: {why[name]}" for name in mine if name in why]
                row["reason"] = "; ".join(reasons) or ("no pods created yet" if not mine else "rollout in progress")
            rows.append(row)
    return rows
