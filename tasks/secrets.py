"""`inv secrets.create --mode staging|prod-lite|prod [--from vault|stdin]`: the Secrets the
chart reads its passwords (and Vault its TLS certificate) from in staging and prod.

Which Secrets and which keys is `soma.secrets` (invoke.yaml; the table in docs/chart.md).
The values come from Vault, KV v2 at `<kv mount>/soma-infra/<mode>/<secret name>` (one
property per key), or from stdin as one YAML/JSON document `{<secret name>: {<key>: value}}`
naming the Secrets to create; never from argv. Everything is checked before any step runs:
an unknown Secret or key, a missing or empty value, is refused with exit 2 and nothing is
written. Each Secret is created when absent and replaced when a value differs (`kubectl
create|replace -f -` through stdin: `apply` would keep a second copy of the values in its
last-applied annotation); a second run is "all set". Values are never printed: the plan
names Secrets and keys only. dev and test need none of this (the subcharts generate
passwords), so those modes are refused.
"""

import sys

from invoke import task

from tasks.core.cli import OpsTask, exits, is_dry, session
from tasks.core.config import soma_config
from tasks.core.plan import Step
from tasks.onboard import secret_sources, settings
from tasks.onboard.errors import InvalidInput
from tasks.onboard.services import Services

MODES = ("staging", "prod-lite", "prod")


@task(klass=OpsTask, help={
    "mode": "staging, prod-lite or prod (must be given)",
    "from": "where the values come from: vault (default) or stdin (a YAML/JSON document)",
    "context": "kubeconfig context (default: soma.context, else the current one)",
    "kubeconfig": "kubeconfig file (default: kubectl's own)",
    "evidence": "write a transcript and run record to docs/sprints/"})
def create(c, mode=None, from_="vault", context=None, kubeconfig=None, evidence=False):
    """Create or update the Secrets staging and prod read their passwords from (from Vault or stdin)."""
    return run(c, mode, from_, context=context, kubeconfig=kubeconfig, evidence=evidence)


def run(c, mode=None, source="vault", context=None, kubeconfig=None, evidence=False, stdin=None):
    """The task body; `stdin` is the stream a `--from stdin` document is read from."""
    with exits("secrets.create"):
        if mode not in MODES:
            raise InvalidInput(f"secrets.create needs --mode given explicitly: one of {', '.join(MODES)} "
                               "(dev and test let the subcharts generate passwords)")
        if source not in ("vault", "stdin"):
            raise InvalidInput(f"--from {source!r}: choose vault or stdin")
        cfg = soma_config(c, mode=mode, overrides={"context": context, "kubeconfig": kubeconfig})
        catalogue = cfg.values.get("secrets") or {}
        given = secret_sources.read_document(stdin or sys.stdin) if source == "stdin" else None
        if given is not None:
            secret_sources.check(given, catalogue)
    with Services(settings.endpoints(cfg)) as svc:
        if given is not None:
            svc.secret(*(v for data in given.values() for v in data.values()))
        names = sorted(given) if given is not None else sorted(catalogue)
        kv_mount = (cfg.values.get("onboard") or {}).get("kv_mount", "secret")
        inputs = {"from": source, "secrets": names, "dry": is_dry(c)}
        with session(c, "secrets.create", cfg=cfg, runner=svc.runner, inputs=inputs,
                     evidence=evidence) as s:
            plan = s.plan(f"inv secrets.create --mode {cfg.mode} --from {source} "
                          f"(namespace {cfg.namespace})")
            if given is None:
                plan.add(secret_sources.vault_check_step(
                    svc, kv_mount, secret_sources.vault_path(cfg.mode),
                    {n: tuple(catalogue[n]["keys"]) for n in names}))
            for name in names:
                spec = catalogue[name]
                if given is not None:
                    values = (lambda n=name: given[n])
                    where = "stdin"
                else:
                    values = (lambda n=name, k=tuple(spec["keys"]): secret_sources.from_vault(
                        svc, kv_mount, f"{secret_sources.vault_path(cfg.mode)}/{n}", n, k))
                    where = f"vault {kv_mount}/{secret_sources.vault_path(cfg.mode)}/{name}"
                manifest = (lambda n=name, t=spec.get("type", "Opaque"), v=values:
                            secret_sources.manifest(n, cfg.namespace, t, v()))
                plan.add(Step(
                    name=f"secret {name}", kind="cli",
                    detail=f"{where} -> kubectl create|replace -f - (Secret {name} -n {cfg.namespace}; "
                           f"keys {', '.join(spec['keys'])})",
                    needed=lambda m=manifest: secret_sources.differs(svc, m()),
                    action=lambda m=manifest: secret_sources.write(svc, m())))
            return s.run_plan(plan)
