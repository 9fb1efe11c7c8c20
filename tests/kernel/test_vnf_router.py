"""router in the kernel: fixtures, the corpus and large tables against the model, route diffs, fib mode."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator

import pytest
from pyroute2 import NetNS
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from alveole.bpf import BtfKind, XdpAction
from alveole.bpf.program import xdp_md
from alveole.system import netns as ns_mod
from alveole.vnf import Verdict, VnfInstance, compare, get, run_fixtures
from alveole.vnf.corpus import corpus
from alveole.vnf.router import (
    FibCode,
    FibQuery,
    FibResult,
    PassReason,
    RouterConfig,
    RouterModel,
    pass_counts,
)
from alveole.vnf.router import tables as T
from alveole.vnf.router.cost import frame_to, random_routes4, random_routes6
from alveole.vnf.router.fixtures import FORWARDING

ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:fe")
NH1 = {"ifindex": 1, "mac": "02:00:00:00:01:01", "src_mac": "02:00:00:00:01:fe"}
NH2 = {"ifindex": 1, "mac": "02:00:00:00:01:02", "src_mac": "02:00:00:00:01:fe"}


def _udp4(dst: str, ttl: int = 64) -> bytes:
    return bytes(ETH / IP(src="198.18.0.1", dst=dst, ttl=ttl) / UDP(sport=4000, dport=53))


def test_fixture_table_passes_on_both_hooks() -> None:
    results = run_fixtures(get("router"), timing_repeat=10)
    failed = [(r.hook, r.description, r.problems) for r in results if not r.ok]
    assert not failed
    assert len(results) == 2 * len(get("router").fixtures())  # no "state" rows: counters agreed


def test_c_enums_and_structs_match_python() -> None:
    with VnfInstance.load("router", "xdp") as inst:
        btf = inst.object.btf
        assert btf is not None

        def enum(name: str) -> dict[str, int]:
            return {m.name: m.value for m in btf.type(btf.find(name, BtfKind.ENUM)).members}

        reasons = enum("router_pass_reason")
        assert {k: v for k, v in reasons.items() if k != "ROUTER_PASS_MAX"} == {
            f"ROUTER_PASS_{r.name}": int(r) for r in PassReason
        }
        assert enum("router_entry") == {
            "ROUTER_NH_MASK": T.NH_MASK,
            "ROUTER_NH_KERNEL": T.NH_KERNEL,
            "ROUTER_MORE": T.MORE,
        }
        assert enum("router_mode") == {"ROUTER_TABLE": 0, "ROUTER_FIB": 1}


@pytest.mark.parametrize("hook", ["xdp", "tc"])
def test_corpus_with_a_forwarding_table(hook: str) -> None:
    """The malformed corpus again, this time with routes covering its addresses: nothing is
    forwarded that the model would not forward, byte for byte."""
    cfg = {**FORWARDING, "routes": [*FORWARDING["routes"], {"to": "198.18.0.0/15", "via": 2}]}
    cfg["routes"] += [{"to": "2001:db8::/32", "via": 1}]
    cfg["routes"] = [r for r in cfg["routes"] if r["to"] not in ("198.19.0.0/16",)]
    result = compare(get("router"), [(c.name, c.frame) for c in corpus()], hook=hook, config=cfg)
    assert not result.aborted
    assert result.ok, result.report()
    assert result.verdicts.get(Verdict.REDIRECT, 0) > 20  # whole packets and fragments do go through


@pytest.mark.parametrize("hook", ["xdp", "tc"])
def test_thousands_of_routes_agree_with_the_model(hook: str) -> None:
    """3000 random routes per family, 64 next hops: the kernel's walk of the expanded tables
    and the model's direct matching pick the same next hop for 600 destinations."""
    v4, v6 = random_routes4(3000, seed=7), random_routes6(3000, seed=7)
    nexthops = {i: {**NH1, "mac": f"02:00:00:00:02:{i:02x}"} for i in range(1, 65)}
    routes = [{"to": str(n), "via": 1 + i % 64} for i, n in enumerate(v4 + v6)]
    routes[::97] = [{"to": r["to"], "via": "kernel"} for r in routes[::97]]
    cfg = get("router").validate({"nexthops": nexthops, "routes": routes})
    rng = random.Random(3)
    frames = []
    for net in rng.sample(v4, 200) + rng.sample(v6, 200):
        frames.append(frame_to(net.network_address + rng.randrange(net.num_addresses)))
    frames += [
        frame_to(ipaddress.ip_address(f"198.18.{rng.randrange(256)}.{rng.randrange(256)}"))
        for _ in range(200)
    ]
    result = compare(get("router"), [(f"#{i}", f) for i, f in enumerate(frames)], hook=hook, config=cfg)
    assert result.ok, result.report()
    assert result.verdicts[Verdict.REDIRECT] > 350 and result.verdicts[Verdict.PASS] > 0


