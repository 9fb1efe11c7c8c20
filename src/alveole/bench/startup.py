"""``alveole bench startup``: how fast a VNF starts, attached with XDP to a veth.

* cold: compile with an empty object cache (clang runs) + open + load (verifier, JIT) + attach;
* warm: the same with the object cached (no clang);
* first packet: from the start request (warm) until the VNF has counted a frame, a
  generator process sending 100 kpps into the interface all along (one batch per 100 µs);
* warm and first packet again with the VNF going live in the slot of a dispatcher that
  was attached beforehand (one prog-array write instead of an XDP attach).

Measured here (kernel 6.18): an XDP attach costs ~13-15 ms, most of a warm start: the
kernel re-patches its XDP dispatcher and waits for an RCU grace period. Through an
attached dispatcher the same VNF is live in ~2 ms. The VNF is a parameter
(:class:`Subject`): the bundled self-check VNF until the catalog VNFs land.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from .. import progs
from ..bpf import BpfObject
from ..toolchain import compile as _compile
from ..toolchain import compile_bpf, open_source
from .bed import Bed, bed
from .dut import BenchError
from .throughput import sig

__all__ = ["SELFCHECK", "Subject", "measure_startup", "vnf_counter"]


def vnf_counter(obj: BpfObject) -> int:
    """Frames counted by a VNF built on alveole/vnf.h (all verdicts of ``alv_stats``)."""
    return int(sum(v.sum().packets for v in obj.map("alv_stats").values()))


def _selfcheck_counter(obj: BpfObject) -> int:
    total = obj.map("stats")[0].sum()
    return int(total.passed + total.dropped)


@dataclass(frozen=True)
class Subject:
    """A VNF to start: its source, its XDP program, how to read how many frames it saw."""

    name: str
    source: Path
    program: str | None
    count: Callable[[BpfObject], int]
    configure: Callable[[BpfObject], None] | None = None  # before load (globals, map sizes)
    populate: Callable[[BpfObject], None] | None = None  # after load, before attach (rules)
    # how the VNF goes live (default: an XDP link on the DUT's ingress); a chain can
    # instead insert it into a dispatcher that is already attached
    attach: Callable[[BpfObject, Bed], Closable] | None = None


SELFCHECK = Subject("selfcheck", progs.path("selfcheck"), "xdp_selfcheck", _selfcheck_counter)


class Closable(Protocol):
    def close(self) -> None: ...


@dataclass
class _Started:
    obj: BpfObject
    link: Closable
    stages_ms: dict[str, float] = field(default_factory=dict)

    def stop(self) -> None:
        self.link.close()
        self.obj.close()


def _start(subject: Subject, b: Bed) -> _Started:
    t0 = time.perf_counter()
    compiled = compile_bpf(subject.source)
    t1 = time.perf_counter()
    obj = BpfObject.open(compiled.path, name=subject.name)
    try:
        if subject.configure:
            subject.configure(obj)
        obj.load()
        t2 = time.perf_counter()
        if subject.populate:
            subject.populate(obj)
        if subject.attach is not None:
            link = subject.attach(obj, b)
        else:
            link = obj.program(subject.program).attach_xdp(b.dut_in, netns=b.dut_ns)
    except BaseException:
        obj.close()
        raise
    t3 = time.perf_counter()
    stages = {"compile": (t1 - t0) * 1e3, "load": (t2 - t1) * 1e3, "attach": (t3 - t2) * 1e3}
    return _Started(obj, link, stages)


@contextlib.contextmanager
def _empty_cache() -> Iterator[None]:
    """An empty object cache for the block (the process's cache setting restored after)."""
    saved = os.environ.get("ALVEOLE_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="alveole-cold-") as tmp:
        os.environ["ALVEOLE_CACHE_DIR"] = tmp
        _compile.clang_identity.cache_clear()  # a cold process would ask clang who it is too
        try:
            yield
        finally:
            if saved is None:
                os.environ.pop("ALVEOLE_CACHE_DIR", None)
            else:
                os.environ["ALVEOLE_CACHE_DIR"] = saved
            _compile.clang_identity.cache_clear()


def _summary(samples: list[float]) -> dict[str, float]:
    return {"median": sig(statistics.median(samples)), "min": sig(min(samples)), "max": sig(max(samples))}


SLOT_DISPATCH = Path(__file__).resolve().parent / "slot_dispatch.bpf.c"


class _SlotEntry:
    """A VNF live in the slot dispatcher's slot 0; closing empties the slot."""

    def __init__(self, slot: Any, program: Any) -> None:
        self._slot = slot
        slot[0] = program

    def close(self) -> None:
        with contextlib.suppress(KeyError):
            del self._slot[0]


def _first_packet(subject: Subject, b: Bed, timeout: float) -> float:
    """ms from the start request until the VNF counted a frame (then it is stopped)."""
    t0 = time.perf_counter()
    started = _start(subject, b)
    try:
        deadline = t0 + timeout
        while subject.count(started.obj) == 0:
            if time.perf_counter() > deadline:
                raise BenchError(f"{subject.name} saw no frame within {timeout} s")
            time.sleep(20e-6)
        return (time.perf_counter() - t0) * 1e3
    finally:
        started.stop()


def measure_startup(
    subject: Subject = SELFCHECK,
    samples: int = 20,
    *,
    on_sample: Callable[[str, int, float], None] | None = None,
    first_packet_timeout: float = 5.0,
) -> dict[str, Any]:
    """Cold, warm and first-packet start of ``subject`` attached with XDP; then warm and
    first-packet again with the VNF put into the slot of an already attached dispatcher."""
    if samples < 1:
        raise BenchError("samples must be >= 1")
    series: dict[str, list[float]] = {
        k: [] for k in ("cold", "warm", "first_packet", "warm_slot", "first_slot")
    }
    stages: dict[str, list[float]] = {"compile": [], "load": [], "attach": []}

    def note(phase: str, i: int, ms: float) -> None:
        series[phase].append(ms)
        if on_sample:
            on_sample(phase, i, ms)

    with bed("terminal") as b:
        for i in range(samples):
            with _empty_cache():
                t0 = time.perf_counter()
                started = _start(subject, b)
                note("cold", i, (time.perf_counter() - t0) * 1e3)
            started.stop()
        compile_bpf(subject.source)  # fill the cache
        for i in range(samples):
            t0 = time.perf_counter()
            started = _start(subject, b)
            note("warm", i, (time.perf_counter() - t0) * 1e3)
            for k, v in started.stages_ms.items():
                stages[k].append(v)
            started.stop()
        with _feeding(b):
            for i in range(samples):
                note("first_packet", i, _first_packet(subject, b, first_packet_timeout))
        # the same VNF, going live through a dispatcher attached beforehand
        with open_source(SLOT_DISPATCH, name="slot_dispatch") as disp:
            disp.load()
            link = disp.program().attach_xdp(b.dut_in, netns=b.dut_ns)
            try:
                slot = disp.map("slot")
                in_slot = replace(
                    subject, attach=lambda obj, _b: _SlotEntry(slot, obj.program(subject.program))
                )
                for i in range(samples):
                    t0 = time.perf_counter()
                    started = _start(in_slot, b)
                    note("warm_slot", i, (time.perf_counter() - t0) * 1e3)
                    started.stop()
                with _feeding(b):
                    for i in range(samples):
                        note("first_slot", i, _first_packet(in_slot, b, first_packet_timeout))
            finally:
                link.close()
    med = {k: sig(statistics.median(v)) for k, v in series.items()}
    return {
        "vnf": subject.name,
        "samples": samples,
        "cold_ms_median": med["cold"],
        "warm_ms_median": med["warm"],
        "first_packet_ms_median": med["first_packet"],
        "cold_ms": _summary(series["cold"]),
        "warm_ms": _summary(series["warm"]),
        "first_packet_ms": _summary(series["first_packet"]),
        "warm_stages_ms_median": {k: sig(statistics.median(v)) for k, v in stages.items()},
        # going live through an attached dispatcher (a prog-array slot) instead of an XDP attach
        "warm_slot_ms_median": med["warm_slot"],
        "first_packet_slot_ms_median": med["first_slot"],
        "warm_slot_ms": _summary(series["warm_slot"]),
        "first_packet_slot_ms": _summary(series["first_slot"]),
        "target_warm_ms": 5.0,
    }


@contextlib.contextmanager
def _feeding(b: Bed, rate: float = 100_000) -> Iterator[None]:
    """A generator process sends ``rate`` frames/s into the DUT's ingress for the block
    (a process of its own: a thread would wait for this process's GIL while a VNF loads)."""
    from .bed import DPORT, DUT_IN_ADDR, DUT_IN_MAC, GEN_ADDR, GEN_MAC

    argv = [
        sys.executable, "-m", "alveole.trafficgen", "--netns", b.gen_ns, "--interface", b.gen_if,
        "--src", GEN_ADDR, "--dst", DUT_IN_ADDR, "--dport", str(DPORT), "--src-mac", GEN_MAC,
        "--dst-mac", DUT_IN_MAC, "--rate", str(rate), "--period", "1e-4",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise BenchError(f"the traffic generator did not start: {proc.communicate(timeout=10)[1][-500:]}")
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
