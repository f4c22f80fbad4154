"""`inv kind.create | kind.preload | kind.deploy | kind.full | kind.delete | kind.status`.

kind.full = preflight -> delete an existing cluster of that name -> create it from
infra/kind/soma-kind.yaml -> preload images -> deploy the soma-infra chart -> readiness gate.

- preflight: the tool gates, the config files and, for deploy and full, Chart.lock in sync
           with Chart.yaml (helm refuses to build from a lock that is not) and the operator's
           pin and values file, before anything is deleted or created.
- create:  `kind create cluster --name <cluster> --config <kind_config> --wait <t>s`; only when
           the cluster is absent, or always with --recreate (kind.full recreates).
- preload: docker SDK pulls in parallel (bounded by soma.preload_parallel), skipping images
           the engine already has; then `kind load docker-image` for each image the node
           lacks; every image is timed (in the evidence record).
- deploy:  `helm repo add` for each repository Chart.lock fetches from (and the operator's)
           that helm does not know, and `helm dependency build` (the plan names each chart it
           fetches), only for tarballs missing from charts/; the CloudNativePG operator
           release (`helm upgrade --install <op> <repo>/cloudnative-pg --version X -n <op ns>
           --create-namespace -f infra/helm/operators/cloudnative-pg.yaml --wait`, unless
           deployed at that version with those values), then `kubectl wait
           --for=condition=Established crd/...` for its CRDs (soma.postgres_operator; its
           chart templates the CRDs, so the shared-infra release cannot carry a Cluster
           until they are served); the namespace (kubectl apply); `helm upgrade
           --install <release> <chart> -n <ns> -f values.yaml -f values-<mode>.yaml --wait
           --timeout <t>s` unless the stored release already matches; then our readiness
           gate, which names each pod that is not ready and why (Vault sealed or
           uninitialised included) and each CloudNativePG Cluster or Pooler not yet ready; `helm status` goes into the evidence.
- delete:  `kind delete cluster --name <cluster>`, only when it exists.
- status:  read-only: cluster, API server, namespace, the operator release, helm release, pods
           (and CloudNativePG Clusters and Poolers) not ready and why.

Every kubectl/helm call targets the context kind-<cluster> explicitly (soma.context
overrides). `--dry` prints the whole plan and exits 0 even where kind and helm are absent.
"""

from __future__ import annotations

import pathlib

from invoke import task
from rich.table import Table

from tasks.core import chartlock, dockerengine, helm
from tasks.core.cli import session
from tasks.core.errors import OpsError
from tasks.core.images import Preloader
from tasks.core.kindcli import Kind
from tasks.core.kubectl import Kubectl
from tasks.core.namespace import Namespaces, owner_labels
from tasks.core.operator import Operator, repo_name
from tasks.core.plan import Step
from tasks.core.preflight import Check, run_checks, tool_versions, verdict
from tasks.core.readiness import readiness, wait_ready
from tasks.core.release import release_drift
from tasks.core.runner import format_argv

# The tools each task's preflight gates (versions.MINIMUMS).
GATES = {"create": ("kind", "docker"), "preload": ("kind", "docker"), "deploy": ("kubectl", "helm"),
         "full": ("kubectl", "helm", "kind", "docker"), "delete": ("kind",)}
HELP = {"mode": "dev, test, staging, prod-lite or prod (default: soma.mode)",
        "cluster": "kind cluster name (default: soma.cluster)",
        "evidence": "write a transcript and JSON run record into docs/sprints/sprint-<n>/",
        "set": "override any soma setting, repeatable: --set timeouts.helm=600 --set images=a:1,b:2"}


class Tools:
    """The CLIs and the docker client one kind task needs, built once per run."""

    def __init__(self, s, docker_client=None):
        self.s = s
        cfg = s.cfg
        self.kind = Kind(s.runner)
        self.kubectl = Kubectl(s.runner, cfg.kubeconfig, cfg.kind_context, timeout=cfg.timeouts["command"])
        self.helm = helm.detect(s.runner, cfg.kubeconfig, cfg.kind_context)
        self._docker = docker_client

    def docker(self):
        if self._docker is None:
            self._docker = dockerengine.connect()
        return self._docker

    def preloader(self) -> Preloader:
        cfg = self.s.cfg
        return Preloader(self.docker(), self.kind, cfg.cluster, cfg.preload_parallel, cfg.timeouts["pull"])


