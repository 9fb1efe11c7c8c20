"""The router as a device under test of ``alveole bench throughput`` (rows ``router-fwd*``).

The forward bed's DUT namespace routes 198.19.0.0/16 to the sink (Linux forwarding is
the ``linux-fwd`` row). ``router-fwd`` attaches the router (XDP, table mode) to the
DUT's ingress with the routes imported from that namespace's kernel
(:func:`table_from_netns`): the same routes and neighbours Linux forwards with.
``router-fwd-fib`` runs it in fib mode (bpf_fib_lookup() in the same kernel tables).
The sink's XDP counter lets its veth accept the redirected frames and counts them.
"""

from __future__ import annotations

from typing import Any

from ...bench.bed import Bed
from ...bench.dut import Dut, VnfAttached
from ...system import netns
from ..instance import VnfInstance
from ..verdict import Verdict
from .config import RouterConfig
from .kernel import table_from_netns
from .model import pass_counts

__all__ = ["RouterDut", "register_rows"]


class RouterDut(Dut):
    """The router VNF on the DUT's ingress, forwarding to the sink (counted there)."""

    counts_at_sink = True

    def __init__(self, mode: str = "table") -> None:
        self.mode = mode
        self._vnf = VnfAttached()
        self._config: RouterConfig | None = None

    def setup(self, bed: Bed) -> None:
        assert bed.dut_out is not None
        with netns.enter(bed.dut_ns):  # next hops and ports are ifindexes of this namespace
            ports = (netns.ifindex(bed.dut_in), netns.ifindex(bed.dut_out))
            if self.mode == "table":
                self._config = table_from_netns(None, interfaces=ports)
            else:
                self._config = RouterConfig(mode="fib", ports=ports)
            inst = VnfInstance.load("router", "xdp", self._config)
        self._vnf.hold_xdp(inst, bed)

    def processed(self) -> int:  # counted at the sink; this is for arrivals()
        return self._vnf.packets()

    def teardown(self) -> None:
        self._vnf.close()

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "program": "router_xdp"}
        if self._config is not None and self.mode == "table":
            out.update(routes=len(self._config.routes), nexthops=len(self._config.nexthops))
        inst = self._vnf.inst
        if inst is not None:
            # what the router forwarded itself, and what it left to the kernel (and why)
            out["redirected"] = inst.counters()[Verdict.REDIRECT].packets
            out["passed"] = {r.name.lower(): n for r, (n, _b) in pass_counts(inst).items() if n}
        return out


def register_rows() -> None:
    """Register ``router-fwd`` and ``router-fwd-fib`` (called by alveole.bench.throughput)."""
    from ...bench.throughput import Row, register

    register(
        Row(
            "router-fwd",
            "alveole router (XDP, table mode, the DUT's kernel routes imported), veth to veth",
            "forward",
            lambda n: RouterDut("table"),
        )
    )
    register(
        Row(
            "router-fwd-fib",
            "alveole router (XDP, fib mode: bpf_fib_lookup in the DUT's kernel tables), veth to veth",
            "forward",
            lambda n: RouterDut("fib"),
        )
    )
