"""The firewall's fixture table: one policy exercised field by field, the edge policies, then
stateful mode as conversations.

Rows with the same config run in order on one program; after each group the model's hit
counters (and, stateful, its flow table) must equal the kernel's
(:meth:`FirewallModel.state_diff`), so the table checks which rule decided, not only the
verdict.
"""

from __future__ import annotations

from typing import Any

from ..spec import Fixture
from ..verdict import Verdict

__all__ = ["POLICY", "STATEFUL", "fixtures"]

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

# stateful: default drop, the client side may open TCP/80, DNS and pings to the server side
CLIENT, SERVER, ROUTER = "198.18.0.10", "198.19.0.20", "198.18.255.1"
STATEFUL: dict[str, Any] = {
    "stateful": True,
    "default": "drop",
    "conntrack_size": 1024,
    "rules": [
        {
            "id": "web",
            "src": "198.18.0.0/16",
            "dst": "198.19.0.0/16",
            "proto": "tcp",
            "dport": 80,
            "action": "accept",
        },
        {"id": "dns", "src": "198.18.0.0/16", "proto": "udp", "dport": 53, "action": "accept"},
        {"id": "ping", "src": "198.18.0.0/16", "proto": "icmp", "icmp_type": 8, "action": "accept"},
        {"id": "v6-web", "src": "2001:db8::/48", "proto": "tcp", "dport": 443, "action": "accept"},
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
    return policy + edges + _stateful(eth)


def _stateful(eth: Any) -> list[Fixture]:
    from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, TCPerror
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP

    A, D = Verdict.CONTINUE, Verdict.DROP

    def row(description: str, packet: object, verdict: Verdict, config: dict[str, Any] = STATEFUL) -> Fixture:
        return Fixture(description, packet, verdict, config=config)

    def c2s(sport: int, dport: int, flags: str) -> Any:
        return eth / IP(src=CLIENT, dst=SERVER) / TCP(sport=sport, dport=dport, flags=flags)

    def s2c(sport: int, dport: int, flags: str) -> Any:
        return eth / IP(src=SERVER, dst=CLIENT) / TCP(sport=sport, dport=dport, flags=flags)

    def unreachable(src: str, quoted: Any) -> Any:
        ip = quoted[IP]
        return eth / IP(src=src, dst=ip.src) / ICMP(type=3, code=4) / bytes(ip)[:28]

    dns = IP(src=CLIENT, dst=SERVER) / UDP(sport=33333, dport=53) / b"query"
    dns_reply = IP(src=SERVER, dst=CLIENT) / UDP(sport=53, dport=33333) / b"answer"
    v6 = IPv6(src="2001:db8::10", dst="2001:db8:1::20")
    v6r = IPv6(src="2001:db8:1::20", dst="2001:db8::10")
    stateful = [
        row("stateful: client SYN to tcp/80, the rule accepts and opens the flow", c2s(40000, 80, "S"), A),
        row("stateful: server SYN-ACK, return traffic though no rule allows it", s2c(80, 40000, "SA"), A),
        row("stateful: client ACK, established", c2s(40000, 80, "A"), A),
        row("stateful: server data, established", s2c(80, 40000, "PA") / b"hello", A),
        row("stateful: unsolicited SYN from the server side: default drop", s2c(80, 40001, "S"), D),
        row("stateful: server SYN to the client's ssh: default drop", s2c(5000, 22, "S"), D),
        row(
            "stateful: ICMP error about the flow (from a router on the path): related",
            unreachable(ROUTER, c2s(40000, 80, "A")),
            A,
        ),
        row(
            "stateful: ICMP error about no flow: the rules decide (drop)",
            eth
            / IP(src=ROUTER, dst=CLIENT)
            / ICMP(type=3, code=4)
            / IPerror(src=CLIENT, dst=SERVER)
            / TCPerror(sport=40009, dport=80),
            D,
        ),
        row("stateful: mid-stream ACK to tcp/80: the rule accepts, no flow", c2s(40002, 80, "A"), A),
        row("stateful: ... so its reply is dropped (no loose pick-up)", s2c(80, 40002, "A"), D),
        row("stateful: RST to tcp/80: accepted by the rule, creates nothing", c2s(40003, 80, "R"), A),
        row("stateful: server RST of the open flow: established (to CLOSE)", s2c(80, 40000, "R"), A),
        row("stateful: DNS query opens a UDP flow", eth / dns, A),
        row("stateful: DNS answer: established", eth / dns_reply, A),
        row(
            "stateful: later fragment of the answer: no ports, not tracked, default drop",
            eth / IP(src=SERVER, dst=CLIENT, frag=4, id=7, proto=17) / (b"z" * 16),
            D,
        ),
        row(
            "stateful: echo request accepted, opens an ICMP flow",
            eth / IP(src=CLIENT, dst=SERVER) / ICMP(type=8, id=7),
            A,
        ),
        row(
            "stateful: its echo reply: established", eth / IP(src=SERVER, dst=CLIENT) / ICMP(type=0, id=7), A
        ),
        row(
            "stateful: echo reply of another identifier: dropped",
            eth / IP(src=SERVER, dst=CLIENT) / ICMP(type=0, id=8),
            D,
        ),
        row(
            "stateful: echo request from the server side: dropped",
            eth / IP(src=SERVER, dst=CLIENT) / ICMP(type=8, id=9),
            D,
        ),
        row(
            "stateful: IPv6 SYN to tcp/443 opens a flow", eth / v6 / TCP(sport=50000, dport=443, flags="S"), A
        ),
        row("stateful: IPv6 SYN-ACK: return traffic", eth / v6r / TCP(sport=443, dport=50000, flags="SA"), A),
        row(
            "stateful: IPv6 SYN-ACK of another flow: dropped",
            eth / v6r / TCP(sport=443, dport=50001, flags="SA"),
            D,
        ),
        row("stateful: ARP still follows non_ip", eth / ARP(psrc=SERVER, pdst=CLIENT), A),
    ]
    stateless = {**STATEFUL, "stateful": False}
    unchanged = [
        row("stateless: the same SYN is accepted by the rule", c2s(40000, 80, "S"), A, stateless),
        row("stateless: its SYN-ACK matches no rule: dropped", s2c(80, 40000, "SA"), D, stateless),
    ]
    return stateful + unchanged