def dependency_check(chart_dir: pathlib.Path, shown: pathlib.Path) -> Check:
    """Chart.lock in sync with Chart.yaml (else helm refuses to build), and what is missing."""
    problem = chartlock.lock_problem(chart_dir)
    if problem:
        return Check("chart dependencies", "fail", "Chart.lock", "Chart.lock in sync",
                     f"{problem} (in {shown}); helm refuses to build from it")
    fetch = chartlock.to_fetch(chart_dir)
    found = f"{len(fetch)} to fetch" if fetch else "all vendored in charts/"
    return Check("chart dependencies", "pass", found, "Chart.lock in sync",
                 "helm dependency build fetches " + ", ".join(d.tarball for d in fetch) if fetch
                 else "nothing to fetch")


def operator_check(op: Operator | None, shown: pathlib.Path | None) -> Check:
    """The operator release's pin and values file, before anything is deleted or created."""
    if op is None:
        return Check("postgres operator", "fail", "not configured", "soma.postgres_operator",
                     "the chart's Cluster and Pooler need CloudNativePG's CRDs; configure it in invoke.yaml")
    if not op.values.is_file():
        return Check("postgres operator", "fail", f"{shown} missing", "its values file",
                     f"{op.chart} {op.version}: values file {shown} not found")
    return Check("postgres operator", "pass", f"{op.chart} {op.version}", "pinned version + values file",
                 f"release {op.release} in {op.namespace} from {op.repository}, -f {shown}")


def preflight_step(s, tools: Tools, names: tuple[str, ...], chart_deps: bool = False) -> Step:
    def check() -> str:
        ping = (lambda: tools.docker().ping()) if "docker" in names else None
        checks, versions = run_checks(s.runner, s.cfg, tools=names, docker_ping=ping)
        if chart_deps:  # before any cluster is deleted or created
            checks.append(dependency_check(s.cfg.chart_dir, s.cfg.rel(s.cfg.chart_dir)))
            op = Operator.from_config(s.cfg)
            checks.append(operator_check(op, s.cfg.rel(op.values) if op else None))
        s.evidence.tools.update({k: str(v) for k, v in versions.items()})
        s.evidence.add("preflight", [c.to_dict() for c in checks])
        failed = verdict(checks, names)
        if failed:
            raise failed
        return f"{len(checks)} checks passed"

    extra = " + Chart.lock in sync + operator pin" if chart_deps else ""
    return Step("preflight", check, "check", f"gates {', '.join(names)} + config files{extra} (inv preflight)")


def delete_step(s, tools: Tools) -> Step:
    cfg, kind = s.cfg, tools.kind
    argv = kind.argv_delete(cfg.cluster)
    return Step(f"delete kind cluster {cfg.cluster}",
                lambda: s.runner.run(argv, timeout=300).stderr.strip(), "cli", format_argv(argv),
                needed=lambda: kind.exists(cfg.cluster))


def cluster_steps(s, tools: Tools, recreate: bool) -> list[Step]:
    cfg, kind = s.cfg, tools.kind
    create = kind.argv_create(cfg.cluster, cfg.rel(cfg.path("kind_config")), cfg.timeouts["kind_create"])
    steps = []
    if recreate:
        steps.append(Step(f"delete kind cluster {cfg.cluster}",
                          lambda: s.runner.run(kind.argv_delete(cfg.cluster), timeout=300).stderr.strip(),
                          "cli", format_argv(kind.argv_delete(cfg.cluster)),
                          needed=lambda: kind.exists(cfg.cluster)))

    def create_cluster() -> str:
        if not cfg.path("kind_config").is_file():
            raise OpsError(f"kind config {cfg.kind_config} is missing")
        return s.runner.run(create, timeout=cfg.timeouts["kind_create"] + 120).stderr.strip()

    steps.append(Step(f"create kind cluster {cfg.cluster}", create_cluster, "cli", format_argv(create),
                      needed=lambda: not kind.exists(cfg.cluster)))
    return steps


