"""Durations as kubectl takes them, OpsTask's flag names, and evidence without machine paths."""

from __future__ import annotations

import json
import pathlib
import re

import pytest
from hypothesis import given, strategies as st

from tasks.core import duration
from tasks.core.errors import ConfigError
from tasks.core.evidence import Evidence


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("5m", 300), ("1h30m", 5400), ("1h2m3s", 3723),
                                           ("300", 300), (" 2m ", 120), (45, 45)])
def test_durations(text, seconds):
    assert duration.seconds(text) == seconds


@given(h=st.integers(0, 50), m=st.integers(0, 500), s=st.integers(0, 5000))
def test_any_composed_duration_adds_up(h, m, s):
    parts = [(h, "h"), (m, "m"), (s, "s")]
    text = "".join(f"{n}{u}" for n, u in parts if n)
    if not text:
        return
    assert duration.seconds(text) == h * 3600 + m * 60 + s


@given(st.text(max_size=12))
def test_anything_else_is_one_config_error(text):
    """Never a traceback: a valid duration or ConfigError naming the flag."""
    valid = re.fullmatch(r"[0-9]+|([0-9]+[hms])+", text.strip())
    try:
        value = duration.seconds(text, "--timeout")
    except ConfigError as exc:
        assert "--timeout" in str(exc)
        return
    assert valid and value > 0


@pytest.mark.parametrize("text", ["0", "0s", "5 m", "5min", "-5m", "m", "1.5h", "soon", "5m3", "²", "٣m"])
def test_bad_durations(text):
    with pytest.raises(ConfigError):
        duration.seconds(text)


def test_evidence_replaces_machine_paths(tmp_path):
    home = str(pathlib.Path.home())
    kubeconfig = f"{tmp_path}/cluster/kubeconfig"
    ev = Evidence(tmp_path / "out", task="reset", enabled=True,
                  inputs={"argv": f"kubectl --kubeconfig {kubeconfig} get ns", "cache": f"{home}/.cache/x"},
                  paths={kubeconfig: "$KUBECONFIG", str(tmp_path): ".", home: "~"})
    with ev.recording() as console:
        console.print(f"reading {kubeconfig}", soft_wrap=True)
    text = "".join(p.read_text() for p in ev.written)
    assert kubeconfig not in text and str(tmp_path) not in text
    record = json.loads(ev.written[1].read_text())
    assert record["inputs"]["argv"] == "kubectl --kubeconfig $KUBECONFIG get ns"
    assert record["inputs"]["cache"] == "~/.cache/x"
    assert "reading $KUBECONFIG" in ev.written[0].read_text()
