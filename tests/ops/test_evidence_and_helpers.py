"""Evidence files, kube build helpers, image references, preflight verdicts."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from invoke import Exit

from tasks import kube
from tasks.core.evidence import Evidence
from tasks.core.images import _normalise, node_image_refs, split_ref
from tasks.core.plan import Plan, Step
from tasks.core.runner import RecordingRunner, Redactor
from tasks.preflight import run_preflight
from tests.ops.conftest import make_console, make_context, output

FIXED = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc)


def test_evidence_writes_transcript_and_record_redacted(tmp_path):
    ev = Evidence(tmp_path / "sprint-2", task="kind.full", inputs={"mode": "dev", "token": "tok-12345"},
                  redact=Redactor(["tok-12345"]), clock=lambda tz=None: FIXED)
    with ev.recording() as console:
        ev.tools = {"kubectl": "1.32.4"}
        plan = Plan("inv kind.full", console=console)
        plan.add(Step("say", lambda: "hello tok-12345"))
        ev.add_plan(plan.run())
    transcript, record = ev.written
    assert transcript.name == "kind-full-20260304T050607Z.txt" and record.suffix == ".json"
    data = json.loads(record.read_text())
    assert data["outcome"] == "ok" and data["inputs"]["token"] == "***"
    assert data["plans"][0]["steps"][0]["state"] == "done"
    assert "tok-12345" not in transcript.read_text() and "hello ***" in transcript.read_text()
    assert not list(tmp_path.rglob(".*.tmp"))  # nothing half-written left behind


def test_evidence_disabled_writes_nothing(tmp_path):
    ev = Evidence(tmp_path, task="reset", enabled=False)
    with ev.recording():
        pass
    assert ev.written is None and list(tmp_path.iterdir()) == []


def test_deb_src_detection_reads_both_apt_formats(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text("Types: deb\nURIs: http://deb.debian.org/debian\n")
    assert kube.deb_src_enabled(tmp_path) is False
    (tmp_path / "sources.list.d" / "x.list.disabled-by-farm").write_text("deb-src http://example bookworm main\n")
    assert kube.deb_src_enabled(tmp_path) is False
    (tmp_path / "sources.list").write_text("# deb-src commented\ndeb-src http://deb.debian.org/debian bookworm main\n")
    assert kube.deb_src_enabled(tmp_path) is True
    (tmp_path / "sources.list").unlink()
    (tmp_path / "sources.list.d" / "src.sources").write_text("Types: deb deb-src\nURIs: http://x\n")
    assert kube.deb_src_enabled(tmp_path) is True


def test_kube_binaries_are_cached_outside_the_repository(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kube.binary_dir() == tmp_path / "somastack" / "kube" / f"{kube.KUBE_VERSION}-{kube.RECIPE}"
    assert kube.missing_binaries() == list(kube.BINARIES)
    for path in kube.binary_paths().values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    # Present: ensure_binaries returns without building (a runner that records nothing).
    recorder = RecordingRunner()
    assert kube.ensure_binaries(runner=recorder) == kube.binary_paths()
    assert recorder.calls == []


def test_kube_build_is_a_plan_that_dry_runs_and_is_all_set_once_built(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    recorder = RecordingRunner()  # nothing may run: any call would fail loudly
    console = make_console()

    dry = kube.build_plan(recorder, console=console).run(dry=True)

    states = {s.name: s.state for s in dry.steps}
    assert states["fetch the kubernetes source package"] == "change"  # empty cache folder
    assert states["go build kube-apiserver"] == states["go build kube-controller-manager"] == "change"
    assert recorder.calls == []
    assert "go build -ldflags '-s -w' -o" in output(console)

    for path in kube.binary_paths().values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        path.chmod(0o755)
    again = kube.build_plan(recorder, console=make_console()).run()
    assert again.outcome == "all-set" and recorder.calls == []


def test_image_references():
    assert split_ref("docker.io/bitnamilegacy/kafka:3.7.0-debian-12-r0") == ("docker.io/bitnamilegacy/kafka", "3.7.0-debian-12-r0")
    assert split_ref("localhost:5000/app") == ("localhost:5000/app", "latest")
    crictl = json.dumps({"images": [{"repoTags": ["docker.io/library/redis:7.2.4-alpine"], "repoDigests": []}]})
    held = node_image_refs(crictl)
    assert _normalise("redis:7.2.4-alpine") & held
    assert not (_normalise("redis:7.2.5-alpine") & held)


def preflight_recorder(kubectl="v1.30.1", helm="v4.0.2", kind="kind v0.22.0 go1.21 linux/amd64", docker="27.1.1"):
    return RecordingRunner(tools=("kubectl", "helm", "kind", "docker"), replies={
        ("kubectl", "version"): (json.dumps({"clientVersion": {"gitVersion": kubectl}}), "", 0),
        ("helm", "version"): (helm, "", 0),
        ("kind", "version"): (kind, "", 0),
        ("docker", "--version"): (f"Docker version {docker}, build abc", "", 0)})


def test_preflight_names_each_failure_and_detects_helm4():
    console = make_console()

    def unreachable():
        raise ConnectionError("Cannot connect to the Docker daemon")

    with pytest.raises(Exit) as failed:
        run_preflight(make_context(), runner=preflight_recorder(), docker_ping=unreachable, console=console)
    assert failed.value.code == 127
    assert "2 check(s) failed: kind, docker engine" in str(failed.value.message)
    text = output(console)
    assert "install kind >= 0.24 (found 0.22.0)" in text and "NetworkPolicy" in text
    assert "Helm 4 detected" in text


def test_preflight_passes_with_current_tools():
    console = make_console()
    checks = run_preflight(make_context(), runner=preflight_recorder(kind="kind v0.27.0 go1.23 linux/amd64", helm="v3.16.4"),
                           docker_ping=lambda: True, console=console)
    assert {c.name: c.found for c in checks if c.name in ("kubectl", "helm", "kind", "docker")} == {
        "kubectl": "1.30.1", "helm": "3.16.4", "kind": "0.27.0", "docker": "27.1.1"}
    assert "preflight passed" in output(console)


def test_preflight_exit_1_when_only_a_capability_is_missing():
    def unreachable():
        raise ConnectionError("Cannot connect to the Docker daemon")

    with pytest.raises(Exit) as failed:
        run_preflight(make_context(), runner=preflight_recorder(kind="kind v0.27.0 go1.23 linux/amd64"),
                      docker_ping=unreachable, console=make_console())
    assert failed.value.code == 1
    assert "1 check(s) failed: docker engine" in str(failed.value.message)


def test_helm_status_keeps_what_a_person_sees_and_refuses_non_json():
    from tasks.core.errors import OpsError
    from tasks.core.helm import Helm

    release = {"name": "sharedinfra", "namespace": "soma-infra", "version": 3,
               "info": {"status": "deployed", "notes": "hello"}, "config": {"pw": "s3cret-pw"},
               "manifest": "kind: Secret", "hooks": [{"manifest": "x"}],
               "chart": {"metadata": {"name": "soma-infra", "version": "0.2.0", "appVersion": "0.2.0"},
                         "values": {"pw": "chart-pw"}, "templates": [{"name": "t", "data": "eA=="}]}}
    helm = Helm(RecordingRunner(tools=("helm",), replies={("helm", "status"): (json.dumps(release), "", 0)}))
    assert helm.status("sharedinfra", "soma-infra") == {
        "name": "sharedinfra", "namespace": "soma-infra", "version": 3,
        "info": {"status": "deployed", "notes": "hello"},
        "chart": {"name": "soma-infra", "version": "0.2.0", "appVersion": "0.2.0"}}
    broken = Helm(RecordingRunner(tools=("helm",), replies={("helm", "status"): ("WARNING: not json", "", 0)}))
    with pytest.raises(OpsError, match="helm status printed no JSON release"):
        broken.status("sharedinfra", "soma-infra")
