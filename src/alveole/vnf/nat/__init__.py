"""nat: source NAT (masquerade) and port forwarding, IPv4 and IPv6, on the conntrack core.

Runs on the NAT box's outside interface: inbound (XDP or TC ingress) it
translates replies and port-forwarded flows back in, outbound (TC egress) it
masquerades flows from the SNAT prefixes and translates replies of forwarded
flows. See nat.bpf.c for the design and docs/vnfs/nat.md for the semantics.
"""

from pathlib import Path

from ..spec import VnfSpec
from .config import NatConfig, PortForward
from .cost import cost_rows
from .fixtures import fixtures
from .gateway import SHARED_MAPS, NatGateway, gc
from .model import NatModel, port_hash
from .stats import Binding, bindings, read_nat_stats
from .strategies import configs

__all__ = [
    "SPEC",
    "Binding",
    "NatConfig",
    "NatGateway",
    "NatModel",
    "PortForward",
    "bindings",
    "gc",
    "port_hash",
    "read_nat_stats",
]

SPEC = VnfSpec(
    name="nat",
    summary="masquerade (SNAT with port allocation) and port forwarding (DNAT), IPv4 and IPv6, stateful",
    source=Path(__file__).with_name("nat.bpf.c"),
    entries={"xdp": "nat_xdp", "tc": "nat_tc"},
    config=NatConfig,
    model=NatModel,
    fixtures=fixtures,
    config_strategy=configs,
    cost_rows=cost_rows,
    shared_maps=SHARED_MAPS,  # in chains: the ingress and egress members of one NAT (same group)
    maps=(
        "alv_ct4",
        "alv_ct6",
        "alv_ct_conf",
        "alv_ct_stats",
        "alv_ct_gc",
        "nat_conf",
        "nat_snat",
        "nat_dnat",
        "nat_rev4",
        "nat_rev6",
        "nat_stats",
    ),
    version="1",
    # a new table_size resizes the flow tables and the bindings: their entries carry over
    migrations={"alv_ct4": "copy", "alv_ct6": "copy", "nat_rev4": "copy", "nat_rev6": "copy"},
)
