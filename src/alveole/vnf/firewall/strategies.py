"""Hypothesis strategies of firewall configs, for the generic differential tests.

Rules are drawn around what :func:`alveole.vnf.strategies.packets` sends (hosts
198.18.0.0-3 and 2001:db8::0-3 often, ports 0/53/80/443/4000 often), so that generated
packets hit rules, miss them, and fall between overlapping ones.
"""

from __future__ import annotations

from typing import Any

__all__ = ["configs", "rules", "stateful_configs"]

_V4 = ["198.18.0.0/15", "198.18.0.0/16", "198.18.0.0/30", "198.18.0.1/32", "198.18.0.2/31", "198.19.0.0/17"]
_V6 = ["2001:db8::/32", "2001:db8::/126", "2001:db8::1/128", "2001:db8::/33", "2001:db8:8000::/34"]
_PORTS = ["0", "53", "80", "443", "4000", "0-1023", "1024-65535", "50-100", "4000-4010"]


def rules() -> Any:
    """One rule as a dict (always valid on its own)."""
    from hypothesis import strategies as st

    @st.composite
    def rule(draw: Any) -> dict[str, Any]:
        family = draw(st.sampled_from([0, 4, 6]))
        out: dict[str, Any] = {"action": draw(st.sampled_from(["accept", "drop"]))}
        if family:
            prefixes = _V4 if family == 4 else _V6
            for side in ("src", "dst"):
                if draw(st.booleans()):
                    out[side] = draw(st.sampled_from(prefixes))
        kind = draw(st.sampled_from(["tcp", "udp", "any", "icmp", "other"]))
        if kind == "icmp":
            out["proto"] = "icmpv6" if family == 6 else "icmp"
            if family == 0 and out["proto"] == "icmp" and draw(st.booleans()):
                out["proto"] = "icmpv6"
            if draw(st.booleans()):
                out["icmp_type"] = draw(st.sampled_from([0, 3, 8, 128, 129, 135, 255]))
        elif kind == "other":
            out["proto"] = draw(st.sampled_from([47, 50, 132, 59]))
        else:
            if kind != "any":
                out["proto"] = kind
            for side in ("sport", "dport"):
                if draw(st.integers(0, 2)) == 0:
                    out[side] = draw(st.sampled_from(_PORTS))
        if draw(st.integers(0, 3)) == 0:
            out["priority"] = draw(st.integers(-2, 2))
        return out

    return rule()


def configs(stateful: bool | None = None) -> Any:
    """Firewall configs; ``stateful``: forced on or off, None: either (small flow tables)."""
    from hypothesis import strategies as st

    from .config import FirewallConfig

    def unique(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen, out = set(), []
        for r in items:
            key = tuple(sorted(r.items()))
            if key not in seen:
                seen.add(key)
                out.append(r)
        return out

    def build(items: list[dict[str, Any]], default: str, non_ip: str, state: bool) -> FirewallConfig:
        # distinct dicts can still have the same match (e.g. "0-1023" vs a narrower one is fine,
        # but ports "0" on a non-port rule cannot occur): identities are checked by validation
        out: list[dict[str, Any]] = []
        for r in unique(items):
            try:
                FirewallConfig(rules=[*out, r])
            except ValueError:
                continue
            out.append(r)
        return FirewallConfig(
            rules=out,  # type: ignore[arg-type]
            default=default,  # type: ignore[arg-type]
            non_ip=non_ip,  # type: ignore[arg-type]
            stateful=state,
            conntrack_size=1024,
        )

    return st.builds(
        build,
        st.lists(rules(), max_size=12),
        st.sampled_from(["accept", "drop"]),
        st.sampled_from(["accept", "drop"]),
        st.booleans() if stateful is None else st.just(stateful),
    )


def stateful_configs() -> Any:
    """Stateful configs for conversations (:func:`alveole.conntrack.strategies.conversations`):
    mostly default drop, with rules that open flows from one side only (one host, a port, a
    protocol), so that replies pass by the flow table or not at all."""
    from hypothesis import strategies as st

    from ...conntrack.strategies import HOSTS4, HOSTS6, PORTS
    from .config import FirewallConfig

    @st.composite
    def one_way(draw: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"action": draw(st.sampled_from(["accept", "accept", "drop"]))}
        side = draw(st.sampled_from(["src", "dst", None]))
        if side:
            out[side] = draw(st.sampled_from(HOSTS4 + HOSTS6))
        proto = draw(st.sampled_from(["tcp", "udp", "icmp", "icmpv6", 47, None]))
        if proto is not None:  # (an ICMP of the other family: dropped by build's validation)
            out["proto"] = proto
            if proto in ("tcp", "udp") and draw(st.booleans()):
                out[draw(st.sampled_from(["sport", "dport"]))] = draw(st.sampled_from(PORTS))
            elif proto in ("icmp", "icmpv6") and draw(st.booleans()):
                out["icmp_type"] = draw(st.sampled_from([0, 3, 8, 128, 129, 1]))
        return out

    def build(items: list[dict[str, Any]], default: str) -> FirewallConfig:
        out: list[dict[str, Any]] = []
        for r in items:
            try:
                FirewallConfig(rules=[*out, r])  # type: ignore[list-item]
            except ValueError:
                continue
            out.append(r)
        return FirewallConfig(rules=out, default=default, stateful=True, conntrack_size=1024)  # type: ignore[arg-type]

    return st.builds(
        build, st.lists(one_way(), max_size=5), st.sampled_from(["drop", "drop", "drop", "accept"])
    )
