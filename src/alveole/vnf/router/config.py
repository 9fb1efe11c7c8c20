"""The router's configuration and how it reaches the kernel.

* ``mode`` (``table`` or ``fib``) and ``fib_direct`` become ``const volatile`` globals
  (fixed at load: the verifier drops the other mode's code);
* ``table_size`` sizes each family's chunk array (fixed at load);
* ``routes``, ``local``, ``nexthops`` and ``ports`` fill the route tables, the next-hop
  table and the egress devmap: changeable at run time, applied as diffs.

Next hops and ports name interfaces by ifindex, as the kernel does: they mean the
interfaces of the network namespace the router is loaded in (and the maps must be
written from that namespace: a devmap resolves an ifindex where it is written).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping, Set
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress, IPvAnyNetwork, model_validator

from ..config import VnfConfig
from .tables import CHUNK, NH_KERNEL, Network, Tables, build

if TYPE_CHECKING:
    from ...bpf import Map

__all__ = [
    "BPF_FIB_LOOKUP_DIRECT",
    "MAX_NEXTHOP",
    "MAX_PORTS",
    "NextHop",
    "Route",
    "RouterConfig",
    "mac_bytes",
]

BPF_FIB_LOOKUP_DIRECT = 1 << 0
MAX_NEXTHOP = NH_KERNEL - 1  # ids 1..65534; 65535 stands for "the kernel"
MODES = {"table": 0, "fib": 1}  # enum router_mode
MAX_PORTS = 1024  # max_entries of router_ports
EGRESS_MAX = 4096  # ROUTER_EGRESS_MAX: egress profiles, 0 unused
Mac = Annotated[str, Field(pattern=r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")]
IfIndex = Annotated[int, Field(ge=1, le=(1 << 31) - 1)]
NextHopId = Annotated[int, Field(ge=1, le=MAX_NEXTHOP)]


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


class NextHop(BaseModel):
    """Where forwarded packets go: out of ``ifindex``, to ``mac``, from ``src_mac``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ifindex: IfIndex = Field(description="egress interface (in the router's network namespace)")
    mac: Mac = Field(description="the neighbour's MAC: the frame's new destination")
    src_mac: Mac = Field(description="the egress interface's MAC: the frame's new source")
    mtu: int = Field(1500, ge=68, le=65535, description="larger IP packets are passed to the kernel")


