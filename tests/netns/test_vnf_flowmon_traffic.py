"""flowmon attached to a veth (XDP, then TC ingress) counts real frames sent through the pair."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from alveole import progs
from alveole.bpf import BPF_F_TEST_XDP_LIVE_FRAMES, BpfObject
from alveole.system import netns as ns_mod
from alveole.toolchain import open_source
from alveole.vnf import Verdict, VnfInstance
from alveole.vnf.flowmon import read_flows

FRAME = bytes(
    Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    / IP(src="198.18.0.1", dst="198.18.0.2")
    / UDP(sport=4000, dport=53)
    / bytes(18)
)


@pytest.fixture
def generator() -> Iterator[BpfObject]:
    with open_source(progs.path("redirect")) as gen, open_source(progs.path("noop")) as noop:
        yield gen, noop


def _send(gen: BpfObject, ns: str, out_ifindex: int, count: int) -> None:
    if not gen.loaded:
        gen.globals["target_ifindex"] = out_ifindex
        gen.load()
    with ns_mod.enter(ns):
        gen.program().run(FRAME, repeat=count, flags=BPF_F_TEST_XDP_LIVE_FRAMES)


@pytest.mark.parametrize("hook", ["xdp", "tc"])
def test_flowmon_counts_live_frames(veth, generator, hook: str) -> None:
    ns, tx, rx = veth
    gen, noop = generator
    noop.load()
    with VnfInstance.load("flowmon", hook) as fm, noop.program("xdp_noop").attach_xdp(tx, netns=ns):
        # the receiving veth needs an XDP program to take redirected frames; with TC, a no-op one
        if hook == "xdp":
            link = fm.program.attach_xdp(rx, mode="native", netns=ns)
        else:
            rx_xdp = noop.program("xdp_noop").attach_xdp(rx, netns=ns)
            link = fm.program.attach_tc(rx, direction="ingress", netns=ns)
        try:
            _send(gen, ns, ns_mod.ifindex(tx, ns), 300)
        finally:
            link.close()
            if hook == "tc":
                rx_xdp.close()
        [flow] = [f for f in read_flows(fm) if f.key.proto == 17]
        assert flow.key.src == ipaddress.IPv4Address("198.18.0.1") and flow.key.dport == 53
        assert flow.packets == 300 and flow.bytes == 300 * len(FRAME)
        assert fm.counters()[Verdict.CONTINUE].packets >= 300
