"""The soma-infra umbrella chart through the Helm engine in-process (helm-python-sdk).

    check_values(mode)        values.yaml + values-<mode>.yaml merged by the engine, checked
                              against values.schema.json (ValuesError lists every violation)
    lint(mode)                `helm lint` with the mode's values (LintError unless clean)
    render(mode)              the chart's own manifests (Rendered), schema-checked first
    validate_manifests(docs)  strict Kubernetes schema validation (ManifestError); the
                              operator kinds (CloudNativePG's, Strimzi's: OPERATOR_KINDS) as
                              strict metadata and their CRDs' required spec fields
    images(values)            the container images the values pin for enabled services

No helm binary is needed. The subcharts are not vendored (no chart repository is reachable
from the build machines), so only the umbrella chart's own templates render: that is what
"dependencies disabled" means here. By default the mode's `<alias>.enabled` values are kept,
because the endpoints ConfigMap publishes exactly the services a mode enables; with
subcharts=False every dependency condition is set false. `helm lint` warns that the
dependency tarballs are missing; that one warning is expected and reported as ignored, any
other warning or error fails.

Errors are the ChartError branch of tasks/core/errors.py; an unknown mode is ConfigError.
The tasks that format these results are in tasks/chart.py.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml

from tasks.core.config import DNS_LABEL, REPO_ROOT, check_mode
from tasks.core.errors import ChartError, LintError, ManifestError, RenderError, ValuesError
from tasks.core import upstream
from tasks.core.versions import KUBERNETES_VERSION
from tasks.core.values import merge_values, read_values_file

CHART_DIR = REPO_ROOT / "infra" / "helm" / "soma-infra"
DEFAULT_RELEASE = "sharedinfra"
DEFAULT_NAMESPACE = "soma-infra"
# The oldest Kubernetes the manifests must be valid for.
KUBE_VERSION = KUBERNETES_VERSION  # the schemas manifests are validated against
# `helm lint` says this while charts/ has no tarballs; expected until `helm dependency build`.
MISSING_DEPENDENCIES = "chart directory is missing these dependencies"
# helm lint severities: 1 info, 2 warning, 3 error.
LINT_WARNING = 2


@dataclass(frozen=True)
class LintReport:
    mode: str
    messages: list[dict] = field(default_factory=list)  # findings that count
    ignored: list[dict] = field(default_factory=list)   # the expected missing-dependency warning


@dataclass(frozen=True)
class Rendered:
    mode: str
    release: str
    namespace: str
    manifests: dict[str, str]  # template path -> YAML, only the umbrella's own templates
    notes: str

    def documents(self) -> list[dict]:
        """Every non-empty YAML document, in template order."""
        docs = []
        for path in sorted(self.manifests):
            for doc in yaml.safe_load_all(self.manifests[path]):
                if doc:
                    docs.append(doc)
        return docs

    def stream(self) -> str:
        """One YAML stream like `helm template` prints, each document after a Source line."""
        parts = []
        for path in sorted(self.manifests):
            for doc in _split_documents(self.manifests[path]):
                parts.append(f"---\n# Source: {path}\n{doc}\n")
        return "".join(parts)


def _split_documents(text: str) -> list[str]:
    chunks, current = [], []
    for line in text.splitlines():
        if line.strip() == "---":
            chunks.append("\n".join(current))
            current = []
        else:
            current.append(line)
    chunks.append("\n".join(current))
    # Keep documents that hold more than comments and blank lines.
    return [c.strip("\n") for c in chunks
            if any(ln.strip() and not ln.lstrip().startswith("#") for ln in c.splitlines())]


def _chart_dir(chart_dir: os.PathLike | str | None) -> pathlib.Path:
    path = pathlib.Path(chart_dir) if chart_dir else CHART_DIR
    if not (path / "Chart.yaml").is_file():
        raise ChartError(f"no Chart.yaml in {path}")
    return path


def overlay_path(mode: str, chart_dir: os.PathLike | str | None = None) -> pathlib.Path:
    path = _chart_dir(chart_dir) / f"values-{check_mode(mode)}.yaml"
    if not path.is_file():
        raise ChartError(f"mode {mode!r} has no overlay: {path.name} is missing")
    return path


def overlay_values(mode: str, chart_dir=None, extra_files: Iterable[os.PathLike | str] = (),
                   subcharts: bool = True) -> dict:
    """The user-supplied values of a deploy: the mode overlay, then any extra files.

    Helm layers values.yaml below these itself (they are the chart's defaults), exactly as
    `-f values.yaml -f values-<mode>.yaml -f extra...` would. With subcharts=False every
    dependency condition is set false on top, as `--set <alias>.enabled=false` would.
    """
    values = read_values_file(overlay_path(mode, chart_dir))
    for path in extra_files:
        values = merge_values(values, read_values_file(path))
    if not subcharts:
        values = merge_values(values, conditions_off(chart_dir))
    return values


def dependency_conditions(chart_dir=None) -> list[str]:
    """The condition path of each dependency in Chart.yaml (the first, when several are listed)."""
    with helm.Chart.load(str(_chart_dir(chart_dir))) as chart:
        deps = chart.metadata.get("dependencies") or []
    return [d["condition"].split(",")[0].strip() for d in deps if d.get("condition")]


# Services the chart templates itself (no subchart, so no Chart.yaml condition): switched
# off with the dependencies when a check runs with every service off.
OWN_SERVICES = ("postgres.enabled",)


def conditions_off(chart_dir=None) -> dict:
    """Values that switch every service off: each dependency's condition and each of
    OWN_SERVICES, e.g. {"redis": {"enabled": False}, "postgres": {"enabled": False}, ...}."""
    values: dict = {}
    for condition in [*dependency_conditions(chart_dir), *OWN_SERVICES]:
        *parents, leaf = condition.split(".")
        node = values
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = False
    return values


def merged_values(mode: str, chart_dir=None, extra_files=(), subcharts: bool = True) -> dict:
    """values.yaml coalesced with the overlay by the Helm engine (nulls delete keys, as in Helm)."""
    overlay = overlay_values(mode, chart_dir, extra_files, subcharts)
    with helm.Chart.load(str(_chart_dir(chart_dir))) as chart:
        try:
            return chart.merge_values(overlay)
        except helm.HelmError as exc:
            raise ChartError(f"cannot merge values for mode {mode!r}: {exc}") from None


def load_schema(chart_dir=None) -> dict:
    path = _chart_dir(chart_dir) / "values.schema.json"
    try:
        schema = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ChartError(f"cannot load {path.name}: {exc}") from None
    jsonschema.Draft7Validator.check_schema(schema)
    return schema


def _leaf_errors(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    # allOf/if-then failures wrap the real violation; report the innermost ones.
    if error.context:
        return [leaf for sub in error.context for leaf in _leaf_errors(sub)]
    return [error]


def schema_violations(values: Mapping, schema: Mapping) -> list[str]:
    """Every violation as 'dotted.path: message (why)', sorted, empty when the values pass."""
    validator = jsonschema.Draft7Validator(schema)
    lines = set()
    for error in validator.iter_errors(values):
        for leaf in _leaf_errors(error):
            where = ".".join(str(p) for p in leaf.absolute_path) or "(top level)"
            why = leaf.schema.get("description") if isinstance(leaf.schema, dict) else None
            lines.add(f"{where}: {leaf.message}" + (f" ({why})" if why else ""))
    return sorted(lines)


def check_values(mode: str, chart_dir=None, extra_files=(), subcharts: bool = True) -> dict:
    """The merged values of a mode, or ValuesError naming every violation."""
    values = merged_values(mode, chart_dir, extra_files, subcharts)
    violations = schema_violations(values, load_schema(chart_dir))
    if violations:
        raise ValuesError(f"values for mode {mode!r} break values.schema.json:\n  "
                          + "\n  ".join(violations), violations)
    return values


def lint(mode: str, chart_dir=None, extra_files=(), kube_version: str = KUBE_VERSION,
         namespace: str = DEFAULT_NAMESPACE, subcharts: bool = True) -> LintReport:
    """`helm lint` of the chart with the mode's values; LintError unless clean."""
    path = _chart_dir(chart_dir)
    check_values(mode, path, extra_files, subcharts)
    overlay = overlay_values(mode, path, extra_files, subcharts)
    report = helm.lint(str(path), overlay, namespace=namespace, kube_version=f"v{kube_version}")
    counted, ignored = [], []
    for message in report.get("messages", []):
        if message.get("severity") == LINT_WARNING and MISSING_DEPENDENCIES in message.get("error", ""):
            ignored.append(message)
        else:
            counted.append(message)
    failing = [m for m in counted if m.get("severity", 0) >= LINT_WARNING]
    errors = [e for e in report.get("errors", []) if MISSING_DEPENDENCIES not in e]
    if failing or errors:
        lines = [f"{m.get('path')}: {m.get('error')}" for m in failing] + errors
        raise LintError(f"helm lint failed for mode {mode!r}:\n  " + "\n  ".join(dict.fromkeys(lines)))
    return LintReport(mode, counted, ignored)


def render(mode: str, chart_dir=None, extra_files=(), release: str = DEFAULT_RELEASE,
           namespace: str = DEFAULT_NAMESPACE, subcharts: bool = True) -> Rendered:
    """The umbrella chart's own manifests for a mode, schema-checked first.

    subcharts=False renders with every dependency condition false (no service endpoints).
    """
    path = _chart_dir(chart_dir)
    try:
        helm.validate_release_name(release)
    except helm.HelmError as exc:
        raise ChartError(f"invalid release name {release!r}: {exc}") from None
    if not re.fullmatch(DNS_LABEL, namespace or "") or len(namespace) > 63:
        raise ChartError(f"invalid namespace {namespace!r}: lower-case letters, digits and '-', "
                         "at most 63 characters")
    check_values(mode, path, extra_files, subcharts)
    overlay = overlay_values(mode, path, extra_files, subcharts)
    with helm.Chart.load(str(path)) as chart:
        try:
            output = chart.render(overlay, name=release, namespace=namespace, is_install=True)
        except helm.HelmError as exc:
            raise RenderError(f"rendering mode {mode!r} failed: {exc}") from None
        prefix = f"{chart.name}/templates/"
    notes = output.pop(prefix + "NOTES.txt", "")
    # Subchart output (charts/<alias>/...) only appears once tarballs are vendored; it is
    # not part of what this chart itself produces.
    own = {k: v for k, v in output.items() if k.startswith(prefix) and v.strip()}
    return Rendered(mode, release, namespace, own, notes)


# Kinds of an operator's CRDs, which Kubernetes' own schemas do not know: their metadata is
# checked strictly as ObjectMeta and their spec for the fields the CRD requires (read from
# CloudNativePG 1.30's and Strimzi 1.2.0's CRDs); the full schema is the API server's job
# where the real CRDs are installed (docs/chart.md says which tests see only stand-in CRDs).
OPERATOR_KINDS = {("postgresql.cnpg.io/v1", "Cluster"): ("instances",),
                  ("postgresql.cnpg.io/v1", "Pooler"): ("cluster", "pgbouncer"),
                  ("kafka.strimzi.io/v1", "Kafka"): ("kafka",),
                  ("kafka.strimzi.io/v1", "KafkaNodePool"): ("replicas", "roles", "storage"),
                  ("kafka.strimzi.io/v1", "KafkaUser"): ()}


def is_operator_kind(doc: Mapping) -> bool:
    return (doc.get("apiVersion"), doc.get("kind")) in OPERATOR_KINDS


def _operator_kind_problem(doc: Mapping, kube_version: str) -> str | None:
    required = OPERATOR_KINDS[(doc.get("apiVersion"), doc.get("kind"))]
    try:  # ObjectMeta is the same type in every kind: check it as a ConfigMap's
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc.get("metadata")},
                                     kube_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return exc.message
    extra = set(doc) - {"apiVersion", "kind", "metadata", "spec"}
    if extra:
        return f"unknown top-level field(s) {', '.join(sorted(extra))}"
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        return "spec must be a mapping"
    missing = [k for k in required if k not in spec]
    return f"spec lacks required {', '.join(missing)}" if missing else None


