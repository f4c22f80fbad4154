"""soma_config: invoke.yaml -> mode defaults -> SOMA_* env -> flags, schema-checked."""

from __future__ import annotations

import json
import pathlib
import sys

import pytest
import sh

from tasks.core.config import MODES, REPO_ROOT, parse_sets, soma_config
from tasks.core.errors import ConfigError
from tests.ops.conftest import make_context


def test_the_project_file_defines_every_mode_and_the_playbook_names():
    ctx = make_context()
    for mode in MODES:
        cfg = soma_config(ctx, mode=mode, environ={})
        assert (cfg.cluster, cfg.namespace, cfg.release) == ("soma", "soma-infra", "sharedinfra")
        assert cfg.values_files == [REPO_ROOT / "infra/helm/soma-infra/values.yaml",
                                    REPO_ROOT / f"infra/helm/soma-infra/values-{mode}.yaml"]
        assert cfg.kind_context == "kind-soma"
        assert cfg.images and all(" " not in image for image in cfg.images)


def test_layers_and_their_sources():
    cfg = soma_config(make_context(), mode="prod",
                      environ={"SOMA_TIMEOUTS_READINESS": "42", "SOMA_IMAGES": "a:1, b:2",
                               "SOMA_ROLLBACK_ON_FAILURE": "no", "SOMA_RATE_LIMIT_MAX": "5"},
                      overrides={"namespace": "infra-x", "timeouts.helm": "77", "release": None})
    assert cfg.timeouts["helm"] == 77 and cfg.sources["timeouts.helm"] == "flag"
    assert cfg.timeouts["readiness"] == 42 and cfg.sources["timeouts.readiness"] == "env SOMA_TIMEOUTS_READINESS"
    assert cfg.timeouts["namespace_delete"] == 300 and cfg.sources["timeouts.namespace_delete"] == "mode:prod"
    assert cfg.images == ["a:1", "b:2"]
    assert cfg.rollback_on_failure is False
    assert cfg.namespace == "infra-x" and cfg.release == "sharedinfra"
    assert cfg.sources["mode"] == "flag"
    assert "rate_limit_max" not in cfg.values  # the memory service's SOMA_* never leak in


def test_mode_from_environment():
    cfg = soma_config(make_context(), environ={"SOMA_MODE": "staging"})
    assert cfg.mode == "staging" and cfg.sources["mode"] == "env SOMA_MODE"
    assert cfg.timeouts["helm"] == 600


@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "qa"}, "unknown mode 'qa'; choose one of: dev, test, staging, prod-lite, prod"),
    ({"environ": {"SOMA_TIMEOUTS_HELM": "soon"}}, "SOMA_TIMEOUTS_HELM='soon'"),
    ({"environ": {"SOMA_ROLLBACK_ON_FAILURE": "maybe"}}, "expected true/false"),
    ({"overrides": {"namspace": "x"}}, "unknown setting 'namspace'"),
    ({"overrides": {"namespace": "Bad_Name"}}, "invalid setting soma.namespace"),
    ({"overrides": {"timeouts.helm": 0}}, "invalid setting soma.timeouts.helm"),
    ({"environ": {"SOMA_PRELOAD_PARALLEL": "100"}}, "invalid setting soma.preload_parallel"),
])
def test_bad_input_is_one_clear_error(kwargs, message):
    kwargs.setdefault("environ", {})
    with pytest.raises(ConfigError) as bad:
        soma_config(make_context(), **kwargs)
    assert message in str(bad.value)


def test_missing_section_is_reported():
    with pytest.raises(ConfigError, match="no `soma` section"):
        soma_config({"run": {}})


def test_config_show_cli_prints_json_with_sources():
    out = sh.Command(str(pathlib.Path(sys.executable).parent / "inv"))("config.show", "--mode=test", "--json", _cwd=str(REPO_ROOT),
                                                      _env={"PATH": "/usr/bin:/bin", "SOMA_CLUSTER": "lab"},
                                                      _tty_out=False)
    shown = json.loads(str(out))
    assert shown["values"]["mode"] == "test" and shown["values"]["cluster"] == "lab"
    assert shown["sources"]["cluster"] == "env SOMA_CLUSTER"
    assert shown["sources"]["timeouts.readiness"] == "mode:test"


