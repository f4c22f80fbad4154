"""Report: exit codes, table and JSON from the same rows, thresholds."""

from __future__ import annotations

import json

import pytest

from tasks.day2.report import EXIT_CODES, EXIT_DRIFT, FAIL, PASS, SKIP, WARN, Check, Report, threshold
from tests.day2.conftest import make_console, text


def test_exit_codes_are_distinct_and_clash_with_nothing_documented():
    codes = [*EXIT_CODES.values(), EXIT_DRIFT]
    assert len(set(codes)) == len(codes)
    assert not set(codes) & {1, 2, 127}
    assert EXIT_CODES[PASS] == 0


def test_table_and_json_carry_the_same_rows(tmp_path):
    report = Report("inv x", context="ctx", namespaces=["a"])
    report.add(Check("db", "lag", WARN, "12 bytes", {"bytes": 12}), Check("db", "up", PASS, "ok"),
               Check("vault", "seal", SKIP, "not configured"))
    console = make_console()
    report.print(console)
    data = json.loads(report.write_json(tmp_path / "r.json").read_text())
    shown = text(console)
    assert [c["name"] for c in data["checks"]] == ["lag", "up", "seal"]
    for c in data["checks"]:
        assert c["name"] in shown and c["status"] in shown and c["detail"] in shown
    assert data["status"] == WARN and report.exit_code == 3


def test_fail_wins_and_skip_never_passes_for_something():
    report = Report("x")
    report.add(Check("a", "b", SKIP))
    assert report.status == PASS  # nothing looked at is not a problem ...
    report.add(Check("a", "c", FAIL))
    assert report.exit_code == 4  # ... but one failure is


@pytest.mark.parametrize("value,expected", [(0, PASS), (9, PASS), (10, WARN), (99, WARN), (100, FAIL), (None, WARN)])
def test_threshold(value, expected):
    assert threshold(value, warn=10, fail=100) == expected


def test_a_check_with_an_unknown_status_is_refused():
    with pytest.raises(ValueError):
        Check("a", "b", "ok")
