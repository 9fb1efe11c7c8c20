"""Hypothesis strategies of flowmon configs, for the generic differential tests."""

from __future__ import annotations

from typing import Any

from .config import KEY_BITS, FlowmonConfig

__all__ = ["configs"]

# prefixes the packet strategies hit often (alveole.vnf.strategies draws from these ranges)
_PREFIXES = ["198.18.0.0/16", "198.19.128.0/17", "198.18.0.0/30", "2001:db8::/33", "2001:db8:8000::/34"]


def configs() -> Any:
    from hypothesis import strategies as st

    return st.builds(
        FlowmonConfig,
        table_size=st.sampled_from([1024, 65536]),
        key=st.lists(st.sampled_from(sorted(KEY_BITS)), min_size=1, unique=True).map(tuple),
        precise_time=st.booleans(),
        ignore=st.lists(st.sampled_from(_PREFIXES), max_size=2, unique=True).map(tuple),
    )
