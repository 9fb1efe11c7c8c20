"""The rate limiter without the kernel: config translation and errors, keys, the reference model."""

from __future__ import annotations

import ipaddress

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether

from alveole.errors import VnfConfigError
from alveole.vnf import Verdict, get
from alveole.vnf.bucket import bucket_conf
from alveole.vnf.parse import parse
from alveole.vnf.ratelimit import BucketKey, Outcome, RatelimitConfig, RatelimitModel

ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
A, X = "198.18.0.1", "198.19.0.80"


def _udp(src: str = A, sport: int = 1000, size: int = 0) -> bytes:
    l3 = IPv6(src=src, dst="2001:db8:ffff::1") if ":" in src else IP(src=src, dst=X)
    return bytes(ETH / l3 / UDP(sport=sport, dport=53) / bytes(size))


def test_config_to_kernel() -> None:
    cfg = RatelimitConfig(rate=5000, burst=50, over_limit="continue", src_prefix_v6=64)
    assert cfg.rodata() == {"key_mode": 0, "alv_clock": 0}
    assert cfg.map_sizes() == {"rl_src4": 65536, "rl_src6": 65536, "rl_flows4": 64, "rl_flows6": 64}
    assert cfg.map_entries() == {
        "rl_settings": {
            0: {
                "bucket": bucket_conf(5000, 50).as_map_value(),
                "bytes": 0,
                "dry_run": 1,
                "prefix4": 32,
                "prefix6": 64,
            }
        }
    }
    flows = RatelimitConfig(key="5tuple", unit="bytes", rate=125_000_000, burst=15_000, table_size=1024)
    assert flows.rodata()["key_mode"] == 1
    assert flows.map_sizes() == {"rl_src4": 64, "rl_src6": 64, "rl_flows4": 1024, "rl_flows6": 1024}
    assert flows.map_entries()["rl_settings"][0]["bytes"] == 1


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"rate": 0}, "rate"),
        ({"unit": "bytes", "rate": 999}, "rate"),  # bytes: from 1000/s (fixed-point bounds)
        ({"rate": 10**9}, "rate"),
        ({"burst": 0}, "burst"),
        ({"key": "dst"}, "key"),
        ({"unit": "bits"}, "unit"),
        ({"over_limit": "mark"}, "over_limit"),
        ({"key": "5tuple", "src_prefix_v4": 24}, "src_prefix_v4"),
        ({"table_size": 10}, "table_size"),
    ],
)
def test_config_errors_name_the_field(value: dict, field: str) -> None:
    with pytest.raises(VnfConfigError) as info:
        get("ratelimit").validate(value)
    assert field in [loc for loc, _ in info.value.errors]


def test_keys_by_mode() -> None:
    p = parse(bytes(ETH / IP(src=A, dst=X) / TCP(sport=7, dport=80)))
    four = ipaddress.IPv4Address
    assert RatelimitModel(RatelimitConfig()).key_of(p) == BucketKey(four(A), four(0), 0, 0, 0)
    assert RatelimitModel(RatelimitConfig(src_prefix_v4=24)).key_of(p).src == four("198.18.0.0")
    assert RatelimitModel(RatelimitConfig(key="5tuple")).key_of(p) == BucketKey(four(A), four(X), 7, 80, 6)
    icmp = parse(bytes(ETH / IP(src=A, dst=X) / ICMP(type=8)))
    assert RatelimitModel(RatelimitConfig(key="5tuple")).key_of(icmp) == BucketKey(four(A), four(X), 0, 0, 1)


def test_packets_on_the_virtual_clock() -> None:
    m = RatelimitModel(RatelimitConfig(rate=1000, burst=3, clock="virtual", clock_step_ns=250_000))
    got = [m.process(_udp(), "xdp").verdict for _ in range(6)]
    # 1 ms a packet, 3 ms of credit, 0.25 ms between packets: the 4th would owe 3.25 ms,
    # the 5th owes exactly 3 ms, the 6th would owe 3.5
    assert got == [Verdict.CONTINUE] * 3 + [Verdict.DROP, Verdict.CONTINUE, Verdict.DROP]
    assert m.process(bytes(ETH / ARP()), "xdp").verdict == Verdict.CONTINUE  # no key, no clock
    assert m.clock.now == 6 * 250_000  # type: ignore[attr-defined]
    assert m.counts[Outcome.CONFORMED][0] == 4 and m.counts[Outcome.EXCEEDED][0] == 2
    assert m.counts[Outcome.UNKEYED][0] == 1


def test_bytes_charge_the_frame_length() -> None:
    m = RatelimitModel(
        RatelimitConfig(unit="bytes", rate=1_000_000, burst=300, clock="virtual", clock_step_ns=1)
    )
    assert m.process(_udp(size=158), "xdp").verdict == Verdict.CONTINUE  # 200 bytes
    assert m.process(_udp(size=59), "xdp").verdict == Verdict.DROP  # 101 more would exceed 300
    assert m.process(_udp(size=18), "xdp").verdict == Verdict.CONTINUE  # 60 fit


def test_dry_run_counts_but_continues() -> None:
    m = RatelimitModel(RatelimitConfig(rate=1, burst=1, over_limit="continue", clock="virtual"))
    assert [m.process(_udp(), "tc").verdict for _ in range(3)] == [Verdict.CONTINUE] * 3
    assert m.counts[Outcome.EXCEEDED][0] == 2


def test_5tuple_separates_flows_of_one_source() -> None:
    m = RatelimitModel(RatelimitConfig(key="5tuple", rate=1, burst=1, clock="virtual"))
    assert m.process(_udp(sport=1), "xdp").verdict == Verdict.CONTINUE
    assert m.process(_udp(sport=2), "xdp").verdict == Verdict.CONTINUE
    assert m.process(_udp(sport=1), "xdp").verdict == Verdict.DROP
    assert len(m.buckets) == 2
