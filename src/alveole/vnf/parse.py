"""The reference parser: ``alveole/parse.h`` in Python, rule for rule.

Reference models parse with :func:`parse` so that they share the C parser's
notion of truncated, malformed, fragment and "where the L4 header is". The
result has the same field names and values as ``struct alv_parsed``; a kernel
test compares the two on the malformed-packet corpus and on generated packets,
field by field (through the SDK probe, :mod:`alveole.vnf.sdkprobe`).

The rules are written in ``parse.h``'s header comment and in docs/vnf-sdk.md.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from dataclasses import dataclass, field

__all__ = [
    "ETH_P_8021AD",
    "ETH_P_8021Q",
    "ETH_P_IP",
    "ETH_P_IPV6",
    "IPV6_EXT_MAX",
    "VLAN_MAX",
    "Family",
    "Frag",
    "Layer",
    "ParseStatus",
    "Parsed",
    "mapped",
    "parse",
]

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
IPV6_EXT_MAX = 8  # ALV_IPV6_EXT_MAX
VLAN_MAX = 2  # ALV_VLAN_MAX

IPPROTO_HOPOPTS, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP = 0, 1, 6, 17
IPPROTO_ROUTING, IPPROTO_FRAGMENT, IPPROTO_ICMPV6, IPPROTO_DSTOPTS = 43, 44, 58, 60
_IPV6_EXT = frozenset({IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_FRAGMENT, IPPROTO_DSTOPTS})
_V4_MAPPED = bytes(10) + b"\xff\xff"


class ParseStatus(enum.IntEnum):
    """``enum alv_parse_status``: why parsing stopped."""

    OK = 0
    TRUNCATED = 1
    MALFORMED = 2
    UNSUPPORTED = 3


class Layer(enum.IntFlag):
    """``enum alv_layer``: which groups of fields are valid."""

    ETH = 1 << 0
    IP = 1 << 1
    PROTO = 1 << 2
    L4 = 1 << 3


class Frag(enum.IntFlag):
    """``enum alv_frag``."""

    MORE = 1 << 0
    LATER = 1 << 1


class Family(enum.IntEnum):
    """``enum alv_family``."""

    NONE = 0
    IPV4 = 4
    IPV6 = 6


def mapped(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
    """The 16-byte form the SDK uses for an address (IPv4 as ::ffff:a.b.c.d)."""
    if addr.version == 4:
        return _V4_MAPPED + addr.packed
    return addr.packed


@dataclass
class Parsed:
    """``struct alv_parsed``: same fields, same values (addresses as 16 bytes)."""

    saddr: bytes = bytes(16)
    daddr: bytes = bytes(16)
    len: int = 0
    ip_end: int = 0
    l3_off: int = 0
    l4_off: int = 0
    eth_proto: int = 0
    vlan_id: list[int] = field(default_factory=lambda: [0] * VLAN_MAX)
    sport: int = 0
    dport: int = 0
    status: ParseStatus = ParseStatus.OK
    layers: Layer = field(default=Layer(0))
    vlan_depth: int = 0
    family: Family = Family.NONE
    l4_proto: int = 0
    ttl: int = 0
    tos: int = 0
    frag: Frag = field(default=Frag(0))
    tcp_flags: int = 0
    icmp_type: int = 0
    icmp_code: int = 0
    ext_count: int = 0

    @property
    def ok(self) -> bool:
        return self.status == ParseStatus.OK

    @property
    def is_fragment(self) -> bool:
        return bool(self.frag)

    def has(self, layer: Layer) -> bool:
        return bool(self.layers & layer)

    @property
    def src(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        return _address(self.saddr, self.family)

    @property
    def dst(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        return _address(self.daddr, self.family)


def _address(raw: bytes, family: Family) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if family == Family.IPV4:
        return ipaddress.IPv4Address(raw[12:])
    if family == Family.IPV6:
        return ipaddress.IPv6Address(raw)
    return None


class _Stop(Exception):
    """Parsing stopped with a status (the C code's early returns)."""

    def __init__(self, status: ParseStatus) -> None:
        self.status = status


class _Cursor:
    """``struct alv_cursor``: offsets instead of pointers."""

    def __init__(self, frame: bytes, linear: int) -> None:
        self.frame = frame
        self.off = 0
        self.limit = len(frame)
        self.linear = linear

    def take(self, n: int) -> int:
        """Offset of the next ``n`` bytes (and advance), or raise the C code's error."""
        p = self.off
        if p + n > self.limit:
            raise _Stop(ParseStatus.TRUNCATED)
        if p + n > self.linear:
            raise _Stop(ParseStatus.UNSUPPORTED)
        self.off = p + n
        return p


def _u16(b: bytes, off: int) -> int:
    return (b[off] << 8) | b[off + 1]


def parse(frame: bytes, *, linear: int | None = None) -> Parsed:
    """Parse ``frame`` as ``alv_parse()`` does.

    ``linear`` is how many bytes are directly readable (a non-linear TC skb);
    by default the whole frame, as in XDP and in BPF_PROG_TEST_RUN.
    """
    h = Parsed(len=len(frame))
    c = _Cursor(frame, len(frame) if linear is None else min(linear, len(frame)))
    try:
        _parse(c, frame, h)
    except _Stop as stop:
        h.status = stop.status
    return h


def _parse(c: _Cursor, b: bytes, h: Parsed) -> None:
    off = c.take(14)
    proto = _u16(b, off + 12)
    for i in range(VLAN_MAX):
        if proto not in (ETH_P_8021Q, ETH_P_8021AD):
            break
        off = c.take(4)
        h.vlan_id[i] = _u16(b, off) & 0x0FFF
        proto = _u16(b, off + 2)
        h.vlan_depth = i + 1
    h.eth_proto = proto
    if proto in (ETH_P_8021Q, ETH_P_8021AD):
        raise _Stop(ParseStatus.UNSUPPORTED)  # a third tag
    h.layers = Layer.ETH
    if proto == ETH_P_IP:
        _ipv4(c, b, h)
    elif proto == ETH_P_IPV6:
        _ipv6(c, b, h)


def _ipv4(c: _Cursor, b: bytes, h: Parsed) -> None:
    start = h.l3_off = c.off
    c.take(20)
    version, ihl = b[start] >> 4, b[start] & 0x0F
    if version != 4 or ihl < 5:
        raise _Stop(ParseStatus.MALFORMED)
    hlen = ihl * 4
    if hlen > 20:
        c.take(hlen - 20)
    tot = _u16(b, start + 2)
    if tot < hlen:
        raise _Stop(ParseStatus.MALFORMED)
    if start + tot > c.limit:
        raise _Stop(ParseStatus.TRUNCATED)
    c.limit = start + tot
    h.family = Family.IPV4
    h.saddr = _V4_MAPPED + b[start + 12 : start + 16]
    h.daddr = _V4_MAPPED + b[start + 16 : start + 20]
    h.ttl = b[start + 8]
    h.tos = b[start + 1]
    h.ip_end = c.limit
    fo = _u16(b, start + 6)
    h.frag = Frag((Frag.MORE if fo & 0x2000 else 0) | (Frag.LATER if fo & 0x1FFF else 0))
    h.l4_proto = b[start + 9]
    h.l4_off = c.off
    h.layers |= Layer.IP | Layer.PROTO
    if not h.frag & Frag.LATER:
        _l4(c, b, h)


def _ipv6(c: _Cursor, b: bytes, h: Parsed) -> None:
    start = h.l3_off = c.off
    c.take(40)
    if b[start] >> 4 != 6:
        raise _Stop(ParseStatus.MALFORMED)
    tot = 40 + _u16(b, start + 4)
    if start + tot > c.limit:
        raise _Stop(ParseStatus.TRUNCATED)
    c.limit = start + tot
    h.family = Family.IPV6
    h.saddr = bytes(b[start + 8 : start + 24])
    h.daddr = bytes(b[start + 24 : start + 40])
    h.ttl = b[start + 7]
    h.tos = (struct.unpack_from(">I", b, start)[0] >> 20) & 0xFF
    h.ip_end = c.limit
    h.layers |= Layer.IP
    nexthdr = _ipv6_ext(c, b, h, b[start + 6])
    h.l4_proto = nexthdr
    h.l4_off = c.off
    h.layers |= Layer.PROTO
    if not h.frag & Frag.LATER:
        _l4(c, b, h)


def _ipv6_ext(c: _Cursor, b: bytes, h: Parsed, nexthdr: int) -> int:
    for i in range(IPV6_EXT_MAX):
        if nexthdr not in _IPV6_EXT:
            return nexthdr
        if nexthdr == IPPROTO_HOPOPTS and i > 0:
            raise _Stop(ParseStatus.MALFORMED)  # hop-by-hop only right after the header
        off = c.take(8)
        h.ext_count = i + 1
        is_frag = nexthdr == IPPROTO_FRAGMENT
        extra = 0 if is_frag else b[off + 1] * 8
        fo = _u16(b, off + 2) if is_frag else 0
        h.frag |= Frag((Frag.MORE if fo & 1 else 0) | (Frag.LATER if fo & 0xFFF8 else 0))
        nexthdr = b[off]
        if fo & 0xFFF8:
            return nexthdr  # a later fragment: the rest is payload
        if extra:
            c.take(extra)
    if nexthdr in _IPV6_EXT:
        raise _Stop(ParseStatus.UNSUPPORTED)  # longer chain than we walk
    return nexthdr


def _l4(c: _Cursor, b: bytes, h: Parsed) -> None:
    proto = h.l4_proto
    if proto == IPPROTO_TCP:
        off = c.take(20)
        doff = b[off + 12] >> 4
        if doff < 5:
            raise _Stop(ParseStatus.MALFORMED)
        if doff > 5:
            c.take(doff * 4 - 20)
        h.sport, h.dport = _u16(b, off), _u16(b, off + 2)
        h.tcp_flags = b[off + 13]
    elif proto == IPPROTO_UDP:
        off = c.take(8)
        h.sport, h.dport = _u16(b, off), _u16(b, off + 2)
    elif proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
        # ICMP belongs to IPv4, ICMPv6 to IPv6: the other pairing is opaque
        if (proto == IPPROTO_ICMP) != (h.family == Family.IPV4):
            return
        off = c.take(8)
        h.icmp_type, h.icmp_code = b[off], b[off + 1]
    else:
        return
    h.layers |= Layer.L4
