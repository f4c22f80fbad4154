"""What every onboarding task does before its plan: check the inputs, then open the services
and the core session over them.

`load_app` is app.onboard's and vault.apply's preamble (spec, seed, rendered objects, all
refused before anything connects); `services_session` opens the services, registers the
values the runner must redact, takes the token `vault.init` stored where the mode allows it,
and yields the session whose runner is the services' own.
"""

from __future__ import annotations

import contextlib

from tasks.core.cli import exits, is_dry, session
from tasks.onboard import manifests, settings, vault_setup
from tasks.onboard import seed as onboard_seed
from tasks.onboard.services import Services

EVIDENCE_HELP = {"evidence": "write a transcript and run record to docs/sprints/"}
CLUSTER_HELP = {"context": "kubeconfig context (default: soma.context, else the current one)",
                "kubeconfig": "kubeconfig file (default: kubectl's own)", **EVIDENCE_HELP}
NAMESPACE_HELP = "application namespace (DNS-1123 label)"
MODE_HELP = "dev, test, staging, prod-lite or prod (default: soma.mode; staging and prod must be given)"
# app.onboard and vault.apply: the same spec, the same inputs (settings.load checks them).
APP_HELP = {"namespace": NAMESPACE_HELP,
            "env": "secret environment: dev, test, staging or prod (default: soma.mode; staging and "
                   "prod must be given)",
            "mode": MODE_HELP,
            "seed_file": "JSON/YAML file of KV properties to seed (values never on the command line)",
            **CLUSTER_HELP}


def cluster_overrides(context, kubeconfig) -> dict:
    """The --context/--kubeconfig flags as configuration overrides (None keeps soma's own)."""
    return {"context": context, "kubeconfig": kubeconfig}


def load_app(c, task_name: str, namespace: str, env, mode, seed_file: str, context, kubeconfig,
             validate: bool = False):
    """(spec, endpoints, cfg, seed, rendered) for one application; bad input exits here.

    `validate` also checks the rendered built-in objects against their schemas."""
    with exits(task_name):
        spec, endpoints, cfg = settings.load(c, namespace, env, mode,
                                             overrides=cluster_overrides(context, kubeconfig))
        seed = onboard_seed.load(spec, seed_file)
        rendered = manifests.render(spec)
        if validate:
            manifests.validate_builtin(manifests.load(rendered))
    return spec, endpoints, cfg, seed, rendered


@contextlib.contextmanager
def services_session(c, task_name: str, endpoints, cfg, inputs: dict, evidence: bool,
                     secrets=(), init_token: bool = True):
    """Yields (services, session); `inputs` are recorded with `dry` added last."""
    with Services(endpoints) as svc:
        svc.secret(*secrets)
        if init_token:
            vault_setup.use_init_token(svc, cfg.mode, cfg.namespace, cfg.release)
        with session(c, task_name, cfg=cfg, runner=svc.runner, inputs={**inputs, "dry": is_dry(c)},
                     evidence=evidence) as s:
            yield svc, s
