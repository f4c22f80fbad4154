"""The subcharts' own default values, read in place, and the keys our values set under them.

    folder = upstream_dir()                       # ../shared/data/upstream (or SOMA_UPSTREAM_DIR)
    chart_folder("redis", "23.1.1", folder)       # folder/charts/redis-23.1.1, None when absent
    unknown_keys(ours, upstream_defaults, schema) # dotted paths the subchart would ignore
    schema_violations(merged, schema)             # what the subchart's values.schema.json refuses
    read_record() / record_entry(folder, keys)    # the keys verified against upstream, kept in the repo
    unverified_keys(ours, entry)                  # our keys that record does not list

Helm passes whatever sits under a dependency's alias to that subchart, and a subchart
silently ignores a key it does not read: a typo or a key from another chart version is a
setting that never happens. So every key our values set under an alias must exist in that
chart version's values.yaml (or be declared by its values.schema.json, for keys upstream
leaves commented out), and the merged result must pass the subchart's schema.

The upstream files are data kept beside the repository (never copied into it); each folder
is named <chart>-<version> and holds values.yaml, values.schema.json where upstream has one,
and SOURCE.txt naming the repository, tag and commit.

Where a pinned version has no folder there (the data folder holds the versions it was given,
not every re-pin), the check falls back on RECORD: for each chart version, the keys our
values set under it, written by `inv chart.upstream-keys` only after the full check above
passed against that version's upstream files, with those files' source and sha256. A key
not in the record was never checked against upstream, and the check says so; the schema
part runs only where the files are.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
from typing import Any, Iterator, Mapping

import jsonschema
import yaml

from tasks.core.config import REPO_ROOT
from tasks.core.errors import ChartError

ENV = "SOMA_UPSTREAM_DIR"
RECORD = REPO_ROOT / "infra" / "helm" / "upstream-keys.json"
# Keys Helm itself gives meaning to under an alias, whatever the subchart's values say.
HELM_KEYS = frozenset({"enabled", "global"})
# The naming convention of `helm create`: every pinned chart's _helpers.tpl reads these even
# where its values.yaml leaves them out (vault, opa-kube-mgmt, prometheus, grafana).
NAME_KEYS = frozenset({"fullnameOverride", "nameOverride"})
# Charts hand a `*securityContext*` map to the pod or container whole (toYaml / omit
# "enabled"), so any field of Kubernetes' PodSecurityContext or SecurityContext is read there,
# whether or not upstream's defaults list it.
SECURITY_CONTEXT_FIELDS = frozenset({
    "allowPrivilegeEscalation", "appArmorProfile", "capabilities", "fsGroup", "fsGroupChangePolicy",
    "privileged", "procMount", "readOnlyRootFilesystem", "runAsGroup", "runAsNonRoot", "runAsUser",
    "seLinuxChangePolicy", "seLinuxOptions", "seccompProfile", "supplementalGroups",
    "supplementalGroupsPolicy", "sysctls", "windowsOptions"})
# `  # storageClass: "-"`: an option upstream documents as a commented-out key.
COMMENTED_KEY = re.compile(r"^\s*#\s*([A-Za-z0-9_.-]+):")


def upstream_dir() -> pathlib.Path:
    """SOMA_UPSTREAM_DIR, else `../shared/data/upstream` beside the repository."""
    return pathlib.Path(os.environ.get(ENV) or REPO_ROOT.parent / "shared" / "data" / "upstream")


def chart_folder(name: str, version: str, root: pathlib.Path | None = None) -> pathlib.Path | None:
    folder = (root or upstream_dir()) / "charts" / f"{name}-{version}"
    return folder if (folder / "values.yaml").is_file() else None


def commented_keys(folder: pathlib.Path) -> frozenset[str]:
    """Key names upstream's values.yaml documents only in comments."""
    text = (folder / "values.yaml").read_text()
    return frozenset(m.group(1) for line in text.splitlines() if (m := COMMENTED_KEY.match(line)))


