"""The memory service image: a Debian base made from Debian's packages, then the Dockerfile.

Registries with base images are unreachable from the build machines, so the base is made
here: `debootstrap --variant=minbase` of Debian's python3 (the same mirror apt uses), packed
into a tarball cached outside the repository (~/.cache/somastack/images/) so it is built
once per machine, and `docker import`ed into whichever engine builds the image. The
Dockerfile (infra/docker/memory.Dockerfile) takes that base as its `BASE_IMAGE` build
argument; CI passes a published python image instead.

    base_rootfs()                       the cached tarball (built on first use, under a lock)
    import_base(client, tag)            `docker import` of it into an engine (docker SDK)
    wheelhouse()                        the run-time wheels, cached, for builds with no index
    build(client, tag, base, wheels)    the image, through the SDK; returns (image, size)
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import pathlib
import re
import shutil
import tarfile
import sys
import tempfile

import sh

from tasks.core.config import REPO_ROOT
from tasks.core.errors import OpsError

SUITE = "bookworm"
# What the runtime needs and nothing else: the interpreter, venv for the builder stage, CA
# certificates for TLS to PostgreSQL and Kafka. libpq and librdkafka come in the wheels.
PACKAGES = ("python3", "python3-venv", "ca-certificates")
BASE_TAG = "soma-base/python3:bookworm"
DOCKERFILE = "infra/docker/memory.Dockerfile"
REQUIREMENTS = "infra/docker/requirements-memory.txt"
IMAGE = "somastack/memory"
SOURCES = pathlib.Path("/etc/apt/sources.list.d/debian.sources")


def cache_dir() -> pathlib.Path:
    base = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    return base / "somastack" / "images"


def base_tarball() -> pathlib.Path:
    return cache_dir() / f"debian-{SUITE}-{'-'.join(p.replace('python3-', 'py') for p in PACKAGES)}-slim.tar"


def apt_mirror(sources: pathlib.Path = SOURCES, legacy: pathlib.Path = pathlib.Path("/etc/apt/sources.list")) -> str:
    """The Debian mirror this machine's apt uses (deb822 or one-line format)."""
    for path in (sources, legacy):
        if not path.is_file():
            continue
        text = path.read_text()
        for match in re.finditer(r"^URIs:\s*(\S+)", text, re.M):
            if not match.group(1).rstrip("/").endswith("-security"):
                return match.group(1)
        for match in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", text, re.M):
            return match.group(1)
    raise OpsError("no Debian mirror found in the apt sources; cannot debootstrap the base image")


def base_rootfs(log=None) -> pathlib.Path:
    """The cached root filesystem tarball, built with debootstrap when missing."""
    target = base_tarball()
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".base.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be building it right now
        if target.is_file():
            return target
        if not shutil.which("debootstrap"):
            raise OpsError("debootstrap is missing: apt-get install debootstrap (inv dev.test.setup)")
        with tempfile.TemporaryDirectory(prefix="soma-rootfs-") as scratch:
            root = pathlib.Path(scratch) / "root"
            sh.Command("debootstrap")("--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
                                      str(root), apt_mirror(), _out=log, _err_to_out=True, _timeout=1800)
            # an image needs no package lists or caches: smaller, nothing stale inside
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for entry in (root / junk).glob("*"):
                    if entry.is_file():
                        entry.unlink()
            tmp = target.with_suffix(".part")
            with tarfile.open(tmp, "w") as tar:
                tar.add(root, arcname=".", filter=_slim)
            tmp.rename(target)  # atomic: a killed build never leaves half a tarball
    return target


# Documentation, manual pages and translations: a runtime never reads them (as Debian's
# own slim images drop them); the licences under usr/share/doc/*/copyright stay.
TRIM = ("./usr/share/doc/", "./usr/share/man/", "./usr/share/info/", "./usr/share/locale/")


def _slim(info: tarfile.TarInfo):
    if info.name.startswith(TRIM) and not info.name.endswith("/copyright") and not info.isdir():
        return None
    return info


def import_base(client, tag: str = BASE_TAG, log=None) -> str:
    """`docker import` the cached rootfs into this engine (no-op when it holds the tag)."""
    import docker
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    repo, _, version = tag.partition(":")
    with open(base_rootfs(log), "rb") as fh:
        client.api.import_image_from_data(fh.read(), repository=repo, tag=version or "latest")
    return tag


def wheelhouse(log=None) -> pathlib.Path:
    """The run-time wheels (plus setuptools and wheel for the package build), downloaded once
    per requirements content into the cache, so a build inside the engine needs no index."""
    reqs = REPO_ROOT / REQUIREMENTS
    digest = hashlib.sha256(reqs.read_bytes()).hexdigest()[:12]
    target = cache_dir() / f"wheels-{digest}"
    if (target / ".complete").is_file():
        return target
    target.mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / ".wheels.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".complete").is_file():
            sh.Command(sys.executable)("-m", "pip", "download", "-q", "--only-binary=:all:", "-d", str(target),
                                       "-r", str(reqs), "setuptools>=68", "wheel", _out=log, _err_to_out=True,
                                       _timeout=1800)
            (target / ".complete").write_text(digest)
    return target


def context_tar(wheels: pathlib.Path | None = None) -> io.BytesIO:
    """The build context: exactly the files the Dockerfile copies (as .dockerignore lets
    through), plus the wheelhouse under infra/docker/wheels/ when given."""
    buf = io.BytesIO()
    skip = lambda info: None if "__pycache__" in info.name or info.name.endswith(".pyc") else info
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for rel in (DOCKERFILE, REQUIREMENTS, "pyproject.toml", "setup.cfg", "README.md", "memory"):
            tar.add(REPO_ROOT / rel, arcname=rel, filter=skip)
        if wheels is not None:
            for whl in sorted(wheels.glob("*.whl")):
                tar.add(whl, arcname=f"infra/docker/wheels/{whl.name}")
    buf.seek(0)
    return buf


def build(client, tag: str, base: str, *, wheels: pathlib.Path | None = None, network_mode: str = "host"):
    """Build the image through the SDK; returns (image, size in bytes). With `wheels` the
    build installs from them only (PIP_NO_INDEX=1). docker.errors.BuildError on failure."""
    buildargs = {"BASE_IMAGE": base}
    if wheels is not None:
        buildargs["PIP_NO_INDEX"] = "1"
    image, _logs = client.images.build(fileobj=context_tar(wheels), custom_context=True, dockerfile=DOCKERFILE,
                                       tag=tag, buildargs=buildargs, network_mode=network_mode, rm=True,
                                       forcerm=True, timeout=1800)
    image.reload()
    return image, int(image.attrs["Size"])
