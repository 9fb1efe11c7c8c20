"""flowmon: a flow monitor VNF, and the reference example of the VNF SDK.

Counts packets, bytes and TCP flags per flow (5-tuple, IPv4 and IPv6) with
first and last seen times, in per-CPU LRU tables; passes every packet on.
Top-N talkers are computed in Python (:func:`top_flows`, :func:`top_talkers`).
See docs/vnfs/flowmon.md for the semantics and limits.
"""

from pathlib import Path

from ..spec import VnfSpec
from .config import FlowmonConfig
from .cost import cost_rows
from .fixtures import fixtures
from .flows import Flow, FlowKey, OtherReason, Talker, other_counts, read_flows, top_flows, top_talkers
from .model import FlowmonModel
from .strategies import configs

__all__ = [
    "SPEC",
    "Flow",
    "FlowKey",
    "FlowmonConfig",
    "FlowmonModel",
    "OtherReason",
    "Talker",
    "other_counts",
    "read_flows",
    "top_flows",
    "top_talkers",
]

SPEC = VnfSpec(
    name="flowmon",
    summary="per-flow packets, bytes, TCP flags, first/last seen (IPv4, IPv6); passes every packet",
    source=Path(__file__).with_name("flowmon.bpf.c"),
    entries={"xdp": "flowmon_xdp", "tc": "flowmon_tc"},
    config=FlowmonConfig,
    model=FlowmonModel,
    fixtures=fixtures,
    config_strategy=configs,
    cost_rows=cost_rows,
    maps=("flowmon_flows4", "flowmon_flows6", "flowmon_other", "flowmon_settings", "flowmon_ignore"),
    version="2",  # 2: flow keys built as whole words (same maps, same keys)
    # a new table_size resizes the flow tables: their entries carry over as they are
    migrations={"flowmon_flows4": "copy", "flowmon_flows6": "copy"},
)
