"""``alveole bench throughput``: Mpps processed by a device under test, row by row.

Every row gets a fresh bed (lab namespaces), the same offered traffic (64-byte UDP from
the in-kernel generator at its maximum rate, over ``flows`` flows) and a DUT that drops
the measured traffic at the end of the path it measures. A run sends for ``duration``
seconds; the figure of a run is (frames the DUT processed) / (generator wall time);
a row's figure is the median of its runs, with min and max.

Rows live in a registry: a row names its bed shape and how to build its DUT. Rows whose
VNF does not exist yet are listed in :data:`PENDING` and reported as skipped; the
engineer who lands the VNF registers the row (a few lines, see :func:`register`).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..trafficgen import Generator, Receiver
from . import policy as pol
from .bed import BedKind, bed, thread_napi
from .dut import BenchError, Dut, IptablesDut, LinuxForwardDut, NftablesDut, XdpDropDut, XdpFilterDut

__all__ = [
    "PENDING",
    "RATIOS",
    "ROWS",
    "Row",
    "RowResult",
    "Settings",
    "measure_row",
    "measure_throughput",
    "ratios",
    "register",
    "sig",
    "wait_idle",
]


@dataclass(frozen=True)
class Settings:
    """How a row is measured."""

    runs: int = 3
    duration: float = 1.0  # seconds per run
    warmup: float = 0.2
    flows: int = 256
    size: int = 64
    proto: str = "udp"
    cpus: int = 1
    idle_wait: float = 15.0  # at most this long for idle CPUs before a row (see wait_idle)
    napi: str = "shared"  # "threaded": the DUT's receive path on a CPU of its own (see bed.thread_napi)
    max_foreign_load: float = 0.1  # a run during which the unused CPUs were busier than this is redone
    retries: int = 6  # at most this many redone runs per row

    @classmethod
    def quick(cls) -> Settings:
        return cls(runs=1, duration=0.15, warmup=0.05, idle_wait=1.0, retries=0)


@dataclass(frozen=True)
class Row:
    """A benchmark row: a bed shape and a DUT factory (``rules`` for rule-count sweeps)."""

    name: str
    description: str
    kind: BedKind
    make: Callable[[int], Dut]
    rules: int = 0  # the rule count the row's DUT is built with (0: not a rule set)
    ready: Callable[[], str | None] = lambda: None  # why the row cannot run here, or None


@dataclass
class RowResult:
    name: str
    mpps: float  # median of the runs
    min: float
    max: float
    runs: list[float] = field(default_factory=list)
    offered_mpps: float = 0.0  # the generator's median rate in the same runs
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


ROWS: dict[str, Row] = {}

# rows that need a VNF other engineers are building: name -> what it waits for
PENDING: dict[str, str] = {
    "firewall-1k": "the alveole firewall VNF (1k rules, same policy as iptables-1k)",
    "firewall-xdpf": "the alveole firewall VNF (the xdp-filter row's policy)",
    "router-fwd": "the alveole router VNF (the linux-fwd row's routes)",
}

# targets of the issue: (row, baseline, minimum ratio row/baseline)
RATIOS: tuple[tuple[str, str, float], ...] = (
    ("firewall-1k", "xdp-drop", 0.8),
    ("firewall-1k", "iptables-1k", 50.0),
    ("firewall-1k", "nftables-set-1k", 3.0),
    ("firewall-xdpf", "xdp-filter", 3.0),
    ("chain3", "xdp-drop", 0.7),
    ("router-fwd", "linux-fwd", 3.0),
)


def register(row: Row) -> Row:
    """Add (or replace) a row; a pending row of that name is no longer pending.

    The firewall's rows, for instance (``vnf/firewall/dut.py``)::

        register(Row("firewall-1k", "alveole firewall, 1k rules", "terminal",
                     lambda n: FirewallDut(policy_config(pol.firewall_policy(n))), rules=1000))
    """
    ROWS[row.name] = row
    PENDING.pop(row.name, None)
    return row


def _rule_rows() -> None:
    register(
        Row("xdp-drop", "XDP program that counts and drops everything", "terminal", lambda n: XdpDropDut())
    )
    register(
        Row(
            "iptables-1k",
            "iptables, 1k linear INPUT rules (XDP pass, then the stack)",
            "terminal",
            lambda n: IptablesDut(pol.firewall_policy(n)),
            rules=1000,
        )
    )
    register(
        Row(
            "nftables-1k",
            "nftables, 1k linear input rules",
            "terminal",
            lambda n: NftablesDut(pol.firewall_policy(n), "linear"),
            rules=1000,
        )
    )
    register(
        Row(
            "nftables-set-1k",
            "nftables, the same policy as one concatenated interval-set lookup",
            "terminal",
            lambda n: NftablesDut(pol.firewall_policy(n), "set"),
            rules=1000,
        )
    )
    register(
        Row(
            "xdp-filter",
            "xdp-tools xdp-filter, deny mode, 100 allowed ports + 100 allowed sources",
            "terminal",
            lambda n: XdpFilterDut(pol.xdpf_policy()),
        )
    )
    register(
        Row(
            "linux-fwd",
            "Linux IP forwarding veth to veth (XDP pass in, counted at the sink)",
            "forward",
            lambda n: LinuxForwardDut(),
        )
    )


_rule_rows()


def _vnf_rows() -> None:
    """Rows of catalog VNFs, registered by the VNF's own module (imported late: it imports bench)."""
    from ..vnf.firewall.dut import register_rows as firewall_rows
    from ..vnf.lb.dut import register_rows as lb_rows
    from ..vnf.nat.dut import register_rows as nat_rows
    from ..vnf.router.dut import register_rows as router_rows
    from .chain3 import register_rows as chain3_rows

    router_rows()
    lb_rows()
    nat_rows()
    firewall_rows()
    chain3_rows()  # a datapath chain of catalog VNFs (imports the datapath, so late as well)


