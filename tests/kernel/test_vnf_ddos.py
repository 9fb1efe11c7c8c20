"""The ddos guard in the kernel: fixtures, the trie at 10k prefixes, diffs, the SYN bucket on two CPUs."""

from __future__ import annotations

import os
import random
import threading
import time

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from alveole.errors import ReloadRequiredError
from alveole.vnf import Verdict, VnfInstance, get, run_fixtures
from alveole.vnf.ddos import PrefixSet, Reason, blocklist_nodes, compile_table, drop_counts, syn_buckets
from alveole.vnf.ddos.cost import _sources, prefixes_v4, prefixes_v6

from ..conftest import require

ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def _udp(src: str) -> bytes:
    l3 = IPv6(src=src, dst="2001:db8:ffff::1") if ":" in src else IP(src=src, dst="198.19.255.1")
    return bytes(ETH / l3 / UDP(sport=1000, dport=53))


def _syn(src: str) -> bytes:
    l3 = IPv6(src=src, dst="2001:db8:ffff::1") if ":" in src else IP(src=src, dst="198.19.255.1")
    return bytes(ETH / l3 / TCP(sport=1000, dport=80, flags="S"))


def test_fixture_table_passes_on_both_hooks() -> None:
    spec = get("ddos")
    results = run_fixtures(spec, timing_repeat=10)
    assert not [(r.hook, r.description, r.problems) for r in results if not r.ok]
    assert len(results) == 2 * len(spec.fixtures())  # no "state" rows: the model agreed


@pytest.mark.parametrize("family", [4, 6])
def test_the_kernel_walk_agrees_with_10k_prefixes(family: int) -> None:
    nets = [*prefixes_v4(), *prefixes_v6()]
    sources = _sources(family, 300, seed=11)
    # and the edges of some listed prefixes, where an off-by-one would show
    listed = random.Random(5).sample([n for n in nets if n.version == family], 50)
    sources += [n.network_address for n in listed] + [n.broadcast_address for n in listed]
    sources += [n.broadcast_address + 1 for n in listed if n.broadcast_address + 1 in n.supernet(8)]
    blocked = PrefixSet(nets)  # the plain meaning, fast (contains() scans 20k prefixes)
    with VnfInstance.load("ddos", "xdp", {"blocklist": nets, "syn_rate": None}) as inst:
        assert blocklist_nodes(inst, family) == compile_table(nets, family)
        wrong = [s for s in sources if (inst.run(_udp(str(s))).verdict == Verdict.DROP) != (s in blocked)]
        assert not wrong
        dropped = sum(s in blocked for s in sources)
        assert drop_counts(inst)[Reason.BLOCKLIST][0] == dropped > 0


def test_blocklist_changes_as_a_diff() -> None:
    a, b = "198.18.5.5", "2001:db8:7::1"
    with VnfInstance.load("ddos", "xdp", {"blocklist": ["198.18.5.0/24"]}) as inst:
        assert inst.run(_udp(a)).verdict == Verdict.DROP
        changes = inst.apply({"blocklist": ["198.18.5.5/32", "2001:db8:7::/48"]})
        # IPv4: the /16 node changes (a /24 bit becomes a deeper bit), a /24 node is added
        assert changes["ddos_block4"] == (1, 1, 0)
        assert changes["ddos_block6"] == (2, 0, 0) and changes["ddos_settings"] == (0, 1, 0)
        assert inst.run(_udp(a)).verdict == Verdict.DROP
        assert inst.run(_udp("198.18.5.6")).verdict == Verdict.CONTINUE
        assert inst.run(_udp(b)).verdict == Verdict.DROP
        assert inst.apply({})["ddos_block4"] == (0, 0, 2)
        assert len(inst.maps["ddos_block4"]) == len(inst.maps["ddos_block6"]) == 0
        assert inst.run(_udp(a)).verdict == inst.run(_udp(b)).verdict == Verdict.CONTINUE


