"""`alveole lb …` end to end: each command a new process; the LB lives in bpffs between them."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

import pytest
import yaml

from .cli import alveole

VIP = "198.18.100.1:80"


@pytest.fixture
def roots(tmp_path, monkeypatch):
    bpffs = f"/sys/fs/bpf/alvtest-lb-{secrets.token_hex(3)}"
    monkeypatch.setenv("ALVEOLE_BPFFS_ROOT", bpffs)
    monkeypatch.setenv("ALVEOLE_STATE_DIR", str(tmp_path))
    yield tmp_path
    shutil.rmtree(bpffs, ignore_errors=True)


def _show(name: str) -> dict:
    return json.loads(alveole("lb", "show", name, "--json").stdout)


def _backends(name: str) -> dict[str, dict]:
    return {b["address"]: b for b in _show(name)["vips"][0]["backends"]}


def test_lb_verbs(veth, roots) -> None:
    ns, end0, end1 = veth
    config = roots / "lb.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "ring_size": 1021,
                "snat_ipv4": "198.18.0.1",
                "vips": [
                    {
                        "address": "198.18.100.1",
                        "port": 80,
                        "backends": [{"address": "198.18.0.11"}, {"address": "198.18.0.12"}],
                        # nothing answers in this namespace: one failed probe takes a backend out
                        "health": {"kind": "tcp", "interval": 0.1, "timeout": 0.1, "fall": 1},
                    }
                ],
            }
        )
    )
    alveole("lb", "up", "t1", str(config), "--iface", end0, "--iface", end1, "--netns", ns)
    assert json.loads(alveole("lb", "list", "--json").stdout) == ["t1"]
    again = alveole("lb", "up", "t1", str(config), "--iface", end0, "--netns", ns, check=False)
    assert again.returncode == 1 and "already deployed" in again.stderr
    shown = _show("t1")
    assert shown["interfaces"] == [end0, end1] and shown["vips"][0]["vip"] == "198.18.100.1:80/tcp"
    assert {b["state"] for b in shown["vips"][0]["backends"]} == {"up"}

    alveole("lb", "backend", "add", "t1", VIP, "198.18.0.13", "--weight", "2")
    alveole("lb", "backend", "weight", "t1", VIP, "198.18.0.11", "0")
    out = alveole("lb", "backend", "remove", "t1", VIP, "198.18.0.12").stdout
    assert "ring slots changed" in out
    backends = _backends("t1")
    assert set(backends) == {"198.18.0.11", "198.18.0.13"}
    assert backends["198.18.0.11"]["state"] == "drain" and backends["198.18.0.13"]["weight"] == 2
    missing = alveole("lb", "backend", "remove", "t1", "198.18.100.9:80", "198.18.0.11", check=False)
    assert missing.returncode == 1 and "no VIP 198.18.100.9:80" in missing.stderr

    probed = json.loads(alveole("lb", "health", "t1", "--once", "--json").stdout)
    assert {p["backend"]: p["up"] for p in probed} == {"198.18.0.11": False, "198.18.0.13": False}
    assert {b["state"] for b in _backends("t1").values()} == {"down"}

    alveole("lb", "down", "t1")
    assert json.loads(alveole("lb", "list", "--json").stdout) == []
    assert not any(Path(os.environ["ALVEOLE_BPFFS_ROOT"]).rglob("links"))


def test_lb_maglev_offline() -> None:
    data = json.loads(
        alveole("lb", "maglev", "a", "b", "c=2", "--size", "65537", "--remove", "b", "--json").stdout
    )
    assert [b["slots"] for b in data["backends"]] == [16384, 16384, 32769]
    assert data["removal"]["moved"] <= 0.01 * data["removal"]["other_slots"]
