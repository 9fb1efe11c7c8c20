"""Reproducible random rule sets and packets that exercise them (benchmarks, tests).

:func:`random_rules` draws a ClassBench-like mix (most rules narrow in one address at
least, exact destination ports or ranges, some wildcards, overlaps everywhere) in
198.18.0.0/15 and 2001:db8::/32; :func:`probe_keys` draws packets, half of them inside
a random rule (so leaves are checked down to a match), half anywhere in the rules'
address space with random ports.
"""

from __future__ import annotations

import ipaddress
import math
import random
from typing import Any

from ..csum import checksum
from .match import DPORTX_NONE, ICMP_BASE, PacketKey

__all__ = ["BASE4", "BASE6", "frame_of", "probe_keys", "random_rules", "rules_within", "specificity"]

BASE4 = ipaddress.IPv4Network("198.18.0.0/15")
BASE6 = ipaddress.IPv6Network("2001:db8::/32")
_V4_LENGTHS = [(15, 2), (16, 2), (18, 3), (20, 3), (22, 4), (24, 14), (26, 6), (28, 8), (30, 6), (32, 30)]
_V6_LENGTHS = [(32, 2), (40, 3), (48, 10), (56, 8), (64, 20), (96, 7), (112, 10), (128, 30)]
_WELL_KNOWN = [22, 25, 53, 80, 123, 443, 3306, 5432, 8080, 8443]


def _prefix(rng: random.Random, family: int) -> str:
    base, lengths = (BASE4, _V4_LENGTHS) if family == 4 else (BASE6, _V6_LENGTHS)
    plen = rng.choices([p for p, _ in lengths], [w for _, w in lengths])[0]
    host = rng.getrandbits(base.max_prefixlen - base.prefixlen)
    addr = int(base.network_address) | host
    return str(ipaddress.ip_network((addr, plen), strict=False))


