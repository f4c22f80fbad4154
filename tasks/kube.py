"""`inv kube.build`: kube-apiserver and kube-controller-manager from Debian's source package.

No registry ships these binaries, and the Go module proxy is unreachable, so the only way to
a real API server here is Debian's `kubernetes` *source* package, whose tarball vendors every
dependency. The build follows debian/rules: GOPATH mode (module mode fails with "updates to
go.mod needed, disabled by -mod=vendor"), `make generated_files` first (else
`undefined: openapi.GetOpenAPIDefinitions`), then `go build` per command.

The vendored `modern-go/reflect2` 1.0.1 faults under Go >= 1.18 (`fatal error: fault` on the
first custom-resource write), so before building, it and `json-iterator/go` are replaced with the
sources of Debian's own fixed packages (reflect2 1.0.2, json-iterator 1.1.12).

The result is cached OUTSIDE the repository, in ~/.cache/somastack/kube/<version>-<recipe>/ (the Go
cache is ~1.6 GB, the binaries ~110 MB each), so `ensure_binaries()` builds only when a binary
is missing. The build is a plan like every task's (`inv --dry kube.build` shows it); each step
asks again whether it is needed, so a killed build resumes. A file lock keeps two builds
from running at once; binaries are written under a temporary name and renamed, so a killed
build never leaves a half-written binary behind.
"""

from __future__ import annotations

import fcntl
import glob
import os
import pathlib
import shutil
from contextlib import contextmanager

from invoke import task

from tasks.core import apt
from tasks.core.cli import session
from tasks.core.plan import Plan, Step
from tasks.core.runner import Runner

# Pinned: the cache folder is named after the upstream release inside this Debian version.
DEBIAN_VERSION = "1.20.5+really1.20.2-1.1+deb12u1"
KUBE_VERSION = "v1.20.2"
# Bumped whenever the build recipe changes, so binaries from an older recipe are never reused.
RECIPE = "r2"
# vendor path -> (Debian package, path of its Go source inside the package)
VENDOR_FIXES = {
    "vendor/github.com/modern-go/reflect2": (
        "golang-github-modern-go-reflect2-dev", "usr/share/gocode/src/github.com/modern-go/reflect2"),
    "vendor/github.com/json-iterator/go": (
        "golang-github-json-iterator-go-dev", "usr/share/gocode/src/github.com/json-iterator/go"),
}
BINARIES = ("kube-apiserver", "kube-controller-manager")
BUILD_DEPS = {"golang-go": "/usr/bin/go", "dpkg-dev": "/usr/bin/dpkg-source",
              "rsync": "/usr/bin/rsync", "jq": "/usr/bin/jq", "make": "/usr/bin/make"}
DEB_SRC_FILE = pathlib.Path("/etc/apt/sources.list.d/somastack-debsrc.sources")
DEB_SRC = """\
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
APT_ENV = apt.ENV


def cache_root() -> pathlib.Path:
    return pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache") / "somastack" / "kube"


def binary_dir(version: str = KUBE_VERSION) -> pathlib.Path:
    return cache_root() / f"{version}-{RECIPE}"


def binary_paths(version: str = KUBE_VERSION) -> dict[str, pathlib.Path]:
    return {name: binary_dir(version) / name for name in BINARIES}


def missing_binaries(version: str = KUBE_VERSION) -> list[str]:
    return [n for n, p in binary_paths(version).items() if not os.access(p, os.X_OK)]


def deb_src_enabled(sources_dir: pathlib.Path = pathlib.Path("/etc/apt")) -> bool:
    """True when any apt source (one-line or deb822 format) already offers deb-src."""
    files = [sources_dir / "sources.list", *sorted((sources_dir / "sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file() or path.name.endswith((".disabled", ".save")) or "disabled" in path.name:
            continue
        for line in path.read_text(errors="replace").splitlines():
            words = line.split()
            if words and (words[0] == "deb-src" or (words[0] == "Types:" and "deb-src" in words[1:])):
                return True
    return False


def enable_deb_src(runner: Runner) -> bool:
    """Add a deb-src entry once (idempotent); returns True when it changed apt's sources."""
    if deb_src_enabled():
        return False
    tmp = DEB_SRC_FILE.with_suffix(".tmp")
    tmp.write_text(DEB_SRC)
    os.replace(tmp, DEB_SRC_FILE)
    apt.update(runner)
    return True


