"""lb: a Maglev L4 load balancer (XDP): VIPs over weighted backends, full-NAT or DSR.

Maglev tables are computed in Python (:mod:`.maglev`) and written to the kernel as
diffs; flows keep their backend (connection affinity) while the pool changes. The
control plane (health checks, ring diffs, node setup) is :mod:`alveole.lb`; the
backend-side decapsulator for DSR is :mod:`.decap`. See docs/vnfs/lb.md.
"""

from pathlib import Path

from ..spec import VnfSpec
from .config import Backend, HealthCheck, LbConfig, Vip
from .cost import cost_rows
from .fixtures import fixtures
from .model import FlowKey, LbModel, Reason
from .strategies import configs

__all__ = ["SPEC", "Backend", "FlowKey", "HealthCheck", "LbConfig", "LbModel", "Reason", "Vip"]

SPEC = VnfSpec(
    name="lb",
    summary="Maglev L4 load balancer: VIPs over weighted backends, full-NAT or DSR (IP-in-IP), affinity",
    source=Path(__file__).with_name("lb.bpf.c"),
    entries={"xdp": "lb_xdp"},
    config=LbConfig,
    model=LbModel,
    fixtures=fixtures,
    config_strategy=configs,
    cost_rows=cost_rows,
    maps=(
        "lb_vips",
        "lb_backends",
        "lb_ring",
        "lb_flows",
        "lb_nat",
        "lb_settings",
        "lb_reasons",
        "lb_backend_stats",
        "lb_ports",
    ),
    version="1",
    # resized tables: flows and translations carry over as they are; config maps are refilled
    migrations={
        "lb_flows": "copy",
        "lb_nat": "copy",
        "lb_backend_stats": "copy",
        "lb_ring": "drop",
        "lb_vips": "drop",
        "lb_backends": "drop",
    },
)
