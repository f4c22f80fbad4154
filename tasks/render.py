"""`inv render -n <app> [--env <env>] [--mode <mode>] [--out DIR]`: every onboarding artefact, rendered.

Deterministic output (the same inputs give the same bytes); built-in kinds are checked with
kubernetes-validate before anything is written, and files are written all or none. Without
`--out` the artefacts are printed.
"""

import pathlib

from invoke import task
from rich.console import Console

from tasks.core.cli import OpsTask, exits
from tasks.onboard import manifests, report, settings


@task(klass=OpsTask, default=True, positional=[], flag_aliases=report.NS_ALIASES, help={
    "namespace": "application namespace (DNS-1123 label), e.g. sa01",
    "env": "secret environment: dev, test, staging or prod (default: soma.mode)",
    "mode": "infrastructure mode (dev, test, staging, prod-lite, prod; default: soma.mode)",
    "out": "write the files into this folder instead of printing them"})
def render(c, namespace, env=None, mode=None, out=""):
    """Render namespace, ConfigMap, ExternalSecret, SecretStore, NetworkPolicy, Vault policy/role."""
    with exits("render"):
        spec, _, _ = settings.load(c, namespace, env, mode)
        rendered = manifests.render(spec)
        checked = manifests.validate_builtin(manifests.load(rendered))
        console = Console()
        if out:
            for path in manifests.write(rendered, pathlib.Path(out)):
                console.print(f"wrote {path}")
        else:
            for name, text in rendered.items():
                console.rule(name)
                console.out(text, highlight=False, end="")
        console.print(f"validated {len(checked)} built-in manifests with kubernetes-validate "
                      f"({manifests.K8S_VERSION})")
