"""Our readiness gate, in place of `kubectl wait --for=condition=Ready pod --all`.

After the timeout it names every pod that is not ready and why: phase, scheduling
condition, container waiting/terminated reasons and the pod's latest events, and for Vault
pods whether Vault is sealed or uninitialised (from the labels Vault keeps on its pods).
CloudNativePG's `Cluster` and `Pooler` count too: the operator creates their pods only after
helm is done, so a namespace whose pods are all ready may still have no PostgreSQL at all. Helm's own
`--wait` says only "timed out waiting for the condition".

Kafka's pods are not the chart's: the Strimzi operator creates them after the install, so
right after `helm upgrade` there may be no Kafka pod to wait for. The gate therefore also
waits for each Strimzi `Kafka` and `KafkaUser` to report Ready, and names what its status
says otherwise (or that the operator has not reconciled it yet).
"""

from __future__ import annotations

import json
import time
from typing import Callable

from tasks.core.errors import NotConverged
from tasks.core.kubectl import Kubectl


def _pod_ready(pod: dict) -> bool:
    if (pod.get("status") or {}).get("phase") == "Succeeded":
        return True  # finished Job pods count as done
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


# Vault's `service_registration "kubernetes"` keeps these labels on every Vault pod current.
# A sealed or uninitialised Vault fails its readiness probe by design; naming the state says
# what an operator must do, where "not ready" alone sends them to the logs.
VAULT_INITIALIZED = "vault-initialized"
VAULT_SEALED = "vault-sealed"


