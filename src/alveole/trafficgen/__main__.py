"""``python -m alveole.trafficgen``: run the generator in a process of its own.

Sends until the count or the duration is reached, or until SIGTERM/SIGINT; prints
``ready`` once the generator is loaded, then the send report as JSON. Benchmarks use it
to offer traffic from outside their own process (no GIL shared with what is measured).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from .generator import Generator
from .templates import tcp_syn, udp


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m alveole.trafficgen", description=__doc__.splitlines()[0])
    p.add_argument("--netns", help="network namespace of the sending interface")
    p.add_argument("--interface", required=True)
    p.add_argument("--proto", choices=("udp", "tcp"), default="udp")
    p.add_argument("--size", type=int, default=64, help="on-wire frame size, FCS included")
    p.add_argument("--src", default="198.18.0.1")
    p.add_argument("--dst", default="198.18.0.2")
    p.add_argument("--sport", type=int, default=1024)
    p.add_argument("--dport", type=int, default=9)
    p.add_argument("--src-mac", default="02:a1:0e:00:00:01")
    p.add_argument("--dst-mac", default="02:a1:0e:00:00:02")
    p.add_argument("--flows", type=int, default=1)
    p.add_argument("--rate", type=float, help="frames/s (default: the maximum)")
    p.add_argument("--period", type=float, default=1e-3, help="seconds between paced batches")
    p.add_argument("--count", type=int)
    p.add_argument("--duration", type=float)
    args = p.parse_args(argv)

    build = udp if args.proto == "udp" else tcp_syn
    template = build(
        args.size, src=args.src, dst=args.dst, sport=args.sport, dport=args.dport,
        src_mac=args.src_mac, dst_mac=args.dst_mac,
    )  # fmt: skip
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with Generator(args.interface, template, netns=args.netns, flows=args.flows) as gen:
        print("ready", flush=True)
        report = gen.send(args.count, duration=args.duration, rate=args.rate, stop=stop, period=args.period)
    out = {"sent": report.sent, "tx_dropped": report.tx_dropped, "seconds": report.seconds, "pps": report.pps}
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
