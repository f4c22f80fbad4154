"""Namespace lifecycle through kubectl: state, deletion wait, what blocks it, finalize.

A namespace being deleted stays `Terminating` until the namespace controller has removed
every object in it and then its own `kubernetes` finalizer. When an object carries a
finalizer nobody clears (or the controller is down), it never ends. `blockers()` names
what is left (kind/name and finalizers) and the namespace's status conditions;
`force_finalize()` is the playbook's last resort: empty `spec.finalizers` through the
`finalize` subresource, which removes the namespace even though objects may remain in etcd.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable

from tasks.core.errors import NotConverged, Refused
from tasks.core.kubectl import Kubectl

# The label that says which release owns a namespace; `kind.deploy` should set it through
# `owner_labels()` when it creates the namespace, and reset deletes only what carries it.
OWNER_LABEL = "soma.sh/release"
# Namespaces a reset never takes for ours, whatever their labels say, unless forced by name.
PROTECTED = ("default", "kube-system", "kube-public", "kube-node-lease")


def owner_labels(release: str) -> dict:
    return {OWNER_LABEL: release}


def check_owned(ns: dict | None, name: str, release: str, forced: str | None = None) -> None:
    """Refused unless the namespace is the release's (or absent, or forced by its name)."""
    if forced and forced == name:
        return
    hint = f"rerun with --force-namespace={name} to delete it anyway"
    if name in PROTECTED:
        raise Refused(f"namespace {name} is a Kubernetes system namespace, not release "
                      f"{release}'s; {hint}")
    if ns is None:
        return  # nothing to delete: the plan says "ok"
    labels = (ns.get("metadata") or {}).get("labels") or {}
    if labels.get(OWNER_LABEL) != release:
        found = f"{OWNER_LABEL}={labels[OWNER_LABEL]}" if OWNER_LABEL in labels else f"no {OWNER_LABEL} label"
        raise Refused(f"namespace {name} does not belong to release {release} ({found}; "
                      f"expected {OWNER_LABEL}={release}); {hint}")


@dataclass
class Blockers:
    namespace: str
    objects: list[dict] = field(default_factory=list)      # {"kind","name","finalizers"}
    conditions: list[str] = field(default_factory=list)   # "Type: message" of true conditions
    spec_finalizers: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"namespace {self.namespace} finalizers: {', '.join(self.spec_finalizers) or '-'}"]
        out += [f"condition {c}" for c in self.conditions]
        out += [f"{o['kind']}/{o['name']} finalizers: {', '.join(o['finalizers']) or '-'}"
                for o in self.objects]
        return out

    def __str__(self) -> str:
        return "; ".join(self.lines())


class Namespaces:
    def __init__(self, kubectl: Kubectl, sleep: Callable[[float], None] = time.sleep):
        self.k = kubectl
        self.sleep = sleep

    def get(self, name: str) -> dict | None:
        return self.k.get_json("namespace", name)

    def exists(self, name: str) -> bool:
        return self.get(name) is not None

    def terminating(self, name: str) -> bool:
        ns = self.get(name)
        return bool(ns and ns["metadata"].get("deletionTimestamp"))

    def delete(self, name: str) -> str:
        # --wait=false: the wait is ours, with a timeout and a diagnosis when it runs out.
        return self.k.run("delete", "namespace", name, "--wait=false", "--ignore-not-found").stdout.strip()

    def ensure(self, name: str, labels: dict | None = None) -> str:
        manifest = {"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": name, **({"labels": labels} if labels else {})}}
        return self.k.apply_json(manifest).stdout.strip()

    def wait_gone(self, name: str, timeout_s: float, poll_s: float = 0.5) -> bool:
        """True when the namespace disappeared within the timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.exists(name):
                return True
            if time.monotonic() >= deadline:
                return False
            self.sleep(poll_s)

    def blockers(self, name: str) -> Blockers:
        ns = self.get(name) or {}
        found = Blockers(name, spec_finalizers=list((ns.get("spec") or {}).get("finalizers") or []))
        for cond in (ns.get("status") or {}).get("conditions") or []:
            if cond.get("status") == "True":
                found.conditions.append(f"{cond.get('type')}: {cond.get('message', '')}".strip())
        resources = [r for r in self.k.api_resources(namespaced=True, verbs=("list",))
                     if r not in ("events", "events.events.k8s.io")]
        if resources and ns:
            result = self.k.run("get", ",".join(resources), "-n", name, "-o", "json",
                                "--ignore-not-found", check=False)
            try:
                items = json.loads(result.stdout or "{}").get("items", [])
            except ValueError:
                items = []
            for item in items:
                meta = item.get("metadata", {})
                found.objects.append({"kind": item.get("kind", "?"), "name": meta.get("name", "?"),
                                      "finalizers": list(meta.get("finalizers") or [])})
        return found

    def pvcs(self, name: str) -> list[dict]:
        """The PersistentVolumeClaims a namespace deletion takes with it: name, size, class,
        and the reclaim policy of the bound volume where one is readable."""
        found = self.k.get_json("persistentvolumeclaims", namespace=name)
        out = []
        for item in (found or {}).get("items", []):
            spec, status = item.get("spec") or {}, item.get("status") or {}
            out.append({"name": item["metadata"]["name"],
                        "size": (status.get("capacity") or (spec.get("resources") or {}).get("requests") or {}).get("storage", "?"),
                        "storage_class": spec.get("storageClassName") or "-",
                        "volume": spec.get("volumeName") or "-"})
        return out

    def force_finalize(self, name: str) -> str:
        ns = self.get(name)
        if ns is None:
            return "already gone"
        ns.setdefault("spec", {})["finalizers"] = []
        self.k.replace_raw(f"/api/v1/namespaces/{name}/finalize", ns)
        return "namespace finalizers cleared"

    def verify_gone(self, name: str, timeout_s: float) -> str:
        if not self.wait_gone(name, timeout_s):
            raise NotConverged(f"namespace {name} still exists: {self.blockers(name)}")
        return f"namespace {name} is gone"