def test_route_changes_are_diffs() -> None:
    base = {"nexthops": {1: NH1, 2: NH2}, "routes": [{"to": "198.19.0.0/16", "via": 1}]}
    with VnfInstance.load("router", "xdp", base) as r:
        assert Ether(r.run(_udp4("198.19.7.1")).data).dst == NH1["mac"]
        # a more specific route: written below the root, the root slot only gains MORE
        more = {**base, "routes": [*base["routes"], {"to": "198.19.7.0/24", "via": 2}]}
        assert r.apply(more) == {
            "router_ports": (0, 0, 0),
            "router_nexthops": (0, 0, 0),
            "router_more4": (1, 0, 0),
            "router_root4": (0, 1, 0),
            "router_more6": (0, 0, 0),
            "router_root6": (0, 0, 0),
        }
        assert Ether(r.run(_udp4("198.19.7.1")).data).dst == NH2["mac"]
        assert Ether(r.run(_udp4("198.19.8.1")).data).dst == NH1["mac"]
        # a next hop's MAC changes: one entry rewritten, whole
        moved = {**more, "nexthops": {1: NH1, 2: {**NH2, "mac": "02:00:00:00:01:99"}}}
        assert r.apply(moved)["router_nexthops"] == (0, 1, 0)
        assert Ether(r.run(_udp4("198.19.7.1")).data).dst == "02:00:00:00:01:99"
        # a default route fills the root; removing everything empties the arrays again
        everything = {**moved, "routes": [*moved["routes"], {"to": "0.0.0.0/0", "via": 1}]}
        assert r.apply(everything)["router_root4"] == (0, (1 << 16) - 1, 0)
        assert r.run(_udp4("198.18.200.1")).verdict == Verdict.REDIRECT
        assert r.apply({})["router_root4"] == (0, 0, 1 << 16)
        assert all(v == 0 for v in r.maps["router_root4"].values())
        assert len(r.maps["router_more4"]) == 0 and len(r.maps["router_nexthops"]) == 0
        assert r.run(_udp4("198.19.7.1")).verdict == Verdict.PASS
        assert pass_counts(r)[PassReason.NO_ROUTE][0] == 1


def test_egress_must_be_a_port() -> None:
    """A next hop's interface is a port; with it gone from the devmap (as when written by
    hand), XDP cannot redirect and passes the packet, unchanged."""
    cfg = {"nexthops": {1: NH1}, "routes": [{"to": "198.19.0.0/16", "via": 1}]}
    with VnfInstance.load("router", "xdp", cfg) as r:
        del r.maps["router_ports"][1]
        frame = _udp4("198.19.0.5")
        obs = r.run(frame)
        assert obs.verdict == Verdict.PASS and obs.action == XdpAction.PASS and obs.data == frame
        assert pass_counts(r)[PassReason.NO_PORT][0] == 1


# --- fib mode: a namespace with real routes and neighbours --------------------------------------

GW4, GW6 = "198.18.0.2", "2001:db8::2"
GW_MAC, OUR_MAC = "02:00:00:00:00:02", "02:00:00:00:00:aa"