def _port_range(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.6:
        return str(rng.choice(_WELL_KNOWN) if rng.random() < 0.3 else rng.randint(1, 65535))
    if kind < 0.8:
        lo = rng.randint(0, 65000)
        return f"{lo}-{min(65535, lo + rng.choice([1, 15, 255, 1023, 4095]))}"
    return rng.choice(["1024-65535", "0-1023", "49152-65535"])


def _rule(rng: random.Random, family: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"action": "accept" if rng.random() < 0.6 else "drop"}
    src_any, dst_any = rng.random() < 0.15, rng.random() < 0.25
    if src_any and dst_any and rng.random() < 0.8:
        src_any = False  # rules wide on both sides are a minority
    if not src_any:
        rule["src"] = _prefix(rng, family)
    if not dst_any:
        rule["dst"] = _prefix(rng, family)
    kind = rng.random()
    if kind < 0.1:
        rule["proto"] = "icmp" if family == 4 else "icmpv6"
        if rng.random() < 0.5:
            rule["icmp_type"] = rng.choice([0, 3, 8, 11] if family == 4 else [1, 128, 129, 135])
        return rule
    if kind < 0.2:
        pass  # any protocol
    else:
        rule["proto"] = "tcp" if kind < 0.65 else "udp"
    if rng.random() < 0.15:
        rule["sport"] = _port_range(rng)
    if rng.random() < 0.8:
        rule["dport"] = _port_range(rng)
    return rule


def _bits(ports: str | None, width: int) -> float:
    """How many bits of a field a port range (or its absence) fixes."""
    if ports is None:
        return 0.0
    lo, _, hi = ports.partition("-")
    span = int(hi or lo) - int(lo) + 1
    return width - math.log2(span)


def specificity(rule: dict[str, Any]) -> float:
    """Bits the rule fixes over all fields: the order a policy is usually written in."""
    bits = 0.0
    for side in ("src", "dst"):
        if side in rule:
            bits += int(rule[side].rpartition("/")[2])
    bits += 8 if "proto" in rule else 0
    bits += _bits(rule.get("sport"), 16) + _bits(rule.get("dport"), 16)
    return bits + (8 if "icmp_type" in rule else 0)


def random_rules(n: int, seed: int = 1, *, ipv6: float = 0.0) -> list[dict[str, Any]]:
    """``n`` distinct rules (a fraction ``ipv6`` of them IPv6), the same for the same seed.

    Ordered as policies are written, the most specific first (a stable sort on the bits
    the rule fixes): random order would let early wide rules shadow most of the later
    ones, and a lookup would rarely get past the first few.
    """
    rng = random.Random(seed)
    seen: set[tuple] = set()
    out: list[dict[str, Any]] = []
    while len(out) < n:
        rule = _rule(rng, 6 if rng.random() < ipv6 else 4)
        key = tuple(sorted(rule.items()))
        if key in seen:
            continue
        seen.add(key)
        out.append(rule)
    out.sort(key=specificity, reverse=True)
    return out


def rules_within(n: int, network: str, seed: int = 1) -> list[dict[str, Any]]:
    """The IPv4 rules of :func:`random_rules` ``(n, seed)`` whose addresses lie in ``network``
    (rules without an address kept): packets outside it fail the trees' address checks."""
    net = ipaddress.ip_network(network)
    return [
        r
        for r in random_rules(n, seed)
        if all(ipaddress.ip_network(r[side]).subnet_of(net) for side in ("src", "dst") if side in r)  # type: ignore[arg-type]
    ]


def _inside(rng: random.Random, lo: int, hi: int) -> int:
    return rng.randint(lo, hi)


def probe_keys(matches: list[Any], n: int, seed: int = 2, *, family: int = 4) -> list[PacketKey]:
    """``n`` packet keys: half inside a random rule of ``matches``, half random (same family)."""
    rng = random.Random(seed)
    base = BASE4 if family == 4 else BASE6
    mapped = 0xFFFF << 32 if family == 4 else 0
    lo_addr = mapped | int(base.network_address)
    hi_addr = mapped | int(base.broadcast_address)
    usable = [m for m in matches if m.family in (0, family)]
    keys = []
    for i in range(n):
        if usable and i % 2 == 0:
            m = rng.choice(usable)
            src = _inside(rng, max(m.src[0], lo_addr), min(m.src[1], hi_addr))
            dst = _inside(rng, max(m.dst[0], lo_addr), min(m.dst[1], hi_addr))
            proto = m.proto[0] if m.proto[0] == m.proto[1] else rng.choice([6, 17])
            if proto in (6, 17):
                sport = _inside(rng, *m.sport)
                dportx = _inside(rng, m.dportx[0], min(m.dportx[1], 0xFFFF))
            elif proto in (1, 58):
                sport, dportx = (
                    0,
                    _inside(rng, max(m.dportx[0], ICMP_BASE), min(m.dportx[1], ICMP_BASE + 255)),
                )
            else:
                sport, dportx = 0, ICMP_BASE + 256
        else:
            src, dst = rng.randint(lo_addr, hi_addr), rng.randint(lo_addr, hi_addr)
            proto = rng.choice([6, 17, 6, 17, 1 if family == 4 else 58])
            if proto in (6, 17):
                sport, dportx = (
                    rng.randint(0, 65535),
                    rng.choice([rng.randint(0, 65535), rng.choice(_WELL_KNOWN)]),
                )
            else:
                sport, dportx = 0, ICMP_BASE + rng.choice([0, 3, 8, 11, 128, 129])
        keys.append(PacketKey(family, src, dst, proto, sport, dportx))
    return keys


_MACS = bytes.fromhex("020000000002020000000001")


def frame_of(key: PacketKey, payload: int = 10) -> bytes:
    """A minimal Ethernet frame with ``key`` (IPv4 with a valid header checksum, or IPv6).

    TCP/UDP carry the ports, ICMP/ICMPv6 the type (``dportx - ICMP_BASE``); a ``dportx``
    of DPORTX_NONE with protocol 6/17 is sent as a later fragment. L4 checksums are left
    zero: the firewall does not read them.
    """
    body = b"x" * payload
    later = key.dportx == DPORTX_NONE and key.proto in (1, 6, 17, 58)
    if later:
        l4 = body
    elif key.proto in (6, 17):
        ports = key.sport.to_bytes(2, "big") + key.dportx.to_bytes(2, "big")
        if key.proto == 6:
            l4 = ports + bytes(8) + b"\x50\x02\x20\x00" + bytes(4) + body
        else:
            l4 = ports + (8 + len(body)).to_bytes(2, "big") + b"\0\0" + body
    elif key.proto in (1, 58):
        l4 = bytes([key.dportx - ICMP_BASE, 0]) + bytes(6) + body
    else:
        l4 = body
    if key.family == 4:
        frag = b"\x00\x10" if later else b"\x00\x00"  # offset 16 bytes: a later fragment
        ip = bytearray(
            b"\x45\x00"
            + (20 + len(l4)).to_bytes(2, "big")
            + b"\x00\x01"
            + frag
            + bytes([64, key.proto])
            + b"\0\0"
            + (key.src & 0xFFFFFFFF).to_bytes(4, "big")
            + (key.dst & 0xFFFFFFFF).to_bytes(4, "big")
        )
        ip[10:12] = checksum(bytes(ip)).to_bytes(2, "big")
        return _MACS + b"\x08\x00" + bytes(ip) + l4
    nh = key.proto
    if later:
        l4 = bytes([key.proto, 0]) + b"\x00\x10" + bytes(4) + l4  # fragment header, offset 2 (x8 bytes)
        nh = 44
    ip6 = b"\x60\0\0\0" + len(l4).to_bytes(2, "big") + bytes([nh, 64])
    return _MACS + b"\x86\xdd" + ip6 + key.src.to_bytes(16, "big") + key.dst.to_bytes(16, "big") + l4
