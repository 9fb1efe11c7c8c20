"""The firewall without the kernel: config validation, match semantics, the compiled
classifier against a linear first match, the reference model on the fixture table."""

from __future__ import annotations

import dataclasses
import ipaddress
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alveole.errors import VnfConfigError
from alveole.vnf import Verdict, get
from alveole.vnf.firewall import FirewallConfig, FirewallModel, compile_classifier, final
from alveole.vnf.firewall import classifier as C
from alveole.vnf.firewall.classifier import DEPTH_MAX, LEAF_MAX, proto_class
from alveole.vnf.firewall.config import parse_ports
from alveole.vnf.firewall.final import final_ranks
from alveole.vnf.firewall.generate import frame_of, probe_keys, random_rules, rules_within
from alveole.vnf.firewall.match import DPORTX_NONE, ICMP_BASE, Match, PacketKey, first_match, key_of
from alveole.vnf.firewall.strategies import rules as rule_dicts
from alveole.vnf.firewall.tables import RuleHits, table_sizes, top_rules
from alveole.vnf.parse import parse

SPEC = get("firewall")


def _cfg(rules: list[dict], **kw: object) -> FirewallConfig:
    return SPEC.validate({"rules": rules, **kw})  # type: ignore[return-value]


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"src": "198.18.0.0/15", "dst": "2001:db8::/32", "action": "drop"},
            r"rules\.1: .*src is IPv4 but dst is IPv6",
        ),
        (
            {"src": "2001:db8::/32", "proto": "icmp", "action": "drop"},
            r"rules\.1: .*proto icmp does not go with IPv6",
        ),
        (
            {"dst": "198.18.0.1", "proto": "icmpv6", "action": "drop"},
            r"rules\.1: .*icmpv6 does not go with IPv4",
        ),
        (
            {"proto": "icmp", "dport": 80, "action": "drop"},
            r"rules\.1: .*sport/dport need proto tcp, udp or any",
        ),
        (
            {"proto": "tcp", "icmp_type": 8, "action": "drop"},
            r"rules\.1: .*icmp_type needs proto icmp or icmpv6",
        ),
        ({"dport": "80-20", "action": "drop"}, r"rules\.1\.dport: .*80-20 is not within"),
        ({"sport": "http", "action": "drop"}, r"rules\.1\.sport: .*not a port or a range"),
        ({"src": "198.18.0.0/33", "action": "drop"}, r"rules\.1\.src: .*not an IPv4 or IPv6 prefix"),
        ({"proto": "gre", "action": "drop"}, r"rules\.1\.proto: .*expected any, icmp, tcp"),
        ({"proto": 300, "action": "drop"}, r"rules\.1\.proto"),
        ({"action": "reject"}, r"rules\.1\.action"),
        ({"src": "198.18.0.0/15", "action": "accept", "colour": "red"}, r"rules\.1\.colour: Extra inputs"),
    ],
)
def test_errors_name_the_rule_and_the_field(rule: dict, message: str) -> None:
    with pytest.raises(VnfConfigError, match=message):
        _cfg([{"action": "accept", "dport": 22, "proto": "tcp"}, rule])


def test_duplicates_and_ids() -> None:
    with pytest.raises(VnfConfigError, match=r"rules\.1: same match and action as rules\.0"):
        _cfg([{"dport": 22, "proto": "tcp", "action": "drop"}, {"dport": "22", "proto": 6, "action": "drop"}])
    with pytest.raises(VnfConfigError, match=r"rules\.1\.id: 'ssh' is already the id of rules\.0"):
        _cfg([{"id": "ssh", "dport": 22, "action": "drop"}, {"id": "ssh", "dport": 23, "action": "drop"}])
    # the same match with ids, or with another action, is allowed
    _cfg([{"id": "a", "dport": 22, "action": "drop"}, {"id": "b", "dport": 22, "action": "drop"}])
    _cfg([{"dport": 22, "action": "drop"}, {"dport": 22, "action": "accept"}])
    with pytest.raises(VnfConfigError, match="capacity: 2 rules do not fit a capacity of 1"):
        _cfg([{"dport": 1, "action": "drop"}, {"dport": 2, "action": "drop"}], capacity=1)