def test_config_show_cli_rejects_a_bad_mode_with_exit_2():
    done = sh.Command(str(pathlib.Path(sys.executable).parent / "inv"))("config.show", "--mode=qa", _cwd=str(REPO_ROOT),
                                                       _ok_code=list(range(256)), _return_cmd=True)
    assert done.exit_code == 2
    assert "unknown mode 'qa'" in done.stderr.decode()


def test_preload_list_covers_every_image_the_chart_pins():
    from tasks.core import chart

    cfg_images = set(soma_config(make_context(), environ={}).images)
    for mode in MODES:
        pinned = set(chart.images(chart.merged_values(mode)))
        assert pinned <= cfg_images, f"mode {mode}: add {sorted(pinned - cfg_images)} to soma.images"


def test_set_flags_override_any_key_and_are_cast_like_env():
    cfg = soma_config(make_context(), mode="dev", environ={"SOMA_TIMEOUTS_HELM": "500"},
                      overrides=parse_sets(["timeouts.helm=42", "images=a:1,b:2", "compose.project=x=y"]))
    assert cfg.timeouts["helm"] == 42 and cfg.sources["timeouts.helm"] == "flag"  # flags beat env
    assert cfg.images == ["a:1", "b:2"]
    assert cfg.compose["project"] == "x=y"  # only the first '=' separates


@pytest.mark.parametrize("pairs, message", [
    (["timeouts.helm"], "--set 'timeouts.helm': expected key=value"),
    (["=3"], "expected key=value"),
    (["mode=prod"], "use --mode"),
])
def test_bad_set_flags_are_one_clear_error(pairs, message):
    with pytest.raises(ConfigError, match=message):
        parse_sets(pairs)


def test_set_flag_values_of_the_wrong_type_name_the_flag():
    with pytest.raises(ConfigError, match="--set timeouts.helm='soon'"):
        soma_config(make_context(), environ={}, overrides=parse_sets(["timeouts.helm=soon"]))


def test_config_show_cli_previews_set_flags():
    out = sh.Command(str(pathlib.Path(sys.executable).parent / "inv"))(
        "config.show", "--json", "--set", "timeouts.readiness=77", "--set", "namespace=infra-y",
        _cwd=str(REPO_ROOT), _env={"PATH": "/usr/bin:/bin"}, _tty_out=False)
    shown = json.loads(str(out))
    assert shown["values"]["timeouts"]["readiness"] == 77 and shown["values"]["namespace"] == "infra-y"
    assert shown["sources"]["timeouts.readiness"] == shown["sources"]["namespace"] == "flag"


def test_a_kubeconfig_from_a_flag_or_variable_is_relative_to_the_operator(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flag = soma_config(make_context(), environ={}, overrides={"kubeconfig": "kc.yaml"})
    assert flag.kubeconfig == str(tmp_path / "kc.yaml")  # not the repository root the tools run in
    env = soma_config(make_context(), environ={"SOMA_KUBECONFIG": "~/kc"})
    assert env.kubeconfig == str(pathlib.Path.home() / "kc")
    assert soma_config(make_context(), environ={}).kubeconfig == ""  # unset stays kubectl's default


def test_the_postgres_operator_is_pinned_and_its_namespace_agrees_with_the_chart():
    from tasks.core import chart

    op = soma_config(make_context(), environ={}).postgres_operator
    assert (op["chart"], op["version"], op["repository"]) == (
        "cloudnative-pg", "0.29.0", "https://cloudnative-pg.github.io/charts")
    for mode in MODES:  # the chart's NetworkPolicy lets the operator's namespace in
        assert chart.merged_values(mode)["postgres"]["operatorNamespace"] == op["namespace"], mode


@pytest.mark.parametrize("key,value,message", [
    ("postgres_operator.version", "^0.29", "an exact chart version"),
    ("postgres_operator.repository", "http://cloudnative-pg.github.io/charts", "https URL"),
    ("postgres_operator.namespace", "CNPG_System", "lower-case letters"),
])
def test_operator_settings_are_checked(key, value, message):
    with pytest.raises(ConfigError, match=message):
        soma_config(make_context(), environ={}, overrides=parse_sets([f"{key}={value}"]))
