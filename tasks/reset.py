"""`inv reset`: playbook §0 without a shell, and `--compose` for the docker-only stack.

Kubernetes (default):
  1. `helm uninstall <release> -n <ns> --ignore-not-found` when the release exists (helm's
     storage Secrets, `owner=helm,name=<release>`, are looked up through kubectl so the
     check works even where the helm CLI is absent);
  2. `kubectl delete namespace <ns> --wait=false`;
  3. wait for it, with a timeout; if it stays Terminating, print what remains (objects and
     their finalizers, the namespace conditions) and stop with exit 1 ...
  4. ... unless `--force-finalize`: clear the namespace finalizers through the `finalize`
     subresource;
  5. verify the namespace is gone.
`--compose`: remove the compose project's containers, networks and named volumes through
the docker SDK (by compose labels and the configured volume list), and nothing else.

A second run finds nothing to do and says "all set". `--dry` prints the plan only.
"""

from __future__ import annotations

from invoke import Exit, task
from rich.table import Table

from tasks.core import dockerengine, helm
from tasks.core.cli import session
from tasks.core.compose import ComposeProject
from tasks.core.errors import NotConverged, OpsError
from tasks.core.kubectl import Kubectl
from tasks.core.namespace import Blockers, Namespaces
from tasks.core.plan import Step
from tasks.core.release import release_secrets
from tasks.core.runner import format_argv
from tasks.core.versions import MINIMUMS


def show_blockers(console, blockers: Blockers) -> None:
    console.print(f"[bold red]namespace {blockers.namespace} is stuck in Terminating[/]; what remains:")
    table = Table()
    table.add_column("object")
    table.add_column("finalizers")
    table.add_row(f"Namespace/{blockers.namespace}", ", ".join(blockers.spec_finalizers) or "-")
    for obj in blockers.objects:
        table.add_row(f"{obj['kind']}/{obj['name']}", ", ".join(obj["finalizers"]) or "-")
    console.print(table)
    for condition in blockers.conditions:
        console.print(f"  {condition}")


def kube_steps(s, kubectl: Kubectl, helm_cli: helm.Helm, force_finalize: bool, timeout_s: int) -> list[Step]:
    cfg, ns, release = s.cfg, s.cfg.namespace, s.cfg.release
    namespaces = Namespaces(kubectl)
    uninstall = helm_cli.argv_uninstall(release, ns, timeout_s=cfg.timeouts["helm"])

    def wait() -> str:
        if namespaces.wait_gone(ns, timeout_s):
            return f"namespace {ns} deleted"
        blockers = namespaces.blockers(ns)
        show_blockers(s.console, blockers)
        s.evidence.add("blockers", blockers.lines())
        if not force_finalize:
            raise NotConverged(f"namespace {ns} still Terminating after {timeout_s}s "
                               f"({blockers}); rerun with --force-finalize to clear its finalizers")
        return f"still Terminating after {timeout_s}s; forcing finalize next"

    def uninstall_release() -> str:
        s.evidence.tools["helm"] = str(s.runner.require("helm", MINIMUMS["helm"]))
        return s.runner.run(uninstall, timeout=cfg.timeouts["helm"] + 30).stdout.strip()

    steps = [
        Step("uninstall helm release", uninstall_release, "cli", format_argv(uninstall),
             needed=lambda: bool(release_secrets(kubectl, release, ns))),
        Step(f"delete namespace {ns}", lambda: namespaces.delete(ns), "cli",
             format_argv(kubectl.argv("delete", "namespace", ns, "--wait=false", "--ignore-not-found")),
             needed=lambda: namespaces.exists(ns) and not namespaces.terminating(ns)),
        Step(f"wait for namespace {ns} to go", wait, "cli",
             f"poll {format_argv(kubectl.argv('get', 'namespace', ns, '-o', 'json'))} for {timeout_s}s",
             needed=lambda: namespaces.exists(ns)),
    ]
    if force_finalize:
        steps.append(Step(f"force-finalize namespace {ns}", lambda: namespaces.force_finalize(ns), "cli",
                          format_argv(kubectl.argv("replace", "--raw", f"/api/v1/namespaces/{ns}/finalize",
                                                   "-f", "-")) + "  (spec.finalizers=[])",
                          needed=lambda: namespaces.exists(ns)))
    steps.append(Step(f"verify namespace {ns} is gone", lambda: namespaces.verify_gone(ns, 30), "check",
                      format_argv(kubectl.argv("get", "namespace", ns)) + "  -> NotFound",
                      needed=lambda: namespaces.exists(ns)))
    return steps


