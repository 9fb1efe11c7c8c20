"""A pktcost row for the conntrack core alone (ctprobe): what tracking costs a stateful VNF.

``conntrack``: XDP, ``FRAMES`` established UDP/IPv4 flows cycled (replies: the
lookup finds the flow from its other end) in tables holding ``FILL`` flows; one
lookup, the expiry check and the update per packet, plus the parser. Not a
catalog VNF: register it with :func:`alveole.bench.pktcost.register` (one
loop over :func:`cost_rows`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager

from ..bpf import Program
from ..vnf.csum import checksum
from ..vnf.instance import VnfInstance
from ..vnf.spec import CostCase, CostRow
from .probe import SPEC

__all__ = ["FILL", "FRAMES", "cost_rows", "open_udp_flows"]

FILL = 100_000
FRAMES = 1024
_MACS = bytes.fromhex("020000000002020000000001")
_BASE = int(ipaddress.IPv4Address("198.18.0.0"))


def _udp4(src: bytes, sport: int, dst: bytes, dport: int) -> bytes:
    ip = bytearray(b"\x45\x00\x00\x26\x00\x01\x00\x00\x40\x11\x00\x00" + src + dst)
    ip[10:12] = checksum(bytes(ip)).to_bytes(2, "big")
    udp = sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + b"\x00\x12\x00\x00" + b"x" * 10
    return _MACS + b"\x08\x00" + bytes(ip) + udp


def open_udp_flows(program: Program, fill: int = FILL, frames: int = FRAMES) -> list[bytes]:
    """Open ``fill`` UDP/IPv4 flows (198.18.0.1 to port 53 of as many servers) through ``program``;
    return ``frames`` of the servers' replies, spread over the table: established packets."""
    client = (_BASE + 1).to_bytes(4, "big")
    replies = []
    for i in range(fill):
        server = (_BASE + (1 << 16) + i).to_bytes(4, "big")
        program.run(_udp4(client, 1024 + i % 60000, server, 53))
        if i % (fill // frames) == 0 and len(replies) < frames:
            replies.append(_udp4(server, 53, client, 1024 + i % 60000))
    return replies


@contextmanager
def _established() -> Iterator[CostCase]:
    with VnfInstance.load(SPEC, "xdp", {"table_size": 1 << 17}) as inst:
        yield CostCase(inst.program, open_udp_flows(inst.program), "xdp")


def cost_rows() -> list[CostRow]:
    return [
        CostRow(
            "conntrack",
            _established,
            f"ctprobe (the core alone), XDP, {FRAMES} established UDP/IPv4 flows cycled, {FILL} tracked",
        )
    ]
