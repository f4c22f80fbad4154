"""Analyzers: collected facts in, one pass/warn/fail `Check` with its evidence out.

    checks = analyze(facts, thresholds)     # every analyzer, in ANALYZERS order

`facts` is what the collectors gathered: `pods`, `events`, `externalsecrets` (lists of API
objects across the namespaces looked at) and `probes` (name -> facts dict, or {"error": str},
or None when the endpoint is not configured). A probe that is not configured is `skip`, never
`pass`: nothing was looked at. The same analyzers back `inv incident.bundle` (analysis.json)
and `inv health.snapshot`.
"""

from __future__ import annotations

from typing import Callable

from tasks.day2.report import FAIL, PASS, SKIP, WARN, Check, threshold, worst

MOUNT_REASONS = ("FailedMount", "FailedAttachVolume", "FailedMapVolume")


def _ref(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '?')}".lstrip("/")


def _container_states(pod: dict):
    status = pod.get("status") or {}
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        yield cs


def crashloop(facts: dict, _t: dict) -> Check:
    found = []
    for pod in facts.get("pods", []):
        for cs in _container_states(pod):
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") == "CrashLoopBackOff":
                found.append({"pod": _ref(pod), "container": cs.get("name"),
                              "restarts": cs.get("restartCount", 0), "message": waiting.get("message", "")})
    return Check("analysis", "CrashLoopBackOff", FAIL if found else PASS,
                 "; ".join(f"{f['pod']} {f['container']} ({f['restarts']} restarts)" for f in found)
                 or "no container in CrashLoopBackOff", found)


def oomkilled(facts: dict, _t: dict) -> Check:
    found = []
    for pod in facts.get("pods", []):
        for cs in _container_states(pod):
            for when in ("state", "lastState"):
                term = (cs.get(when) or {}).get("terminated") or {}
                if term.get("reason") == "OOMKilled":
                    found.append({"pod": _ref(pod), "container": cs.get("name"), "when": when,
                                  "finished_at": term.get("finishedAt"), "exit_code": term.get("exitCode")})
    return Check("analysis", "OOMKilled", FAIL if found else PASS,
                 "; ".join(f"{f['pod']} {f['container']} ({'now' if f['when'] == 'state' else 'last run'})"
                           for f in found) or "no container was OOM-killed", found)


def pending(facts: dict, _t: dict) -> Check:
    found = []
    for pod in facts.get("pods", []):
        status = pod.get("status") or {}
        if status.get("phase") != "Pending":
            continue
        reason = ""
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") != "True":
                reason = f"{cond.get('reason', 'Unschedulable')}: {cond.get('message', '')}".strip(": ")
        if not reason:
            scheduled = any(c.get("type") == "PodScheduled" and c.get("status") == "True"
                            for c in status.get("conditions") or [])
            waits = [f"{cs.get('name')} {((cs.get('state') or {}).get('waiting') or {}).get('reason', 'waiting')}"
                     for cs in _container_states(pod)]
            reason = ("scheduled; " + ", ".join(waits)) if scheduled and waits else \
                "scheduled, containers not started" if scheduled else "not scheduled: no node has taken it"
        found.append({"pod": _ref(pod), "reason": reason})
    unschedulable = any("Unschedulable" in f["reason"] for f in found)
    return Check("analysis", "Pending", FAIL if unschedulable else WARN if found else PASS,
                 "; ".join(f"{f['pod']}: {f['reason']}" for f in found) or "no pod is Pending", found)


def failed_mounts(facts: dict, _t: dict) -> Check:
    found = [{"object": f"{(e.get('involvedObject') or {}).get('kind')}/{_ref({'metadata': e.get('involvedObject') or {}})}",
              "reason": e.get("reason"), "message": e.get("message", ""), "count": e.get("count", 1)}
             for e in facts.get("events", []) if e.get("reason") in MOUNT_REASONS]
    return Check("analysis", "failed mounts", FAIL if found else PASS,
                 "; ".join(f"{f['object']} {f['reason']}: {f['message'][:120]}" for f in found)
                 or "no FailedMount/FailedAttachVolume events", found)


def _ready(obj: dict) -> tuple[bool, str]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True", f"{cond.get('reason', '')}: {cond.get('message', '')}".strip(": ")
    return False, "no Ready condition yet"


def externalsecrets(facts: dict, _t: dict) -> Check:
    items = facts.get("externalsecrets")
    if items is None:
        return Check("analysis", "ExternalSecret Ready", SKIP, "the ExternalSecret API is not installed")
    found = []
    for es in items:
        ok, why = _ready(es)
        if not ok:
            found.append({"externalsecret": _ref(es), "reason": why})
    return Check("analysis", "ExternalSecret Ready", FAIL if found else PASS,
                 "; ".join(f"{f['externalsecret']}: {f['reason']}" for f in found)
                 or f"{len(items)} ExternalSecret(s), all Ready", found)


