"""The `day2` section of invoke.yaml: where the probes connect, and thresholds per mode.

    d = day2_settings(c, mode="prod", overrides={"endpoints.postgres": "..."})
    d.endpoints["postgres"], d.thresholds["replication_lag_bytes"]["fail"]

Layers, low to high: `day2` in invoke.yaml, `day2.modes.<mode>`, SOMA_DAY2_<KEY> variables
(endpoints only: SOMA_DAY2_ENDPOINTS_POSTGRES=...), task flags. It lives beside the `soma`
section, not in it, so the core configuration schema stays as it is.

Endpoints carry no secrets: the PostgreSQL password comes from libpq's own PGPASSWORD or
PGPASSFILE, the Vault token from VAULT_TOKEN, the memory service's token from
SOMA_MEMORY_TOKEN. An empty endpoint means "not probed" (a `skip` row, never a pass).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any, Mapping

import jsonschema

from tasks.core.config import check_mode, plain
from tasks.core.errors import ConfigError

_LEVEL = {"type": "object", "required": ["warn", "fail"], "additionalProperties": False,
          "properties": {"warn": {"type": "number", "minimum": 0}, "fail": {"type": "number", "minimum": 0}}}
THRESHOLDS = ("replication_lag_bytes", "replication_lag_seconds", "consumer_lag", "outbox_pending",
              "outbox_lag_seconds", "restarts")
ENDPOINTS = ("postgres", "pgbouncer", "kafka", "vault", "memory")
SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["endpoints", "thresholds", "bundle"],
    "properties": {
        "endpoints": {"type": "object", "additionalProperties": False,
                      "properties": {k: {"type": "string"} for k in ENDPOINTS}},
        "thresholds": {"type": "object", "additionalProperties": False, "required": list(THRESHOLDS),
                       "properties": {k: _LEVEL for k in THRESHOLDS}},
        "bundle": {"type": "object", "additionalProperties": False,
                   "required": ["since", "log_bytes"],
                   "properties": {"since": {"type": "string", "pattern": r"^[0-9]+[smh]$"},
                                  "log_bytes": {"type": "integer", "minimum": 1024}}},
        "dr": {"type": "object"},
        # consumer groups that must exist and commit (a never-committed group may not be listed)
        "kafka_groups": {"type": "array", "items": {"type": "string", "minLength": 1}},
    },
}


@dataclass(frozen=True)
class Day2Settings:
    mode: str
    endpoints: dict
    thresholds: dict
    bundle: dict
    dr: dict
    kafka_groups: tuple = ()

    def as_dict(self) -> dict:
        return {"mode": self.mode, "endpoints": dict(self.endpoints), "thresholds": copy.deepcopy(self.thresholds),
                "bundle": dict(self.bundle), "dr": copy.deepcopy(self.dr)}


def _merge(base: dict, over: Mapping) -> dict:
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def day2_settings(c, mode: str, overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Day2Settings:
    environ = os.environ if environ is None else environ
    config = getattr(c, "config", c)
    raw = plain(config.get("day2") if hasattr(config, "get") else None) or {}
    if not raw:
        raise ConfigError("no `day2` section in the Invoke configuration (invoke.yaml)")
    modes = raw.pop("modes", {}) or {}
    values = _merge(raw, modes.get(check_mode(mode)) or {})
    values.setdefault("endpoints", {})
    for key in ENDPOINTS:
        name = f"SOMA_DAY2_ENDPOINTS_{key.upper()}"
        if name in environ:
            values["endpoints"][key] = environ[name]
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        values.setdefault(section, {})[key] = value
    try:
        jsonschema.validate(values, SCHEMA)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "day2"
        raise ConfigError(f"invalid setting day2.{where}: {exc.message}") from None
    for name, level in values["thresholds"].items():
        if level["warn"] > level["fail"]:
            raise ConfigError(f"day2.thresholds.{name}: warn {level['warn']} is above fail {level['fail']}")
    return Day2Settings(mode, {k: values["endpoints"].get(k, "") for k in ENDPOINTS}, values["thresholds"],
                        values["bundle"], values.get("dr") or {}, tuple(values.get("kafka_groups") or ()))
