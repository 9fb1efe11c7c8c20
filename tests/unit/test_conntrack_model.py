"""The conntrack core's Python side: state machine, key order, tuples, timeouts, the model (no kernel)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import Ether

from alveole.conntrack import ConntrackModel, Dir, State, Timeouts, inner_of, key_order, tuple_from, tuple_of
from alveole.conntrack.key import address
from alveole.conntrack.states import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, initial_state, next_state
from alveole.conntrack.strategies import icmp_error
from alveole.vnf.parse import mapped, parse

ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
A, B = mapped(ipaddress.ip_address("198.18.0.1")), mapped(ipaddress.ip_address("198.19.0.2"))
S, SA, ACK, FA, R = TCP_SYN, TCP_SYN | TCP_ACK, TCP_ACK, TCP_FIN | TCP_ACK, TCP_RST
ORIG, REPLY = Dir.ORIG, Dir.REPLY


def walk(first: int, steps: list[tuple[Dir, int]]) -> list[State]:
    seen = [0, 0]
    state = initial_state(6, first, ORIG)
    seen[ORIG] = first
    out = [state]
    for d, flags in steps:
        state = next_state(state, 6, d, flags, seen)
        out.append(state)
    return out


def test_tcp_handshake_data_and_close() -> None:
    assert walk(
        S, [(REPLY, SA), (ORIG, ACK), (REPLY, ACK), (ORIG, FA), (REPLY, ACK), (REPLY, FA), (ORIG, ACK)]
    ) == [
        State.SYN_SENT,
        State.SYN_RECV,
        State.ESTABLISHED,
        State.ESTABLISHED,
        State.FIN_WAIT,
        State.FIN_WAIT,
        State.TIME_WAIT,
        State.TIME_WAIT,
    ]


def test_tcp_responder_closes_first_then_reset_then_reopen() -> None:
    assert walk(S, [(REPLY, SA), (ORIG, ACK), (REPLY, FA), (ORIG, R), (ORIG, S), (REPLY, SA)]) == [
        State.SYN_SENT,
        State.SYN_RECV,
        State.ESTABLISHED,
        State.CLOSE_WAIT,
        State.CLOSE,
        State.SYN_SENT,
        State.SYN_RECV,
    ]


@pytest.mark.parametrize(
    ("flags", "d", "state"),
    [
        (S, ORIG, State.SYN_SENT),
        (ACK, ORIG, State.ESTABLISHED),
        (SA, REPLY, State.SYN_RECV),
        (FA, ORIG, State.FIN_WAIT),
        (FA, REPLY, State.CLOSE_WAIT),
        (R, ORIG, State.NONE),
        (S | R, ORIG, State.NONE),
    ],
)
def test_tcp_initial_states(flags: int, d: Dir, state: State) -> None:
    assert initial_state(6, flags, d) == state


def test_other_protocols_are_new_until_replied() -> None:
    for proto, new in ((17, State.UDP_NEW), (1, State.ICMP_NEW), (58, State.ICMP_NEW), (47, State.OTHER_NEW)):
        assert initial_state(proto, 0, ORIG) == new and initial_state(proto, 0, REPLY) == new + 1
        assert next_state(new, proto, ORIG, 0, [0, 0]) == new
        assert next_state(new, proto, REPLY, 0, [0, 0]) == new + 1


@given(
    st.binary(min_size=16, max_size=16),
    st.integers(0, 65535),
    st.binary(min_size=16, max_size=16),
    st.integers(0, 65535),
)
def test_both_directions_share_one_key(a: bytes, ap: int, b: bytes, bp: int) -> None:
    t1, t2 = tuple_from(a, ap, b, bp, 6), tuple_from(b, bp, a, ap, 6)
    assert t1.key == t2.key
    assert key_order(t1.key.addr0, t1.key.port0, t1.key.addr1, t1.key.port1)
    if (a, ap) != (b, bp):
        assert t1.src != t2.src
    assert t1.key.endpoint(t1.src) == (a, ap)


def test_tuples_of_packets() -> None:
    frame = bytes(ETH / IP(src="198.18.0.1", dst="198.19.0.2") / ICMP(type=8, id=9))
    t = tuple_of(parse(frame), frame)
    assert t is not None and (t.key.port0, t.key.port1, t.key.proto) == (9, 9, 1)
    reply = bytes(ETH / IP(src="198.19.0.2", dst="198.18.0.1") / ICMP(type=0, id=9))
    assert tuple_of(parse(reply), reply).key == t.key  # type: ignore[union-attr]
    six = bytes(ETH / IPv6(src="2001:db8::1", dst="2001:db8::2") / ICMPv6EchoRequest(id=3))
    assert tuple_of(parse(six), six).key.port0 == 3  # type: ignore[union-attr]
    frag = bytes(ETH / IP(src="198.18.0.1", dst="198.19.0.2", frag=4, proto=17) / bytes(8))
    assert tuple_of(parse(frag), frag) is None
    unreach = bytes(ETH / IP(src="198.18.0.1", dst="198.19.0.2") / ICMP(type=3) / bytes(28))
    assert tuple_of(parse(unreach), unreach) is None


def test_icmp_errors_quote_the_flow() -> None:
    udp = bytes(ETH / IP(src="198.18.0.1", dst="198.19.0.2") / UDP(sport=5000, dport=53) / b"q")
    t = tuple_of(parse(udp), udp)
    err = icmp_error(udp)
    inner = inner_of(parse(err), err)
    assert inner is not None and inner.tuple == t and inner.sport == 5000
    assert inner_of(parse(icmp_error(udp, cut=27)), icmp_error(udp, cut=27)) is None


def test_model_tracks_and_counts() -> None:
    m = ConntrackModel()
    syn = tuple_from(A, 1000, B, 80, 6, S)
    assert m.track(syn, 60) == "new"
    assert m.track(tuple_from(B, 80, A, 1000, 6, SA), 60) == Dir.REPLY
    assert m.create(syn, 60) == ConntrackModel.EEXIST
    assert m.create(tuple_from(A, 1, B, 2, 6, R), 60) == ConntrackModel.EPERM
    e = m.entries[syn.key]
    assert (e.state, e.packets, e.bytes) == (State.SYN_RECV, [1, 1], [60, 60])
    assert m.stats["lookups"] == 2 and m.stats["misses"] == 1 and m.stats["created"] == 1
    assert m.stats["races"] == 1 and m.stats["untracked"] == 1
    m.expire(syn.key)
    assert m.entries == {} and m.stats["expired"] == 1


def test_timeouts_reach_the_conf_map_by_state() -> None:
    t = Timeouts(established=3600, udp=1.5)
    ns = t.ns()
    assert len(ns) == 16 and ns[State.ESTABLISHED] == 3600 * 10**9 and ns[State.UDP_NEW] == 1_500_000_000
    assert ns[State.NONE] == 0 and Timeouts.from_ns(ns) == t
    assert t.conf_entry() == {0: {"timeout_ns": ns}}
    with pytest.raises(ValueError):
        Timeouts(udp=-1)


def test_addresses_print_in_their_family() -> None:
    assert str(address(A)) == "198.18.0.1"
    assert str(address(ipaddress.IPv6Address("2001:db8::1").packed)) == "2001:db8::1"
