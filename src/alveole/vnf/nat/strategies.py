"""Hypothesis strategies of NAT configs for the differential tests.

The packet strategies (:mod:`alveole.vnf.strategies`) favour 198.18.0.0-3,
2001:db8::0-3 and ports 0/53/80/443/4000: the NAT address, the SNAT prefixes,
the forwarded ports and the port ranges are drawn so that generated packets
hit them (inbound to the NAT address, outbound from a SNAT prefix, port 4000
kept or not, tiny ranges that run out).
"""

from __future__ import annotations

from typing import Any

from .config import NatConfig

__all__ = ["configs"]

_SNAT4 = ["198.18.0.0/15", "198.18.0.0/30", "198.19.0.0/16"]
_SNAT6 = ["2001:db8::/32", "2001:db8::/126"]
_RANGES = [(20000, 29999), (4000, 4003), (1024, 1024), (40000, 40001)]
_RULES = [("tcp", 80), ("udp", 53), ("tcp", 443), ("udp", 443)]


def configs() -> Any:
    from hypothesis import strategies as st

    @st.composite
    def build(draw: Any) -> NatConfig:
        a4 = draw(st.sampled_from([None, "198.18.0.1", "198.18.0.2"]))
        a6 = draw(st.sampled_from([None, "2001:db8::1"]))
        snat: list[str] = []
        if a4:
            snat += draw(st.lists(st.sampled_from(_SNAT4), max_size=2, unique=True))
        if a6:
            snat += draw(st.lists(st.sampled_from(_SNAT6), max_size=1, unique=True))
        families = [f for f, a in ((4, a4), (6, a6)) if a]
        forward = []
        if families:
            for proto, port in draw(st.lists(st.sampled_from(_RULES), max_size=3, unique=True)):
                fam = draw(st.sampled_from(families))
                forward.append(
                    {
                        "proto": proto,
                        "port": port,
                        "to": "198.18.0.3" if fam == 4 else "2001:db8::3",
                        "to_port": draw(st.sampled_from([None, 4000, 8080])),
                    }
                )
        return NatConfig.model_validate(
            {
                "address": a4,
                "address6": a6,
                "snat": snat,
                "ports": draw(st.sampled_from(_RANGES)),
                "forward": forward,
                "table_size": draw(st.sampled_from([1024, 65536])),
                "seed": draw(st.sampled_from([0, 0x5EED])),
            }
        )

    return build()


# --- round trips: scripts whose replies are built from what the NAT sent ---------------------------

ROLES = {
    4: {
        "nat": "198.19.0.1",
        "clients": ["198.18.1.2", "198.18.1.3"],
        "server": "198.18.1.10",
        "remotes": ["198.19.5.5", "198.19.5.6"],
        "router": "198.19.255.1",
        "snat": "198.18.1.0/24",
    },
    6: {
        "nat": "2001:db8:ffff::1",
        "clients": ["2001:db8:1::2", "2001:db8:1::3"],
        "server": "2001:db8:1::10",
        "remotes": ["2001:db8:ffff::5", "2001:db8:ffff::6"],
        "router": "2001:db8:ffff::fe",
        "snat": "2001:db8:1::/64",
    },
}


def round_trip_configs() -> Any:
    """Configs for :func:`scripts`: both families, forwarded ports, a roomy or a tiny port range."""
    from hypothesis import strategies as st

    return st.builds(
        lambda ports, seed: NatConfig.model_validate(
            {
                "address": ROLES[4]["nat"],
                "address6": ROLES[6]["nat"],
                "snat": [ROLES[4]["snat"], ROLES[6]["snat"]],
                "ports": ports,
                "seed": seed,
                "forward": [
                    {"proto": "tcp", "port": 8080, "to": ROLES[4]["server"], "to_port": 80},
                    {"proto": "udp", "port": 5353, "to": ROLES[4]["server"], "to_port": 53},
                    {"proto": "tcp", "port": 8080, "to": ROLES[6]["server"], "to_port": 80},
                ],
            }
        ),
        st.sampled_from([(20000, 20003), (20000, 29999)]),
        st.sampled_from([0, 7]),
    )


