"""The ddos guard on a veth under a generated SYN flood: the limit holds per source, legitimate
traffic passes, a blocked source is dropped whole.

Traffic (the in-kernel generator, one template per source, cycled in order, ports varied over
1000 flows): SYN floods from three sources at 20k SYN/s each against a limit of 2000 SYN/s
with a burst of 200, UDP from a legitimate source, UDP from a blocked one. The guard runs in
XDP on the receiving veth with the default (coarse) clock; what it lets through reaches TC
ingress, where flowmon counts it per source.

Tolerance, per flooding source, over the generator's wall time T: at most
burst + rate * (T + 2 ticks) SYNs pass (the coarse clock may lag a tick at each end of the
run; a tick is at most 10 ms for HZ >= 100), and at least burst + rate * (T - 2 ticks - 2 ms)
(paced batches leave up to one 1 ms period uncovered at each end): the bucket never loses
tokens while it is flooded.
"""

from __future__ import annotations

import ipaddress

from alveole.trafficgen import Generator, tcp_syn, udp
from alveole.vnf import Verdict, VnfInstance
from alveole.vnf.ddos import Reason, drop_counts
from alveole.vnf.flowmon import read_flows

FLOODERS = ("198.18.1.1", "198.18.1.2", "198.18.1.3")
LEGIT, BLOCKED, DST = "198.18.2.1", "198.18.3.1", "198.19.0.80"
RATE, BURST = 2000, 200
TICK = 0.010
SENT = 100_000  # 20k frames per template at 100k frames/s: one second


def test_syn_flood_is_limited_per_source_and_legitimate_traffic_passes(veth) -> None:
    ns, tx, rx = veth
    templates = [tcp_syn(src=s, dst=DST) for s in FLOODERS] + [
        udp(src=LEGIT, dst=DST),
        udp(src=BLOCKED, dst=DST),
    ]
    cfg = {"blocklist": [f"{BLOCKED}/32"], "syn_rate": RATE, "syn_burst": BURST}
    with (
        VnfInstance.load("ddos", "xdp", cfg) as guard,
        VnfInstance.load("flowmon", "tc", {"key": ["src"]}) as after,
        guard.program.attach_xdp(rx, mode="native", netns=ns),
        after.program.attach_tc(rx, direction="ingress", netns=ns),
        Generator(tx, templates, netns=ns, flows=1000) as gen,
    ):
        report = gen.send(SENT, rate=SENT)
        each = report.sent // len(templates)
        assert report.sent == SENT and each * len(templates) == SENT

        counters, drops = guard.counters(), drop_counts(guard)
        assert counters[Verdict.CONTINUE].packets + counters[Verdict.DROP].packets == SENT  # saw them all
        assert drops[Reason.BLOCKLIST][0] == each  # the blocked source, whole
        syn_dropped = drops[Reason.SYN_FLOOD][0] + drops[Reason.SYN_CONTENDED][0]
        assert counters[Verdict.DROP].packets == each + syn_dropped

        passed = {str(f.key.src): f.packets for f in read_flows(after)}
        assert passed.get(LEGIT) == each  # every legitimate packet
        assert BLOCKED not in passed
        t = report.seconds
        high, low = BURST + RATE * (t + 2 * TICK), BURST + RATE * (t - 2 * TICK - 0.002)
        for src in FLOODERS:
            assert low <= passed[src] <= high, (src, passed[src], low, high, t)
        assert sum(passed[s] for s in FLOODERS) + syn_dropped == 3 * each
        assert all(ipaddress.ip_address(s) in ipaddress.ip_network("198.18.0.0/15") for s in passed)