_vnf_rows()


def sig(x: float, digits: int = 4) -> float:
    """``x`` rounded to ``digits`` significant digits (0.0005123 stays informative)."""
    return float(f"{x:.{digits}g}") if x else 0.0


def _cpu_times(cpus: Iterable[int] | None = None) -> tuple[int, int]:
    """(idle, total) jiffies of all CPUs, or of ``cpus`` only."""
    wanted = None if cpus is None else {f"cpu{c}" for c in cpus}
    idle = total = 0
    with open("/proc/stat") as f:
        for line in f:
            name, *rest = line.split()
            if not name.startswith("cpu"):
                break
            if (wanted is None and name == "cpu") or (wanted is not None and name in wanted):
                fields = [int(x) for x in rest]
                idle += fields[3] + fields[4]  # idle + iowait
                total += sum(fields)
    return idle, total


def _busy(before: tuple[int, int], after: tuple[int, int]) -> float:
    return 1 - (after[0] - before[0]) / max(after[1] - before[1], 1)


def wait_idle(threshold: float = 0.9, window: float = 0.2, timeout: float = 15.0) -> float:
    """Wait until the machine's CPUs are idle (at least ``threshold`` over ``window``).

    Removing a namespace that held 100k rules keeps a kernel worker busy for seconds after
    the namespace is gone; other processes may be busy too. Returns the idle fraction
    seen last (below ``threshold`` if the wait timed out).
    """
    deadline = time.monotonic() + timeout
    while True:
        i0, t0 = _cpu_times()
        time.sleep(window)
        i1, t1 = _cpu_times()
        idle = (i1 - i0) / max(t1 - t0, 1)
        if idle >= threshold or time.monotonic() > deadline:
            return idle


def _settle(count: Callable[[], int], interval: float = 0.02, timeout: float = 5.0) -> tuple[int, float]:
    """The count once it stopped moving, and when that final value was first seen.

    A DUT slower than the generator still holds up to a ring of frames (256 on a veth)
    when the generator stops; they are processed after it, so the run lasts until then.
    """
    deadline = time.monotonic() + timeout
    last, seen = count(), time.perf_counter()
    while time.monotonic() < deadline:
        time.sleep(interval)
        now = count()
        if now == last:
            return now, seen
        last, seen = now, time.perf_counter()
    return last, seen