def compose_steps(project: ComposeProject) -> list[Step]:
    label = f"label com.docker.compose.project={project.project}"
    return [
        Step("remove compose containers", project.remove_containers, "sdk",
             f"docker SDK: containers ({label}) remove(force=True)",
             needed=lambda: bool(project.containers())),
        Step("remove compose networks", project.remove_networks, "sdk",
             f"docker SDK: networks ({label}) remove()", needed=lambda: bool(project.networks())),
        Step("remove compose volumes", project.remove_volumes, "sdk",
             f"docker SDK: volumes ({label}, or named {', '.join(project.volumes) or '-'}) remove()",
             needed=lambda: bool(project.volume_names())),
    ]


def run_reset(c, mode=None, namespace=None, release=None, kubeconfig=None, context=None,
              force_finalize=False, compose=False, timeout=None, evidence=False,
              runner=None, docker_client=None, console=None, sets=()):
    """The task body with its seams exposed (runner, docker client, console) for tests."""
    overrides = {"namespace": namespace, "release": release, "kubeconfig": kubeconfig,
                 "context": context, "timeouts.namespace_delete": timeout}
    inputs = {"compose": compose, "force_finalize": force_finalize,
              **{k: v for k, v in overrides.items() if v is not None}, **({"set": list(sets)} if sets else {})}
    with session(c, "reset", mode=mode, evidence=evidence, overrides=overrides, inputs=inputs,
                 runner=runner, console=console, sets=sets) as s:
        if compose:
            project = ComposeProject((lambda: docker_client) if docker_client else dockerengine.connect,
                                     s.cfg.compose["project"], tuple(s.cfg.compose["volumes"]))
            try:
                s.evidence.tools["docker-engine"] = project.client.version().get("Version")
            except OpsError:
                if not s.dry:
                    raise
                # A dry run still shows its plan: each step says it cannot check, and why.
            plan = s.plan(f"inv reset --compose (project {project.project})")
            plan.extend(compose_steps(project))
            return s.run_plan(plan)
        try:
            s.evidence.tools["kubectl"] = str(s.runner.require("kubectl", MINIMUMS["kubectl"]))
        except OpsError:
            if not s.dry:
                raise
            s.console.print(f"[yellow]kubectl >= {MINIMUMS['kubectl']} not found; the plan is a guess[/]")
        kubectl = Kubectl(s.runner, s.cfg.kubeconfig, s.cfg.context, timeout=s.cfg.timeouts["command"])
        helm_cli = helm.detect(s.runner, s.cfg.kubeconfig, s.cfg.context)
        try:
            target = kubectl.target()
        except OpsError as exc:  # dry run without kubectl (a real run stopped above)
            target = f"unknown: {exc}"
        # The context goes in the title: reset deletes a namespace, so say in which cluster.
        plan = s.plan(f"inv reset (namespace {s.cfg.namespace}, release {s.cfg.release}, context {target})")
        plan.extend(kube_steps(s, kubectl, helm_cli, force_finalize, s.cfg.timeouts["namespace_delete"]))
        return s.run_plan(plan)


# No one-letter aliases: --force-finalize and --compose should be spelled out on purpose.
@task(default=True, auto_shortflags=False, iterable=["set_"], help={
    "mode": "dev, test, staging, prod-lite or prod (default: soma.mode)",
    "namespace": "namespace to delete (default: soma.namespace)",
    "release": "helm release to uninstall (default: soma.release)",
    "kubeconfig": "kubeconfig file (default: kubectl's own)",
    "context": "kubeconfig context (default: current)",
    "force-finalize": "if the namespace stays Terminating, clear its finalizers (finalize subresource)",
    "compose": "reset the docker compose project instead (containers, networks, named volumes)",
    "timeout": "seconds to wait for the namespace to go (default: soma.timeouts.namespace_delete)",
    "evidence": "write a transcript and JSON run record into docs/sprints/sprint-<n>/",
    "set": "override any soma setting, repeatable: --set timeouts.helm=600 --set images=a:1,b:2",
})
def reset(c, mode=None, namespace=None, release=None, kubeconfig=None, context=None,
          force_finalize=False, compose=False, timeout=None, evidence=False, set_=None):
    """Uninstall the shared-infra release and delete its namespace (playbook §0); --compose for docker."""
    # A string flag checked here: Invoke's own int cast answers bad input with a traceback.
    if timeout is not None and not str(timeout).isdigit():
        raise Exit(f"reset: --timeout must be a whole number of seconds, not {timeout!r}", code=2)
    run_reset(c, mode, namespace, release, kubeconfig, context, force_finalize, compose,
              int(timeout) if timeout is not None else None, evidence, sets=set_ or ())
