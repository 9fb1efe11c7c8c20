"""Token buckets (GCRA) and their clocks: ``alveole/bucket.h`` in Python, integer for integer.

A bucket is one number, ``tat``: the time (ns) at which it is full again. A
packet of ``n`` units conforms when ``max(tat, now) + cost(n) - now <= burst_ns``,
and only then moves ``tat``. :func:`bucket_conf` turns a rate and a burst into
the ``struct alv_bucket_conf`` the kernel reads; :func:`take` is the decision.
Reference models use these so that they predict the kernel exactly.

Clocks: :class:`ClockConfig` is the config part every bucket VNF shares
(``clock``: coarse, precise, or a virtual clock that advances ``clock_step_ns``
at each reading, for deterministic tests); :func:`model_clock` gives a model the
matching Python clock.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from .config import VnfConfig

__all__ = [
    "BURST_MAX",
    "FP_SHIFT",
    "NS_PER_S",
    "RATE_BOUNDS",
    "UNITS_MAX",
    "BucketConf",
    "BucketResult",
    "Clock",
    "ClockConfig",
    "ClockName",
    "Unit",
    "VirtualClock",
    "bucket_conf",
    "cost",
    "model_clock",
    "take",
]

FP_SHIFT = 16  # ALV_BUCKET_FP_SHIFT
UNITS_MAX = 1 << 20  # ALV_BUCKET_UNITS_MAX
NS_PER_S = 1_000_000_000
BURST_MAX = 1 << 32
_CLOCK_MONOTONIC_COARSE = getattr(time, "CLOCK_MONOTONIC_COARSE", 6)  # Linux's id; Python lacks the name
Unit = Literal["packets", "bytes"]
# rates the fixed point holds without overflow (units * cost_fp < 2^64) or gross rounding
RATE_BOUNDS: dict[str, tuple[int, int]] = {"packets": (1, 100_000_000), "bytes": (1_000, 100_000_000_000)}


class Clock(enum.IntEnum):
    """``enum alv_clock``."""

    COARSE = 0
    PRECISE = 1
    VIRTUAL = 2


class BucketResult(enum.IntEnum):
    """``enum alv_bucket_result``."""

    OK = 0
    OVER = 1
    CONTENDED = 2


@dataclass(frozen=True)
class BucketConf:
    """``struct alv_bucket_conf``: ns per unit (16 fractional bits) and the burst as ns."""

    cost_fp: int
    burst_ns: int

    def as_map_value(self) -> dict[str, int]:
        return {"cost_fp": self.cost_fp, "burst_ns": self.burst_ns}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def bucket_conf(rate: int, burst: int, unit: Unit = "packets") -> BucketConf:
    """The conf of a bucket of ``burst`` units refilled at ``rate`` units per second.

    Packets: a whole number of ns per packet (``ceil(1e9 / rate)``), so that a full
    bucket lets exactly ``burst`` packets through; the rate enforced is then
    ``1e9 / that`` (at most 0.1 % under ``rate`` up to 1 Mpps). Bytes: 16 fractional
    bits of ns per byte.
    """
    low, high = RATE_BOUNDS[unit]
    if not low <= rate <= high:
        raise ValueError(f"rate {rate} {unit}/s is outside {low} … {high}")
    if not 1 <= burst <= BURST_MAX:
        raise ValueError(f"burst {burst} is outside 1 … {BURST_MAX}")
    if unit == "packets":
        cost_fp = _ceil_div(NS_PER_S, rate) << FP_SHIFT
    else:
        cost_fp = _ceil_div(NS_PER_S << FP_SHIFT, rate)
    return BucketConf(cost_fp, _ceil_div(burst * cost_fp, 1 << FP_SHIFT))


def cost(conf: BucketConf, units: int) -> int:
    """``alv_bucket_cost``: ns that ``units`` cost (capped at ``UNITS_MAX`` units), rounded up."""
    units = min(units, UNITS_MAX)
    return _ceil_div(units * conf.cost_fp, 1 << FP_SHIFT)


def take(tat: int, conf: BucketConf, now: int, ns: int) -> tuple[BucketResult, int]:
    """``alv_bucket_take`` on one CPU: the result and the bucket's ``tat`` afterwards."""
    nxt = max(tat, now) + ns
    if nxt - now > conf.burst_ns:
        return BucketResult.OVER, tat
    return BucketResult.OK, nxt


def tokens(tat: int, conf: BucketConf, now: int) -> float:
    """Units left in a bucket at ``now`` (for display: the kernel keeps only ``tat``)."""
    unit_ns = conf.cost_fp / (1 << FP_SHIFT)
    debt = max(tat - now, 0)
    return max(conf.burst_ns - debt, 0) / unit_ns


class VirtualClock:
    """The virtual clock: each reading advances it by ``step`` ns (``alv_vclock``)."""

    def __init__(self, step: int, start: int = 0) -> None:
        self.step = step
        self.now = start

    def __call__(self) -> int:
        self.now += self.step
        return self.now


def model_clock(clock: Clock, step: int) -> Callable[[], int]:
    """The Python clock that matches the kernel's: a :class:`VirtualClock`, or CLOCK_MONOTONIC.

    With a real clock the model can only approximate the kernel near the limit (it
    reads its clock after the kernel did): tests that compare verdicts exactly use
    the virtual clock, or stay far from the limit.
    """
    if clock == Clock.VIRTUAL:
        return VirtualClock(step)
    if clock == Clock.COARSE:
        return lambda: time.clock_gettime_ns(_CLOCK_MONOTONIC_COARSE)
    return time.monotonic_ns


ClockName = Literal["coarse", "precise", "virtual"]


class ClockConfig(VnfConfig):
    """The clock part of a bucket VNF's config (``const volatile alv_clock``, fixed at load)."""

    clock: ClockName = Field(
        "coarse",
        description="coarse: clock-tick time (~3 ns a read); precise: bpf_ktime_get_ns (~25 ns); "
        "virtual: a test clock advancing clock_step_ns per bucket reading (deterministic)",
    )
    clock_step_ns: int = Field(
        1000, ge=1, le=NS_PER_S, description="the virtual clock's step (clock=virtual only)"
    )

    @property
    def clock_id(self) -> Clock:
        return Clock[self.clock.upper()]

    def clock_rodata(self) -> dict[str, Any]:
        out: dict[str, Any] = {"alv_clock": int(self.clock_id)}
        if self.clock_id == Clock.VIRTUAL:  # the step matters only then: no reload when it changes alone
            out["alv_clock_step_ns"] = self.clock_step_ns
        return out

    def model_clock(self) -> Callable[[], int]:
        return model_clock(self.clock_id, self.clock_step_ns)