def test_parsing_forms() -> None:
    assert parse_ports("1024-65535") == (1024, 65535)
    assert parse_ports(80) == parse_ports("80") == (80, 80)
    assert parse_ports("any") is None
    cfg = _cfg(
        [
            {"src": "198.18.0.77/24", "dst": "any", "proto": "ANY", "action": "accept"},
            {"src": "2001:db8::1", "proto": "icmpv6", "icmp_type": 128, "action": "accept"},
            {"proto": "17", "sport": [53, 53], "action": "drop"},
        ]
    )
    a, b, c = cfg.rules
    assert a.src == ipaddress.ip_network("198.18.0.0/24") and a.dst is None and a.proto is None
    assert b.src == ipaddress.ip_network("2001:db8::1/128") and b.family == 6 and b.proto == 58
    assert c.proto == 17 and c.sport == (53, 53) and c.family == 0
    assert a.describe() == "accept any 198.18.0.0/24 -> any"
    again = SPEC.validate(cfg.model_dump(mode="json"))  # a config survives a JSON round trip
    assert again == cfg


def test_priority_then_list_order() -> None:
    cfg = _cfg(
        [
            {"id": "a", "dport": 1, "action": "accept"},
            {"id": "b", "dport": 2, "action": "accept", "priority": -5},
            {"id": "c", "dport": 3, "action": "accept", "priority": 10},
            {"id": "d", "dport": 4, "action": "accept"},
        ]
    )
    assert [cfg.rules[i].id for i in cfg.ordered] == ["b", "a", "d", "c"]


# --- match semantics ----------------------------------------------------------------------------


def _key(packet: object) -> PacketKey:
    key = key_of(parse(bytes(packet)))  # type: ignore[call-overload]
    assert key is not None
    return key


def test_keys_of_packets() -> None:
    from scapy.layers.inet import ICMP, IP, TCP
    from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
    from scapy.layers.l2 import ARP, Ether

    eth = Ether()
    tcp = _key(eth / IP(src="198.18.0.1", dst="198.19.0.2") / TCP(sport=1234, dport=443))
    assert (tcp.family, tcp.proto, tcp.sport, tcp.dportx) == (4, 6, 1234, 443)
    assert tcp.src == 0xFFFF << 32 | int(ipaddress.IPv4Address("198.18.0.1"))
    icmp = _key(eth / IP(src="198.18.0.1", dst="198.18.0.2") / ICMP(type=8))
    assert (icmp.sport, icmp.dportx) == (0, ICMP_BASE + 8)
    icmp6 = _key(eth / IPv6(src="2001:db8::1", dst="2001:db8::2") / ICMPv6EchoRequest())
    assert icmp6.dportx == ICMP_BASE + 128 and icmp6.family == 6
    later = _key(eth / IP(src="198.18.0.1", dst="198.18.0.2", frag=3, proto=17) / (b"x" * 8))
    assert (later.proto, later.sport, later.dportx) == (17, 0, DPORTX_NONE)
    gre = _key(eth / IP(src="198.18.0.1", dst="198.18.0.2", proto=47) / (b"x" * 8))
    assert gre.dportx == DPORTX_NONE
    icmp_in_v6 = _key(eth / IPv6(src="2001:db8::1", dst="2001:db8::2", nh=1) / ICMP())
    assert icmp_in_v6.dportx == DPORTX_NONE  # opaque: ICMP belongs to IPv4
    assert key_of(parse(bytes(eth / ARP()))) is None


def test_ports_never_match_icmp_and_fragments_match_portless_rules() -> None:
    cfg = _cfg(
        [
            {"id": "ports", "sport": "0-65535", "action": "drop"},
            {"id": "type8", "proto": "icmp", "icmp_type": 8, "action": "drop"},
            {"id": "tcp", "proto": "tcp", "action": "drop"},
        ]
    )
    m = cfg.matches
    icmp8 = PacketKey(4, 0, 0, 1, 0, ICMP_BASE + 8)
    assert first_match(m, icmp8) == 1
    assert first_match(m, PacketKey(4, 0, 0, 1, 0, ICMP_BASE + 0)) is None
    assert first_match(m, PacketKey(4, 0, 0, 6, 5, 80)) == 0
    assert first_match(m, PacketKey(4, 0, 0, 6, 0, DPORTX_NONE)) == 2  # a later TCP fragment
    assert proto_class(4, 1) == 2 and proto_class(6, 1) == 3 and proto_class(6, 58) == 2


# --- the classifier equals a linear first match ---------------------------------------------------


def _agree(cfg: FirewallConfig, keys: list[PacketKey]) -> None:
    c = compile_classifier(cfg.matches)
    for k in keys:
        assert c.lookup(k) == first_match(cfg.matches, k), k