class Route(BaseModel):
    """A prefix and where it goes: a next hop id, or ``kernel`` (passed to the stack)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to: IPvAnyNetwork
    via: NextHopId | Literal["kernel"]


class RouterConfig(VnfConfig):
    """An L3 router: own route tables (``table``) or the kernel's FIB (``fib``)."""

    mode: Literal["table", "fib"] = Field("table", description="table: routes below; fib: bpf_fib_lookup()")
    nexthops: dict[NextHopId, NextHop] = Field(
        default_factory=dict, description="next hops by id (table mode)"
    )
    routes: tuple[Route, ...] = Field((), description="prefix -> next hop id or 'kernel' (table mode)")
    local: tuple[IPvAnyAddress, ...] = Field(
        (), description="the router's own addresses: passed to the kernel (table mode)"
    )
    ports: tuple[IfIndex, ...] = Field(
        (), description="egress ifindexes besides the next hops' (fib mode: the only ones)"
    )
    fib_direct: bool = Field(False, description="fib mode: main table only, policy rules skipped")
    table_size: int = Field(
        1 << 18,
        ge=1024,
        le=1 << 24,
        description="slots of each family's route table, preallocated (chunks of 256 slots of 8 bytes; "
        "rounded up to a chunk)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> RouterConfig:
        if self.mode == "fib":
            for name in ("nexthops", "routes", "local"):
                if getattr(self, name):
                    raise ValueError(f"{name}: only for mode 'table' (mode 'fib' uses the kernel's routes)")
        seen: dict[Network, str] = {}
        for i, route in enumerate(self.routes):
            if route.to in seen:
                raise ValueError(f"routes.{i}.to: {route.to} is already routed by {seen[route.to]}")
            seen[route.to] = f"routes.{i}"
            if route.via != "kernel" and route.via not in self.nexthops:
                raise ValueError(f"routes.{i}.via: no next hop {route.via} in nexthops")
        for i, addr in enumerate(self.local):
            host = ipaddress.ip_network(addr)
            if host in seen:
                raise ValueError(f"local.{i}: {addr} is already routed by {seen[host]}")
            seen[host] = f"local.{i}"
        if len(set(self.ports)) != len(self.ports):
            raise ValueError("ports: an ifindex is listed twice")
        if len(self.egress()) > MAX_PORTS:
            raise ValueError(f"ports: more than {MAX_PORTS} egress interfaces (with the next hops')")
        if len(self.profiles) >= EGRESS_MAX:
            raise ValueError(
                f"nexthops: {len(self.profiles)} distinct (ifindex, src_mac, mtu), at most {EGRESS_MAX - 1}"
            )
        tables = self.tables
        for family in (4, 6):
            used = tables.family(family).chunks
            if used > self.chunks - 1:
                raise ValueError(
                    f"routes: IPv{family} routes need {used} chunks of {CHUNK} slots, more than "
                    f"table_size {self.table_size} holds ({self.chunks - 1})"
                )
        return self

    # --- derived --------------------------------------------------------------------------
    def route_list(self) -> list[tuple[Network, int]]:
        """Every route with its next hop id (local addresses as host routes to the kernel)."""
        out: list[tuple[Network, int]] = [
            (r.to, NH_KERNEL if r.via == "kernel" else int(r.via)) for r in self.routes
        ]
        out += [(ipaddress.ip_network(a), NH_KERNEL) for a in self.local]
        return out

    @functools.cached_property
    def tables(self) -> Tables:
        """The route tables, as a freshly loaded router holds them (computed once per config)."""
        return build(self.route_list())

    @functools.cached_property
    def profiles(self) -> dict[tuple[bytes, int, int], int]:
        """Egress profiles (source MAC, MTU, ifindex) as a fresh router numbers them."""
        from .update import profiles

        return profiles(self)

    @property
    def chunks(self) -> int:
        """Chunks of each family's route table (chunk 0 is never used)."""
        return -(-self.table_size // CHUNK)

    def egress(self) -> set[int]:
        """Interfaces the router may redirect to: the next hops' and ``ports``."""
        return {nh.ifindex for nh in self.nexthops.values()} | set(self.ports)

    # --- to the kernel ----------------------------------------------------------------------
    def rodata(self) -> dict[str, Any]:
        return {
            "router_mode": MODES[self.mode],
            "fib_flags": BPF_FIB_LOOKUP_DIRECT if self.fib_direct else 0,
        }

    def map_sizes(self) -> dict[str, int]:
        return {"router_tbl4": self.chunks * CHUNK, "router_tbl6": self.chunks * CHUNK}

    def map_entries(self) -> dict[str, dict[Any, Any]]:
        """What a freshly loaded router holds (non-zero slots of the arrays). A loaded one is
        brought to a new config by :meth:`sync`, which keeps chunk numbers where it can."""
        t, prof = self.tables, self.profiles
        return {
            "router_ports": {i: i for i in sorted(self.egress())},
            "router_egress": {i: p for p, i in prof.items()},
            "router_nh": {
                i: (mac_bytes(nh.mac), prof[(mac_bytes(nh.src_mac), nh.mtu, nh.ifindex)])
                for i, nh in sorted(self.nexthops.items())
            },
            "router_root4": t.v4.root,
            "router_tbl4": t.v4.table,
            "router_root6": t.v6.root,
            "router_tbl6": t.v6.table,
        }

    def sync(self, maps: Mapping[str, Map], only: Set[str] | None = None) -> dict[str, tuple[int, int, int]]:
        from .update import write_config

        return write_config(self, maps, only)