def vault_state(pod: dict) -> str | None:
    """What a Vault pod's labels say about it, when it needs an operator; else None."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    name = (pod.get("metadata") or {}).get("name", "?")
    if labels.get(VAULT_INITIALIZED) == "false":
        return (f"Vault uninitialised: initialise it once (`vault operator init` in {name}), keep the "
                "unseal keys and root token out of logs, then unseal every replica")
    if labels.get(VAULT_SEALED) == "true":
        return f"Vault sealed: unseal {name} with the unseal keys (`vault operator unseal`)"
    return None


def _why(pod: dict, events: list[str]) -> str:
    status = pod.get("status") or {}
    parts = [f"phase {status.get('phase', '?')}"]
    vault = vault_state(pod)
    if vault:
        parts.insert(0, vault)
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") != "True":
            parts.append(f"unschedulable: {cond.get('message') or cond.get('reason') or '?'}")
    if not status.get("conditions"):
        parts.append("not scheduled (no node has taken it)")
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        state = cs.get("state") or {}
        for key in ("waiting", "terminated"):
            if key in state and state[key].get("reason"):
                detail = state[key].get("message", "")
                parts.append(f"{cs.get('name')} {key} {state[key]['reason']}" + (f": {detail}" if detail else ""))
    parts += [f"event {e}" for e in events[-3:]]
    return "; ".join(parts)


# Operator-owned kinds, by plural.group so kubectl never guesses between API groups.
# Strimzi's: the gate waits for their Ready condition (resource, kind shown).
STRIMZI_RESOURCES = (("kafkas.kafka.strimzi.io", "Kafka"), ("kafkausers.kafka.strimzi.io", "KafkaUser"))
CNPG_CLUSTERS = "clusters.postgresql.cnpg.io"
CNPG_POOLERS = "poolers.postgresql.cnpg.io"
CNPG_HEALTHY = "Cluster in healthy state"


def strimzi_state(obj: dict) -> str | None:
    """Why a Strimzi resource is not Ready, from its status conditions; None when Ready."""
    status = obj.get("status") or {}
    conditions = status.get("conditions") or []
    if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
        return None
    said = [" ".join(filter(None, (c.get("type"), None if c.get("status") == "True" else c.get("status"),
                                   c.get("reason")))) + (f": {c['message']}" if c.get("message") else "")
            for c in conditions if c.get("status") == "True" or c.get("type") == "Ready"]
    if said:
        return "; ".join(said)
    return "no status yet: the Strimzi operator has not reconciled it (is its pod running?)"


def _operator_items(kubectl: Kubectl, resource: str, namespace: str) -> list[dict]:
    """The objects of one operator kind; [] where the API server does not serve it (that
    service is off)."""
    result = kubectl.run("get", resource, "-o", "json", "-n", namespace, check=False)
    if not result.ok:
        if "the server doesn't have a resource type" in result.stderr:
            return []
        raise kubectl.runner.failure(result)
    return json.loads(result.stdout or "{}").get("items") or []


def cluster_problem(cluster: dict) -> str | None:
    """Why a CloudNativePG Cluster is not ready (its Ready condition, instances, phase), or None."""
    spec, status = cluster.get("spec") or {}, cluster.get("status") or {}
    want, ready = int(spec.get("instances") or 0), int(status.get("readyInstances") or 0)
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    if conditions.get("Ready", {}).get("status") == "True" and ready >= want:
        return None
    phase = status.get("phase") or "no status yet (is the CloudNativePG operator running?)"
    why = f"{ready}/{want} instances ready, phase {phase}"
    if status.get("phaseReason"):
        why += f": {status['phaseReason']}"
    if status.get("currentPrimary"):
        why += f", primary {status['currentPrimary']}"
    return why


def pooler_problem(pooler: dict) -> str | None:
    """Why a Pooler is not ready: the operator has not created its PgBouncer pods yet (the
    pods themselves are judged as pods)."""
    want = int((pooler.get("spec") or {}).get("instances") or 1)
    have = int((pooler.get("status") or {}).get("instances") or 0)
    if have >= want:
        return None
    return f"{have}/{want} PgBouncer instances created (is the CloudNativePG operator running?)"


def operator_readiness(kubectl: Kubectl, namespace: str) -> dict[str, str]:
    """'<Kind>/<name>' -> why an operator-owned object (Strimzi's Kafka and KafkaUser,
    CloudNativePG's Cluster and Pooler) is not ready."""
    judges = [(resource, kind, strimzi_state) for resource, kind in STRIMZI_RESOURCES]
    judges += [(CNPG_CLUSTERS, "Cluster", cluster_problem), (CNPG_POOLERS, "Pooler", pooler_problem)]
    out = {}
    for resource, kind, judge in judges:
        for obj in _operator_items(kubectl, resource, namespace):
            why = judge(obj)
            if why:
                out[f"{kind}/{obj['metadata']['name']}"] = why
    return out


def readiness(kubectl: Kubectl, namespace: str) -> dict[str, str]:
    """Pod name (or Kind/name of an operator-owned object) -> why it is not ready (empty when
    every pod, Kafka, KafkaUser, Cluster and Pooler is ready)."""
    pods = (kubectl.get_json("pods", namespace=namespace) or {}).get("items") or []
    waiting = [p for p in pods if not _pod_ready(p)]
    problems = operator_readiness(kubectl, namespace)
    if not waiting:
        return problems
    events: dict[str, list[str]] = {}
    listed = (kubectl.get_json("events", namespace=namespace) or {}).get("items") or []
    listed.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    for event in listed:
        obj = event.get("involvedObject") or {}
        if obj.get("kind") == "Pod":
            events.setdefault(obj.get("name"), []).append(
                f"{event.get('reason', '')}: {event.get('message', '')}".strip())
    return {**problems, **{p["metadata"]["name"]: _why(p, events.get(p["metadata"]["name"], [])) for p in waiting}}


def wait_ready(kubectl: Kubectl, namespace: str, timeout_s: float, poll_s: float = 2,
               sleep: Callable[[float], None] = time.sleep) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        problems = readiness(kubectl, namespace)
        if not problems:
            return f"every pod in {namespace} is ready"
        if time.monotonic() >= deadline:
            lines = "\n".join(f"  {name}: {why}" for name, why in sorted(problems.items()))
            # Pod names hold no "/"; the Strimzi resources are named Kind/name.
            what = "pod(s) and operator object(s)" if any("/" in n for n in problems) else "pod(s)"
            raise NotConverged(f"{len(problems)} {what} in {namespace} not ready after {timeout_s:g}s:\n{lines}")
        sleep(poll_s)
