"""The effective `soma` configuration for one mode.

    cfg = soma_config(c, mode="dev", overrides={"namespace": "x", "timeouts.helm": 60})

Layers, low to high (each later layer wins; `cfg.sources` says which one set each key):

1. `config`  - the `soma` section as Invoke loaded it: invoke.yaml next to tasks.py, any
               `-f` runtime file, and INVOKE_SOMA_* variables for keys it declares;
2. `mode:X`  - `soma.modes.<X>`, the named defaults of the mode;
3. `env`     - SOMA_<KEY> variables (nested keys joined by `_`: SOMA_TIMEOUTS_HELM=600,
               lists comma-separated: SOMA_IMAGES=a,b), cast to the type of the value they
               replace; only keys that exist are read, so the memory service's own SOMA_*
               variables never collide;
4. `flag`    - task flags passed as `overrides` (None means "not given"), including the
               generic `--set key=value` (parse_sets), so every value has a flag too.

The result is checked against a JSON schema, so a typo or a wrong type is one clear
ConfigError, not a crash halfway through a deployment.
"""

from __future__ import annotations

import copy
import os
import pathlib
from dataclasses import dataclass, field
from typing import Any, Mapping

import jsonschema

from tasks.core.errors import ConfigError

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
MODES = ("dev", "test", "staging", "prod-lite", "prod")

# A Kubernetes DNS label (RFC 1123): namespaces, and by Helm's rule also release names.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_DNS_HELP = "lower-case letters, digits and '-', starting and ending with a letter or digit"
_TIMEOUT = {"type": "integer", "minimum": 1}
SCHEMA = {
    "type": "object",
    "required": ["mode", "cluster", "namespace", "release", "chart", "kind_config", "images",
                 "timeouts", "compose", "sprint", "evidence_dir", "preload_parallel"],
    "additionalProperties": False,
    "properties": {
        "mode": {"enum": list(MODES)},
        "cluster": {"type": "string", "pattern": DNS_LABEL, "description": _DNS_HELP},
        "namespace": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63, "description": _DNS_HELP},
        "release": {"type": "string", "pattern": DNS_LABEL, "maxLength": 53, "description": _DNS_HELP},
        "chart": {"type": "string", "minLength": 1},
        "kind_config": {"type": "string", "minLength": 1},
        "kubeconfig": {"type": "string"},
        "context": {"type": "string"},
        "sprint": {"type": ["integer", "string"], "pattern": r"^[0-9A-Za-z._-]+$"},
        "evidence_dir": {"type": "string", "minLength": 1},
        "images": {"type": "array", "items": {"type": "string", "pattern": r"^[^\s]+$"}},
        "preload_parallel": {"type": "integer", "minimum": 1, "maximum": 16},
        "rollback_on_failure": {"type": "boolean"},
        "timeouts": {"type": "object", "additionalProperties": _TIMEOUT,
                     "required": ["command", "helm", "namespace_delete", "readiness", "pull", "kind_create"]},
        "compose": {"type": "object", "required": ["project"], "additionalProperties": False,
                    "properties": {"project": {"type": "string", "minLength": 1}}},
        "onboard": {"$ref": "#/$defs/onboard"},
        "secrets": {"$ref": "#/$defs/secrets"},
        "postgres_operator": {"$ref": "#/$defs/operator"},
    },
    "$defs": {
        # An operator installed as its own release before the shared-infra release (its chart
        # renders its CRDs as templates): what `kind.deploy` installs and waits for.
        "operator": {
            "type": "object", "additionalProperties": False,
            "required": ["release", "namespace", "chart", "repository", "version", "values", "crds"],
            "properties": {
                "release": {"type": "string", "pattern": DNS_LABEL, "maxLength": 53, "description": _DNS_HELP},
                "namespace": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63, "description": _DNS_HELP},
                "chart": {"type": "string", "pattern": DNS_LABEL},
                "repository": {"type": "string", "pattern": r"^https://[^\s]+$",
                               "description": "the chart repository's https URL"},
                "version": {"type": "string", "pattern": r"^[0-9]+\.[0-9]+\.[0-9]+$",
                            "description": "an exact chart version (x.y.z), never a range"},
                "values": {"type": "string", "minLength": 1},
                "crds": {"type": "array", "minItems": 1,
                         "items": {"type": "string", "pattern": r"^[a-z0-9.-]+$"}},
            },
        },
        # Application onboarding (tasks/onboard): endpoints and the names everything derives
        # from. Secrets are never settings: tokens and passwords come from the environment.
        "onboard": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "vault_addr": {"type": "string"},
                "kv_mount": {"type": "string", "minLength": 1},
                "auth_mount": {"type": "string", "minLength": 1},
                "audience": {"type": "string", "minLength": 1},
                "token_ttl": {"type": "integer", "minimum": 60},
                "partitions": {"type": "integer", "minimum": 1},
                "retention_ms": {"type": "integer", "minimum": -1},
                "kafka": {
                    "type": "object", "additionalProperties": False,
                    "properties": {
                        "bootstrap": {"type": "string"},
                        "security_protocol": {"enum": ["", "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]},
                        "sasl_mechanism": {"enum": ["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]},
                        "sasl_username": {"type": "string"},
                        "ssl_ca_location": {"type": "string"},
                        "secret": {"type": "string", "description": "a Secret '<name>' in the shared-infra "
                                   "namespace (or '<namespace>/<name>') holding the SASL password"},
                        "secret_key": {"type": "string"},
                    },
                },
            },
        },
        # The Secrets staging and prod read passwords from (`inv secrets.create`): name -> keys.
        "secrets": {
            "type": "object", "additionalProperties": {
                "type": "object", "required": ["keys"], "additionalProperties": False,
                "properties": {"keys": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                               "type": {"type": "string"}}},
        },
    },
}


