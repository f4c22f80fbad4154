"""NetworkPolicies: default deny, then exactly the paths the playbook allows."""

from __future__ import annotations

import pytest

from tasks.core import chart
from tasks.core.config import MODES

from .conftest import by_kind, write_yaml

PREFIX = "sharedinfra-soma-infra-"
LABEL = {"soma.sh/allow-shared-infra": "true"}


def policies(rendered_mode):
    return {name.removeprefix(PREFIX): doc["spec"] for name, doc in by_kind(rendered_mode, "NetworkPolicy").items()}


@pytest.mark.parametrize("mode", MODES)
def test_default_deny_covers_every_pod_both_ways(rendered, mode):
    deny = policies(rendered[mode])["default-deny"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


@pytest.mark.parametrize("mode", MODES)
def test_only_labelled_namespaces_get_in(rendered, mode):
    spec = policies(rendered[mode])["allow-labelled-namespaces"]
    assert spec["podSelector"] == {}
    # One peer, selected by namespace label only: no ipBlock, no "any namespace".
    assert spec["ingress"] == [{"from": [{"namespaceSelector": {"matchLabels": LABEL}}]}]
    assert spec["egress"] == [{"to": [{"namespaceSelector": {"matchLabels": LABEL}}]}]


@pytest.mark.parametrize("mode", MODES)
def test_strimzis_own_listener_policy_admits_the_same_peers(rendered, mode):
    """Strimzi writes a NetworkPolicy per listener, open to all unless peers are named; ours
    name exactly this namespace and the labelled ones, so it cannot widen the access policy."""
    kafka = by_kind(rendered[mode], "Kafka")["sharedinfra-kafka"]
    [listener] = kafka["spec"]["kafka"]["listeners"]
    assert listener["networkPolicyPeers"] == [{"podSelector": {}}, {"namespaceSelector": {"matchLabels": LABEL}}]


def test_without_our_policies_strimzi_keeps_its_default(tmp_path):
    off = chart.render("dev", extra_files=[write_yaml(tmp_path / "np.yaml", {"networkPolicy": {"enabled": False}})])
    [listener] = by_kind(off, "Kafka")["sharedinfra-kafka"]["spec"]["kafka"]["listeners"]
    assert "networkPolicyPeers" not in listener


@pytest.mark.parametrize("mode", MODES)
def test_same_namespace_traffic_is_allowed(rendered, mode):
    spec = policies(rendered[mode])["allow-same-namespace"]
    # A podSelector peer without namespaceSelector means "this namespace".
    assert spec["ingress"] == [{"from": [{"podSelector": {}}]}]
    assert spec["egress"] == [{"to": [{"podSelector": {}}]}]


@pytest.mark.parametrize("mode", MODES)
def test_dns_egress_goes_to_kube_dns_only(rendered, mode):
    spec = policies(rendered[mode])["allow-dns"]
    assert spec["policyTypes"] == ["Egress"] and "ingress" not in spec
    (rule,) = spec["egress"]
    assert rule["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                           "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    assert sorted((p["protocol"], p["port"]) for p in rule["ports"]) == [("TCP", 53), ("UDP", 53)]


@pytest.mark.parametrize("mode", MODES)
def test_no_rule_opens_everything(rendered, mode):
    for name, spec in policies(rendered[mode]).items():
        for rule in spec.get("ingress", []):
            assert rule.get("from"), f"{name}: ingress rule without 'from' admits every source"
        for rule in spec.get("egress", []):
            assert rule.get("to"), f"{name}: egress rule without 'to' allows every destination"
            for peer in rule["to"]:
                assert peer.get("ipBlock", {}).get("cidr") not in ("0.0.0.0/0", "::/0"), name


def test_api_server_egress_only_where_a_mode_enables_it(rendered, merged):
    for mode in MODES:
        spec = policies(rendered[mode]).get("allow-apiserver")
        api = merged[mode]["networkPolicy"]["apiServer"]
        if not api["enabled"]:
            assert spec is None, mode
            continue
        (rule,) = spec["egress"]
        assert [p["ipBlock"]["cidr"] for p in rule["to"]] == api["cidrs"]
        assert [(p["protocol"], p["port"]) for p in rule["ports"]] == [("TCP", port) for port in api["ports"]]
    assert policies(rendered["dev"])["allow-apiserver"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "172.18.0.0/16"}}]


def test_custom_label_and_dns_settings_are_honoured(tmp_path):
    extra = write_yaml(tmp_path / "np.yaml", {"networkPolicy": {
        "allowedNamespaceLabels": {"soma.sh/allow-shared-infra": "true", "team": "memory"},
        "egressToAllowedNamespaces": False,
                # Helm merges maps: null removes the default label, as with `--set k8s-app=null`.
        "dns": {"namespace": "dns-system", "podLabels": {"k8s-app": None, "app": "coredns"}, "port": 5353}}})
    spec = policies(chart.render("staging", extra_files=[extra]))
    labelled = spec["allow-labelled-namespaces"]
    assert labelled["ingress"] == [{"from": [{"namespaceSelector": {"matchLabels": {
        "soma.sh/allow-shared-infra": "true", "team": "memory"}}}]}]
    assert labelled["policyTypes"] == ["Ingress"] and "egress" not in labelled
    dns = spec["allow-dns"]["egress"][0]
    assert dns["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "dns-system"}
    assert dns["to"][0]["podSelector"]["matchLabels"] == {"app": "coredns"}
    assert {p["port"] for p in dns["ports"]} == {5353}


def test_dev_can_switch_policies_off_and_is_warned(tmp_path):
    extra = write_yaml(tmp_path / "off.yaml", {"networkPolicy": {"enabled": False}})
    out = chart.render("dev", extra_files=[extra])
    assert by_kind(out, "NetworkPolicy") == {}
    assert "every namespace can reach the shared services" in out.notes
