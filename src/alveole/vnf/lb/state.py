"""Reading the load balancer's state maps: flows, NAT translations, counters.

Maps are passed by name (``VnfInstance.maps``, a chain member's ``maps``, or maps
opened from pins), so the same readers serve tests, the controller and the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .model import Flow, FlowKey, Reason

if TYPE_CHECKING:
    from ...bpf import Map

__all__ = ["backend_flow_counts", "flows_per_backend", "read_flows", "read_nat", "reason_counts"]


def read_flows(maps: Mapping[str, Map]) -> dict[FlowKey, Flow]:
    """Every flow and where it goes, one batched read."""
    return {
        FlowKey(bytes(k.client), bytes(k.vip), k.cport, k.vport, k.proto): Flow(
            v.backend, v.vip_tag, v.snat_port, v.flags
        )
        for k, v in maps["lb_flows"].items()
    }


def read_nat(maps: Mapping[str, Map]) -> dict[tuple[bytes, int, int, int], tuple[bytes, bytes, int, int]]:
    """(backend, backend port, SNAT port, protocol) -> (client, VIP, client port, VIP port)."""
    return {
        (bytes(k.backend), k.bport, k.snat_port, k.proto): (bytes(v.client), bytes(v.vip), v.cport, v.vport)
        for k, v in maps["lb_nat"].items()
    }


def reason_counts(maps: Mapping[str, Map]) -> dict[Reason, tuple[int, int]]:
    """(packets, bytes) per :class:`Reason`, summed over CPUs."""
    m = maps["lb_reasons"]
    return {r: tuple(m[int(r)].sum()) for r in Reason}  # type: ignore[misc]


def backend_flow_counts(maps: Mapping[str, Map]) -> dict[int, int]:
    """Backend id -> flows given to it since load (new and repinned), summed over CPUs."""
    return {k: v.sum().flows for k, v in maps["lb_backend_stats"].items() if v.sum().flows}


def flows_per_backend(maps: Mapping[str, Map]) -> dict[int, int]:
    """Backend id -> flows in the flow table now pinned to it."""
    out: dict[int, int] = {}
    for flow in read_flows(maps).values():
        out[flow.backend] = out.get(flow.backend, 0) + 1
    return out