@pytest.mark.parametrize(("n", "ipv6"), [(50, 0.0), (400, 0.3), (2000, 0.0)])
def test_classifier_equals_linear_first_match_on_random_rule_sets(n: int, ipv6: float) -> None:
    cfg = FirewallConfig(rules=random_rules(n, seed=n, ipv6=ipv6))
    keys = probe_keys(list(cfg.matches), 600, seed=n) + probe_keys(list(cfg.matches), 200, seed=n, family=6)
    _agree(cfg, keys)
    c = compile_classifier(cfg.matches)
    assert max(c.depth.values()) < DEPTH_MAX
    runs = [c.leaves[s.base : s.base + s.kmask] for s in c.slots if s.leaf]
    assert all(len(r) <= LEAF_MAX and list(r) == sorted(r) for r in runs)  # leaves in priority order


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=st.lists(rule_dicts(), max_size=30), seed=st.integers(0, 1000))
def test_classifier_equals_linear_first_match_generated(rules: list[dict], seed: int) -> None:
    kept: list[dict] = []
    for r in rules:  # distinct identities only (validation refuses duplicates)
        try:
            FirewallConfig(rules=[*kept, r])
        except ValueError:
            continue
        kept.append(r)
    cfg = FirewallConfig(rules=kept)
    rng = random.Random(seed)
    keys = probe_keys(list(cfg.matches), 60, seed=seed) + probe_keys(
        list(cfg.matches), 30, seed=seed, family=6
    )
    keys += [
        PacketKey(4, 0xFFFF << 32 | (0xC612_0000 + rng.randrange(4)), 0xFFFF << 32 | 0xC612_0001, 6, 53, 80)
    ]
    _agree(cfg, keys)


def test_small_binth_and_no_partition_still_agree() -> None:
    cfg = FirewallConfig(rules=random_rules(300, seed=5))
    keys = probe_keys(list(cfg.matches), 400, seed=9)
    for kw in ({"binth": 1}, {"binth": 2, "spfac": 1.0}, {"partition": False}):
        c = compile_classifier(cfg.matches, **kw)  # type: ignore[arg-type]
        assert [c.lookup(k) for k in keys] == [first_match(cfg.matches, k) for k in keys]


def _bits(r: C.Slot) -> int:
    return sum(bin(m).count("1") for m in (r.kmask, r.kmask2, r.kmask3))


@pytest.mark.parametrize("extra_bit", [False, True])
def test_roots_that_cut_a_third_field_agree(monkeypatch: pytest.MonkeyPatch, extra_bit: bool) -> None:
    """Third cuts (large trees only) forced on a small rule set: every root block and, for
    packets outside the rules' 198.18.0.0/16, the third check's miss path; ``extra_bit``:
    roots of ROOT3_KMAX + 1 bits (the bit taken whenever it does not make things worse)."""
    monkeypatch.setattr(C, "ROOT3_MIN", 32)
    monkeypatch.setattr(C, "ROOT3_SPREAD", 0.0)
    if extra_bit:
        monkeypatch.setattr(C, "ROOT3_KMAX", 10)
        monkeypatch.setattr(C, "ROOT3_BIT_GAIN", 1.0)
    cfg = FirewallConfig(rules=rules_within(6000, "198.18.0.0/16", seed=3))
    c = compile_classifier(cfg.matches)
    roots = [r for trees in c.roots.values() for r, _ in trees]
    assert any(r.kmask3 and r.cmask3 for r in roots)
    if extra_bit:
        assert any(r.kmask3 and _bits(r) == 11 for r in roots)
    keys = probe_keys(list(cfg.matches), 800, seed=4)
    keys += [dataclasses.replace(k, dst=k.dst | 0x10000) for k in keys[:300]]  # 198.19/16
    keys += [dataclasses.replace(k, src=k.src | 0x10000) for k in keys[:200]]
    third_misses = sum(
        1
        for k in keys
        for r, _ in c.roots.get((4, proto_class(4, k.proto)), [])
        if r.kmask3 and C.key_words(k)[r.field3] & r.cmask3 != r.cvalue3
    )
    assert third_misses > 100
    assert [c.lookup(k) for k in keys] == [first_match(cfg.matches, k) for k in keys]