def _probe(facts: dict, name: str):
    """(facts, None) or (None, Check-ready status and detail) for a probe that gave nothing."""
    got = (facts.get("probes") or {}).get(name)
    if got is None:
        return None, (SKIP, f"{name} endpoint not configured")
    if "error" in got:
        return None, (WARN, f"could not probe {name}: {got['error']}")
    return got, None


def _rolled_up(name: str, rows: list[tuple[str, str]], evidence) -> Check:
    """One row over several (status, text) parts: the worst status, the texts joined."""
    return Check("analysis", name, worst([status for status, _ in rows]), "; ".join(text for _, text in rows),
                 evidence)


def vault_sealed(facts: dict, _t: dict) -> Check:
    got, missing = _probe(facts, "vault")
    if missing:
        return Check("analysis", "Vault sealed", *missing)
    seal = got.get("seal") or {}
    if not seal.get("initialized", True):
        return Check("analysis", "Vault sealed", FAIL, "Vault is not initialized", seal)
    if seal.get("sealed"):
        return Check("analysis", "Vault sealed", FAIL,
                     f"sealed (unseal progress {seal.get('progress', 0)}/{seal.get('t', '?')})", seal)
    return Check("analysis", "Vault sealed", PASS, f"unsealed ({seal.get('type', '?')} seal)", seal)


def replication_lag(facts: dict, t: dict) -> Check:
    got, missing = _probe(facts, "postgres")
    if missing:
        return Check("analysis", "replication lag", *missing)
    if not got.get("accepting"):
        return Check("analysis", "replication lag", FAIL, f"primary not accepting: {got['pg_isready']['output']}", got)
    rows = got.get("replication") or []
    if got.get("in_recovery"):
        return Check("analysis", "replication lag", WARN, "the endpoint is a standby, not the primary", got)
    if not rows:
        return Check("analysis", "replication lag", WARN, "no standby is streaming from the primary", got)
    def standby(row: dict) -> tuple[str, str]:
        by_bytes = threshold(row.get("lag_bytes"), **t["replication_lag_bytes"])
        secs = row.get("lag_seconds")
        by_secs = PASS if secs is None else threshold(secs, **t["replication_lag_seconds"])
        streaming = PASS if row.get("state") == "streaming" else WARN
        return (worst([by_bytes, by_secs, streaming]),
                f"{row.get('application_name') or row.get('client_addr')}: {row.get('state')}, "
                f"{row.get('lag_bytes')} bytes, " + (f"{secs:.1f}s" if secs is not None else "no replay lag reported"))
    return _rolled_up("replication lag", [standby(row) for row in rows], rows)


def consumer_lag(facts: dict, t: dict) -> Check:
    got, missing = _probe(facts, "kafka")
    if missing:
        return Check("analysis", "consumer lag", *missing)
    groups = got.get("groups") or {}
    if not groups:
        return Check("analysis", "consumer lag", PASS, "no consumer groups", got)
    def group(name: str, g: dict) -> tuple[str, str]:
        if g.get("error"):
            return WARN, f"{name}: {g['error']}"
        status = threshold(g["lag"], **t["consumer_lag"])
        if g.get("no_commit"):
            status = worst([status, WARN])
        return status, f"{name}: lag {g['lag']}" + (" (no commit on some partitions)" if g.get("no_commit") and
                                                     g["partitions"] else " (no commit at all)" if g.get("no_commit")
                                                     else "")
    return _rolled_up("consumer lag", [group(name, g) for name, g in groups.items()], groups)


def outbox_lag(facts: dict, t: dict) -> Check:
    got, missing = _probe(facts, "memory")
    if missing:
        return Check("analysis", "outbox lag", *missing)
    stats = got.get("stats") or {}
    if stats.get("status_code") != 200:
        return Check("analysis", "outbox lag", WARN, f"/v1/stats answered {stats.get('status_code')}", stats)
    pending_n, age = stats.get("outbox_pending"), stats.get("outbox_oldest_age_s")
    status = worst([threshold(pending_n, **t["outbox_pending"]), threshold(age, **t["outbox_lag_seconds"])])
    return Check("analysis", "outbox lag", status, f"{pending_n} pending, oldest {age:.1f}s", stats)


ANALYZERS: dict[str, Callable[[dict, dict], Check]] = {
    "crashloopbackoff": crashloop, "oomkilled": oomkilled, "pending": pending,
    "failed_mounts": failed_mounts, "externalsecret_not_ready": externalsecrets,
    "vault_sealed": vault_sealed, "replication_lag": replication_lag,
    "consumer_lag": consumer_lag, "outbox_lag": outbox_lag,
}


def analyze(facts: dict, thresholds: dict) -> list[Check]:
    out = []
    for key, fn in ANALYZERS.items():
        try:
            check = fn(facts, thresholds)
        except Exception as exc:  # one broken analyzer must not hide the others
            check = Check("analysis", key, WARN, f"analyzer failed: {exc}")
        check.evidence = {"analyzer": key, "found": check.evidence}
        out.append(check)
    return out
