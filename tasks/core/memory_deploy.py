"""The memory service onto a kind cluster: the plan steps of `inv memory.deploy`, which
`inv kind.full --memory-ns=<ns>` appends after the shared infrastructure.

    build image          docker SDK: infra/docker/memory.Dockerfile on BASE_IMAGE, tag
                         somastack/memory:<git commit>; skipped when the engine has the tag
    load image           `kind load docker-image <tag> --name <cluster>` when the node lacks it
    onboarding contract  <ns>-settings, <ns>-runtime and the tokens Secret must exist (names
                         what is missing and `inv app.onboard`); a check, it changes nothing
    helm upgrade         `helm upgrade --install soma-memory infra/helm/soma-memory -n <ns>
                         -f values.yaml -f values-<mode>.yaml --set image.repository=...
                         --set image.tag=... --wait --timeout <t>s`, unless the stored release
                         already has this chart version and these values; the chart's
                         pre-install/pre-upgrade hook runs the Alembic migration first
    readiness gate       every pod in <ns> Ready, else each blocker by name and why
"""

from __future__ import annotations

import dataclasses
import pathlib

from tasks.core import memory_image, release
from tasks.core.config import REPO_ROOT
from tasks.core.errors import OpsError
from tasks.core.images import Preloader
from tasks.core.plan import Step
from tasks.core.readiness import readiness, wait_ready
from tasks.core.runner import format_argv

CHART = REPO_ROOT / "infra" / "helm" / "soma-memory"
RELEASE = "soma-memory"
DEFAULT_BASE = "python:3.11-slim-bookworm"
# --base-image=debootstrap: the Debian base made here from Debian's packages (no registry)
LOCAL_BASE = "debootstrap"


@dataclasses.dataclass(frozen=True)
class Target:
    namespace: str
    mode: str
    tag: str                  # full image reference, somastack/memory:<commit>
    base_image: str = DEFAULT_BASE
    release: str = RELEASE
    chart: pathlib.Path = CHART

    @property
    def repository(self) -> str:
        return self.tag.rsplit(":", 1)[0]

    @property
    def image_tag(self) -> str:
        return self.tag.rsplit(":", 1)[1]

    @property
    def values_files(self) -> list[pathlib.Path]:
        return [self.chart / "values.yaml", self.chart / f"values-{self.mode}.yaml"]

    @property
    def overrides(self) -> dict:
        return {"image": {"repository": self.repository, "tag": self.image_tag}}

    @property
    def tokens_secret(self) -> str:
        return f"{self.release}-tokens" if "soma-memory" in self.release else f"{self.release}-soma-memory-tokens"


def image_tag(runner, root: pathlib.Path = REPO_ROOT) -> str:
    """somastack/memory:<12-character commit> (`git rev-parse`, through the runner)."""
    sha = runner.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], timeout=30).stdout.strip()
    if not sha:
        raise OpsError("git rev-parse printed no commit; pass --tag")
    return f"{memory_image.IMAGE}:{sha}"


def release_drift(kubectl, target: Target) -> str:
    """Why `helm upgrade` is needed ('' when the stored release matches files and image)."""
    return release.release_drift(kubectl, target.release, target.namespace, target.chart, target.values_files,
                                 target.overrides)


def missing_contract(kubectl, target: Target) -> list[str]:
    """The onboarding objects the pods need that the namespace lacks."""
    ns = target.namespace
    if kubectl.get_json("namespace", ns) is None:
        return [f"namespace {ns}"]
    wanted = [("configmap", f"{ns}-settings"), ("secret", f"{ns}-runtime"), ("secret", target.tokens_secret)]
    return [f"{kind} {name}" for kind, name in wanted if kubectl.get_json(kind, name, namespace=ns) is None]


