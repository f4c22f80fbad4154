"""Where onboarding's inputs come from: validated arguments and the effective `soma`
configuration, the same one every other task reads (tasks.core.config: invoke.yaml <
soma.modes.<mode> < SOMA_* variables < flags, checked against one schema). The `soma.onboard`
section holds the endpoints and names (`SOMA_ONBOARD_VAULT_ADDR`,
`SOMA_ONBOARD_KAFKA_BOOTSTRAP`, ... through that same layer); `VAULT_ADDR`, Vault's own
variable, is read when `vault_addr` is empty. Secrets (VAULT_TOKEN, SOMA_PG_ADMIN_DSN, the
Kafka SASL password, seed values) are never settings: they are read from the environment
(or a Secret) at the moment they are needed.

`--mode` and `--env` default to `soma.mode` (the env to the mode of the same name), but a
staging, prod-lite or prod run must name both on the command line: a shell that happens to
export SOMA_MODE=prod must not onboard into prod by accident.
"""

import dataclasses
import os

from tasks.core.config import SomaConfig, soma_config
from tasks.onboard.errors import InvalidInput
from tasks.onboard.spec import ENVS, MODES, OnboardSpec, check_choice, check_namespace

# Modes (and envs) that must be given on the command line.
EXPLICIT = ("staging", "prod-lite", "prod")
SPEC_KEYS = ("kv_mount", "auth_mount", "audience", "token_ttl", "partitions", "retention_ms")


@dataclasses.dataclass(frozen=True)
class Endpoints:
    vault_addr: str = ""
    kafka: dict = dataclasses.field(default_factory=dict)
    kubeconfig: str = ""
    context: str = ""
    infra_ns: str = "soma-infra"
    timeout: int = 120

    @property
    def kafka_bootstrap(self) -> str:
        return self.kafka.get("bootstrap", "")


def check_inputs(ns: str, env: str | None = None, mode: str | None = None) -> None:
    """Refuse bad input before anything else (config loading included) happens."""
    check_namespace(ns)
    if env is not None:
        check_choice("env", env, ENVS)
    if mode is not None:
        check_choice("mode", mode, MODES)


def resolve(cfg: SomaConfig, mode: str | None, env: str | None, need_env: bool = True) -> str:
    """The env to use; refuses a staging/prod mode or env that was not given as a flag."""
    if mode is None and cfg.mode in EXPLICIT:
        raise InvalidInput(f"soma.mode is {cfg.mode} ({cfg.sources.get('mode', 'config')}); "
                           f"{cfg.mode} must be named on the command line: --mode {cfg.mode}")
    if not need_env:
        return env or "dev"
    if env is None:
        if cfg.mode in EXPLICIT:
            raise InvalidInput(f"mode {cfg.mode} needs --env given explicitly "
                               f"(one of {', '.join(ENVS)})")
        env = cfg.mode if cfg.mode in ENVS else "dev"
    return env


def load(c, ns: str, env: str | None = None, mode: str | None = None,
         environ: dict | None = None, overrides: dict | None = None,
         need_env: bool = True) -> tuple[OnboardSpec, Endpoints, SomaConfig]:
    """`mode`/`env` None: not given on the command line (see `resolve`). `need_env` False for
    tasks whose names do not depend on the env (kafka.topics)."""
    environ = os.environ if environ is None else environ
    check_inputs(ns, env, mode)
    cfg = soma_config(c, mode=mode, environ=environ, overrides=overrides)
    env = resolve(cfg, mode, env, need_env)
    section = cfg.values.get("onboard") or {}
    spec = OnboardSpec(ns=ns, env=env, mode=cfg.mode, release=cfg.release, infra_ns=cfg.namespace,
                       **{k: section[k] for k in SPEC_KEYS if k in section})
    return spec, endpoints(cfg, environ), cfg


def endpoints(cfg: SomaConfig, environ: dict | None = None) -> Endpoints:
    environ = os.environ if environ is None else environ
    section = cfg.values.get("onboard") or {}
    return Endpoints(vault_addr=section.get("vault_addr") or environ.get("VAULT_ADDR", ""),
                     kafka=dict(section.get("kafka") or {}),
                     kubeconfig=cfg.values.get("kubeconfig", ""),
                     context=cfg.values.get("context", ""), infra_ns=cfg.namespace,
                     timeout=int(cfg.timeouts.get("command", 120)))
