"""docs/chart.md's modes matrix is what the overlays set (the original's doc and values
disagreed; this keeps them from drifting apart again)."""

from __future__ import annotations

import pytest

from tasks.core.config import MODES, REPO_ROOT

DOC = REPO_ROOT / "docs" / "chart.md"


def volume(p):
    return p["size"] if p.get("enabled") else "off"


def onoff(flag):
    return "on" if flag else "off"


def vault(v):
    server = v["server"]
    if server["dev"]["enabled"]:
        kind = "dev server"
    elif server["ha"]["enabled"] and server["ha"]["raft"]["enabled"]:
        kind = f"raft HA ×{server['ha']['replicas']}"
    else:
        kind = "standalone"
    return kind + ("" if v["global"]["tlsDisable"] else ", TLS")


# Row label in the doc -> how to read that cell from a mode's merged values.
ROWS = {
    "PostgreSQL instances": lambda v: str(v["postgres"]["instances"]),
    "PgBouncer instances": lambda v: str(v["postgres"]["pooler"]["instances"]),
    "PostgreSQL volume": lambda v: v["postgres"]["storage"]["size"],
    "PostgreSQL PDBs": lambda v: onoff(v["postgres"]["enablePDB"] and v["postgres"]["pooler"]["pdb"]["create"]),
    "Redis": lambda v: "1 node" if v["redis"]["replicas"] == 1 else (
        f"{v['redis']['replicas']} nodes + Sentinel, quorum {v['redis']['sentinel']['quorum']}"),
    "Redis auth": lambda v: onoff(v["redis"]["auth"]),
    "Redis volume": lambda v: volume(v["redis"]["persistentVolume"]),
    "Kafka KRaft nodes (controller + broker)": lambda v: str(v["kafka"]["nodePool"]["replicas"]),
    "Kafka volume": lambda v: (v["kafka"]["nodePool"]["storage"]["size"]
                               if v["kafka"]["nodePool"]["storage"]["type"] == "persistent-claim" else "off"),
    "Kafka client protocol": lambda v: v["kafka"]["listeners"]["client"]["protocol"],
    "Vault": lambda v: vault(v["vault"]),
    "Vault volume": lambda v: "–" if v["vault"]["server"]["dev"]["enabled"] else volume(v["vault"]["server"]["dataStorage"]),
    "OPA": lambda v: onoff(v["opa"]["enabled"]),
    "Prometheus": lambda v: onoff(v["prometheus"]["enabled"]),
    "Alertmanager": lambda v: onoff(v["prometheus"]["enabled"] and v["prometheus"]["alertmanager"]["enabled"]),
    "Prometheus volume": lambda v: volume(v["prometheus"]["server"]["persistentVolume"]) if v["prometheus"]["enabled"] else "–",
    "Grafana": lambda v: onoff(v["grafana"]["enabled"]),
    "Grafana volume": lambda v: volume(v["grafana"]["persistence"]) if v["grafana"]["enabled"] else "–",
    "Storage class": lambda v: v["postgres"]["storage"].get("storageClass") or "default",
    "Passwords from": lambda v: "existing Secrets" if v["postgres"].get("superuserSecret") else "generated",
    "API-server egress": lambda v: ", ".join(v["networkPolicy"]["apiServer"]["cidrs"])
    if v["networkPolicy"]["apiServer"]["enabled"] else "off",
}


def doc_matrix() -> tuple[list[str], dict[str, list[str]]]:
    lines = DOC.read_text().splitlines()
    start = lines.index("<!-- modes-matrix -->")
    table = []
    for line in lines[start + 1:]:
        if not line.startswith("|"):
            if table:
                break
            continue
        table.append([c.strip().strip("`") for c in line.strip().strip("|").split("|")])
    header, rows = table[0], table[2:]
    return header[1:], {r[0]: r[1:] for r in rows}


def test_matrix_lists_every_mode_in_order():
    modes, _ = doc_matrix()
    assert modes == list(MODES)


@pytest.mark.parametrize("row", ROWS)
def test_matrix_row_matches_the_overlays(row, merged):
    modes, rows = doc_matrix()
    assert row in rows, f"docs/chart.md lacks the row {row!r}"
    assert rows[row] == [ROWS[row](merged[m]) for m in modes]


def test_matrix_has_no_row_the_test_does_not_check():
    _, rows = doc_matrix()
    assert set(rows) == set(ROWS)
