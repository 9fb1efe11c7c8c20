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
