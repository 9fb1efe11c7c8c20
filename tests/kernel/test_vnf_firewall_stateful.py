"""The stateful firewall in the kernel: generated conversations against the reference model
(verdicts, rule hits, flow table, conntrack counters), the TCP creation rule, expiry, GC,
and what is fixed at load."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from alveole.conntrack import State, collect, connections, pressure
from alveole.conntrack.strategies import conversations
from alveole.errors import ReloadRequiredError
from alveole.vnf import Verdict, VnfInstance, compare, get
from alveole.vnf.corpus import corpus
from alveole.vnf.firewall import other_counts, rule_hits
from alveole.vnf.firewall.strategies import stateful_configs
from alveole.vnf.runner import refused_by_test_run

SPEC = get("firewall")
ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
CLIENT, SERVER = "198.18.0.10", "198.19.0.20"
WEB_ONLY = {
    "stateful": True,
    "default": "drop",
    "conntrack_size": 1024,
    "rules": [{"id": "web", "src": "198.18.0.0/16", "proto": "tcp", "dport": 80, "action": "accept"}],
}


def tcp(src: str, dst: str, sport: int, dport: int, flags: str) -> bytes:
    return bytes(ETH / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags))


@pytest.mark.parametrize("hook", ["xdp", "tc"])
def test_malformed_corpus_agrees_with_the_model_stateful(hook: str) -> None:
    """The shared corpus through a stateful firewall that accepts everything: every frame that
    parses is tracked or decided, and the flow table equals the model's."""
    cfg = {"stateful": True, "default": "accept", "conntrack_size": 1024}
    frames = [(c.name, c.frame) for c in corpus()]
    result = compare(SPEC, frames + frames, hook=hook, config=cfg)  # twice: flows meet their packets
    assert not result.aborted, [str(m) for m in result.aborted[:5]]
    assert result.ok, result.report()
    assert result.refused == 2 * sum(refused_by_test_run(f, hook) for _, f in frames)


@pytest.mark.parametrize("hook", ["xdp", "tc"])
def test_conversations_agree_with_the_model(hook: str) -> None:
    """Flows both ways, handshakes, resets, ICMP errors about earlier packets, noise: verdicts,
    per-rule hits, the established/related counters and the whole flow table equal the model's."""

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(config=stateful_configs(), frames=conversations(max_steps=24))
    def check(config: object, frames: list[tuple[str, bytes]]) -> None:
        result = compare(SPEC, frames, hook=hook, config=config)
        assert not result.aborted, [str(m) for m in result.aborted]
        assert result.ok, result.report()

    check()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=stateful_configs(),
    conv=conversations(max_steps=12),
    repeat=st.lists(st.integers(0, 11), max_size=12),
)
def test_replayed_conversations_agree(
    config: object, conv: list[tuple[str, bytes]], repeat: list[int]
) -> None:
    """The same packets again (flows that exist meet their own opening packets)."""
    frames = conv + [conv[i % len(conv)] for i in repeat]
    result = compare(SPEC, frames, hook="xdp", config=config)
    assert result.ok, result.report()


def test_only_a_syn_opens_a_tcp_flow() -> None:
    with VnfInstance.load(SPEC, "xdp", WEB_ONLY) as fw:
        assert fw.run(tcp(CLIENT, SERVER, 1000, 80, "A")).verdict == Verdict.CONTINUE  # the rule
        assert fw.run(tcp(SERVER, CLIENT, 80, 1000, "A")).verdict == Verdict.DROP  # no flow
        assert fw.run(tcp(CLIENT, SERVER, 1001, 80, "SA")).verdict == Verdict.CONTINUE
        assert fw.run(tcp(CLIENT, SERVER, 1002, 80, "F")).verdict == Verdict.CONTINUE
        assert not connections(fw.maps)
        assert fw.run(tcp(CLIENT, SERVER, 1003, 80, "SR")).verdict == Verdict.CONTINUE  # a SYN, but a RST
        assert not connections(fw.maps) and pressure(fw.maps).untracked == 1
        assert fw.run(tcp(CLIENT, SERVER, 1004, 80, "S")).verdict == Verdict.CONTINUE
        [conn] = connections(fw.maps)
        assert (str(conn.src), conn.sport, conn.state) == (CLIENT, 1004, State.SYN_SENT)
        assert fw.run(tcp(SERVER, CLIENT, 80, 1004, "SA")).verdict == Verdict.CONTINUE
        assert fw.run(tcp(CLIENT, SERVER, 1004, 80, "A")).verdict == Verdict.CONTINUE
        [conn] = connections(fw.maps)
        assert conn.state == State.ESTABLISHED and conn.packets == (2, 1)
        # what is counted where: the rule decided 5 packets, the flow table 2
        [web] = rule_hits(fw, SPEC.validate(WEB_ONLY))
        assert web.packets == 5
        assert other_counts(fw)["established"][0] == 2
        assert fw.counters()[Verdict.CONTINUE].packets == 7 and fw.counters()[Verdict.DROP].packets == 1