def preload_steps(s, tools: Tools) -> list[Step]:
    cfg = s.cfg
    images = list(cfg.images)

    def pull() -> str:
        pre = tools.preloader()
        timings = pre.pull(pre.missing_on_node(images))  # what the node holds needs no pull
        s.evidence.add("pulls", [t.to_dict() for t in timings])
        for t in timings:
            s.console.print(f"  {t.action:8} {t.seconds:6.1f}s  {t.image}")
        return f"{sum(t.action == 'pulled' for t in timings)} pulled, {sum(t.action == 'present' for t in timings)} present"

    def load() -> str:
        pre = tools.preloader()
        timings = pre.load(pre.missing_on_node(images))
        s.evidence.add("loads", [t.to_dict() for t in timings])
        for t in timings:
            s.console.print(f"  loaded   {t.seconds:6.1f}s  {t.image}")
        return f"{len(timings)} image(s) loaded into {pre.node_name}"

    return [
        Step(f"pull {len(images)} images (parallel {cfg.preload_parallel})", pull, "sdk",
             "docker SDK images.pull for images neither the node nor the engine has",
             needed=lambda: bool(tools.preloader().needs_pull(images))),
        Step("load images into the kind node", load, "cli",
             format_argv(tools.kind.argv_load(["IMAGE"], cfg.cluster)) + "  (per IMAGE the node lacks)",
             needed=lambda: bool(tools.preloader().missing_on_node(images))),
    ]


def fetch_detail(chart_dir: pathlib.Path) -> str:
    """What `helm dependency build` will download, for the plan (truthful in a dry run)."""
    try:
        fetch = chartlock.to_fetch(chart_dir)
    except OpsError as exc:
        return f"cannot read Chart.lock: {exc}"
    if not fetch:
        return "nothing to fetch: every locked tarball is in charts/"
    return "fetches " + ", ".join(f"{d.name} {d.version} from {d.repository}" for d in fetch)


def deploy_steps(s, tools: Tools) -> list[Step]:
    cfg, helm_cli, kubectl = s.cfg, tools.helm, tools.kubectl
    namespaces = Namespaces(kubectl)
    upgrade = helm_cli.argv_upgrade_install(cfg.release, cfg.rel(cfg.chart_dir), cfg.namespace,
                                        [cfg.rel(p) for p in cfg.values_files], cfg.timeouts["helm"],
                                        cfg.values.get("rollback_on_failure", False))
    dep_build = helm_cli.argv_dependency_build(cfg.rel(cfg.chart_dir))

    def install() -> str:
        missing = [str(cfg.rel(p)) for p in cfg.values_files if not p.is_file()]
        if missing:
            raise OpsError(f"values file(s) missing for mode {cfg.mode}: {', '.join(missing)}")
        problem = chartlock.lock_problem(cfg.chart_dir)  # Chart.yaml may change after preflight
        if problem:
            raise OpsError(problem)
        s.runner.run(upgrade, timeout=cfg.timeouts["helm"] + 60)
        return f"release {cfg.release} installed or upgraded"

    def gate() -> str:
        return wait_ready(kubectl, cfg.namespace, cfg.timeouts["readiness"])

    op = Operator.from_config(cfg)

    def repos_missing() -> list[str]:
        wanted = dict.fromkeys(d.repository.rstrip("/") for d in chartlock.to_fetch(cfg.chart_dir))
        if op is not None and op.drift(kubectl):  # the operator's chart comes from its repository
            wanted[op.repository] = None
        if not wanted:
            return []
        known = helm_cli.repo_urls()
        return [url for url in wanted if url not in known]

    def add_repos() -> str:
        added = repos_missing()
        for url in added:
            s.runner.run(helm_cli.argv_repo_add(repo_name(url), url), timeout=120)
        return f"added {len(added)} chart repositories"

    steps = [
        Step("helm repo add", add_repos, "cli",
             format_argv(helm_cli.argv_repo_add("NAME", "URL")) + "  (per repository Chart.lock fetches from, "
             "and the operator's, that helm does not know yet)", needed=lambda: bool(repos_missing())),
        Step("helm dependency build", lambda: s.runner.run(dep_build, timeout=600).stdout.strip(), "cli",
             f"{format_argv(dep_build)}  ({fetch_detail(cfg.chart_dir)})",
             needed=lambda: bool(chartlock.to_fetch(cfg.chart_dir))),
        *operator_steps(s, tools, op),
        # labelled as the release's, so `inv reset` later recognises the namespace as ours
        Step(f"ensure namespace {cfg.namespace}",
             lambda: namespaces.ensure(cfg.namespace, labels=owner_labels(cfg.release)), "cli",
             format_argv(kubectl.argv("apply", "-f", "-")) + f"  (Namespace {cfg.namespace})",
             needed=lambda: not namespaces.exists(cfg.namespace)),
        Step(f"helm upgrade --install {cfg.release}", install, "cli", format_argv(upgrade),
             needed=lambda: bool(release_drift(kubectl, cfg.release, cfg.namespace, cfg.chart_dir, cfg.values_files))),
        Step("readiness gate", gate, "check",
             f"every pod, Kafka, KafkaUser, Cluster and Pooler in {cfg.namespace} ready within {cfg.timeouts['readiness']}s, "
             "else name each and why", needed=lambda: bool(readiness(kubectl, cfg.namespace))),
    ]
    return steps