def install_build_deps(runner: Runner) -> list[str]:
    # the lists were refreshed when deb-src was enabled (the step before this one)
    return apt.install(runner, apt.missing(BUILD_DEPS), refresh=False)


def gopath_package(work: pathlib.Path) -> pathlib.Path:
    """The source tree as GOPATH sees it (a symlink into the unpacked package)."""
    return work / "src" / ".go" / "src" / "k8s.io" / "kubernetes"


def source_tree(runner: Runner, work: pathlib.Path) -> pathlib.Path:
    """Download and unpack the source package once; returns the GOPATH package folder."""
    src = work / "src"
    if not (src / "debian" / "rules").exists():
        work.mkdir(parents=True, exist_ok=True)
        if not glob.glob(str(work / "kubernetes_*.dsc")):
            pinned = runner.run(["apt-get", "source", "--download-only", f"kubernetes={DEBIAN_VERSION}"],
                                timeout=900, cwd=work, env=APT_ENV, check=False)
            if not pinned.ok:  # a newer Debian security update replaced the pinned revision
                runner.run(["apt-get", "source", "--download-only", "kubernetes"],
                           timeout=900, cwd=work, env=APT_ENV)
        dsc = sorted(glob.glob(str(work / "kubernetes_*.dsc")))[-1]
        shutil.rmtree(src, ignore_errors=True)
        for stale in ("generated.ok", *(m.name for m in work.glob("vendor-*.ok"))):
            (work / stale).unlink(missing_ok=True)  # new tree: generate and patch again
        runner.run(["dpkg-source", "-x", dsc, str(src)], timeout=900, cwd=work)
    link = gopath_package(work)
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("../../..")
    return link


def patch_vendor(runner: Runner, work: pathlib.Path) -> bool:
    """Swap the Go-1.18-incompatible vendored packages for Debian's fixed sources (once)."""
    marker = work / f"vendor-{RECIPE}.ok"
    if marker.exists():
        return False
    debs = work / "debs"
    shutil.rmtree(debs, ignore_errors=True)
    debs.mkdir(parents=True)
    packages = sorted({pkg for pkg, _ in VENDOR_FIXES.values()})
    runner.run(["apt-get", "download", *packages], timeout=600, cwd=debs, env=APT_ENV)
    for deb in sorted(debs.glob("*.deb")):
        runner.run(["dpkg-deb", "-x", str(deb), str(debs / "root")], timeout=300)
    for vendor_path, (_pkg, source) in VENDOR_FIXES.items():
        target = work / "src" / vendor_path
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(debs / "root" / source, target,
                        ignore=shutil.ignore_patterns("*_test.go", "testdata"), symlinks=False)
    marker.write_text("ok\n")
    return True


def go_env(work: pathlib.Path) -> dict[str, str]:
    # PWD must name the GOPATH symlink: Go trusts $PWD for the working directory, and only
    # through the symlink does the tree sit inside GOPATH (as `cd` in debian/rules gives).
    pkg = gopath_package(work)
    return {"PWD": str(pkg), "GOPATH": str(work / "src" / ".go"), "GO111MODULE": "off", "GOPROXY": "off",
            "CGO_ENABLED": "0", "GOFLAGS": "", "GOCACHE": str(cache_root() / "go-build"),
            "HOME": str(work / "home")}


def shown(path: pathlib.Path) -> str:
    """A cache path as printed in plans and evidence: the home folder as `~`, not a machine path."""
    home = pathlib.Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)


