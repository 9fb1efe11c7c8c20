"""Flow keys and packet tuples: the key part of ``alveole/conntrack.h`` in Python.

A key holds a flow's two endpoints in a fixed order (:func:`key_order`, the
same order as the C code), so both directions of a flow share it; a
:class:`Tuple` adds which endpoint the packet comes from. Addresses are the
SDK's 16-byte form (IPv4 as ``::ffff:a.b.c.d``); ports are ints.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from ..vnf.parse import Family, Frag, Layer, Parsed, ParseStatus
from .states import IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP

__all__ = [
    "Inner",
    "Key",
    "Tuple",
    "address",
    "inner_of",
    "is_echo",
    "is_echo_request",
    "is_icmp_error",
    "key_order",
    "tuple_from",
    "tuple_of",
]

_Q2 = struct.Struct("=QQ")  # two native-endian 64-bit words, as the C code compares them
_KEY = struct.Struct("=16s16sHHB3x")  # struct alv_ct_key (IPv6 flows)
_KEY4 = struct.Struct("=4s4sHHB3x")  # struct alv_ct_key4 (IPv4 flows)


def key_order(a: bytes, ap: int, b: bytes, bp: int) -> bool:
    """``alv_ct_key_order``: whether endpoint (a, ap) sorts before (b, bp).

    For IPv4 (::ffff:a.b.c.d) this is ``alv_ct_key4_order``'s order too: the
    first word is equal, the second orders by the native 32-bit address.
    """
    return (_Q2.unpack(a), ap) <= (_Q2.unpack(b), bp)


@dataclass(frozen=True, order=True)
class Key:
    """A flow key, endpoints in key order, addresses in 16-byte form (IPv4 as ::ffff:a.b.c.d).

    :meth:`pack` gives the kernel's key: ``struct alv_ct_key4`` for IPv4 flows
    (the ``alv_ct4`` table), ``struct alv_ct_key`` for IPv6 ones (``alv_ct6``).
    """

    addr0: bytes
    addr1: bytes
    port0: int
    port1: int
    proto: int

    def pack(self) -> bytes:
        if self.family == 4:
            return _KEY4.pack(self.addr0[12:], self.addr1[12:], self.port0, self.port1, self.proto)
        return _KEY.pack(self.addr0, self.addr1, self.port0, self.port1, self.proto)

    @property
    def table(self) -> str:
        """The map the flow lives in."""
        return "alv_ct4" if self.family == 4 else "alv_ct6"

    @classmethod
    def unpack(cls, raw: bytes) -> Key:
        if len(raw) == _KEY4.size:
            a0, a1, p0, p1, proto = _KEY4.unpack(raw)
            return cls(_V4_PREFIX + a0, _V4_PREFIX + a1, p0, p1, proto)
        a0, a1, p0, p1, proto = _KEY.unpack(raw)
        return cls(a0, a1, p0, p1, proto)

    @classmethod
    def from_value(cls, value: object) -> Key:
        """From the map codec's namedtuple (IPv4: two ``__be32``, IPv6: two ``union alv_addr``)."""
        addr = value.addr  # type: ignore[attr-defined]
        port = value.port  # type: ignore[attr-defined]
        if isinstance(addr[0], int):
            a0, a1 = (_V4_PREFIX + a.to_bytes(4, "big") for a in addr)
        else:
            a0, a1 = bytes(addr[0].b), bytes(addr[1].b)
        return cls(a0, a1, port[0], port[1], value.proto)  # type: ignore[attr-defined]

    def endpoint(self, i: int) -> tuple[bytes, int]:
        return (self.addr0, self.port0) if i == 0 else (self.addr1, self.port1)

    @property
    def family(self) -> int:
        return 4 if self.addr0[:12] == _V4_PREFIX and self.addr1[:12] == _V4_PREFIX else 6


_V4_PREFIX = bytes(10) + b"\xff\xff"


