"""The real External Secrets CRDs (v2.9.0, API external-secrets.io/v1) for the tests.

They are upstream data, not part of this repository: `shared/data/upstream/external-secrets/`
next to the checkout (or SOMA_UPSTREAM_DATA). The onboarding tests install them into the test
API server, which then validates every SecretStore and ExternalSecret the tasks apply
against the real schemas (a server-side dry run checks a rendered object the same way).
Where the folder is absent, as in a clone outside this project's CI, those tests skip with a
message naming it.
"""

import os
import pathlib

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
FILES = ("external-secrets.io_externalsecrets.yaml", "external-secrets.io_secretstores.yaml",
         "external-secrets.io_clustersecretstores.yaml")
RELATIVE = pathlib.Path("shared/data/upstream/external-secrets")


def folder() -> pathlib.Path | None:
    if os.environ.get("SOMA_UPSTREAM_DATA"):
        candidate = pathlib.Path(os.environ["SOMA_UPSTREAM_DATA"]) / "external-secrets"
        return candidate if candidate.is_dir() else None
    # ../shared next to the checkout; a worktree sits one level deeper.
    for parent in REPO.parents:
        if (parent / RELATIVE).is_dir():
            return parent / RELATIVE
    return None


def crd_files() -> list[pathlib.Path]:
    where = folder()
    if where is None:
        pytest.skip(f"the External Secrets CRDs are not here: expected ../{RELATIVE}/ next to "
                    "the checkout (or $SOMA_UPSTREAM_DATA/external-secrets)")
    return [where / name for name in FILES]


def crd_names() -> list[str]:
    return [yaml.safe_load(path.read_text())["metadata"]["name"] for path in crd_files()]


def _drop_empty_defaults(node) -> int:
    """Remove `default: ""` from the schema, in place; returns how many. The 1.20 API
    server turns an empty-string default into null and then refuses it as "must be of type
    string" (fixed upstream in later releases). Three fields carry one (rewrite.merge.into,
    status.binding.name), none of which onboarding sets; every other rule stays."""
    dropped = 0
    if isinstance(node, dict):
        if node.get("default") == "" and node.get("type") == "string":
            del node["default"]
            dropped += 1
        for value in node.values():
            dropped += _drop_empty_defaults(value)
    elif isinstance(node, list):
        for value in node:
            dropped += _drop_empty_defaults(value)
    return dropped


def crds_for_the_test_server() -> list[dict]:
    """The real CRDs as the 1.20 test server can take them (see _drop_empty_defaults)."""
    out = []
    for path in crd_files():
        crd = yaml.safe_load(path.read_text())
        _drop_empty_defaults(crd)
        out.append(crd)
    return out