def test_load_time_settings_need_a_reload() -> None:
    with VnfInstance.load("ddos", "xdp") as inst:
        with pytest.raises(ReloadRequiredError) as info:
            inst.apply({"clock": "precise", "syn_table_size": 1024})
        assert info.value.changes == ["global alv_clock", "size of ddos_syn4", "size of ddos_syn6"]
        inst.apply({"syn_rate": 5, "syn_burst": 1, "syn_prefix_v6": 48})  # run-time: no reload


def test_syn_limit_on_the_real_clock_refills() -> None:
    # 20 SYN/s: a token every 50 ms, far longer than 8 runs take
    with VnfInstance.load("ddos", "tc", {"syn_rate": 20, "syn_burst": 5}) as inst:
        got = [inst.run(_syn("198.18.0.1")).verdict for _ in range(8)]
        assert got[:5] == [Verdict.CONTINUE] * 5 and Verdict.DROP in got[5:]
        time.sleep(0.3)  # 6 SYNs' worth: the bucket is full again (5), never more
        got = [inst.run(_syn("198.18.0.1")).verdict for _ in range(8)]
        assert got.count(Verdict.CONTINUE) in (5, 6)  # a 6th only if the runs took over 50 ms
        assert inst.run(_syn("198.18.0.2")).verdict == Verdict.CONTINUE
        [tat] = [t for a, t in syn_buckets(inst).items() if str(a) == "198.18.0.1"]
        # tat runs ahead of now by the debt: at most the burst, 5 x 50 ms (the coarse clock lags a tick)
        now = time.monotonic_ns()
        assert now < tat <= now + 250_000_000


def _on_cpus(program, frame: bytes, repeat: int, cpus: list[int]) -> None:  # type: ignore[no-untyped-def]
    """Run ``frame`` ``repeat`` times on each of ``cpus`` at the same time (one pinned thread each)."""
    start = threading.Barrier(len(cpus))
    errors: list[BaseException] = []

    def work(cpu: int) -> None:
        try:
            os.sched_setaffinity(0, {cpu})
            start.wait()
            program.run(frame, repeat=repeat)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(c,)) for c in cpus]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_one_syn_bucket_hammered_from_two_cpus_passes_exactly_its_burst() -> None:
    """No refill (1 SYN/s, a 1 ns virtual step), 2 x 2^19 SYNs from one source on two CPUs at
    once: a lost update or a double-spent token would pass more or fewer than the burst."""
    cpus = sorted(os.sched_getaffinity(0))[:2]
    require(len(cpus) == 2, "needs two CPUs")
    burst, repeat = 1000, 1 << 19
    cfg = {"syn_rate": 1, "syn_burst": burst, "clock": "virtual", "clock_step_ns": 1}
    with VnfInstance.load("ddos", "xdp", cfg) as inst:
        _on_cpus(inst.program, _syn("198.18.0.1"), repeat, cpus)
        counters = inst.counters()
        drops = drop_counts(inst)
        assert counters[Verdict.CONTINUE].packets == burst
        assert counters[Verdict.DROP].packets == 2 * repeat - burst
        assert drops[Reason.SYN_FLOOD][0] + drops[Reason.SYN_CONTENDED][0] == 2 * repeat - burst
        per_cpu = inst.maps["alv_stats"][int(Verdict.DROP)]
        assert sum(1 for c in per_cpu if c.packets) == 2  # both CPUs took part
        assert inst.maps["alv_vclock"][0] == 2 * repeat  # every SYN read the shared clock once


def test_syn_buckets_survive_a_reload_that_reuses_them() -> None:
    cfg = {"syn_rate": 1, "syn_burst": 1}
    with VnfInstance.load("ddos", "xdp", cfg) as old:
        assert old.run(_syn("198.18.0.1")).verdict == Verdict.CONTINUE
        reuse = {n: old.maps[n] for n in ("ddos_syn4", "ddos_syn6")}
        with VnfInstance.load("ddos", "xdp", {**cfg, "clock": "precise"}, reuse=reuse) as new:
            assert new.run(_syn("198.18.0.1")).verdict == Verdict.DROP  # the token is still spent
            assert drop_counts(new)[Reason.SYN_FLOOD][0] == 1
