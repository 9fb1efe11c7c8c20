"""The C SDK against its Python mirrors, through the SDK probe: alv_parse() and the checksum helpers."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alveole.bpf import BtfKind
from alveole.vnf import Verdict, csum
from alveole.vnf.corpus import corpus
from alveole.vnf.parse import Family, Frag, Layer, Parsed, ParseStatus, parse
from alveole.vnf.runner import refused_by_test_run
from alveole.vnf.sdkprobe import Rewrite, SdkProbe, reference_rewrite
from alveole.vnf.strategies import ipv4_addresses, ipv6_addresses, packets, well_formed

SLOW_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]


@pytest.fixture
def probe() -> Iterator[SdkProbe]:
    with SdkProbe() as p:
        yield p


def _check_parse(probe: SdkProbe, name: str, frame: bytes) -> None:
    want = parse(frame)
    for hook in ("xdp", "tc"):
        if refused_by_test_run(frame, hook):
            continue
        got = probe.parse(frame, hook)
        assert got == want, f"{name} ({hook}): C {got} != Python {want}"


def test_c_enums_match_the_python_ones(probe: SdkProbe) -> None:
    enums = probe.enums()
    assert {m: v for m, v in enums["alv_verdict"].items() if m != "ALV_VERDICT_MAX"} == {
        f"ALV_{v.name}": int(v) for v in Verdict
    }
    for c_name, prefix, py in (
        ("alv_parse_status", "ALV_PARSE_", ParseStatus),
        ("alv_layer", "ALV_LAYER_", Layer),
        ("alv_frag", "ALV_FRAG_", Frag),
        ("alv_family", "ALV_FAMILY_", Family),
    ):
        assert enums[c_name] == {prefix + m.name: int(m) for m in py}, c_name
    assert enums["alv_l4_csum"] == {"ALV_CSUM_TCP": csum.CSUM_TCP, "ALV_CSUM_UDP": csum.CSUM_UDP}


def test_parsed_struct_has_the_python_fields(probe: SdkProbe) -> None:
    btf = probe.object.btf
    assert btf is not None
    c_fields = [m.name for m in btf.type(btf.find("alv_parsed", BtfKind.STRUCT)).members]
    assert c_fields == [f.name for f in dataclasses.fields(Parsed)]


def test_corpus_parses_the_same_in_c_and_python(probe: SdkProbe) -> None:
    cases = corpus()
    for case in cases:
        _check_parse(probe, case.name, case.frame)
    statuses = {parse(c.frame).status for c in cases}
    assert statuses == set(ParseStatus)  # the corpus reaches every outcome


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_OK)
@given(frame=packets())
def test_generated_packets_parse_the_same_in_c_and_python(probe: SdkProbe, frame: bytes) -> None:
    _check_parse(probe, "generated", frame)


@st.composite
def _rewrites(draw: st.DrawFn) -> tuple[bytes, Rewrite]:
    frame = draw(well_formed())
    family = parse(frame).family
    addrs = ipv4_addresses() if family == Family.IPV4 else ipv6_addresses()
    rw = Rewrite(
        saddr=draw(st.none() | addrs),
        daddr=draw(st.none() | addrs),
        sport=draw(st.integers(0, 65535)),
        dport=draw(st.integers(0, 65535)),
        ttl=draw(st.integers(0, 255)),
        tos=draw(st.integers(0, 255)),
    )
    return frame, rw


def _l4_checksum_ok(frame: bytes) -> bool:
    """Full check of an unfragmented TCP/UDP/ICMPv6 checksum (pseudo-header included)."""
    p = parse(frame)
    seg = frame[p.l4_off : p.ip_end]
    if p.family == Family.IPV4:
        pseudo = p.saddr[12:] + p.daddr[12:] + bytes([0, p.l4_proto]) + len(seg).to_bytes(2, "big")
    else:
        pseudo = p.saddr + p.daddr + len(seg).to_bytes(4, "big") + bytes([0, 0, 0, p.l4_proto])
    if p.l4_proto == 17 and seg[6:8] == b"\0\0":
        return True  # no checksum
    return csum.checksum(pseudo + seg) == 0


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW_OK)
@given(case=_rewrites())
def test_checksum_helpers_match_python_and_stay_valid(probe: SdkProbe, case: tuple[bytes, Rewrite]) -> None:
    frame, rw = case
    want = reference_rewrite(frame, rw)
    p = parse(frame)
    for hook in ("xdp", "tc"):
        assert probe.rewrite(frame, rw, hook) == want, hook
    if not p.has(Layer.IP):
        return
    if p.family == Family.IPV4:
        assert csum.checksum(want[p.l3_off : p.l4_off]) == 0, "IPv4 header checksum"
    checkable = p.has(Layer.L4) and not p.frag and p.l4_proto in (6, 17, 58) and _l4_checksum_ok(frame)
    if checkable:
        assert _l4_checksum_ok(want), "L4 checksum after the rewrite"


def test_rewrite_of_known_packet(probe: SdkProbe) -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    frame = bytes(eth / IP(src="198.18.0.1", dst="198.19.0.2", ttl=5) / UDP(sport=1, dport=2) / b"x")
    rw = Rewrite(saddr=ipaddress.IPv4Address("198.18.3.3"), dport=53, ttl=4)
    out = Ether(probe.rewrite(frame, rw))
    assert (out[IP].src, out[IP].ttl, out[UDP].dport) == ("198.18.3.3", 4, 53)
