"""flowmon's config translation, reference model and top-N, without the kernel."""

from __future__ import annotations

import ipaddress

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether

from alveole.errors import VnfConfigError
from alveole.vnf import Verdict, get
from alveole.vnf.flowmon import Flow, FlowKey, FlowmonConfig, FlowmonModel, top_flows, top_talkers
from alveole.vnf.flowmon.flows import OtherReason, merge_cpus

ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
A, B = "198.18.0.1", "198.19.0.2"


def test_config_to_kernel() -> None:
    cfg = FlowmonConfig(key=("src", "vlan"), ignore=("198.18.0.0/24", "2001:db8::/48"), table_size=4096)
    assert cfg.rodata() == {"key_fields": 1 | 32, "precise_time": 0}
    assert cfg.map_sizes() == {"flowmon_flows4": 4096, "flowmon_flows6": 4096}
    entries = cfg.map_entries()
    assert set(entries["flowmon_ignore"]) == {
        ipaddress.IPv6Network("::ffff:198.18.0.0/120"),
        ipaddress.IPv6Network("2001:db8::/48"),
    }
    assert entries["flowmon_settings"] == {0: {"ignore_count": 2}}


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"key": ["src", "src"]}, "key"),
        ({"key": []}, "key"),
        ({"key": ["mac"]}, "key.0"),
        ({"ignore": ["198.18.0.1/24"]}, "ignore.0"),
        ({"table_size": 1 << 30}, "table_size"),
    ],
)
def test_config_errors_name_the_field(value: dict, field: str) -> None:
    with pytest.raises(VnfConfigError) as info:
        get("flowmon").validate(value)
    assert field in [loc for loc, _ in info.value.errors]


def test_model_keys_flows_like_the_c_code() -> None:
    m = FlowmonModel(FlowmonConfig())
    udp = bytes(ETH / IP(src=A, dst=B) / UDP(sport=1, dport=2))
    assert m.process(udp, "xdp").verdict == Verdict.CONTINUE
    m.process(udp, "xdp")
    m.process(bytes(ETH / IP(src=A, dst=B) / ICMP(type=8, code=0)), "tc")
    m.process(bytes(ETH / IP(src=A, dst=B, frag=3, proto=17) / bytes(8)), "xdp")
    m.process(bytes(ETH / ARP()), "xdp")
    keys = {(k.proto, k.sport, k.dport, k.later_fragment): v for k, v in m.flows.items()}
    assert keys[(17, 1, 2, False)][:2] == [2, 2 * len(udp)]
    assert (1, 0, 8 << 8, False) in keys  # ICMP type << 8 | code in dport
    assert (17, 0, 0, True) in keys  # a later fragment: no ports, its own flow
    assert m.other[OtherReason.NOT_IP][0] == 1


def test_model_masks_fields_and_ignores_prefixes() -> None:
    m = FlowmonModel(FlowmonConfig(key=("src", "vlan"), ignore=("2001:db8:1::/48",)))
    m.process(bytes(ETH / Dot1Q(vlan=7) / IP(src=A, dst=B) / UDP(sport=1, dport=2)), "xdp")
    m.process(bytes(ETH / Dot1Q(vlan=7) / IP(src=A, dst="198.18.9.9") / UDP(sport=3, dport=4)), "xdp")
    m.process(bytes(ETH / IPv6(src="2001:db8::1", dst="2001:db8:1::5") / UDP()), "xdp")
    [(key, counts)] = m.flows.items()
    assert key.src == ipaddress.IPv4Address(A) and key.vlan == 7 and key.dst == ipaddress.IPv4Address(0)
    assert counts[0] == 2 and m.other[OtherReason.IGNORED][0] == 1


def _flow(src: str, packets: int, nbytes: int, sport: int = 1) -> Flow:
    a = ipaddress.ip_address(src)
    key = FlowKey(4, a, ipaddress.IPv4Address(B), 17, sport, 53, 0, False)
    return Flow(key, packets, nbytes, 1, 2, 0)


def test_top_flows_and_talkers() -> None:
    flows = [_flow("198.18.0.1", 10, 100), _flow("198.18.0.1", 1, 5000, 2), _flow("198.18.0.2", 50, 600)]
    assert [f.bytes for f in top_flows(flows, 2)] == [5000, 600]
    assert [f.packets for f in top_flows(flows, 1, by="packets")] == [50]
    talkers = top_talkers(flows, 2, by="bytes")
    assert [(str(t.value), t.bytes, t.flows) for t in talkers] == [
        ("198.18.0.1", 5100, 2),
        ("198.18.0.2", 600, 1),
    ]


def test_per_cpu_merge() -> None:
    from collections import namedtuple

    V = namedtuple("V", "packets bytes first_seen_ns last_seen_ns tcp_flags")
    merged = merge_cpus([V(1, 10, 0, 0, 0), V(2, 20, 50, 70, 0x02), V(3, 30, 40, 60, 0x10)])
    assert merged == (6, 60, 40, 70, 0x12)