def _meets(a: Match, b: Match) -> bool:
    return all(
        getattr(a, d)[0] <= getattr(b, d)[1] and getattr(b, d)[0] <= getattr(a, d)[1]
        for d in ("src", "dst", "proto", "sport", "dportx")
    )


@pytest.mark.parametrize(("n", "ipv6"), [(400, 0.0), (600, 0.5), (300, 1.0)])
def test_final_rules_are_those_no_later_tree_can_beat(n: int, ipv6: float) -> None:
    """final_ranks against its definition, pair by pair, for every family and class."""
    matches = list(FirewallConfig(rules=random_rules(n, seed=n, ipv6=ipv6)).matches)
    seen_final = seen_beaten = 0
    for family in (4, 6):
        for cls in range(C.PROTO_CLASSES):
            mine = [
                (r, m)
                for r, m in enumerate(matches)
                if m.family in (0, family) and cls in C._classes(m, family)
            ]
            trees = [g for _, g in C._partition(mine, family)]
            expected = {
                r
                for i, tree in enumerate(trees)
                for r, m in tree
                if not any(r2 < r and _meets(m, m2) for later in trees[i + 1 :] for r2, m2 in later)
            }
            assert final_ranks(trees, family) == expected
            inner = {r for tree in trees[:-1] for r, _ in tree}
            seen_final += len(expected & inner)
            seen_beaten += len(inner - expected)
    assert seen_final and seen_beaten  # both kinds occur in trees that have a successor


