"""The router's fixture table: forwarded frames with their exact rewritten bytes, and what goes to the kernel.

The forwarding config routes parts of 198.19.0.0/16 and 2001:db8:1::/48 to three next
hops. Next hops name ifindex 1: the loopback of whatever namespace runs the table, the
one interface that always exists for the devmap to hold; BPF_PROG_TEST_RUN never
transmits, so nothing is ever sent through it.
"""

from __future__ import annotations

from typing import Any

from ..spec import Fixture
from ..verdict import Verdict

__all__ = ["FORWARDING", "MAC_IN", "MAC_NH1", "MAC_NH2", "MAC_OUT", "fixtures"]

MAC_CLIENT, MAC_IN = "02:00:00:00:00:01", "02:00:00:00:00:fe"  # the sender, our ingress
MAC_OUT = "02:00:00:00:01:fe"  # our egress
MAC_NH1, MAC_NH2, MAC_NH3 = "02:00:00:00:01:01", "02:00:00:00:01:02", "02:00:00:00:01:03"
SRC4, SRC6 = "198.18.0.1", "2001:db8::1"

FORWARDING: dict[str, Any] = {
    "nexthops": {
        1: {"ifindex": 1, "mac": MAC_NH1, "src_mac": MAC_OUT},
        2: {"ifindex": 1, "mac": MAC_NH2, "src_mac": MAC_OUT},
        3: {"ifindex": 1, "mac": MAC_NH3, "src_mac": MAC_OUT, "mtu": 576},
    },
    "routes": [
        {"to": "198.19.0.0/16", "via": 1},
        {"to": "198.19.128.0/17", "via": 2},
        {"to": "198.19.64.0/18", "via": 3},
        {"to": "198.19.1.0/24", "via": "kernel"},
        {"to": "198.19.2.3/32", "via": 2},
        {"to": "2001:db8:1::/48", "via": 1},
        {"to": "2001:db8:1:2::/64", "via": 2},
    ],
    "local": ["198.19.0.1", "2001:db8:1::fe"],
}


