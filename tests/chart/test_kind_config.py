"""infra/kind/soma-kind.yaml: a kind v1alpha4 cluster with a pinned node image and loopback
NodePort mappings. kind itself cannot run here, so the file is checked against kind's
v1alpha4 field names and the rules kind applies when it loads the config."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
import yaml

from tasks.core import chart
from tasks.core.config import MODES, REPO_ROOT

KIND_CONFIG = REPO_ROOT / "infra" / "kind" / "soma-kind.yaml"
# Field names of kind's v1alpha4 Cluster and Node types (pkg/apis/config/v1alpha4/types.go).
CLUSTER_FIELDS = {"kind", "apiVersion", "name", "nodes", "networking", "featureGates", "runtimeConfig",
                  "kubeadmConfigPatches", "kubeadmConfigPatchesJSON6902", "containerdConfigPatches",
                  "containerdConfigPatchesJSON6902"}
NODE_FIELDS = {"role", "image", "labels", "extraMounts", "extraPortMappings", "kubeadmConfigPatches",
               "kubeadmConfigPatchesJSON6902"}
PORT_FIELDS = {"containerPort", "hostPort", "listenAddress", "protocol"}
PINNED = re.compile(r"^kindest/node:v(\d+)\.(\d+)\.(\d+)@sha256:[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def config():
    return yaml.safe_load(KIND_CONFIG.read_text())


def test_is_a_kind_v1alpha4_cluster_named_soma(config):
    assert config["kind"] == "Cluster" and config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert config["name"] == "soma"
    assert set(config) <= CLUSTER_FIELDS
    assert [n["role"] for n in config["nodes"]] == ["control-plane"]
    for node in config["nodes"]:
        assert set(node) <= NODE_FIELDS


def test_node_image_is_pinned_by_digest_to_a_validated_kubernetes(config):
    for node in config["nodes"]:
        match = PINNED.match(node["image"])
        assert match, node["image"]
        major, minor, patch = map(int, match.groups())
        assert (major, minor) >= (1, 30)  # the oldest version the chart is validated for
        # The validator ships schemas for it, so the chart is checked at the node's version too.
        assert f"{major}.{minor}.0" in kubernetes_validate.utils.all_versions()


def test_chart_manifests_are_valid_for_the_kind_node_version(config, rendered):
    major, minor, _ = PINNED.match(config["nodes"][0]["image"]).groups()
    version = f"{major}.{minor}.0"
    for mode in MODES:
        docs = rendered[mode].documents()
        assert chart.validate_manifests(docs, version) == len(docs)


def test_port_mappings_publish_nodeports_on_loopback_only(config):
    mappings = [m for n in config["nodes"] for m in n.get("extraPortMappings", [])]
    assert {m["containerPort"] for m in mappings} == {30797, 30095}
    for m in mappings:
        assert set(m) <= PORT_FIELDS
        assert 30000 <= m["containerPort"] <= 32767  # the default NodePort range
        assert m["hostPort"] == m["containerPort"]
        assert m["listenAddress"] == "127.0.0.1"
        assert m["protocol"] == "TCP"
    hosts = [m["hostPort"] for m in mappings]
    assert len(hosts) == len(set(hosts))


def test_kubelet_patch_is_a_kubelet_configuration(config):
    patches = [yaml.safe_load(p) for n in config["nodes"] for p in n.get("kubeadmConfigPatches", [])]
    (kubelet,) = [p for p in patches if p["kind"] == "KubeletConfiguration"]
    assert kubelet["maxPods"] == 150
    assert set(kubelet["evictionHard"]) == {"nodefs.available", "nodefs.inodesFree", "imagefs.available"}
    assert all(re.fullmatch(r"\d+%", v) for v in kubelet["evictionHard"].values())
