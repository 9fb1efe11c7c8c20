"""The NAT's XDP checksum update against the model and a full recomputation.

XDP patches the L4 checksum once for the address and the port together (a
64-bit sum of 32-bit words, one fold), where the model and TC apply the two
changes one after the other: the results must be the same bytes, including the
edges of ones' complement arithmetic (a translated checksum computed as zero:
0xffff for UDP, 0 for TCP) and a UDP/IPv4 checksum of zero (none) left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from alveole.vnf import VnfInstance, get
from alveole.vnf.nat import NatModel
from alveole.vnf.nat.gateway import SHARED_MAPS

SPEC = get("nat")
ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
NAT4, NAT6 = "198.19.0.1", "2001:db8:ffff::1"
CLIENT = {4: "198.18.0.2", 6: "2001:db8:1::2"}
REMOTE = {4: "198.19.5.5", 6: "2001:db8:ffff::5"}
CONFIG: dict[str, Any] = {
    "address": NAT4,
    "address6": NAT6,
    "snat": ["198.18.0.0/16", "2001:db8:1::/48"],
    "ports": (20000, 29999),
}


class Pair:
    """The TC program (outbound), the XDP one sharing its maps (inbound), and the model."""

    def __init__(self, tc: VnfInstance, xdp: VnfInstance) -> None:
        self.tc, self.xdp = tc, xdp
        self.model = NatModel(tc.config)  # type: ignore[arg-type]

    def out(self, frame: bytes) -> bytes:
        got = self.tc.program.run(frame).data
        assert got == self.model.process_dir(frame, inbound=False).data
        return got

    def back(self, frame: bytes) -> bytes:
        got = self.xdp.program.run(frame).data
        assert got == self.model.process_dir(frame, inbound=True).data
        return got


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    with VnfInstance.load(SPEC, "tc", CONFIG) as tc:
        reuse = {n: tc.maps[n] for n in SHARED_MAPS}
        with VnfInstance.load(SPEC, "xdp", CONFIG, reuse=reuse) as xdp:
            yield Pair(tc, xdp)


def _l4(
    family: int, proto: str, src: str, sport: int, dst: str, dport: int, payload: bytes, **kw: Any
) -> Packet:
    ip = IP(src=src, dst=dst) if family == 4 else IPv6(src=src, dst=dst)
    if proto == "udp":
        return ETH / ip / UDP(sport=sport, dport=dport, **kw) / payload
    return ETH / ip / TCP(sport=sport, dport=dport, flags="A", **kw) / payload


def _zeroing_word(translated: Packet, layer: type[Packet]) -> int:
    """The first payload word that makes the translated L4 checksum compute to zero."""
    c0 = Ether(bytes(translated))[layer].chksum  # with that word at 0
    return 0xFFFF - (~c0 & 0xFFFF)


def _recomputed(frame: bytes, layer: type[Packet]) -> int:
    p = Ether(frame)
    del p[layer].chksum
    return int(Ether(bytes(p))[layer].chksum)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    family=st.sampled_from([4, 6]),
    proto=st.sampled_from(["udp", "tcp"]),
    cport=st.integers(1024, 65535),
    rport=st.integers(1, 65535),
    body=st.binary(min_size=0, max_size=40),
    edge=st.sampled_from(["plain", "computed-zero", "udp4-no-checksum"]),
)
def test_xdp_reply_checksums_match_the_model(
    pair: Pair, family: int, proto: str, cport: int, rport: int, body: bytes, edge: str
) -> None:
    layer = UDP if proto == "udp" else TCP
    if edge == "udp4-no-checksum" and (family, proto) != (4, "udp"):
        edge = "plain"
    client, remote = CLIENT[family], REMOTE[family]
    out = pair.out(bytes(_l4(family, proto, client, cport, remote, rport, b"q")))
    xport = Ether(out)[layer].sport  # the NAT port
    payload = b"\0\0" + body
    if edge == "computed-zero":
        word = _zeroing_word(_l4(family, proto, remote, rport, client, cport, payload), layer)
        payload = word.to_bytes(2, "big") + body
    kw = {"chksum": 0} if edge == "udp4-no-checksum" else {}
    nat = NAT4 if family == 4 else NAT6
    got = pair.back(bytes(_l4(family, proto, remote, rport, nat, xport, payload, **kw)))
    p = Ether(got)
    assert (p[layer].dport, str(p[IP if family == 4 else IPv6].dst)) == (cport, client)
    if edge == "udp4-no-checksum":
        assert p[UDP].chksum == 0
        return
    assert p[layer].chksum == _recomputed(got, layer)
    if edge == "computed-zero":
        assert p[layer].chksum == (0xFFFF if proto == "udp" else 0)
