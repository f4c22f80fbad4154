"""Kubernetes side of onboarding: `kubectl apply` of rendered manifests, only when the live
object is missing or differs in a field we set (server-added fields are ignored)."""

import json


def contains(live, desired) -> bool:
    """True when every field of `desired` is present with the same value in `live`."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(k in live and contains(live[k], v)
                                              for k, v in desired.items())
    if isinstance(desired, list):
        return (isinstance(live, list) and len(live) == len(desired)
                and all(contains(a, b) for a, b in zip(live, desired)))
    return live == desired


def _comparable(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "status")}


def live_object(kubectl, manifest: dict) -> dict | None:
    """The object as the API server has it, or None. `get -f -` resolves the kind (custom
    resources included) from the manifest itself."""
    res = kubectl.run("get", "-f", "-", "-o", "json", "--ignore-not-found",
                      input=json.dumps(manifest), check=False)
    if not res.ok:
        raise kubectl.runner.failure(res)
    if not res.stdout.strip():
        return None
    live = json.loads(res.stdout)
    if live.get("kind") == "List":  # `get -f` wraps even a single object in a List
        return live["items"][0] if live.get("items") else None
    return live


def needs_apply(kubectl, manifest: dict) -> bool:
    live = live_object(kubectl, manifest)
    return live is None or not contains(live, _comparable(manifest))


def apply(kubectl, manifest: dict) -> str:
    return kubectl.apply_json(manifest).stdout.strip()


def describe(manifest: dict) -> str:
    meta = manifest.get("metadata", {})
    where = f" -n {meta['namespace']}" if meta.get("namespace") else ""
    return f"kubectl apply -f - ({manifest.get('kind')} {meta.get('name')}{where})"
