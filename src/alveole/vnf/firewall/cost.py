"""The firewall's rows for ``alveole bench pktcost``: the classifier at 100 to 100k rules.

Each row loads the firewall (XDP) with :func:`.generate.random_rules` (seed 1: the same
rules every run) and cycles ``FRAMES`` distinct IPv4 frames from
:func:`.generate.probe_keys`: half inside a random rule (leaves are checked down to the
match), half anywhere in the rules' address space with random ports (misses, defaults).
Every frame takes its own path through the trees; none is a hot path.

``firewall-stateful``: stateful mode, ``STATEFUL_FILL`` UDP/IPv4 flows opened through the
program itself (client to server port 53, the only rule, default drop), then ``FRAMES`` of
the servers' replies cycled: established packets, decided by the flow table (parser,
one lookup, expiry check, update, the ``established`` counter) without the rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ...conntrack.cost import open_udp_flows
from ..instance import VnfInstance
from ..spec import CostCase, CostRow
from .config import FirewallConfig
from .generate import frame_of, probe_keys, random_rules

__all__ = ["FRAMES", "SIZES", "STATEFUL_FILL", "cost_rows", "random_config"]

FRAMES = 1024
SIZES = {"100": 100, "1k": 1_000, "10k": 10_000, "100k": 100_000}
STATEFUL_FILL = 100_000


def random_config(n: int, seed: int = 1, *, ipv6: float = 0.0) -> FirewallConfig:
    return FirewallConfig(rules=random_rules(n, seed, ipv6=ipv6), default="drop")


@contextmanager
def _classify(n: int, family: int = 4) -> Iterator[CostCase]:
    cfg = random_config(n, ipv6=0.0 if family == 4 else 1.0)
    frames = [frame_of(k) for k in probe_keys(list(cfg.matches), FRAMES, family=family)]
    with VnfInstance.load("firewall", "xdp", cfg) as inst:
        yield CostCase(inst.program, frames, "xdp")


@contextmanager
def _established() -> Iterator[CostCase]:
    cfg = FirewallConfig(
        rules=[{"src": "198.18.0.1/32", "proto": "udp", "dport": 53, "action": "accept"}],  # type: ignore[list-item]
        default="drop",
        stateful=True,
        conntrack_size=1 << 17,
    )
    with VnfInstance.load("firewall", "xdp", cfg) as inst:
        # open every flow through the program (the rule accepts), then cycle the replies
        yield CostCase(inst.program, open_udp_flows(inst.program, STATEFUL_FILL, FRAMES), "xdp")


def cost_rows() -> list[CostRow]:
    note = f"XDP, {FRAMES} distinct frames (half inside a random rule), random rules seed 1"
    rows = [
        CostRow(f"firewall-{name}", lambda n=n: _classify(n), f"{n} rules; {note}")
        for name, n in SIZES.items()
    ]
    rows.append(CostRow("firewall-10k-ipv6", lambda: _classify(10_000, 6), f"10000 IPv6 rules; {note}"))
    rows.append(
        CostRow(
            "firewall-stateful",
            _established,
            f"stateful, XDP, {FRAMES} established UDP/IPv4 flows cycled (replies no rule allows), "
            f"{STATEFUL_FILL} tracked",
        )
    )
    return rows
