"""The conntrack core in the kernel (through ctprobe): state machine, table, counters, GC.

ctprobe tracks every packet with alveole/conntrack.h; its verdict says what
conntrack made of each packet and its table must equal the reference model's
after every sequence (alveole.conntrack.ConntrackModel).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

from alveole.bpf import BpfObject
from alveole.bpf.btf import Btf, BtfKind
from alveole.conntrack import Dir, NatKind, State, collect, connections, pressure, read_entries
from alveole.conntrack.probe import SPEC, CtProbeConfig
from alveole.conntrack.strategies import conversations, icmp_error
from alveole.conntrack.table import STATS_FIELDS, coarse_now_ns
from alveole.toolchain import compile_bpf
from alveole.vnf import Verdict, VnfInstance, compare

ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
A, B = "198.18.0.1", "198.19.0.2"


def tcp(src: str, dst: str, sport: int, dport: int, flags: str) -> bytes:
    return bytes(ETH / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags))


def _enum(btf: Btf, name: str) -> dict[str, int]:
    return {m.name: m.value for m in btf.type(btf.find(name, BtfKind.ENUM)).members}


def test_btf_matches_the_python_mirror() -> None:
    """Enum values and struct layouts the Python side relies on, read from the object's BTF."""
    with BpfObject.open(compile_bpf(SPEC.source).path) as obj:
        btf = obj.btf
        assert btf is not None
        states = _enum(btf, "alv_ct_state")
        kinds = _enum(btf, "alv_ct_nat_kind")
        dirs = _enum(btf, "alv_ct_dir")
        stats = [m.name for m in btf.type(btf.find("alv_ct_stats", BtfKind.STRUCT)).members]
        key_sizes = obj.map("alv_ct4").key_size, obj.map("alv_ct6").key_size
    assert {name.removeprefix("ALV_CT_"): v for name, v in states.items() if name != "ALV_CT_STATE_MAX"} == {
        s.name: s.value for s in State
    }
    assert {name.removeprefix("ALV_CT_NAT_"): v for name, v in kinds.items()} == {
        k.name: k.value for k in NatKind
    }
    assert (dirs["ALV_CT_DIR_ORIG"], dirs["ALV_CT_DIR_REPLY"]) == (Dir.ORIG, Dir.REPLY)
    assert tuple(stats) == STATS_FIELDS
    assert key_sizes == (16, 40)


def test_tcp_handshake_and_close_walk_the_states() -> None:
    with VnfInstance.load(SPEC, "xdp") as inst:
        steps = [
            (tcp(A, B, 1000, 80, "S"), Verdict.PASS, State.SYN_SENT),
            (tcp(B, A, 80, 1000, "SA"), Verdict.CONTINUE, State.SYN_RECV),
            (tcp(A, B, 1000, 80, "A"), Verdict.CONTINUE, State.ESTABLISHED),
            (tcp(B, A, 80, 1000, "PA"), Verdict.CONTINUE, State.ESTABLISHED),
            (tcp(A, B, 1000, 80, "FA"), Verdict.CONTINUE, State.FIN_WAIT),
            (tcp(B, A, 80, 1000, "FA"), Verdict.CONTINUE, State.TIME_WAIT),
            (tcp(A, B, 1000, 80, "S"), Verdict.CONTINUE, State.SYN_SENT),  # reopened
            (tcp(B, A, 80, 1000, "R"), Verdict.CONTINUE, State.CLOSE),
        ]
        for frame, verdict, state in steps:
            assert inst.run(frame).verdict == verdict
            [conn] = connections(inst.maps)
            assert conn.state == state
        assert (str(conn.src), conn.sport, str(conn.dst), conn.dport) == (A, 1000, B, 80)
        assert conn.packets == (4, 4)


