"""flowmon's rows for ``alveole bench pktcost``.

Each row loads flowmon (XDP, default config), fills the flow table to its
working size (``FILL`` flows, most of the 65536 slots) and cycles ``FRAMES``
distinct frames of established flows: a hash hit and an update per packet
in a table where buckets are as full as they get in service.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager

from ..csum import checksum
from ..instance import VnfInstance
from ..spec import CostCase, CostRow

__all__ = ["cost_rows"]

FILL = 60_000
FRAMES = 1024
_MACS = bytes.fromhex("020000000002020000000001")
_BASE4 = int(ipaddress.IPv4Address("198.18.0.0"))
_BASE6 = int(ipaddress.IPv6Address("2001:db8::"))


def _udp4(i: int) -> tuple[tuple, bytes]:
    src = (_BASE4 + (i & 0xFFFF)).to_bytes(4, "big")
    dst = (_BASE4 + (1 << 16) + (i >> 16)).to_bytes(4, "big")
    sport, dport = 1024 + (i % 50000), 53
    ip = bytearray(b"\x45\x00\x00\x26\x00\x01\x00\x00\x40\x11\x00\x00" + src + dst)
    ip[10:12] = checksum(bytes(ip)).to_bytes(2, "big")
    udp = sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + b"\x00\x12\x00\x00" + b"x" * 10
    key = (src, dst, sport, dport, 0, 17, 0)
    return key, _MACS + b"\x08\x00" + bytes(ip) + udp


def _udp6(i: int) -> tuple[tuple, bytes]:
    src = (_BASE6 + i).to_bytes(16, "big")
    dst = (_BASE6 + (1 << 32) + 1).to_bytes(16, "big")
    sport, dport = 1024 + (i % 50000), 53
    ip = b"\x60\x00\x00\x00\x00\x12\x11\x40" + src + dst
    udp = sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + b"\x00\x12\x00\x00" + b"x" * 10
    key = (src, dst, sport, dport, 0, 17, 0)
    return key, _MACS + b"\x86\xdd" + ip + udp


@contextmanager
def _established(family: int) -> Iterator[CostCase]:
    make, table = (_udp4, "flowmon_flows4") if family == 4 else (_udp6, "flowmon_flows6")
    with VnfInstance.load("flowmon", "xdp") as inst:
        flows = inst.maps[table]
        made = [make(i) for i in range(FILL)]
        zero = flows.encode_value(flows.value_codec.zero)
        flows.update_batch(flows.key_codec.encode_many([k for k, _ in made]), zero * FILL)
        step = FILL // FRAMES
        yield CostCase(inst.program, [made[i * step][1] for i in range(FRAMES)], "xdp")


def cost_rows() -> list[CostRow]:
    note = f"XDP, {FRAMES} established flows cycled, table filled with {FILL} flows"
    return [
        CostRow("flowmon", lambda: _established(4), note + " (UDP/IPv4)"),
        CostRow("flowmon-ipv6", lambda: _established(6), note + " (UDP/IPv6)"),
    ]
