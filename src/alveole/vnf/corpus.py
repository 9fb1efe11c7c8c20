"""The malformed-packet corpus every VNF is run over (and the SDK parser checked on).

Frames a VNF must survive without a wrong verdict or an XDP_ABORTED: TCP and
UDP over IPv4 and IPv6 cut at every offset, impossible IPv4 header lengths,
IP lengths longer and shorter than the frame, first and later fragments (IPv4
and IPv6), IPv6 extension-header chains (up to and past the walk limit),
802.1Q / QinQ / three tags, TCP data offsets below 5, ICMP cut short, ARP and
other non-IP ethertypes, empty and 1-byte frames. Deterministic: built once.

Frames shorter than an Ethernet header cannot reach XDP or TC (see
:mod:`alveole.vnf.runner`): they are here so that every consumer handles them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

__all__ = ["CorpusCase", "base_packets", "corpus"]

MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"
V4_A, V4_B = "198.18.0.1", "198.19.255.254"
V6_A, V6_B = "2001:db8::1", "2001:db8:ffff::2"


@dataclass(frozen=True)
class CorpusCase:
    name: str
    frame: bytes


def _set(frame: bytes, off: int, value: bytes) -> bytes:
    return frame[:off] + value + frame[off + len(value) :]


@functools.cache
def base_packets() -> dict[str, bytes]:
    """The well-formed packets the truncations start from."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether

    eth = Ether(src=MAC_A, dst=MAC_B)
    tcp = TCP(sport=40000, dport=443, flags="PA", options=[("MSS", 1460), ("NOP", None), ("NOP", None)])
    return {
        "tcp4": bytes(eth / IP(src=V4_A, dst=V4_B) / tcp / b"data"),
        "udp4": bytes(eth / IP(src=V4_A, dst=V4_B) / UDP(sport=5353, dport=53) / b"query"),
        "tcp6": bytes(eth / IPv6(src=V6_A, dst=V6_B) / tcp / b"data"),
        "udp6": bytes(eth / IPv6(src=V6_A, dst=V6_B) / UDP(sport=5353, dport=53) / b"query"),
    }


