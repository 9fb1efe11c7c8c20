"""flowmon in the kernel: its fixture table, top-N from the maps, config diffs, state across reloads."""

from __future__ import annotations

import ipaddress
import time

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from alveole.errors import ReloadRequiredError
from alveole.vnf import Verdict, VnfInstance, get, run_fixtures
from alveole.vnf.flowmon import OtherReason, other_counts, read_flows, top_flows, top_talkers

ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def _udp(src: str, sport: int = 1000, size: int = 0) -> bytes:
    return bytes(ETH / IP(src=src, dst="198.19.0.1") / UDP(sport=sport, dport=53) / bytes(size))


def test_fixture_table_passes_on_both_hooks() -> None:
    results = run_fixtures(get("flowmon"), timing_repeat=10)
    failed = [(r.hook, r.description, r.problems) for r in results if not r.ok]
    assert not failed
    assert {r.hook for r in results} == {"xdp", "tc"}
    assert len(results) == 2 * len(get("flowmon").fixtures())  # no "state" rows: the model agreed
    assert all(r.ns is not None and r.ns > 0 for r in results)


@pytest.mark.parametrize("hook", ["xdp", "tc"])
def test_counts_and_top_talkers_from_the_kernel(hook: str) -> None:
    with VnfInstance.load("flowmon", hook) as fm:
        for i, src in enumerate(["198.18.0.1", "198.18.0.2", "198.18.0.3"]):
            for _ in range(i + 1):
                assert fm.run(_udp(src, size=100 * (3 - i))).verdict == Verdict.CONTINUE
        fm.run(_udp("198.18.0.1", sport=2000))
        flows = read_flows(fm)
        assert len(flows) == 4
        by_packets = top_talkers(flows, 3, by="packets")
        assert [(str(t.value), t.packets, t.flows) for t in by_packets] == [
            ("198.18.0.3", 3, 1),
            ("198.18.0.1", 2, 2),
            ("198.18.0.2", 2, 1),
        ]
        biggest = top_flows(flows, 1, by="bytes")[0]
        assert biggest.key.src == ipaddress.IPv4Address("198.18.0.2")  # 2 x 200 bytes of payload
        assert biggest.key.sport == 1000 and biggest.key.dport == 53 and biggest.key.proto == 17
        assert 0 < biggest.first_seen_ns <= biggest.last_seen_ns <= time.monotonic_ns()
        assert fm.counters()[Verdict.CONTINUE].packets == 7


def test_tcp_flags_accumulate() -> None:
    with VnfInstance.load("flowmon", "xdp") as fm:
        for flags in ("S", "A", "FA"):
            fm.run(bytes(ETH / IP(src="198.18.0.1", dst="198.18.0.2") / TCP(sport=1, dport=2, flags=flags)))
        [flow] = read_flows(fm)
        assert flow.packets == 3 and flow.tcp_flags == 0x02 | 0x10 | 0x01


def test_ignore_list_changes_as_a_diff() -> None:
    with VnfInstance.load("flowmon", "xdp") as fm:
        assert fm.apply({"ignore": ["198.18.0.0/24"]}) == {
            "flowmon_ignore": (1, 0, 0),
            "flowmon_settings": (0, 1, 0),
        }
        fm.run(_udp("198.18.0.9"))
        assert other_counts(fm)[OtherReason.IGNORED][0] == 1 and not read_flows(fm)
        changed = fm.apply({"ignore": ["198.18.1.0/24", "2001:db8::/32"]})
        assert changed == {"flowmon_ignore": (2, 0, 1), "flowmon_settings": (0, 1, 0)}
        fm.run(_udp("198.18.0.9"))
        assert len(read_flows(fm)) == 1
        assert fm.apply({}) == {"flowmon_ignore": (0, 0, 2), "flowmon_settings": (0, 1, 0)}
        assert len(fm.maps["flowmon_ignore"]) == 0


def test_load_time_settings_need_a_reload() -> None:
    with VnfInstance.load("flowmon", "xdp") as fm:
        with pytest.raises(ReloadRequiredError) as info:
            fm.apply({"key": ["src"], "table_size": 1024})
        assert info.value.changes == ["global key_fields", "size of flowmon_flows4", "size of flowmon_flows6"]


def test_flows_survive_a_reload_that_reuses_the_tables() -> None:
    with VnfInstance.load("flowmon", "xdp") as old:
        old.run(_udp("198.18.0.1"))
        tables = {n: old.maps[n] for n in ("flowmon_flows4", "flowmon_flows6", "flowmon_other")}
        with VnfInstance.load("flowmon", "xdp", {"precise_time": True}, reuse=tables) as new:
            new.run(_udp("198.18.0.1"))
            [flow] = read_flows(new)
            assert flow.packets == 2  # one counted by each program, in the same table
            assert new.program.id != old.program.id


def test_precise_and_coarse_clocks_are_monotonic() -> None:
    for precise in (False, True):
        with VnfInstance.load("flowmon", "xdp", {"precise_time": precise}) as fm:
            before = time.monotonic_ns()
            fm.run(_udp("198.18.0.1"))
            after = time.monotonic_ns()
            [flow] = read_flows(fm)
            assert flow.first_seen_ns <= after
            if precise:  # the coarse clock may lag the precise one by up to a tick
                assert before <= flow.first_seen_ns


def test_fixture_runner_catches_a_wrong_model() -> None:
    import dataclasses

    from alveole.vnf.flowmon import FlowmonModel

    class PortBlind(FlowmonModel):  # forgets the source port in the key
        def key_of(self, p):  # type: ignore[no-untyped-def]
            return dataclasses.replace(super().key_of(p), sport=0)

    spec = dataclasses.replace(get("flowmon"), model=PortBlind)
    failed = [r for r in run_fixtures(spec, hooks=["xdp"], timing_repeat=1) if not r.ok]
    assert failed and all(r.description.startswith("state after") for r in failed)
    assert any("not in the model" in p for r in failed for p in r.problems)