@dataclass(frozen=True)
class SomaConfig:
    values: dict
    sources: dict = field(default_factory=dict)
    root: pathlib.Path = REPO_ROOT

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def path(self, key: str) -> pathlib.Path:
        """A configured path, resolved against the repository root when relative."""
        p = pathlib.Path(self.values[key])
        return p if p.is_absolute() else self.root / p

    @property
    def chart_dir(self) -> pathlib.Path:
        return self.path("chart")

    @property
    def values_files(self) -> list[pathlib.Path]:
        return [self.chart_dir / "values.yaml", self.chart_dir / f"values-{self.mode}.yaml"]

    def rel(self, path: pathlib.Path) -> pathlib.Path:
        """The form used in argv lists: relative to the repository root when inside it, so
        commands and evidence carry no machine paths (the runner's cwd is the root)."""
        path = pathlib.Path(path)
        return path.relative_to(self.root) if path.is_relative_to(self.root) else path

    @property
    def kind_context(self) -> str:
        return self.values.get("context") or f"kind-{self.cluster}"

    @property
    def evidence_path(self) -> pathlib.Path:
        return self.path("evidence_dir") / f"sprint-{self.sprint}"

    def as_dict(self) -> dict:
        return copy.deepcopy(self.values)


def plain(value: Any) -> Any:
    """Invoke's DataProxy objects -> plain dicts/lists (deep), so merging is ordinary."""
    if hasattr(value, "items"):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


# Sections whose entries are data (names of Secrets and their keys), not settings: a
# variable per key would make no sense, so they stay whole.
WHOLE = ("secrets",)


def flatten(data: Mapping, prefix: str = "") -> dict[str, Any]:
    """{"timeouts": {"helm": 1}} -> {"timeouts.helm": 1} (so SOMA_TIMEOUTS_HELM and --set
    timeouts.helm=... reach it); the sections in WHOLE stay one value."""
    out = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and dotted not in WHOLE:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _set(data: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        data = data.setdefault(part, {})
        if not isinstance(data, dict):
            raise ConfigError(f"cannot set {dotted}: {part} is not a section")
    data[leaf] = value


def _cast(name: str, raw: str, current: Any) -> Any:
    try:
        if isinstance(current, bool):
            lowered = raw.strip().lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off", ""):
                raise ValueError("expected true/false")
            return lowered in ("1", "true", "yes", "on")
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, list):
            return [item.strip() for item in raw.split(",") if item.strip()]
        return raw
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r}: {exc} (the value it replaces is {current!r})") from None


def env_name(dotted: str) -> str:
    return "SOMA_" + dotted.replace(".", "_").replace("-", "_").upper()


def section(c) -> dict:
    """The raw `soma` section from an Invoke context (or a plain mapping, for tests)."""
    config = getattr(c, "config", c)
    raw = config.get("soma") if hasattr(config, "get") else None
    if not raw:
        raise ConfigError("no `soma` section in the Invoke configuration (invoke.yaml)")
    return plain(raw)


def parse_sets(pairs) -> dict[str, str]:
    """`--set key=value` flags (repeatable) -> overrides; the values are cast like SOMA_* ones."""
    out = {}
    for pair in pairs or ():
        key, sep, value = str(pair).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: expected key=value, e.g. --set timeouts.helm=600")
        if key == "mode":
            raise ConfigError("--set mode=...: use --mode, which also picks the mode's defaults")
        out[key] = value
    return out


def check_mode(mode: str) -> str:
    """The mode itself, or ConfigError naming the five that exist."""
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
    return mode


def soma_config(c, mode: str | None = None, overrides: Mapping[str, Any] | None = None,
                environ: Mapping[str, str] | None = None, root: pathlib.Path = REPO_ROOT) -> SomaConfig:
    environ = os.environ if environ is None else environ
    base = section(c)
    modes = base.pop("modes", {}) or {}
    mode_source = "flag" if mode else "env SOMA_MODE" if environ.get("SOMA_MODE") else "config"
    mode = check_mode(mode or environ.get("SOMA_MODE") or base.get("mode") or "dev")
    values = copy.deepcopy(base)
    sources = {key: "config" for key in flatten(values)}
    for key, value in flatten(modes.get(mode) or {}).items():
        _set(values, key, value)
        sources[key] = f"mode:{mode}"
    values["mode"], sources["mode"] = mode, mode_source
    for key, current in flatten(values).items():
        name = env_name(key)
        if key != "mode" and name in environ:
            _set(values, key, _cast(name, environ[name], current))
            sources[key] = f"env {name}"
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        flat = flatten(values)
        if key not in flat:
            raise ConfigError(f"unknown setting {key!r}; known: {', '.join(sorted(flat))}")
        if isinstance(value, str) and not isinstance(flat[key], str):
            value = _cast(f"--set {key}", value, flat[key])
        _set(values, key, value)
        sources[key] = "flag"
    kubeconfig = values.get("kubeconfig")
    if isinstance(kubeconfig, str) and kubeconfig and sources.get("kubeconfig") != "config":
        # Tools run from the repository root, but a path typed in a flag or a variable means
        # one relative to where the operator stands (and `~` is theirs: no shell expands it).
        values["kubeconfig"] = os.path.abspath(os.path.expanduser(kubeconfig))
    try:
        jsonschema.validate(values, SCHEMA)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "soma"
        # The schema's description says what a valid value looks like, in words, not a regex.
        why = exc.schema.get("description") if isinstance(exc.schema, dict) else None
        raise ConfigError(f"invalid setting soma.{where}: {exc.message}"
                          + (f" ({why})" if why else "")) from None
    return SomaConfig(values, sources, root)
