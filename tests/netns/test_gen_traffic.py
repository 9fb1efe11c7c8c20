"""The live-frames generator against real receivers: counts, pacing, checksums, CPUs, pcap replay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from alveole.bench.bed import DUT_IN_MAC, GEN_MAC, bed, thread_napi
from alveole.system import netns as _netns
from alveole.trafficgen import Generator, Receiver, from_pcap, tcp_syn, udp

from ..conftest import require


def _snmp(netns: str, proto: str) -> dict[str, int]:
    with _netns.enter(netns), open("/proc/thread-self/net/snmp") as f:  # this thread's netns
        lines = [line.split() for line in f if line.startswith(f"{proto}:")]
    return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:], strict=True)}


def test_nothing_is_lost_at_100_kpps() -> None:
    with bed("terminal") as b, Receiver(b.dut_in, netns=b.dut_ns) as rx:
        with Generator(b.gen_if, b.traffic(), netns=b.gen_ns, flows=100) as gen:
            assert gen.anchored  # cheap calls: the program is attached to the sending veth
            report = gen.send(20_000, rate=100_000)
        assert report.sent == 20_000
        assert rx.wait_for(20_000) == 20_000
        assert report.seconds >= 0.9 * 20_000 / 100_000  # paced, not sent at once


def test_the_stack_accepts_every_flow() -> None:
    # 2000 flows from port 65000: 536 ports per address, so 4 source addresses; all checksums must hold
    with bed("terminal") as b, Receiver(b.dut_in, netns=b.dut_ns, drop=False) as rx:
        kw = {
            "src": "198.18.0.100",
            "dst": "198.18.0.2",
            "sport": 65000,
            "src_mac": GEN_MAC,
            "dst_mac": DUT_IN_MAC,
        }
        for proto, template, counter in (
            ("Udp", udp(64, dport=9, **kw), "NoPorts"),
            ("Tcp", tcp_syn(64, dport=9, **kw), "InSegs"),
        ):
            before, arrived = _snmp(b.dut_ns, proto), rx.packets
            with Generator(b.gen_if, template, netns=b.gen_ns, flows=2000) as gen:
                report = gen.send(4000, rate=200_000)
            assert rx.wait_for(arrived + 4000) == arrived + 4000  # the stack ran in the same NAPI poll
            after = _snmp(b.dut_ns, proto)
            assert report.sent == 4000
            assert after[counter] - before[counter] == 4000, proto
            assert after["InCsumErrors"] == before["InCsumErrors"], proto


def test_two_cpus_each_send_their_share() -> None:
    require(len(os.sched_getaffinity(0)) >= 2, "needs 2 CPUs")
    with bed("terminal", queues=2) as b, Receiver(b.dut_in, netns=b.dut_ns) as rx:
        with Generator(b.gen_if, b.traffic(), netns=b.gen_ns, flows=64) as gen:
            report = gen.send(40_000, rate=200_000, cpus=2)
        assert report.sent == 40_000 and sorted(report.per_cpu.values()) == [20_000, 20_000]
        assert rx.wait_for(40_000) == 40_000


def test_pcap_replay_sends_the_frames_in_order(tmp_path: Path) -> None:
    path = tmp_path / "replay.pcap"
    sizes = (64, 300, 90)
    wrpcap(str(path), [Ether(udp(s, src_mac=GEN_MAC, dst_mac=DUT_IN_MAC).frame) for s in sizes])
    with bed("terminal") as b, Receiver(b.dut_in, netns=b.dut_ns) as rx:
        with Generator(b.gen_if, from_pcap(path), netns=b.gen_ns) as gen:
            report = gen.send(300, rate=100_000)
        assert report.sent == 300
        assert rx.wait_for(300) == 300
        assert rx.bytes == 100 * sum(s - 4 for s in sizes)


def test_duration_and_stop_end_a_maximum_rate_run() -> None:
    with bed("terminal") as b, Receiver(b.dut_in, netns=b.dut_ns) as rx:
        with Generator(b.gen_if, b.traffic(), netns=b.gen_ns) as gen:
            timed = gen.send(duration=0.05)
            stop = threading.Event()
            threading.Timer(0.05, stop.set).start()
            stopped = gen.send(stop=stop)
        assert timed.sent > 0 and timed.seconds >= 0.05
        assert stopped.sent > 0
        # a flood: the receiver counts what the sending veth handed on (its ring may overflow)
        delivered = timed.delivered + stopped.delivered
        assert rx.wait_for(delivered) == delivered


def test_frames_the_veth_ring_had_no_room_for_are_reported() -> None:
    # the receiver's NAPI as a kthread on the sender's CPU: it runs only when the sending
    # thread is preempted, so a flood overflows the veth's receive ring (256 frames)
    cpu = sorted(os.sched_getaffinity(0))[0]
    with bed("terminal") as b, Receiver(b.dut_in, netns=b.dut_ns) as rx:
        require(bool(thread_napi(b, {cpu})), "no NAPI kthread appeared")
        with Generator(b.gen_if, b.traffic(), netns=b.gen_ns) as gen:
            report = gen.send(duration=0.2, cpus=[cpu])
        assert report.tx_dropped > 0, report
        assert report.delivered == report.sent - report.tx_dropped
        assert rx.wait_for(report.delivered) == report.delivered  # exactly the rest arrived


def test_generator_runs_as_a_process_of_its_own() -> None:
    with bed("terminal") as b, Receiver(b.dut_in, netns=b.dut_ns) as rx:
        argv = [sys.executable, "-m", "alveole.trafficgen", "--netns", b.gen_ns, "--interface", b.gen_if]
        argv += ["--count", "5000", "--rate", "100000", "--flows", "10"]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
        assert out[0] == "ready" and json.loads(out[1])["sent"] == 5000
        assert rx.wait_for(5000) == 5000
