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
from tasks.onboard.spec import OnboardSpec

# The role fields we own; anything else Vault reports (defaults) is left alone.
ROLE_FIELDS = ("bound_service_account_names", "bound_service_account_namespaces",
               "token_policies", "token_ttl", "audience")


def client(addr: str, token: str, timeout: int = 30) -> hvac.Client:
    if not addr:
        raise InvalidInput("no Vault address: set VAULT_ADDR or soma.onboard.vault_addr")
    if not token:
        raise SecretMissing("no Vault token: set VAULT_TOKEN in the environment")
    return hvac.Client(url=addr, token=token, timeout=timeout)


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


def store_role_update(cl: hvac.Client, spec: OnboardSpec) -> dict | None:
    """What to write so the ClusterSecretStore's role may use this app's policy, or None
    when it already does. The role collects exactly the onboarded apps' policies (never a
    glob over shared-infra/); an absent role is created bound to the operator's service
    account, an existing one keeps its bindings and other policies."""
    current = read_role(cl, spec.auth_mount, spec.store_role)
    if current is None:
        return {"bound_service_account_names": [spec.store_service_account],
                "bound_service_account_namespaces": [spec.infra_ns],
                "token_policies": [spec.policy_name], "token_ttl": spec.token_ttl,
                "audience": spec.audience}
    policies = list(current.get("token_policies") or [])
    if spec.policy_name in policies:
        return None
    # Vault updates only the fields a POST names, so the bindings stay as they are.
    return {"token_policies": [*policies, spec.policy_name]}


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
