"""The load balancer as a device under test of ``alveole bench throughput`` (rows ``lb-*``).

The forward bed's measured traffic (UDP to 198.19.0.1 port 9, ``flows`` flows) becomes a
VIP; its four backends, 198.19.1.1-4, sit behind the sink (the DUT routes 198.19.0.0/16
there, the sink's MAC is a permanent neighbour). What reaches the sink is what the DUT
balanced and forwarded:

* ``lb-nat``: the lb VNF, full-NAT (SNAT to the DUT's sink-side address), fib egress:
  bpf_fib_lookup() then a redirect to the sink's veth, all in XDP;
* ``lb-dsr``: the same VIP in DSR mode (an IPIP header pushed, 20 bytes);
* ``nft-lb``: the Linux peer: nftables DNAT to the same four backends (numgen round
  robin, conntrack keeps each flow on its backend) and SNAT, then Linux forwarding.
  (IPVS, Katran's peer, is not built into this kernel: CONFIG_IP_VS is off.)
"""

from __future__ import annotations

import subprocess
from typing import Any

from ...bench.bed import DPORT, DUT_OUT_ADDR, ROUTED_DST, Bed
from ...bench.dut import BenchError, Dut, LinuxForwardDut, VnfAttached
from ...system import netns
from ..instance import VnfInstance
from .config import LbConfig

__all__ = ["BACKENDS", "LbDut", "NftLbDut", "register_rows"]

BACKENDS = [f"198.19.1.{i}" for i in range(1, 5)]


def bench_config(mode: str, fib_port: int) -> LbConfig:
    return LbConfig.model_validate(
        {
            "vips": [
                {
                    "address": ROUTED_DST,
                    "port": DPORT,
                    "proto": "udp",
                    "mode": mode,
                    "backends": [{"address": a} for a in BACKENDS],
                }
            ],
            "snat_ipv4": DUT_OUT_ADDR,
            "tunnel_ipv4": DUT_OUT_ADDR,
            "snat_ports": [1024, 65535],
            "egress": "fib",
            "fib_ports": [fib_port],
        }
    )


class LbDut(Dut):
    """The lb VNF on the DUT's ingress (fib egress: redirected to the sink, counted there)."""

    counts_at_sink = True

    def __init__(self, mode: str = "nat") -> None:
        self.mode = mode
        self._vnf = VnfAttached()

    def setup(self, bed: Bed) -> None:
        assert bed.dut_out is not None
        with netns.enter(bed.dut_ns):  # the devmap takes devices of this namespace
            inst = VnfInstance.load("lb", "xdp", bench_config(self.mode, netns.ifindex(bed.dut_out)))
        self._vnf.hold_xdp(inst, bed)

    def processed(self) -> int:
        return self._vnf.packets()

    def teardown(self) -> None:
        self._vnf.close()

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "egress": "fib", "backends": len(BACKENDS)}
        if self._vnf.inst is not None:
            from .state import reason_counts

            reasons = reason_counts(self._vnf.inst.maps)
            out["reasons"] = {r.name.lower(): p for r, (p, _) in reasons.items() if p}
        return out


def nft_lb_ruleset() -> str:
    targets = ", ".join(f"{i} : {a}" for i, a in enumerate(BACKENDS))
    return f"""table ip alv_lb {{
  chain pre {{
    type nat hook prerouting priority dstnat;
    ip daddr {ROUTED_DST} udp dport {DPORT} dnat to numgen inc mod {len(BACKENDS)} map {{ {targets} }}
  }}
  chain post {{
    type nat hook postrouting priority srcnat;
    ip daddr 198.19.1.0/24 snat to {DUT_OUT_ADDR}
  }}
}}
"""


class NftLbDut(LinuxForwardDut):
    """``nft-lb``: nftables DNAT + SNAT over conntrack, then Linux forwarding (counted at the sink)."""

    def setup(self, bed: Bed) -> None:
        super().setup(bed)
        proc = subprocess.run(
            ["ip", "netns", "exec", bed.dut_ns, "nft", "-f", "-"],
            input=nft_lb_ruleset(),
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise BenchError(f"nft failed: {proc.stderr.strip()[-300:]}")

    def details(self) -> dict[str, Any]:
        return {"backends": len(BACKENDS), "nat": "nftables dnat (numgen) + snat, conntrack"}


def register_rows() -> None:
    """Register ``lb-nat``, ``lb-dsr`` and ``nft-lb`` (called by alveole.bench.throughput)."""
    from ...bench import throughput as tp

    tp.register(
        tp.Row(
            "lb-nat",
            "alveole lb (XDP): full-NAT to 4 backends, fib egress, redirect to the sink",
            "forward",
            lambda n: LbDut("nat"),
        )
    )
    tp.register(
        tp.Row(
            "lb-dsr",
            "alveole lb (XDP): DSR (IPIP) to 4 backends, fib egress, redirect to the sink",
            "forward",
            lambda n: LbDut("dsr"),
        )
    )
    tp.register(
        tp.Row(
            "nft-lb",
            "nftables DNAT (numgen) + SNAT to the same 4 backends, Linux forwarding",
            "forward",
            lambda n: NftLbDut(),
        )
    )
    # the comparison (Katran 5.2 Mpps/core vs IPVS 1.2): the LB against Linux's own NAT
    extra = (("lb-nat", "nft-lb", 3.0), ("lb-dsr", "nft-lb", 3.0))
    tp.RATIOS = tp.RATIOS + tuple(r for r in extra if r not in tp.RATIOS)