def operator_steps(s, tools: Tools, op: Operator | None) -> list[Step]:
    """The operator release, then its CRDs Established: both before the shared-infra release,
    whose Cluster and Pooler the API server only knows once the CRDs are served."""
    if op is None:
        return []
    cfg, kubectl = s.cfg, tools.kubectl
    upgrade = tools.helm.argv_upgrade_install(op.release, op.chart_ref, op.namespace, [cfg.rel(op.values)],
                                              cfg.timeouts["helm"], version=op.version, create_namespace=True)
    wait_crds = op.argv_wait_crds(kubectl, cfg.timeouts["command"])

    def install() -> str:
        if not op.values.is_file():
            raise OpsError(f"operator values file {cfg.rel(op.values)} is missing")
        s.runner.run(upgrade, timeout=cfg.timeouts["helm"] + 60)
        return f"release {op.release} ({op.chart} {op.version}) installed or upgraded"

    def established() -> str:
        s.runner.run(wait_crds, timeout=cfg.timeouts["command"] + 30)
        return f"{len(op.crds)} CRD(s) Established"

    return [
        Step(f"helm upgrade --install {op.release} (operator)", install, "cli",
             f"{format_argv(upgrade)}  ({op.chart} {op.version} from {op.repository})",
             needed=lambda: bool(op.drift(kubectl))),
        Step(f"wait for {op.chart} CRDs", established, "cli", format_argv(wait_crds),
             needed=lambda: bool(op.crds_missing(kubectl))),
    ]


def record_helm_status(s, tools: Tools) -> None:
    """`helm status` into the evidence (best effort: absence is recorded, not fatal)."""
    try:
        status = tools.helm.status(s.cfg.release, s.cfg.namespace)
        s.evidence.add("helm_status", status)
        info = status.get("info") or {}
        s.console.print(f"helm status: {status.get('name')} revision {status.get('version')} {info.get('status')}")
    except OpsError as exc:
        s.evidence.add("helm_status", f"unavailable: {exc}")


def run_kind(c, action: str, mode=None, cluster=None, recreate=False, evidence=False,
             runner=None, docker_client=None, console=None, sets=(), memory_ns=None):
    """Task body with its seams exposed (runner, docker client, console) for tests."""
    inputs = {"action": action, "recreate": recreate, **({"cluster": cluster} if cluster else {}),
              **({"set": list(sets)} if sets else {})}
    with session(c, f"kind.{action}", mode=mode, evidence=evidence, overrides={"cluster": cluster},
                 inputs=inputs, runner=runner, console=console, sets=sets) as s:
        tools = Tools(s, docker_client)
        plan = s.plan(f"inv kind.{action} --mode={s.cfg.mode} (cluster {s.cfg.cluster})")
        if action not in GATES:
            raise OpsError(f"unknown kind action {action!r}")
        plan.add(preflight_step(s, tools, GATES[action], chart_deps=action in ("deploy", "full")))
        if action == "delete":
            plan.add(delete_step(s, tools))
        if action in ("create", "full"):
            plan.extend(cluster_steps(s, tools, recreate or action == "full"))
        if action in ("preload", "full"):
            plan.extend(preload_steps(s, tools))
        if action in ("deploy", "full"):
            plan.extend(deploy_steps(s, tools))
        if action == "full" and memory_ns:  # then the memory service (tasks/core/memory_deploy.py)
            from tasks.core import memory_deploy
            plan.extend(memory_deploy.plan_steps(s, tools, memory_ns))
        if s.dry:  # no gate runs in a dry run; the record still says what is installed
            s.evidence.tools.update(tool_versions(s.runner, GATES[action]))
        try:
            return s.run_plan(plan)
        finally:  # also when a later step (the readiness gate) fails: what helm installed
            if not s.dry and action in ("deploy", "full"):
                record_helm_status(s, tools)


@task(iterable=["set_"], help={**HELP, "recreate": "delete an existing cluster of that name first"})
def create(c, mode=None, cluster=None, recreate=False, evidence=False, set_=None):
    """Create the kind cluster from infra/kind/soma-kind.yaml (when absent, or --recreate)."""
    run_kind(c, "create", mode, cluster, recreate, evidence, sets=set_ or ())