def test_an_idle_flow_expires_and_gc_collects() -> None:
    short = {**WEB_ONLY, "timeouts": {"syn_sent": 0.2, "syn_recv": 0.2}}
    with VnfInstance.load(SPEC, "xdp", short) as fw:
        assert fw.run(tcp(CLIENT, SERVER, 2000, 80, "S")).verdict == Verdict.CONTINUE
        assert fw.run(tcp(CLIENT, SERVER, 2001, 80, "S")).verdict == Verdict.CONTINUE
        assert fw.run(tcp(SERVER, CLIENT, 80, 2000, "SA")).verdict == Verdict.CONTINUE
        time.sleep(0.5)
        # dead: the data path deletes it on sight, and the reply is unsolicited again
        assert fw.run(tcp(SERVER, CLIENT, 80, 2000, "A")).verdict == Verdict.DROP
        assert pressure(fw.maps).expired == 1
        # the other one nobody met: the collector deletes it
        assert len(connections(fw.maps)) == 1
        assert collect(fw.maps).deleted == 1 and not connections(fw.maps)


def test_timeouts_are_a_map_diff_and_stateful_needs_a_reload() -> None:
    with VnfInstance.load(SPEC, "xdp", WEB_ONLY) as fw:
        changed = fw.apply({**WEB_ONLY, "timeouts": {"established": 60}})
        assert changed["alv_ct_conf"] == (0, 1, 0)
        assert fw.maps["alv_ct_conf"][0].timeout_ns[State.ESTABLISHED] == 60 * 10**9
        with pytest.raises(ReloadRequiredError, match="fw_stateful"):
            fw.apply({**WEB_ONLY, "stateful": False})


def test_stateless_leaves_the_flow_table_alone() -> None:
    cfg = {**WEB_ONLY, "stateful": False}
    with VnfInstance.load(SPEC, "xdp", cfg) as fw:
        assert fw.maps["alv_ct4"].max_entries == 64  # CT_IDLE_SIZE: nothing preallocated for nothing
        assert fw.run(tcp(CLIENT, SERVER, 3000, 80, "S")).verdict == Verdict.CONTINUE
        assert fw.run(tcp(SERVER, CLIENT, 80, 3000, "SA")).verdict == Verdict.DROP
        assert not connections(fw.maps) and pressure(fw.maps).lookups == 0


def test_udp_and_icmp_echo_flows() -> None:
    from scapy.layers.inet import ICMP

    cfg = {
        **WEB_ONLY,
        "rules": [
            {"src": "198.18.0.0/16", "proto": "udp", "action": "accept"},
            {"src": "198.18.0.0/16", "proto": "icmp", "action": "accept"},
        ],
    }
    q = bytes(ETH / IP(src=CLIENT, dst=SERVER) / UDP(sport=5353, dport=53) / b"q")
    a = bytes(ETH / IP(src=SERVER, dst=CLIENT) / UDP(sport=53, dport=5353) / b"a")
    with VnfInstance.load(SPEC, "tc", cfg) as fw:
        assert fw.run(a).verdict == Verdict.DROP
        assert fw.run(q).verdict == Verdict.CONTINUE
        assert fw.run(a).verdict == Verdict.CONTINUE
        # an echo reply accepted by a rule opens nothing: only a request does
        reply = bytes(ETH / IP(src=CLIENT, dst=SERVER) / ICMP(type=0, id=5))
        request = bytes(ETH / IP(src=SERVER, dst=CLIENT) / ICMP(type=8, id=5))
        assert fw.run(reply).verdict == Verdict.CONTINUE
        assert fw.run(request).verdict == Verdict.DROP
        states = sorted(c.state for c in connections(fw.maps))
        assert states == [State.UDP_REPLIED]
