"""``alveole bench pktcost``: kernel-timed ns per packet of each VNF, next to the no-op floor.

Rows come from a registry: every catalog VNF contributes its own through
``VnfSpec.cost_rows`` (flowmon: ``flowmon``, ``flowmon-ipv6``; the firewall
``firewall-100`` …), and :func:`register` adds rows that are not catalog VNFs.

How a row is measured: its setup loads the program and fills its state to a
working size; a run sends every prepared frame through BPF_PROG_TEST_RUN with
``repeat = total // frames`` (about ``total`` packets), the run's figure being
the mean of the frames' kernel-timed ns. The row's figure is the median of
``runs`` runs. Cycling many distinct frames keeps per-flow VNFs honest: one hot
flow would stay in cache. The floor (an XDP program that only returns XDP_PASS)
is measured the same way in the same process, so rows are read as "floor + N ns".

Rows are interleaved: every row is set up first and stays loaded, then each
round runs every row once (the floors too). A VM's speed drifts by several
percent over a minute (its neighbours); measured one after the other, two rows
of the same run differed by that drift (the firewall's 100k/100 ratio moved by
±0.1 between runs), measured in the same rounds they see the same machine.

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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _Timed:
    """A program and its frames, as one run times them."""

    program: Any
    frames: list[bytes]
    repeat: int

    @classmethod
    def of(cls, program: Any, frames: list[bytes], total: int, max_repeat: int = 0) -> _Timed:
        repeat = max(1, total // len(frames))
        return cls(program, frames, min(repeat, max_repeat) if max_repeat else repeat)

    def run_ns(self) -> float:
        """One run: the mean kernel-timed ns of the frames."""
        total = sum(self.program.run(f, repeat=self.repeat).duration_ns for f in self.frames)
        return total / len(self.frames)


def _medians(timed: list[_Timed], runs: int) -> list[float]:
    """Each program's median over ``runs`` rounds that each run every program once."""
    per_run: list[list[float]] = [[] for _ in timed]
    for _ in range(runs):
        for i, t in enumerate(timed):
            per_run[i].append(t.run_ns())
    return [float(statistics.median(v)) for v in per_run]


def measure_pktcost(only: Iterable[str] = (), total: int = 1 << 20, runs: int = 5) -> dict[str, Any]:
    """``{"floor_ns": N, "results": [{"name", "ns", ...}]}`` for the selected rows."""
    selected = rows(only)
    with ExitStack() as stack:
        noop = stack.enter_context(open_source(progs.path("noop")))
        noop.load()
        floors = [noop.program("xdp_noop"), noop.program("tc_noop")]
        timed = [_Timed.of(p, [FLOOR_FRAME], total) for p in floors]
        cases = []
        for row in selected:
            case = stack.enter_context(row.setup())
            cases.append(case)
            timed.append(_Timed.of(case.program, case.frames, total, case.max_repeat))
        for t in timed:
            stack.enter_context(_in_xdp_dispatcher(t.program))
        floor_xdp, floor_tc, *ns = _medians(timed, runs)
    floor_of = {"xdp": floor_xdp, "tc": floor_tc}
    results = [
        {
            "name": row.name,
            "ns": round(row_ns, 1),
            "over_floor_ns": round(row_ns - floor_of[case.hook], 1),
            "hook": case.hook,
            "frames": len(case.frames),
            "note": row.note,
        }
        for row, case, row_ns in zip(selected, cases, ns, strict=True)
    ]
    return {
        "floor_ns": round(floor_xdp, 1),
        "floor_tc_ns": round(floor_tc, 1),
        "results": results,
        "packets_per_run": total,
        "runs": runs,
    }
