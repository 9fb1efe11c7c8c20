"""The firewall's fixture table: one policy exercised field by field, then the edge policies.

Rows with the same config run in order on one program; after each group the model's hit
counters must equal the kernel's (:meth:`FirewallModel.state_diff`), so the table checks
which rule decided, not only the verdict.
"""

from __future__ import annotations

from typing import Any

from ..spec import Fixture
from ..verdict import Verdict

__all__ = ["POLICY", "fixtures"]

MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"
ADMIN, OTHER, BLOCKED, FRAGS = "198.18.1.5", "198.18.9.9", "198.18.66.7", "198.18.2.3"
WEB, APP = "198.19.0.10", "198.19.5.5"
V6_A, V6_B = "2001:db8::1", "2001:db8:1::2"

# an ordered policy touching every field: prefixes, protocols, port ranges, ICMP types,
# an any-family rule, a priority that overrides list order, and a default drop
POLICY: dict[str, Any] = {
    "default": "drop",
    "rules": [
        {"id": "ssh-admin", "src": "198.18.1.0/24", "proto": "tcp", "dport": 22, "action": "accept"},
        {"id": "ssh-others", "proto": "tcp", "dport": "22", "action": "drop"},
        {"id": "web", "dst": f"{WEB}/32", "proto": "tcp", "dport": 80, "action": "accept"},
        {"id": "app-range", "dst": "198.19.0.0/16", "proto": "tcp", "dport": "8000-8999", "action": "accept"},
        {"id": "dns", "proto": "udp", "dport": 53, "action": "accept"},
        {"id": "ping", "proto": "icmp", "icmp_type": 8, "action": "accept"},
        {"id": "icmp-rest", "proto": "icmp", "action": "drop"},
        {"id": "v6-https", "src": "2001:db8::/48", "proto": "tcp", "dport": 443, "action": "accept"},
        {"id": "v6-nd", "proto": "icmpv6", "icmp_type": 135, "action": "accept"},
        {"id": "gre", "src": "198.18.0.0/15", "proto": 47, "action": "accept"},
        {"id": "frag-host", "src": f"{FRAGS}/32", "action": "accept"},
        {"id": "low-sports", "proto": "udp", "sport": "0-1023", "dport": "1024-65535", "action": "drop"},
        {"id": "blocklist", "src": "198.18.66.0/24", "action": "drop", "priority": -10},
    ],
}