@pytest.fixture
def fib_ns(netns: str) -> Iterator[tuple[str, int]]:
    """alvt0 (198.18.0.1/24, 2001:db8::1/64) with gateways 198.18.0.2 / 2001:db8::2 known as
    permanent neighbours; 198.19.0.0/16 and 2001:db8:1::/48 via them; 198.19.9.0/24 via an
    unresolved gateway; forwarding on."""
    ns_mod.add_veth(netns, "alvt0", "alvt1")
    ns_mod.set_sysctl(netns, "net.ipv4.conf.all.forwarding", 1)
    ns_mod.set_sysctl(netns, "net.ipv6.conf.all.forwarding", 1)
    with NetNS(netns, flags=0) as ipr:
        idx = ipr.link_lookup(ifname="alvt0")[0]
        ipr.link("set", index=idx, address=OUR_MAC)
        ipr.addr("add", index=idx, address="198.18.0.1", prefixlen=24)
        ipr.addr("add", index=idx, address="2001:db8::1", prefixlen=64, IFA_FLAGS=0x02)
        for gw in (GW4, GW6):
            ipr.neigh("replace", dst=gw, lladdr=GW_MAC, ifindex=idx, state="permanent")
        ipr.route("add", dst="198.19.0.0/16", gateway=GW4, oif=idx)
        ipr.route("add", dst="2001:db8:1::/48", gateway=GW6, oif=idx)
        ipr.route("add", dst="198.19.9.0/24", gateway="198.18.0.9", oif=idx)
    yield netns, idx


def _fib(q: FibQuery) -> FibResult:
    """What the fixture's FIB answers (the model's input)."""
    dst = q.dst
    if dst in ipaddress.ip_network("198.19.9.0/24"):
        return FibResult(FibCode.NO_NEIGH)
    if dst in ipaddress.ip_network("198.19.0.0/16") or dst in ipaddress.ip_network("2001:db8:1::/48"):
        return FibResult(FibCode.SUCCESS, _fib.ifindex, GW_MAC, OUR_MAC)  # type: ignore[attr-defined]
    return FibResult(FibCode.NOT_FWDED)  # local addresses, and no route at all


def test_fib_mode_forwards_with_the_kernels_routes(fib_ns: tuple[str, int]) -> None:
    ns, idx = fib_ns
    _fib.ifindex = idx  # type: ignore[attr-defined]
    frames = [
        _udp4("198.19.3.4"),
        bytes(ETH / IPv6(src="2001:db8::1", dst="2001:db8:1::7") / UDP(dport=9)),
        _udp4("198.19.9.1"),  # unresolved gateway
        _udp4("198.18.0.1"),  # local
        _udp4("198.18.77.1"),  # no route
        bytes(ETH / IPv6(src="2001:db8::1", dst="2001:db8:5::7") / UDP(dport=9)),
        _udp4("198.19.3.4", ttl=1),
    ]
    with ns_mod.enter(ns), VnfInstance.load("router", "xdp", {"mode": "fib", "ports": [idx]}) as r:
        model = RouterModel(r.config, fib=_fib)  # type: ignore[arg-type]
        for frame in frames:
            res = r.program.run(frame, ctx=xdp_md(ingress_ifindex=idx, data_len=len(frame)))
            want = model.process(frame, "xdp")
            assert res.data == want.data, Ether(frame).summary()
            assert (res.verdict == XdpAction.REDIRECT) == (want.verdict == Verdict.REDIRECT)
        assert model.state_diff(r) == []
        got = pass_counts(r)
        assert got[PassReason.NO_NEIGH][0] == 1 and got[PassReason.TO_KERNEL][0] == 3
        assert r.counters()[Verdict.REDIRECT].packets == 2


def test_fib_mode_only_redirects_to_its_ports(fib_ns: tuple[str, int]) -> None:
    ns, idx = fib_ns
    with ns_mod.enter(ns), VnfInstance.load("router", "xdp", RouterConfig(mode="fib", ports=(1,))) as r:
        frame = _udp4("198.19.3.4")
        res = r.program.run(frame, ctx=xdp_md(ingress_ifindex=idx, data_len=len(frame)))
        assert res.verdict == XdpAction.PASS and res.data == frame  # the FIB says alvt0: not a port
        assert pass_counts(r)[PassReason.NO_PORT][0] == 1