def measure_row(
    row: Row,
    settings: Settings = Settings(),
    *,
    rules: int | None = None,
    on_run: Callable[[int, float], None] | None = None,
) -> RowResult:
    """Build ``row``'s bed and DUT, measure ``settings.runs`` runs, tear everything down."""
    n_rules = row.rules if rules is None else rules
    idle = wait_idle(timeout=settings.idle_wait)
    with bed(row.kind, queues=settings.cpus) as b:
        dut = row.make(n_rules)
        sink: Receiver | None = None
        gen: Generator | None = None
        try:
            dut.setup(b)
            allowed = sorted(os.sched_getaffinity(0))
            # the generator (and so the DUT, in its softirq) on the first CPUs; the others
            # should stay idle: their load during a run says something else was running
            gen_cpus: int | list[int] = allowed[: settings.cpus]
            watched = allowed[settings.cpus :]
            if settings.napi == "threaded":
                watched = []
                if settings.cpus != 1 or len(allowed) < 2:
                    raise BenchError("threaded NAPI needs one generator CPU and another CPU for the DUT")
                gen_cpus = allowed[:1]
                thread_napi(b, set(allowed[1:]))
            elif settings.napi != "shared":
                raise BenchError(f"napi is 'shared' or 'threaded', not {settings.napi!r}")
            if dut.counts_at_sink:
                assert b.sink_if is not None
                sink = Receiver(b.sink_if, netns=b.sink_ns).open()
            if sink is not None:
                count = arrivals = lambda: sink.packets
            else:
                count, arrivals = dut.processed, dut.arrivals
            gen = Generator(
                b.gen_if, b.traffic(settings.size, proto=settings.proto), netns=b.gen_ns, flows=settings.flows
            ).open()
            if settings.warmup > 0:
                gen.send(duration=settings.warmup, cpus=gen_cpus)
            _settle(arrivals)
            rates: list[float] = []
            offered: list[float] = []
            foreign: list[float] = []
            retried = 0
            last = count()
            while len(rates) < settings.runs:
                cpu0 = _cpu_times(watched)
                start = time.perf_counter()
                report = gen.send(duration=settings.duration, cpus=gen_cpus)
                # while sending only: reading some DUTs' counters runs tools on the other CPU
                load = _busy(cpu0, _cpu_times(watched)) if watched else 0.0
                _, drained = _settle(arrivals)
                now = count()
                elapsed = max(report.seconds, drained - start)  # the run ends when the DUT is done
                rate = (now - last) / elapsed / 1e6
                last = now
                if load > settings.max_foreign_load and retried < settings.retries:
                    retried += 1  # another process took CPU time during the run: run it again
                    wait_idle(timeout=settings.idle_wait)
                    _settle(arrivals)
                    last = count()
                    continue
                rates.append(rate)
                offered.append(report.pps / 1e6)
                foreign.append(load)
                if on_run:
                    on_run(len(rates) - 1, rate)
            details = {"rules": n_rules} if n_rules else {}
            details.update(dut.details())
            details.update(
                bed=b.kind,
                flows=settings.flows,
                size=settings.size,
                proto=settings.proto,
                cpus=settings.cpus,
                napi=settings.napi,
                duration_s=settings.duration,
                anchored_generator=gen.anchored,
                cpu_idle_before=round(idle, 3),  # < 0.9: something else was busy (the wait timed out)
                # busy fraction of the CPUs the benchmark does not use, per kept run, and how many
                # runs were discarded and run again because it was above max_foreign_load
                foreign_load=[round(x, 3) for x in foreign],
                retried_runs=retried,
            )
        finally:
            if gen is not None:
                gen.close()
            if sink is not None:
                sink.close()
            dut.teardown()
    return RowResult(
        name=row.name,
        mpps=sig(statistics.median(rates)),
        min=sig(min(rates)),
        max=sig(max(rates)),
        runs=[sig(r) for r in rates],
        offered_mpps=sig(statistics.median(offered)),
        details=details,
    )


def ratios(results: Iterable[RowResult]) -> list[dict[str, Any]]:
    """The issue's targets that can be computed from ``results`` (both rows measured)."""
    by_name = {r.name: r.mpps for r in results}
    out = []
    for row, base, target in RATIOS:
        if row in by_name and base in by_name and by_name[base] > 0:
            value = by_name[row] / by_name[base]
            out.append(
                {"name": f"{row} / {base}", "value": sig(value), "target": target, "met": value >= target}
            )
    return out


def measure_throughput(
    names: Iterable[str] | None = None,
    settings: Settings = Settings(),
    *,
    on_row: Callable[[str, RowResult | None, str | None], None] | None = None,
    on_run: Callable[[str, int, float], None] | None = None,
) -> dict[str, Any]:
    """Measure the named rows (default: all registered), report pending/unavailable ones."""
    wanted = list(names) if names is not None else [*ROWS, *PENDING]
    results: list[RowResult] = []
    skipped: list[dict[str, str]] = []
    for name in wanted:
        if name in PENDING and name not in ROWS:
            skipped.append({"name": name, "reason": f"pending: needs {PENDING[name]}"})
            if on_row:
                on_row(name, None, skipped[-1]["reason"])
            continue
        if name not in ROWS:
            raise KeyError(f"no benchmark row {name!r} (have: {', '.join([*ROWS, *PENDING])})")
        row = ROWS[name]
        reason = row.ready()
        if reason:
            skipped.append({"name": name, "reason": reason})
            if on_row:
                on_row(name, None, reason)
            continue
        result = measure_row(row, settings, on_run=(lambda i, v, n=name: on_run(n, i, v)) if on_run else None)
        results.append(result)
        if on_row:
            on_row(name, result, None)
    return {
        "results": [r.as_json() for r in results],
        "skipped": skipped,
        "ratios": ratios(results),
        "settings": asdict(settings),
    }
