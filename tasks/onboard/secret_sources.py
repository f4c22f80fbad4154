"""The values of the platform Secrets (`inv secrets.create`): read from Vault or a stdin
document, checked against `soma.secrets`, written through kubectl's stdin.

Nothing here prints a value: errors name Secrets, keys and positions only (PyYAML's own
messages quote the offending line, which would hold a password).
"""

import base64
import json

import yaml

from tasks.onboard import vault_ops
from tasks.onboard.errors import InvalidInput, SecretMissing
from tasks.onboard.seed import yaml_problem


def vault_path(mode: str) -> str:
    return f"soma-infra/{mode}"


def read_document(stream) -> dict:
    try:
        loaded = yaml.safe_load(stream.read())
    except yaml.YAMLError as exc:
        raise InvalidInput(f"stdin is not valid YAML/JSON: {yaml_problem(exc)}") from None
    if not isinstance(loaded, dict) or not loaded:
        raise InvalidInput("stdin must hold a mapping {<secret name>: {<key>: value}}")
    return loaded


def check(given: dict, catalogue: dict) -> None:
    """Every Secret known, every key of it present and a non-empty string, nothing extra."""
    unknown = sorted(set(given) - set(catalogue))
    if unknown:
        raise InvalidInput(f"unknown Secrets {unknown}; soma.secrets knows {sorted(catalogue)}")
    for name, data in given.items():
        if not isinstance(data, dict):
            raise InvalidInput(f"Secret {name}: expected a mapping of key: value")
        keys = catalogue[name]["keys"]
        extra = sorted(set(data) - set(keys))
        missing = [k for k in keys if not isinstance(data.get(k), str) or not data.get(k)]
        if extra:
            raise InvalidInput(f"Secret {name}: unknown keys {extra}; it takes {keys}")
        if missing:
            raise InvalidInput(f"Secret {name}: keys {missing} are missing, empty or not strings")


def from_vault(svc, mount: str, path: str, name: str, keys: tuple) -> dict:
    data, _ = vault_ops.kv_read(svc.vault, mount, path)
    svc.secret(*(str(v) for v in data.values()))
    missing = [k for k in keys if not data.get(k)]
    if missing:
        raise SecretMissing(f"Secret {name}: {mount}/{path} in Vault lacks {missing}")
    return {k: str(data[k]) for k in keys}


def vault_check_step(svc, mount: str, base: str, wanted: dict):
    """First step of a `--from vault` run: every value is in Vault, or the run stops before
    any Secret is written (not half-way through the list)."""
    from tasks.core.plan import Step

    def problems() -> list[str]:
        out = []
        for name, keys in wanted.items():
            try:
                from_vault(svc, mount, f"{base}/{name}", name, keys)
            except SecretMissing as exc:
                out.append(str(exc))
        return out

    def refuse() -> None:
        raise SecretMissing("; ".join(problems()) or "a value went missing from Vault")

    return Step(name="values in Vault", kind="check",
                detail=f"hvac kv.v2.read_secret_version {mount}/{base}/<secret> for "
                       f"{len(wanted)} Secrets (every key present)",
                needed=lambda: bool(problems()), action=refuse)


def manifest(name: str, namespace: str, kind: str, values: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "type": kind,
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"app.kubernetes.io/part-of": "somastack",
                                    "app.kubernetes.io/managed-by": "soma-ops"}},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(values.items())}}


def _live(svc, desired: dict) -> dict | None:
    meta = desired["metadata"]
    return svc.kubectl.get_json("secret", meta["name"], namespace=meta["namespace"])


def differs(svc, desired: dict) -> bool:
    live = _live(svc, desired)
    if live is None:
        return True
    svc.secret(*(live.get("data") or {}).values())
    return live.get("type") != desired["type"] or any(
        (live.get("data") or {}).get(k) != v for k, v in desired["data"].items())


def write(svc, desired: dict) -> str:
    meta = desired["metadata"]
    verb = "create" if _live(svc, desired) is None else "replace"
    if verb == "replace" and _live(svc, desired).get("type") != desired["type"]:
        raise SecretMissing(f"Secret {meta['namespace']}/{meta['name']} exists with another type; "
                            "a Secret's type cannot change: delete it on purpose first")
    svc.kubectl.run(verb, "-f", "-", input=json.dumps(desired))
    return f"{verb}d Secret {meta['name']} (keys {', '.join(desired['data'])})"
