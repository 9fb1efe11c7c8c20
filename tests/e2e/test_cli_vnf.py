"""`alveole vnf list|test` and `alveole bench pktcost` through the console script."""

from __future__ import annotations

import json

from .cli import alveole


def test_vnf_list_json() -> None:
    rows = {r["name"]: r for r in json.loads(alveole("vnf", "list", "--json").stdout)}
    assert rows["flowmon"]["hooks"] == ["xdp", "tc"]
    assert "table_size" in rows["flowmon"]["config"]
    assert "flowmon" in alveole("vnf", "list").stdout


def test_vnf_test_runs_the_fixture_table() -> None:
    out = json.loads(alveole("vnf", "test", "flowmon", "--json", "--repeat", "10").stdout)
    assert out["ok"] and out["results"]
    assert {r["hook"] for r in out["results"]} == {"xdp", "tc"}
    assert all(r["ok"] and r["got"] == r["expected"] == "CONTINUE" for r in out["results"])
    table = alveole("vnf", "test", "flowmon", "--hook", "tc", "--repeat", "10").stdout
    assert "rows passed" in table and "xdp" not in table.split("fixture table")[1]


def test_vnf_test_of_an_unknown_vnf_fails_cleanly() -> None:
    proc = alveole("vnf", "test", "nosuch", check=False)
    assert proc.returncode == 1
    assert "no VNF named 'nosuch'" in proc.stderr and "Traceback" not in proc.stderr


def test_bench_pktcost_json() -> None:
    out = json.loads(
        alveole("bench", "pktcost", "--json", "--only", "flowmon", "--packets", "65536", "--runs", "3").stdout
    )
    assert out["floor_ns"] > 0
    names = [r["name"] for r in out["results"]]
    assert names == ["flowmon", "flowmon-ipv6"]
    assert all(r["ns"] > 0 and r["frames"] > 1 for r in out["results"])
