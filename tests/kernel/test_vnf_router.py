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
from alveole.vnf.router.config import EGRESS_MAX
from alveole.vnf.router.cost import frame_to, random_routes4, random_routes6
from alveole.vnf.router.fixtures import FORWARDING
from alveole.vnf.router.update import egress_value, nexthop_word

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
            "ROUTER_GUARD": T.GUARD,
            "ROUTER_LINK_SHIFT": T.LINK_SHIFT,
            "ROUTER_CHUNK": T.CHUNK,
            "ROUTER_RECORD": T.RECORD,
            "ROUTER_WALK6": T.WALK6,
            "ROUTER_EGRESS_MAX": EGRESS_MAX,
        }
        assert enum("router_mode") == {"ROUTER_TABLE": 0, "ROUTER_FIB": 1}
        # the next hop word and the egress profile as update.py writes them
        nh, eg = inst.maps["router_nh"], inst.maps["router_egress"]
        assert (nh.value_size, eg.value_size) == (8, 12)
        assert nh.encode_value((bytes.fromhex("020000000101"), 7)) == nexthop_word(
            bytes.fromhex("020000000101"), 7
        ).to_bytes(8, "little")
        profile = (bytes.fromhex("0200000001fe"), 1500, 9)
        assert eg.encode_value(profile) == egress_value(profile)


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


def _set(v: object) -> bool:
    if isinstance(v, int | bytes):
        return any(v) if isinstance(v, bytes) else bool(v)
    return any(_set(x) for x in v)  # type: ignore[attr-defined]


def _nonzero(m) -> int:
    """Slots of an array map that are not all zero."""
    return sum(1 for v in m.values() if _set(v))


def test_route_changes_are_diffs() -> None:
    base = {"nexthops": {1: NH1, 2: NH2}, "routes": [{"to": "198.19.0.0/16", "via": 1}]}
    quiet = {
        m: (0, 0, 0) for m in ("router_ports", "router_egress", "router_nh", "router_root6", "router_tbl6")
    }
    with VnfInstance.load("router", "xdp", base) as r:
        assert Ether(r.run(_udp4("198.19.7.1")).data).dst == NH1["mac"]
        # a more specific route: one slot in a new chunk, then the root slot gains the link
        more = {**base, "routes": [*base["routes"], {"to": "198.19.7.0/24", "via": 2}]}
        assert r.apply(more) == {**quiet, "router_root4": (0, 1, 0), "router_tbl4": (1, 0, 0)}
        assert Ether(r.run(_udp4("198.19.7.1")).data).dst == NH2["mac"]
        assert Ether(r.run(_udp4("198.19.8.1")).data).dst == NH1["mac"]
        # a next hop's MAC changes: one 8-byte word rewritten
        moved = {**more, "nexthops": {1: NH1, 2: {**NH2, "mac": "02:00:00:00:01:99"}}}
        assert r.apply(moved) == {
            **quiet,
            "router_nh": (0, 1, 0),
            "router_root4": (0, 0, 0),
            "router_tbl4": (0, 0, 0),
        }
        assert Ether(r.run(_udp4("198.19.7.1")).data).dst == "02:00:00:00:01:99"
        # its MTU: a new egress profile, then the word points at it
        small = {**moved, "nexthops": {**moved["nexthops"], 2: {**moved["nexthops"][2], "mtu": 100}}}
        got = r.apply(small)
        assert (got["router_egress"], got["router_nh"]) == ((1, 0, 0), (0, 1, 0))
        big = bytes(ETH / IP(src="198.18.0.1", dst="198.19.7.1") / UDP() / bytes(100))  # IP length 128
        assert r.run(big).verdict == Verdict.PASS
        assert pass_counts(r)[PassReason.MTU][0] == 1
        # a default route fills the root; removing everything empties the arrays again
        everything = {**small, "routes": [*small["routes"], {"to": "0.0.0.0/0", "via": 1}]}
        assert r.apply(everything)["router_root4"] == ((1 << 16) - 1, 0, 0)
        assert r.run(_udp4("198.18.200.1")).verdict == Verdict.REDIRECT
        assert r.apply({}) == {
            **quiet,
            "router_ports": (0, 0, 1),
            "router_egress": (0, 0, 2),
            "router_nh": (0, 0, 2),
            "router_root4": (0, 0, 1 << 16),
            "router_tbl4": (0, 0, 1),
        }
        assert all(_nonzero(r.maps[m]) == 0 for m in ("router_root4", "router_tbl4", "router_nh"))
        assert r.run(_udp4("198.19.7.1")).verdict == Verdict.PASS
        assert pass_counts(r)[PassReason.NO_ROUTE][0] == 1
        # the freed chunk is used again
        r.apply(more)
        assert r.maps["router_root4"][(198 << 8) | 19] == 1 | 1 << T.LINK_SHIFT


