"""`alveole conntrack show|gc` end to end, on a NAT running as a chain member on a veth's TC egress."""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pyroute2 import NetNS

from alveole.agent import Sweeper, find_tables, open_table
from alveole.system import netns as ns_mod

from .cli import alveole


@pytest.fixture
def roots(tmp_path, monkeypatch):
    bpffs = f"/sys/fs/bpf/alvtest-ct-{secrets.token_hex(3)}"
    monkeypatch.setenv("ALVEOLE_BPFFS_ROOT", bpffs)
    monkeypatch.setenv("ALVEOLE_STATE_DIR", str(tmp_path))
    yield Path(bpffs)
    shutil.rmtree(bpffs, ignore_errors=True)


@contextlib.contextmanager
def nat_chain_with_flows(veth, tmp_path: Path) -> Iterator[list[str]]:
    """A NAT on dev's TC egress (UDP timeout 1 s) that tracked three masqueraded UDP flows."""
    ns, dev, peer = veth
    with NetNS(ns) as n:
        n.addr("add", index=n.link_lookup(ifname=dev)[0], address="198.18.0.1", prefixlen=24)
        n.addr("add", index=n.link_lookup(ifname=peer)[0], address="198.19.0.1", prefixlen=24)
    config = tmp_path / "nat.yaml"
    config.write_text(
        yaml.safe_dump({"address": "198.19.0.1", "snat": ["198.18.0.0/24"], "timeouts": {"udp": 1}})
    )
    alveole("chain", "create", dev, "--hook", "tc-egress", "--netns", ns, f"nat:outside@{config}")
    try:
        # UDP leaving by dev to a neighbour that never answers: the frames still go out, through the chain
        with NetNS(ns) as n:
            n.neigh(
                "add",
                dst="198.18.0.99",
                lladdr="02:00:00:00:00:99",
                ifindex=n.link_lookup(ifname=dev)[0],
                state=0x80,
            )  # NUD_PERMANENT
        with ns_mod.enter(ns), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("198.18.0.1", 0))
            for port in (53, 54, 55):
                s.sendto(b"hello", ("198.18.0.99", port))
        yield ["--chain", dev, "--hook", "tc-egress", "--netns", ns]
    finally:
        alveole("chain", "delete", dev, "--hook", "tc-egress", "--netns", ns, check=False)


def test_conntrack_show_and_gc_on_a_nat_chain(veth, roots, tmp_path) -> None:
    ns, dev, _ = veth
    with nat_chain_with_flows(veth, tmp_path) as args:
        # 198.18.0.1 is in the SNAT prefix: masqueraded behind 198.19.0.1
        [table] = json.loads(alveole("conntrack", "show", *args, "--json").stdout)
        assert table["flows"] == 3 and table["pressure"]["created"] == 3
        flows = table["shown"]
        assert {f["dport"] for f in flows} == {53, 54, 55}
        assert {(f["src"], f["protocol"], f["state"], f["nat_kind"], f["nat_addr"]) for f in flows} == {
            ("198.18.0.1", "udp", "udp_new", "snat", "198.19.0.1")
        }
        text = alveole("conntrack", "show", *args, "--by", "packets").stdout
        assert "3 flows in 2 x 65536 entries" in text and "udp_new" in text and "snat" in text
        pin = roots / "chains" / f"{ns}__{dev}__tc-egress" / "members" / "outside" / "maps"
        same = json.loads(alveole("conntrack", "show", "--pin", str(pin), "--json").stdout)
        assert same[0]["flows"] == 3
        time.sleep(1.2)  # past the 1 s UDP timeout (the coarse clock the GC compares with)
        [done] = json.loads(alveole("conntrack", "gc", *args, "--json").stdout)
        assert (done["scanned"], done["deleted"]) == (3, 3)
        [after] = json.loads(alveole("conntrack", "show", "--pin", str(pin), "--json").stdout)
        assert after["flows"] == 0 and after["pressure"]["gc_deleted"] == 3
        missing = alveole("conntrack", "show", "--pin", str(roots), check=False)
        assert missing.returncode == 1 and "no conntrack table" in missing.stderr


def test_sweeper_collects_every_pinned_table(veth, roots, tmp_path) -> None:
    """What `alveole serve` runs periodically: every table found by its pins, the NAT's bindings freed."""
    ns, dev, _ = veth
    with nat_chain_with_flows(veth, tmp_path) as args:
        tables = find_tables(roots)
        assert [label for label, _ in tables] == [f"chain {ns}__{dev}__tc-egress member outside"]
        [table] = json.loads(alveole("conntrack", "show", *args, "--json").stdout)
        assert table["flows"] == 3
        sweeper = Sweeper(interval=0.05, bpffs=roots)  # the thread runs only inside `with`
        [early] = sweeper.sweep()
        assert early.result is not None and (early.result.scanned, early.result.deleted) == (3, 0)
        time.sleep(1.2)  # past the 1 s UDP timeout
        with sweeper:  # the periodic thread: first run after one interval
            deadline = time.monotonic() + 5
            while sweeper.runs == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
        [done] = sweeper.last
        assert done.error is None and (done.result.scanned, done.result.deleted) == (3, 3)
        with open_table(tables[0][1]) as (maps, nat):
            assert nat and len(maps["nat_rev4"]) == 0  # the reverse bindings went with the flows
