"""``alveole bench startup``: how fast a VNF starts, on a veth's XDP hook, two ways.

A VNF in alveole starts as a member of a chain whose dispatcher already sits on the
hook (the dispatcher is attached once per hook, when the chain is created). That is the
start the issue's warm target is measured on; a fresh XDP attach is measured too:

* cold: compile with an empty object cache (clang runs) + open + load (verifier, JIT)
  + a fresh XDP attach;
* warm (``warm_ms``): into a live chain: ``Chain.insert`` of the VNF into an empty
  chain attached beforehand (cached object, open, load and verify for its slot,
  config, pins, the slot written into the inactive generation and one map write to
  flip generations), the VNF's probe (its fixture table) left out;
* warm by attach (``warm_attach_ms``): cached object + load + a fresh XDP attach;
* first packet, both ways: from the start request until the VNF has counted a
  frame, a generator process sending 100 kpps into the interface all along (one
  batch per 100 µs).

Measured here (kernel 6.18): an XDP attach costs ~13-15 ms, most of a warm start by
attach: the kernel re-patches its XDP dispatcher and waits for an RCU grace period.
Through the chain's attached dispatcher the same VNF is live in a few ms. The VNF is a
parameter (:class:`Subject`): by default the chain's no-op VNF (``vnf_noop``: parses
and counts like every VNF, then continues), or a catalog VNF (:func:`subject_for`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .. import progs
from ..bpf import BpfObject
from ..datapath import Chain, ChainId, MemberSpec
from ..datapath import member as _m
from ..toolchain import compile as _compile
from ..toolchain import compile_bpf
from .bed import Bed, bed
from .chain import noop_member
from .chain3 import private_paths
from .dut import BenchError
from .throughput import sig

__all__ = ["NOOP", "SELFCHECK", "Subject", "measure_startup", "member_subject", "subject_for", "vnf_counter"]

TARGET_WARM_MS = 5.0  # the warm-start target, measured on the chain-insert path
INSTANCE = "alvstart"  # the started VNF's instance name in the benchmark chain


def vnf_counter(obj: BpfObject) -> int:
    """Frames counted by a VNF built on alveole/vnf.h (all verdicts of ``alv_stats``)."""
    return int(sum(v.sum().packets for v in obj.map("alv_stats").values()))


def _selfcheck_counter(obj: BpfObject) -> int:
    total = obj.map("stats")[0].sum()
    return int(total.passed + total.dropped)


class Closable(Protocol):
    def close(self) -> None: ...


@dataclass(frozen=True)
class Subject:
    """A VNF to start: its source, its XDP program, how to read how many frames it saw."""

    name: str
    source: Path
    program: str | None
    count: Callable[[BpfObject], int]
    configure: Callable[[BpfObject], None] | None = None  # before load (globals, map sizes)
    populate: Callable[[BpfObject], None] | None = None  # after load, before attach (rules)
    # how the VNF goes live on the attach path (default: an XDP link on the DUT's ingress)
    attach: Callable[[BpfObject, Bed], Closable] | None = None
    # the same VNF as a chain member (the chain-insert path); None: that path is not measured
    member: MemberSpec | None = None


SELFCHECK = Subject("selfcheck", progs.path("selfcheck"), "xdp_selfcheck", _selfcheck_counter)


def member_subject(spec: MemberSpec, name: str | None = None) -> Subject:
    """``spec`` started both ways: standalone with its own XDP link, and as a chain member.

    Both ways load the same object with the same globals, map sizes and map entries. The
    member's probe (its fixture table on fresh instances, ~0.2-1 s for a catalog VNF) is
    dropped: it is a check of new code, not part of starting it, and the attach path has
    nothing like it.
    """
    spec = dataclasses.replace(spec, probe=None)
    entry = spec.entry("xdp")

    def configure(obj: BpfObject) -> None:
        for prog_name, prog in obj.programs.items():
            prog.autoload = prog_name == entry
        if "alv_chain_tc" in obj.maps:
            obj.map("alv_chain_tc").set_autocreate(False)
        for key, value in spec.globals.items():
            obj.globals[key] = value
        for map_name, size in spec.map_sizes.items():
            obj.map(map_name).set_max_entries(size)

    def populate(obj: BpfObject) -> None:
        _m.apply_entries(spec, _m.state_maps(obj))

    return Subject(name or spec.vnf, Path(spec.source), entry, vnf_counter, configure, populate, member=spec)


NOOP = member_subject(noop_member())


def subject_for(name: str) -> Subject:
    """``noop`` (the default subject), ``selfcheck`` (attach path only) or a catalog VNF with
    its default config."""
    if name == "noop":
        return NOOP
    if name == "selfcheck":
        return SELFCHECK
    from ..datapath.catalog import default_member

    return member_subject(default_member(name))


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


def _wait_count(count: Callable[[], int], t0: float, timeout: float, what: str) -> float:
    """ms from ``t0`` until ``count()`` is non-zero."""
    deadline = t0 + timeout
    while count() == 0:
        if time.perf_counter() > deadline:
            raise BenchError(f"{what} saw no frame within {timeout} s")
        time.sleep(20e-6)
    return (time.perf_counter() - t0) * 1e3


def _first_packet_attach(subject: Subject, b: Bed, timeout: float) -> float:
    """ms from the start request (attach path) until the VNF counted a frame (then it is stopped)."""
    t0 = time.perf_counter()
    started = _start(subject, b)
    try:
        return _wait_count(lambda: subject.count(started.obj), t0, timeout, subject.name)
    finally:
        started.stop()


@contextlib.contextmanager
def _live_chain(b: Bed) -> Iterator[tuple[Chain, float]]:
    """An empty chain on the DUT's ingress (dispatcher attached, end verdict drop), with the
    ms its creation took; deleted afterwards, its private pins and record with it."""
    cid = ChainId(b.dut_in, "xdp", b.dut_ns)
    with private_paths(cid) as paths:
        t0 = time.perf_counter()
        chain = Chain.create(cid, [], end="drop", paths=paths)
        created_ms = (time.perf_counter() - t0) * 1e3
        try:
            yield chain, created_ms
        finally:
            chain.delete()


def _insert(chain: Chain, spec: MemberSpec) -> float:
    """ms to start ``spec`` in ``chain`` (the VNF is live when this returns)."""
    t0 = time.perf_counter()
    chain.insert(INSTANCE, spec)
    return (time.perf_counter() - t0) * 1e3


def _first_packet_chain(chain: Chain, spec: MemberSpec, timeout: float) -> float:
    """ms from the insert request until the new member counted a frame (then it is removed)."""
    t0 = time.perf_counter()
    chain.insert(INSTANCE, spec)
    try:
        member = chain.member(INSTANCE)
        return _wait_count(lambda: sum(p for p, _ in member.counters().values()), t0, timeout, spec.vnf)
    finally:
        chain.remove(INSTANCE)


PHASES = ("cold", "warm", "warm_attach", "first_packet", "first_packet_attach")


def measure_startup(
    subject: Subject = NOOP,
    samples: int = 20,
    *,
    on_sample: Callable[[str, int, float], None] | None = None,
    first_packet_timeout: float = 5.0,
) -> dict[str, Any]:
    """Cold start, warm start and first packet of ``subject``: into a live chain (the
    ``warm``/``first_packet`` fields, the target's path) and by a fresh XDP attach
    (``cold``, ``warm_attach``, ``first_packet_attach``)."""
    if samples < 1:
        raise BenchError("samples must be >= 1")
    series: dict[str, list[float]] = {k: [] for k in PHASES}
    stages: dict[str, list[float]] = {"compile": [], "load": [], "attach": []}
    created_ms: float | None = None

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
            note("warm_attach", i, (time.perf_counter() - t0) * 1e3)
            for k, v in started.stages_ms.items():
                stages[k].append(v)
            started.stop()
        with _feeding(b):
            for i in range(samples):
                note("first_packet_attach", i, _first_packet_attach(subject, b, first_packet_timeout))
        if subject.member is not None:
            # the same VNF started the alveole way: into a chain whose dispatcher is attached
            spec = subject.member
            with _live_chain(b) as (chain, created_ms):
                for i in range(samples):
                    note("warm", i, _insert(chain, spec))
                    chain.remove(INSTANCE)
                with _feeding(b):
                    for i in range(samples):
                        note("first_packet", i, _first_packet_chain(chain, spec, first_packet_timeout))

    def median(phase: str) -> float | None:
        return sig(statistics.median(series[phase])) if series[phase] else None

    warm = median("warm")
    return {
        "vnf": subject.name,
        "samples": samples,
        "cold_ms_median": median("cold"),
        # the alveole start: into a live chain (cached object, load + verify, slot insert)
        "warm_ms_median": warm,
        "first_packet_ms_median": median("first_packet"),
        # a fresh XDP attach of the VNF alone (cached object, load + verify, XDP attach)
        "warm_attach_ms_median": median("warm_attach"),
        "first_packet_attach_ms_median": median("first_packet_attach"),
        **{f"{k}_ms": _summary(v) for k, v in series.items() if v},
        "warm_attach_stages_ms_median": {k: sig(statistics.median(v)) for k, v in stages.items()},
        # paid once per hook, when the chain is created: attaching its dispatcher
        "chain_create_ms": sig(created_ms) if created_ms is not None else None,
        "target_warm_ms": TARGET_WARM_MS,
        "target_path": "chain insert",
        "target_met": warm is not None and warm <= TARGET_WARM_MS,
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
