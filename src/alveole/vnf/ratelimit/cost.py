"""The rate limiter's rows for ``alveole bench pktcost``.

Each row fills the bucket tables with ``FILL`` keys (hash buckets as full as in
service) and cycles ``FRAMES`` frames of distinct keys among them:

* ``ratelimit``: key=src, IPv4, every packet within its rate: a bucket lookup,
  a clock read and a compare-and-swap per packet (the common path);
* ``ratelimit-5tuple``: the same, keyed by the 5-tuple;
* ``ratelimit-ipv6``: key=src, IPv6 sources;
* ``ratelimit-over``: key=src, IPv4, every source over its rate (burst 100 and
  ~1000 packets per source per run): dropped, no write.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..csum import checksum
from ..instance import VnfInstance
from ..spec import CostCase, CostRow

__all__ = ["FILL", "FRAMES", "cost_rows"]

FILL = 60_000
FRAMES = 1024
_MACS = bytes.fromhex("020000000002020000000001")
_BASE4 = int(ipaddress.IPv4Address("198.18.0.0"))
_BASE6 = int(ipaddress.IPv6Address("2001:db8::"))
_DST4 = ipaddress.IPv4Address("198.19.255.1").packed
_DST6 = ipaddress.IPv6Address("2001:db8:ffff:ffff::1").packed
_SPORT, _DPORT = 1024, 53


def _src4(i: int) -> bytes:
    return (_BASE4 + i).to_bytes(4, "big")  # 60000 < 2^17: inside 198.18.0.0/15


def _src6(i: int) -> bytes:
    return (_BASE6 + (i << 64) + 1).to_bytes(16, "big")


def _frame4(src: bytes) -> bytes:
    ip = bytearray(b"\x45\x00\x00\x26\x00\x01\x00\x00\x40\x11\x00\x00" + src + _DST4)
    ip[10:12] = checksum(bytes(ip)).to_bytes(2, "big")
    udp = _SPORT.to_bytes(2, "big") + _DPORT.to_bytes(2, "big") + b"\x00\x12\x00\x00" + b"x" * 10
    return _MACS + b"\x08\x00" + bytes(ip) + udp


def _frame6(src: bytes) -> bytes:
    udp = _SPORT.to_bytes(2, "big") + _DPORT.to_bytes(2, "big") + b"\x00\x12\x00\x00" + b"x" * 10
    return _MACS + b"\x86\xdd" + b"\x60\x00\x00\x00\x00\x12\x11\x40" + src + _DST6 + udp


def _key(src: bytes, dst: bytes, flows: bool) -> bytes:
    """``struct rl_src4/6`` or ``rl_flow4/6`` bytes (ports and proto are host-order u32)."""
    if not flows:
        return src
    ports = (_SPORT << 16 | _DPORT).to_bytes(4, "little")
    return src + dst + ports + (17).to_bytes(4, "little")


@contextmanager
def _case(family: int, config: dict[str, Any]) -> Iterator[CostCase]:
    flows = config.get("key") == "5tuple"
    src, frame, dst = (_src4, _frame4, _DST4) if family == 4 else (_src6, _frame6, _DST6)
    with VnfInstance.load("ratelimit", "xdp", {"table_size": 65536, **config}) as inst:
        table = inst.maps[("rl_flows" if flows else "rl_src") + str(family)]
        keys = b"".join(_key(src(i), dst, flows) for i in range(FILL))
        table.update_batch(keys, bytes(8 * FILL))
        step = FILL // FRAMES
        yield CostCase(inst.program, [frame(src(i * step)) for i in range(FRAMES)], "xdp")


def cost_rows() -> list[CostRow]:
    note = f"XDP, {FILL} buckets, {FRAMES} keys cycled"
    fast = {"rate": 100_000_000, "burst": 1000}
    return [
        CostRow("ratelimit", lambda: _case(4, fast), f"{note}, key=src IPv4, within the rate"),
        CostRow(
            "ratelimit-5tuple",
            lambda: _case(4, {**fast, "key": "5tuple"}),
            f"{note}, key=5tuple IPv4, within",
        ),
        CostRow("ratelimit-ipv6", lambda: _case(6, fast), f"{note}, key=src IPv6, within the rate"),
        CostRow(
            "ratelimit-over",
            lambda: _case(4, {"rate": 100, "burst": 100}),
            f"{note}, key=src IPv4, over the rate (100/s, burst 100): dropped",
        ),
    ]
