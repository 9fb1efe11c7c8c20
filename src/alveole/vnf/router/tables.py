"""Route tables as router.bpf.c reads them: routes expanded into a pointer-free multibit trie.

Level 16 is an array indexed by the top 16 bits of the destination (``router_root4``,
``router_root6``); deeper levels, every 8 bits, are hash entries keyed by ``(level,
destination cut to the level)`` (``router_more4``, ``router_more6``). A route of length L
lands in the first level >= L, expanded into its 2^(level - L) slots there; every slot
above it on the way down gets :data:`MORE`. An entry is ``next hop id | MORE``; 0 means
"nothing at this level" and is left out (the root arrays read it as zeros).

The lookup (and :func:`lookup`, its mirror here) walks down while :data:`MORE` is set and
keeps the deepest next hop: the longest prefix match. No entry points at another, so the
diff between two tables can be written in any order (see router.bpf.c).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "MORE",
    "NH_KERNEL",
    "NH_MASK",
    "ROOT_BITS",
    "STRIDE",
    "Network",
    "Tables",
    "build",
    "level_of",
    "lookup",
]

ROOT_BITS = 16  # ROUTER_ROOT_BITS
STRIDE = 8  # bits per level below the root
NH_MASK = 0xFFFF  # ROUTER_NH_MASK
NH_KERNEL = 0xFFFF  # ROUTER_NH_KERNEL: the route's packets go to the kernel
MORE = 1 << 31  # ROUTER_MORE

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MoreKey = tuple[int, bytes]  # (level, address cut to the level): struct router_key4/6


def level_of(prefixlen: int) -> int:
    """The level a route of this length lands in: 16, then the next multiple of 8."""
    return max(ROOT_BITS, -(-prefixlen // STRIDE) * STRIDE)


@dataclass
class _Family:
    bits: int
    root: dict[int, int] = field(default_factory=dict)
    more: dict[MoreKey, int] = field(default_factory=dict)

    def _key(self, level: int, slot: int) -> MoreKey:
        return level, (slot << (self.bits - level)).to_bytes(self.bits // 8, "big")

    def _set(self, level: int, slot: int, nh: int) -> None:
        if level == ROOT_BITS:
            self.root[slot] = (self.root.get(slot, 0) & MORE) | nh
        else:
            key = self._key(level, slot)
            self.more[key] = (self.more.get(key, 0) & MORE) | nh

    def _mark(self, level: int, slot: int) -> None:
        if level == ROOT_BITS:
            self.root[slot] = self.root.get(slot, 0) | MORE
        else:
            key = self._key(level, slot)
            self.more[key] = self.more.get(key, 0) | MORE

    def add(self, net: Network, nh: int) -> None:
        """Add a route; routes must come shortest first (a longer one overwrites its slots)."""
        addr, plen = int(net.network_address), net.prefixlen
        level = level_of(plen)
        base = addr >> (self.bits - level)
        for slot in range(base, base + (1 << (level - plen))):
            self._set(level, slot, nh)
        for upper in range(ROOT_BITS, level, STRIDE):
            self._mark(upper, addr >> (self.bits - upper))


@dataclass(frozen=True)
class Tables:
    """The four route maps' desired content (non-zero entries only)."""

    root4: dict[int, int]
    more4: dict[MoreKey, int]
    root6: dict[int, int]
    more6: dict[MoreKey, int]

    def entries(self, family: int) -> int:
        """Hash entries one family needs (what ``table_size`` bounds)."""
        return len(self.more4 if family == 4 else self.more6)


def build(routes: Iterable[tuple[Network, int]]) -> Tables:
    """Expand ``(prefix, next hop id)`` routes (prefixes unique) into the kernel's tables."""
    v4, v6 = _Family(32), _Family(128)
    for net, nh in sorted(routes, key=lambda r: (r[0].prefixlen, r[0].version, int(r[0].network_address))):
        if not 0 < nh <= NH_MASK:
            raise ValueError(f"next hop id {nh} out of range 1..{NH_MASK}")
        (v4 if net.version == 4 else v6).add(net, nh)
    return Tables(v4.root, v4.more, v6.root, v6.more)


def lookup(tables: Tables, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    """The next hop id the kernel finds for ``addr`` in ``tables`` (0: no route): its walk, in Python."""
    bits = addr.max_prefixlen
    value = int(addr)
    root, more = (tables.root4, tables.more4) if bits == 32 else (tables.root6, tables.more6)
    entry = root.get(value >> (bits - ROOT_BITS), 0)
    nh = entry & NH_MASK
    level = ROOT_BITS
    while entry & MORE and level < bits:
        level += STRIDE
        slot = value >> (bits - level)
        entry = more.get((level, (slot << (bits - level)).to_bytes(bits // 8, "big")), 0)
        if entry & NH_MASK:
            nh = entry & NH_MASK
    return nh
