"""ddos: a DDoS guard VNF.

Drops packets from blocked source prefixes (IPv4, IPv6; a stride-8 bitmap trie
in hash maps, at most two lookups for IPv4), limits TCP SYNs per source with
lock-free token buckets (``alveole/bucket.h``), counts drops by reason; every
other packet continues. See docs/vnfs/ddos.md.
"""

from pathlib import Path

from ..spec import VnfSpec
from .blocklist import compile_table, contains, normalize, walk
from .config import DdosConfig
from .cost import cost_rows
from .fixtures import fixtures
from .model import DdosModel, PrefixSet
from .state import Reason, blocklist_nodes, drop_counts, syn_buckets
from .strategies import configs

__all__ = [
    "SPEC",
    "DdosConfig",
    "DdosModel",
    "PrefixSet",
    "Reason",
    "blocklist_nodes",
    "compile_table",
    "contains",
    "drop_counts",
    "normalize",
    "syn_buckets",
    "walk",
]

SPEC = VnfSpec(
    name="ddos",
    summary="drops blocked source prefixes (IPv4, IPv6) and SYNs over a per-source rate; counts by reason",
    source=Path(__file__).with_name("ddos.bpf.c"),
    entries={"xdp": "ddos_xdp", "tc": "ddos_tc"},
    config=DdosConfig,
    model=DdosModel,
    fixtures=fixtures,
    config_strategy=configs,
    cost_rows=cost_rows,
    maps=(
        "ddos_block4",
        "ddos_block6",
        "ddos_syn4",
        "ddos_syn6",
        "ddos_drops",
        "ddos_settings",
        "alv_vclock",
    ),
    version="1",
    # resized tables keep their content: SYN buckets as they are, blocklist nodes until the diff
    migrations={"ddos_block4": "copy", "ddos_block6": "copy", "ddos_syn4": "copy", "ddos_syn6": "copy"},
)
