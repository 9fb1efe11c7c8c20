"""The rate limiter in the kernel: fixtures, run-time changes, the real clock, one bucket on two CPUs."""

from __future__ import annotations

import ipaddress
import os
import threading
import time

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from alveole.errors import ReloadRequiredError
from alveole.vnf import Verdict, VnfInstance, get, run_fixtures
from alveole.vnf.ratelimit import BucketKey, Outcome, buckets, outcome_counts

from ..conftest import require

ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def _udp(src: str = "198.18.0.1", sport: int = 1000, size: int = 0) -> bytes:
    l3 = IPv6(src=src, dst="2001:db8:ffff::1") if ":" in src else IP(src=src, dst="198.19.255.1")
    return bytes(ETH / l3 / UDP(sport=sport, dport=53) / bytes(size))


def test_fixture_table_passes_on_both_hooks() -> None:
    spec = get("ratelimit")
    results = run_fixtures(spec, timing_repeat=10)
    assert not [(r.hook, r.description, r.problems) for r in results if not r.ok]
    assert len(results) == 2 * len(spec.fixtures())  # no "state" rows: the model agreed


def test_rate_and_mode_change_with_one_map_write() -> None:
    cfg = {"rate": 1, "burst": 1}
    with VnfInstance.load("ratelimit", "xdp", cfg) as inst:
        assert inst.run(_udp()).verdict == Verdict.CONTINUE
        assert inst.run(_udp()).verdict == Verdict.DROP
        assert inst.apply({**cfg, "over_limit": "continue"}) == {"rl_settings": (0, 1, 0)}
        assert inst.run(_udp()).verdict == Verdict.CONTINUE  # dry run: over, counted, continues
        assert outcome_counts(inst)[Outcome.EXCEEDED][0] == 2
        # a new rate keeps the buckets: the debt is time, whatever the rate
        [tat] = buckets(inst).values()
        inst.apply({"rate": 1000, "burst": 1})
        assert list(buckets(inst).values()) == [tat]


def test_load_time_settings_need_a_reload() -> None:
    with VnfInstance.load("ratelimit", "xdp") as inst:
        with pytest.raises(ReloadRequiredError) as info:
            inst.apply({"key": "5tuple"})
        assert info.value.changes[0] == "global key_mode"
        assert "size of rl_flows4" in info.value.changes


def test_real_clock_burst_then_refill() -> None:
    # 20 packets/s: a token every 50 ms, far longer than 12 runs take
    with VnfInstance.load("ratelimit", "tc", {"rate": 20, "burst": 10, "clock": "precise"}) as inst:
        got = [inst.run(_udp()).verdict for _ in range(12)]
        assert got[:10] == [Verdict.CONTINUE] * 10 and got[10:] == [Verdict.DROP] * 2
        time.sleep(0.15)  # 3 tokens' worth
        got = [inst.run(_udp()).verdict for _ in range(6)]
        assert got.count(Verdict.CONTINUE) in (3, 4)  # a 4th only if the runs took over 50 ms
        assert got[-1] == Verdict.DROP


def test_keys_in_the_kernel() -> None:
    with VnfInstance.load("ratelimit", "xdp", {"key": "5tuple"}) as inst:
        inst.run(_udp(sport=7))
        inst.run(_udp("2001:db8::5", sport=8))
        four, six = ipaddress.IPv4Address, ipaddress.IPv6Address
        assert set(buckets(inst)) == {
            BucketKey(four("198.18.0.1"), four("198.19.255.1"), 7, 53, 17),
            BucketKey(six("2001:db8::5"), six("2001:db8:ffff::1"), 8, 53, 17),
        }
    with VnfInstance.load("ratelimit", "xdp", {"src_prefix_v6": 64}) as inst:
        inst.run(_udp("2001:db8::5"))
        assert set(buckets(inst)) == {BucketKey(six("2001:db8::"), six(0), 0, 0, 0)}


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


@pytest.mark.parametrize("unit", ["packets", "bytes"])
def test_one_bucket_hammered_from_two_cpus_passes_exactly_its_burst(unit: str) -> None:
    """No refill (the virtual clock moves 1 ns a packet, the rate is 1 unit/s or 1000 B/s), 2 x 2^19
    packets of one key on two CPUs at once: a lost update or a double-spent token would show."""
    cpus = sorted(os.sched_getaffinity(0))[:2]
    require(len(cpus) == 2, "needs two CPUs")
    frame = _udp(size=58)  # 100 bytes
    burst, per_packet = (1000, 1) if unit == "packets" else (100_000, 100)
    rate = 1 if unit == "packets" else 1000
    repeat = 1 << 19
    cfg = {"unit": unit, "rate": rate, "burst": burst, "clock": "virtual", "clock_step_ns": 1}
    with VnfInstance.load("ratelimit", "xdp", cfg) as inst:
        _on_cpus(inst.program, frame, repeat, cpus)
        counts = outcome_counts(inst)
        passed = burst // per_packet
        assert counts[Outcome.CONFORMED][0] == inst.counters()[Verdict.CONTINUE].packets == passed
        assert counts[Outcome.EXCEEDED][0] + counts[Outcome.CONTENDED][0] == 2 * repeat - passed
        per_cpu = inst.maps["alv_stats"][int(Verdict.DROP)]
        assert sum(1 for c in per_cpu if c.packets) == 2  # both CPUs took part
