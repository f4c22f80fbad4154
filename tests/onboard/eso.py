"""The external-secrets JSON schema kept with the tests, as a validator and as CRDs.

kubernetes-validate has no schema for custom resources, so the rendered ExternalSecret and
ClusterSecretStore are checked here; the same schema becomes the openAPIV3Schema of the
CRDs installed in the test cluster, so the real API server enforces it too."""

import copy
import json
import pathlib

import jsonschema

SCHEMA_FILE = pathlib.Path(__file__).with_name("external-secrets.schema.json")
GROUP = "external-secrets.io"
KINDS = {"ExternalSecret": ("externalsecrets", "Namespaced"),
         "ClusterSecretStore": ("clustersecretstores", "Cluster")}


def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text())


def validate(obj: dict) -> None:
    """Raise jsonschema.ValidationError unless `obj` is a valid external-secrets resource."""
    full = schema()
    kind = obj.get("kind")
    if kind not in full["definitions"]:
        raise jsonschema.ValidationError(f"unknown external-secrets kind {kind!r}")
    jsonschema.Draft202012Validator(full["definitions"][kind]).validate(obj)


def _structural(node):
    """JSON schema -> CRD structural schema: the API server rejects `additionalProperties:
    false` (it prunes unknown fields instead) and wants `type` next to `enum`."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "additionalProperties" and value is False:
                continue
            out[key] = _structural(value)
        if "enum" in out and "type" not in out:
            out["type"] = "string"
        return out
    if isinstance(node, list):
        return [_structural(v) for v in node]
    return node


def crds() -> list[dict]:
    out = []
    for kind, (plural, scope) in KINDS.items():
        spec_schema = copy.deepcopy(schema()["definitions"][kind]["properties"]["spec"])
        out.append({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{GROUP}"},
            "spec": {
                "group": GROUP,
                "scope": scope,
                "names": {"kind": kind, "plural": plural, "singular": kind.lower(),
                          "listKind": f"{kind}List"},
                "versions": [{
                    "name": "v1", "served": True, "storage": True,
                    "schema": {"openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": _structural(spec_schema),
                            "status": {"type": "object",
                                       "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }},
                }],
            },
        })
    return out
