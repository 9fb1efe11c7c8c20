"""``alveole bench pktcost``: kernel-timed ns per packet of each VNF, next to the no-op floor.

Rows come from a registry: every catalog VNF contributes its own through
``VnfSpec.cost_rows`` (flowmon: ``flowmon``, ``flowmon-ipv6``; the firewall
``firewall-100`` …), and :func:`register` adds rows that are not catalog VNFs.

How a row is measured: its setup loads the program and fills its state to a
working size; then, ``runs`` times, every prepared frame goes through
BPF_PROG_TEST_RUN with ``repeat = total // frames`` (about ``total`` packets a
run), the run's figure being the mean of the frames' kernel-timed ns. The row's
figure is the median of the runs. Cycling many distinct frames keeps per-flow
VNFs honest: one hot flow would stay in cache. The floor (an XDP program that
only returns XDP_PASS) is measured the same way in the same process, so rows
are read as "floor + N ns".

Wall time: test_run of an XDP program with repeat > 1 adds the program to the
kernel's XDP dispatcher and removes it again on every call, each time waiting
for an RCU grace period (~16 ms a call here; the kernel-timed ns are not
affected). While a row is timed, its program is therefore attached (native
XDP) to a veth in a scratch ``alv`` namespace, which keeps it in the
dispatcher: a call then costs ~50 us, and 1024 frames x 5 runs take seconds.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from .. import progs
from ..bpf import ProgType
from ..system import netns
from ..toolchain import open_source
from ..vnf import CostRow, catalog
from ..vnf.csum import checksum

__all__ = ["FLOOR_FRAME", "measure_pktcost", "register", "rows"]


def _floor_frame() -> bytes:
    """64 bytes: Ethernet, IPv4 198.18.0.1 -> 198.18.0.2 (valid checksum), UDP 1000 -> 9."""
    ip = bytearray(bytes.fromhex("450000320001000040110000c6120001c6120002"))
    ip[10:12] = checksum(bytes(ip)).to_bytes(2, "big")
    udp = bytes.fromhex("03e80009001e0000") + bytes(22)
    return bytes.fromhex("020000000002020000000001" + "0800") + bytes(ip) + udp


FLOOR_FRAME = _floor_frame()
_EXTRA: dict[str, CostRow] = {}


def register(row: CostRow) -> None:
    """Add a row that does not come from a catalog VNF (names must be unique)."""
    if row.name in _EXTRA:
        raise ValueError(f"a pktcost row named {row.name!r} is already registered")
    _EXTRA[row.name] = row


def _sdk_rows() -> list[CostRow]:
    """Rows of SDK parts that are not VNFs of their own (the conntrack core)."""
    from ..conntrack.cost import cost_rows as conntrack_rows

    return list(conntrack_rows())


def rows(only: Iterable[str] = ()) -> list[CostRow]:
    """Every row (catalog VNFs first, by name); ``only``: names or name prefixes to keep."""
    out = [row for spec in catalog().values() for row in spec.cost_rows()]
    out += _sdk_rows()
    out += list(_EXTRA.values())
    wanted = list(only)
    if wanted:
        out = [r for r in out if any(r.name == w or r.name.startswith(f"{w}-") for w in wanted)]
        if not out:
            known = ", ".join(r.name for r in rows())
            raise LookupError(f"no pktcost row matches {', '.join(wanted)} (rows: {known})")
    return out


@contextmanager
def _in_xdp_dispatcher(program: Any) -> Iterator[None]:
    """Keep an XDP ``program`` in the XDP dispatcher while the block runs (see the module doc)."""
    if program.type != ProgType.XDP:
        yield
        return
    with netns.scratch("alvpc") as ns:
        netns.add_veth(ns, "alvpc0", "alvpc1")
        with program.attach_xdp("alvpc0", mode="native", netns=ns):
            yield


def _ns_per_packet(program: Any, frames: list[bytes], total: int, runs: int, max_repeat: int = 0) -> float:
    with _in_xdp_dispatcher(program):
        return _median_ns(program, frames, total, runs, max_repeat)


def _median_ns(program: Any, frames: list[bytes], total: int, runs: int, max_repeat: int = 0) -> float:
    repeat = max(1, total // len(frames))
    if max_repeat:
        repeat = min(repeat, max_repeat)
    per_run = [
        sum(program.run(frame, repeat=repeat).duration_ns for frame in frames) / len(frames)
        for _ in range(runs)
    ]
    return float(statistics.median(per_run))


def _floors(total: int, runs: int) -> dict[str, float]:
    with open_source(progs.path("noop")) as noop:
        noop.load()
        return {
            "xdp": _ns_per_packet(noop.program("xdp_noop"), [FLOOR_FRAME], total, runs),
            "tc": _ns_per_packet(noop.program("tc_noop"), [FLOOR_FRAME], total, runs),
        }


def measure_pktcost(only: Iterable[str] = (), total: int = 1 << 20, runs: int = 5) -> dict[str, Any]:
    """``{"floor_ns": N, "results": [{"name", "ns", ...}]}`` for the selected rows."""
    selected = rows(only)
    floors = _floors(total, runs)
    results = []
    for row in selected:
        with row.setup() as case:
            ns = _ns_per_packet(case.program, case.frames, total, runs, case.max_repeat)
        results.append(
            {
                "name": row.name,
                "ns": round(ns, 1),
                "over_floor_ns": round(ns - floors[case.hook], 1),
                "hook": case.hook,
                "frames": len(case.frames),
                "note": row.note,
            }
        )
    return {
        "floor_ns": round(floors["xdp"], 1),
        "floor_tc_ns": round(floors["tc"], 1),
        "results": results,
        "packets_per_run": total,
        "runs": runs,
    }
