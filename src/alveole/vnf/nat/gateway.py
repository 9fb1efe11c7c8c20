"""Running the NAT on an interface, and collecting its garbage.

A NAT needs both directions of its outside interface with one set of maps.
:class:`NatGateway` does it two ways:

* ``inbound="tc"`` (default): one TC program attached to the interface's tcx
  ingress and egress (the same program, so the same maps);
* ``inbound="xdp"``: the XDP program on ingress (replies translated before the
  stack allocates an skb) and the TC program on egress, the TC one loaded
  with every state and config map of the XDP one reused.

In a service chain (``alveole.datapath``) the NAT is a member of the
interface's ``tc-egress`` chain and of its ``tc-ingress`` (or ``xdp``) chain;
the two members must share their maps (see docs/vnfs/nat.md).

:func:`gc` removes dead flows and their reverse bindings, then bindings whose
flow is gone (seen so on two runs in a row, so a binding made a moment before
its flow is never taken for an orphan).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ...bpf import Link, Map
from ...conntrack import (
    CT_MAPS,
    Collector,
    Connection,
    GcResult,
    Key,
    NatKind,
    collect,
    connections,
    tuple_from,
)
from ...conntrack.gc import delete_keys
from ...conntrack.table import read_entries
from ..config import VnfConfig
from ..instance import VnfInstance
from .config import NatConfig
from .stats import REV_MAPS, Binding, bindings, read_bindings, read_nat_stats

__all__ = ["NatGateway", "NatGc", "gc"]

ICMP_PROTOS = (1, 58)
# maps the TC program reuses from the XDP one (all but the chain's and the per-program counters)
SHARED_MAPS = (*CT_MAPS, "nat_conf", "nat_snat", "nat_dnat", *REV_MAPS, "nat_stats")
_REV4 = struct.Struct("=4s4sHHB3x")  # struct nat_rev_key4
_REV6 = struct.Struct("=16s16sHHB3x")  # struct nat_rev_key6


def _pack_rev(raddr: bytes, xaddr: bytes, rport: int, xport: int, proto: int) -> tuple[str, bytes]:
    """(map, raw key) of a reverse binding; addresses in 16-byte form."""
    if raddr[:12] == _V4_PREFIX:
        return "nat_rev4", _REV4.pack(raddr[12:], xaddr[12:], rport, xport, proto)
    return "nat_rev6", _REV6.pack(raddr, xaddr, rport, xport, proto)


_V4_PREFIX = bytes(10) + b"\xff\xff"


def _rev_key_of(key: Key, entry: Any) -> tuple[str, bytes] | None:
    """The reverse binding of a flow (None: the flow has none)."""
    kind = entry.nat.kind
    if kind not in (NatKind.SNAT, NatKind.DNAT):
        return None
    inside = (entry.orig & 1) if kind == NatKind.SNAT else (entry.orig & 1) ^ 1
    raddr, rport = key.endpoint(inside ^ 1)
    xport = entry.nat.port
    if key.proto in ICMP_PROTOS:
        rport = xport
    return _pack_rev(raddr, bytes(entry.nat.addr.b), rport, xport, key.proto)


def _delete(maps: Mapping[str, Map], keys: list[tuple[str, bytes]]) -> None:
    for name in REV_MAPS:
        delete_keys(maps[name], [k for m, k in keys if m == name])


@dataclass
class NatGc:
    """The NAT's garbage collector (keeps the orphan candidates between runs)."""

    maps: Mapping[str, Map]
    suspects: set[tuple[str, bytes]] = field(default_factory=set)

    def run(self, now: int | None = None) -> GcResult:
        def drop_bindings(dead: list[tuple[Key, Any]]) -> None:
            _delete(self.maps, [k for k in (_rev_key_of(key, v) for key, v in dead) if k is not None])

        result = collect(self.maps, now=now, on_expired=drop_bindings)
        self.suspects = self._orphans()
        return result

    def _orphans(self) -> set[tuple[str, bytes]]:
        """Delete bindings found without their flow now and on the previous run; return this run's."""
        flows = read_entries(self.maps)
        found: set[tuple[str, bytes]] = set()
        for k, v in read_bindings(self.maps).items():
            icmp = k.proto in ICMP_PROTOS
            t = tuple_from(v.addr, v.port, k.raddr, v.port if icmp else k.rport, k.proto)
            e = flows.get(t.key)
            if e is None or e.nat.port != k.xport or bytes(e.nat.addr.b) != k.xaddr:
                found.add(_pack_rev(k.raddr, k.xaddr, k.rport, k.xport, k.proto))
        _delete(self.maps, sorted(found & self.suspects))
        return found - self.suspects


def gc(maps: Mapping[str, Map], *, now: int | None = None) -> GcResult:
    """One collection without orphan tracking across runs (see :class:`NatGc` for the periodic one)."""
    return NatGc(maps).run(now)


class NatGateway:
    """The NAT on one interface, both directions, one set of maps. Use as a context manager."""

    def __init__(
        self,
        interface: str,
        config: NatConfig | Mapping[str, Any],
        *,
        netns: str | None = None,
        inbound: Literal["tc", "xdp"] = "tc",
    ) -> None:
        if inbound not in ("tc", "xdp"):
            raise ValueError("inbound is 'tc' or 'xdp'")
        self.interface = interface
        self.netns = netns
        self.inbound = inbound
        self._config = config
        self.instances: list[VnfInstance] = []
        self.links: list[Link] = []
        self._gc: NatGc | None = None

    def start(self) -> NatGateway:
        from . import SPEC

        try:
            if self.inbound == "tc":
                tc = VnfInstance.load(SPEC, "tc", self._config)
                self.instances.append(tc)
                self.links.append(tc.program.attach_tc(self.interface, direction="ingress", netns=self.netns))
            else:
                xdp = VnfInstance.load(SPEC, "xdp", self._config)
                self.instances.append(xdp)
                tc = VnfInstance.load(SPEC, "tc", self._config, reuse={n: xdp.maps[n] for n in SHARED_MAPS})
                self.instances.append(tc)
                self.links.append(xdp.program.attach_xdp(self.interface, mode="native", netns=self.netns))
            self.links.append(tc.program.attach_tc(self.interface, direction="egress", netns=self.netns))
        except BaseException:
            self.close()
            raise
        self._gc = NatGc(self.maps)
        return self

    @property
    def maps(self) -> dict[str, Map]:
        return self.instances[0].maps

    @property
    def config(self) -> VnfConfig:
        return self.instances[0].config

    def apply(self, config: NatConfig | Mapping[str, Any]) -> dict[str, tuple[int, int, int]]:
        """A new config, as map diffs (the maps are shared: the first instance writes them)."""
        result = self.instances[0].apply(config)
        for inst in self.instances[1:]:
            inst.apply(config)  # same maps: an empty diff, keeps its bookkeeping in step
        return result

    def gc(self, now: int | None = None) -> GcResult:
        assert self._gc is not None, "start() first"
        return self._gc.run(now)

    def collector(self, interval: float = 10.0) -> Collector:
        """A background collector (start it, stop it when done)."""
        return Collector(self.gc, interval)

    def stats(self) -> dict[str, int]:
        return read_nat_stats(self.maps["nat_stats"])

    def bindings(self) -> list[Binding]:
        return bindings(self.maps)

    def connections(self) -> list[Connection]:
        return connections(self.maps)

    def close(self) -> None:
        for link in reversed(self.links):
            link.close()
        self.links.clear()
        for inst in reversed(self.instances):
            inst.close()
        self.instances.clear()

    def __enter__(self) -> NatGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