def _agree(r: VnfInstance, frames: list[bytes]) -> int:
    """Run ``frames`` through the instance and its config's model; returns how many were redirected."""
    model = RouterModel(r.config)  # type: ignore[arg-type]
    redirected = 0
    for frame in frames:
        got, want = r.run(frame), model.process(frame, "xdp")
        assert (got.verdict, got.data) == (want.verdict, want.data), Ether(frame).summary()
        redirected += got.verdict == Verdict.REDIRECT
    return redirected


def test_successive_changes_keep_the_kernel_right() -> None:
    """Thousands of routes replaced, renumbered and removed in turn, then a table so small
    that old and new cannot sit side by side: after each apply the kernel forwards like the
    model, and holds exactly as many slots as a freshly loaded table would."""
    v4, v6 = random_routes4(2000, seed=11), random_routes6(2000, seed=11)
    nexthops = {i: {**NH1, "mac": f"02:00:00:00:03:{i:02x}"} for i in range(1, 17)}
    rng = random.Random(5)
    probes = [frame_to(n.network_address + rng.randrange(n.num_addresses)) for n in rng.sample(v4 + v6, 300)]

    def cfg(nets: list, shift: int, **extra: object) -> dict:
        routes = [{"to": str(n), "via": 1 + (i + shift) % 16} for i, n in enumerate(nets)]
        return {"nexthops": nexthops, "routes": routes, **extra}

    steps = [
        cfg(v4[:1200] + v6[:1200], 0),
        cfg(v4[600:] + v6[600:], 0),  # half the routes gone, as many new
        cfg(v4[600:] + v6[600:], 3),  # every route to another next hop
        cfg(v4[::3] + v6[::3], 1),
        cfg([], 0),
        cfg(v4[:1200] + v6[:1200], 2),
    ]
    with VnfInstance.load("router", "xdp", steps[0]) as r:
        for step in steps:
            r.apply(step)
            assert _agree(r, probes) > (100 if step["routes"] else -1)
            fresh = r.config.map_entries()  # type: ignore[attr-defined]
            for m in ("router_root4", "router_tbl4", "router_root6", "router_tbl6"):
                assert _nonzero(r.maps[m]) == len(fresh[m]), m
    # 1024 slots: 3 usable chunks per family; 198.18.1 and 198.19.1 need 2 each
    small = {"nexthops": {1: NH1}, "table_size": 1024}
    a = {**small, "routes": [{"to": "198.18.1.0/25", "via": 1}, {"to": "198.19.0.0/16", "via": 1}]}
    b = {**small, "routes": [{"to": "198.19.1.0/25", "via": 1}, {"to": "198.18.0.0/16", "via": 1}]}
    hosts = [_udp4(f"198.{x}.1.{y}") for x in (18, 19) for y in (5, 200)]
    with VnfInstance.load("router", "xdp", a) as r:
        for step in (b, a, b):
            r.apply(step)
            _agree(r, hosts)


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
