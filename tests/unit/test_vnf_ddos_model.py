"""The ddos guard without the kernel: config translation, the blocklist trie, the reference model."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from alveole.errors import VnfConfigError
from alveole.vnf import Verdict, get
from alveole.vnf.bucket import bucket_conf
from alveole.vnf.ddos import (
    DdosConfig,
    DdosModel,
    PrefixSet,
    Reason,
    compile_table,
    contains,
    normalize,
    walk,
)
from alveole.vnf.ddos.blocklist import TOP, WIDTH, _Builder, key_network, node_key
from alveole.vnf.ddos.cost import FRAMES, cost_rows, prefixes_v4, prefixes_v6, sources

ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
V4 = ipaddress.IPv4Network("198.18.0.0/15")
V6 = ipaddress.IPv6Network("2001:db8::/32")


def _syn(src: str, flags: str = "S") -> bytes:
    l3 = IPv6(src=src, dst="2001:db8:ffff::1") if ":" in src else IP(src=src, dst="198.19.0.1")
    return bytes(ETH / l3 / TCP(sport=1, dport=80, flags=flags))


def test_config_to_kernel() -> None:
    cfg = DdosConfig(
        blocklist=("198.18.0.0/24", "198.18.1.7/32", "2001:db8:1::/48"), syn_rate=1000, syn_burst=5
    )
    assert cfg.rodata() == {"alv_clock": 0}
    assert cfg.map_sizes() == {
        "ddos_block4": 65536,
        "ddos_block6": 65536,
        "ddos_syn4": 65536,
        "ddos_syn6": 65536,
    }
    entries = cfg.map_entries()
    assert list(entries) == ["ddos_block4", "ddos_block6", "ddos_settings"]  # tables before the settings
    v4 = entries["ddos_block4"]
    # /16 node (a /24 bit, a deeper bit for 198.18.1) and the 198.18.1 node (bit 7); deepest first
    assert [key_network(k) for k in v4] == [
        ipaddress.ip_network("198.18.1.0/24"),
        ipaddress.ip_network("198.18.0.0/16"),
    ]
    assert entries["ddos_settings"] == {
        0: {
            "syn": bucket_conf(1000, 5).as_map_value(),
            "syn_prefix4": 32,
            "syn_prefix6": 64,
            "nodes4": 2,
            "nodes6": 2,
        }
    }
    # the /48 is bit 0x01 of the 2001:db8:0000::/40 node, which the /32 node's deeper bit 0x00 leads to
    v6 = entries["ddos_block6"]
    assert [key_network(k) for k in v6] == [
        ipaddress.ip_network("2001:db8::/40"),
        ipaddress.ip_network("2001:db8::/32"),
    ]
    nodes = compile_table(cfg.blocklist, 6)
    top, node40 = nodes[node_key(6, 32, 0x20010DB8)], nodes[node_key(6, 40, 0x20010DB800)]
    assert top.deeper == 1 << 0x00 and not top.blocked and not top.all
    assert node40.blocked == 1 << 0x01 and not node40.deeper
    assert v6[node_key(6, 40, 0x20010DB800)] == node40.as_map_value()


def test_no_syn_limit_and_virtual_clock() -> None:
    cfg = DdosConfig(syn_rate=None, clock="virtual", clock_step_ns=5)
    assert cfg.map_entries()["ddos_settings"][0]["syn"] == {}
    assert cfg.rodata() == {"alv_clock": 2, "alv_clock_step_ns": 5}


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"blocklist": ["198.18.0.1/24"]}, "blocklist.0"),
        ({"table_size_v6": 8}, "table_size_v6"),
        ({"blocklist": ["198.18.0.0/15"], "table_size_v4": 16}, None),  # 2 nodes: fits
        ({"syn_rate": 0}, "syn_rate"),
        ({"syn_prefix_v6": 129}, "syn_prefix_v6"),
        ({"syn_burst": 0}, "syn_burst"),
        ({"clock": "sundial"}, "clock"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_config_errors_name_the_field(value: dict, field: str | None) -> None:
    if field is None:
        get("ddos").validate(value)
        return
    with pytest.raises(VnfConfigError) as info:
        get("ddos").validate(value)
    assert field in [loc for loc, _ in info.value.errors]


def test_blocklist_too_large_for_its_table() -> None:
    nets = [f"198.18.{i}.1/32" for i in range(20)]  # 20 /24 nodes + the /16 node
    with pytest.raises(VnfConfigError) as info:
        get("ddos").validate({"blocklist": nets, "table_size_v4": 16})
    [(loc, msg)] = info.value.errors
    assert loc == "blocklist" and "table_size_v4" in msg


def test_normalize_drops_covered_prefixes() -> None:
    nets = [
        ipaddress.ip_network(n) for n in ("198.18.0.0/24", "198.18.0.7/32", "198.18.0.0/16", "198.19.0.0/24")
    ]
    assert normalize(nets + nets) == [
        ipaddress.ip_network("198.18.0.0/16"),
        ipaddress.ip_network("198.19.0.0/24"),
    ]


def test_node_keys_carry_the_level_in_their_last_byte() -> None:
    assert node_key(4, 16, 0xC612) == bytes([198, 18, 0, 16])
    assert node_key(6, 120, int(ipaddress.IPv6Address("2001:db8::abcd:ef00")) >> 8)[-1] == 120
    assert key_network(bytes([198, 18, 5, 24])) == ipaddress.ip_network("198.18.5.0/24")


def test_expansion_and_node_counts() -> None:
    assert len(compile_table([V4], 4)) == 2  # a /15 is two /16 nodes with "all"
    assert len(compile_table([V6], 6)) == 1  # the top level itself
    deep = compile_table([ipaddress.ip_network("2001:db8:0:1::7/128")], 6)
    assert len(deep) == 12  # /32, /40, ..., /120: one node per 8 bits
    assert len(compile_table(prefixes_v4(), 4)) == 2 + 512  # two /16 nodes, and every /24 holds some


def _nets(family: int, top: int) -> st.SearchStrategy:
    """Prefixes inside the test ranges; with a smaller top, IPv6 can test expansion too."""
    base = V4 if family == 4 else V6

    @st.composite
    def net(draw):  # type: ignore[no-untyped-def]
        plen = draw(st.integers(base.prefixlen, base.max_prefixlen))
        offset = draw(st.integers(0, base.num_addresses - 1))
        if draw(st.booleans()):
            offset &= 0xFF  # cluster near the start so prefixes overlap
        return ipaddress.ip_network((int(base.network_address) + offset, plen), strict=False)

    return st.lists(net(), max_size=12)


def _addresses(family: int) -> st.SearchStrategy:
    base = V4 if family == 4 else V6
    return st.lists(
        st.one_of(st.integers(0, 600), st.integers(0, base.num_addresses - 1)).map(
            lambda i: base.network_address + i
        ),
        min_size=1,
        max_size=40,
    )


@settings(max_examples=150, deadline=None)
@given(data=st.data(), family=st.sampled_from([4, 6]))
def test_the_trie_walk_means_the_blocklist(data: st.DataObject, family: int) -> None:
    nets = data.draw(_nets(family, TOP[family]))
    table = compile_table(nets, family)
    for addr in data.draw(_addresses(family)):
        assert walk(table, addr) == contains(nets, addr), (nets, addr)
    for net in nets:  # the edges of every prefix
        assert walk(table, net.network_address) and walk(table, net.broadcast_address)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_ipv6_prefixes_wider_than_the_top_level_expand(data: st.DataObject) -> None:
    """Expansion for IPv6 with a /40 top (test addresses stay inside 2001:db8::/32)."""
    nets = data.draw(_nets(6, 40))
    b = _Builder(40, WIDTH[6], None)
    for n in normalize(nets):
        b.add(n)
    table = {node_key(6, level, prefix): node for (level, prefix), node in b.nodes.items()}

    def walk40(addr: ipaddress.IPv6Address) -> bool:
        value, level = int(addr), 40
        while level < 128:
            node = table.get(node_key(6, level, value >> (128 - level)))
            if node is None:
                return False
            if node.all:
                return True
            c = (value >> (120 - level)) & 0xFF
            if node.blocked >> c & 1:
                return True
            if not node.deeper >> c & 1:
                return False
            level += 8
        return False

    for addr in data.draw(_addresses(6)):
        assert walk40(addr) == contains(nets, addr)


def _sync_states(old: dict[bytes, object], new: dict[bytes, object]):  # type: ignore[no-untyped-def]
    """Every state Map.sync_to goes through from ``old`` to ``new``: writes in order, then removals."""
    state = dict(old)
    yield dict(state)
    for k, v in new.items():
        if state.get(k) != v:
            state[k] = v
            yield dict(state)
    for k in [k for k in old if k not in new]:
        del state[k]
        yield dict(state)


@settings(max_examples=120, deadline=None)
@given(data=st.data(), family=st.sampled_from([4, 6]))
def test_a_change_is_seen_as_the_old_or_the_new_blocklist(data: st.DataObject, family: int) -> None:
    """While the diff is written, every address is judged by the old list or the new one, never
    by a mix that drops what neither drops, or passes what both drop."""
    old_nets, new_nets = data.draw(_nets(family, TOP[family])), data.draw(_nets(family, TOP[family]))
    old, new = compile_table(old_nets, family), compile_table(new_nets, family)
    addresses = data.draw(_addresses(family)) + [n.network_address for n in old_nets + new_nets]
    for state in _sync_states(old, new):
        for addr in addresses:
            assert walk(state, addr) in (contains(old_nets, addr), contains(new_nets, addr)), (addr, state)


def test_model_blocks_by_source_and_counts() -> None:
    m = DdosModel(DdosConfig(blocklist=("198.18.0.0/24", "2001:db8:bad::/48"), syn_rate=None))
    assert (
        m.process(bytes(ETH / IP(src="198.18.0.9", dst="198.19.0.1") / UDP()), "xdp").verdict == Verdict.DROP
    )
    assert (
        m.process(bytes(ETH / IP(src="198.19.0.1", dst="198.18.0.9") / UDP()), "xdp").verdict
        == Verdict.CONTINUE
    )
    assert m.process(_syn("2001:db8:bad::1"), "tc").verdict == Verdict.DROP
    assert m.drops[Reason.BLOCKLIST][0] == 2 and not m.buckets


def test_model_syn_buckets_on_the_virtual_clock() -> None:
    m = DdosModel(DdosConfig(syn_rate=1000, syn_burst=2, clock="virtual", clock_step_ns=400_000))
    verdicts = [m.process(_syn("198.18.0.1"), "xdp").verdict for _ in range(3)]
    assert verdicts == [Verdict.CONTINUE, Verdict.CONTINUE, Verdict.DROP]
    assert m.process(_syn("198.18.0.1", "SA"), "xdp").verdict == Verdict.CONTINUE  # not a SYN
    assert m.clock.now == 1_200_000  # type: ignore[attr-defined]  # three readings, none for the SYN-ACK
    assert m.buckets == {ipaddress.ip_address("198.18.0.1"): 2_400_000}
    assert m.drops[Reason.SYN_FLOOD] == [1, len(_syn("198.18.0.1"))]


def test_model_groups_ipv6_sources_by_prefix() -> None:
    m = DdosModel(DdosConfig(syn_rate=1000, syn_burst=1, clock="virtual"))
    assert m.process(_syn("2001:db8::1"), "xdp").verdict == Verdict.CONTINUE
    assert m.process(_syn("2001:db8::2"), "xdp").verdict == Verdict.DROP  # the same /64
    assert set(m.buckets) == {ipaddress.ip_address("2001:db8::")}


def test_cost_rows_data_is_what_their_notes_say() -> None:
    v4, v6 = prefixes_v4(), prefixes_v6()
    assert len(set(v4)) == len(v4) == 10_000 and all(n.subnet_of(V4) for n in v4)
    assert len(set(v6)) == len(v6) == 10_000 and all(n.subnet_of(V6) for n in v6)
    blocked = PrefixSet([*v4, *v6])
    notes = {r.name: r.note for r in cost_rows()}
    for family, row in ((4, "ddos-10k-prefixes"), (6, "ddos-10k-prefixes-ipv6")):
        share = sum(s in blocked for s in sources(family)) / FRAMES
        assert f"{round(share * 100)} % of them blocked" in notes[row]
