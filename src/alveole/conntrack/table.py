"""Reading a conntrack table from user space: flows, pressure counters, top-N.

The maps come from a loaded VNF (``VnfInstance.maps``), a chain member's pins
(:func:`open_pinned`) or any name -> :class:`~alveole.bpf.Map` mapping. Keys
and entries are decoded through the object's BTF (the map codecs); a
:class:`Connection` is one flow as people read it: initiator and responder,
state, idle time, counters by direction, NAT binding.
"""

from __future__ import annotations

import heapq
import ipaddress
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ..bpf import Map
from .key import Key, address
from .states import NatKind, State

__all__ = [
    "CT_MAPS",
    "STATS_FIELDS",
    "Connection",
    "Pressure",
    "coarse_now_ns",
    "connections",
    "open_pinned",
    "pressure",
    "read_entries",
    "read_stats",
    "top",
]

TABLES = ("alv_ct4", "alv_ct6")  # IPv4 flows, IPv6 flows
CT_MAPS = (*TABLES, "alv_ct_conf", "alv_ct_stats", "alv_ct_gc")
# struct alv_ct_stats, in order
STATS_FIELDS = ("lookups", "misses", "expired", "created", "create_failed", "races", "untracked", "related")
_PROTO = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


_CLOCK_MONOTONIC_COARSE = getattr(
    time, "CLOCK_MONOTONIC_COARSE", 6
)  # Linux's clock id (not in Python's time)


def coarse_now_ns() -> int:
    """Now on the kernel's coarse monotonic clock (bpf_ktime_get_coarse_ns(), the entries' stamps)."""
    return time.clock_gettime_ns(_CLOCK_MONOTONIC_COARSE)


def read_entries(maps: Mapping[str, Map]) -> dict[Key, Any]:
    """Every entry of both tables (``alv_ct4``, ``alv_ct6``; one batched read each), by :class:`Key`."""
    return {Key.from_value(k): v for name in TABLES if name in maps for k, v in maps[name].items()}


def read_stats(stats: Map) -> dict[str, int]:
    """``alv_ct_stats`` summed over CPUs."""
    total = stats[0].sum()
    return {name: int(getattr(total, name)) for name in STATS_FIELDS}


@dataclass(frozen=True)
class Connection:
    """One tracked flow, oriented: ``src``:``sport`` opened it to ``dst``:``dport``."""

    proto: int
    src: Address
    sport: int
    dst: Address
    dport: int
    state: State
    idle_s: float
    age_s: float
    packets: tuple[int, int]  # original direction, reply direction
    bytes: tuple[int, int]
    tcp_flags: tuple[int, int]
    nat_kind: NatKind
    nat_addr: Address | None
    nat_port: int
    key: Key

    @property
    def family(self) -> int:
        return self.src.version

    @property
    def protocol(self) -> str:
        return _PROTO.get(self.proto, str(self.proto))

    def __str__(self) -> str:
        def ep(a: Address, p: int) -> str:
            return f"[{a}]:{p}" if a.version == 6 else f"{a}:{p}"

        nat = f" {self.nat_kind.name.lower()} {ep(self.nat_addr, self.nat_port)}" if self.nat_addr else ""
        return (
            f"{self.protocol} {ep(self.src, self.sport)} -> {ep(self.dst, self.dport)} "
            f"{self.state.label}{nat}"
        )

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("key")
        d.update(
            src=str(self.src),
            dst=str(self.dst),
            state=self.state.label,
            protocol=self.protocol,
            nat_kind=self.nat_kind.name.lower(),
            nat_addr=str(self.nat_addr) if self.nat_addr else None,
        )
        return d


def _connection(key: Key, v: Any, now: int) -> Connection:
    o = v.orig & 1
    (sa, sp), (da, dp) = key.endpoint(o), key.endpoint(o ^ 1)
    kind = NatKind(v.nat.kind) if v.nat.kind in NatKind._value2member_map_ else NatKind.NONE
    return Connection(
        proto=key.proto,
        src=address(sa),
        sport=sp,
        dst=address(da),
        dport=dp,
        state=State(v.state) if v.state in State._value2member_map_ else State.NONE,
        idle_s=max(0, now - v.last_ns) / 1e9,
        age_s=max(0, now - v.created_ns) / 1e9,
        packets=(v.packets[0], v.packets[1]),
        bytes=(v.bytes[0], v.bytes[1]),
        tcp_flags=(v.tcp_flags[0], v.tcp_flags[1]),
        nat_kind=kind,
        nat_addr=address(bytes(v.nat.addr.b)) if kind != NatKind.NONE else None,
        nat_port=v.nat.port,
        key=key,
    )


def connections(maps: Mapping[str, Map], now: int | None = None) -> list[Connection]:
    """Every flow of both tables, oriented from its initiator."""
    now = coarse_now_ns() if now is None else now
    return [_connection(k, v, now) for k, v in read_entries(maps).items()]


By = Literal["bytes", "packets", "idle", "age"]


def top(conns: Iterable[Connection], n: int = 20, by: By = "bytes") -> list[Connection]:
    """The ``n`` largest flows by total bytes or packets, or the most idle/oldest."""

    def score(c: Connection) -> float:
        if by == "bytes":
            return sum(c.bytes)
        if by == "packets":
            return sum(c.packets)
        return c.idle_s if by == "idle" else c.age_s

    return heapq.nlargest(n, conns, key=score)


@dataclass(frozen=True)
class Pressure:
    """How full and how stressed a table is.

    ``evicted`` is inferred (the kernel does not count LRU evictions): every
    flow created is either still there, deleted when found dead by the
    datapath (``expired``), deleted by user space (``gc_deleted``), or evicted.
    """

    entries: int  # both tables
    max_entries: int  # of each table
    lookups: int
    misses: int
    expired: int
    created: int
    create_failed: int
    races: int
    untracked: int
    related: int
    gc_deleted: int
    gc_runs: int
    evicted: int

    @property
    def fill(self) -> float:
        """Of the two tables together."""
        return self.entries / (2 * self.max_entries) if self.max_entries else 0.0

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "fill": round(self.fill, 4)}


def pressure(maps: Mapping[str, Map], entries: int | None = None) -> Pressure:
    """The table's pressure counters (``entries``: the live count if already known)."""
    live = sum(len(maps[n]) for n in TABLES if n in maps) if entries is None else entries
    stats = read_stats(maps["alv_ct_stats"])
    gc = maps["alv_ct_gc"][0] if "alv_ct_gc" in maps else None
    deleted = int(gc.deleted) if gc is not None else 0
    evicted = max(0, stats["created"] - live - stats["expired"] - deleted)
    return Pressure(
        entries=live,
        max_entries=maps["alv_ct4"].max_entries,
        gc_deleted=deleted,
        gc_runs=int(gc.runs) if gc is not None else 0,
        evicted=evicted,
        **stats,
    )


def open_pinned(directory: str | os.PathLike[str]) -> dict[str, Map]:
    """The conntrack maps pinned in ``directory`` (a chain member's ``maps/`` directory)."""
    if not all(os.path.exists(os.path.join(directory, n)) for n in TABLES):
        raise FileNotFoundError(f"no conntrack tables ({', '.join(TABLES)}) pinned in {directory}")
    return {
        n: Map.from_pin(os.path.join(directory, n))
        for n in CT_MAPS
        if os.path.exists(os.path.join(directory, n))
    }
