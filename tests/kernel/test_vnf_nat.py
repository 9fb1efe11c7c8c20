"""The NAT in the kernel: fixtures, round trips through one program, ports, expiry, config diffs.

One TC program sees both directions: test_run without a context looks like
egress (outbound), with ``ingress_ifindex == ifindex`` like ingress (inbound),
exactly as on an interface's tcx hooks.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

from alveole.bpf import BpfObject
from alveole.bpf.btf import BtfKind
from alveole.conntrack import NatKind, State, connections, pressure
from alveole.conntrack.table import coarse_now_ns
from alveole.errors import ReloadRequiredError
from alveole.toolchain import compile_bpf
from alveole.vnf import Verdict, VnfInstance, compare, get
from alveole.vnf.corpus import corpus
from alveole.vnf.nat import NatModel, bindings, gc, read_nat_stats
from alveole.vnf.nat.fixtures import CONFIG4
from alveole.vnf.nat.stats import NAT_STATS
from alveole.vnf.nat.strategies import render, round_trip_configs, scripts
from alveole.vnf.runner import refused_by_test_run, run_fixtures

SPEC = get("nat")
ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
NAT4, CLIENT, REMOTE, REMOTE2 = "198.19.0.1", "198.18.0.2", "198.19.5.5", "198.19.5.6"
_ING = bytearray(192)
struct.pack_into("<II", _ING, 36, 1, 1)  # __sk_buff.ingress_ifindex, ifindex: being received
INGRESS = bytes(_ING)


class Nat:
    """One TC program and its model, driven in both directions."""

    def __init__(self, inst: VnfInstance) -> None:
        self.inst = inst
        self.model = NatModel(inst.config)  # type: ignore[arg-type]

    def send(self, frame: bytes, *, inbound: bool) -> tuple[Verdict, bytes]:
        before = self.inst.counters()
        res = self.inst.program.run(frame, ctx=INGRESS if inbound else None)
        after = self.inst.counters()
        [verdict] = [v for v in Verdict if after[v].packets != before[v].packets]
        want = self.model.process_dir(frame, inbound=inbound)
        assert (verdict, res.data) == (want.verdict, want.data), (
            f"kernel {verdict.name}, model {want.verdict.name}"
        )
        return verdict, res.data

    def agree(self) -> None:
        assert self.model.diff_maps(self.inst.maps) == []


def tcp(src: str, dst: str, sport: int, dport: int, flags: str = "A") -> bytes:
    return bytes(ETH / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags))


def test_fixtures_pass_in_the_kernel() -> None:
    results = run_fixtures(SPEC, timing_repeat=1)
    assert results and all(r.ok for r in results), [
        (r.description, r.hook, r.problems) for r in results if not r.ok
    ]
    assert {r.hook for r in results} == {"xdp", "tc"}


def test_btf_matches_the_python_mirror() -> None:
    with BpfObject.open(compile_bpf(SPEC.source).path) as obj:
        btf = obj.btf
        assert btf is not None
        fields = [m.name for m in btf.type(btf.find("nat_stats", BtfKind.STRUCT)).members]
        assert tuple(fields) == NAT_STATS
        assert (obj.map("nat_rev4").key_size, obj.map("nat_rev6").key_size) == (16, 40)
        assert obj.map("nat_rev4").value_size == obj.map("nat_rev6").value_size == 24


@pytest.mark.parametrize("hook", ["xdp", "tc"])
def test_malformed_corpus_with_an_active_config(hook: str) -> None:
    cfg = {
        "address": "198.19.255.254",
        "snat": ["198.18.0.0/16"],
        "forward": [{"port": 443, "to": "198.18.0.3"}],
    }
    frames = [(c.name, c.frame) for c in corpus()]
    result = compare(SPEC, frames, hook=hook, config=cfg)
    assert not result.aborted and result.ok, result.report()
    assert result.refused == sum(refused_by_test_run(f, hook) for _, f in frames)


def test_masquerade_round_trip_keeps_one_binding() -> None:
    with VnfInstance.load(SPEC, "tc", CONFIG4) as inst:
        nat = Nat(inst)
        _, syn = nat.send(tcp(CLIENT, REMOTE, 40000, 80, "S"), inbound=False)
        port = Ether(syn)[TCP].sport
        assert Ether(syn)[IP].src == NAT4 and 20000 <= port <= 20009
        _, synack = nat.send(tcp(REMOTE, NAT4, 80, port, "SA"), inbound=True)
        assert (Ether(synack)[IP].dst, Ether(synack)[TCP].dport) == (CLIENT, 40000)
        nat.send(tcp(CLIENT, REMOTE, 40000, 80, "A"), inbound=False)
        nat.agree()
        [conn] = connections(inst.maps)
        assert conn.state == State.ESTABLISHED and conn.nat_kind == NatKind.SNAT and conn.nat_port == port
        [b] = bindings(inst.maps)
        assert (b.inside, b.outside, b.remote) == (f"{CLIENT}:40000", f"{NAT4}:{port}", f"{REMOTE}:80")


def test_ports_are_unique_per_remote_and_run_out() -> None:
    cfg = {**CONFIG4, "ports": (20000, 20001)}
    with VnfInstance.load(SPEC, "tc", cfg) as inst:
        nat = Nat(inst)
        got = [
            Ether(nat.send(tcp(CLIENT, REMOTE, 40000 + i, 80, "S"), inbound=False)[1])[TCP].sport
            for i in range(2)
        ]
        assert sorted(got) == [20000, 20001]
        # the range is used up towards this remote: dropped, counted
        verdict, _ = nat.send(tcp(CLIENT, REMOTE, 40002, 80, "S"), inbound=False)
        assert verdict == Verdict.DROP
        # the same ports are free towards another remote endpoint
        _, out = nat.send(tcp(CLIENT, REMOTE2, 40002, 80, "S"), inbound=False)
        assert Ether(out)[TCP].sport in (20000, 20001)
        nat.agree()
        assert read_nat_stats(inst.maps["nat_stats"])["exhausted"] == 1


def test_a_dead_flow_keeps_its_port_when_it_comes_back() -> None:
    cfg = {**CONFIG4, "timeouts": {"udp": 5, "udp_replied": 5}}
    with VnfInstance.load(SPEC, "tc", cfg) as inst:
        udp = bytes(ETH / IP(src=CLIENT, dst=REMOTE) / UDP(sport=40000, dport=53) / b"q")
        first = Ether(inst.program.run(udp).data)[UDP].sport
        table = inst.maps["alv_ct4"]
        [(key, entry)] = table.items()
        table[key] = entry._replace(last_ns=entry.last_ns - 60 * 10**9)  # idle for a minute: dead
        again = Ether(inst.program.run(udp).data)[UDP].sport
        assert again == first  # the binding was still there for this endpoint: reused
        p = pressure(inst.maps)
        assert (p.expired, p.created, p.entries) == (1, 2, 1)


def test_a_binding_restores_its_lost_flow_entry() -> None:
    with VnfInstance.load(SPEC, "tc", CONFIG4) as inst:
        out = Ether(inst.program.run(tcp(CLIENT, REMOTE, 40000, 80, "S")).data)
        inst.maps["alv_ct4"].clear()  # as if evicted
        res = inst.program.run(tcp(REMOTE, NAT4, 80, out[TCP].sport, "SA"), ctx=INGRESS)
        assert Ether(res.data)[IP].dst == CLIENT
        [conn] = connections(inst.maps)
        assert (str(conn.src), conn.sport, conn.state) == (CLIENT, 40000, State.SYN_RECV)
        assert read_nat_stats(inst.maps["nat_stats"])["restored"] == 1


def test_gc_removes_flows_bindings_and_orphans() -> None:
    cfg = {**CONFIG4, "timeouts": {"udp": 1, "established": 100}}
    with VnfInstance.load(SPEC, "tc", cfg) as inst:
        for i in range(5):
            inst.program.run(bytes(ETH / IP(src=CLIENT, dst=REMOTE) / UDP(sport=41000 + i, dport=53)))
        inst.program.run(tcp(CLIENT, REMOTE, 42000, 80, "S"))
        inst.program.run(tcp(CLIENT, REMOTE, 42000, 80, "A"))
        assert len(bindings(inst.maps)) == 6
        result = gc(inst.maps, now=coarse_now_ns() + 10 * 10**9)
        assert result.deleted == 5
        assert len(bindings(inst.maps)) == 1 and len(connections(inst.maps)) == 1
        # a binding whose flow vanished is an orphan once seen so on two runs
        inst.maps["alv_ct4"].clear()
        from alveole.vnf.nat.gateway import NatGc

        collector = NatGc(inst.maps)
        collector.run()
        assert len(bindings(inst.maps)) == 1
        collector.run()
        assert bindings(inst.maps) == []


def test_config_changes_are_map_diffs() -> None:
    with VnfInstance.load(SPEC, "tc", CONFIG4) as inst:
        inst.program.run(tcp(CLIENT, REMOTE, 40000, 80, "S"))
        changed = inst.apply({**CONFIG4, "snat": ["198.18.0.0/24"], "forward": []})
        assert changed["nat_dnat"] == (0, 0, 2) and changed["nat_snat"] == (1, 0, 1)
        assert len(connections(inst.maps)) == 1  # flows survive a reconfiguration
        with pytest.raises(ReloadRequiredError, match="nat_rev4"):
            inst.apply({**CONFIG4, "table_size": 1024})


def test_icmp_echo_identifier_round_trip() -> None:
    with VnfInstance.load(SPEC, "tc", CONFIG4) as inst:
        nat = Nat(inst)
        _, req = nat.send(
            bytes(ETH / IP(src=CLIENT, dst=REMOTE) / ICMP(type=8, id=4242, seq=1)), inbound=False
        )
        ident = Ether(req)[ICMP].id
        assert 20000 <= ident <= 20009
        _, rep = nat.send(bytes(ETH / IP(src=REMOTE, dst=NAT4) / ICMP(type=0, id=ident, seq=1)), inbound=True)
        assert (Ether(rep)[IP].dst, Ether(rep)[ICMP].id) == (CLIENT, 4242)
        nat.agree()


def test_nat_agrees_with_its_model_on_round_trips() -> None:
    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(config=round_trip_configs(), steps=scripts())
    def check(config: object, steps: list[tuple]) -> None:
        with VnfInstance.load(SPEC, "tc", config) as inst:  # type: ignore[arg-type]
            nat = Nat(inst)
            history: list[tuple[bool, bytes]] = []
            for step in steps:
                rendered = render(step, history)
                if rendered is None:
                    continue
                inbound, frame = rendered
                if refused_by_test_run(frame, "tc"):
                    continue
                _, out = nat.send(frame, inbound=inbound)
                history.append((inbound, out))
            nat.agree()

    check()