@task(iterable=["set_"], help=HELP)
def preload(c, mode=None, cluster=None, evidence=False, set_=None):
    """Pull the shared-infra images in parallel and load them into the kind node."""
    run_kind(c, "preload", mode, cluster, False, evidence, sets=set_ or ())


@task(iterable=["set_"], help=HELP)
def deploy(c, mode=None, cluster=None, evidence=False, set_=None):
    """helm upgrade --install the soma-infra chart for a mode, then the readiness gate."""
    run_kind(c, "deploy", mode, cluster, False, evidence, sets=set_ or ())


@task(iterable=["set_"], help={**HELP, "memory_ns": "also deploy the memory service into this onboarded "
                                                    "namespace after the shared infra (inv memory.deploy)"})
def full(c, mode=None, cluster=None, evidence=False, set_=None, memory_ns=None):
    """preflight -> delete cluster -> create -> preload -> deploy -> readiness gate [-> memory]."""
    run_kind(c, "full", mode, cluster, True, evidence, sets=set_ or (), memory_ns=memory_ns)


@task(iterable=["set_"], help=HELP)
def delete(c, mode=None, cluster=None, evidence=False, set_=None):
    """Delete the kind cluster (nothing to do when it does not exist)."""
    run_kind(c, "delete", mode, cluster, False, evidence, sets=set_ or ())


def cluster_status(s, tools: Tools) -> list[tuple[str, str, str]]:
    """(what, state, detail) rows, read-only: cluster, API server, namespace, release, pods."""
    cfg = s.cfg
    rows = []

    def row(what: str, probe) -> bool:
        try:
            state, detail = probe()
        except OpsError as exc:
            state, detail = "unknown", str(exc).splitlines()[0][:160]
        rows.append((what, state, detail))
        return state == "ok"

    # Without kind the cluster cannot be listed, but its context may still answer: go on.
    row(f"kind cluster {cfg.cluster}",
        lambda: ("ok", "exists") if tools.kind.exists(cfg.cluster) else ("absent", "inv kind.create"))
    if rows[-1][1] == "absent":
        return rows
    if not row(f"API server ({cfg.kind_context})",
               lambda: ("ok", tools.kubectl.run("version", "-o", "json").stdout and "reachable")):
        return rows
    if not row(f"namespace {cfg.namespace}",
               lambda: ("ok", "exists") if Namespaces(tools.kubectl).exists(cfg.namespace)
               else ("absent", "inv kind.deploy")):
        return rows

    def release():
        st = tools.helm.status(cfg.release, cfg.namespace)
        info = st.get("info") or {}
        chart = st.get("chart") or {}
        state = "ok" if info.get("status") == "deployed" else (info.get("status") or "unknown")
        shown = f", chart {chart['name']}-{chart.get('version')}" if chart.get("name") else ""
        return state, f"revision {st.get('version')}{shown}, {info.get('description', '')}".rstrip(", ")

    op = Operator.from_config(cfg)
    if op is not None:  # the CloudNativePG operator release the chart's Cluster needs
        row(f"operator release {op.release}",
            lambda: (("ok", f"{op.chart} {op.version} in {op.namespace}") if not (drift := op.drift(tools.kubectl))
                     else ("drift", f"{drift}: inv kind.deploy")))
    row(f"helm release {cfg.release}", release)

    def pods():
        problems = readiness(tools.kubectl, cfg.namespace)
        if not problems:
            return "ok", "every pod ready"
        names = sorted(problems)
        return "not ready", f"{len(names)}: " + "; ".join(f"{n}: {problems[n]}" for n in names[:5])

    row("pods", pods)
    return rows


def run_status(c, mode=None, cluster=None, sets=(), runner=None, console=None):
    """Task body of kind.status with its seams (runner, console) exposed for tests."""
    with session(c, "kind.status", mode=mode, overrides={"cluster": cluster}, runner=runner,
                 console=console, sets=sets) as s:
        rows = cluster_status(s, Tools(s))
        table = Table("what", "state", "detail", title=f"kind cluster {s.cfg.cluster} (mode {s.cfg.mode})")
        for what, state, detail in rows:
            table.add_row(what, state, detail)
        s.console.print(table)
        return rows


@task(iterable=["set_"], help={k: v for k, v in HELP.items() if k != "evidence"})
def status(c, mode=None, cluster=None, set_=None):
    """Show the cluster, API server, namespace, helm release and pod readiness (changes nothing)."""
    run_status(c, mode, cluster, set_ or ())
