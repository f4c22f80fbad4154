"""The live-vs-rendered comparison that decides whether `kubectl apply` is needed."""

from tasks.onboard.kube_ops import contains, describe


def test_server_added_fields_do_not_count_as_drift():
    desired = {"metadata": {"name": "x", "labels": {"a": "1"}}, "data": {"K": "v"}}
    live = {"metadata": {"name": "x", "uid": "u", "resourceVersion": "7",
                         "labels": {"a": "1", "kubernetes.io/metadata.name": "x"}},
            "data": {"K": "v"}}
    assert contains(live, desired)


def test_changed_missing_or_reordered_values_are_drift():
    desired = {"data": {"K": "v"}, "spec": {"items": [{"a": 1}, {"b": 2}]}}
    assert not contains({"data": {"K": "w"}, "spec": {"items": [{"a": 1}, {"b": 2}]}}, desired)
    assert not contains({"spec": {"items": [{"a": 1}, {"b": 2}]}}, desired)
    assert not contains({"data": {"K": "v"}, "spec": {"items": [{"b": 2}, {"a": 1}]}}, desired)
    assert not contains({"data": {"K": "v"}, "spec": {"items": [{"a": 1}]}}, desired)
    assert not contains({"data": "v"}, {"data": {"K": "v"}})


def test_describe_names_kind_name_and_namespace():
    assert describe({"kind": "ConfigMap", "metadata": {"name": "s", "namespace": "n"}}) == \
        "kubectl apply -f - (ConfigMap s -n n)"
    assert describe({"kind": "Namespace", "metadata": {"name": "n"}}) == \
        "kubectl apply -f - (Namespace n)"
