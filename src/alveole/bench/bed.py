"""Benchmark test beds: the generator's host, the device under test (DUT), a sink.

Two shapes, both lab topologies (so a crashed run is cleaned up by ``alveole lab down``):

* ``terminal``: gen --veth--> dut. The measured traffic is addressed to the DUT and ends
  there (dropped by an XDP program, or by the last rule of the INPUT hook).
* ``forward``: gen --veth--> dut --veth--> sink. The DUT forwards; an XDP program on the
  sink's interface counts and drops what comes out (the sink cannot answer ARP, so the
  DUT has a permanent neighbour entry for it).

IPv6 is disabled in every namespace of a bed: no router or neighbour solicitations
pollute the counts. Generator and DUT share a CPU: a veth's receive NAPI runs in the
softirq of the CPU that transmitted, so each figure includes the generator's cost
(~58 ns/frame here), identical for all rows.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .. import lab
from ..trafficgen import Template, udp

__all__ = ["Bed", "BedKind", "bed", "bed_topology", "thread_napi", "unique_bed_name"]

BedKind = Literal["terminal", "forward"]

GEN_MAC = "02:a1:0e:00:00:01"
DUT_IN_MAC = "02:a1:0e:00:00:02"
DUT_OUT_MAC = "02:a1:0e:00:01:01"
SINK_MAC = "02:a1:0e:00:01:02"
GEN_ADDR = "198.18.0.1"
DUT_IN_ADDR = "198.18.0.2"
DUT_OUT_ADDR = "198.18.1.1"
SINK_ADDR = "198.18.1.2"
ROUTED = "198.19.0.0/16"  # forwarded prefix: DUT routes it to the sink
ROUTED_DST = "198.19.0.1"
DPORT = 9  # discard: no listener anywhere, no rule of the benchmark policies matches it


@dataclass(frozen=True)
class Bed:
    """Names and addresses of a bed that is up."""

    kind: BedKind
    topology: lab.Topology
    gen_ns: str
    gen_if: str
    dut_ns: str
    dut_in: str
    dut_out: str | None = None
    sink_ns: str | None = None
    sink_if: str | None = None
    # the routes a forwarding DUT must have (Linux forwarding and the router VNF alike):
    # (prefix, next hop), the next hop's MAC is SINK_MAC, the DUT's egress MAC DUT_OUT_MAC
    routes: tuple[tuple[str, str], ...] = ()
    dut_in_mac: str = DUT_IN_MAC
    dut_out_mac: str = DUT_OUT_MAC
    sink_mac: str = SINK_MAC

    @property
    def name(self) -> str:
        return self.topology.name

    def traffic(self, size: int = 64, *, dport: int = DPORT, proto: str = "udp") -> Template:
        """The measured traffic of this bed: to the DUT's address, or through it."""
        from ..trafficgen import tcp_syn

        dst = DUT_IN_ADDR if self.kind == "terminal" else ROUTED_DST
        build = udp if proto == "udp" else tcp_syn
        return build(
            size, src=GEN_ADDR, dst=dst, sport=1024, dport=dport, src_mac=GEN_MAC, dst_mac=DUT_IN_MAC
        )


def bed_topology(kind: BedKind, name: str, queues: int = 1) -> lab.Topology:
    hosts: dict[str, dict[str, object]] = {"gen": {"ipv6": False}, "dut": {"ipv6": False}}
    links: list[dict[str, object]] = [
        {
            "ends": [
                {"host": "gen", "ifname": "g0", "mac": GEN_MAC, "addresses": [f"{GEN_ADDR}/24"]},
                {"host": "dut", "ifname": "d0", "mac": DUT_IN_MAC, "addresses": [f"{DUT_IN_ADDR}/24"]},
            ],
            "queues": queues,
        }
    ]
    if kind == "forward":
        hosts["dut"] = {
            "ipv6": False,
            "forwarding": True,
            "routes": [{"to": ROUTED, "via": SINK_ADDR}],
            "neighbors": [
                {"address": SINK_ADDR, "mac": SINK_MAC, "dev": "d1"},
                {"address": GEN_ADDR, "mac": GEN_MAC, "dev": "d0"},
            ],
        }
        hosts["sink"] = {"ipv6": False}
        links.append(
            {
                "ends": [
                    {"host": "dut", "ifname": "d1", "mac": DUT_OUT_MAC, "addresses": [f"{DUT_OUT_ADDR}/24"]},
                    {"host": "sink", "ifname": "s0", "mac": SINK_MAC, "addresses": [f"{SINK_ADDR}/24"]},
                ],
                "queues": queues,
            }
        )
    return lab.Topology.model_validate(
        {"name": name, "description": f"benchmark bed ({kind})", "hosts": hosts, "links": links}
    )


def _napi_threads(ifname: str) -> set[int]:
    pids = set()
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().startswith(f"napi/{ifname}-"):
                pids.add(int(comm.parent.name))
        except (OSError, ValueError):
            continue
    return pids


def thread_napi(b: Bed, cpus: set[int]) -> list[int]:
    """Move the DUT ingress's receive processing to a NAPI kthread pinned on ``cpus``.

    By default a veth's receive NAPI runs in the softirq of the transmitting CPU (the
    generator's). Threaded NAPI on another CPU gives the DUT a CPU of its own, at the
    price of frames crossing CPUs. Needs an XDP program on the interface already (veth
    has no NAPI otherwise). The sysfs switch is written through ``ip netns exec`` (its
    fresh /sys is the DUT namespace's).
    """
    before = _napi_threads(b.dut_in)
    path = f"/sys/class/net/{b.dut_in}/threaded"
    proc = subprocess.run(
        ["ip", "netns", "exec", b.dut_ns, "sh", "-c", f"echo 1 > {path}"], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise OSError(f"cannot enable threaded NAPI on {b.dut_in}: {proc.stderr.strip()}")
    deadline = time.monotonic() + 1.0
    while not (new := _napi_threads(b.dut_in) - before) and time.monotonic() < deadline:
        time.sleep(0.01)
    for pid in new:
        os.sched_setaffinity(pid, cpus)
    return sorted(new)


def unique_bed_name(tag: str = "b") -> str:
    return f"{tag}{os.getpid() % 100000}-{secrets.token_hex(2)}"


@contextmanager
def bed(kind: BedKind, name: str | None = None, *, queues: int = 1) -> Iterator[Bed]:
    """A bed that is up for the block and removed afterwards (also on error)."""
    topo = bed_topology(kind, name or unique_bed_name(), queues)
    lab.up(topo)
    try:
        yield Bed(
            kind=kind,
            topology=topo,
            gen_ns=topo.netns("gen"),
            gen_if=lab.ifname("g0"),
            dut_ns=topo.netns("dut"),
            dut_in=lab.ifname("d0"),
            dut_out=lab.ifname("d1") if kind == "forward" else None,
            sink_ns=topo.netns("sink") if kind == "forward" else None,
            sink_if=lab.ifname("s0") if kind == "forward" else None,
            routes=((ROUTED, SINK_ADDR),) if kind == "forward" else (),
        )
    finally:
        lab.down(topo.name)