def fixtures() -> list[Fixture]:
    from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6ND_NS, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment
    from scapy.layers.l2 import ARP, Dot1Q, Ether

    eth = Ether(src=MAC_A, dst=MAC_B)
    A, D = Verdict.CONTINUE, Verdict.DROP

    def row(description: str, packet: object, verdict: Verdict, config: dict | None = POLICY) -> Fixture:
        return Fixture(description, packet, verdict, config=config)

    dns = UDP(sport=40000, dport=53) / b"query"
    policy = [
        row("tcp/22 from the admin /24: first rule accepts", eth / IP(src=ADMIN, dst=WEB) / TCP(dport=22), A),
        row("tcp/22 from elsewhere: second rule drops", eth / IP(src=OTHER, dst=WEB) / TCP(dport=22), D),
        row("tcp/80 to the web host (/32)", eth / IP(src=OTHER, dst=WEB) / TCP(sport=5555, dport=80), A),
        row("tcp/80 to another host: default drop", eth / IP(src=OTHER, dst=APP) / TCP(dport=80), D),
        row("tcp/8080 inside 8000-8999 to 198.19/16", eth / IP(src=OTHER, dst=APP) / TCP(dport=8080), A),
        row("tcp/9000 outside the range: default drop", eth / IP(src=OTHER, dst=APP) / TCP(dport=9000), D),
        row("udp/53 (no address: any family)", eth / IP(src=OTHER, dst=APP) / dns, A),
        row("udp/53 over IPv6: the any-family rule", eth / IPv6(src=V6_B, dst=V6_A) / dns, A),
        row("udp/53 from the blocklist: priority -10 wins", eth / IP(src=BLOCKED, dst=APP) / dns, D),
        row(
            "udp from port 123 to 5000: source-port range",
            eth / IP(src=OTHER, dst=APP) / UDP(sport=123, dport=5000),
            D,
        ),
        row("ICMP echo request: type 8 accepted", eth / IP(src=OTHER, dst=WEB) / ICMP(type=8), A),
        row("ICMP echo reply: the type-less icmp rule drops", eth / IP(src=OTHER, dst=WEB) / ICMP(type=0), D),
        row("GRE from 198.18/15: protocol 47", eth / IP(src=OTHER, dst=WEB) / GRE() / bytes(8), A),
        row(
            "first fragment carries the ports: udp/53 accepted",
            eth / IP(src=OTHER, dst=APP, flags="MF", id=9) / dns,
            A,
        ),
        row(
            "later fragment: no ports, port rules skip it, default drop",
            eth / IP(src=OTHER, dst=APP, frag=4, id=9, proto=17) / (b"x" * 16),
            D,
        ),
        row(
            "later fragment from a host a port-less rule accepts",
            eth / IP(src=FRAGS, dst=APP, frag=4, id=9, proto=17) / (b"x" * 16),
            A,
        ),
        row("IPv6 tcp/443 from 2001:db8::/48", eth / IPv6(src=V6_A, dst=V6_B) / TCP(dport=443), A),
        row(
            "IPv6 tcp/443 behind a destination-options header",
            eth / IPv6(src=V6_A, dst=V6_B) / IPv6ExtHdrDestOpt() / TCP(dport=443),
            A,
        ),
        row(
            "IPv6 tcp/443 from outside the /48: default drop",
            eth / IPv6(src=V6_B, dst=V6_A) / TCP(dport=443),
            D,
        ),
        row(
            "ICMPv6 neighbour solicitation: type 135",
            eth / IPv6(src=V6_A, dst=V6_B) / ICMPv6ND_NS(tgt=V6_B),
            A,
        ),
        row("ICMPv6 echo request: default drop", eth / IPv6(src=V6_A, dst=V6_B) / ICMPv6EchoRequest(), D),
        row(
            "IPv6 later fragment of udp/53: no ports, default drop",
            eth / IPv6(src=V6_B, dst=V6_A) / IPv6ExtHdrFragment(offset=8, m=0, nh=17) / (b"y" * 16),
            D,
        ),
        row("802.1Q-tagged udp/53", eth / Dot1Q(vlan=7) / IP(src=OTHER, dst=APP) / dns, A),
        row("ARP passes (non_ip: accept)", eth / ARP(psrc=OTHER, pdst=WEB), A),
        row(
            "IPv4 cut inside the TCP header: dropped",
            bytes(eth / IP(src=ADMIN, dst=WEB) / TCP(dport=22))[:40],
            D,
        ),
        row("IPv4 IHL=4: malformed, dropped", bytes(eth / IP(src=ADMIN, dst=WEB, ihl=4) / UDP(dport=53)), D),
    ]
    strict_l2 = {
        "default": "accept",
        "non_ip": "drop",
        "rules": [{"proto": "tcp", "dport": 23, "action": "drop"}],
    }
    edges = [
        row(
            "no rules, default accept: anything continues",
            eth / IP(src=OTHER, dst=WEB) / TCP(dport=23),
            A,
            None,
        ),
        row("no rules: ARP continues", eth / ARP(psrc=OTHER, pdst=WEB), A, None),
        row("non_ip drop: ARP dropped", eth / ARP(psrc=OTHER, pdst=WEB), D, strict_l2),
        row("default accept: unmatched udp continues", eth / IP(src=OTHER, dst=WEB) / dns, A, strict_l2),
        row("telnet dropped by the only rule", eth / IP(src=OTHER, dst=WEB) / TCP(dport=23), D, strict_l2),
    ]
    return policy + edges