def scripts(max_steps: int = 14) -> Any:
    """Abstract steps; :func:`render` turns one into a frame given the NAT's earlier outputs."""
    from hypothesis import strategies as st

    from ...conntrack.strategies import TCP_FLAGS
    from ..strategies import packets

    fam = st.sampled_from([4, 4, 6])
    step = st.one_of(
        st.tuples(
            st.just("out"),
            fam,
            st.integers(0, 1),
            st.integers(0, 1),
            st.sampled_from(["tcp", "tcp", "udp", "icmp", "gre"]),
            st.sampled_from([20000, 20001, 40000, 40001]),
            st.sampled_from([80, 53]),
            TCP_FLAGS,
        ),
        st.tuples(st.just("in_reply"), st.integers(0, 63), TCP_FLAGS),
        st.tuples(
            st.just("in_new"),
            fam,
            st.integers(0, 1),
            st.sampled_from(["tcp", "udp"]),
            st.sampled_from([5000, 5001]),
            st.sampled_from([8080, 5353, 22, 20000, 20001]),
            TCP_FLAGS,
        ),
        st.tuples(st.just("out_reply"), st.integers(0, 63), TCP_FLAGS),
        st.tuples(st.just("in_err"), st.integers(0, 63), st.sampled_from([None, 28])),
        st.tuples(st.just("out_err"), st.integers(0, 63), st.sampled_from([None, 28])),
        st.tuples(st.just("noise"), packets(), st.booleans()),
    )
    return st.lists(step, min_size=1, max_size=max_steps)


def render(step: tuple[Any, ...], history: list[tuple[bool, bytes]]) -> tuple[bool, bytes] | None:
    """(inbound, frame) for ``step``; ``history``: (inbound, output) of the frames sent so far.

    None when the step refers to an earlier output that does not exist.
    """
    from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
    from scapy.layers.l2 import Ether

    from ...conntrack.strategies import icmp_error, swap

    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    kind = step[0]
    if kind == "noise":
        return step[2], step[1]
    if kind == "out":
        _, family, c, r, proto, sport, dport, flags = step
        roles = ROLES[family]
        ip = (IP if family == 4 else IPv6)(src=roles["clients"][c], dst=roles["remotes"][r])
        if proto == "tcp":
            l4: Any = TCP(sport=sport, dport=dport, flags=flags)
        elif proto == "udp":
            l4 = UDP(sport=sport, dport=dport) / b"payload"
        elif proto == "icmp":
            l4 = ICMP(type=8, id=sport) if family == 4 else ICMPv6EchoRequest(id=sport)
        else:
            l4 = GRE() / bytes(4)
        return False, bytes(eth / ip / l4)
    if kind == "in_new":
        _, family, r, proto, sport, dport, flags = step
        roles = ROLES[family]
        ip = (IP if family == 4 else IPv6)(src=roles["remotes"][r], dst=roles["nat"])
        l4 = (
            TCP(sport=sport, dport=dport, flags=flags)
            if proto == "tcp"
            else UDP(sport=sport, dport=dport) / b"q"
        )
        return True, bytes(eth / ip / l4)
    # the rest answer an earlier output: in_* answer outbound ones, out_* inbound ones
    want_inbound = kind.startswith("out")
    earlier = [out for inbound, out in history if inbound == want_inbound]
    if not earlier:
        return None
    out = earlier[step[1] % len(earlier)]
    try:
        if kind.endswith("reply"):
            return not want_inbound, swap(out, step[2])
        family = 4 if IP in Ether(out) else 6
        by = ROLES[family]["router"] if kind == "in_err" else None
        return not want_inbound, icmp_error(out, cut=step[2], by=by)
    except (IndexError, TypeError, AttributeError, ValueError, OSError):  # noise scapy cannot take apart
        return None
