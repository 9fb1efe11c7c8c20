"""Hypothesis strategies of load balancer configs, for the generic differential tests.

VIPs, backends and the SNAT / tunnel addresses are drawn from the few hosts the packet
strategies favour (198.18.0.0-3, 2001:db8::0-3) and their common ports, so generated
sequences hit VIPs, create flows and, now and then, come back as replies. Rings are
small primes (quick to load); SNAT ranges include tiny ones, to run out of ports.
"""

from __future__ import annotations

import ipaddress
from typing import Any

__all__ = ["changed", "configs", "events", "reply_frame", "request_frame"]

_HOSTS4 = [str(ipaddress.IPv4Address("198.18.0.0") + i) for i in range(4)]
_HOSTS6 = [str(ipaddress.IPv6Address("2001:db8::") + i) for i in range(4)]
_PORTS = [53, 80, 443, 4000]


def configs(min_vips: int = 0, min_backends: int = 0) -> Any:
    from hypothesis import assume
    from hypothesis import strategies as st
    from pydantic import ValidationError

    from .config import LbConfig

    @st.composite
    def build(draw: Any) -> LbConfig:
        vips = []
        for _ in range(draw(st.integers(min_vips, 3))):
            family = draw(st.sampled_from([4, 6]))
            mode = draw(st.sampled_from(["nat", "dsr"]))
            hosts = _HOSTS4 if family == 4 else _HOSTS6
            backends = []
            for _ in range(draw(st.integers(min_backends, 3))):
                bfam = family if mode == "nat" else draw(st.sampled_from([4, 6]))
                backends.append(
                    {
                        "address": draw(st.sampled_from(_HOSTS4 if bfam == 4 else _HOSTS6)),
                        "port": draw(st.sampled_from([None, 53, 80])) if mode == "nat" else None,
                        "weight": draw(st.integers(0 if len(backends) else min(min_backends, 1), 3)),
                    }
                )
            vips.append(
                {
                    "address": draw(st.sampled_from(hosts)),
                    "port": draw(st.sampled_from(_PORTS)),
                    "proto": draw(st.sampled_from(["tcp", "udp"])),
                    "mode": mode,
                    "backends": backends,
                }
            )
        raw = {
            "vips": vips,
            "ring_size": draw(st.sampled_from([307, 1021])),
            "snat_ipv4": _HOSTS4[2],
            "snat_ipv6": _HOSTS6[2],
            "tunnel_ipv4": _HOSTS4[3],
            "tunnel_ipv6": _HOSTS6[3],
            "snat_ports": draw(st.sampled_from([(53, 53), (80, 81), (16384, 32767)])),
            "egress": draw(st.sampled_from(["stack", "chain"])),
            "flow_table_size": 1024,
            "nat_table_size": 1024,
        }
        try:
            return LbConfig.model_validate(raw)
        except ValidationError:
            assume(False)
            raise

    return build()


# --- traffic aimed at a config's VIPs (the generic packet strategies hardly ever hit a VIP) ---

_CLIENTS = {4: [f"198.19.0.{i}" for i in range(1, 4)], 6: [f"2001:db8:c::{i}" for i in range(1, 4)]}


def events() -> Any:
    """Steps of a session against an LB: requests to VIPs, replies to translated flows,
    any other packet, and config changes (a backend removed, a weight changed, a VIP
    removed). Indices are taken modulo what exists when the step runs."""
    from hypothesis import strategies as st

    from ..strategies import packets

    request = st.tuples(
        st.just("request"),
        st.integers(0, 7),  # VIP
        st.integers(0, 1),  # client host
        st.sampled_from([1024, 40000, 65535]),  # client port
        st.sampled_from(["plain", "plain", "vlan", "options"]),
        st.integers(0, 255),  # TCP flags / payload byte
    )
    reply = st.tuples(st.just("reply"), st.integers(0, 63))
    noise = st.tuples(st.just("noise"), packets())
    change = st.one_of(
        st.tuples(st.just("drop_backend"), st.integers(0, 7), st.integers(0, 7)),
        st.tuples(st.just("weight"), st.integers(0, 7), st.integers(0, 7), st.integers(0, 3)),
        st.tuples(st.just("drop_vip"), st.integers(0, 7)),
    )
    kinds = [request] * 14 + [reply] * 3 + [noise] + [change] * 2

    @st.composite
    def step(draw: Any) -> tuple[Any, ...]:  # weighted by hand: one_of does not spread evenly
        return draw(kinds[draw(st.integers(0, len(kinds) - 1))])

    return st.lists(step(), min_size=8, max_size=30)


def changed(config: Any, step: tuple[Any, ...]) -> Any:
    """``config`` after a config-change step (the same config when it does not apply)."""
    if not config.vips:
        return config
    vips = list(config.vips)
    i = step[1] % len(vips)
    if step[0] == "drop_vip":
        del vips[i]
    else:
        backends = list(vips[i].backends)
        if not backends:
            return config
        j = step[2] % len(backends)
        if step[0] == "drop_backend":
            del backends[j]
        else:
            backends[j] = backends[j].model_copy(update={"weight": step[3]})
        vips[i] = vips[i].model_copy(update={"backends": tuple(backends)})
    return config.model_copy(update={"vips": tuple(vips)})


def request_frame(config: Any, step: tuple[Any, ...]) -> bytes | None:
    """The frame of a request step (None when the config has no VIP)."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt
    from scapy.layers.l2 import Dot1Q, Ether

    if not config.vips:
        return None
    _, v, c, cport, shape, extra = step
    vip = config.vips[v % len(config.vips)]
    fam = vip.address.version
    client = _CLIENTS[fam][c]
    if fam == 4:
        ip: Any = IP(
            src=client, dst=str(vip.address), ttl=64, options=b"\x01" * 8 if shape == "options" else b""
        )
    else:
        ip = IPv6(src=client, dst=str(vip.address))
        if shape == "options":
            ip = ip / IPv6ExtHdrDestOpt()
    if vip.proto == "tcp":
        l4: Any = TCP(sport=cport, dport=vip.port, flags=extra, seq=extra * 1000)
    else:
        l4 = UDP(sport=cport, dport=vip.port, chksum=0 if extra == 0 and fam == 4 else None) / bytes(
            [extra] * 5
        )
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    if shape == "vlan":
        eth = eth / Dot1Q(vlan=extra)
    return bytes(eth / ip / l4)


def reply_frame(model: Any, step: tuple[Any, ...]) -> bytes | None:
    """A backend's answer to one of the model's full-NAT translations (None when there is none)."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether

    keys = sorted(model.nat)
    if not keys:
        return None
    backend, bport, snat_port, proto = keys[step[1] % len(keys)]
    v4 = backend[:12] == bytes(10) + b"\xff\xff"
    if v4:
        ip: Any = IP(
            src=str(ipaddress.IPv4Address(backend[12:])),
            dst=str(ipaddress.IPv4Address(model.settings["snat4"][12:])),
        )
    else:
        ip = IPv6(
            src=str(ipaddress.IPv6Address(backend)), dst=str(ipaddress.IPv6Address(model.settings["snat6"]))
        )
    l4: Any = (
        TCP(sport=bport, dport=snat_port, flags="SA") if proto == 6 else UDP(sport=bport, dport=snat_port)
    )
    return bytes(Ether(src="02:00:00:00:00:03", dst="02:00:00:00:00:02") / ip / l4 / b"reply")
