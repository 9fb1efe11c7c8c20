"""What a firewall rule matches, as intervals over a packet's classification key.

Everything the classifier, the reference model and the kernel agree on lives here:

* a packet's :class:`PacketKey`: family, source and destination (128-bit, IPv4 as
  ``::ffff:a.b.c.d``), IP protocol, source port and the *extended destination port*
  ``dportx``: the TCP/UDP destination port (0-65535), ``ICMP_BASE + type`` for ICMP
  (in IPv4) and ICMPv6 (in IPv6), or ``DPORTX_NONE`` when the packet has neither (other
  protocols, later fragments). One 17-bit field keeps "rules with ports never match
  ICMP" and "ICMP types" inside one dimension of the classifier;
* a rule's :class:`Match`: one closed interval per field plus a family (0 = both).

First match wins: :func:`first_match` is the linear definition the classifier must equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..parse import Family, Layer, Parsed

__all__ = [
    "DPORTX_MAX",
    "DPORTX_NONE",
    "FULL128",
    "ICMP_BASE",
    "PORT_MAX",
    "V4_MAPPED",
    "Match",
    "PacketKey",
    "first_match",
    "key_of",
]

PORT_MAX = 0xFFFF
ICMP_BASE = 1 << 16  # dportx of an ICMP/ICMPv6 packet: ICMP_BASE + type
DPORTX_NONE = ICMP_BASE + 256  # no ports and no ICMP type (other protocols, later fragments)
DPORTX_MAX = (1 << 17) - 1
FULL128 = (1 << 128) - 1
V4_MAPPED = 0xFFFF << 32  # ::ffff:0:0
IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6 = 1, 6, 17, 58

Interval = tuple[int, int]


@dataclass(frozen=True, slots=True)
class PacketKey:
    """The fields a packet is classified on."""

    family: int  # 4 or 6
    src: int  # 128-bit; IPv4 as ::ffff:a.b.c.d
    dst: int
    proto: int
    sport: int
    dportx: int


@dataclass(frozen=True, slots=True)
class Match:
    """One interval per field; ``family`` 0 matches both families."""

    family: int
    src: Interval = (0, FULL128)
    dst: Interval = (0, FULL128)
    proto: Interval = (0, 255)
    sport: Interval = (0, PORT_MAX)
    dportx: Interval = (0, DPORTX_MAX)

    def matches(self, k: PacketKey) -> bool:
        return (
            (self.family == 0 or self.family == k.family)
            and self.src[0] <= k.src <= self.src[1]
            and self.dst[0] <= k.dst <= self.dst[1]
            and self.proto[0] <= k.proto <= self.proto[1]
            and self.sport[0] <= k.sport <= self.sport[1]
            and self.dportx[0] <= k.dportx <= self.dportx[1]
        )


def key_of(p: Parsed) -> PacketKey | None:
    """The key of a parsed packet (None when it is not an IP packet that parsed)."""
    if not p.ok or not p.has(Layer.IP):
        return None
    sport, dportx = 0, DPORTX_NONE
    if p.has(Layer.L4):  # set for TCP, UDP, and ICMP/ICMPv6 in their own family only
        if p.l4_proto in (IPPROTO_TCP, IPPROTO_UDP):
            sport, dportx = p.sport, p.dport
        else:
            dportx = ICMP_BASE + p.icmp_type
    return PacketKey(
        4 if p.family == Family.IPV4 else 6,
        int.from_bytes(p.saddr, "big"),
        int.from_bytes(p.daddr, "big"),
        p.l4_proto,
        sport,
        dportx,
    )


def first_match(matches: Sequence[Match], key: PacketKey) -> int | None:
    """Index of the first match in ``matches`` (priority order), or None."""
    for i, m in enumerate(matches):
        if m.matches(key):
            return i
    return None
