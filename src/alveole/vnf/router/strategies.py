"""Hypothesis strategies of router configs, for the generic differential tests.

Routes come from a pool of prefixes the packet strategies hit often
(:mod:`alveole.vnf.strategies` draws 198.18.0.0-3 and 2001:db8::0-3 half the time),
nested so that longest-prefix matching, host routes, routes to the kernel and
local addresses all decide some packets. Next hops use ifindex 1 (see fixtures.py).
"""

from __future__ import annotations

from typing import Any

from .config import RouterConfig

__all__ = ["configs"]

_PREFIXES = [
    "198.18.0.0/15",
    "198.18.0.0/16",
    "198.19.128.0/17",
    "198.18.0.0/23",
    "198.18.0.0/24",
    "198.18.0.0/30",
    "198.18.0.2/31",
    "198.18.0.3/32",
    "2001:db8::/32",
    "2001:db8:8000::/33",
    "2001:db8::/48",
    "2001:db8::/64",
    "2001:db8::/126",
    "2001:db8::2/127",
    "2001:db8::3/128",
]
_LOCAL = ["198.18.0.1", "198.18.0.3", "2001:db8::1", "2001:db8::3"]


def configs() -> Any:
    from hypothesis import strategies as st

    macs = st.integers(0, (1 << 40) - 1).map(
        lambda i: ":".join(f"{b:02x}" for b in (2 << 40 | i).to_bytes(6, "big"))
    )
    nexthop = st.fixed_dictionaries(
        {"ifindex": st.just(1), "mac": macs, "src_mac": macs, "mtu": st.sampled_from([1500, 68, 100, 9000])}
    )

    @st.composite
    def table(draw: Any) -> RouterConfig:
        nexthops = draw(st.dictionaries(st.integers(1, 5), nexthop, min_size=1, max_size=3))
        via = st.one_of(st.sampled_from(sorted(nexthops)), st.just("kernel"))
        prefixes = draw(st.lists(st.sampled_from(_PREFIXES), unique=True, max_size=8))
        local = draw(st.lists(st.sampled_from(_LOCAL), unique=True, max_size=2))
        hosts = {f"{a}/{32 if '.' in a else 128}" for a in local}  # local addresses are host routes already
        routes = [{"to": p, "via": draw(via)} for p in prefixes if p not in hosts]
        return RouterConfig.model_validate(
            {
                "nexthops": nexthops,
                "routes": routes,
                "local": local,
                "ports": draw(st.sampled_from([[], [1]])),
                "table_size": draw(st.sampled_from([2048, 1 << 18])),  # 2048: 7 usable chunks, enough
            }
        )

    fib = st.builds(RouterConfig, mode=st.just("fib"), fib_direct=st.booleans())
    return st.one_of(table(), table(), table(), fib)
