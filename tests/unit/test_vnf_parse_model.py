"""The reference parser and the checksum mirror, without the kernel (the kernel tier compares them to C)."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether

from alveole.vnf import csum
from alveole.vnf.corpus import base_packets, corpus
from alveole.vnf.parse import Family, Frag, Layer, ParseStatus, mapped, parse
from alveole.vnf.strategies import packets

ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def test_udp4_fields() -> None:
    frame = bytes(ETH / IP(src="198.18.0.1", dst="198.19.0.2", ttl=9, tos=0x20) / UDP(sport=53, dport=4000))
    p = parse(frame)
    assert p.ok and p.layers == Layer.ETH | Layer.IP | Layer.PROTO | Layer.L4
    assert (p.family, p.l4_proto, p.sport, p.dport, p.ttl, p.tos) == (Family.IPV4, 17, 53, 4000, 9, 0x20)
    assert p.src == ipaddress.IPv4Address("198.18.0.1") and p.dst == ipaddress.IPv4Address("198.19.0.2")
    assert p.saddr == mapped(ipaddress.IPv4Address("198.18.0.1"))
    assert (p.l3_off, p.l4_off, p.ip_end, p.len) == (14, 34, len(frame), len(frame))


def test_tags_options_and_padding() -> None:
    inner = IP(src="198.18.0.1", dst="198.18.0.2", options=b"\x01" * 8) / TCP(sport=1, dport=2, flags="SA")
    frame = bytes(ETH / Dot1AD(vlan=100) / Dot1Q(vlan=200) / inner) + b"\0" * 10  # trailing padding
    p = parse(frame)
    assert p.ok and p.vlan_depth == 2 and p.vlan_id == [100, 200]
    assert p.l3_off == 22 and p.l4_off == 22 + 28 and p.tcp_flags == 0x12
    assert p.ip_end == len(frame) - 10  # the padding is not part of the IP packet


def test_fragments_carry_no_ports_after_the_first() -> None:
    later = parse(bytes(ETH / IP(src="198.18.0.1", dst="198.18.0.2", frag=10, proto=6) / bytes(20)))
    assert later.ok and later.frag == Frag.LATER and not later.has(Layer.L4) and later.sport == 0
    first6 = parse(bytes(ETH / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(m=1) / TCP()))
    assert first6.ok and first6.frag == Frag.MORE and first6.has(Layer.L4) and first6.ext_count == 1


def test_extension_header_rules() -> None:
    v6 = ETH / IPv6(src="2001:db8::1", dst="2001:db8::2")
    late_hbh = v6 / IPv6ExtHdrFragment() / IPv6ExtHdrHopByHop() / UDP()
    assert parse(bytes(late_hbh)).status == ParseStatus.MALFORMED


def test_status_of_damage() -> None:
    tcp4 = base_packets()["tcp4"]
    assert parse(tcp4[:20]).status == ParseStatus.TRUNCATED
    assert parse(tcp4[:14] + b"\x44" + tcp4[15:]).status == ParseStatus.MALFORMED  # IHL 4
    assert parse(b"").status == ParseStatus.TRUNCATED and parse(b"").layers == Layer(0)


def test_corpus_is_deterministic_and_complete() -> None:
    cases = corpus()
    names = [c.name for c in cases]
    assert len(names) == len(set(names))
    for name, frame in base_packets().items():
        assert {f"{name} cut at {i}" for i in range(len(frame))} <= set(names)
    assert {"empty frame", "1-byte frame", "three VLAN tags", "TCP doff=4", "ARP request"} <= set(names)
    assert [c.frame for c in corpus()] == [c.frame for c in cases]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_parse_never_raises_on_random_bytes(frame: bytes) -> None:
    p = parse(frame)
    assert p.status in ParseStatus
    assert p.ip_end <= len(frame) and p.l4_off <= len(frame)


@settings(max_examples=150, deadline=None)
@given(packets())
def test_parse_layers_are_consistent(frame: bytes) -> None:
    p = parse(frame)
    if p.has(Layer.L4):
        assert p.has(Layer.PROTO) and not p.frag & Frag.LATER
    if p.has(Layer.PROTO):
        assert p.has(Layer.IP) and p.l3_off < p.l4_off <= p.ip_end <= len(frame)
    if p.has(Layer.IP):
        assert p.has(Layer.ETH) and p.family in (Family.IPV4, Family.IPV6)


# --- checksums ------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=20, max_size=64).filter(lambda b: len(b) % 2 == 0), st.data())
def test_incremental_update_equals_full_recompute(data: bytes, draw: st.DataObject) -> None:
    start = draw.draw(st.integers(0, len(data) // 2 - 2)) * 2
    new = draw.draw(st.binary(min_size=4, max_size=4))
    before = csum.checksum(data)
    after = data[:start] + new + data[start + 4 :]
    assert csum.update(before, data[start : start + 4], new) == csum.checksum(after) or all(
        b == 0 for b in after
    )


def test_udp_zero_rules() -> None:
    assert csum.l4_update(0, b"\x01\x02", b"\x03\x04", csum.CSUM_UDP) == 0  # no checksum stays none
    # a change that makes the computed checksum 0 is sent as 0xffff
    assert csum.l4_update(0x0001, b"\x00\x00", b"\x00\x01", csum.CSUM_UDP) == 0xFFFF
    assert csum.l4_update(0x0001, b"\x00\x00", b"\x00\x01", csum.CSUM_TCP) == 0


def test_frame_rewrites_keep_checksums_valid() -> None:
    pkt = ETH / IP(src="198.18.0.1", dst="198.19.0.2", ttl=64) / TCP(sport=1000, dport=80) / b"payload"
    buf = bytearray(bytes(pkt))
    csum.ipv4_set_ttl(buf, 14, 63)
    csum.ipv4_set_addr(buf, 14, "daddr", ipaddress.IPv4Address("198.18.7.7"), 14 + 20 + 16)
    csum.l4_set_port(buf, 14 + 20 + 2, 8080, 14 + 20 + 16, csum.CSUM_TCP)
    again = Ether(bytes(buf))
    rebuilt = again.copy()
    del rebuilt[IP].chksum
    del rebuilt[TCP].chksum
    assert bytes(Ether(bytes(rebuilt))) == bytes(buf)
    assert again[IP].ttl == 63 and again[IP].dst == "198.18.7.7" and again[TCP].dport == 8080
