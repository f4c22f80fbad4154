"""Where onboarding's inputs come from: validated arguments, the effective `soma` config
(release, shared-infra namespace, kubeconfig) and the `soma.onboard` section, whose keys can
each be overridden by an environment variable. Secrets (VAULT_TOKEN, SOMA_PG_ADMIN_DSN, seed
values) are read only from the environment, at the moment they are needed.

`soma.onboard` keys (all optional): vault_addr, kafka_bootstrap, kv_mount, auth_mount,
store_name, store_role, store_service_account, audience, token_ttl, partitions, retention_ms.
"""

import dataclasses
import os

from tasks.core.config import soma_config
from tasks.onboard.errors import InvalidInput
from tasks.onboard.spec import ENVS, MODES, OnboardSpec, check_choice, check_namespace

# Endpoint settings and the environment variables that override them.
ENDPOINT_ENV = {"vault_addr": ("SOMA_VAULT_ADDR", "VAULT_ADDR"),
                "kafka_bootstrap": ("SOMA_KAFKA_BOOTSTRAP",)}
SPEC_KEYS = {"kv_mount": str, "auth_mount": str, "store_name": str, "store_role": str,
             "store_service_account": str, "audience": str, "token_ttl": int,
             "partitions": int, "retention_ms": int}


@dataclasses.dataclass(frozen=True)
class Endpoints:
    vault_addr: str = ""
    kafka_bootstrap: str = ""
    kubeconfig: str = ""
    context: str = ""
    timeout: int = 120


def check_inputs(ns: str, env: str | None = None, mode: str | None = None) -> None:
    """Refuse bad input before anything else (config loading included) happens."""
    check_namespace(ns)
    if env is not None:
        check_choice("env", env, ENVS)
    if mode is not None:
        check_choice("mode", mode, MODES)


def load(c, ns: str, env: str = "dev", mode: str | None = "dev",
         environ: dict | None = None) -> tuple[OnboardSpec, Endpoints, object]:
    environ = os.environ if environ is None else environ
    check_inputs(ns, env, mode)
    cfg = soma_config(c, mode=mode, environ=environ)
    section = dict(cfg.values.get("onboard") or {})
    unknown = sorted(set(section) - set(SPEC_KEYS) - set(ENDPOINT_ENV))
    if unknown:
        raise InvalidInput(f"unknown soma.onboard settings {unknown}; known: "
                           f"{sorted([*SPEC_KEYS, *ENDPOINT_ENV])}")
    spec_kwargs = {}
    for key, typ in SPEC_KEYS.items():
        raw = environ.get("SOMA_ONBOARD_" + key.upper(), section.get(key))
        if raw is None:
            continue
        try:
            spec_kwargs[key] = typ(raw)
        except (TypeError, ValueError):
            kind = "an integer" if typ is int else "a string"
            raise InvalidInput(f"soma.onboard.{key}={raw!r} is not {kind}") from None
    endpoints = {}
    for key, names in ENDPOINT_ENV.items():
        value = next((environ[n] for n in names if environ.get(n)), section.get(key, ""))
        endpoints[key] = value or ""
    # No --mode (vault.apply, db.provision): the configured mode; names do not depend on it.
    spec = OnboardSpec(ns=ns, env=env, mode=cfg.mode, release=cfg.release, infra_ns=cfg.namespace,
                       **spec_kwargs)
    ep = Endpoints(kubeconfig=cfg.values.get("kubeconfig", ""),
                   context=cfg.values.get("context", ""),
                   timeout=int(cfg.timeouts.get("command", 120)), **endpoints)
    return spec, ep, cfg