def fixtures() -> list[Fixture]:
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6ND_NS, IPv6, IPv6ExtHdrHopByHop
    from scapy.layers.l2 import ARP, Dot1Q, Ether

    eth = Ether(src=MAC_CLIENT, dst=MAC_IN)

    def out(nh_mac: str) -> Any:
        return Ether(src=MAC_OUT, dst=nh_mac)

    def fwd(description: str, l3: Any, nh_mac: str, config: Any = FORWARDING) -> Fixture:
        """A forwarded packet: new MACs, TTL / hop limit one less (scapy recomputes the checksum)."""
        after = l3.copy()
        if after.haslayer(IP):
            after[IP].ttl -= 1
            del after[IP].chksum
        else:
            after[IPv6].hlim -= 1
        return Fixture(description, eth / l3, Verdict.REDIRECT, out(nh_mac) / after, config=config)

    def kernel(description: str, packet: Any, config: Any = FORWARDING) -> Fixture:
        return Fixture(description, packet, Verdict.PASS, config=config)

    udp4 = IP(src=SRC4, dst="198.19.0.9") / UDP(sport=4000, dport=53) / b"query"
    rows = [
        fwd("UDP/IPv4 to 198.19.0.0/16: next hop 1", udp4, MAC_NH1),
        fwd("ICMP to 198.19.200.1: the /17 wins", IP(src=SRC4, dst="198.19.200.1") / ICMP(id=1), MAC_NH2),
        fwd("TCP to 198.19.2.3: a host route", IP(src=SRC4, dst="198.19.2.3") / TCP(dport=80), MAC_NH2),
        fwd("TTL 2 leaves with TTL 1", IP(src=SRC4, dst="198.19.0.9", ttl=2) / UDP(dport=9), MAC_NH1),
        fwd(
            "IPv4 later fragment: forwarded (no L4 needed)",
            IP(src=SRC4, dst="198.19.0.9", frag=10, proto=17) / (b"f" * 24),
            MAC_NH1,
        ),
        fwd("TCP/IPv6 to 2001:db8:1::/48", IPv6(src=SRC6, dst="2001:db8:1::5") / TCP(dport=443), MAC_NH1),
        fwd(
            "ICMPv6 echo to 2001:db8:1:2::/64: the /64 wins",
            IPv6(src=SRC6, dst="2001:db8:1:2::5") / ICMPv6EchoRequest(id=2),
            MAC_NH2,
        ),
        fwd("hop limit 2 leaves with 1", IPv6(src=SRC6, dst="2001:db8:1::9", hlim=2) / UDP(dport=9), MAC_NH1),
        fwd(
            "576 bytes to the 576-MTU next hop: forwarded",
            IP(src=SRC4, dst="198.19.64.1") / UDP(dport=9) / bytes(576 - 28),
            MAC_NH3,
        ),
        kernel(
            "577 bytes to the 576-MTU next hop: to the kernel (fragments or ICMP)",
            eth / IP(src=SRC4, dst="198.19.64.1") / UDP(dport=9) / bytes(577 - 28),
        ),
        kernel("TTL 1: the kernel sends time exceeded", eth / IP(src=SRC4, dst="198.19.0.9", ttl=1) / UDP()),
        kernel("TTL 0", eth / IP(src=SRC4, dst="198.19.0.9", ttl=0) / UDP()),
        kernel("hop limit 1", eth / IPv6(src=SRC6, dst="2001:db8:1::9", hlim=1) / UDP()),
        kernel("no route to 198.18.5.5", eth / IP(src=SRC4, dst="198.18.5.5") / UDP()),
        kernel("no route to 2001:db8:2::1", eth / IPv6(src=SRC6, dst="2001:db8:2::1") / UDP()),
        kernel("local address 198.19.0.1", eth / IP(src=SRC4, dst="198.19.0.1") / ICMP()),
        kernel(
            "local address 2001:db8:1::fe", eth / IPv6(src=SRC6, dst="2001:db8:1::fe") / ICMPv6EchoRequest()
        ),
        kernel("198.19.1.0/24 is routed to the kernel", eth / IP(src=SRC4, dst="198.19.1.20") / UDP()),
        kernel("ARP", eth / ARP(psrc=SRC4, pdst="198.19.0.1")),
        kernel("broadcast destination MAC", Ether(src=MAC_CLIENT, dst="ff:ff:ff:ff:ff:ff") / udp4),
        kernel("802.1Q-tagged", eth / Dot1Q(vlan=5) / udp4),
        kernel("IPv4 options", eth / IP(src=SRC4, dst="198.19.0.9", options=b"\x01" * 4) / UDP()),
        kernel(
            "IPv6 hop-by-hop options",
            eth / IPv6(src=SRC6, dst="2001:db8:1::9") / IPv6ExtHdrHopByHop() / UDP(),
        ),
        kernel(
            "neighbour solicitation to a routed address",
            eth / IPv6(src=SRC6, dst="2001:db8:1::9", hlim=255) / ICMPv6ND_NS(tgt="2001:db8:1::9"),
        ),
        kernel("IPv4 cut inside the UDP header", bytes(eth / udp4)[:40]),
        kernel("IPv4 total length past the frame", eth / IP(src=SRC4, dst="198.19.0.9", len=200) / UDP()),
    ]
    empty = [kernel("empty table: no route", eth / udp4, None)]
    fib = [
        kernel("fib mode, no ports: nothing to redirect to", eth / udp4, {"mode": "fib"}),
        kernel(
            "fib mode: TTL 1 before any lookup",
            eth / IP(src=SRC4, dst="198.19.0.9", ttl=1) / UDP(),
            {"mode": "fib"},
        ),
    ]
    return rows + empty + fib
