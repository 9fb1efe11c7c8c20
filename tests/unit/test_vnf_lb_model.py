"""The load balancer without the kernel: Maglev properties, config rules, the reference model, health."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from alveole.errors import VnfConfigError
from alveole.lb import HealthChecker, effective_config
from alveole.lb.health import BackendHealth
from alveole.vnf import Verdict, get
from alveole.vnf.lb import LbConfig, LbModel, Reason, maglev
from alveole.vnf.lb.hashing import flow_hash, flow_key_bytes, tag32
from alveole.vnf.parse import mapped

SPEC = get("lb")


def _eth() -> Ether:
    # explicit MACs: scapy would otherwise look the destination up on the network
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def _names(n: int) -> tuple[tuple[bytes, int], ...]:
    return tuple((f"198.18.10.{i}:80".encode(), 1) for i in range(n))


# --- Maglev -------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 10, 100, 600])
def test_maglev_balance_equal_weights_within_one_percent(n: int) -> None:
    shares = maglev.shares(maglev.build(_names(n), 65537), n)
    mean = 65537 / n
    assert max(shares) - min(shares) <= max(1, 0.01 * mean)
    assert sum(shares) == 65537


@pytest.mark.parametrize("n", [3, 10, 100, 600])
def test_maglev_minimal_disruption_removing_one_backend(n: int) -> None:
    names = _names(n)
    old = [names[i][0] for i in maglev.build(names, 65537)]
    for gone in (0, n // 2, n - 1):
        rest = names[:gone] + names[gone + 1 :]
        new = [rest[i][0] for i in maglev.build(rest, 65537)]
        others = [i for i, b in enumerate(old) if b != names[gone][0]]
        moved = sum(1 for i in others if new[i] != old[i])
        assert moved <= 0.01 * len(others), (n, gone, moved)
        assert names[gone][0] not in new


def test_maglev_weighted_shares_follow_the_weights() -> None:
    weights = [1, 2, 3, 0, 10]
    names = tuple((f"b{i}".encode(), w) for i, w in enumerate(weights))
    shares = maglev.shares(maglev.build(names, 65537), len(names))
    total = sum(weights)
    for share, w in zip(shares, weights, strict=True):
        assert abs(share - 65537 * w / total) <= 1
    assert shares[3] == 0


def test_maglev_is_reproducible_across_processes() -> None:
    table = maglev.build(_names(7), 65537)
    assert maglev.build(_names(7), 65537) == table
    digest = hashlib.sha256(bytes(str(table), "ascii")).hexdigest()
    code = (
        "import hashlib; from alveole.vnf.lb import maglev; "
        "t = maglev.build(tuple((f'198.18.10.{i}:80'.encode(), 1) for i in range(7)), 65537); "
        "print(hashlib.sha256(bytes(str(t), 'ascii')).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == digest


def test_maglev_needs_a_prime_and_handles_an_empty_pool() -> None:
    with pytest.raises(ValueError, match="not a prime"):
        maglev.build(_names(3), 65536)
    assert set(maglev.build((), 251)) == {maglev.EMPTY}
    assert set(maglev.build(((b"a", 0),), 251)) == {maglev.EMPTY}
    assert maglev.is_prime(65537) and not maglev.is_prime(65535)


# --- config -------------------------------------------------------------------------------


def _vip(**kw: Any) -> dict[str, Any]:
    return {"address": "198.18.100.1", "port": 80, "backends": [{"address": "198.18.10.11"}], **kw}


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"ring_size": 65536}, r"ring_size: .*not a prime"),
        ({"vips": [_vip()]}, "full-NAT of an IPv4 VIP needs snat_ipv4"),
        ({"vips": [_vip(mode="dsr")]}, "needs tunnel_ipv4"),
        (
            {"snat_ipv4": "198.18.10.1", "vips": [_vip(), _vip()]},
            r"vips.1: 198.18.100.1:80/tcp is also vips.0",
        ),
        (
            {"snat_ipv6": "2001:db8::1", "vips": [_vip(address="2001:db8::100")]},
            "full-NAT needs the VIP's address family",
        ),
        (
            {
                "tunnel_ipv4": "198.18.10.1",
                "vips": [_vip(mode="dsr", backends=[{"address": "198.18.10.11", "port": 8080}])],
            },
            "DSR the backend answers from the VIP's port 80",
        ),
        (
            {
                "ring_size": 251,
                "snat_ipv4": "198.18.10.1",
                "vips": [_vip(backends=[{"address": f"198.18.10.{i}"} for i in range(3)])],
            },
            r"ring_size > 100 x backends",
        ),
        ({"snat_ports": [3000, 2000]}, "snat_ports"),
        ({"vips": [_vip(colour="blue")]}, "Extra inputs are not permitted"),
        ({"vips": [_vip(health={"kind": "http", "path": "no slash"})]}, "HTTP path"),
    ],
)
def test_config_errors_name_the_field(raw: dict[str, Any], match: str) -> None:
    with pytest.raises(VnfConfigError, match=match):
        SPEC.validate(raw)


def test_ids_are_stable_whatever_else_changes() -> None:
    a = LbConfig.model_validate(
        {"snat_ipv4": "198.18.10.1", "vips": [_vip(backends=[{"address": "198.18.10.11"}])]}
    )
    b = LbConfig.model_validate(
        {
            "snat_ipv4": "198.18.10.1",
            "vips": [
                {"address": "198.18.100.2", "port": 443, "backends": []},
                _vip(
                    backends=[
                        {"address": "198.18.10.12", "weight": 5},
                        {"address": "198.18.10.11", "weight": 3},
                    ]
                ),
            ],
        }
    )
    ida = a.vips[0].backend_id(a.vips[0].backends[0])
    idb = b.vips[1].backend_id(b.vips[1].backends[1])
    assert ida == idb and a.vips[0].tag == b.vips[1].tag
    assert a.vip_entries()[(mapped(a.vips[0].address), 80, 6)]["ring"] == 0
    assert b.vip_entries()[(mapped(b.vips[1].address), 80, 6)]["ring"] == 1
    assert tag32(b"x") != 0


def test_map_entries_and_sizes() -> None:
    cfg = LbConfig.model_validate(
        {
            "ring_size": 1021,
            "max_vips": 4,
            "snat_ipv4": "198.18.10.1",
            "vips": [_vip(backends=[{"address": "198.18.10.11"}, {"address": "198.18.10.12", "weight": 0}])],
        }
    )
    entries = cfg.map_entries()
    assert list(entries) == ["lb_settings", "lb_backends", "lb_ring", "lb_vips", "lb_ports"]
    assert len(entries["lb_backends"]) == 2  # the draining backend exists (its flows stay)
    live = cfg.vips[0].backend_id(cfg.vips[0].backends[0])
    assert set(entries["lb_ring"].values()) == {live} and len(entries["lb_ring"]) == 1021
    assert cfg.map_sizes()["lb_ring"] == 4 * 1021
    assert cfg.rodata() == {"lb_ring_size": 1021, "lb_egress": 0}


def test_effective_config_drops_the_backends_that_are_down() -> None:
    cfg = LbConfig.model_validate(
        {
            "snat_ipv4": "198.18.10.1",
            "vips": [_vip(backends=[{"address": "198.18.10.11"}, {"address": "198.18.10.12"}])],
        }
    )
    down = cfg.vips[0].backend_id(cfg.vips[0].backends[0])
    eff = effective_config(cfg, {down})
    assert [str(b.address) for b in eff.vips[0].backends] == ["198.18.10.12"]
    assert effective_config(cfg, set()) is cfg


# --- the reference model --------------------------------------------------------------------


def _cfg(**kw: Any) -> LbConfig:
    return LbConfig.model_validate(
        {
            "ring_size": 1021,
            "snat_ipv4": "198.18.10.1",
            "snat_ipv6": "2001:db8:10::1",
            "tunnel_ipv4": "198.18.10.1",
            **kw,
        }
    )


def _valid_checksums(frame: bytes) -> bool:
    pkt = Ether(frame)
    again = pkt.copy()
    for layer in (IP, TCP, UDP):
        if layer in again:
            del again[layer].chksum
    return bytes(Ether(bytes(again))) == frame


def test_model_full_nat_round_trip() -> None:
    model = LbModel(_cfg(vips=[_vip(backends=[{"address": "198.18.10.11", "port": 8080}])]))
    req = bytes(
        _eth() / IP(src="198.19.0.1", dst="198.18.100.1") / TCP(sport=4000, dport=80, flags="S") / b"x"
    )
    out = model.process(req, "xdp")
    assert out.verdict == Verdict.PASS and _valid_checksums(out.data)
    ip, tcp = Ether(out.data)[IP], Ether(out.data)[TCP]
    assert (ip.src, ip.dst, tcp.dport) == ("198.18.10.1", "198.18.10.11", 8080)
    reply = bytes(
        _eth() / IP(src="198.18.10.11", dst="198.18.10.1") / TCP(sport=8080, dport=tcp.sport, flags="SA")
    )
    back = model.process(reply, "xdp")
    assert _valid_checksums(back.data)
    ip, tcp = Ether(back.data)[IP], Ether(back.data)[TCP]
    assert (ip.src, ip.dst, tcp.sport, tcp.dport) == ("198.18.100.1", "198.19.0.1", 80, 4000)
    assert model.reasons[Reason.NEW][0] == 1 and model.reasons[Reason.REPLY][0] == 1


def test_model_ipv6_udp_checksum_never_becomes_zero() -> None:
    model = LbModel(
        _cfg(vips=[_vip(address="2001:db8:100::1", proto="udp", backends=[{"address": "2001:db8:10::11"}])])
    )
    for sport in range(1000, 1100):
        frame = bytes(
            _eth() / IPv6(src="2001:db8:c::1", dst="2001:db8:100::1") / UDP(sport=sport, dport=80) / b"q"
        )
        out = Ether(model.process(frame, "xdp").data)
        assert out[UDP].chksum != 0
        fresh = out.copy()
        del fresh[UDP].chksum
        assert Ether(bytes(fresh))[UDP].chksum == out[UDP].chksum


def test_model_repins_flows_of_a_backend_taken_out() -> None:
    cfg = _cfg(vips=[_vip(backends=[{"address": f"198.18.10.{i}"} for i in (11, 12, 13)])])
    model = LbModel(cfg)
    frames = [
        bytes(_eth() / IP(src="198.19.0.1", dst="198.18.100.1") / TCP(sport=p, dport=80))
        for p in range(2000, 2200)
    ]
    first = [Ether(model.process(f, "xdp").data)[IP].dst for f in frames]
    gone = cfg.vips[0].backend_id(cfg.vips[0].backends[0])
    model.apply(effective_config(cfg, {gone}))
    second = [Ether(model.process(f, "xdp").data)[IP].dst for f in frames]
    moved = sum(1 for a, b in zip(first, second, strict=True) if a != b)
    assert moved == first.count("198.18.10.11") == model.reasons[Reason.REPINNED][0]
    assert "198.18.10.11" not in second


def test_model_hash_is_murmur3_of_the_flow_key() -> None:
    key = flow_key_bytes(mapped(__import__("ipaddress").ip_address("198.19.0.1")), bytes(16), 1, 2, 6)
    assert len(key) == 40
    assert flow_hash(key) != flow_hash(key[:-4] + b"\x01\0\0\0")


# --- health checks (probes replaced: no network) -----------------------------------------------


class _FakeLb:
    def __init__(self, config: LbConfig) -> None:
        self.config = config
        self.down: set[int] = set()
        self.writes = 0

    def set_down(self, bid: int, down: bool) -> bool:
        self.writes += 1
        (self.down.add if down else self.down.discard)(bid)
        return True


def test_health_fall_and_rise() -> None:
    cfg = _cfg(
        vips=[
            _vip(
                backends=[{"address": "198.18.10.11"}, {"address": "198.18.10.12"}],
                health={"fall": 3, "rise": 2, "interval": 1},
            )
        ]
    )
    lb = _FakeLb(cfg)
    healthy = {"198.18.10.11": True, "198.18.10.12": True}
    seen: list[bool] = []

    def changed(h: BackendHealth) -> None:
        seen.append(h.up)

    checker = HealthChecker(lb, probe=lambda t, ns: (healthy[t.address], "fake"), on_change=changed)  # type: ignore[arg-type]
    try:
        bad = cfg.vips[0].backend_id(cfg.vips[0].backends[1])
        assert checker.run_once(0.0) == []
        healthy["198.18.10.12"] = False
        assert checker.run_once(0.5) == []  # not due yet (interval 1 s)
        assert checker.run_once(1.0) == [] and checker.run_once(2.0) == []
        assert [h.target.backend_id for h in checker.run_once(3.0)] == [bad] and lb.down == {bad}
        healthy["198.18.10.12"] = True
        assert checker.run_once(4.0) == []
        assert [h.up for h in checker.run_once(5.0)] == [True] and lb.down == set()
        assert seen == [False, True] and lb.writes == 2
    finally:
        checker.close()


def test_health_checks_only_vips_that_ask_for_them() -> None:
    cfg = _cfg(vips=[_vip(), _vip(port=81, health={"kind": "tcp"})])
    checker = HealthChecker(_FakeLb(cfg), probe=lambda t, ns: (True, ""))  # type: ignore[arg-type]
    try:
        assert [t.vip for t in checker.targets()] == ["198.18.100.1:81/tcp"]
    finally:
        checker.close()
