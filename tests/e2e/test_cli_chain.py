"""`alveole chain …` end to end: each command is a new process; the chain lives in bpffs between them."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

import pytest

from .cli import alveole

ROOT = Path(__file__).resolve().parent.parent.parent
NOOP = str(ROOT / "src/alveole/progs/vnf_noop.bpf.c")
HOP = str(ROOT / "tests/kernel/progs/hop.bpf.c")


@pytest.fixture
def roots(tmp_path, monkeypatch):
    bpffs = f"/sys/fs/bpf/alvtest-cli-{secrets.token_hex(3)}"
    monkeypatch.setenv("ALVEOLE_BPFFS_ROOT", bpffs)
    monkeypatch.setenv("ALVEOLE_STATE_DIR", str(tmp_path))
    yield
    shutil.rmtree(bpffs, ignore_errors=True)


def _show(dev: str, ns: str) -> dict:
    return json.loads(alveole("chain", "show", dev, "--netns", ns, "--json").stdout)


def test_chain_verbs(veth, roots) -> None:
    ns, dev, _ = veth
    alveole("chain", "create", dev, "--netns", ns, f"{NOOP}:first", f"{HOP}:tagger", "--end", "drop")
    alveole("chain", "add", dev, NOOP, "--name", "zero", "--position", "0", "--netns", ns)
    alveole("chain", "move", dev, "tagger", "0", "--netns", ns)
    before = _show(dev, ns)
    assert [m["instance"] for m in before["members"]] == ["tagger", "zero", "first"]
    assert before["end"] == "drop" and before["attached"]
    out = alveole("chain", "update", dev, "first", "--version", "2", "--netns", ns).stdout
    assert "swap" in out
    after = _show(dev, ns)
    assert after["link_id"] == before["link_id"]
    assert after["members"][2]["version"] == "2"
    assert after["members"][2]["prog_id"] != before["members"][2]["prog_id"]
    assert after["members"][0]["prog_id"] == before["members"][0]["prog_id"]
    refused = alveole("chain", "remove", dev, "nope", "--netns", ns, check=False)
    assert refused.returncode == 1 and "no member 'nope'" in refused.stderr
    adopted = json.loads(alveole("chain", "adopt", "--json").stdout)
    assert adopted["repairs"] == []
    alveole("chain", "remove", dev, "zero", "--netns", ns)
    assert [m["instance"] for m in _show(dev, ns)["members"]] == ["tagger", "first"]
    alveole("chain", "delete", dev, "--netns", ns)
    assert json.loads(alveole("chain", "list", "--json").stdout) == []
    assert not any(Path(os.environ["ALVEOLE_BPFFS_ROOT"]).rglob("prog"))


def test_chain_flows_shows_a_flow_monitors_talkers(veth, roots) -> None:
    from alveole.trafficgen import Generator, udp

    ns, dev, peer = veth
    alveole("chain", "create", dev, "--netns", ns, "flowmon:mon", NOOP + ":other", "--end", "drop")
    try:
        frame = udp(src="198.18.0.7", dst="198.19.0.1", sport=2000, dport=53)
        with Generator(peer, frame, netns=ns, flows=4) as g:
            assert g.send(400).sent == 400
        out = alveole("chain", "flows", dev, "mon", "--netns", ns, "--by", "packets", "--json").stdout
        data = json.loads(out)
        assert data["flows"] == 4
        assert [(t["value"], t["packets"], t["flows"]) for t in data["talkers"]] == [("198.18.0.7", 400, 4)]
        assert sorted(f["key"]["sport"] for f in data["top"]) == [2000, 2001, 2002, 2003]
        text = alveole("chain", "flows", dev, "mon", "--netns", ns).stdout
        assert "top talkers (4 flows" in text and "198.18.0.7" in text
        wrong = alveole("chain", "flows", dev, "other", "--netns", ns, check=False)
        assert wrong.returncode != 0 and "not a flow monitor" in wrong.stderr
    finally:
        alveole("chain", "delete", dev, "--netns", ns, check=False)
