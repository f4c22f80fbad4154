"""Image preload for a kind cluster: bounded parallel pulls through the docker SDK, then
`kind load docker-image` for what the node does not have yet, each image timed.

    pre = Preloader(client, kind, cluster="soma", parallel=3)
    pre.missing_locally(images)     # not in the local engine -> need a pull
    pre.pull(images)                # [ImageTiming], in parallel, errors collected not raised
    pre.missing_on_node(images)     # not in the node's containerd (crictl via the SDK exec)
    pre.needs_pull(images)          # neither on the node nor in the engine
    pre.load(images)                # one `kind load docker-image` per image, timed

A failed pull does not stop the others; the step then fails once, naming every image that
failed and why. All SDK errors surface as OpsError so a plan can show them.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from tasks.core.errors import OpsError


@dataclass
class ImageTiming:
    image: str
    action: str  # pulled | present | failed | loaded
    seconds: float
    error: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def split_ref(image: str) -> tuple[str, str]:
    """repository, tag (or digest); a port in the registry host is not a tag."""
    if "@" in image:
        repo, digest = image.split("@", 1)
        return repo, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = image.rsplit(":", 1)
        return repo, tag
    return image, "latest"


def node_image_refs(crictl_json: str) -> set[str]:
    """Every tag and digest reference in `crictl images -o json` output."""
    refs = set()
    for image in json.loads(crictl_json or "{}").get("images") or []:
        refs.update(image.get("repoTags") or [])
        refs.update(image.get("repoDigests") or [])
    return refs


def _normalise(image: str) -> set[str]:
    """Spellings of one reference: containerd lists Docker Hub images fully qualified."""
    first = image.split("/")[0]
    has_registry = "/" in image and ("." in first or ":" in first or first == "localhost")
    if not has_registry:
        image = "docker.io/" + image
    names = {image}
    if image.startswith("docker.io/"):
        rest = image[len("docker.io/"):]
        if "/" not in rest.split(":")[0]:
            rest = "library/" + rest
        names |= {"docker.io/" + rest, rest}
        if rest.startswith("library/"):
            names.add(rest[len("library/"):])
    return names


class Preloader:
    def __init__(self, client, kind=None, cluster: str = "soma", parallel: int = 3,
                 pull_timeout: float = 600, clock=time.monotonic):
        self.client = client
        self.kind = kind
        self.cluster = cluster
        self.parallel = max(1, int(parallel))
        self.pull_timeout = pull_timeout
        self.clock = clock

    def _has_local(self, image: str) -> bool:
        import docker.errors

        try:
            self.client.images.get(image)
            return True
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.DockerException as exc:
            raise OpsError(f"docker engine: {exc}") from None

    def missing_locally(self, images) -> list[str]:
        return [image for image in images if not self._has_local(image)]

    def _pull_one(self, image: str) -> ImageTiming:
        import docker.errors

        t0 = self.clock()
        if self._has_local(image):
            return ImageTiming(image, "present", 0.0)
        repo, tag = split_ref(image)
        try:
            self.client.images.pull(repo, tag=tag)
            return ImageTiming(image, "pulled", self.clock() - t0)
        except docker.errors.DockerException as exc:
            return ImageTiming(image, "failed", self.clock() - t0, str(exc)[:300])

    def pull(self, images) -> list[ImageTiming]:
        with ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="pull") as pool:
            timings = list(pool.map(self._pull_one, images))
        failed = [t for t in timings if t.action == "failed"]
        if failed:
            raise OpsError("pull failed for " + "; ".join(f"{t.image}: {t.error}" for t in failed))
        return timings

    @property
    def node_name(self) -> str:
        return f"{self.cluster}-control-plane"

    def node_images(self) -> set[str] | None:
        """References the kind node already holds; None when the node container is absent."""
        import docker.errors

        try:
            node = self.client.containers.get(self.node_name)
        except docker.errors.NotFound:
            return None
        except docker.errors.DockerException as exc:
            raise OpsError(f"docker engine: {exc}") from None
        code, output = node.exec_run(["crictl", "images", "-o", "json"])
        if code != 0:
            raise OpsError(f"crictl images in {self.node_name} failed: {output.decode(errors='replace')[:300]}")
        return node_image_refs(output.decode())

    def missing_on_node(self, images) -> list[str]:
        held = self.node_images()
        if held is None:
            return list(images)
        return [image for image in images if not (_normalise(image) & held)]

    def needs_pull(self, images) -> list[str]:
        """Images neither the kind node nor the local engine holds: the only ones to pull."""
        return self.missing_locally(self.missing_on_node(images))

    def load(self, images) -> list[ImageTiming]:
        timings = []
        for image in images:
            t0 = self.clock()
            self.kind.runner.run(self.kind.argv_load([image], self.cluster), timeout=self.pull_timeout)
            timings.append(ImageTiming(image, "loaded", self.clock() - t0))
        return timings
