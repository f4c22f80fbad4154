"""The shell-free runner and version gates, on real processes."""

from __future__ import annotations

import json
import sys

import pytest
import sh

from tasks.core.errors import CommandFailed, CommandTimedOut, ToolMissing, VersionError
from tasks.core.runner import RecordingRunner, Runner
from tasks.core.versions import Version, parse_kind, parse_kubectl, parse_plain


def test_runs_an_argv_list_without_a_shell():
    result = Runner().run(["echo", "$HOME", "; rm -rf /", "`id`"])
    assert result.stdout == "$HOME ; rm -rf / `id`\n"  # nothing expanded: no shell in between
    assert result.exit_code == 0 and result.ok


def test_input_env_and_cwd_reach_the_process(tmp_path):
    r = Runner(env={"SOMA_A": "1"})
    assert r.run([sys.executable, "-c", "import sys; print(sys.stdin.read().upper())"], input="abc").stdout == "ABC\n"
    script = "import os; print(os.environ['SOMA_A'], os.environ['SOMA_B'], os.getcwd())"
    out = r.run([sys.executable, "-c", script], env={"SOMA_B": "2"}, cwd=tmp_path).stdout.split()
    assert out == ["1", "2", str(tmp_path)]


def test_secrets_are_redacted_from_echo_and_errors():
    echoed = []
    r = Runner(secrets=("s3cr3t-token",), echo=echoed.append)
    with pytest.raises(CommandFailed) as failed:
        r.run([sys.executable, "-c", "import sys; sys.stderr.write('bad s3cr3t-token'); sys.exit(3)",
               "--password=s3cr3t-token"])
    assert "s3cr3t-token" not in echoed[0] and "--password=***" in echoed[0]
    assert "s3cr3t-token" not in str(failed.value)
    assert "bad ***" in str(failed.value)
    assert failed.value.exit_code_value == 3
    assert "s3cr3t-token" not in " ".join(failed.value.argv)


def test_check_false_returns_the_failure():
    script = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(7)"
    result = Runner().run([sys.executable, "-c", script], check=False)
    assert (result.stdout, result.stderr, result.exit_code, result.ok) == ("out\n", "err\n", 7, False)


def test_timeout_kills_and_says_so():
    with pytest.raises(CommandTimedOut) as slow:
        Runner().run(["sleep", "30"], timeout=0.3)
    assert "timed out after 0.3s: sleep 30" in str(slow.value)


def test_missing_tool_is_one_line():
    with pytest.raises(ToolMissing) as missing:
        Runner().run(["soma-no-such-tool", "x"])
    assert str(missing.value) == "install soma-no-such-tool (not found on PATH)"
    with pytest.raises(ToolMissing) as gate:
        Runner().require("soma-no-such-tool", "1.2")
    assert str(gate.value) == "install soma-no-such-tool >= 1.2"


def test_require_gates_the_real_kubectl():
    found = Runner().require("kubectl", "1.28")
    assert found >= Version.parse("1.28")
    with pytest.raises(ToolMissing) as old:
        Runner().require("kubectl", "99.0")
    assert str(old.value) == f"install kubectl >= 99.0 (found {found})"


def test_kubectl_json_version_is_parsed_from_the_real_client():
    out = sh.Command("kubectl")("version", "--client", "-o", "json", _tty_out=False)
    assert parse_kubectl(str(out)) == Version.parse(json.loads(str(out))["clientVersion"]["gitVersion"])


@pytest.mark.parametrize("text, expected", [
    ("kind v0.24.0 go1.22.6 linux/amd64", (0, 24, 0)),
    ("kind v0.32.0-alpha+2a1b go1.24 linux/arm64", (0, 32, 0)),
])
def test_kind_version_lines(text, expected):
    assert parse_kind(text).key == expected


@pytest.mark.parametrize("text, expected", [
    ("v3.13.3", (3, 13, 3)), ("v4.2.4+g1234", (4, 2, 4)), ("Docker version 28.2.2, build e6534b4", (28, 2, 2)),
])
def test_plain_versions(text, expected):
    assert parse_plain(text).key == expected


@pytest.mark.parametrize("bad", ["", "no digits here", "{}", '{"clientVersion": {}}'])
def test_unreadable_versions_raise(bad):
    with pytest.raises(VersionError):
        parse_kubectl(bad) if bad.startswith("{") else parse_kind(bad)


def test_version_order_ignores_build_suffixes():
    assert Version.parse("v1.28.0+k3s1") == Version.parse("1.28")
    assert Version.parse("0.24.0") > Version.parse("0.9.9")
    assert sorted(map(Version.parse, ["1.10", "1.9", "1.28.1"])) == [Version(1, 9), Version(1, 10), Version(1, 28, 1)]


def test_recording_runner_never_pretends_an_unknown_call_succeeded():
    recorder = RecordingRunner(tools=("kind",), replies={("kind", "get"): [("a\n", "", 0), ("", "", 0)]})
    assert recorder.run(["kind", "get", "clusters"]).stdout == "a\n"
    assert recorder.run(["kind", "get", "clusters"]).stdout == ""
    assert recorder.run(["kind", "get", "clusters"]).stdout == ""  # the last answer repeats
    with pytest.raises(CommandFailed):
        recorder.run(["kind", "create", "cluster"])
    assert recorder.which("kind") and recorder.which("helm") is None
    assert recorder.calls[-1] == ["kind", "create", "cluster"]
