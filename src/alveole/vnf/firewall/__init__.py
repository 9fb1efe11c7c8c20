"""firewall: ordered rules (prefixes, protocol, port ranges, ICMP type), first match by priority.

The rules are compiled in Python into multi-way decision trees (:mod:`.classifier`:
HiCuts-style bit-aligned cuts with path compression, wide rules in separate trees),
written into double-buffered array maps and walked by a bounded loop in BPF: the cost of
a packet depends on the trees' depth, not on the number of rules. Accepted packets go on
through the chain (``ALV_CONTINUE``), dropped ones stop (``ALV_DROP``). Per-rule hit
counters survive rule set updates. ``stateful: true`` adds connection tracking (the
conntrack core): return traffic of the flows the rules let open is accepted. See
docs/vnfs/firewall.md.
"""

from pathlib import Path

from ...conntrack import CT_MAPS
from ..spec import VnfSpec
from .classifier import Classifier, ClassifierError, compile_classifier
from .config import FirewallConfig, Rule
from .cost import cost_rows
from .fixtures import fixtures
from .model import FirewallModel
from .strategies import configs
from .tables import RuleHits, default_hits, other_counts, rule_hits, top_rules

__all__ = [
    "SPEC",
    "Classifier",
    "ClassifierError",
    "FirewallConfig",
    "FirewallModel",
    "Rule",
    "RuleHits",
    "compile_classifier",
    "default_hits",
    "other_counts",
    "rule_hits",
    "top_rules",
]

SPEC = VnfSpec(
    name="firewall",
    summary="ordered 5-tuple rules (v4/v6 prefixes, ports, ICMP type), decision trees, stateful mode",
    source=Path(__file__).with_name("firewall.bpf.c"),
    entries={"xdp": "firewall_xdp", "tc": "firewall_tc"},
    config=FirewallConfig,
    model=FirewallModel,
    fixtures=fixtures,
    config_strategy=configs,
    cost_rows=cost_rows,
    maps=("fw_conf", "fw_rules", "fw_slots", "fw_leaves", "fw_hits", "fw_ids", "fw_other", *CT_MAPS),
    # stateful: members of one group (the firewall on several interfaces or hooks of a host)
    # share the flow table, so a flow opened through one is answered through another
    shared_maps=CT_MAPS,
    version="6",
    # a reload rebuilds the classifier from the config; counters, rule ids and flows carry over
    # (fw_other grew from 2 reasons to 4 in version 2; the flow tables change size with stateful;
    # version 3: fw_slots values of 32 bytes, not 40; version 4: fw_leaves entries of 8 rule indexes;
    # version 5: fw_conf roots of 56 bytes, with a third cut; version 6: roots of 64 bytes, and
    # fw_rules' final flags)
    migrations={
        "fw_conf": "drop",
        "fw_rules": "drop",
        "fw_slots": "drop",
        "fw_leaves": "drop",
        "fw_hits": "copy",
        "fw_ids": "copy",
        "fw_other": "copy",
        "alv_ct4": "copy",
        "alv_ct6": "copy",
    },
)