def test_a_reset_creates_nothing_and_icmp_errors_are_related() -> None:
    with VnfInstance.load(SPEC, "tc") as inst:
        assert inst.run(tcp(A, B, 1, 2, "R")).verdict == Verdict.DROP
        udp = bytes(ETH / IP(src=A, dst=B) / UDP(sport=5000, dport=53) / b"q")
        assert inst.run(udp).verdict == Verdict.PASS
        assert inst.run(icmp_error(udp)).verdict == Verdict.CONTINUE
        assert inst.run(icmp_error(udp, cut=28)).verdict == Verdict.CONTINUE  # 8 bytes of UDP quoted
        assert inst.run(icmp_error(udp, cut=27)).verdict == Verdict.DROP  # not enough quoted
        other = bytes(ETH / IP(src=A, dst=B) / UDP(sport=5001, dport=53))
        assert inst.run(icmp_error(other)).verdict == Verdict.DROP  # about no flow
        p = pressure(inst.maps)
        assert (p.created, p.related, p.untracked, p.entries) == (1, 2, 1, 1)


def test_dead_entries_are_replaced_by_the_datapath_and_collected_by_gc() -> None:
    cfg = CtProbeConfig(timeouts={"udp": 30, "udp_replied": 30})
    with VnfInstance.load(SPEC, "xdp", cfg) as inst:
        table = inst.maps["alv_ct4"]
        frames = [bytes(ETH / IP(src=A, dst=B) / UDP(sport=p, dport=53)) for p in range(4000, 4004)]
        for f in frames:
            assert inst.run(f).verdict == Verdict.PASS
        # age one entry by an hour: the next packet finds it dead, deletes it and starts over
        [(key, entry)] = [(k, v) for k, v in table.items() if 4000 in k.port]
        table[key] = entry._replace(last_ns=entry.last_ns - 3600 * 10**9, packets=(7, 0))
        assert inst.run(frames[0]).verdict == Verdict.PASS
        assert table[key].packets == (1, 0)
        assert pressure(inst.maps).expired == 1
        # the collector deletes only what is idle for longer than its state's timeout
        assert collect(inst.maps).deleted == 0
        result = collect(inst.maps, now=coarse_now_ns() + 60 * 10**9)
        assert (result.scanned, result.deleted) == (4, 4)
        p = pressure(inst.maps)
        assert (p.entries, p.gc_deleted, p.gc_runs, p.evicted) == (0, 4, 2, 0)


def test_table_pressure_infers_lru_evictions() -> None:
    size = 256
    with VnfInstance.load(SPEC, "xdp", CtProbeConfig(table_size=size)) as inst:
        for i in range(4 * size):
            inst.program.run(bytes(ETH / IP(src=A, dst=B) / UDP(sport=1024 + i, dport=53)))
        p = pressure(inst.maps)
        assert p.created == 4 * size and p.entries <= size
        assert p.evicted == p.created - p.entries > 0
        assert p.create_failed == 0


def test_entries_decode_through_btf() -> None:
    with VnfInstance.load(SPEC, "xdp") as inst:
        inst.run(bytes(ETH / IP(src=A, dst=B) / ICMP(type=8, id=77)))
        inst.run(bytes(ETH / IP(src=B, dst=A) / ICMP(type=0, id=77)))
        [(key, entry)] = read_entries(inst.maps).items()
        assert key.proto == 1 and key.port0 == key.port1 == 77 and key.family == 4 and key.table == "alv_ct4"
        assert entry.state == State.ICMP_REPLIED and list(entry.packets) == [1, 1]
        [conn] = connections(inst.maps)
        assert conn.as_json()["state"] == "icmp_replied" and conn.tcp_flags == (0, 0)
        assert Dir(entry.orig) in (Dir.ORIG, Dir.REPLY)


@pytest.mark.parametrize("hook", ["xdp", "tc"])
def test_conntrack_agrees_with_its_model_on_conversations(hook: str) -> None:
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(frames=conversations(), size=st.sampled_from([1024, 65536]))
    def check(frames: list[tuple[str, bytes]], size: int) -> None:
        result = compare(SPEC, frames, hook=hook, config={"table_size": size})
        assert not result.aborted, [str(m) for m in result.aborted]
        assert result.ok, result.report()

    check()
