"""The memory image: built in the private dockerd on a Debian base made from Debian's
packages (cached outside the repo), run read-only with host networking on 127.0.0.1; it
answers /readyz 200, stores and recalls, runs as uid 10001 and reports healthy."""

from __future__ import annotations

import time

import pytest
import requests

from tasks.core import memory_image
from tasks.core.config import REPO_ROOT
from tests.fixtures._net import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]
TAG = "somastack/memory:test"
# what the embedded store does first, with the driver's own message (the service's start
# line names only the error class)
SQLITE_PROBE = ("import os, sqlite3; d = os.environ['SOMA_MEMORY_DATA_DIR']; os.makedirs(d, exist_ok=True); "
                "c = sqlite3.connect(d + '/probe.db'); print(c.execute('PRAGMA journal_mode=WAL').fetchone(), "
                "os.stat('/tmp'), os.getuid())")


def test_the_image_requirements_are_the_services_part_of_install_requires():
    # read as text: configparser drops the comment lines that mark the two halves
    lines = [l.strip() for l in (REPO_ROOT / "setup.cfg").read_text().splitlines()]
    start = lines.index("# memory engine and service") + 1
    end = lines.index("# the client (memory.client) and the MCP server (`python -m memory mcp`; 2.x: MCPServer,")
    service = [l for l in lines[start:end] if l and not l.startswith("#")]
    image = [l for l in (REPO_ROOT / memory_image.REQUIREMENTS).read_text().splitlines()
             if l and not l.startswith("#")]
    assert image == service


def test_the_context_holds_only_what_the_dockerfile_copies(tmp_path):
    import tarfile
    with tarfile.open(fileobj=memory_image.context_tar()) as tar:
        names = tar.getnames()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"infra", "pyproject.toml", "setup.cfg", "README.md", "memory"}
    assert not [n for n in names if n.startswith(("tests", "tasks", ".venv", "docs")) or "__pycache__" in n]


def test_a_built_wheel_ships_every_migration_revision(tmp_path):
    """The image installs the package from a wheel: before setup.cfg listed them, the Alembic
    revisions (a folder without __init__.py) were left out, and the embedded database of
    the image started without tables."""
    import sys
    import zipfile

    import sh
    import shutil
    src = tmp_path / "src"  # a copy: setuptools builds in the source tree (build/, egg-info)
    src.mkdir()
    for rel in ("pyproject.toml", "setup.cfg", "README.md"):
        shutil.copy(REPO_ROOT / rel, src / rel)
    shutil.copytree(REPO_ROOT / "memory", src / "memory", ignore=shutil.ignore_patterns("__pycache__"))
    sh.Command(sys.executable)("-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                               str(tmp_path), str(src), _cwd=str(tmp_path), _err_to_out=True)
    names = zipfile.ZipFile(next(tmp_path.glob("somastack-*.whl"))).namelist()
    revisions = sorted(p.name for p in (REPO_ROOT / "memory/store/migrations/versions").glob("*.py"))
    assert revisions and sorted(n.rsplit("/", 1)[1] for n in names
                                if n.startswith("memory/store/migrations/versions/")) == revisions


@pytest.fixture(scope="module")
def image(docker_daemon):
    client = docker_daemon.client()
    base = memory_image.import_base(client)
    img, size = memory_image.build(client, TAG, base, wheels=memory_image.wheelhouse())
    print(f"\nimage {TAG}: {size / 1e6:.0f} MB (base {client.images.get(base).attrs['Size'] / 1e6:.0f} MB)")
    yield img, size
    client.close()


def test_image_metadata(image):
    img, size = image
    cfg = img.attrs["Config"]
    assert cfg["User"] == "10001:10001"
    assert cfg["Entrypoint"] == ["python3", "-m", "memory"] and cfg["Cmd"] == ["serve"]
    assert cfg["Healthcheck"]["Test"][0] == "CMD" and "/healthz" in " ".join(cfg["Healthcheck"]["Test"])
    assert size < 1_000_000_000


def test_runs_read_only_and_serves(docker_daemon, image):
    client = docker_daemon.client()
    port = free_port()
    container = client.containers.run(
        TAG, detach=True, read_only=True, network_mode="host", tmpfs={"/tmp": "rw,size=256m,mode=1777"},
        environment={"SOMA_MEMORY_PORT": str(port), "SOMA_MEMORY_DIM": "16"}, name=f"memory-{port}")
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline:
            container.reload()
            if container.status not in ("created", "running"):
                probe = client.containers.run(TAG, entrypoint=["python3", "-c", SQLITE_PROBE], read_only=True,
                                              tmpfs={"/tmp": "rw,size=256m,mode=1777"}, remove=True,
                                              stderr=True).decode()
                pytest.fail(f"container exited: {container.logs().decode()[-3000:]}\nprobe: {probe}")
            try:
                status = requests.get(url + "/readyz", timeout=2).status_code
                if status == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        assert status == 200, container.logs().decode()[-3000:]
        vec = [float(i % 7 + 1) for i in range(16)]
        stored = requests.post(url + "/v1/memories", json={"vector": vec, "payload": {"img": 1}}, timeout=120)
        assert stored.status_code == 201, stored.text
        hits = requests.post(url + "/v1/recall", json={"vector": vec, "k": 1}, timeout=60).json()["results"]
        assert hits[0]["id"] == stored.json()["id"] and hits[0]["payload"] == {"img": 1}
        # non-root, and the root filesystem refuses writes
        uid = container.exec_run(["python3", "-c", "import os; print(os.getuid())"]).output.decode().strip()
        assert uid == "10001"
        write = container.exec_run(["python3", "-c", "open('/opt/memory/x', 'w')"])
        assert write.exit_code != 0 and b"Read-only file system" in write.output
        # the HEALTHCHECK reports healthy (interval 15 s)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            container.reload()
            health = container.attrs["State"].get("Health", {}).get("Status")
            if health == "healthy":
                break
            time.sleep(1)
        assert health == "healthy", container.attrs["State"].get("Health")
    finally:
        container.remove(force=True)
        client.close()
