"""Reading the rate limiter's state from its maps: outcome counters and buckets."""

from __future__ import annotations

import enum
import ipaddress
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ..instance import VnfInstance

__all__ = ["BucketKey", "Outcome", "buckets", "outcome_counts"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Outcome(enum.IntEnum):
    """``enum rl_outcome``: what happened to a packet."""

    CONFORMED = 0
    EXCEEDED = 1
    CONTENDED = 2
    UNKEYED = 3


class BucketKey(NamedTuple):
    """A bucket's key; fields the key mode leaves out are zero (key=src: the source only)."""

    src: Address
    dst: Address
    sport: int
    dport: int
    proto: int


def outcome_counts(instance: VnfInstance) -> dict[Outcome, tuple[int, int]]:
    """(packets, bytes) by outcome, summed over CPUs."""
    m = instance.maps["rl_counts"]
    return {o: tuple(m[int(o)].sum()) for o in Outcome}  # type: ignore[misc]


def buckets(instance: VnfInstance) -> dict[BucketKey, int]:
    """Every bucket: its key -> its ``tat`` (ns)."""
    out: dict[BucketKey, int] = {}
    for name, cls in (("rl_src4", ipaddress.IPv4Address), ("rl_src6", ipaddress.IPv6Address)):
        for k, b in instance.maps[name].items():
            out[BucketKey(cls(k.addr), cls(0), 0, 0, 0)] = b.tat
    for name, cls in (("rl_flows4", ipaddress.IPv4Address), ("rl_flows6", ipaddress.IPv6Address)):
        for k, b in instance.maps[name].items():
            out[BucketKey(cls(k.saddr), cls(k.daddr), k.ports >> 16, k.ports & 0xFFFF, k.proto)] = b.tat
    return out
