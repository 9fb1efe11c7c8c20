"""The NAT's fixture table.

A standalone test_run sees one direction per hook: XDP rows are inbound (to
the NAT address), TC rows outbound (TC test_run without a context looks like
egress). Rows with the same config run in order on one program, so each hook
has its own sequence; tests/kernel/test_vnf_nat.py drives both directions
through one program for round trips.

Expected outputs are built with scapy from the translated fields, every
checksum computed from scratch: the kernel's incremental updates must land on
the same bytes.
"""

from __future__ import annotations

from typing import Any

from ...conntrack.key import tuple_from
from ..parse import mapped
from ..spec import Fixture
from ..verdict import Verdict
from .model import NAT_TRIES, port_hash

__all__ = ["CONFIG4", "CONFIG6", "fixtures", "hashed_port"]

MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"
NAT4, REMOTE4, ROUTER4 = "198.19.0.1", "198.19.5.5", "198.19.9.9"
CLIENT4, CLIENT4B, SERVER4, OTHER4 = "198.18.0.2", "198.18.0.3", "198.18.0.10", "198.19.7.7"
NAT6, REMOTE6 = "2001:db8:ffff::1", "2001:db8:ffff::5"
CLIENT6, SERVER6 = "2001:db8:1::2", "2001:db8:1::10"

CONFIG4: dict[str, Any] = {
    "address": NAT4,
    "snat": ["198.18.0.0/16"],
    "ports": (20000, 20009),
    "forward": [
        {"proto": "tcp", "port": 8080, "to": SERVER4, "to_port": 80},
        {"proto": "udp", "port": 5353, "to": SERVER4, "to_port": 53},
    ],
}
CONFIG6: dict[str, Any] = {
    "address6": NAT6,
    "snat": ["2001:db8:1::/48"],
    "ports": (20000, 20009),
    "forward": [{"proto": "tcp", "port": 8080, "to": SERVER6, "to_port": 80}],
}


def hashed_port(
    src: str,
    sport: int,
    dst: str,
    dport: int,
    proto: int,
    ports: tuple[int, int],
    taken: set[int],
    seed: int = 0,
) -> int:
    """The port a new SNAT flow gets (the documented algorithm): its own if in range and free, else hashed."""
    import ipaddress

    lo, hi = ports
    s, d = mapped(ipaddress.ip_address(src)), mapped(ipaddress.ip_address(dst))
    h = port_hash(tuple_from(s, sport, d, dport, proto).key.pack(), seed)
    for i in range(NAT_TRIES):
        port = sport if i == 0 and lo <= sport <= hi else lo + ((h + i) & 0xFFFFFFFF) % (hi - lo + 1)
        if port not in taken:
            return port
    raise ValueError("no free port")


