"""router: config validation, route-table expansion against plain LPM, the model's rules, kernel import."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether

from alveole.errors import VnfConfigError
from alveole.vnf import Verdict, get
from alveole.vnf.csum import checksum
from alveole.vnf.router import FibCode, FibQuery, FibResult, PassReason, RouterConfig, RouterModel
from alveole.vnf.router import tables as T
from alveole.vnf.router.fixtures import FORWARDING
from alveole.vnf.router.kernel import KernelRoute, KernelState, table_from_netns

ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:fe")
NH = {"ifindex": 4, "mac": "02:00:00:00:01:01", "src_mac": "02:00:00:00:01:fe"}


def _route(cfg: RouterConfig, dst: str) -> int:
    return RouterModel(cfg).route(ipaddress.ip_address(dst))


# --- config -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"routes": [{"to": "198.19.0.1/16", "via": "kernel"}]}, "routes.0.to"),
        ({"routes": [{"to": "198.19.0.0/16", "via": 0}]}, "routes.0.via.constrained-int"),
        ({"nexthops": {"70000": NH}}, "nexthops.70000.[key]"),
        ({"nexthops": {"1": {**NH, "mac": "02:00:00:00:01"}}}, "nexthops.1.mac"),
        ({"nexthops": {"1": {**NH, "mtu": 40}}}, "nexthops.1.mtu"),
        ({"nexthops": {"1": {**NH, "extra": 1}}}, "nexthops.1.extra"),
        ({"mode": "bgp"}, "mode"),
        ({"table_size": 10}, "table_size"),
    ],
)
def test_config_errors_name_the_field(value: dict, field: str) -> None:
    with pytest.raises(VnfConfigError) as info:
        get("router").validate(value)
    assert field in [loc for loc, _ in info.value.errors]


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"routes": [{"to": "198.19.0.0/16", "via": 3}]}, "routes.0.via: no next hop 3"),
        (
            {"routes": [{"to": "198.19.0.0/16", "via": "kernel"}, {"to": "198.19.0.0/16", "via": "kernel"}]},
            "routes.1.to: 198.19.0.0/16 is already routed by routes.0",
        ),
        (
            {"routes": [{"to": "198.19.0.1/32", "via": "kernel"}], "local": ["198.19.0.1"]},
            "local.0: 198.19.0.1 is already routed by routes.0",
        ),
        ({"mode": "fib", "local": ["198.19.0.1"]}, "local: only for mode 'table'"),
        ({"ports": [3, 3]}, "ports: an ifindex is listed twice"),
        (
            {
                "table_size": 1024,
                "routes": [
                    {"to": "198.18.0.0/22", "via": "kernel"},
                    {"to": "198.18.0.0/32", "via": "kernel"},
                ],
            },
            "routes: IPv4 routes expand into",
        ),
    ],
)
def test_consistency_errors_say_where(value: dict, says: str) -> None:
    # the last one: a /22 expands to 4 level-24 slots; 2000 more /32s would overflow 1024
    if value.get("table_size") == 1024:
        value["routes"] += [
            {"to": f"198.18.{i // 256 + 4}.{i % 256}/32", "via": "kernel"} for i in range(1100)
        ]
    with pytest.raises(VnfConfigError) as info:
        get("router").validate(value)
    assert any(says in msg for _, msg in info.value.errors), info.value.errors


def test_config_to_kernel() -> None:
    cfg = RouterConfig.model_validate(
        {
            "nexthops": {"2": NH},
            "routes": [{"to": "198.19.0.0/16", "via": 2}, {"to": "2001:db8:1::/48", "via": "kernel"}],
            "local": ["198.19.0.1"],
            "ports": [9],
            "table_size": 4096,
        }
    )
    assert cfg.rodata() == {"router_mode": 0, "fib_flags": 0}
    assert RouterConfig(mode="fib", fib_direct=True).rodata() == {"router_mode": 1, "fib_flags": 1}
    assert cfg.map_sizes() == {"router_more4": 4096, "router_more6": 4096}
    e = cfg.map_entries()
    # egresses and next hops first, deeper levels before the root that points at them
    assert list(e) == [
        "router_ports",
        "router_nexthops",
        "router_more4",
        "router_root4",
        "router_more6",
        "router_root6",
    ]
    assert e["router_ports"] == {4: 4, 9: 9}
    assert e["router_nexthops"] == {
        2: (bytes.fromhex("020000000101"), bytes.fromhex("0200000001fe"), 4, 1500, 0)
    }
    assert e["router_root4"] == {(198 << 8) | 19: 2 | T.MORE}
    assert e["router_more4"] == {
        (32, bytes([198, 19, 0, 1])): T.NH_KERNEL,
        (24, bytes([198, 19, 0, 0])): T.MORE,
    }
    assert e["router_root6"] == {0x2001: T.MORE}
    assert e["router_more6"][(48, ipaddress.IPv6Address("2001:db8:1::").packed)] == T.NH_KERNEL
    assert [k[0] for k in e["router_more6"]] == [48, 40, 32, 24]  # deepest first
    assert RouterConfig.model_validate(cfg.model_dump(mode="json")) == cfg


# --- tables ----------------------------------------------------------------------------------


def test_expansion_counts() -> None:
    t = T.build([(ipaddress.ip_network("198.18.0.0/15"), 1)])
    assert t.root4 == {198 << 8 | 18: 1, 198 << 8 | 19: 1} and not t.more4  # a /15: 2 root slots
    assert T.build([(ipaddress.ip_network("198.18.4.0/22"), 2)]).more4.keys() == {
        (24, bytes([198, 18, i, 0])) for i in range(4, 8)
    }
    assert len(T.build([(ipaddress.ip_network("0.0.0.0/0"), 1)]).root4) == 1 << 16
    assert [T.level_of(n) for n in (0, 16, 17, 24, 25, 64, 121, 128)] == [16, 16, 24, 24, 32, 64, 128, 128]


prefixes4 = st.builds(
    lambda length, bits: ipaddress.IPv4Network(
        ((198 << 24 | 18 << 16 | bits) & ~((1 << (32 - length)) - 1) & 0xFFFFFFFF, length)
    ),
    st.integers(14, 32),
    st.integers(0, (1 << 17) - 1),
)
prefixes6 = st.builds(
    lambda length, bits: ipaddress.IPv6Network(
        ((0x20010DB8 << 96 | bits) >> (128 - length) << (128 - length), length)
    ),
    st.sampled_from([32, 33, 40, 47, 48, 56, 63, 64, 100, 127, 128]),
    st.integers(0, (1 << 96) - 1),
)


@settings(max_examples=60, deadline=None)
@given(
    routes=st.dictionaries(st.one_of(prefixes4, prefixes6), st.integers(1, 0xFFFF), max_size=30),
    probes=st.lists(st.integers(0, (1 << 17) - 1), min_size=1, max_size=20),
)
def test_expanded_tables_answer_like_plain_lpm(routes: dict, probes: list[int]) -> None:
    """The walk over the expanded tables (what the kernel does) equals direct matching (the model)."""
    cfg_routes = list(routes.items())
    t = T.build(cfg_routes)
    addresses: list = [ipaddress.IPv4Address(198 << 24 | 18 << 16 | p) for p in probes]
    addresses += [net.network_address for net in routes] + [net.broadcast_address for net in routes]
    for addr in addresses:
        best = max(
            (n for n in routes if addr in n and n.version == addr.version),
            key=lambda n: n.prefixlen,
            default=None,
        )
        assert T.lookup(t, addr) == (routes[best] if best is not None else 0), addr


def test_table_diffs_touch_only_what_changed() -> None:
    base = [(ipaddress.ip_network(f"198.19.{i}.0/24"), 1) for i in range(50)]
    a = T.build(base)
    b = T.build([*base, (ipaddress.ip_network("198.19.7.128/25"), 2)])
    changed = {k for k in b.more4 if a.more4.get(k) != b.more4[k]}
    # the /24 slot gains MORE; the /25 lands at level 32: 128 new slots; the root is untouched
    assert len(changed) == 1 + 128 and a.root4 == b.root4


# --- the model's rules --------------------------------------------------------------------------


def test_model_forwards_and_rewrites() -> None:
    m = RouterModel(get("router").validate(FORWARDING))
    frame = bytes(ETH / IP(src="198.18.0.1", dst="198.19.0.9", ttl=9) / UDP(dport=53) / b"q")
    out = m.process(frame, "xdp")
    assert out.verdict == Verdict.REDIRECT
    got = Ether(out.data)
    assert (got.dst, got.src, got[IP].ttl) == ("02:00:00:00:01:01", "02:00:00:00:01:fe", 8)
    assert checksum(out.data[14:34]) == 0  # the header checksum is right
    six = m.process(bytes(ETH / IPv6(src="2001:db8::1", dst="2001:db8:1:2::1", hlim=3) / UDP()), "tc")
    assert six.verdict == Verdict.REDIRECT and Ether(six.data)[IPv6].hlim == 2
    assert Ether(six.data).dst == "02:00:00:00:01:02"


def test_model_pass_reasons() -> None:
    m = RouterModel(get("router").validate(FORWARDING))
    cases = {
        PassReason.NOT_IP: ETH / ARP(),
        PassReason.UNPARSED: bytes(ETH / IP(src="198.18.0.1", dst="198.19.0.9") / UDP())[:30],
        PassReason.SPECIAL: Ether(dst="33:33:00:00:00:01")
        / IPv6(src="2001:db8::1", dst="2001:db8:1::9")
        / UDP(),
        PassReason.TTL: ETH / IP(src="198.18.0.1", dst="198.19.0.9", ttl=1) / UDP(),
        PassReason.NO_ROUTE: ETH / IP(src="198.18.0.1", dst="198.18.9.9") / UDP(),
        PassReason.TO_KERNEL: ETH / IP(src="198.18.0.1", dst="198.19.0.1") / UDP(),
        PassReason.MTU: ETH / IP(src="198.18.0.1", dst="198.19.64.1") / UDP() / bytes(600),
    }
    for reason, pkt in cases.items():
        assert m.process(bytes(pkt), "xdp").verdict == Verdict.PASS
        assert m.passed[reason][0] == 1, reason
    # no egress port: the next hop's interface is not in ports (the config always adds it: build one)
    m2 = RouterModel(get("router").validate(FORWARDING))
    m2._egress = set()
    m2.process(bytes(ETH / IP(src="198.18.0.1", dst="198.19.0.9") / UDP()), "xdp")
    assert m2.passed[PassReason.NO_PORT][0] == 1


def test_fib_mode_asks_the_fib() -> None:
    asked: list[FibQuery] = []

    def fib(q: FibQuery) -> FibResult:
        asked.append(q)
        if q.dst == ipaddress.ip_address("198.19.0.9"):
            return FibResult(FibCode.SUCCESS, 7, "02:00:00:00:02:01", "02:00:00:00:02:fe")
        return FibResult(FibCode.NO_NEIGH)

    m = RouterModel(RouterConfig(mode="fib", ports=(7,)), fib=fib)
    out = m.process(bytes(ETH / IP(src="198.18.0.1", dst="198.19.0.9") / UDP(sport=5, dport=6)), "xdp")
    assert out.verdict == Verdict.REDIRECT and Ether(out.data).dst == "02:00:00:00:02:01"
    assert asked[0].sport == 5 and asked[0].dport == 6 and asked[0].tot_len == 28 and asked[0].l4_proto == 17
    assert (
        m.process(bytes(ETH / IP(src="198.18.0.1", dst="198.19.0.8") / UDP()), "xdp").verdict == Verdict.PASS
    )
    assert m.passed[PassReason.NO_NEIGH][0] == 1
    with pytest.raises(ValueError, match="fib callable"):
        RouterModel(RouterConfig(mode="fib", ports=(7,))).process(
            bytes(ETH / IP(src="198.18.0.1", dst="198.19.0.9") / UDP()), "xdp"
        )


def test_route_lookup_is_longest_prefix() -> None:
    cfg = get("router").validate(FORWARDING)
    assert _route(cfg, "198.19.0.9") == 1
    assert _route(cfg, "198.19.200.1") == 2
    assert _route(cfg, "198.19.70.1") == 3
    assert _route(cfg, "198.19.1.5") == T.NH_KERNEL
    assert _route(cfg, "198.18.0.1") == 0


# --- import from a kernel ------------------------------------------------------------------------


def _state(neighbours: dict) -> KernelState:
    net = ipaddress.ip_network
    return KernelState(
        links={2: ("02:00:00:00:00:02", 1500), 3: ("02:00:00:00:00:03", 9000)},
        addresses=[(2, ipaddress.ip_address("198.18.1.254")), (3, ipaddress.ip_address("198.18.2.254"))],
        neighbours=neighbours,
        routes=[
            KernelRoute(net("198.18.1.0/24"), 1, 2, None, False),
            KernelRoute(net("198.18.2.0/24"), 1, 3, None, False),
            KernelRoute(net("198.19.0.0/16"), 1, 3, ipaddress.ip_address("198.18.2.1"), False),
            KernelRoute(net("198.19.128.0/17"), 6, None, None, False),  # blackhole
        ],
    )


def test_import_from_kernel_state() -> None:
    a = ipaddress.ip_address
    state = _state({(2, a("198.18.1.1")): "02:00:00:00:01:01", (3, a("198.18.2.1")): "02:00:00:00:02:01"})
    cfg = table_from_netns(state=state)
    routes = {str(r.to): r.via for r in cfg.routes}
    assert routes["198.18.1.0/24"] == "kernel" and routes["198.18.2.0/24"] == "kernel"
    assert routes["198.19.128.0/17"] == "kernel"
    to_gw = cfg.nexthops[routes["198.19.0.0/16"]]
    assert (to_gw.ifindex, to_gw.mac, to_gw.src_mac, to_gw.mtu) == (
        3,
        "02:00:00:00:02:01",
        "02:00:00:00:00:03",
        9000,
    )
    assert routes["198.18.2.1/32"] == routes["198.19.0.0/16"]  # one next hop for the same neighbour
    assert cfg.nexthops[routes["198.18.1.1/32"]].ifindex == 2
    assert {str(x) for x in cfg.local} == {"198.18.1.254", "198.18.2.254"}
    # a new neighbour later: existing next hops keep their ids
    more = _state({**state.neighbours, (2, a("198.18.1.2")): "02:00:00:00:01:02"})
    again = table_from_netns(state=more, previous=cfg)
    assert {i: nh for i, nh in cfg.nexthops.items()}.items() <= again.nexthops.items()
    # an unresolved gateway: its routes stay with the kernel
    bare = table_from_netns(state=_state({}))
    assert {str(r.to): r.via for r in bare.routes}["198.19.0.0/16"] == "kernel" and not bare.nexthops


# --- what a packet sees while a route change is written -------------------------------------


def _writes(old: dict, new: dict) -> list[tuple[object, object]]:
    """Map.sync_to's writes for one map: adds and changes in ``new``'s order, then removals."""
    out = [(k, v) for k, v in new.items() if old.get(k) != v]
    return out + [(k, None) for k in old.keys() - new.keys()]


@settings(max_examples=40, deadline=None)
@given(
    old=st.dictionaries(prefixes4, st.integers(1, 9), max_size=10),
    new=st.dictionaries(prefixes4, st.integers(1, 9), max_size=10),
    probes=st.lists(st.integers(0, (1 << 17) - 1), min_size=1, max_size=12),
)
def test_a_packet_follows_a_covering_route_of_the_old_or_new_table_at_every_write(
    old: dict, new: dict, probes: list[int]
) -> None:
    """Replay, write by write, what applying ``new`` over ``old`` does to the IPv4 maps (in
    map_entries' order); after every write each destination still gets a next hop of a route
    of the old or the new table that covers it, or no route: never a route that does not."""
    tables = {}
    for name, routes in (("old", old), ("new", new)):
        nexthops = {i: NH for i in range(1, 10)}
        cfg = RouterConfig.model_validate(
            {"nexthops": nexthops, "routes": [{"to": str(n), "via": v} for n, v in routes.items()]}
        )
        tables[name] = cfg.map_entries()
    state = {m: dict(tables["old"][m]) for m in ("router_more4", "router_root4")}
    addresses = [ipaddress.IPv4Address(198 << 24 | 18 << 16 | p) for p in probes]
    addresses += [n.network_address for n in [*old, *new]]
    allowed = {a: {0} | {nh for n, nh in [*old.items(), *new.items()] if a in n} for a in addresses}
    for name in ("router_more4", "router_root4"):  # the order map_entries() gives
        for key, value in _writes(tables["old"][name], tables["new"][name]):
            if value is None:
                del state[name][key]
            else:
                state[name][key] = value
            now = T.Tables(state["router_root4"], state["router_more4"], {}, {})
            for a in addresses:
                assert T.lookup(now, a) in allowed[a], (a, name, key)
    final = T.Tables(state["router_root4"], state["router_more4"], {}, {})
    for a in addresses:
        best = max((n for n in new if a in n), key=lambda n: n.prefixlen, default=None)
        assert T.lookup(final, a) == (new[best] if best is not None else 0)
