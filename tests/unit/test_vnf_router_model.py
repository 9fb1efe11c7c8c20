"""router: config validation, route-table expansion against plain LPM, the model's rules, kernel import."""

from __future__ import annotations

import ipaddress
import itertools

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
from alveole.vnf.router.update import MAPS, DictSlots, TableFullError, Writer, plan_family, release

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
            "routes: IPv4 routes need",
        ),
    ],
)
def test_consistency_errors_say_where(value: dict, says: str) -> None:
    # the last one: 1024 slots are 4 chunks, 3 usable; the /32s need a chunk per /24 and one for 198.18
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
            "table_size": 4000,
        }
    )
    assert cfg.rodata() == {"router_mode": 0, "fib_flags": 0}
    assert RouterConfig(mode="fib", fib_direct=True).rodata() == {"router_mode": 1, "fib_flags": 1}
    assert cfg.map_sizes() == {"router_tbl4": 4096, "router_tbl6": 4096}  # whole chunks
    e = cfg.map_entries()
    assert list(e) == list(MAPS)
    assert e["router_ports"] == {4: 4, 9: 9}
    assert e["router_egress"] == {1: (bytes.fromhex("0200000001fe"), 1500, 4)}
    assert e["router_nh"] == {2: (bytes.fromhex("020000000101"), 1)}
    # 198.19/16 -> 2 in the root, with a link to chunk 1 (bits 16..24), whose slot 0 links
    # chunk 2 (bits 24..32), whose slot 1 sends 198.19.0.1 to the kernel
    assert e["router_root4"] == {(198 << 8) | 19: 2 | 1 << T.LINK_SHIFT}
    assert e["router_tbl4"] == {T.CHUNK + 0: 2 << T.LINK_SHIFT, 2 * T.CHUNK + 1: T.NH_KERNEL}
    # one IPv6 route: a leaf, guard record 64 (the first of chunk 1, a record page)
    assert e["router_root6"] == {0x2001: T.GUARD | 64 << T.LINK_SHIFT}
    assert e["router_tbl6"] == {256: 0x20010DB800010000, 258: T.NH_KERNEL, 259: 48}
    assert RouterConfig.model_validate(cfg.model_dump(mode="json")) == cfg


# --- tables ----------------------------------------------------------------------------------


def _shape(*routes: tuple[str, int]) -> T.Shape:
    return T.build([(ipaddress.ip_network(n), nh) for n, nh in routes]).v4.shape


def test_expansion_counts() -> None:
    sh = _shape(("198.18.0.0/15", 1))
    assert sh.root == {198 << 8 | 18: (1, None), 198 << 8 | 19: (1, None)} and not sh.chunks  # 2 root slots
    sh = _shape(("198.18.4.0/22", 2))
    assert sh.chunks == {("c", 24, 198 << 8 | 18): {i: (2, None) for i in range(4, 8)}}
    assert len(_shape(("0.0.0.0/0", 1)).root) == 1 << 16
    assert [T.level_of(n) for n in (0, 16, 17, 24, 25, 64, 121, 128)] == [16, 16, 24, 24, 32, 64, 128, 128]
    # IPv6: one route is a leaf record; routes branching below a shared /32 get a guard and a chunk
    six = T.build([(ipaddress.ip_network("2001:db8::/48"), 1)]).v6.shape
    assert six.records == {("r", 48, 0x20010DB80000): (1, None)} and not six.chunks
    six = T.build([(ipaddress.ip_network(n), 1) for n in ("2001:db8:1::/48", "2001:db8:2::/48")]).v6.shape
    assert set(six.chunks) == {("c", 48, 0x20010DB800)}
    assert six.records[("r", 40, 0x20010DB800)] == (0, ("c", 48, 0x20010DB800))


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
    st.sampled_from([16, 32, 33, 40, 47, 48, 56, 63, 64, 100, 127, 128]),
    st.integers(0, (1 << 96) - 1),
)
# IPv6 probes close to each other: a few bits vary at every level
probe_bits6 = st.lists(st.sampled_from([0, 1, 5, 31, 32, 47, 63, 64, 96, 120, 127]), max_size=4)


def _probes6(bits_lists: list[list[int]]) -> list[ipaddress.IPv6Address]:
    base = 0x20010DB8 << 96
    return [
        ipaddress.IPv6Address(base | sum(1 << (127 - b) for b in set(bits)) & ((1 << 96) - 1))
        for bits in bits_lists
    ]


