"""The generator's XDP program through plain test_run: every frame rebuilt from its
template, flows varied with valid checksums, templates cycled with their own lengths."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from alveole.bpf import BpfObject, XdpAction
from alveole.toolchain import open_source
from alveole.trafficgen import GEN_SOURCE, Template, from_frame, tcp_syn, udp


def _load(templates: list[Template], flows: int = 1, flow_ports: int = 1) -> BpfObject:
    obj = open_source(GEN_SOURCE, name="trafficgen")
    obj.globals["target_ifindex"] = 0  # plain test_run: XDP_REDIRECT is only returned
    obj.globals["n_templates"] = len(templates)
    obj.globals["n_flows"] = flows
    obj.globals["flow_ports"] = flow_ports
    obj.map("gen_templates").set_max_entries(len(templates))
    obj.load()
    obj.map("gen_templates").update_batch(list(range(len(templates))), [t.as_map_value() for t in templates])
    return obj


def _valid(frame: bytes) -> bool:
    pkt = Ether(frame)
    l4cls = UDP if UDP in pkt else TCP
    again = Ether(frame)
    del again[l4cls].chksum
    if IP in again:
        del again[IP].chksum
    rebuilt = Ether(bytes(again))
    return rebuilt[l4cls].chksum == pkt[l4cls].chksum and (
        IP not in pkt or rebuilt[IP].chksum == pkt[IP].chksum
    )


@pytest.mark.parametrize(
    "template",
    [
        udp(64, src="198.18.7.1", sport=65530),
        tcp_syn(64, src="198.18.7.1", sport=65530),
        udp(100, src="2001:db8::7:1", dst="2001:db8::2", sport=65530),
    ],
    ids=["udp4", "tcp4", "udp6"],
)
def test_flows_vary_port_then_address_with_valid_checksums(template: Template) -> None:
    # 6 ports (65530..65535) per address, 14 flows: 3 addresses
    with _load([template], flows=14, flow_ports=6) as obj:
        prog = obj.program("xdp_gen")
        seen = []
        for _ in range(16):
            # a dirty buffer: the program must rewrite every header byte it relies on
            res = prog.run(bytes(len(template.frame)))
            assert res.verdict == XdpAction.REDIRECT
            assert _valid(res.data)
            pkt = Ether(res.data)
            l3 = pkt[IP] if IP in pkt else pkt[IPv6]
            seen.append((l3.src, l3.payload.sport))
        assert obj.map("gen_sent")[0].sum() == 16
    assert len(set(seen[:14])) == 14 and seen[14:] == seen[:2]  # 14 distinct flows, then the cycle again
    assert seen[5][1] == 65535 and seen[6][1] == 65530 and seen[6][0] != seen[5][0]


def test_templates_cycle_with_their_own_lengths() -> None:
    templates = [from_frame(udp(size).frame) for size in (64, 300, 128)]  # replay: whole frames
    with _load(templates) as obj:
        prog = obj.program("xdp_gen")
        longest = max(len(t.frame) for t in templates)
        out = [prog.run(bytes(longest)).data for _ in range(6)]
    assert [len(d) for d in out] == [60, 296, 124] * 2
    assert out[:3] == [t.frame for t in templates]
