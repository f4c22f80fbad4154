"""Vault (hvac) side of onboarding: the policy, the kubernetes auth role and the KV secret.

Each piece is read first and compared with what was rendered, so a task writes only what
differs and can show the difference. Tokens come from the environment (VAULT_TOKEN), never
argv; KV values are never printed, only the names of the properties that change.
"""

import difflib
import json

import hvac
import hvac.exceptions
import requests

from tasks.onboard.errors import InvalidInput, SecretMissing, VaultError

# The role fields we own; anything else Vault reports (defaults) is left alone.
ROLE_FIELDS = ("bound_service_account_names", "bound_service_account_namespaces",
               "token_policies", "token_ttl", "audience")


def client(addr: str, token: str | None, timeout: int = 30) -> hvac.Client:
    """A client for `addr`; token None for the calls Vault answers without one (init,
    seal status, unseal), "" is a missing token."""
    if not addr:
        raise InvalidInput("no Vault address: set VAULT_ADDR or soma.onboard.vault_addr "
                           "(SOMA_ONBOARD_VAULT_ADDR)")
    if token is not None and not token:
        raise SecretMissing("no Vault token: set VAULT_TOKEN in the environment")
    return hvac.Client(url=addr, token=token or None, timeout=timeout)


def _call(what: str, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except hvac.exceptions.VaultError as exc:
        raise VaultError(f"Vault refused to {what}: {exc}") from exc
    except requests.RequestException as exc:
        raise VaultError(f"Vault unreachable while trying to {what}: {exc}") from exc


def _read(what: str, fn, *args, **kwargs):
    """Like `_call`, but a path Vault does not have is an answer (None), not an error."""
    try:
        return _call(what, fn, *args, **kwargs)
    except VaultError as exc:
        if isinstance(exc.__cause__, hvac.exceptions.InvalidPath):
            return None
        raise


def diff_text(current: str, desired: str, name: str) -> str:
    return "".join(difflib.unified_diff(
        current.splitlines(keepends=True), desired.splitlines(keepends=True),
        fromfile=f"{name} (vault)", tofile=f"{name} (rendered)"))


# --- auth method -----------------------------------------------------------------------

def auth_mount_missing(cl: hvac.Client, mount: str) -> bool:
    methods = _call("list auth methods", cl.sys.list_auth_methods)
    data = methods.get("data", methods)
    return f"{mount}/" not in data


def enable_auth_mount(cl: hvac.Client, mount: str) -> None:
    _call(f"enable auth method kubernetes at {mount}/", cl.sys.enable_auth_method,
          "kubernetes", path=mount)


# Fields of auth/<mount>/config compared with what we want; Vault never returns the
# reviewer JWT itself, only whether one is set.
AUTH_CONFIG_FIELDS = ("kubernetes_host", "kubernetes_ca_cert", "disable_local_ca_jwt")


def read_auth_config(cl: hvac.Client, mount: str) -> dict | None:
    res = _read(f"read auth/{mount}/config", cl.adapter.get, f"/v1/auth/{mount}/config")
    return (res or {}).get("data") or None


def auth_config_changes(cl: hvac.Client, mount: str, desired: dict) -> list[str]:
    """Names of the config fields that differ (the reviewer JWT only when none is set)."""
    current = read_auth_config(cl, mount) if not auth_mount_missing(cl, mount) else None
    if current is None:
        return sorted(desired)
    changed = [k for k in AUTH_CONFIG_FIELDS if k in desired and _same(current.get(k)) != _same(desired[k])]
    if desired.get("token_reviewer_jwt") and not current.get("token_reviewer_jwt_set"):
        changed.append("token_reviewer_jwt")
    return changed


def _same(value) -> str:
    return "" if value is None else str(value).strip()


def write_auth_config(cl: hvac.Client, mount: str, desired: dict) -> None:
    _call(f"write auth/{mount}/config", cl.adapter.post, f"/v1/auth/{mount}/config", json=desired)


# --- init and unseal (dev and test only; staging and prod follow the runbook) ----------

def seal_status(cl: hvac.Client) -> dict:
    """{"initialized": bool, "sealed": bool, "t": threshold, "progress": n} (no token needed)."""
    return _call("read the seal status", cl.sys.read_seal_status)


def initialize(cl: hvac.Client) -> dict:
    """One key share, threshold one: a dev/test convenience. The answer holds the root token
    and the unseal key; the caller stores them and never prints them."""
    return _call("initialise Vault", cl.sys.initialize, secret_shares=1, secret_threshold=1)


def unseal(cl: hvac.Client, key: str) -> dict:
    return _call("unseal Vault", cl.sys.submit_unseal_key, key=key)


def active(cl: hvac.Client) -> bool:
    """True once an unsealed Vault serves requests: with integrated storage (raft) a node
    elects itself leader a few seconds after unsealing, and answers 503 until then."""
    try:
        leader = cl.sys.read_leader_status()
    except (hvac.exceptions.VaultError, requests.RequestException):
        return False
    return not leader.get("ha_enabled") or bool(leader.get("is_self") or leader.get("leader_address"))


# --- policy ----------------------------------------------------------------------------

def read_policy(cl: hvac.Client, name: str) -> str:
    res = _read(f"read policy {name}", cl.sys.read_policy, name)
    data = res.get("data", res) if res else {}
    return data.get("rules", "") or ""


def policy_diff(cl: hvac.Client, name: str, desired: str) -> str:
    current = read_policy(cl, name)
    return "" if current.strip() == desired.strip() else diff_text(current, desired, f"policy {name}")


def write_policy(cl: hvac.Client, name: str, rules: str) -> None:
    _call(f"write policy {name}", cl.sys.create_or_update_policy, name=name, policy=rules)


# --- kubernetes auth role --------------------------------------------------------------

def _role_path(mount: str, name: str) -> str:
    return f"/v1/auth/{mount}/role/{name}"


def read_role(cl: hvac.Client, mount: str, name: str) -> dict | None:
    res = _read(f"read role {name}", cl.adapter.get, _role_path(mount, name))
    if not res:
        return None
    data = res.get("data", {})
    return {k: data.get(k) for k in ROLE_FIELDS}


def _normal(role: dict | None) -> dict:
    if role is None:
        return {}
    out = {}
    for k in ROLE_FIELDS:
        v = role.get(k)
        out[k] = sorted(v) if isinstance(v, list) else v
    return out


def role_diff(cl: hvac.Client, mount: str, name: str, desired: dict) -> str:
    current = read_role(cl, mount, name)
    if _normal(current) == _normal(desired):
        return ""
    cur = json.dumps(_normal(current), indent=2, sort_keys=True) + "\n" if current else ""
    new = json.dumps(_normal(desired), indent=2, sort_keys=True) + "\n"
    return diff_text(cur, new, f"role auth/{mount}/role/{name}")


def write_role(cl: hvac.Client, mount: str, name: str, desired: dict) -> None:
    _call(f"write role {name}", cl.adapter.post, _role_path(mount, name), json=desired)


# --- KV v2 secret ---------------------------------------------------------------------

def kv_read(cl: hvac.Client, mount: str, path: str) -> tuple[dict, int | None]:
    """Current data and version of a KV v2 secret; ({}, None) when absent."""
    res = _read(f"read {mount}/{path}", cl.secrets.kv.v2.read_secret_version, path=path,
                mount_point=mount, raise_on_deleted_version=True)
    if res is None:
        return {}, None
    return res["data"]["data"] or {}, res["data"]["metadata"]["version"]


def kv_changes(cl: hvac.Client, mount: str, path: str, values: dict[str, str]) -> list[str]:
    """Names of the properties whose stored value differs from the seed."""
    current, _ = kv_read(cl, mount, path)
    return sorted(k for k, v in values.items() if current.get(k) != v)


def kv_write(cl: hvac.Client, mount: str, path: str, values: dict[str, str]) -> None:
    """Merge the seed into the secret; check-and-set on the version read, so a concurrent
    writer makes this fail instead of being overwritten."""
    current, version = kv_read(cl, mount, path)
    _call(f"write {mount}/{path}", cl.secrets.kv.v2.create_or_update_secret, path=path,
          secret={**current, **values}, cas=version or 0, mount_point=mount)
