"""The rate limiter on a two-queue veth, fed by the generator from two CPUs: one key, one bucket,
and the pass rate stays within the configured rate plus the burst.

The bed's veth has one queue per CPU, so each sending CPU's frames run the limiter's XDP
program on that CPU: both CPUs take tokens from the same bucket at once (alveole/bucket.h,
compare-and-swap). Offered load is several times the rate.

Tolerance over the generator's wall time T (the arrival window is inside it): at most
burst + rate * (T + 2 ticks) packets conform (the coarse clock may lag a tick at each end;
a tick is at most 10 ms for HZ >= 100); at least rate * (T - 2 ticks - 10 ms): a flooded
bucket loses no tokens as long as the traffic never pauses longer than burst / rate (100 ms
here: the generator's threads pause between calls, for milliseconds), and the generator's
first and last calls leave at most a few ms of the window uncovered.
"""

from __future__ import annotations

import os
import time

from alveole.bench.bed import bed
from alveole.trafficgen import Generator
from alveole.vnf import Verdict, VnfInstance
from alveole.vnf.ratelimit import Outcome, outcome_counts

from ..conftest import require

RATE, BURST = 50_000, 5000  # 100 ms of credit: longer than any pause between generator calls
TICK = 0.010


def _settled(read, interval: float = 0.02) -> int:  # type: ignore[no-untyped-def]
    last = read()
    while True:
        time.sleep(interval)
        now = read()
        if now == last:
            return now
        last = now


def test_one_key_from_two_cpus_stays_within_rate_plus_burst() -> None:
    cpus = sorted(os.sched_getaffinity(0))[:2]
    require(len(cpus) == 2, "needs two CPUs")
    with (
        bed("terminal", queues=2) as b,
        VnfInstance.load("ratelimit", "xdp", {"rate": RATE, "burst": BURST}) as rl,
        rl.program.attach_xdp(b.dut_in, mode="native", netns=b.dut_ns),
        Generator(b.gen_if, b.traffic(), netns=b.gen_ns, flows=256) as gen,
    ):
        report = gen.send(duration=1.0, cpus=cpus)
        # every frame the sending veth handed on went through the limiter (and was keyed: other
        # frames, such as the stack's own ARP, are UNKEYED). Under a flood the veth's receive
        # ring may overflow when the host stalls a NAPI poll: those frames never reach XDP
        keyed = (Outcome.CONFORMED, Outcome.EXCEEDED, Outcome.CONTENDED)
        assert _settled(lambda: sum(outcome_counts(rl)[o][0] for o in keyed)) == report.delivered
        counts = outcome_counts(rl)
        conformed = counts[Outcome.CONFORMED][0]
        assert report.delivered > 3 * RATE * report.seconds  # a flood, or the test proves nothing
        t = report.seconds
        assert RATE * (t - 2 * TICK - 0.010) <= conformed <= BURST + RATE * (t + 2 * TICK), (conformed, t)
        # both CPUs ran the program and both took tokens from the one bucket
        per_cpu_pass = rl.maps["rl_counts"][int(Outcome.CONFORMED)]
        assert sum(1 for c in per_cpu_pass if c.packets) == 2, per_cpu_pass
        assert rl.counters()[Verdict.CONTINUE].packets == conformed + counts[Outcome.UNKEYED][0]
        assert len(rl.maps["rl_src4"]) == 1  # one key
