"""The deployed release as Helm stored it, and our own readiness gate.

`deployed_release()` reads Helm's storage Secret (`sh.helm.release.v1.<name>.v<N>`, labels
`owner=helm,name=<name>`, payload base64 + gzip JSON) through kubectl, so the deploy plan can
say "all set" when the release is `deployed` with the same chart version and the same
values (the `-f` files merged the way Helm merges them), without a helm CLI.

`readiness()` / `wait_ready()` replace `kubectl wait --for=condition=Ready pod --all`: after
the timeout they name every pod that is not ready and why: phase, scheduling condition,
container waiting/terminated reasons and the pod's latest events. Helm's own `--wait` says
only "timed out waiting for the condition".
"""

from __future__ import annotations

import base64
import gzip
import json
import pathlib
import time
from typing import Callable, Iterable

import yaml

from tasks.core.errors import NotConverged, OpsError
from tasks.core.kubectl import Kubectl


def merge_values(base: dict, top: dict) -> dict:
    """Helm's -f merge: maps merge deeply, anything else in a later file replaces."""
    out = dict(base)
    for key, value in (top or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_values(out[key], value)
        else:
            out[key] = value
    return out


def values_from_files(files: Iterable[pathlib.Path]) -> dict:
    merged: dict = {}
    for path in files:
        try:
            data = yaml.safe_load(pathlib.Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise OpsError(f"cannot read values file {path}: {exc}") from None
        if not isinstance(data, dict):
            raise OpsError(f"values file {path} is not a mapping")
        merged = merge_values(merged, data)
    return merged


def chart_version(chart_dir: pathlib.Path) -> str:
    try:
        return str(yaml.safe_load((chart_dir / "Chart.yaml").read_text())["version"])
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise OpsError(f"cannot read the chart version from {chart_dir}/Chart.yaml: {exc}") from None


def decode_release(secret: dict) -> dict:
    raw = base64.b64decode(secret["data"]["release"])  # the Secret's own base64
    payload = base64.b64decode(raw)                    # Helm's base64 over gzip
    if payload[:2] == b"\x1f\x8b":
        payload = gzip.decompress(payload)
    return json.loads(payload)


def encode_release(release: dict) -> str:
    """Inverse of decode_release (Secret `data.release` value); used to seed test clusters."""
    inner = base64.b64encode(gzip.compress(json.dumps(release).encode()))
    return base64.b64encode(inner).decode()


def deployed_release(kubectl: Kubectl, release: str, namespace: str) -> dict | None:
    """The latest stored revision of the release, or None."""
    if kubectl.get_json("namespace", namespace) is None:
        return None
    found = kubectl.get_json("secrets", namespace=namespace, selector=f"owner=helm,name={release}")
    items = (found or {}).get("items") or []
    if not items:
        return None
    latest = max(items, key=lambda s: int(s["metadata"].get("labels", {}).get("version", "0")))
    return decode_release(latest)


def release_drift(kubectl: Kubectl, release: str, namespace: str, chart_dir: pathlib.Path,
                  values_files: list[pathlib.Path]) -> str:
    """Why an upgrade is needed ('' when the stored release already matches)."""
    current = deployed_release(kubectl, release, namespace)
    if current is None:
        return "release not installed"
    status = (current.get("info") or {}).get("status")
    if status != "deployed":
        return f"release status is {status}"
    stored = ((current.get("chart") or {}).get("metadata") or {}).get("version")
    wanted = chart_version(chart_dir)
    if stored != wanted:
        return f"chart version {stored} -> {wanted}"
    if (current.get("config") or {}) != values_from_files(values_files):
        return "values differ from the overlay files"
    return ""


def _pod_ready(pod: dict) -> bool:
    if (pod.get("status") or {}).get("phase") == "Succeeded":
        return True  # finished Job pods count as done
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def _why(pod: dict, events: list[str]) -> str:
    status = pod.get("status") or {}
    parts = [f"phase {status.get('phase', '?')}"]
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
