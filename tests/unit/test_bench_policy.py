"""The benchmark policies and their renderings (no root)."""

from __future__ import annotations

import ipaddress

from alveole.bench import policy as pol
from alveole.bench.bed import DPORT, GEN_ADDR


def test_firewall_policy_is_deterministic_distinct_and_misses_the_traffic() -> None:
    p = pol.firewall_policy(2000)
    assert p == pol.firewall_policy(2000) and len(set(p.rules)) == 2000
    src = ipaddress.ip_address(GEN_ADDR)
    assert not any(src in r.src and r.dport == DPORT for r in p.rules)
    assert all(r.src.subnet_of(pol.RULE_SPACE) for r in p.rules)


def test_rules_of_one_port_never_overlap() -> None:
    by_key: dict[tuple[str, int], list[ipaddress.IPv4Network]] = {}
    for r in pol.firewall_policy(20_000).rules:
        others = by_key.setdefault((r.proto, r.dport), [])
        assert not any(r.src.overlaps(o) for o in others)
        others.append(r.src)


def test_renderings_carry_every_rule_and_end_with_a_counted_drop() -> None:
    p = pol.firewall_policy(50)
    ipt = pol.iptables_restore(p).splitlines()
    assert sum(1 for line in ipt if line.startswith("-A INPUT -s")) == 50
    assert ipt[-3:] == [f"-A INPUT -j {pol.IPT_FINAL_CHAIN}", f"-A {pol.IPT_FINAL_CHAIN} -j DROP", "COMMIT"]
    lin = pol.nft_linear(p)
    assert lin.count(" accept\n") == 50 and f'counter name "{pol.FINAL_COUNTER}" drop' in lin
    st = pol.nft_set(p)
    assert st.count(" . ") >= 50 and "flags interval" in st and "@allow_udp" in st


def test_xdpf_policy_allows_neither_the_traffic_port_nor_its_source() -> None:
    x = pol.xdpf_policy()
    assert len(x.ports) == 100 and len(x.sources) == 100
    assert DPORT not in x.ports and ipaddress.ip_address(GEN_ADDR) not in x.sources