def test_final_flags_past_their_budget_stay_correct(monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of budget, the rules not settled yet are left not final: fewer flags, none wrong."""
    matches = list(FirewallConfig(rules=random_rules(600, seed=3)).matches)
    mine = [(r, m) for r, m in enumerate(matches) if m.family in (0, 4) and 0 in C._classes(m, 4)]
    trees = [g for _, g in C._partition(mine, 4)]
    exact = final_ranks(trees, 4)
    monkeypatch.setattr(final, "PAIRS_MAX", 2000)
    bounded = final_ranks(trees, 4)
    assert bounded < exact


def test_a_final_match_ends_the_walk() -> None:
    """Same answers with and without the flags; with them, fewer trees walked."""
    cfg = FirewallConfig(rules=random_rules(3000, seed=2))
    c = compile_classifier(cfg.matches)
    keys = probe_keys(list(cfg.matches), 600, seed=5)
    assert any(c.final) and not all(c.final)
    with_flags = [c.walk(k) for k in keys]
    c.final = [0] * len(c.rules)
    without = [c.walk(k) for k in keys]
    assert (
        [w[0] for w in with_flags] == [w[0] for w in without] == [first_match(cfg.matches, k) for k in keys]
    )
    assert sum(w[1] for w in with_flags) < sum(w[1] for w in without)


# --- the model ------------------------------------------------------------------------------------


def test_model_agrees_with_every_fixture() -> None:
    model_by_config: dict[object, FirewallModel] = {}
    for row in SPEC.fixtures():
        cfg = SPEC.validate(row.config)
        model = model_by_config.setdefault(cfg, FirewallModel(cfg))  # type: ignore[arg-type]
        assert model.process(row.frame, "xdp").verdict == row.verdict, row.description


def test_model_counts_hits_per_rule_and_default() -> None:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import ARP, Ether

    cfg = _cfg([{"id": "ssh", "proto": "tcp", "dport": 22, "action": "drop"}], default="accept")
    m = FirewallModel(cfg)
    frame = bytes(Ether() / IP(src="198.18.0.1", dst="198.18.0.2") / TCP(dport=22))
    assert m.process(frame, "xdp").verdict == Verdict.DROP
    assert m.process(bytes(Ether() / IP() / TCP(dport=80)), "xdp").verdict == Verdict.CONTINUE
    assert m.process(bytes(Ether() / ARP()), "tc").verdict == Verdict.CONTINUE
    assert m.process(frame[:40], "xdp").verdict == Verdict.DROP
    assert m.hits == [[1, len(frame)]] and m.default[0] == 1
    assert m.other["not_ip"][0] == 1 and m.other["unparsed"][0] == 1


def test_generated_frames_carry_their_keys() -> None:
    cfg = FirewallConfig(rules=random_rules(200, seed=3, ipv6=0.5))
    for family in (4, 6):
        for k in probe_keys(list(cfg.matches), 100, family=family):
            assert _key(frame_of(k)) == k


def test_random_rules_are_reproducible_and_ordered() -> None:
    assert random_rules(300, seed=4) == random_rules(300, seed=4)
    assert random_rules(300, seed=4) != random_rules(300, seed=5)
    FirewallConfig(rules=random_rules(300, seed=4))  # valid: distinct, consistent families


def test_top_rules_and_table_sizes() -> None:
    cfg = _cfg([{"dport": p, "action": "drop"} for p in (1, 2, 3)])
    hits = [RuleHits(i, r, p, p * 100) for i, (r, p) in enumerate(zip(cfg.rules, (5, 0, 9), strict=True))]
    assert [h.index for h in top_rules(hits, 5)] == [2, 0]
    sizes = table_sizes(cfg)
    assert sizes["fw_hits"] == 16384 + 1 and sizes["fw_rules"] == 2 * 1024
    assert table_sizes(_cfg([{"dport": 1, "action": "drop"}])) == sizes  # small sets: same tables
    assert table_sizes(_cfg([{"dport": 1, "action": "drop"}], capacity=64))["fw_hits"] == 65


# --- stateful mode ---------------------------------------------------------------------------------


def test_stateful_config_reaches_the_kernel_at_load_and_by_diff() -> None:
    from alveole.conntrack import State
    from alveole.vnf.firewall.config import CT_IDLE_SIZE

    stateless = _cfg([])
    assert stateless.rodata() == {"fw_stateful": 0}
    assert stateless.map_sizes()["alv_ct4"] == stateless.map_sizes()["alv_ct6"] == CT_IDLE_SIZE
    cfg = _cfg([], stateful=True, conntrack_size=4096, timeouts={"established": 3600})
    assert cfg.rodata() == {"fw_stateful": 1}
    assert cfg.map_sizes()["alv_ct4"] == cfg.map_sizes()["alv_ct6"] == 4096
    assert cfg.map_sizes()["fw_rules"] == stateless.map_sizes()["fw_rules"]
    [conf] = cfg.map_entries()["alv_ct_conf"].values()
    assert conf["timeout_ns"][State.ESTABLISHED] == 3600 * 10**9
    with pytest.raises(VnfConfigError, match="conntrack_size"):
        _cfg([], conntrack_size=8)


def test_stateful_model_return_traffic_and_counters() -> None:
    from scapy.layers.inet import ICMP, IP, TCP
    from scapy.layers.l2 import Ether

    from alveole.conntrack import State

    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    c, s = "198.18.0.1", "198.19.0.1"
    rules = [{"id": "web", "src": "198.18.0.0/16", "proto": "tcp", "dport": 80, "action": "accept"}]
    m = FirewallModel(_cfg(rules, default="drop", stateful=True))

    def run(pkt: object) -> Verdict:
        return m.process(bytes(pkt), "xdp").verdict  # type: ignore[arg-type]

    syn = eth / IP(src=c, dst=s) / TCP(sport=999, dport=80, flags="S")
    assert run(eth / IP(src=s, dst=c) / TCP(sport=80, dport=999, flags="SA")) == Verdict.DROP
    assert run(syn) == Verdict.CONTINUE
    assert run(eth / IP(src=s, dst=c) / TCP(sport=80, dport=999, flags="SA")) == Verdict.CONTINUE
    assert (
        run(eth / IP(src="198.18.9.9", dst=c) / ICMP(type=3, code=1) / bytes(syn[IP])[:28])
        == Verdict.CONTINUE
    )
    assert run(eth / IP(src=c, dst=s) / TCP(sport=998, dport=80, flags="PA")) == Verdict.CONTINUE
    assert run(eth / IP(src=s, dst=c) / TCP(sport=80, dport=998, flags="A")) == Verdict.DROP
    [entry] = m.ct.entries.values()
    assert entry.state == State.SYN_RECV and entry.packets == [1, 1]
    assert m.hits[0][0] == 2 and m.default[0] == 2  # the rule decided the SYN and the mid-stream packet
    assert m.other["established"][0] == 1 and m.other["related"][0] == 1
    assert m.ct.stats["created"] == 1 and m.ct.stats["related"] == 1


def test_stateless_model_never_touches_the_flow_table() -> None:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    m = FirewallModel(_cfg([{"proto": "tcp", "dport": 80, "action": "accept"}], default="drop"))
    assert m.process(bytes(Ether() / IP() / TCP(dport=80, flags="S")), "xdp").verdict == Verdict.CONTINUE
    assert not m.ct.entries and not any(m.ct.stats.values())