def address(raw: bytes) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An SDK 16-byte address as an ``ipaddress`` object (IPv4-mapped ones as IPv4)."""
    if raw[:12] == _V4_PREFIX:
        return ipaddress.IPv4Address(raw[12:])
    return ipaddress.IPv6Address(raw)


@dataclass(frozen=True)
class Tuple:
    """``struct alv_ct_tuple``: the key and the endpoint (0/1) the packet comes from."""

    key: Key
    src: int
    tcp_flags: int = 0


def tuple_from(saddr: bytes, sport: int, daddr: bytes, dport: int, proto: int, tcp_flags: int = 0) -> Tuple:
    """``alv_ct_tuple_from``."""
    if key_order(saddr, sport, daddr, dport):
        return Tuple(Key(saddr, daddr, sport, dport, proto), 0, tcp_flags)
    return Tuple(Key(daddr, saddr, dport, sport, proto), 1, tcp_flags)


def is_echo(family: int, icmp_type: int) -> bool:
    return icmp_type in ((8, 0) if family == Family.IPV4 else (128, 129))


def is_echo_request(family: int, icmp_type: int) -> bool:
    return icmp_type == (8 if family == Family.IPV4 else 128)


def is_icmp_error(p: Parsed) -> bool:
    """``alv_ct_is_icmp_error``."""
    if not p.has(Layer.L4):
        return False
    if p.l4_proto == IPPROTO_ICMP:
        return p.icmp_type in (3, 11, 12)
    if p.l4_proto == IPPROTO_ICMPV6:
        return 1 <= p.icmp_type <= 4
    return False


def _u16(b: bytes, off: int) -> int:
    return (b[off] << 8) | b[off + 1]


def tuple_of(p: Parsed, frame: bytes) -> Tuple | None:
    """``alv_ct_tuple``: the packet's tuple, or None when it cannot be tracked."""
    if p.status != ParseStatus.OK or not p.has(Layer.PROTO) or p.frag & Frag.LATER:
        return None
    sport = dport = 0
    if p.l4_proto in (IPPROTO_TCP, IPPROTO_UDP):
        sport, dport = p.sport, p.dport
    elif p.has(Layer.L4):
        if not is_echo(p.family, p.icmp_type):
            return None
        sport = dport = _u16(frame, p.l4_off + 4)
    return tuple_from(p.saddr, sport, p.daddr, dport, p.l4_proto, p.tcp_flags)


@dataclass(frozen=True)
class Inner:
    """``struct alv_ct_inner``: the packet an ICMP error quotes."""

    tuple: Tuple
    l3_off: int
    l4_off: int
    family: int
    proto: int
    saddr: bytes
    daddr: bytes
    sport: int
    dport: int


def inner_of(p: Parsed, frame: bytes) -> Inner | None:
    """``alv_ct_inner``: the quoted packet of an ICMP error, or None."""
    if not is_icmp_error(p):
        return None
    l3 = p.l4_off + 8
    if p.family == Family.IPV4:
        if l3 + 20 > len(frame):
            return None
        if frame[l3] >> 4 != 4 or frame[l3] & 0x0F < 5:
            return None
        if _u16(frame, l3 + 6) & 0x1FFF:
            return None
        l4 = l3 + (frame[l3] & 0x0F) * 4
        proto = frame[l3 + 9]
        saddr = _V4_PREFIX + frame[l3 + 12 : l3 + 16]
        daddr = _V4_PREFIX + frame[l3 + 16 : l3 + 20]
    else:
        if l3 + 40 > len(frame) or frame[l3] >> 4 != 6:
            return None
        l4 = l3 + 40
        proto = frame[l3 + 6]
        saddr, daddr = bytes(frame[l3 + 8 : l3 + 24]), bytes(frame[l3 + 24 : l3 + 40])
    if l4 + 8 > p.ip_end or l4 + 8 > len(frame):
        return None
    if proto in (IPPROTO_TCP, IPPROTO_UDP):
        sport, dport = _u16(frame, l4), _u16(frame, l4 + 2)
    elif proto == (IPPROTO_ICMP if p.family == Family.IPV4 else IPPROTO_ICMPV6):
        if not is_echo(p.family, frame[l4]):
            return None
        sport = dport = _u16(frame, l4 + 4)
    else:
        return None
    t = tuple_from(saddr, sport, daddr, dport, proto, 0)
    return Inner(t, l3, l4, int(p.family), proto, saddr, daddr, sport, dport)
