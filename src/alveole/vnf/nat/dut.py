"""The NAT as a device under test of ``alveole bench throughput`` (rows ``nat-snat``, ``nat-dnat``).

Both run on the forward bed (gen -> dut -> sink, Linux forwarding in the DUT, the
``linux-fwd`` row being the same path without the NAT), counted at the sink:

* ``nat-snat``: masquerade. The NAT's TC program on the DUT's egress towards the sink
  translates the generator's flows (198.18.0.0/24) to the DUT's outside address with
  ports from the range: a conntrack lookup and a rewrite per packet (after one new flow
  per generator flow). The DUT's ingress keeps the bed's XDP pass-through, as linux-fwd.
* ``nft-masq``: the baseline, Linux's masquerade (nftables ``masquerade`` on the
  postrouting hook towards the sink: nf_conntrack and the nat hooks on every packet).
* ``nat-dnat``: port forwarding. The NAT's XDP program on the DUT's ingress owns the
  address the generator sends to (198.19.0.1) and forwards UDP port 9 to 198.19.0.2:9,
  still routed to the sink: a reverse-binding lookup, a conntrack lookup and a rewrite
  per packet, before Linux forwards the frame.

The sink never answers: these rows measure one direction of established flows.
"""

from __future__ import annotations

import subprocess
from typing import Any

from ...bench.bed import DUT_OUT_ADDR, ROUTED_DST, Bed
from ...bench.dut import BenchError, LinuxForwardDut, VnfAttached, tool_version
from ..instance import VnfInstance
from .stats import read_nat_stats

__all__ = ["NatDut", "NftMasqDut", "register_rows"]

DNAT_TARGET = "198.19.0.2"  # in the bed's routed prefix: Linux forwards it to the sink too


class NatDut(LinuxForwardDut):
    """Linux forwarding with the NAT on the DUT (``mode``: "snat" on egress, "dnat" on ingress)."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        if mode not in ("snat", "dnat"):
            raise ValueError("mode is 'snat' or 'dnat'")
        self.mode = mode
        self._vnf = VnfAttached()

    def setup(self, bed: Bed) -> None:
        from . import SPEC

        assert bed.dut_out is not None
        if self.mode == "snat":
            super().setup(bed)  # the bed's XDP pass-through on the ingress
            config = {"address": DUT_OUT_ADDR, "snat": ["198.18.0.0/24"], "ports": (10000, 59999)}
            out = bed.dut_out
            self._vnf.hold(
                VnfInstance.load(SPEC, "tc", config),
                lambda i: i.program.attach_tc(out, direction="egress", netns=bed.dut_ns),
            )
        else:
            config = {"address": ROUTED_DST, "forward": [{"proto": "udp", "port": 9, "to": DNAT_TARGET}]}
            self._vnf.hold_xdp(VnfInstance.load(SPEC, "xdp", config), bed)

    def arrivals(self) -> int:
        return self._vnf.packets()

    def teardown(self) -> None:
        self._vnf.close()
        super().teardown()

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "program": "nat_tc" if self.mode == "snat" else "nat_xdp"}
        if self._vnf.inst is not None:
            stats = read_nat_stats(self._vnf.inst.maps["nat_stats"])
            out.update(
                translated=stats["out_translated"] + stats["in_translated"],
                new_bindings=stats["snat_new"] + stats["dnat_new"],
                exhausted=stats["exhausted"],
            )
        return out


class NftMasqDut(LinuxForwardDut):
    """Linux forwarding with nftables masquerading the generator's flows towards the sink."""

    def setup(self, bed: Bed) -> None:
        super().setup(bed)
        rules = (
            "table ip alvnat {\n"
            "  chain post { type nat hook postrouting priority srcnat; policy accept;\n"
            f'    oifname "{bed.dut_out}" ip saddr 198.18.0.0/24 masquerade\n'
            "  }\n}\n"
        )
        proc = subprocess.run(
            ["ip", "netns", "exec", bed.dut_ns, "nft", "-f", "-"], input=rules, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise BenchError(f"nft failed: {proc.stderr.strip()}")

    def details(self) -> dict[str, Any]:
        return {"nat": "nftables masquerade (nf_conntrack)", "version": tool_version(["nft", "--version"])}


def register_rows() -> None:
    """Register ``nat-snat``, ``nft-masq`` and ``nat-dnat`` (called by alveole.bench.throughput)."""
    from ...bench.throughput import Row, register

    register(
        Row(
            "nat-snat",
            "alveole NAT masquerading (TC egress) + Linux forwarding, veth to veth",
            "forward",
            lambda n: NatDut("snat"),
        )
    )
    register(
        Row(
            "nft-masq",
            "nftables masquerade (nf_conntrack) + Linux forwarding, veth to veth: nat-snat's baseline",
            "forward",
            lambda n: NftMasqDut(),
        )
    )
    register(
        Row(
            "nat-dnat",
            "alveole NAT port forwarding (XDP ingress) + Linux forwarding, veth to veth",
            "forward",
            lambda n: NatDut("dnat"),
        )
    )
