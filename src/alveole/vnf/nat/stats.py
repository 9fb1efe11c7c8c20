"""Reading the NAT's own maps: counters and reverse bindings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...conntrack import NatKind, address

if TYPE_CHECKING:
    from ...bpf import Map

__all__ = ["NAT_STATS", "REV_MAPS", "Binding", "bindings", "read_bindings", "read_nat_stats"]

# struct nat_stats, in order
NAT_STATS = (
    "out_translated",
    "in_translated",
    "snat_new",
    "dnat_new",
    "icmp_errors",
    "frag_out",
    "frag_in",
    "exhausted",
    "untranslatable",
    "unmatched_in",
    "restored",
)


def read_nat_stats(stats: Map) -> dict[str, int]:
    """``nat_stats`` summed over CPUs."""
    total = stats[0].sum()
    return {name: int(getattr(total, name)) for name in NAT_STATS}


REV_MAPS = ("nat_rev4", "nat_rev6")
_V4_PREFIX = bytes(10) + b"\xff\xff"


def _addr(value: Any) -> bytes:
    """A key address as 16 bytes: ``__be32`` fields decode as numbers, ``union alv_addr`` as its bytes."""
    return _V4_PREFIX + value.to_bytes(4, "big") if isinstance(value, int) else bytes(value.b)


def read_bindings(maps: Mapping[str, Map]) -> dict[Any, Any]:
    """``nat_rev4`` and ``nat_rev6`` as model keys and values (``RevKey`` / ``RevVal``)."""
    from .model import RevKey, RevVal

    out = {}
    for name in REV_MAPS:
        for k, v in maps[name].items():
            key = RevKey(_addr(k.raddr), _addr(k.xaddr), k.rport, k.xport, k.proto)
            kind = NatKind(v.kind) if v.kind in NatKind._value2member_map_ else NatKind.NONE
            out[key] = RevVal(bytes(v.addr.b), v.port, kind)
    return out


@dataclass(frozen=True)
class Binding:
    """One translation as people read it: ``inside`` is seen outside as ``outside``, towards ``remote``."""

    kind: NatKind
    proto: int
    inside: str
    outside: str
    remote: str

    def __str__(self) -> str:
        return (
            f"{self.kind.name.lower()} proto {self.proto}: {self.inside} = {self.outside} <-> {self.remote}"
        )


def _ep(raw: bytes, port: int) -> str:
    a = address(raw)
    return f"[{a}]:{port}" if a.version == 6 else f"{a}:{port}"


def bindings(maps: Mapping[str, Map]) -> list[Binding]:
    """Every reverse binding, readable."""
    return [
        Binding(v.kind, k.proto, _ep(v.addr, v.port), _ep(k.xaddr, k.xport), _ep(k.raddr, k.rport))
        for k, v in read_bindings(maps).items()
    ]
