"""Internet checksums in Python: ``alveole/csum.h`` mirrored for reference models.

Checksums and 16-bit words are big-endian ints here (as on the wire). The ones'
complement sum gives the same bytes in either byte order, so these functions
produce exactly the bytes the C helpers write.

The frame-level helpers (:func:`ipv4_set_ttl`, :func:`ipv4_set_addr`,
:func:`ipv6_set_addr`, :func:`l4_set_port`) rewrite a ``bytearray`` in place
the way their C namesakes rewrite a packet.
"""

from __future__ import annotations

import ipaddress

__all__ = [
    "CSUM_TCP",
    "CSUM_UDP",
    "checksum",
    "fold",
    "ipv4_set_addr",
    "ipv4_set_tos",
    "ipv4_set_ttl",
    "ipv6_set_addr",
    "l4_set_port",
    "l4_update",
    "update",
]

CSUM_TCP = 0  # ALV_CSUM_TCP (also ICMPv6)
CSUM_UDP = 1  # ALV_CSUM_UDP: zero = none, computed zero sent as 0xffff


def fold(total: int) -> int:
    """Fold a ones' complement sum into 16 bits."""
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def checksum(data: bytes) -> int:
    """The internet checksum of ``data`` (RFC 1071; odd lengths padded with a zero byte)."""
    if len(data) % 2:
        data = bytes(data) + b"\0"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    return ~fold(total) & 0xFFFF


def update(csum: int, old: bytes, new: bytes) -> int:
    """RFC 1624 eqn. 3 for a change of ``old`` into ``new`` (same even length)."""
    if len(old) != len(new) or len(old) % 2:
        raise ValueError("old and new must be the same even length")
    total = ~csum & 0xFFFF
    for i in range(0, len(old), 2):
        total += ~int.from_bytes(old[i : i + 2], "big") & 0xFFFF
        total += int.from_bytes(new[i : i + 2], "big")
    return ~fold(total) & 0xFFFF


def l4_update(csum: int, old: bytes, new: bytes, kind: int) -> int:
    """``alv_l4_csum_update*``: :func:`update` with the UDP zero rules for ``CSUM_UDP``."""
    if kind == CSUM_UDP and csum == 0:
        return 0
    out = update(csum, old, new)
    if kind == CSUM_UDP and out == 0:
        return 0xFFFF
    return out


def _get16(buf: bytearray, off: int) -> int:
    return int.from_bytes(buf[off : off + 2], "big")


def _put16(buf: bytearray, off: int, value: int) -> None:
    buf[off : off + 2] = value.to_bytes(2, "big")


def _l4(buf: bytearray, csum_off: int | None, old: bytes, new: bytes, kind: int) -> None:
    if csum_off is not None:
        _put16(buf, csum_off, l4_update(_get16(buf, csum_off), old, new, kind))


def ipv4_set_ttl(buf: bytearray, l3_off: int, ttl: int) -> None:
    old = bytes(buf[l3_off + 8 : l3_off + 10])
    buf[l3_off + 8] = ttl
    _put16(buf, l3_off + 10, update(_get16(buf, l3_off + 10), old, bytes(buf[l3_off + 8 : l3_off + 10])))


def ipv4_set_tos(buf: bytearray, l3_off: int, tos: int) -> None:
    old = bytes(buf[l3_off : l3_off + 2])
    buf[l3_off + 1] = tos
    _put16(buf, l3_off + 10, update(_get16(buf, l3_off + 10), old, bytes(buf[l3_off : l3_off + 2])))


def ipv4_set_addr(
    buf: bytearray,
    l3_off: int,
    which: str,
    addr: ipaddress.IPv4Address,
    l4csum_off: int | None = None,
    kind: int = CSUM_TCP,
) -> None:
    """``alv_ipv4_set_addr``: ``which`` is "saddr" or "daddr"; ``l4csum_off``: None for no L4 fix."""
    off = l3_off + (12 if which == "saddr" else 16)
    old, new = bytes(buf[off : off + 4]), addr.packed
    buf[off : off + 4] = new
    _put16(buf, l3_off + 10, update(_get16(buf, l3_off + 10), old, new))
    _l4(buf, l4csum_off, old, new, kind)


def ipv6_set_addr(
    buf: bytearray,
    l3_off: int,
    which: str,
    addr: ipaddress.IPv6Address,
    l4csum_off: int | None = None,
    kind: int = CSUM_TCP,
) -> None:
    off = l3_off + (8 if which == "saddr" else 24)
    old, new = bytes(buf[off : off + 16]), addr.packed
    buf[off : off + 16] = new
    _l4(buf, l4csum_off, old, new, kind)


def l4_set_port(buf: bytearray, port_off: int, port: int, l4csum_off: int | None, kind: int) -> None:
    old, new = bytes(buf[port_off : port_off + 2]), port.to_bytes(2, "big")
    buf[port_off : port_off + 2] = new
    _l4(buf, l4csum_off, old, new, kind)