def steps(s, tools, target: Target) -> list[Step]:
    """The memory service's plan steps; `tools` is tasks.kind.Tools (kind, kubectl, helm, docker)."""
    cfg, kubectl, helm_cli = s.cfg, tools.kubectl, tools.helm
    upgrade = helm_cli.argv_upgrade_install(target.release, cfg.rel(target.chart), target.namespace,
                                            [cfg.rel(p) for p in target.values_files], cfg.timeouts["helm"],
                                            cfg.values.get("rollback_on_failure", False))
    upgrade += ["--set", f"image.repository={target.repository}", "--set", f"image.tag={target.image_tag}"]
    load = tools.kind.argv_load([target.tag], cfg.cluster)

    def preloader() -> Preloader:
        return Preloader(tools.docker(), tools.kind, cfg.cluster, 1, cfg.timeouts["pull"])

    def build() -> str:
        client = tools.docker()
        base = memory_image.import_base(client) if target.base_image == LOCAL_BASE else target.base_image
        _image, size = memory_image.build(client, target.tag, base)
        s.evidence.add("image", {"tag": target.tag, "base": base, "bytes": size})
        return f"{target.tag} built ({size / 1e6:.0f} MB)"

    def contract() -> str:
        missing = missing_contract(kubectl, target)
        if missing:
            raise OpsError(f"the onboarding contract is incomplete in {target.namespace}: missing "
                           f"{', '.join(missing)}; run `inv app.onboard --ns {target.namespace} --mode {target.mode}` "
                           f"and create Secret {target.tokens_secret} (key tokens.json, docs/deploy.md)")
        return "settings ConfigMap, runtime Secret and tokens Secret present"

    def install() -> str:
        s.runner.run(upgrade, timeout=cfg.timeouts["helm"] + 60)
        return f"release {target.release} installed or upgraded in {target.namespace}"

    return [
        Step(f"build image {target.tag}", build, "sdk",
             f"docker SDK build {memory_image.DOCKERFILE} (BASE_IMAGE={target.base_image})",
             needed=lambda: bool(preloader().missing_locally([target.tag]))),
        Step("load the memory image into the kind node", lambda: preloader().load([target.tag]) and "loaded",
             "cli", format_argv(load), needed=lambda: bool(preloader().missing_on_node([target.tag]))),
        Step(f"onboarding contract in {target.namespace}", contract, "check",
             f"{target.namespace}-settings, {target.namespace}-runtime, {target.tokens_secret}"),
        Step(f"helm upgrade --install {target.release}", install, "cli", format_argv(upgrade),
             needed=lambda: bool(release_drift(kubectl, target))),
        Step(f"readiness gate {target.namespace}", lambda: wait_ready(kubectl, target.namespace,
                                                                       cfg.timeouts["readiness"]), "check",
             f"every pod in {target.namespace} Ready within {cfg.timeouts['readiness']}s, else name each and why",
             needed=lambda: bool(readiness(kubectl, target.namespace))),
    ]


def run_deploy(c, ns: str, mode=None, cluster=None, tag=None, base_image=None, evidence=False,
               runner=None, docker_client=None, console=None, sets=()):
    """`inv memory.deploy` with its seams exposed (runner, docker client, console) for tests.
    Evidence goes to docs/sprints/sprint-3/ (the sprint that brings the service onto the infra)."""
    from tasks.core.cli import session
    from tasks.kind import Tools, preflight_step
    from tasks.onboard.spec import check_namespace

    check_namespace(ns)
    inputs = {"ns": ns, **({"cluster": cluster} if cluster else {}), **({"tag": tag} if tag else {}),
              **({"base_image": base_image} if base_image else {})}
    with session(c, "memory.deploy", mode=mode, evidence=evidence, overrides={"cluster": cluster, "sprint": 3},
                 inputs=inputs, runner=runner, console=console, sets=sets) as s:
        tools = Tools(s, docker_client)
        target = Target(ns, s.cfg.mode, tag or image_tag(s.runner), base_image or DEFAULT_BASE)
        plan = s.plan(f"inv memory.deploy --mode={s.cfg.mode} --ns={ns} (cluster {s.cfg.cluster})")
        plan.add(preflight_step(s, tools, ("kubectl", "helm", "kind", "docker")))
        plan.extend(steps(s, tools, target))
        return s.run_plan(plan)


def plan_steps(s, tools, ns: str, tag: str | None = None, base_image: str | None = None) -> list[Step]:
    """The steps `inv kind.full --memory-ns=<ns>` appends after the shared infra's."""
    from tasks.onboard.spec import check_namespace
    check_namespace(ns)
    return steps(s, tools, Target(ns, s.cfg.mode, tag or image_tag(s.runner), base_image or DEFAULT_BASE))