@functools.cache
def _corpus() -> tuple[CorpusCase, ...]:
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import (
        ICMPv6EchoRequest,
        IPv6,
        IPv6ExtHdrDestOpt,
        IPv6ExtHdrFragment,
        IPv6ExtHdrHopByHop,
        IPv6ExtHdrRouting,
    )
    from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether

    cases: list[CorpusCase] = []

    def add(name: str, packet: object) -> None:
        cases.append(CorpusCase(name, packet if isinstance(packet, bytes) else bytes(packet)))  # type: ignore[arg-type]

    eth = Ether(src=MAC_A, dst=MAC_B)
    ip4 = IP(src=V4_A, dst=V4_B)
    ip6 = IPv6(src=V6_A, dst=V6_B)
    udp = UDP(sport=5353, dport=53) / b"query"

    # every base packet, whole and cut at every offset
    for name, frame in base_packets().items():
        add(f"{name} whole", frame)
        for cut in range(len(frame)):
            add(f"{name} cut at {cut}", frame[:cut])

    # IPv4 header length
    tcp4 = base_packets()["tcp4"]
    for ihl in range(5):
        add(f"IPv4 IHL={ihl}", _set(tcp4, 14, bytes([0x40 | ihl])))
    add("IPv4 IHL=15 with 40 bytes of options", eth / IP(src=V4_A, dst=V4_B, options=b"\x01" * 40) / udp)
    add("IPv4 IHL=15, frame ends inside the options", bytes(eth / ip4 / udp)[: 14 + 20] + b"\x01" * 12)
    add("IPv4 IHL=15 claimed, 20-byte header", _set(bytes(eth / ip4 / udp), 14, b"\x4f"))
    add("IPv4 version 6 in an IPv4 ethertype", _set(tcp4, 14, b"\x65"))
    add("IPv6 version 4 in an IPv6 ethertype", _set(base_packets()["tcp6"], 14, b"\x40"))

    # IP total length vs frame length
    for delta, what in ((1, "one byte longer"), (100, "100 bytes longer")):
        add(
            f"IPv4 total length {what} than the frame",
            eth / IP(src=V4_A, dst=V4_B, len=20 + 8 + 5 + delta) / udp,
        )
        add(
            f"IPv6 payload length {what} than the frame",
            eth / IPv6(src=V6_A, dst=V6_B, plen=8 + 5 + delta) / udp,
        )
    add("IPv4 total length shorter: UDP cut by it", eth / IP(src=V4_A, dst=V4_B, len=24) / udp)
    add("IPv4 total length 20: no room for TCP", eth / IP(src=V4_A, dst=V4_B, len=20) / TCP())
    add("IPv4 total length below IHL*4", eth / IP(src=V4_A, dst=V4_B, len=19) / udp)
    add("IPv4 total length 0 (TSO-style)", eth / IP(src=V4_A, dst=V4_B, len=0) / udp)
    add("IPv6 payload length 0 with a TCP header", eth / IPv6(src=V6_A, dst=V6_B, plen=0) / TCP())
    add(
        "IPv6 payload 0 + hop-by-hop (jumbogram)",
        eth / IPv6(src=V6_A, dst=V6_B, plen=0) / IPv6ExtHdrHopByHop() / udp,
    )
    add(
        "IPv4 UDP padded to 60 bytes (Ethernet minimum)",
        bytes(eth / ip4 / UDP(sport=1, dport=2)).ljust(60, b"\0"),
    )
    add("IPv6 frame with 20 bytes of trailer", bytes(eth / ip6 / udp) + b"\xee" * 20)

    # IPv4 fragments
    add("IPv4 first fragment (MF), UDP", eth / IP(src=V4_A, dst=V4_B, flags="MF", id=1) / udp)
    add("IPv4 later fragment, offset 8", eth / IP(src=V4_A, dst=V4_B, frag=1, id=1, proto=17) / (b"x" * 16))
    add(
        "IPv4 later fragment, last (no MF)",
        eth / IP(src=V4_A, dst=V4_B, frag=185, id=1, proto=6) / (b"y" * 8),
    )
    add("IPv4 later fragment, 1 byte of payload", eth / IP(src=V4_A, dst=V4_B, frag=3, proto=6) / b"z")
    add(
        "IPv4 tiny first fragment: TCP cut",
        eth / IP(src=V4_A, dst=V4_B, flags="MF", len=28) / TCP() / (b"\0" * 12),
    )
    add("IPv4 DF only: not a fragment", eth / IP(src=V4_A, dst=V4_B, flags="DF") / udp)

    # IPv6 fragments and extension headers
    tcp = TCP(sport=40000, dport=443, flags="S")
    add("IPv6 first fragment (M), TCP", eth / ip6 / IPv6ExtHdrFragment(offset=0, m=1, id=5) / tcp)
    add("IPv6 later fragment", eth / ip6 / IPv6ExtHdrFragment(offset=100, m=1, id=5, nh=6) / (b"x" * 24))
    add("IPv6 last fragment", eth / ip6 / IPv6ExtHdrFragment(offset=3, m=0, id=5, nh=17) / (b"x" * 8))
    add("IPv6 atomic fragment (offset 0, no M)", eth / ip6 / IPv6ExtHdrFragment(offset=0, m=0, id=5) / udp)
    add(
        "IPv6 hop-by-hop, dest opts, routing, fragment, dest opts, TCP",
        eth
        / ip6
        / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrDestOpt()
        / IPv6ExtHdrRouting()
        / IPv6ExtHdrFragment(offset=0, m=1)
        / IPv6ExtHdrDestOpt()
        / tcp,
    )
    add("IPv6 8 extension headers (the walk limit)", eth / ip6 / IPv6ExtHdrHopByHop() / _dest_opts(7) / udp)
    add("IPv6 9 extension headers (past the limit)", eth / ip6 / IPv6ExtHdrHopByHop() / _dest_opts(8) / udp)
    add(
        "IPv6 hop-by-hop after a dest opts header",
        eth / ip6 / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / udp,
    )
    add("IPv6 routing header with 24 bytes of data", eth / ip6 / IPv6ExtHdrRouting(addresses=[V6_B]) / udp)
    cut_ext = bytes(eth / ip6 / IPv6ExtHdrDestOpt(options=[]) / udp)
    add("IPv6 dest opts claiming 2040 bytes", _set(cut_ext, 14 + 40 + 1, b"\xff"))
    add(
        "IPv6 extension header cut after 4 bytes",
        bytes(eth / IPv6(src=V6_A, dst=V6_B, nh=60, plen=4)) + b"\x11\0\0\0",
    )
    add("IPv6 no next header (59)", eth / IPv6(src=V6_A, dst=V6_B, nh=59))
    add("IPv6 AH: opaque upper layer", eth / IPv6(src=V6_A, dst=V6_B, nh=51) / (b"\x06\x04" + bytes(22)))

    # VLAN tags
    add("802.1Q UDP/IPv4", eth / Dot1Q(vlan=10) / ip4 / udp)
    add("802.1ad + 802.1Q (QinQ) TCP/IPv6", eth / Dot1AD(vlan=20) / Dot1Q(vlan=30) / ip6 / tcp)
    add("three VLAN tags", eth / Dot1Q(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3) / ip4 / udp)
    add("802.1Q tag cut in half", bytes(eth / Dot1Q(vlan=10) / ip4)[:16])
    add("802.1Q priority tag (VID 0) + ARP", eth / Dot1Q(vlan=0, prio=5) / ARP(psrc=V4_A, pdst=V4_B))

    # TCP data offset, ICMP
    for doff in range(5):
        add(f"TCP doff={doff}", eth / ip4 / TCP(dataofs=doff) / (b"\0" * 20))
    add("TCP doff=15 with 40 bytes of options", eth / ip4 / TCP(dataofs=15) / (b"\x01" * 40))
    add("TCP doff=15, options cut", eth / ip4 / TCP(dataofs=15) / (b"\x01" * 10))
    add("ICMP echo request", eth / ip4 / ICMP(id=7))
    add("ICMP cut after 4 bytes", eth / IP(src=V4_A, dst=V4_B, proto=1, len=24) / bytes(ICMP())[:4])
    add("ICMPv6 in IPv4 (opaque)", eth / IP(src=V4_A, dst=V4_B, proto=58) / ICMPv6EchoRequest())
    add("ICMP in IPv6 (opaque)", eth / IPv6(src=V6_A, dst=V6_B, nh=1) / ICMP())
    add("ICMPv6 echo request", eth / ip6 / ICMPv6EchoRequest(id=7))
    add("UDP length field 0", eth / ip4 / UDP(sport=1, dport=2, len=0) / b"x")

    # not IP
    add("ARP request", eth / ARP(psrc=V4_A, pdst=V4_B))
    for ethertype, what in ((0x88CC, "LLDP"), (0x8847, "MPLS"), (0x88E5, "MACsec"), (0x0000, "ethertype 0")):
        add(f"{what} frame", bytes(Ether(src=MAC_A, dst=MAC_B, type=ethertype)) + bytes(46))
    add("Ethernet header only", bytes(Ether(src=MAC_A, dst=MAC_B, type=0x0800)))
    add("empty frame", b"")
    add("1-byte frame", b"\x02")
    add("13-byte frame", bytes(13))
    return tuple(cases)


def _dest_opts(n: int) -> object:
    from scapy.layers.inet6 import IPv6ExtHdrDestOpt

    chain = IPv6ExtHdrDestOpt()
    for _ in range(n - 1):
        chain = chain / IPv6ExtHdrDestOpt()
    return chain


def corpus() -> list[CorpusCase]:
    """The whole corpus (a fresh list of the cached cases)."""
    return list(_corpus())
