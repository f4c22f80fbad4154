"""The deployed release as Helm stored it.

`deployed_release()` reads Helm's storage Secret (`sh.helm.release.v1.<name>.v<N>`, labels
`owner=helm,name=<name>`, payload base64 + gzip JSON) through kubectl, so the deploy plan can
say "all set" when the release is `deployed` with the same chart version and the same
values (the `-f` files merged the way Helm merges them), without a helm CLI.
"""

from __future__ import annotations

import base64
import gzip
import json
import pathlib

import yaml

from tasks.core.errors import OpsError
from tasks.core.kubectl import Kubectl
from tasks.core.values import merge_values, values_from_files


def chart_version(chart_dir: pathlib.Path) -> str:
    try:
        return str(yaml.safe_load((chart_dir / "Chart.yaml").read_text())["version"])
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise OpsError(f"cannot read the chart version from {chart_dir}/Chart.yaml: {exc}") from None


def decode_release(secret: dict) -> dict:
    raw = base64.b64decode(secret["data"]["release"])  # the Secret's own base64
    payload = base64.b64decode(raw)                    # Helm's base64 over gzip
    if payload[:2] == b"\x1f\x8b":
        payload = gzip.decompress(payload)
    return json.loads(payload)


def encode_release(release: dict) -> str:
    """Inverse of decode_release (Secret `data.release` value); used to seed test clusters."""
    inner = base64.b64encode(gzip.compress(json.dumps(release).encode()))
    return base64.b64encode(inner).decode()


def release_secrets(kubectl: Kubectl, release: str, namespace: str) -> list[dict]:
    """Helm's storage Secrets of the release (one per revision); [] when there are none."""
    if kubectl.get_json("namespace", namespace) is None:
        return []
    found = kubectl.get_json("secrets", namespace=namespace, selector=f"owner=helm,name={release}")
    return (found or {}).get("items") or []


def deployed_release(kubectl: Kubectl, release: str, namespace: str) -> dict | None:
    """The latest stored revision of the release, or None."""
    items = release_secrets(kubectl, release, namespace)
    if not items:
        return None
    latest = max(items, key=lambda s: int(s["metadata"].get("labels", {}).get("version", "0")))
    return decode_release(latest)


def release_drift(kubectl: Kubectl, release: str, namespace: str, chart_dir: pathlib.Path,
                  values_files: list[pathlib.Path], overrides: dict | None = None) -> str:
    """Why an upgrade is needed ('' when the stored release already matches).

    `overrides` are the `--set` values the upgrade adds over the files (the memory service's
    image); helm stores them merged into the release's config, so they are compared the same way.
    """
    current = deployed_release(kubectl, release, namespace)
    if overrides is None:
        return stored_drift(current, chart_version(chart_dir), values_from_files(values_files),
                            "values differ from the overlay files")
    return stored_drift(current, chart_version(chart_dir), merge_values(values_from_files(values_files), overrides),
                        "values or image differ")


def stored_drift(current: dict | None, version: str, config: dict, differ: str) -> str:
    """Why a stored release (deployed_release's answer) is not `version` deployed with
    `config` ('' when it is); `differ` says so when only the config differs."""
    if current is None:
        return "release not installed"
    status = (current.get("info") or {}).get("status")
    if status != "deployed":
        return f"release status is {status}"
    stored = ((current.get("chart") or {}).get("metadata") or {}).get("version")
    if stored != version:
        return f"chart version {stored} -> {version}"
    if (current.get("config") or {}) != config:
        return differ
    return ""