def load_defaults(folder: pathlib.Path) -> tuple[dict, dict | None]:
    """(values.yaml, values.schema.json or None) of one upstream chart folder."""
    try:
        defaults = yaml.safe_load((folder / "values.yaml").read_text()) or {}
        schema_file = folder / "values.schema.json"
        schema = json.loads(schema_file.read_text()) if schema_file.is_file() else None
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ChartError(f"cannot read upstream values in {folder.name}: {exc}") from None
    return defaults, schema


def leaf_paths(values: Mapping, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path to a non-mapping value (or an empty mapping), as a tuple of keys."""
    for key, value in values.items():
        path = prefix + (key,)
        if isinstance(value, Mapping) and value:
            yield from leaf_paths(value, path)
        else:
            yield path


def _schema_node(schema: Mapping | None, path: tuple) -> Mapping | None:
    """The subschema a path leads to through `properties`, None when the schema does not say."""
    node = schema
    for key in path:
        if not isinstance(node, Mapping):
            return None
        props = node.get("properties") or {}
        if key in props:
            node = props[key]
        elif isinstance(node.get("additionalProperties"), Mapping):
            node = node["additionalProperties"]
        else:
            return None
    return node


def _known(path: tuple, defaults: Any, schema: Mapping | None, commented: frozenset[str]) -> bool:
    if len(path) == 1 and path[0] in NAME_KEYS:
        return True
    for depth, key in enumerate(path[:-1]):
        holder = str(key).lower()
        inside = path[depth + 1]
        if (holder.endswith("securitycontext") or (depth and str(path[depth - 1]).lower() == "securitycontext"
                                                   and holder in ("pod", "container"))) \
                and inside in SECURITY_CONTEXT_FIELDS:
            return _known(path[:depth + 1], defaults, schema, commented)
    node = defaults
    for depth, key in enumerate(path):
        if isinstance(node, Mapping):
            if not node:  # `podLabels: {}`, `resources: {}`: a free-form map upstream
                return True
            if key not in node:
                # Declared by the schema, or documented as a commented-out key at the end
                # of a path that exists up to here.
                return (_schema_node(schema, path[:depth + 1]) is not None
                        or (depth == len(path) - 1 and key in commented))
            node = node[key]
        else:
            # A list or scalar upstream that we set to a mapping: the chart reads it whole.
            return not isinstance(node, (str, int, float, bool)) or node is None
    return True


def unknown_keys(ours: Mapping, defaults: Mapping, schema: Mapping | None = None,
                 commented: frozenset[str] = frozenset()) -> list[str]:
    """Dotted paths our values set that the subchart's values.yaml (or schema) does not have."""
    return sorted(".".join(map(str, p)) for p in leaf_paths(ours)
                  if p[0] not in HELM_KEYS and not _known(p, defaults, schema, commented))


def schema_violations(values: Mapping, schema: Mapping) -> list[str]:
    """'dotted.path: message' for each place the subchart's own schema refuses the values."""
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)(schema)
    return sorted(f"{'.'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}"
                  for e in validator.iter_errors(values))


def our_keys(ours: Mapping) -> list[str]:
    """The dotted paths our values set under an alias (Helm's own keys left out)."""
    return sorted(".".join(map(str, p)) for p in leaf_paths(ours) if p[0] not in HELM_KEYS)


def read_record(path: pathlib.Path = RECORD) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ChartError(f"cannot read {path.name}: {exc}") from None


def record_entry(folder: pathlib.Path, keys: set[str]) -> dict:
    """What the record keeps of one checked chart version: where its files came from, their
    sha256, and the keys that passed."""
    source = {}
    if (folder / "SOURCE.txt").is_file():
        for line in (folder / "SOURCE.txt").read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep:
                source[key.strip()] = value.strip()
    files = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
             for name in ("values.yaml", "values.schema.json") if (folder / name).is_file()}
    return {"source": source, "sha256": files, "keys": sorted(keys)}


def unverified_keys(ours: Mapping, entry: Mapping) -> list[str]:
    known = set(entry.get("keys") or ())
    return [k for k in our_keys(ours) if k not in known]