def _fresh(pkt: Any) -> Any:
    """The packet with every checksum recomputed by scapy (nested ones too)."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6EchoRequest

    p = pkt.copy()
    layer = p
    while layer:
        plain = isinstance(layer, IP | TCP | ICMP | ICMPv6EchoRequest | ICMPv6DestUnreach)
        if plain or (isinstance(layer, UDP) and layer.chksum != 0):
            layer.chksum = None
        layer = layer.payload
    return p.__class__(bytes(p))


def fixtures() -> list[Fixture]:
    return _ipv4() + _ipv6()


def _ipv4() -> list[Fixture]:
    from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP
    from scapy.layers.l2 import Dot1Q, Ether

    eth = Ether(src=MAC_A, dst=MAC_B)
    C, D, X = Verdict.CONTINUE, Verdict.DROP, Verdict.CONTINUE

    def out(desc: str, pkt: Any, want: Any, verdict: Verdict = C) -> Fixture:
        return Fixture(desc, pkt, verdict, output=want, config=CONFIG4, hooks=("tc",))

    def inb(desc: str, pkt: Any, want: Any, verdict: Verdict = C) -> Fixture:
        return Fixture(desc, pkt, verdict, output=want, config=CONFIG4, hooks=("xdp",))

    ip = IP(src=CLIENT4, dst=REMOTE4, id=1, ttl=63)
    syn = eth / ip / TCP(sport=20003, dport=80, flags="S", seq=1000, options=[("MSS", 1460)])
    ack = eth / ip / TCP(sport=20003, dport=80, flags="A", seq=1001, ack=5001) / b"GET / HTTP/1.0\r\n\r\n"
    taken = {20003}
    p_b = hashed_port(CLIENT4B, 20003, REMOTE4, 80, 6, CONFIG4["ports"], taken)
    taken.add(p_b)
    syn_b = eth / IP(src=CLIENT4B, dst=REMOTE4, id=2) / TCP(sport=20003, dport=80, flags="S", seq=7)
    udp = eth / ip / UDP(sport=40000, dport=53) / b"query"
    p_udp = hashed_port(CLIENT4, 40000, REMOTE4, 53, 17, CONFIG4["ports"], set())
    udp0 = eth / IP(src=CLIENT4, dst=REMOTE4, id=3) / UDP(sport=40001, dport=53, chksum=0) / b"nosum"
    p_udp0 = hashed_port(CLIENT4, 40001, REMOTE4, 53, 17, CONFIG4["ports"], {p_udp})
    ping = eth / IP(src=CLIENT4, dst=REMOTE4, id=4) / ICMP(type=8, id=7, seq=1) / b"ping"
    p_ping = hashed_port(CLIENT4, 7, REMOTE4, 7, 1, CONFIG4["ports"], set())
    frag = eth / IP(src=CLIENT4, dst=REMOTE4, id=9, frag=3, proto=17) / (b"f" * 16)
    vlan = eth / Dot1Q(vlan=7) / IP(src=CLIENT4, dst=REMOTE4, id=5) / TCP(sport=20004, dport=443, flags="S")
    opts = (
        eth / IP(src=CLIENT4, dst=REMOTE4, id=6, options=b"\x01" * 4) / TCP(sport=20005, dport=443, flags="S")
    )
    rows = [
        out(
            "outbound TCP SYN, source port in the range: masqueraded, port kept",
            syn,
            _fresh(eth / ip.copy().__class__(src=NAT4, dst=REMOTE4, id=1, ttl=63) / syn[TCP]),
        ),
        out(
            "the same flow's data: the same binding",
            ack,
            _fresh(eth / IP(src=NAT4, dst=REMOTE4, id=1, ttl=63) / ack[TCP]),
        ),
        out(
            "another client, same port, same remote: the port is taken, the hash picks another",
            syn_b,
            _fresh(eth / IP(src=NAT4, dst=REMOTE4, id=2) / TCP(sport=p_b, dport=80, flags="S", seq=7)),
        ),
        out(
            "outbound UDP from an ephemeral port: a port from the hash",
            udp,
            _fresh(eth / IP(src=NAT4, dst=REMOTE4, id=1, ttl=63) / UDP(sport=p_udp, dport=53) / b"query"),
        ),
        out(
            "outbound UDP without a checksum: stays without",
            udp0,
            eth / IP(src=NAT4, dst=REMOTE4, id=3) / UDP(sport=p_udp0, dport=53, chksum=0) / b"nosum",
        ),
        out(
            "outbound ICMP echo request: identifier translated",
            ping,
            _fresh(eth / IP(src=NAT4, dst=REMOTE4, id=4) / ICMP(type=8, id=p_ping, seq=1) / b"ping"),
        ),
        out(
            "802.1Q-tagged outbound TCP: masqueraded",
            vlan,
            _fresh(
                eth / Dot1Q(vlan=7) / IP(src=NAT4, dst=REMOTE4, id=5) / TCP(sport=20004, dport=443, flags="S")
            ),
        ),
        out(
            "outbound TCP with IPv4 options: masqueraded",
            opts,
            _fresh(
                eth
                / IP(src=NAT4, dst=REMOTE4, id=6, options=b"\x01" * 4)
                / TCP(sport=20005, dport=443, flags="S")
            ),
        ),
        out(
            "outbound later fragment: the NAT address only (no ports)",
            frag,
            _fresh(eth / IP(src=NAT4, dst=REMOTE4, id=9, frag=3, proto=17) / (b"f" * 16)),
        ),
        out(
            "GRE from a SNAT prefix: cannot be translated, dropped",
            eth / IP(src=CLIENT4, dst=REMOTE4) / GRE() / bytes(8),
            None,
            D,
        ),
        out(
            "a RST opening no flow from a SNAT prefix: dropped",
            eth / IP(src=CLIENT4, dst=REMOTE4) / TCP(sport=20006, dport=80, flags="R"),
            None,
            D,
        ),
        out(
            "ICMP echo reply from a SNAT prefix (no flow): dropped",
            eth / IP(src=CLIENT4, dst=REMOTE4) / ICMP(type=0, id=9),
            None,
            D,
        ),
        out(
            "from outside the SNAT prefixes: untouched",
            eth / IP(src=OTHER4, dst=REMOTE4) / TCP(sport=1234, dport=80, flags="S"),
            None,
            X,
        ),
    ]
    # inbound: port forwarding, and what is not ours
    fwd = eth / IP(src=REMOTE4, dst=NAT4, id=11) / TCP(sport=5555, dport=8080, flags="S", seq=99)
    fwd_ack = eth / IP(src=REMOTE4, dst=NAT4, id=12) / TCP(sport=5555, dport=8080, flags="A", seq=100) / b"x"
    dns = eth / IP(src=REMOTE4, dst=NAT4, id=13) / UDP(sport=6000, dport=5353) / b"dns?"
    # an ICMP error about the forwarded flow's reply (198.19.0.1:8080 -> remote:5555 on the wire)
    quoted = IP(src=NAT4, dst=REMOTE4, id=77) / TCP(sport=8080, dport=5555, flags="SA", seq=1, ack=100)
    err = eth / IP(src=ROUTER4, dst=NAT4, id=14) / ICMP(type=11, code=0) / quoted
    err_out = (
        eth
        / IP(src=ROUTER4, dst=SERVER4, id=14)
        / ICMP(type=11, code=0)
        / (IP(src=SERVER4, dst=REMOTE4, id=77) / TCP(sport=80, dport=5555, flags="SA", seq=1, ack=100))
    )
    rows += [
        inb(
            "inbound TCP SYN to a forwarded port: to the inside server",
            fwd,
            _fresh(eth / IP(src=REMOTE4, dst=SERVER4, id=11) / TCP(sport=5555, dport=80, flags="S", seq=99)),
        ),
        inb(
            "the forwarded flow's next packet: the same binding",
            fwd_ack,
            _fresh(
                eth
                / IP(src=REMOTE4, dst=SERVER4, id=12)
                / TCP(sport=5555, dport=80, flags="A", seq=100)
                / b"x"
            ),
        ),
        inb(
            "inbound UDP to a forwarded port",
            dns,
            _fresh(eth / IP(src=REMOTE4, dst=SERVER4, id=13) / UDP(sport=6000, dport=53) / b"dns?"),
        ),
        inb(
            "ICMP time exceeded quoting the forwarded flow's reply: outer and quoted headers translated",
            err,
            _fresh(err_out),
        ),
        inb(
            "TCP to the NAT address without rule or binding: untouched (the NAT box's own)",
            eth / IP(src=REMOTE4, dst=NAT4) / TCP(sport=5555, dport=22, flags="S"),
            None,
        ),
        inb(
            "ICMP echo request to the NAT address: untouched",
            eth / IP(src=REMOTE4, dst=NAT4) / ICMP(type=8, id=3),
            None,
        ),
        inb(
            "a RST to a forwarded port opening nothing: untouched",
            eth / IP(src=REMOTE4, dst=NAT4) / TCP(sport=5556, dport=8080, flags="R"),
            None,
        ),
        inb(
            "an inbound later fragment: untouched (no ports)",
            eth / IP(src=REMOTE4, dst=NAT4, frag=5, proto=6) / (b"y" * 8),
            None,
        ),
        inb(
            "inbound traffic to another address: untouched",
            eth / IP(src=REMOTE4, dst=OTHER4) / TCP(sport=5555, dport=8080, flags="S"),
            None,
        ),
    ]
    return rows


def _ipv6() -> list[Fixture]:
    from scapy.layers.inet import TCP, UDP
    from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6EchoRequest, IPv6
    from scapy.layers.l2 import Ether

    eth = Ether(src=MAC_A, dst=MAC_B)
    C = Verdict.CONTINUE

    def out(desc: str, pkt: Any, want: Any) -> Fixture:
        return Fixture(desc, pkt, C, output=want, config=CONFIG6, hooks=("tc",))

    def inb(desc: str, pkt: Any, want: Any) -> Fixture:
        return Fixture(desc, pkt, C, output=want, config=CONFIG6, hooks=("xdp",))

    syn = eth / IPv6(src=CLIENT6, dst=REMOTE6) / TCP(sport=20003, dport=80, flags="S", seq=5)
    udp = eth / IPv6(src=CLIENT6, dst=REMOTE6) / UDP(sport=40000, dport=53) / b"q6"
    p_udp = hashed_port(CLIENT6, 40000, REMOTE6, 53, 17, CONFIG6["ports"], set())
    ping = eth / IPv6(src=CLIENT6, dst=REMOTE6) / ICMPv6EchoRequest(id=7, seq=1, data=b"ping6")
    p_ping = hashed_port(CLIENT6, 7, REMOTE6, 7, 58, CONFIG6["ports"], set())
    fwd = eth / IPv6(src=REMOTE6, dst=NAT6) / TCP(sport=5555, dport=8080, flags="S", seq=9)
    quoted = IPv6(src=NAT6, dst=REMOTE6) / TCP(sport=8080, dport=5555, flags="SA", seq=1, ack=10)
    err = eth / IPv6(src=REMOTE6, dst=NAT6) / ICMPv6DestUnreach(code=4) / quoted
    err_out = (
        eth
        / IPv6(src=REMOTE6, dst=SERVER6)
        / ICMPv6DestUnreach(code=4)
        / (IPv6(src=SERVER6, dst=REMOTE6) / TCP(sport=80, dport=5555, flags="SA", seq=1, ack=10))
    )
    return [
        out(
            "NAT66: outbound TCP SYN masqueraded, port kept",
            syn,
            _fresh(eth / IPv6(src=NAT6, dst=REMOTE6) / TCP(sport=20003, dport=80, flags="S", seq=5)),
        ),
        out(
            "NAT66: outbound UDP, a port from the hash",
            udp,
            _fresh(eth / IPv6(src=NAT6, dst=REMOTE6) / UDP(sport=p_udp, dport=53) / b"q6"),
        ),
        out(
            "NAT66: ICMPv6 echo request, identifier translated (its checksum covers the addresses)",
            ping,
            _fresh(eth / IPv6(src=NAT6, dst=REMOTE6) / ICMPv6EchoRequest(id=p_ping, seq=1, data=b"ping6")),
        ),
        inb(
            "NAT66: inbound TCP SYN to a forwarded port",
            fwd,
            _fresh(eth / IPv6(src=REMOTE6, dst=SERVER6) / TCP(sport=5555, dport=80, flags="S", seq=9)),
        ),
        inb(
            "NAT66: ICMPv6 port unreachable quoting the forwarded flow's reply, translated",
            err,
            _fresh(err_out),
        ),
    ]
