"""Hypothesis strategies of ddos configs, for the generic differential tests.

Always the virtual clock (kernel and model then agree to the nanosecond), small
bursts and rates from "every SYN refills" to "almost no refill", so generated
SYN sequences cross the limit; prefixes around the addresses the packet
strategies favour (198.18.0.0-3, 2001:db8::0-3), at every depth of the trie.
"""

from __future__ import annotations

from typing import Any

from .config import DdosConfig

__all__ = ["configs"]

_PREFIXES = [
    "198.18.0.0/15",  # wider than the /16 top level: expanded
    "198.19.0.0/16",
    "198.18.0.0/17",  # bits of a /16 node
    "198.18.0.0/24",
    "198.18.0.0/30",  # bits of a /24 node
    "198.18.0.2/32",
    "198.18.0.3/32",
    "2001:db8::/32",
    "2001:db8::/48",
    "2001:db8::/126",
    "2001:db8::1/128",
    "2001:db8:8000::/33",
]


def configs() -> Any:
    from hypothesis import strategies as st

    return st.builds(
        DdosConfig,
        blocklist=st.lists(st.sampled_from(_PREFIXES), max_size=3, unique=True).map(tuple),
        syn_rate=st.one_of(st.none(), st.sampled_from([1, 1000, 1_000_000])),
        syn_burst=st.integers(1, 3),
        syn_prefix_v4=st.sampled_from([32, 31, 24, 0]),
        syn_prefix_v6=st.sampled_from([128, 64, 0]),
        clock=st.just("virtual"),
        clock_step_ns=st.sampled_from([1, 1000, 400_000, 1_000_000]),
        table_size_v4=st.just(1024),
        table_size_v6=st.just(1024),
        syn_table_size=st.just(1024),
    )