def build_steps(runner: Runner, version: str = KUBE_VERSION) -> list[Step]:
    """The build as plan steps; each asks whether it is still needed (markers in the work
    folder), so a build killed halfway resumes where it stopped."""
    work = cache_root() / "work"
    out = binary_dir(version)
    pkg = gopath_package(work)

    def unless_built(needed):
        # With every binary in the cache nothing is needed, whatever the work folder holds.
        return lambda: bool(missing_binaries(version)) and needed()

    def make_generated() -> str:
        (work / "home").mkdir(parents=True, exist_ok=True)
        runner.run(["make", "generated_files"], timeout=3600, cwd=pkg, env=go_env(work))
        (work / "generated.ok").write_text("ok\n")
        return "generated files made"

    def go_build(name: str):
        def action() -> str:
            out.mkdir(parents=True, exist_ok=True)
            (work / "home").mkdir(parents=True, exist_ok=True)
            tmp = out / f".{name}.tmp"
            runner.run(["go", "build", "-ldflags", "-s -w", "-o", str(tmp), f"./cmd/{name}"],
                       timeout=3600, cwd=pkg, env=go_env(work))
            os.replace(tmp, out / name)
            return f"{name} -> {shown(out / name)}"
        return action

    steps = [
        Step("enable deb-src", lambda: enable_deb_src(runner) and "deb-src entry added", "cli",
             f"write {DEB_SRC_FILE}; apt-get update", needed=unless_built(lambda: not deb_src_enabled())),
        Step("install build dependencies", lambda: "installed " + ", ".join(install_build_deps(runner)), "cli",
             f"apt-get install {' '.join(BUILD_DEPS)}",
             needed=unless_built(lambda: any(not os.path.exists(probe) for probe in BUILD_DEPS.values()))),
        Step("fetch the kubernetes source package", lambda: str(source_tree(runner, work)), "cli",
             f"apt-get source --download-only kubernetes={DEBIAN_VERSION}; dpkg-source -x",
             needed=unless_built(lambda: not (work / "src" / "debian" / "rules").exists() or not pkg.exists())),
        Step("replace vendored reflect2 and json-iterator", lambda: patch_vendor(runner, work) and "replaced",
             "cli", f"apt-get download {' '.join(sorted({p for p, _ in VENDOR_FIXES.values()}))}; dpkg-deb -x",
             needed=unless_built(lambda: not (work / f"vendor-{RECIPE}.ok").exists())),
        Step("make generated_files", make_generated, "cli", "make generated_files  (about 1-2 min)",
             needed=unless_built(lambda: not (work / "generated.ok").exists())),
    ]
    for name in BINARIES:
        steps.append(Step(f"go build {name}", go_build(name), "cli",
                          f"go build -ldflags '-s -w' -o {shown(out / name)} ./cmd/{name}  (about 1-3 min)",
                          needed=lambda name=name: name in missing_binaries(version)))
    return steps


def build_plan(runner: Runner, version: str = KUBE_VERSION, console=None) -> Plan:
    plan = Plan(f"inv kube.build ({version}, cached in {shown(binary_dir(version))})", console=console)
    plan.extend(build_steps(runner, version))
    return plan


@contextmanager
def build_lock():
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / ".build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # a second build waits, then finds the binaries
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_binaries(runner: Runner | None = None, version: str = KUBE_VERSION, console=None) -> dict[str, pathlib.Path]:
    """Return the binary paths, building them first only when one is missing."""
    if missing_binaries(version):
        with build_lock():  # a second build waits here, then finds the binaries
            if missing_binaries(version):
                build_plan(runner or Runner(timeout=3600), version, console).run()
    return binary_paths(version)


@task(default=True, help={"evidence": "write a transcript and JSON run record"})
def build(c, evidence=False):
    """Build kube-apiserver + kube-controller-manager from Debian source (cached; skips when present)."""
    with session(c, "kube.build", evidence=evidence) as s:
        plan = build_plan(s.runner, console=s.console)
        if s.dry or not missing_binaries():
            return s.run_plan(plan)  # the table, then "dry run" or "all set"
        with build_lock():
            return s.run_plan(plan)
