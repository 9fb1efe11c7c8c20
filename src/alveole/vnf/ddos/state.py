"""Reading the ddos guard's state from its maps: drops by reason, SYN buckets, blocklist nodes."""

from __future__ import annotations

import enum
import ipaddress
from typing import TYPE_CHECKING

from .blocklist import Node

if TYPE_CHECKING:
    from ..instance import VnfInstance

__all__ = ["Reason", "blocklist_nodes", "drop_counts", "syn_buckets"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Reason(enum.IntEnum):
    """``enum ddos_reason``: why a packet was dropped."""

    BLOCKLIST = 0
    SYN_FLOOD = 1
    SYN_CONTENDED = 2

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


def drop_counts(instance: VnfInstance) -> dict[Reason, tuple[int, int]]:
    """(packets, bytes) dropped, by reason, summed over CPUs."""
    m = instance.maps["ddos_drops"]
    return {r: tuple(m[int(r)].sum()) for r in Reason}  # type: ignore[misc]


def syn_buckets(instance: VnfInstance) -> dict[Address, int]:
    """Every SYN bucket: the (masked) source address -> its ``tat`` (ns)."""
    out: dict[Address, int] = {}
    for name, cls in (("ddos_syn4", ipaddress.IPv4Address), ("ddos_syn6", ipaddress.IPv6Address)):
        for key, bucket in instance.maps[name].items():
            out[cls(key.addr)] = bucket.tat
    return out


def blocklist_nodes(instance: VnfInstance, family: int) -> dict[bytes, Node]:
    """The blocklist table of ``family`` as it is in the kernel (keys: :func:`.blocklist.node_key`)."""
    m = instance.maps["ddos_block4" if family == 4 else "ddos_block6"]
    return {bytes(k.addr): Node.from_map_value(v) for k, v in m.items()}
