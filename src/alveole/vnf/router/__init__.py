"""router: an L3 router VNF for IPv4 and IPv6 (own LPM tables, or the kernel's FIB).

Forwards what it can with the TTL / hop limit decremented and new MACs, through a
devmap (XDP) or bpf_redirect() (TC); passes everything else to the kernel, counting
why (:func:`pass_counts`). Routes come from the config (``table`` mode, applied as
diffs; :func:`table_from_netns` imports a namespace's kernel routes) or from
bpf_fib_lookup() (``fib`` mode). See docs/vnfs/router.md.
"""

from pathlib import Path

from ..spec import VnfSpec
from .config import NextHop, Route, RouterConfig
from .cost import cost_rows
from .fixtures import fixtures
from .kernel import read_kernel, table_from_netns
from .model import FibCode, FibQuery, FibResult, PassReason, RouterModel, pass_counts
from .strategies import configs
from .update import TableFullError

__all__ = [
    "SPEC",
    "FibCode",
    "FibQuery",
    "FibResult",
    "NextHop",
    "PassReason",
    "Route",
    "RouterConfig",
    "RouterModel",
    "TableFullError",
    "pass_counts",
    "read_kernel",
    "table_from_netns",
]

SPEC = VnfSpec(
    name="router",
    summary="L3 router, IPv4 and IPv6: own LPM tables or the kernel FIB; TTL decrement, devmap redirect",
    source=Path(__file__).with_name("router.bpf.c"),
    entries={"xdp": "router_xdp", "tc": "router_tc"},
    config=RouterConfig,
    model=RouterModel,
    fixtures=fixtures,
    config_strategy=configs,
    cost_rows=cost_rows,
    maps=(
        "router_root4",
        "router_tbl4",
        "router_root6",
        "router_tbl6",
        "router_nh",
        "router_egress",
        "router_ports",
        "router_pass",
    ),
    version="2",
    # the route tables hold nothing but the config: a new version (or table_size) rewrites them;
    # version 1's hash levels and next-hop hash are gone
    migrations={
        name: "drop"
        for name in (
            "router_root4",
            "router_tbl4",
            "router_root6",
            "router_tbl6",
            "router_more4",
            "router_more6",
            "router_nexthops",
        )
    },
)
