"""Render the onboarding artefacts from the Jinja2 templates in `templates/onboard/`.

Rendering is pure and deterministic: the same spec gives byte-identical files (sorted
order, no timestamps). Built-in kinds are checked with kubernetes-validate; the
external-secrets kinds are custom resources it cannot know, so their JSON schema is kept
with the tests and also installed as the CRD schema in the test cluster.
"""

import json
import os
import pathlib
import tempfile

import jinja2
import kubernetes_validate
import yaml

from tasks.core.versions import KUBERNETES_VERSION
from tasks.onboard.errors import InvalidInput, RenderError
from tasks.onboard.spec import OnboardSpec

TEMPLATES = pathlib.Path(__file__).resolve().parents[2] / "templates" / "onboard"
# Output file -> template. Kubernetes manifests in the order `kubectl apply` needs them.
ARTEFACTS = {
    "namespace.yaml": "namespace.yaml.j2",
    "serviceaccount.yaml": "serviceaccount.yaml.j2",
    "configmap-settings.yaml": "configmap-settings.yaml.j2",
    "secretstore.yaml": "secretstore.yaml.j2",
    "externalsecret.yaml": "externalsecret.yaml.j2",
    "networkpolicy.yaml": "networkpolicy.yaml.j2",
    "vault-policy.hcl": "vault-policy.hcl.j2",
    "vault-role.json": "vault-role.json.j2",
}
MANIFESTS = [name for name in ARTEFACTS if name.endswith(".yaml")]
CUSTOM_GROUPS = ("external-secrets.io/",)
K8S_VERSION = KUBERNETES_VERSION


def environment() -> jinja2.Environment:
    # StrictUndefined: a missing variable is a render error, never an empty string
    # (the upstream heredoc shipped `${APP_NS}` unsubstituted).
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
                              autoescape=False)


def render(spec: OnboardSpec) -> dict[str, str]:
    """Every artefact as text, keyed by output file name."""
    env = environment()
    ctx = spec.context()
    out = {}
    for name, template in ARTEFACTS.items():
        try:
            out[name] = env.get_template(template).render(**ctx)
        except jinja2.TemplateError as exc:
            raise RenderError(f"template {template}: {exc}") from exc
    return out


def load(rendered: dict[str, str]) -> dict[str, dict]:
    """The Kubernetes manifests parsed into objects, keyed by file name."""
    objs = {}
    for name in MANIFESTS:
        try:
            objs[name] = yaml.safe_load(rendered[name])
        except yaml.YAMLError as exc:
            raise RenderError(f"{name} is not valid YAML: {exc}") from exc
    return objs


def vault_role(rendered: dict[str, str]) -> dict:
    try:
        return json.loads(rendered["vault-role.json"])
    except json.JSONDecodeError as exc:
        raise RenderError(f"vault-role.json is not valid JSON: {exc}") from exc


def is_custom(obj: dict) -> bool:
    return str(obj.get("apiVersion", "")).startswith(CUSTOM_GROUPS)


def validate_builtin(objs: dict[str, dict], version: str = K8S_VERSION) -> list[str]:
    """Check every built-in kind against the Kubernetes schema; returns the files checked."""
    checked = []
    for name, obj in objs.items():
        if is_custom(obj):
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise RenderError(f"{name}: {exc.message}") from exc
        checked.append(name)
    return checked


def write(rendered: dict[str, str], out: pathlib.Path) -> list[pathlib.Path]:
    """Write every file or none: each goes to a temporary file first, then is renamed."""
    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"--out {out} exists and is not a directory")
    staged = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in sorted(rendered.items()):
            fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name}.")
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            staged.append((pathlib.Path(tmp), out / name))
    except OSError as exc:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write into --out {out}: {exc.strerror or exc}") from None
    for tmp, final in staged:
        os.replace(tmp, final)
    return [final for _, final in staged]
