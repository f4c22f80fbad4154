"""Our readiness gate, in place of `kubectl wait --for=condition=Ready pod --all`.

After the timeout it names every pod that is not ready and why: phase, scheduling
condition, container waiting/terminated reasons and the pod's latest events, and for Vault
pods whether Vault is sealed or uninitialised (from the labels Vault keeps on its pods). Helm's own
`--wait` says only "timed out waiting for the condition".
"""

from __future__ import annotations

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


def readiness(kubectl: Kubectl, namespace: str) -> dict[str, str]:
    """Pod name -> why it is not ready (empty when every pod is ready)."""
    pods = (kubectl.get_json("pods", namespace=namespace) or {}).get("items") or []
    waiting = [p for p in pods if not _pod_ready(p)]
    if not waiting:
        return {}
    events: dict[str, list[str]] = {}
    listed = (kubectl.get_json("events", namespace=namespace) or {}).get("items") or []
    listed.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    for event in listed:
        obj = event.get("involvedObject") or {}
        if obj.get("kind") == "Pod":
            events.setdefault(obj.get("name"), []).append(
                f"{event.get('reason', '')}: {event.get('message', '')}".strip())
    return {p["metadata"]["name"]: _why(p, events.get(p["metadata"]["name"], [])) for p in waiting}


def wait_ready(kubectl: Kubectl, namespace: str, timeout_s: float, poll_s: float = 2,
               sleep: Callable[[float], None] = time.sleep) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        problems = readiness(kubectl, namespace)
        if not problems:
            return f"every pod in {namespace} is ready"
        if time.monotonic() >= deadline:
            lines = "\n".join(f"  {name}: {why}" for name, why in sorted(problems.items()))
            raise NotConverged(f"{len(problems)} pod(s) in {namespace} not ready after {timeout_s:g}s:\n{lines}")
        sleep(poll_s)
