"""Chart.lock: what `helm dependency build` fetches, and whether it still matches Chart.yaml.

    requirements(chart_dir)       Chart.yaml's dependencies (name, version, repository, ...)
    digest(requirements, locked)  the digest helm writes into Chart.lock and checks on build
    read_lock(chart_dir)          the committed lock, or None
    lock_problem(chart_dir)       why `helm dependency build` would refuse the lock, or None
    to_fetch(chart_dir)           the locked dependencies whose tarball is not in charts/
    write_lock(chart_dir)         (re)write Chart.lock through ruamel.yaml, keeping `generated`
                                  when nothing changed

helm's digest is sha256 over the JSON of [Chart.yaml dependencies, locked dependencies],
each marshalled as helm's Dependency struct (name, version, repository, then the optional
condition, tags, enabled, import-values and alias, left out when empty). `helm dependency
build` refuses a lock whose digest differs ("Chart.lock is out of sync with Chart.yaml");
tests/chart/test_chart_lock.py checks this function against the real helm binary.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import pathlib
from dataclasses import dataclass

from ruamel.yaml import YAML

from tasks.core.errors import ChartError

LOCK = "Chart.lock"


@dataclass(frozen=True)
class Locked:
    name: str
    version: str
    repository: str

    @property
    def tarball(self) -> str:
        return f"{self.name}-{self.version}.tgz"


def _yaml() -> YAML:
    y = YAML()
    y.default_flow_style = False
    y.indent(mapping=2, sequence=2, offset=0)
    return y


def _read(path: pathlib.Path):
    try:
        return _yaml().load(path.read_text())
    except OSError as exc:
        raise ChartError(f"cannot read {path.name}: {exc.strerror}") from None
    except Exception as exc:  # ruamel raises several YAMLError types
        raise ChartError(f"{path.name} is not valid YAML: {exc}") from None


def requirements(chart_dir: pathlib.Path) -> list[dict]:
    meta = _read(pathlib.Path(chart_dir) / "Chart.yaml") or {}
    return [dict(d) for d in meta.get("dependencies") or []]


def _go_dependency(dep: dict) -> dict:
    """One dependency in the field order and omitempty rules of helm's Go struct."""
    out = {"name": dep.get("name", "")}
    if dep.get("version"):
        out["version"] = str(dep["version"])
    out["repository"] = dep.get("repository", "")
    for key in ("condition", "tags", "enabled", "import-values", "alias"):
        if dep.get(key):
            out[key] = dep[key]
    return out


def digest(reqs: list[dict], locked: list[dict]) -> str:
    """sha256 over Go's json.Marshal([reqs, locked]) (compact, `<>&` escaped as Go does)."""
    doc = [[_go_dependency(d) for d in reqs], [_go_dependency(d) for d in locked]]
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def locked_from(reqs: list[dict]) -> list[dict]:
    """The lock entries helm writes for pinned (exact) versions: name, repository, version."""
    return [{"name": d["name"], "repository": d["repository"], "version": str(d["version"])} for d in reqs]


def read_lock(chart_dir: pathlib.Path):
    path = pathlib.Path(chart_dir) / LOCK
    return _read(path) if path.is_file() else None


def lock_problem(chart_dir: pathlib.Path) -> str | None:
    """Why helm would refuse to build from the lock (None when it would take it)."""
    lock = read_lock(chart_dir)
    reqs = requirements(chart_dir)
    if lock is None:
        return f"no {LOCK}: run `inv chart.lock` and commit it" if reqs else None
    locked = [dict(d) for d in lock.get("dependencies") or []]
    if lock.get("digest") != digest(reqs, locked):
        return f"{LOCK} is out of sync with Chart.yaml: run `inv chart.lock` and commit it"
    by_name = {d["name"]: d for d in locked}
    for dep in reqs:
        pinned = by_name.get(dep["name"])
        if pinned is None or str(pinned.get("version")) != str(dep.get("version")):
            return f"{LOCK} does not pin {dep['name']} {dep.get('version')}: run `inv chart.lock`"
    return None


def locked(chart_dir: pathlib.Path) -> list[Locked]:
    lock = read_lock(chart_dir) or {}
    return [Locked(d["name"], str(d["version"]), d["repository"]) for d in lock.get("dependencies") or []]


def to_fetch(chart_dir: pathlib.Path) -> list[Locked]:
    """Locked dependencies without their tarball in charts/ (what dependency build fetches)."""
    charts = pathlib.Path(chart_dir) / "charts"
    return [d for d in locked(chart_dir) if not (charts / d.tarball).is_file()]


def render_lock(chart_dir: pathlib.Path, now: dt.datetime | None = None) -> str:
    """The Chart.lock text helm would write for the pinned versions of Chart.yaml."""
    reqs = requirements(chart_dir)
    for dep in reqs:
        if not dep.get("version") or any(c in str(dep["version"]) for c in "^~<>=*xX| "):
            raise ChartError(f"dependency {dep.get('name')} must pin an exact version, not {dep.get('version')!r}")
    entries = locked_from(reqs)
    new_digest = digest(reqs, entries)
    old = read_lock(chart_dir)
    if old is not None and old.get("digest") == new_digest:
        generated = old.get("generated")  # unchanged: keep the old stamp, so no diff
    else:
        stamp = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
        generated = stamp.strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
    out = io.StringIO()
    _yaml().dump({"dependencies": entries, "digest": new_digest, "generated": str(generated)}, out)
    return out.getvalue()


def write_lock(chart_dir: pathlib.Path, now: dt.datetime | None = None) -> bool:
    """Write Chart.lock (atomically); True when its content changed."""
    path = pathlib.Path(chart_dir) / LOCK
    text = render_lock(chart_dir, now)
    if path.is_file() and path.read_text() == text:
        return False
    tmp = path.with_name(f".{LOCK}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True
