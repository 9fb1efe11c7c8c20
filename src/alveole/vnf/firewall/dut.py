"""The firewall as a device under test: ``alveole bench throughput`` and ``bench scaling``.

The benchmark policies (:mod:`alveole.bench.policy`) become firewall configs here:

* ``firewall-1k`` (and the ``firewall`` scaling series, 10 ... 100k rules): the very rules
  the iptables/nftables rows run, ``accept <proto> from <prefix> to dport <port>``, then
  ``default: drop``. The measured traffic (from 198.18.0.1 to port 9) matches no rule:
  it is decided by the default policy, after the classifier has looked for a rule;
* ``firewall-xdpf``: the xdp-filter row's policy (deny mode with an allow list):
  ``accept tcp/udp dport <p>`` for its ports, ``accept from <host>/32`` for its sources,
  then ``default: drop``.

The firewall runs alone in XDP native mode on the DUT's ingress; its per-verdict
counters (``alv_stats``) count what it processed.
"""

from __future__ import annotations

from typing import Any

from ...bench import policy as pol
from ...bench.bed import Bed
from ...bench.dut import Dut, VnfAttached
from ..instance import VnfInstance
from .config import FirewallConfig

__all__ = ["FirewallDut", "policy_config", "register_rows", "register_series", "xdpf_config"]


def policy_config(policy: pol.Policy) -> FirewallConfig:
    """The benchmark's linear policy as a firewall config (same rules, same order, drop at the end)."""
    rules = [
        {"src": str(r.src), "proto": r.proto, "dport": r.dport, "action": "accept"} for r in policy.rules
    ]
    return FirewallConfig(rules=rules, default="drop")  # type: ignore[arg-type]


def xdpf_config(policy: pol.XdpfPolicy) -> FirewallConfig:
    """xdp-filter's deny mode: allowed destination ports (TCP and UDP) and source hosts, else drop."""
    rules: list[dict[str, Any]] = [
        {"proto": proto, "dport": port, "action": "accept"}
        for port in policy.ports
        for proto in ("tcp", "udp")
    ]
    rules += [{"src": f"{addr}/32", "action": "accept"} for addr in policy.sources]
    return FirewallConfig(rules=rules, default="drop")  # type: ignore[arg-type]


class FirewallDut(Dut):
    """The firewall (XDP, native) on the DUT's ingress with ``config``."""

    def __init__(self, config: FirewallConfig, label: str = "") -> None:
        self.config = config
        self.label = label
        self._vnf = VnfAttached()

    def setup(self, bed: Bed) -> None:
        self._vnf.hold_xdp(VnfInstance.load("firewall", "xdp", self.config), bed)

    def processed(self) -> int:
        return self._vnf.packets()

    def teardown(self) -> None:
        self._vnf.close()

    def details(self) -> dict[str, Any]:
        stats = self.config.classifier.stats()
        out: dict[str, Any] = {
            "program": "firewall_xdp",
            "rules": len(self.config.rules),
            "policy": self.label,
        }
        out.update({k: stats[k] for k in ("slots", "leaf_entries", "trees_ipv4", "depth_ipv4")})
        return out


def register_rows() -> None:
    """Register ``firewall-1k`` and ``firewall-xdpf`` (called by alveole.bench.throughput)."""
    from ...bench.throughput import Row, register

    register(
        Row(
            "firewall-1k",
            "alveole firewall (decision trees, XDP), the iptables-1k rules then drop",
            "terminal",
            lambda n: FirewallDut(policy_config(pol.firewall_policy(n)), f"firewall_policy({n})"),
            rules=1000,
        )
    )
    register(
        Row(
            "firewall-xdpf",
            "alveole firewall with xdp-filter's policy (100 ports + 100 sources allowed, then drop)",
            "terminal",
            lambda n: FirewallDut(xdpf_config(pol.xdpf_policy()), "xdpf_policy()"),
        )
    )


def register_series() -> None:
    """Register the ``firewall`` series of ``alveole bench scaling`` (called by alveole.bench.scaling)."""
    from ...bench.scaling import Series
    from ...bench.scaling import register_series as register

    register(
        Series(
            "firewall",
            "alveole firewall, decision trees in XDP",
            lambda n: FirewallDut(policy_config(pol.firewall_policy(n)), f"firewall_policy({n})"),
        )
    )