def _walk(t: T.Tables, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    fam, lay = (T.V4, t.v4) if addr.version == 4 else (T.V6, t.v6)
    return T.lookup(fam, T.Sparse(lay.root), T.Sparse(lay.table), addr)


def _lpm(routes: dict, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    best = max(
        (n for n in routes if n.version == addr.version and addr in n),
        key=lambda n: n.prefixlen,
        default=None,
    )
    return routes[best] if best is not None else 0


@settings(max_examples=60, deadline=None)
@given(
    routes=st.dictionaries(st.one_of(prefixes4, prefixes6), st.integers(1, 0xFFFF), max_size=30),
    probes=st.lists(st.integers(0, (1 << 17) - 1), min_size=1, max_size=20),
    probes6=st.lists(probe_bits6, max_size=10),
)
def test_expanded_tables_answer_like_plain_lpm(routes: dict, probes: list[int], probes6: list) -> None:
    """The walk over the tables (what the kernel does) equals direct matching (the model)."""
    t = T.build(list(routes.items()))
    addresses: list = [ipaddress.IPv4Address(198 << 24 | 18 << 16 | p) for p in probes] + _probes6(probes6)
    addresses += [net.network_address for net in routes] + [net.broadcast_address for net in routes]
    for addr in addresses:
        assert _walk(t, addr) == _lpm(routes, addr), addr


@settings(max_examples=60, deadline=None)
@given(
    routes=st.dictionaries(st.one_of(prefixes4, prefixes6), st.just(1), max_size=25),
    more=st.one_of(prefixes4, prefixes6),
)
def test_one_route_costs_at_most_two_chunks(routes: dict, more: ipaddress._BaseNetwork) -> None:
    """The memory bound docs/vnfs/router.md gives: a route adds at most 2 chunks (IPv4), or 1
    chunk and 2 guard records (IPv6)."""
    before = T.build(list(routes.items())).family(more.version)
    after = T.build([*routes.items(), (more, 1)]).family(more.version)
    chunks = len(after.alloc.chunks) - len(before.alloc.chunks)
    records = len(after.alloc.records) - len(before.alloc.records)
    max_chunks, max_records = (2, 0) if more.version == 4 else (1, 2)
    assert chunks <= max_chunks and records <= max_records


def _plan(fam: T.Family, old: dict, new: dict, nchunks: int = 1 << 12) -> tuple[Writer, dict]:
    """The writes that bring a fresh router's tables for routes ``old`` to routes ``new``."""
    before = T.build(list(old.items())).family(fam.version)
    slots = {fam.root: DictSlots(before.root), fam.table: DictSlots(before.table)}
    w = Writer(slots)
    freed = plan_family(fam, w, T.build(list(new.items())).family(fam.version).shape, nchunks)
    release(w, [(fam, freed)])
    return w, slots


def test_table_diffs_touch_only_what_changed() -> None:
    base = {ipaddress.ip_network(f"198.19.{i}.0/24"): 1 for i in range(50)}
    w, _ = _plan(T.V4, base, {**base, ipaddress.ip_network("198.19.7.128/25"): 2})
    # a new chunk for 198.19.7 (128 slots; written before it is linked), then the link in the
    # /24's slot; the root is untouched, nothing freed (no grace period)
    assert dict(w.counts) == {"router_tbl4": [128, 1, 0]}
    assert None not in w.steps and w.steps[-1] == ("router_tbl4", T.CHUNK + 7, 1 | 2 << T.LINK_SHIFT)
    # and back: the link goes first, the chunk is zeroed after a grace period
    w, _ = _plan(T.V4, {**base, ipaddress.ip_network("198.19.7.128/25"): 2}, base)
    assert w.steps[0] == ("router_tbl4", T.CHUNK + 7, 1) and w.steps[1] is None
    assert dict(w.counts) == {"router_tbl4": [0, 1, 128]}


def test_a_table_too_small_for_old_and_new_side_by_side() -> None:
    """3 usable chunks: old and new need 2 each. What goes away is unlinked and freed first."""
    old = {ipaddress.ip_network("198.18.1.0/25"): 1}
    new = {ipaddress.ip_network("198.19.1.0/25"): 2}
    w, slots = _plan(T.V4, old, new, nchunks=4)
    assert w.steps.count(None) == 1 and w.steps.index(None) < len(w.steps) - 1
    _apply(w.steps, slots)
    for addr, nh in (("198.19.1.5", 2), ("198.18.1.5", 0)):
        assert T.lookup(T.V4, slots["router_root4"], slots["router_tbl4"], ipaddress.ip_address(addr)) == nh
    with pytest.raises(TableFullError):
        _plan(T.V4, {}, {ipaddress.ip_network(f"198.{18 + i}.1.0/25"): 1 for i in range(2)}, nchunks=4)


def _apply(steps: list, slots: dict) -> None:
    for step in steps:
        if step is not None:
            name, i, v = step
            slots[name][i] = v


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


def _reach(fam: T.Family, read, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> set[int]:
    """Every next hop a walk to ``addr`` can meet. ``read(map, slot, t)``: the values a read
    made at time t or later can return, each with the earliest time it can have been read
    (reads happen in order: what follows a link is read after the link was)."""
    a, m32 = int(addr), 0xFFFFFFFF
    hi, lo = (a >> 64, a & ((1 << 64) - 1)) if fam.version == 6 else (0, 0)
    stack = [(e, 16, t) for t, e in read(fam.root, a >> 16 if fam.version == 4 else hi >> 48, 0)]
    seen, found = set(), set()
    while stack:
        e, done, t = stack.pop()
        if (e, done, t) in seen:
            continue
        seen.add((e, done, t))
        found.add(e & T.NH_MASK)
        link = (e >> T.LINK_SHIFT) & m32
        if not link:
            continue
        if fam.version == 4:
            if done < 32:
                nxt = (link << 8 | (a >> (24 - done)) & 0xFF) & m32
                stack += [(v, done + 8, tv) for tv, v in read(fam.table, nxt, t)]
        elif e & T.GUARD:
            r = link * T.RECORD
            for words in itertools.product(*(read(fam.table, r + i, t) for i in range(4))):
                (_, rhi), (_, rlo), (_, rentry), (_, rlen) = words
                if T._match6(hi, lo, rhi, rlo, rlen & m32):
                    stack.append((rentry, rlen & m32, max(tv for tv, _ in words)))
        else:
            nxt = (link << 8 | T._byte6(hi, lo, done)) & m32
            stack += [(v, done + 8, tv) for tv, v in read(fam.table, nxt, t)]
    return found - {0}


def _check_every_write(fam: T.Family, old: dict, new: dict, addresses: list, nchunks: int) -> None:
    """Replay the update's writes. A walk never spans a grace period; between two, it may
    start at any write and read each slot at any later one: every next hop it can meet
    must be one of a route of the old or the new table covering the destination."""
    w, slots = _plan(fam, old, new, nchunks)
    allowed = {a: {nh for n, nh in [*old.items(), *new.items()] if a in n} for a in addresses}
    stretches: list[list] = [[]]
    for step in w.steps:
        if step is None:
            stretches.append([])
        else:
            stretches[-1].append(step)
    for writes in stretches:
        timeline: dict[tuple[str, int], list[tuple[int, int]]] = {}
        for t, (name, i, v) in enumerate(writes, 1):
            timeline.setdefault((name, i), [(0, slots[name][i])]).append((t, v))

        def read(name: str, i: int, t: int, timeline: dict = timeline) -> list[tuple[int, int]]:
            line = timeline.get((name, i))
            if line is None:
                return [(t, slots[name][i])]
            now = [v for tv, v in line if tv <= t][-1]
            return [(t, now)] + [(tv, v) for tv, v in line if tv > t]

        for a in addresses:
            assert _reach(fam, read, a) <= allowed[a], (a, writes[:3])
        _apply(writes, slots)
    for a in addresses:
        assert T.lookup(fam, slots[fam.root], slots[fam.table], a) == _lpm(new, a), a
    # nothing left behind: exactly as many non-zero slots as a fresh table of ``new``
    fresh = T.build(list(new.items())).family(fam.version)
    assert sum(1 for v in slots[fam.table].values() if v) == len(fresh.table)


@settings(max_examples=40, deadline=None)
@given(
    old=st.dictionaries(prefixes4, st.integers(1, 9), max_size=10),
    new=st.dictionaries(prefixes4, st.integers(1, 9), max_size=10),
    probes=st.lists(st.integers(0, (1 << 17) - 1), min_size=1, max_size=12),
    tight=st.booleans(),
)
def test_a_packet_follows_a_covering_route_of_the_old_or_new_table_at_every_write(
    old: dict, new: dict, probes: list[int], tight: bool
) -> None:
    """IPv4: replay, write by write, what applying ``new`` over ``old`` does to the maps; at
    every write each destination gets a next hop of a route of the old or the new table that
    covers it, or no route: never a route that does not. ``tight``: a table with no room for
    both side by side (what goes away is unlinked first)."""
    addresses = [ipaddress.IPv4Address(198 << 24 | 18 << 16 | p) for p in probes]
    addresses += [n.network_address for n in [*old, *new]]
    need = max(T.build(list(r.items())).v4.chunks for r in (old, new))
    _check_every_write(T.V4, old, new, addresses, need + 1 if tight else 1 << 12)


@settings(max_examples=40, deadline=None)
@given(
    old=st.dictionaries(prefixes6, st.integers(1, 9), max_size=10),
    new=st.dictionaries(prefixes6, st.integers(1, 9), max_size=10),
    probes=st.lists(probe_bits6, min_size=1, max_size=12),
    tight=st.booleans(),
)
def test_ipv6_guards_and_leaves_keep_it_at_every_write(
    old: dict, new: dict, probes: list, tight: bool
) -> None:
    """The same for IPv6, whose records and skipped levels change shape as routes come and go."""
    addresses = _probes6(probes) + [n.network_address for n in [*old, *new]]
    need = max(T.build(list(r.items())).v6.chunks for r in (old, new))
    _check_every_write(T.V6, old, new, addresses, need + 1 if tight else 1 << 12)
