"""The load balancer's rows for ``alveole bench pktcost``.

Every row runs ``lb_bench.bpf.c``: the LB behind a harness that restores each frame
after the pass (test_run repeats a program on the same buffer, which the LB rewrites).
``lb-harness`` times the harness around a body that only continues: subtract its
``over_floor_ns`` from the other rows' to get the LB's own cost.

* ``lb-maglev``: full-NAT IPv4 TCP, one VIP over 16 backends (Maglev ring 65537),
  ``FILL`` flows in the flow table; ``FRAMES`` distinct established flows cycled
  (the frames ran once through the LB first, so their flows and translations exist).
* ``lb-maglev-dsr``: the same VIP in DSR mode (IPIP encapsulation, 20 bytes pushed).
* ``lb-maglev-ipv6``: full-NAT IPv6 TCP.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..csum import checksum
from ..instance import VnfInstance
from ..spec import CostCase, CostRow
from .config import LbConfig

__all__ = ["BENCH_SOURCE", "FILL", "FRAMES", "bench_spec", "cost_rows", "established_frame"]

BENCH_SOURCE = Path(__file__).with_name("lb_bench.bpf.c")
FILL = 100_000
FRAMES = 1024
BACKENDS = 16
_MACS = bytes.fromhex("02000000fe0102000000fe02")
VIP4, VIP6 = ipaddress.IPv4Address("198.18.100.1"), ipaddress.IPv6Address("2001:db8:100::1")
_CLIENTS4 = int(ipaddress.IPv4Address("198.19.0.0"))
_CLIENTS6 = int(ipaddress.IPv6Address("2001:db8:c::"))


def bench_spec() -> Any:
    """The lb spec with the benchmark harness as its XDP entry."""
    from . import SPEC

    return dataclasses.replace(SPEC, source=BENCH_SOURCE, entries={"xdp": "lb_bench_xdp"})


def _config(mode: str, family: int) -> LbConfig:
    if family == 4:
        vip: Any = VIP4
        backends = [{"address": str(ipaddress.IPv4Address("198.18.10.0") + 10 + i)} for i in range(BACKENDS)]
    else:
        vip = VIP6
        backends = [
            {"address": str(ipaddress.IPv6Address("2001:db8:10::") + 10 + i)} for i in range(BACKENDS)
        ]
    return LbConfig.model_validate(
        {
            "vips": [{"address": str(vip), "port": 80, "mode": mode, "backends": backends}],
            "snat_ipv4": "198.18.10.1",
            "snat_ipv6": "2001:db8:10::1",
            "tunnel_ipv4": "198.18.10.1",
            "tunnel_ipv6": "2001:db8:10::1",
            "snat_ports": [1024, 65535],
        }
    )


def _client(i: int, family: int) -> tuple[bytes, int]:
    if family == 4:
        return ipaddress.IPv4Address(_CLIENTS4 + (i >> 4)).packed, 1024 + (i & 15)
    return ipaddress.IPv6Address(_CLIENTS6 + (i >> 4)).packed, 1024 + (i & 15)


def established_frame(i: int, family: int = 4) -> bytes:
    """A 64-byte (IPv4) or 84-byte (IPv6) TCP ACK of client ``i`` to the VIP's port 80."""
    src, sport = _client(i, family)
    tcp = bytearray(
        sport.to_bytes(2, "big") + (80).to_bytes(2, "big") + bytes(8) + b"\x50\x10\xff\xff\0\0\0\0"
    )
    payload = bytes(10)
    if family == 4:
        dst = VIP4.packed
        ip = bytearray(b"\x45\x00" + (20 + 20 + 10).to_bytes(2, "big") + b"\x00\x01\x40\x00\x40\x06\x00\x00")
        ip += src + dst
        ip[10:12] = checksum(bytes(ip)).to_bytes(2, "big")
        ethertype = b"\x08\x00"
    else:
        dst = VIP6.packed
        ip = bytearray(b"\x60\x00\x00\x00" + (30).to_bytes(2, "big") + b"\x06\x40" + src + dst)
        ethertype = b"\x86\xdd"
    pseudo = src + dst + b"\x00\x06" + (30).to_bytes(2, "big")
    tcp[16:18] = checksum(pseudo + bytes(tcp) + payload).to_bytes(2, "big")
    return _MACS + ethertype + bytes(ip) + bytes(tcp) + payload


def _mapped(raw: bytes) -> bytes:
    return raw if len(raw) == 16 else bytes(10) + b"\xff\xff" + raw


def _fill(inst: VnfInstance, cfg: LbConfig, family: int) -> None:
    """The flow table at its working size: FILL flows, pinned to the VIP's backends."""
    flows = inst.maps["lb_flows"]
    vip = cfg.vips[0]
    ids = [vip.backend_id(b) for b in vip.backends]
    vraw = _mapped(vip.address.packed)
    keys, values = [], []
    for i in range(FRAMES, FILL):
        src, sport = _client(i, family)
        keys.append((_mapped(src), vraw, sport, 80, 6))
        values.append((ids[i % len(ids)], vip.tag, 0, 1 if vip.mode == "dsr" else 0))
    flows.update_batch(keys, values)


@contextmanager
def _established(mode: str, family: int, noop: bool = False) -> Iterator[CostCase]:
    cfg = _config(mode, family)
    with VnfInstance.load(bench_spec(), "xdp", cfg) as inst:
        frames = [established_frame(i, family) for i in range(FRAMES)]
        for f in frames:  # through the LB once: flows (and translations) made the real way
            inst.program.run(f)
        _fill(inst, cfg, family)
        program = inst.object.program("lb_bench_noop_xdp") if noop else inst.program
        yield CostCase(program, frames, "xdp")


def cost_rows() -> list[CostRow]:
    note = f"XDP, {FRAMES} established flows cycled, {FILL} in the table, 16 backends, ring 65537"
    harness = "lb_bench harness (restores each frame); subtract lb-harness"
    return [
        CostRow("lb-maglev", lambda: _established("nat", 4), f"full-NAT TCP/IPv4, {note}; {harness}"),
        CostRow("lb-maglev-dsr", lambda: _established("dsr", 4), f"DSR (IPIP) TCP/IPv4, {note}; {harness}"),
        CostRow("lb-maglev-ipv6", lambda: _established("nat", 6), f"full-NAT TCP/IPv6, {note}; {harness}"),
        CostRow(
            "lb-harness",
            lambda: _established("nat", 4, noop=True),
            "the harness alone (a body that continues)",
        ),
    ]
