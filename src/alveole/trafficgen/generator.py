"""The in-kernel traffic generator: an XDP program run with BPF_F_TEST_XDP_LIVE_FRAMES.

Each ``BPF_PROG_TEST_RUN`` call transmits ``repeat`` real frames out of one interface
(``bpf_redirect``); the program rebuilds every frame from its template and varies the
flow fields (see ``gen.bpf.c``). Facts that shape this module (kernel 6.18, measured):

* a live-frames call with ``repeat > 1`` re-patches the kernel's XDP dispatcher when the
  program is not attached anywhere, a fixed ~24 ms per call. The generator therefore
  also attaches its program to the sending interface (where it passes whatever arrives):
  a call then costs ~12 µs, so small paced batches are cheap;
* ``BPF_F_TEST_RUN_ON_CPU`` is refused (EINVAL) for XDP programs: several CPUs are used
  by one thread per CPU pinned with ``sched_setaffinity``. They scale only if the veth
  has a queue per CPU (``Link.queues`` in a lab): with one queue they contend on the
  peer's ring;
* the receiving veth needs an XDP program, or redirected frames are dropped.

Rates: "max" runs back-to-back calls (of 2^18 frames for a count; sized to last ~5 ms
when sending for a duration or until stopped, since a slow receiver runs in the sending
thread's softirq); a target rate sends one batch per ``period`` (1 ms) on an absolute
schedule (bursts of rate x period frames).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..bpf import BPF_F_TEST_XDP_LIVE_FRAMES, BpfObject, Link
from ..errors import AlveoleError, AttachError
from ..system import netns as _netns
from ..toolchain import open_source
from .templates import Template

__all__ = ["GEN_SOURCE", "GenError", "Generator", "SendReport"]

GEN_SOURCE = Path(__file__).resolve().parent / "gen.bpf.c"
MAX_BATCH = 1 << 18  # frames per call at the maximum rate (a call is then ~15 ms)
START_BATCH = 256  # first call against a deadline; later calls sized to last CALL_TARGET
CALL_TARGET = 0.005  # seconds
PACE_PERIOD = 0.001  # seconds between batches at a target rate


def _current_cpu() -> int:
    return int(ctypes.CDLL(None).sched_getcpu())


class GenError(AlveoleError):
    """The generator cannot be configured or run as asked."""


@dataclass(frozen=True)
class SendReport:
    """What one :meth:`Generator.send` did."""

    sent: int  # frames the program built and redirected (counted in the kernel)
    seconds: float  # wall time from the first call to the end of the last
    calls: int
    per_cpu: dict[int, int] = field(default_factory=dict)
    rate: float | None = None  # the target, frames per second (None: maximum)
    # the sending interface's tx_dropped over the send: redirected frames it could not
    # transmit (a veth: the peer's receive ring was full, its NAPI had fallen behind)
    tx_dropped: int = 0

    @property
    def delivered(self) -> int:
        """Frames the sending interface handed on: what the receiving side can count."""
        return self.sent - self.tx_dropped

    @property
    def pps(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


class Generator:
    """Transmit generated frames out of ``interface`` (in ``netns``).

    ``templates``: one (synthetic traffic, varied over ``flows`` flows) or many
    (replayed in order, e.g. from a pcap). Use as a context manager.
    """

    def __init__(
        self,
        interface: str,
        templates: Template | Sequence[Template],
        *,
        netns: str | None = None,
        flows: int = 1,
        anchor: bool = True,
    ) -> None:
        self.interface = interface
        self.netns = netns
        self.templates = [templates] if isinstance(templates, Template) else list(templates)
        if not self.templates:
            raise GenError("no frame templates")
        if flows < 1:
            raise GenError("flows must be >= 1")
        self.flows = flows
        self.flow_ports = 1
        if flows > 1:
            self.flow_ports = self._check_flows(flows)
        self._anchor = anchor
        self._obj: BpfObject | None = None
        self._link: Link | None = None
        self._buffer = b""

    def _check_flows(self, flows: int) -> int:
        """Flows vary the source port first, then the low 16 bits of the source address."""
        lowest_room = 0x10000
        for i, t in enumerate(self.templates):
            if not t.sport_off:
                raise GenError(f"template {i} is not UDP/TCP over IP: its flows cannot be varied")
            lowest_room = min(lowest_room, 0x10000 - t.sport)
        ports = min(flows, lowest_room)
        steps = (flows - 1) // ports
        for t in self.templates:
            if t.saddr_low + steps > 0xFFFF:
                raise GenError(
                    f"{flows} flows need {steps + 1} source addresses: the template's source address "
                    "leaves too little room in its last 16 bits"
                )
        return ports

    # --- lifetime ---------------------------------------------------------------------------
    def open(self) -> Generator:
        if self._obj is not None:
            return self
        ifindex = _netns.ifindex(self.interface, self.netns)
        obj = open_source(GEN_SOURCE, name="trafficgen")
        try:
            obj.globals["target_ifindex"] = ifindex
            obj.globals["n_templates"] = len(self.templates)
            obj.globals["n_flows"] = self.flows
            obj.globals["flow_ports"] = self.flow_ports
            obj.map("gen_templates").set_max_entries(len(self.templates))
            obj.load()
            tmap = obj.map("gen_templates")
            tmap.update_batch(list(range(len(self.templates))), [t.as_map_value() for t in self.templates])
            if self._anchor:
                # keeps the program in the XDP dispatcher: no 24 ms re-patch per call
                with contextlib.suppress(AttachError):
                    self._link = obj.program("xdp_gen").attach_xdp(self.interface, netns=self.netns)
        except BaseException:
            obj.close()
            raise
        self._obj = obj
        longest = max(self.templates, key=lambda t: len(t.frame))
        self._buffer = longest.frame  # every frame is shrunk from this buffer to its template
        return self

    def close(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None
        if self._obj is not None:
            self._obj.close()
            self._obj = None

    def __enter__(self) -> Generator:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def anchored(self) -> bool:
        """True when calls are cheap (the program is attached to the sending interface)."""
        return self._link is not None

    def sent_per_cpu(self) -> list[int]:
        if self._obj is None:
            raise GenError("generator is not open")
        return list(self._obj.map("gen_sent")[0])

    # --- sending ------------------------------------------------------------------------------
    def _call(self, repeat: int) -> None:
        assert self._obj is not None
        self._obj.program("xdp_gen").run(self._buffer, repeat=repeat, flags=BPF_F_TEST_XDP_LIVE_FRAMES)

    def _worker(
        self,
        cpu: int | None,
        count: int | None,
        rate: float | None,
        plan: _Plan,
        calls: list[int],
    ) -> None:
        try:
            # a single sender stays on the CPU it starts on: the frame sequence (templates in
            # order, flows) follows a per-CPU counter, which a migration would restart
            os.sched_setaffinity(0, {cpu if cpu is not None else _current_cpu()})  # this thread only
            with _netns.enter(self.netns):  # bpf_redirect resolves the ifindex in this thread's netns
                plan.start.wait()
                n = self._loop(count, rate, plan)
                calls.append(n)
        except BaseException as e:
            plan.errors.append(e)
            plan.stop.set()
            with contextlib.suppress(threading.BrokenBarrierError):
                plan.start.abort()

    def _loop(self, count: int | None, rate: float | None, plan: _Plan) -> int:
        """Calls until ``count`` frames are sent, the deadline passes or ``stop`` is set."""
        done = n = 0
        remaining = count if count is not None else 1 << 62
        adaptive = rate is None and (plan.deadline is not None or count is None)
        if rate is None:
            # a count alone: big calls. Against a deadline or a stop event, calls are sized to
            # last ~CALL_TARGET: a slow receiver runs in this thread's softirq, so a call of
            # 2^14 frames into a DUT that needs 1 ms per frame would last 16 s
            chunk = START_BATCH if adaptive else MAX_BATCH
        else:
            chunk = max(1, round(rate * plan.period))
            period = chunk / rate
        t0 = time.perf_counter()
        while done < remaining and not plan.stop.is_set():
            now = time.perf_counter()
            if plan.deadline is not None and now >= plan.deadline:
                break
            if rate is not None:
                delay = t0 + n * period - now
                if delay > 0:
                    time.sleep(delay)
            batch = min(chunk, remaining - done)
            self._call(batch)
            done += batch
            n += 1
            if adaptive:
                took = max(time.perf_counter() - now, 1e-6)
                chunk = int(min(MAX_BATCH, max(1, chunk * min(CALL_TARGET / took, 4.0))))
            if plan.progress:
                plan.progress(batch)
        return n

    def send(
        self,
        count: int | None = None,
        *,
        duration: float | None = None,
        rate: float | None = None,
        cpus: int | Sequence[int] = 1,
        stop: threading.Event | None = None,
        progress: Callable[[int], None] | None = None,
        period: float = PACE_PERIOD,
    ) -> SendReport:
        """Send ``count`` frames, or for ``duration`` seconds, or until ``stop`` is set.

        ``rate``: frames/s in total (None: as fast as possible), sent as one batch per
        ``period`` on an absolute schedule. ``cpus``: a number of CPUs (the first ones
        this process may use) or a list of CPU ids; count and rate are split between them.
        """
        if self._obj is None:
            self.open()
        if count is None and duration is None and stop is None:
            raise GenError("give a count, a duration or a stop event")
        if count is not None and count < 0:
            raise GenError("count must be >= 0")
        if rate is not None and rate <= 0:
            raise GenError("rate must be > 0 (or None for the maximum)")
        if period <= 0:
            raise GenError("period must be > 0")
        allowed = sorted(os.sched_getaffinity(0))
        if isinstance(cpus, int):
            if cpus < 1 or cpus > len(allowed):
                raise GenError(f"cpus must be between 1 and {len(allowed)}")
            cpu_list: list[int | None] = [None] if cpus == 1 else list(allowed[:cpus])
        else:
            if not cpus or any(c not in allowed for c in cpus):
                raise GenError(f"cpus must be among {allowed}")
            cpu_list = list(cpus)
        k = len(cpu_list)
        shares: list[int | None] = (
            [count // k + (1 if i < count % k else 0) for i in range(k)] if count is not None else [None] * k
        )
        plan = _Plan(
            start=threading.Barrier(k + 1),
            stop=stop or threading.Event(),
            deadline=None,
            period=period,
            progress=progress,
        )
        before = self.sent_per_cpu()
        dropped_before = self._tx_dropped()
        calls: list[int] = []
        threads = [
            threading.Thread(
                target=self._worker,
                args=(cpu, share, rate / k if rate is not None else None, plan, calls),
                name=f"alveole-gen-{cpu}",
                daemon=True,
            )
            for cpu, share in zip(cpu_list, shares, strict=True)
        ]
        for t in threads:
            t.start()
        t0 = time.perf_counter()
        if duration is not None:  # set before the threads are released: they read it once started
            plan.deadline = t0 + duration  # and the run is timed from the same instant
        with contextlib.suppress(threading.BrokenBarrierError):
            plan.start.wait()
        if duration is None:
            t0 = time.perf_counter()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - t0
        if plan.errors:
            raise plan.errors[0]
        after = self.sent_per_cpu()
        per_cpu = {cpu: a - b for cpu, (a, b) in enumerate(zip(after, before, strict=True)) if a != b}
        dropped = self._tx_dropped() - dropped_before
        return SendReport(sum(per_cpu.values()), seconds, sum(calls), per_cpu, rate, tx_dropped=dropped)

    def _tx_dropped(self) -> int:
        return _netns.link_stats(self.interface, self.netns).get("tx_dropped", 0)


@dataclass
class _Plan:
    """What the sending threads share."""

    start: threading.Barrier
    stop: threading.Event
    deadline: float | None
    period: float
    progress: Callable[[int], None] | None
    errors: list[BaseException] = field(default_factory=list)
