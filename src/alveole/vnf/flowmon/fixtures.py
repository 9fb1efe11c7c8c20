"""flowmon's fixture table: every packet continues unchanged; the state check does the rest.

Rows with the same config run in order on one program and one model; after
each group the model's flow table and "other" counters must equal the
kernel's (:meth:`FlowmonModel.state_diff`), so the table checks the keying
(ports, ICMP type/code, fragments, VLANs, ignored prefixes), not only verdicts.
"""

from __future__ import annotations

from ..spec import Fixture
from ..verdict import Verdict

__all__ = ["fixtures"]

MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"
V4_A, V4_B, V4_C = "198.18.0.1", "198.19.0.2", "198.18.1.7"
V6_A, V6_B = "2001:db8::1", "2001:db8:1::2"


def fixtures() -> list[Fixture]:
    from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6, IPv6ExtHdrFragment
    from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether

    eth = Ether(src=MAC_A, dst=MAC_B)
    udp4 = eth / IP(src=V4_A, dst=V4_B) / UDP(sport=4000, dport=53) / b"query"
    tcp4_opts = eth / IP(src=V4_A, dst=V4_B) / TCP(sport=4001, dport=80, flags="S", options=[("MSS", 1460)])
    big = eth / IP(src=V4_A, dst=V4_B, id=7, flags="MF", frag=0) / UDP(sport=4002, dport=9000) / (b"x" * 32)
    later = eth / IP(src=V4_A, dst=V4_B, id=7, frag=5, proto=17) / (b"y" * 24)
    frag6 = eth / IPv6(src=V6_A, dst=V6_B) / IPv6ExtHdrFragment(offset=4, m=0, id=9, nh=17) / (b"z" * 16)
    C = Verdict.CONTINUE

    def row(description: str, packet: object, config: dict | None = None) -> Fixture:
        return Fixture(description, packet, C, config=config)

    default = [
        row("UDP/IPv4: a new flow", udp4),
        row("UDP/IPv4: the same flow again", udp4),
        row("TCP/IPv4 SYN with an MSS option", tcp4_opts),
        row("TCP/IPv6 ACK", eth / IPv6(src=V6_A, dst=V6_B) / TCP(sport=4003, dport=443, flags="A")),
        row("ICMP echo request: type/code key the flow", eth / IP(src=V4_A, dst=V4_B) / ICMP(id=1, seq=1)),
        row("ICMPv6 echo request", eth / IPv6(src=V6_A, dst=V6_B) / ICMPv6EchoRequest(id=1)),
        row("IPv4 first fragment: ports read", big),
        row("IPv4 later fragment: no ports, own flow", later),
        row("IPv6 later fragment: no ports, own flow", frag6),
        row("802.1Q-tagged UDP/IPv4", eth / Dot1Q(vlan=100) / IP(src=V4_A, dst=V4_B) / UDP(sport=1, dport=2)),
        row(
            "QinQ TCP/IPv6",
            eth / Dot1AD(vlan=10) / Dot1Q(vlan=20) / IPv6(src=V6_A, dst=V6_B) / TCP(sport=5, dport=6),
        ),
        row(
            "IPv4 with 40 bytes of options (IHL=15)",
            eth / IP(src=V4_A, dst=V4_B, options=b"\x01" * 40) / UDP(sport=7, dport=8),
        ),
        row("GRE: keyed by addresses and protocol", eth / IP(src=V4_A, dst=V4_B) / GRE() / bytes(8)),
        row("ARP: not IP, counted apart", eth / ARP(psrc=V4_A, pdst=V4_B)),
        row(
            "IPv4 cut inside the TCP header: counted apart", bytes(eth / IP(src=V4_A, dst=V4_B) / TCP())[:40]
        ),
        row("IPv4 IHL=4: malformed, counted apart", bytes(eth / IP(src=V4_A, dst=V4_B, ihl=4) / UDP())),
    ]
    by_source = {"key": ["src", "vlan"]}
    keyed = [
        row("key=src,vlan: a first packet from A", udp4, by_source),
        row("key=src,vlan: another port from A, same flow", tcp4_opts, by_source),
        row(
            "key=src,vlan: A on VLAN 100 is another flow",
            eth / Dot1Q(vlan=100) / IP(src=V4_A, dst=V4_C) / UDP(sport=9, dport=9),
            by_source,
        ),
    ]
    ignoring = {"ignore": ["198.18.0.0/24", "2001:db8:1::/48"]}
    ignored = [
        row("ignore: source in 198.18.0.0/24", udp4, ignoring),
        row("ignore: destination in 2001:db8:1::/48", eth / IPv6(src=V6_A, dst=V6_B) / UDP(), ignoring),
        row(
            "ignore: 198.18.1.7 -> 198.19.0.2 is tracked",
            eth / IP(src=V4_C, dst=V4_B) / UDP(sport=3, dport=4),
            ignoring,
        ),
    ]
    precise = [row("precise_time: a flow with ns timestamps", udp4, {"precise_time": True})]
    return default + keyed + ignored + precise
