"""Hypothesis strategies for packets: well-formed ones and damaged ones.

Used by the differential tests (kernel vs reference model, C parser vs Python
parser). Addresses come from 198.18.0.0/15 and 2001:db8::/32 only. Shapes:
0-2 VLAN tags (802.1Q / 802.1ad), IPv4 with options and fragments, IPv6 with
extension-header chains (hop-by-hop, routing, destination options, fragment),
TCP (random flags, options) / UDP / ICMP / ICMPv6 / other protocols, random
ports, TTLs and payloads; damage: truncation, byte overwrites, wrong lengths,
IHL and data-offset values, ethertype changes.

Imports hypothesis: a test-time dependency (the ``dev`` extra).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import strategies as st

__all__ = ["damaged", "ipv4_addresses", "ipv6_addresses", "packets", "well_formed"]

_BASE4 = int(ipaddress.IPv4Address("198.18.0.0"))
_BASE6 = int(ipaddress.IPv6Address("2001:db8::"))
_MACS = bytes.fromhex("020000000002020000000001")


def ipv4_addresses() -> st.SearchStrategy[ipaddress.IPv4Address]:
    """Addresses in 198.18.0.0/15, biased to a few hosts so that flows repeat."""
    return st.one_of(
        st.integers(0, 3).map(lambda i: ipaddress.IPv4Address(_BASE4 + i)),
        st.integers(0, (1 << 17) - 1).map(lambda i: ipaddress.IPv4Address(_BASE4 + i)),
    )


def ipv6_addresses() -> st.SearchStrategy[ipaddress.IPv6Address]:
    """Addresses in 2001:db8::/32, biased to a few hosts."""
    return st.one_of(
        st.integers(0, 3).map(lambda i: ipaddress.IPv6Address(_BASE6 + i)),
        st.integers(0, (1 << 96) - 1).map(lambda i: ipaddress.IPv6Address(_BASE6 + i)),
    )


_ports = st.one_of(st.sampled_from([0, 53, 80, 443, 4000]), st.integers(0, 65535))


@st.composite
def _l4(draw: Any, family: int) -> tuple[int, Any]:
    """(IP protocol number, scapy layer or bytes) for the upper layer."""
    from scapy.layers.inet import ICMP, TCP, UDP
    from scapy.layers.inet6 import ICMPv6EchoRequest

    kind = draw(st.sampled_from(["tcp", "udp", "icmp", "other"]))
    payload = draw(st.binary(max_size=24))
    if kind == "tcp":
        opts = draw(
            st.sampled_from([[], [("MSS", 1460)], [("NOP", None)] * 4, [("WScale", 7), ("SAckOK", b"")]])
        )
        flags = draw(st.integers(0, 255))
        return 6, TCP(sport=draw(_ports), dport=draw(_ports), flags=flags, options=opts) / payload
    if kind == "udp":
        return 17, UDP(sport=draw(_ports), dport=draw(_ports)) / payload
    if kind == "icmp":
        if family == 4:
            return 1, ICMP(type=draw(st.integers(0, 255)), code=draw(st.integers(0, 255))) / payload
        return 58, ICMPv6EchoRequest(id=draw(st.integers(0, 65535))) / payload
    return draw(st.sampled_from([47, 50, 132, 59])), payload


@st.composite
def _ipv4(draw: Any) -> bytes:
    from scapy.layers.inet import IP

    proto, upper = draw(_l4(4))
    frag = draw(st.sampled_from(["none", "none", "first", "later"]))
    flags, offset = {"none": (0, 0), "first": (1, 0), "later": (draw(st.integers(0, 1)), 0)}[frag]
    if frag == "later":
        offset = draw(st.integers(1, 8191))
    options = b"\x01" * (4 * draw(st.sampled_from([0, 0, 1, 3, 10])))
    ip = IP(
        src=str(draw(ipv4_addresses())),
        dst=str(draw(ipv4_addresses())),
        ttl=draw(st.integers(0, 255)),
        tos=draw(st.integers(0, 255)),
        flags=flags,
        frag=offset,
        proto=proto,
        options=options,
    )
    return bytes(ip / upper)


@st.composite
def _ipv6(draw: Any) -> bytes:
    from scapy.layers.inet6 import (
        IPv6,
        IPv6ExtHdrDestOpt,
        IPv6ExtHdrFragment,
        IPv6ExtHdrHopByHop,
        IPv6ExtHdrRouting,
    )

    proto, upper = draw(_l4(6))
    # hop-by-hop first (valid) often, elsewhere (malformed) rarely; up to 10 headers (limit: 8)
    chain = draw(st.lists(st.sampled_from(["dest", "routing", "frag"] * 6 + ["hbh"]), max_size=9))
    if draw(st.booleans()):
        chain = ["hbh", *chain]
    pkt: Any = IPv6(
        src=str(draw(ipv6_addresses())),
        dst=str(draw(ipv6_addresses())),
        hlim=draw(st.integers(0, 255)),
        tc=draw(st.integers(0, 255)),
    )
    for ext in chain:
        if ext == "hbh":
            pkt = pkt / IPv6ExtHdrHopByHop()
        elif ext == "dest":
            pkt = pkt / IPv6ExtHdrDestOpt()
        elif ext == "routing":
            pkt = pkt / IPv6ExtHdrRouting(addresses=[str(draw(ipv6_addresses()))] * draw(st.integers(0, 2)))
        else:
            pkt = pkt / IPv6ExtHdrFragment(
                offset=draw(st.sampled_from([0, 0, 1, 185])), m=draw(st.integers(0, 1))
            )
    if proto in (6, 17, 58):
        return bytes(pkt / upper)
    pkt.lastlayer().nh = proto
    return bytes(pkt / upper)


@st.composite
def well_formed(draw: Any) -> bytes:
    """A well-formed Ethernet frame (IPv4 or IPv6 in 0-2 VLAN tags, or ARP-like non-IP)."""
    kind = draw(st.sampled_from(["ipv4", "ipv4", "ipv6", "ipv6", "other"]))
    tags = b"".join(
        tpid.to_bytes(2, "big") + tci.to_bytes(2, "big")
        for tpid, tci in draw(
            st.lists(st.tuples(st.sampled_from([0x8100, 0x88A8]), st.integers(0, 0xFFFF)), max_size=2)
        )
    )
    if kind == "ipv4":
        return _MACS + tags + b"\x08\x00" + draw(_ipv4())
    if kind == "ipv6":
        return _MACS + tags + b"\x86\xdd" + draw(_ipv6())
    ethertype = draw(st.sampled_from([0x0806, 0x88CC, 0x8847, 0x0000, 0x05DC]))
    return _MACS + tags + ethertype.to_bytes(2, "big") + draw(st.binary(min_size=28, max_size=46))


def _put(frame: bytes, off: int, value: bytes) -> bytes:
    if off >= len(frame):
        return frame
    return frame[:off] + value[: len(frame) - off] + frame[off + len(value) :]


def _l3_off(frame: bytes) -> int:
    off = 12
    while off + 2 <= len(frame) and frame[off : off + 2] in (b"\x81\x00", b"\x88\xa8") and off < 20:
        off += 4
    return off + 2


@st.composite
def damaged(draw: Any) -> bytes:
    """A well-formed frame, then broken in one of the ways parsers get wrong."""
    frame = draw(well_formed())
    l3 = _l3_off(frame)
    how = draw(st.sampled_from(["cut", "cut", "byte", "iplen", "ihl", "doff", "ethertype", "nexthdr"]))
    if how == "cut":
        return frame[: draw(st.integers(0, max(len(frame) - 1, 0)))]
    if how == "byte":
        pos = draw(st.integers(0, min(len(frame), 96) - 1))
        return _put(frame, pos, bytes([draw(st.integers(0, 255))]))
    if how == "iplen":
        # IPv4 total length at l3+2, IPv6 payload length at l3+4: other values, mostly near the truth
        delta = draw(st.one_of(st.integers(-8, 8), st.integers(-65535, 65535)))
        at = l3 + (2 if frame[l3 - 2 : l3] == b"\x08\x00" else 4)
        if at + 2 > len(frame):
            return frame
        value = max(0, min(65535, int.from_bytes(frame[at : at + 2], "big") + delta))
        return _put(frame, at, value.to_bytes(2, "big"))
    if how == "ihl":
        return _put(frame, l3, bytes([draw(st.sampled_from([0x40, 0x44, 0x45, 0x4F, 0x60, 0x35]))]))
    if how == "doff":
        # the byte 12 bytes into whatever follows a 20-byte IPv4 / 40-byte IPv6 header
        at = l3 + (20 if frame[l3 - 2 : l3] == b"\x08\x00" else 40) + 12
        return _put(frame, at, bytes([draw(st.integers(0, 15)) << 4]))
    if how == "nexthdr":
        at = l3 + (9 if frame[l3 - 2 : l3] == b"\x08\x00" else 6)
        return _put(frame, at, bytes([draw(st.sampled_from([0, 1, 6, 17, 43, 44, 58, 60, 255]))]))
    ethertype = draw(st.sampled_from([b"\x08\x00", b"\x86\xdd", b"\x81\x00", b"\x88\xa8"]))
    return _put(frame, l3 - 2, ethertype)


def packets() -> st.SearchStrategy[bytes]:
    """Well-formed and damaged frames, about half each."""
    return st.one_of(well_formed(), damaged())
