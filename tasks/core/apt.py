"""Debian packages, installed once and only when missing: the one apt installer of the library.

Every caller (the test harness, the kube-apiserver build) names packages by a file each one
installs, so a present package costs a stat, not an apt run. apt waits for the dpkg lock
instead of failing at once: another apt (a parallel setup, unattended upgrades) may hold it.
"""

from __future__ import annotations

import os
from typing import Mapping

from tasks.core.runner import Runner

ENV = {"DEBIAN_FRONTEND": "noninteractive"}
LOCK_WAIT = ("-o", "DPkg::Lock::Timeout=900")


def missing(probes: Mapping[str, str]) -> list[str]:
    """Packages of {package: file it installs} whose file is absent."""
    return [pkg for pkg, probe in probes.items() if not os.path.exists(probe)]


def update_argv() -> list[str]:
    return ["apt-get", *LOCK_WAIT, "update", "-qq"]


def install_argv(packages: list[str]) -> list[str]:
    return ["apt-get", *LOCK_WAIT, "install", "-y", "-qq", "--no-install-recommends", *packages]


def update(runner: Runner) -> None:
    runner.run(update_argv(), timeout=900, env=ENV)


def install(runner: Runner, packages: list[str], refresh: bool = True) -> list[str]:
    """Install `packages` (refreshing the lists first); returns what was installed."""
    if packages:
        if refresh:
            update(runner)
        runner.run(install_argv(packages), timeout=1800, env=ENV)
    return list(packages)
