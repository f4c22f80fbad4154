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
The CloudNativePG operator release (soma.postgres_operator) is cluster-wide and serves every
namespace's PostgreSQL, so reset leaves it (and the plan says so) unless `--operator`: then,
after the namespace is gone, `helm uninstall <operator release> -n <its namespace>`, which
also deletes its CRDs and with them every CloudNativePG Cluster in the whole cluster.
`--compose`: remove the compose project's containers, networks and volumes through the
docker SDK: only what carries the label `com.docker.compose.project=<project>`.

Guards, before any step: the context in use must be `kind-<cluster>` unless `--context`
names it; the namespace must carry `soma.sh/release=<release>` and not be a system
namespace unless `--force-namespace=<the same name>`. The plan's title names the context,
namespace, release and the number of PVCs, which are listed. On a terminal the operator
types the namespace (or project) name to go on; without a terminal `--yes` is required.
A second run finds nothing to do and says "all set". `--dry` prints the plan only.
"""

from __future__ import annotations

import sys

from invoke import task
from rich.table import Table

from tasks.core import dockerengine, duration, helm
from tasks.core.cli import OpsTask, exits, session
from tasks.core.compose import PROJECT_LABEL, ComposeProject
from tasks.core.errors import NotConfirmed, NotConverged, OpsError, Refused
from tasks.core.kubectl import Kubectl
from tasks.core.namespace import OWNER_LABEL, Blockers, Namespaces, check_owned
from tasks.core.operator import Operator
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


def operator_step(s, kubectl: Kubectl, helm_cli: helm.Helm, op: Operator) -> Step:
    """--operator: the operator release goes too (its CRDs, so every Cluster anywhere, with it)."""
    uninstall = helm_cli.argv_uninstall(op.release, op.namespace, timeout_s=s.cfg.timeouts["helm"])

    def run() -> str:
        s.evidence.tools["helm"] = str(s.runner.require("helm", MINIMUMS["helm"]))
        return s.runner.run(uninstall, timeout=s.cfg.timeouts["helm"] + 30).stdout.strip()

    return Step(f"uninstall operator release {op.release}", run, "cli",
                f"{format_argv(uninstall)}  (deletes its CRDs: every CloudNativePG Cluster in the cluster)",
                needed=lambda: bool(release_secrets(kubectl, op.release, op.namespace)))


def compose_steps(project: ComposeProject) -> list[Step]:
    label = f"label {PROJECT_LABEL}={project.project}"
    return [
        Step("remove compose containers", project.remove_containers, "sdk",
             f"docker SDK: containers ({label}) remove(force=True)",
             needed=lambda: bool(project.containers())),
        Step("remove compose networks", project.remove_networks, "sdk",
             f"docker SDK: networks ({label}) remove()", needed=lambda: bool(project.networks())),
        Step("remove compose volumes", project.remove_volumes, "sdk",
             f"docker SDK: volumes ({label}) remove()", needed=lambda: bool(project.volume_names())),
    ]


def confirmer(console, yes: bool, what: str, answer: str, ask=None, interactive=None):
    """The plan's confirmation: None with --yes; on a terminal the operator types `answer`
    (the namespace or project name, so a reflex "y" is not enough); elsewhere a refusal
    that says to pass --yes."""
    if yes:
        return None
    interactive = sys.stdin.isatty() if interactive is None else interactive
    ask = ask or (lambda prompt: console.input(prompt))

    def confirm(_result) -> bool:
        if not interactive:
            raise NotConfirmed(f"{what}: not on a terminal, so nobody can confirm; "
                               "pass --yes to run it from a script")
        return ask(f"{what}. Type [bold]{answer}[/] to go on: ").strip() == answer

    return confirm


def show_pvcs(console, ns: str, pvcs: list[dict]) -> None:
    if not pvcs:
        console.print(f"PVCs deleted with namespace {ns}: none")
        return
    table = Table()
    for column in ("PVC deleted with the namespace", "size", "storage class", "volume"):
        table.add_column(column)
    for pvc in pvcs:
        table.add_row(pvc["name"], pvc["size"], pvc["storage_class"], pvc["volume"])
    console.print(table)
    console.print("[yellow]the data of a volume whose reclaim policy is Delete goes with its claim[/]")


def check_context(cfg, used: str) -> None:
    """Without --context, only the kind cluster this library builds is a valid target."""
    expected = f"kind-{cfg.cluster}"
    if cfg.sources.get("context") == "flag" or used == expected:
        return
    if not used or used.startswith("("):
        raise Refused(f"no current kubectl context and no --context; expected {expected}")
    raise Refused(f"the context in use is {used!r}, not {expected!r} (the kind cluster "
                  f"{cfg.cluster}); pass --context {used} to reset it on purpose")


def run_reset(c, mode=None, namespace=None, release=None, kubeconfig=None, context=None,
              force_finalize=False, compose=False, timeout=None, evidence=False,
              runner=None, docker_client=None, console=None, sets=(), yes=False,
              force_namespace=None, ask=None, interactive=None, operator=False):
    """The task body with its seams exposed (runner, docker client, console, the prompt and
    whether a terminal is there) for tests."""
    overrides = {"namespace": namespace, "release": release, "kubeconfig": kubeconfig,
                 "context": context, "timeouts.namespace_delete": timeout}
    inputs = {"compose": compose, "force_finalize": force_finalize, "yes": yes,
              **({"operator": True} if operator else {}),
              **({"force_namespace": force_namespace} if force_namespace else {}),
              **{k: v for k, v in overrides.items() if v is not None and k != "kubeconfig"},
              **({"set": list(sets)} if sets else {})}
    with session(c, "reset", mode=mode, evidence=evidence, overrides=overrides, inputs=inputs,
                 runner=runner, console=console, sets=sets) as s:
        if compose:
            project = ComposeProject((lambda: docker_client) if docker_client else dockerengine.connect,
                                     s.cfg.compose["project"])
            try:
                s.evidence.tools["docker-engine"] = project.client.version().get("Version")
            except OpsError:
                if not s.dry:
                    raise
                # A dry run still shows its plan: each step says it cannot check, and why.
            plan = s.plan(f"inv reset --compose (project {project.project})")
            plan.extend(compose_steps(project))
            return s.run_plan(plan, confirm=confirmer(
                s.console, yes, f"remove compose project {project.project} and its volumes",
                project.project, ask, interactive))
        try:
            s.evidence.tools["kubectl"] = str(s.runner.require("kubectl", MINIMUMS["kubectl"]))
        except OpsError:
            if not s.dry:
                raise
            s.console.print(f"[yellow]kubectl >= {MINIMUMS['kubectl']} not found; the plan is a guess[/]")
        cfg, ns = s.cfg, s.cfg.namespace
        kubectl = Kubectl(s.runner, cfg.kubeconfig, cfg.context, timeout=cfg.timeouts["command"])
        helm_cli = helm.detect(s.runner, cfg.kubeconfig, cfg.context)
        namespaces = Namespaces(kubectl)
        try:
            target = kubectl.target()
            live = namespaces.get(ns)
            pvcs = namespaces.pvcs(ns) if live else []
        except OpsError as exc:
            if not s.dry:
                raise
            # A dry run without kubectl or a cluster: the guards cannot look, say so.
            target, live, pvcs = f"unknown: {exc}", None, []
            s.console.print("[yellow]cannot reach the cluster: the context and namespace "
                            "guards run in the real run[/]")
        else:
            check_context(cfg, target)
            check_owned(live, ns, cfg.release, force_namespace)
        s.evidence.add("target", {"context": target, "namespace": ns, "release": cfg.release,
                                  "pvcs": pvcs})
        # Context, namespace, release and the PVCs: reset deletes data, so say where.
        plan = s.plan(f"inv reset (context {target}, namespace {ns}, release {cfg.release}, "
                      f"{len(pvcs)} PVC(s))")
        show_pvcs(s.console, ns, pvcs)
        plan.extend(kube_steps(s, kubectl, helm_cli, force_finalize, cfg.timeouts["namespace_delete"]))
        op = Operator.from_config(cfg)
        what = f"delete namespace {ns} in context {target} with {len(pvcs)} PVC(s)"
        if op is not None and operator:
            plan.add(operator_step(s, kubectl, helm_cli, op))
            what += f", and the operator release {op.release} with every CloudNativePG Cluster"
        elif op is not None:
            s.console.print(f"operator release {op.release} in {op.namespace} is left: it is cluster-wide "
                            "(--operator removes it, its CRDs and every Cluster with them)")
        return s.run_plan(plan, confirm=confirmer(s.console, yes, what, ns, ask, interactive))


# No automatic one-letter aliases: --force-finalize and --compose should be spelled out on
# purpose; -n is kubectl's own short form for --namespace.
@task(klass=OpsTask, default=True, flag_aliases={"namespace": ("n",)},
      iterable=["set_"], help={
    "mode": "dev, test, staging, prod-lite or prod (default: soma.mode)",
    "namespace": "namespace to delete (default: soma.namespace); it must carry "
                 f"{OWNER_LABEL}=<release>",
    "release": "helm release to uninstall (default: soma.release)",
    "kubeconfig": "kubeconfig file (default: kubectl's own)",
    "context": "kubeconfig context; without it the current context must be kind-<cluster>",
    "yes": "do not ask for confirmation (scripts; without a terminal reset refuses otherwise)",
    "force-namespace": "delete this namespace although the release does not own it (repeat its name)",
    "force-finalize": "if the namespace stays Terminating, clear its finalizers (finalize subresource)",
    "compose": "reset the docker compose project instead (what carries its compose label)",
    "operator": "also uninstall the CloudNativePG operator release (cluster-wide: its CRDs and every "
                "Cluster in the cluster go with it); left in place by default",
    "timeout": "how long to wait for the namespace to go: 90s, 5m, or seconds "
               "(default: soma.timeouts.namespace_delete)",
    "evidence": "write a transcript and JSON run record into docs/sprints/sprint-<n>/",
    "set": "override any soma setting, repeatable: --set timeouts.helm=600 --set images=a:1,b:2",
})
def reset(c, mode=None, namespace=None, release=None, kubeconfig=None, context=None, yes=False,
          force_namespace=None, force_finalize=False, compose=False, timeout=None, evidence=False,
          set_=None, operator=False):
    """Uninstall the shared-infra release and delete its namespace (playbook §0); --compose for docker."""
    with exits("reset"):
        seconds = duration.seconds(timeout) if timeout is not None else None
    run_reset(c, mode, namespace, release, kubeconfig, context, force_finalize, compose,
              seconds, evidence, sets=set_ or (), yes=yes, force_namespace=force_namespace,
              operator=operator)