def validate_manifests(documents: Iterable[Mapping], kube_version: str = KUBE_VERSION) -> int:
    """Validate each document against the Kubernetes schema (strict: unknown fields fail);
    the operator kinds of OPERATOR_KINDS as that table says."""
    if kube_version not in kubernetes_validate.utils.all_versions():
        known = _known_versions()
        raise ChartError(f"no Kubernetes schemas for version {kube_version!r}; "
                         f"known: {known[0]} to {known[-1]} (written X.Y.0)")
    problems, count = [], 0
    for doc in documents:
        count += 1
        name = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        if is_operator_kind(doc):
            problem = _operator_kind_problem(doc, kube_version)
            if problem:
                problems.append(f"{name}: {problem}")
            continue
        try:
            kubernetes_validate.validate(doc, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{name}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{name}: no schema for {doc.get('apiVersion')} {doc.get('kind')} "
                            f"in Kubernetes {kube_version}")
    if problems:
        raise ManifestError(f"manifests invalid for Kubernetes {kube_version}:\n  " + "\n  ".join(problems))
    return count


def _known_versions() -> list[str]:
    versions = set(kubernetes_validate.utils.all_versions())
    return sorted(versions, key=lambda v: tuple(int(p) for p in v.split(".")))


def write_rendered(rendered: Rendered, out_dir: os.PathLike | str) -> list[pathlib.Path]:
    """Write one file per template (and NOTES.txt) into out_dir.

    Everything is rendered before this is called, and each file is written to a temporary
    name and renamed, so a failure never leaves a half-written manifest behind.
    """
    out = pathlib.Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ChartError(f"--out {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ChartError(f"cannot create --out {out}: {exc.strerror}") from None
    files = {pathlib.PurePosixPath(k).name: v for k, v in rendered.manifests.items()}
    if rendered.notes:
        files["NOTES.txt"] = rendered.notes
    written = []
    for name, text in sorted(files.items()):
        target = out / name
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            os.replace(tmp, target)
        except OSError as exc:
            pathlib.Path(tmp).unlink(missing_ok=True)
            raise ChartError(f"cannot write {target}: {exc.strerror}") from None
        written.append(target)
    return written


def _image(spec: Any, default_registry: str = "docker.io") -> str | None:
    """One image reference from the common chart shapes (Bitnami map, or repository+tag)."""
    if not isinstance(spec, Mapping):
        return None
    repo = spec.get("repository")
    if not repo or not spec.get("tag"):
        return None
    first = repo.split("/")[0]
    if not spec.get("registry") and ("." in first or ":" in first):
        return f"{repo}:{spec['tag']}"  # the repository already names its registry (quay.io/...)
    registry = spec.get("registry") or default_registry
    return f"{registry}/{repo}:{spec['tag']}"


def strimzi_images(operator: Mapping, kafka: Mapping) -> list[str]:
    """The Strimzi operator image (it also runs the User Operator) and the Kafka image the
    operator picks for kafka.version, as strimzi-kafka-operator's `strimzi.image` helper
    builds them: <registry>/<repository>/<name>:<tag>, the Kafka one tagged
    <tag>-kafka-<version>."""
    registry, repository = operator.get("defaultImageRegistry"), operator.get("defaultImageRepository")
    tag = operator.get("defaultImageTag")
    if not (registry and repository and tag):
        return []
    found = [f"{registry}/{repository}/operator:{tag}"]
    if kafka.get("version"):
        found.append(f"{registry}/{repository}/kafka:{tag}-kafka-{kafka['version']}")
    return found


def images(values: Mapping) -> list[str]:
    """The images the values pin for enabled services (what a kind node must preload)."""
    found = []
    pg = values.get("postgres", {})
    if pg.get("enabled"):
        # CloudNativePG's Cluster and Pooler name whole image references
        found += [pg.get("imageName"), (pg.get("pooler") or {}).get("enabled") and pg["pooler"].get("image")]
    redis = values.get("redis", {})
    if redis.get("enabled"):
        found.append(_image(redis.get("image")))  # redis-ha runs Sentinel from the same image
    kafka = values.get("kafka", {})
    if kafka.get("enabled"):
        found += strimzi_images(values.get("strimzi") or {}, kafka)
    vault = values.get("vault", {})
    if vault.get("enabled"):
        found.append(_image(vault.get("server", {}).get("image")))
    opa = values.get("opa", {})
    if opa.get("enabled"):
        found.append(_image(opa.get("image")))
        if (opa.get("mgmt") or {}).get("enabled", True):
            found.append(_image((opa.get("mgmt") or {}).get("image")))
    prom = values.get("prometheus", {})
    if prom.get("enabled"):
        found.append(_image(prom.get("server", {}).get("image")))
    graf = values.get("grafana", {})
    if graf.get("enabled"):
        found.append(_image(graf.get("image")))
    eso = values.get("external-secrets", {})
    if eso.get("enabled"):
        found.append(_image(eso.get("image")))
    return [i for i in found if i]


def dependencies(chart_dir=None) -> list[dict]:
    """Chart.yaml's dependencies, each with its values key (the alias, else the name)."""
    with helm.Chart.load(str(_chart_dir(chart_dir))) as chart:
        deps = chart.metadata.get("dependencies") or []
    return [{**d, "key": d.get("alias") or d["name"]} for d in deps]


def subchart_value_problems(mode: str, chart_dir=None, root=None,
                            record: Mapping | None = None) -> tuple[dict[str, list[str]], list[str]]:
    """Check what the merged values set under each alias against that subchart version's
    own values.yaml and values.schema.json (tasks/core/upstream.py); where those files are
    absent, against the keys recorded as checked (upstream.RECORD, or `record`).

    Returns ({alias: [problem, ...]} for aliases with problems, [versions neither the files
    nor the record cover]).
    """
    values = merged_values(mode, chart_dir)
    record = upstream.read_record() if record is None else record
    problems: dict[str, list[str]] = {}
    missing: list[str] = []
    for dep in dependencies(chart_dir):
        ours = values.get(dep["key"]) or {}
        found = upstream_problems(dep["name"], str(dep["version"]), ours, root, record)
        if found is None:
            missing.append(f"charts/{dep['name']}-{dep['version']}")
        elif found:
            problems[dep["key"]] = found
    return problems, missing


def upstream_problems(name: str, version: str, ours: Mapping, root=None,
                      record: Mapping | None = None) -> list[str] | None:
    """What upstream's files of chart `name` `version` (or, without them, the record) find
    wrong with `ours`, the values set under its alias; None when neither covers it."""
    folder = upstream.chart_folder(name, version, root)
    if folder is None:
        entry = (upstream.read_record() if record is None else record).get(f"{name}-{version}")
        if entry is None:
            return None
        return [f"key {k} was never checked against upstream {name} {version} "
                f"({upstream.RECORD.name}: run `inv chart.upstream-keys` with its files)"
                for k in upstream.unverified_keys(ours, entry)]
    defaults, schema = upstream.load_defaults(folder)
    found = [f"unknown key {k}" for k in upstream.unknown_keys(ours, defaults, schema,
                                                               upstream.commented_keys(folder))]
    if schema is not None:
        settings = {k: v for k, v in ours.items() if k not in upstream.HELM_KEYS}
        found += upstream.schema_violations(merge_values(defaults, settings), schema)
    return found
