"""Reading flowmon's tables from Python: flows, "other" counters, top-N talkers.

The flow tables are per-CPU: a flow's packets and bytes are the sums over
CPUs, its first seen the earliest non-zero CPU value, its last seen the latest,
its TCP flags the OR. Top-N is computed here, in Python, from one batched read.
"""

from __future__ import annotations

import enum
import heapq
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ..instance import VnfInstance

__all__ = [
    "Flow",
    "FlowKey",
    "OtherReason",
    "Talker",
    "merge_cpus",
    "other_counts",
    "read_flows",
    "top_flows",
    "top_talkers",
]

KEY_LATER_FRAGMENT = 1  # FLOWMON_KEY_LATER_FRAGMENT
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class OtherReason(enum.IntEnum):
    """``enum flowmon_other_reason``: packets that are not flows."""

    NOT_IP = 0
    UNPARSED = 1
    IGNORED = 2


@dataclass(frozen=True, order=True)
class FlowKey:
    """A flow's key; fields left out of the config's ``key`` are zero."""

    family: int
    src: Address
    dst: Address
    proto: int
    sport: int
    dport: int  # ICMP: type << 8 | code
    vlan: int
    later_fragment: bool

    def __str__(self) -> str:
        def ep(addr: Address, port: int) -> str:
            return f"[{addr}]:{port}" if self.family == 6 else f"{addr}:{port}"

        frag = " (later fragments)" if self.later_fragment else ""
        vlan = f" vlan {self.vlan}" if self.vlan else ""
        return f"{ep(self.src, self.sport)} -> {ep(self.dst, self.dport)} proto {self.proto}{vlan}{frag}"


@dataclass(frozen=True)
class Flow:
    key: FlowKey
    packets: int
    bytes: int
    first_seen_ns: int
    last_seen_ns: int
    tcp_flags: int


@dataclass(frozen=True)
class Talker:
    """Traffic summed over the flows sharing one value of a key field."""

    value: Any
    packets: int
    bytes: int
    flows: int


def merge_cpus(values: Sequence[Any]) -> tuple[int, int, int, int, int]:
    """(packets, bytes, first_seen_ns, last_seen_ns, tcp_flags) over per-CPU values."""
    firsts = [v.first_seen_ns for v in values if v.first_seen_ns]
    flags = 0
    for v in values:
        flags |= v.tcp_flags
    return (
        sum(v.packets for v in values),
        sum(v.bytes for v in values),
        min(firsts) if firsts else 0,
        max(v.last_seen_ns for v in values),
        flags,
    )


def _key(family: int, raw: Any) -> FlowKey:
    cls = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    return FlowKey(
        family,
        cls(raw.saddr),
        cls(raw.daddr),
        raw.proto,
        raw.sport,
        raw.dport,
        raw.vlan,
        bool(raw.flags & KEY_LATER_FRAGMENT),
    )


def read_flows(instance: VnfInstance) -> list[Flow]:
    """Every flow of both tables (one batched read per table)."""
    flows = []
    for family, name in ((4, "flowmon_flows4"), (6, "flowmon_flows6")):
        for raw_key, per_cpu in instance.maps[name].items():
            flows.append(Flow(_key(family, raw_key), *merge_cpus(per_cpu)))
    return flows


def other_counts(instance: VnfInstance) -> dict[OtherReason, tuple[int, int]]:
    """(packets, bytes) of the packets that are not flows, by reason."""
    m = instance.maps["flowmon_other"]
    return {r: tuple(m[int(r)].sum()) for r in OtherReason}  # type: ignore[misc]


By = Literal["bytes", "packets"]


def top_flows(flows: Iterable[Flow], n: int = 10, by: By = "bytes") -> list[Flow]:
    """The ``n`` largest flows by bytes or packets (ties: smaller key first)."""
    return heapq.nsmallest(n, flows, key=lambda f: (-getattr(f, by), f.key))


def top_talkers(
    flows: Iterable[Flow], n: int = 10, by: By = "bytes", field: Literal["src", "dst", "proto"] = "src"
) -> list[Talker]:
    """The ``n`` largest values of ``field`` (source address by default), flows summed.

    Ties: smaller value first.
    """
    acc: dict[Any, list[int]] = {}
    for f in flows:
        slot = acc.setdefault(getattr(f.key, field), [0, 0, 0])
        slot[0] += f.packets
        slot[1] += f.bytes
        slot[2] += 1
    talkers = [Talker(v, p, b, c) for v, (p, b, c) in acc.items()]
    return heapq.nsmallest(n, talkers, key=lambda t: (-getattr(t, by), _order(t.value)))


def _order(value: Any) -> tuple[int, int]:
    """Addresses sort by family then number; protocol numbers as they are."""
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value.version, int(value)
    return 0, int(value)
