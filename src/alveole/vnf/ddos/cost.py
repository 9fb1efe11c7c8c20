"""The ddos guard's rows for ``alveole bench pktcost``.

* ``ddos-10k-prefixes``: 10k IPv4 and 10k IPv6 prefixes blocked, 1024 UDP/IPv4
  frames from distinct sources of 198.18.0.0/15 cycled, most of them not
  blocked. The test range is only a /15, so the 10k IPv4 prefixes are long
  (/26 … /32) and every /24 of it holds some: every packet takes both lookups
  of the IPv4 walk, the walk's worst case;
* ``ddos-10k-prefixes-ipv6``: the same tables, UDP/IPv6 sources from 2001:db8::/32
  (prefixes /40 … /64: walks of 2 to 4 lookups);
* ``ddos-syn``: TCP SYNs from 1024 sources, each within its rate: a bucket and a
  compare-and-swap per packet;
* ``ddos-syn-flood``: the same SYNs over their sources' rate (the flood case:
  each source sends ~1000 SYNs per run, its burst is 100): a bucket read, no write.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..csum import checksum
from ..instance import VnfInstance
from ..spec import CostCase, CostRow

__all__ = ["FRAMES", "PREFIXES", "cost_rows", "prefixes_v4", "prefixes_v6", "sources"]

PREFIXES = 10_000
FRAMES = 1024
_MACS = bytes.fromhex("020000000002020000000001")
_NET4 = ipaddress.IPv4Network("198.18.0.0/15")
_NET6 = ipaddress.IPv6Network("2001:db8::/32")
_DST4 = ipaddress.IPv4Address("198.19.255.1").packed
_DST6 = ipaddress.IPv6Address("2001:db8:ffff:ffff::1").packed


def prefixes_v4(n: int = PREFIXES, seed: int = 4) -> list[ipaddress.IPv4Network]:
    """``n`` distinct prefixes inside 198.18.0.0/15: 95 % /32, 4 % /28, 1 % /26 (~17 % of it)."""
    rng = random.Random(seed)
    out: set[ipaddress.IPv4Network] = set()
    base, size = int(_NET4.network_address), _NET4.num_addresses
    while len(out) < n:
        plen = rng.choices([32, 28, 26], weights=[95, 4, 1])[0]
        out.add(ipaddress.IPv4Network((base + rng.randrange(size), plen), strict=False))
    return sorted(out)


def prefixes_v6(n: int = PREFIXES, seed: int = 6) -> list[ipaddress.IPv6Network]:
    """``n`` distinct prefixes inside 2001:db8::/32: 40 % /48, 30 % /56, 30 % /64."""
    rng = random.Random(seed)
    out: set[ipaddress.IPv6Network] = set()
    base = int(_NET6.network_address)
    while len(out) < n:
        plen = rng.choices([48, 56, 64], weights=[40, 30, 30])[0]
        out.add(ipaddress.IPv6Network((base + (rng.getrandbits(96)), plen), strict=False))
    return sorted(out)


def _frame4(src: bytes, proto: int = 17, sport: int = 1024) -> bytes:
    l4 = (
        sport.to_bytes(2, "big") + b"\x00\x35\x00\x12\x00\x00" + b"x" * 10
        if proto == 17
        else sport.to_bytes(2, "big") + b"\x00\x50" + bytes(8) + b"\x50\x02\xff\xff" + bytes(4)
    )
    ip = bytearray(b"\x45\x00" + (20 + len(l4)).to_bytes(2, "big") + b"\x00\x01\x00\x00\x40")
    ip += bytes([proto]) + b"\x00\x00" + src + _DST4
    ip[10:12] = checksum(bytes(ip)).to_bytes(2, "big")
    return _MACS + b"\x08\x00" + bytes(ip) + l4


def _frame6(src: bytes) -> bytes:
    udp = b"\x04\x00\x00\x35\x00\x12\x00\x00" + b"x" * 10
    return _MACS + b"\x86\xdd" + b"\x60\x00\x00\x00\x00\x12\x11\x40" + src + _DST6 + udp


def _sources(family: int, n: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    if family == 4:
        base, size = int(_NET4.network_address), _NET4.num_addresses
        return [ipaddress.IPv4Address(base + rng.randrange(size)) for _ in range(n)]
    base6 = int(_NET6.network_address)
    return [ipaddress.IPv6Address(base6 + rng.getrandbits(96)) for _ in range(n)]


def sources(family: int, n: int = FRAMES) -> list[Any]:
    """The rows' traffic sources (seeded apart from the prefixes)."""
    return _sources(family, n, seed=100 + family)


@contextmanager
def _blocklist(family: int) -> Iterator[CostCase]:
    nets = [*prefixes_v4(), *prefixes_v6()]
    make = (lambda s: _frame4(s.packed)) if family == 4 else (lambda s: _frame6(s.packed))
    with VnfInstance.load("ddos", "xdp", {"blocklist": nets, "syn_rate": None}) as inst:
        yield CostCase(inst.program, [make(s) for s in sources(family)], "xdp")


@contextmanager
def _syn(rate: int) -> Iterator[CostCase]:
    sources = _sources(4, FRAMES, seed=44)
    frames = [_frame4(s.packed, proto=6) for s in sources]
    with VnfInstance.load("ddos", "xdp", {"syn_rate": rate, "syn_burst": 100}) as inst:
        yield CostCase(inst.program, frames, "xdp")


def cost_rows() -> list[CostRow]:
    tables = f"XDP, {PREFIXES} IPv4 + {PREFIXES} IPv6 prefixes blocked, {FRAMES} sources cycled"
    return [
        # the blocked shares are checked by tests/unit/test_vnf_ddos_model.py
        CostRow("ddos-10k-prefixes", lambda: _blocklist(4), tables + " (UDP/IPv4, 15 % of them blocked)"),
        CostRow("ddos-10k-prefixes-ipv6", lambda: _blocklist(6), tables + " (UDP/IPv6, 5 % of them blocked)"),
        CostRow(
            "ddos-syn",
            lambda: _syn(100_000_000),
            f"XDP, TCP SYNs from {FRAMES} sources within their rate (bucket + cmpxchg a packet)",
        ),
        CostRow(
            "ddos-syn-flood",
            lambda: _syn(100),
            f"XDP, TCP SYNs from {FRAMES} sources over their rate (100/s, burst 100): dropped",
        ),
    ]
