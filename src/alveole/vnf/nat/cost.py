"""The NAT's rows for ``alveole bench pktcost``: established flows, many of them.

Each row loads the NAT (TC program, and the XDP one sharing its maps), opens
``FILL`` UDP flows through the program itself (one outbound frame each, the
real path: port allocation, reverse binding, conntrack entry), then cycles
``FRAMES`` frames of established flows:

* ``nat``: XDP, inbound replies (reverse binding lookup, conntrack lookup and
  update, destination rewritten, checksums patched), IPv4;
* ``nat-out``: TC egress, outbound packets (conntrack lookup and update,
  source rewritten), IPv4; read against the TC floor;
* ``nat-ipv6``: as ``nat``, NAT66.

test_run repeats a frame on the bytes the previous repetition left, so a
translated frame would take the "not ours" path from its second repetition
on. The flows are therefore opened from the NAT's own address with ports in
its range: their bindings are identities (the port is kept), and every
repetition does the whole translation, with the same lookups, writes and
checksum updates as any other binding.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager

from ..csum import checksum
from ..instance import VnfInstance
from ..spec import CostCase, CostRow
from .gateway import SHARED_MAPS

__all__ = ["FILL", "FRAMES", "cost_rows"]

FILL = 100_000
FRAMES = 1024
TABLE = 1 << 17
NAT4, NAT6 = ipaddress.IPv4Address("198.19.0.1"), ipaddress.IPv6Address("2001:db8:ffff::1")
_MACS = bytes.fromhex("020000000002020000000001")
_BASE4 = int(ipaddress.IPv4Address("198.18.0.0"))
_BASE6 = int(ipaddress.IPv6Address("2001:db8:1::"))
_PORTS = (20000, 29999)


def _udp(src: bytes, sport: int, dst: bytes, dport: int) -> bytes:
    """Ethernet + IPv4/IPv6 + UDP with 10 bytes of payload and valid checksums."""
    payload = b"x" * 10
    udp = bytearray(
        sport.to_bytes(2, "big")
        + dport.to_bytes(2, "big")
        + (8 + len(payload)).to_bytes(2, "big")
        + b"\0\0"
        + payload
    )
    if len(src) == 4:
        pseudo = src + dst + b"\x00\x11" + len(udp).to_bytes(2, "big")
        udp[6:8] = (checksum(pseudo + bytes(udp)) or 0xFFFF).to_bytes(2, "big")
        ip = bytearray(
            b"\x45\x00" + (20 + len(udp)).to_bytes(2, "big") + b"\x00\x01\x00\x00\x40\x11\x00\x00" + src + dst
        )
        ip[10:12] = checksum(bytes(ip)).to_bytes(2, "big")
        return _MACS + b"\x08\x00" + bytes(ip) + bytes(udp)
    pseudo = src + dst + len(udp).to_bytes(4, "big") + b"\x00\x00\x00\x11"
    udp[6:8] = (checksum(pseudo + bytes(udp)) or 0xFFFF).to_bytes(2, "big")
    ip = b"\x60\x00\x00\x00" + len(udp).to_bytes(2, "big") + b"\x11\x40" + src + dst
    return _MACS + b"\x86\xdd" + ip + bytes(udp)


def _flow(family: int, i: int) -> tuple[bytes, bytes]:
    """(outbound, inbound reply) frames of flow ``i``: NAT:port <-> remote_i:53."""
    port = _PORTS[0] + i % (_PORTS[1] - _PORTS[0] + 1)
    if family == 4:
        me, remote = NAT4.packed, (_BASE4 + (1 << 16) + i).to_bytes(4, "big")
    else:
        me, remote = NAT6.packed, (_BASE6 + i).to_bytes(16, "big")
    return _udp(me, port, remote, 53), _udp(remote, 53, me, port)


def _config(family: int) -> dict[str, object]:
    if family == 4:
        return {"address": str(NAT4), "snat": [f"{NAT4}/32"], "ports": _PORTS, "table_size": TABLE}
    return {"address6": str(NAT6), "snat": [f"{NAT6}/128"], "ports": _PORTS, "table_size": TABLE}


@contextmanager
def _established(family: int, hook: str) -> Iterator[CostCase]:
    from . import SPEC

    with VnfInstance.load(SPEC, "tc", _config(family)) as tc:
        flows = [_flow(family, i) for i in range(FILL)]
        for out, _ in flows:  # open every flow through the program: outbound, one frame each
            tc.program.run(out)
        step = FILL // FRAMES
        picked = [flows[i * step] for i in range(FRAMES)]
        if hook == "tc":
            yield CostCase(tc.program, [out for out, _ in picked], "tc")
            return
        with VnfInstance.load(
            SPEC, "xdp", _config(family), reuse={n: tc.maps[n] for n in SHARED_MAPS}
        ) as xdp:
            yield CostCase(xdp.program, [reply for _, reply in picked], "xdp")


def cost_rows() -> list[CostRow]:
    note = f"{FRAMES} established UDP flows cycled, {FILL} open ({TABLE}-entry table)"
    return [
        CostRow("nat", lambda: _established(4, "xdp"), f"XDP inbound replies, IPv4, {note}"),
        CostRow("nat-out", lambda: _established(4, "tc"), f"TC egress, outbound, IPv4, {note}"),
        CostRow("nat-ipv6", lambda: _established(6, "xdp"), f"XDP inbound replies, NAT66, {note}"),
    ]
