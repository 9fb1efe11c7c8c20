"""The shared token bucket (alveole.vnf.bucket, the mirror of alveole/bucket.h), without the kernel."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alveole.vnf.bucket import (
    FP_SHIFT,
    NS_PER_S,
    UNITS_MAX,
    BucketResult,
    ClockConfig,
    VirtualClock,
    bucket_conf,
    cost,
    take,
    tokens,
)


def test_packets_cost_a_whole_number_of_ns() -> None:
    conf = bucket_conf(1000, 5)
    assert conf.cost_fp == 1_000_000 << FP_SHIFT
    assert conf.burst_ns == 5_000_000
    assert cost(conf, 1) == 1_000_000
    third = bucket_conf(3, 1)  # 333333333.3 ns rounds up: the bucket is a little strict
    assert cost(third, 1) == 333_333_334 and third.burst_ns == 333_333_334


def test_bytes_use_16_fractional_bits() -> None:
    conf = bucket_conf(1_250_000_000, 1500, "bytes")  # 10 Gbit/s: 0.8 ns a byte
    assert conf.cost_fp == -(-(NS_PER_S << FP_SHIFT) // 1_250_000_000)
    # 0.8 ns/byte is 52428.8 / 2^16: cost_fp rounds up to 52429, costs round up too
    assert cost(conf, 1500) == 1201  # 1200.005
    assert cost(conf, 64) == 52  # 51.2
    assert cost(conf, UNITS_MAX * 4) == cost(conf, UNITS_MAX)  # capped, as in C


@pytest.mark.parametrize(
    ("rate", "burst", "unit"),
    [
        (0, 1, "packets"),
        (10**9, 1, "packets"),
        (999, 1, "bytes"),
        (1000, 0, "packets"),
        (1, 2**33, "packets"),
    ],
)
def test_bounds_keep_the_fixed_point_exact(rate: int, burst: int, unit: str) -> None:
    with pytest.raises(ValueError):
        bucket_conf(rate, burst, unit)  # type: ignore[arg-type]


def test_a_full_bucket_lets_exactly_burst_packets_through_at_once() -> None:
    conf = bucket_conf(1000, 7)
    tat, passed = 0, 0
    for _ in range(20):
        result, tat = take(tat, conf, 5_000_000_000, cost(conf, 1))
        passed += result == BucketResult.OK
    assert passed == 7
    assert tokens(tat, conf, 5_000_000_000) == 0
    # 3 ms later 3 tokens are back; after a long pause the bucket is full, never more
    assert tokens(tat, conf, 5_003_000_000) == pytest.approx(3)
    assert tokens(tat, conf, 9_000_000_000) == pytest.approx(7)


def test_over_the_limit_leaves_the_bucket_unchanged() -> None:
    conf = bucket_conf(1000, 1)
    result, tat = take(0, conf, 10, cost(conf, 1))
    assert result == BucketResult.OK and tat == 1_000_010
    assert take(tat, conf, 20, cost(conf, 1)) == (BucketResult.OVER, tat)


def _conforming(conf, arrivals, units) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    tat, out = 0, []
    for t, n in zip(arrivals, units, strict=True):
        result, tat = take(tat, conf, t, cost(conf, n))
        if result == BucketResult.OK:
            out.append((t, n))
    return out


@settings(max_examples=60, deadline=None)
@given(
    unit=st.sampled_from(["packets", "bytes"]),
    rate=st.integers(1_000, 10_000_000),
    burst=st.integers(1, 2000),
    gaps=st.lists(st.integers(0, 3_000_000), min_size=1, max_size=200),
    sizes=st.lists(st.integers(60, 1514), min_size=200, max_size=200),
)
def test_no_window_passes_more_than_burst_plus_rate(unit, rate, burst, gaps, sizes) -> None:  # type: ignore[no-untyped-def]
    """GCRA's guarantee, with the integer arithmetic: in any window [t_i, t_j] the
    conforming units are at most burst + rate * (t_j - t_i) (+1 ns of rounding in bytes)."""
    conf = bucket_conf(rate, burst, unit)
    arrivals, t = [], 10**9
    for g in gaps:
        t += g
        arrivals.append(t)
    units = [1] * len(arrivals) if unit == "packets" else sizes[: len(arrivals)]
    passed = _conforming(conf, arrivals, units)
    for i in range(len(passed)):
        total = 0
        for j in range(i, len(passed)):
            total += passed[j][1]
            span = passed[j][0] - passed[i][0] + (0 if unit == "packets" else 1)
            assert total <= burst + Fraction(rate * span, NS_PER_S)


@settings(max_examples=40, deadline=None)
@given(rate=st.integers(1, 100_000), burst=st.integers(1, 50), gap=st.integers(1, 10_000_000))
def test_long_run_rate_is_the_configured_one(rate: int, burst: int, gap: int) -> None:
    """Offered faster than the rate, a bucket passes about rate * T + burst.

    Arrivals on a grid of ``gap`` ns: a bucket that is full when its next token is due
    wastes up to one gap per packet (burst 1 is always full when a token is due)."""
    conf = bucket_conf(rate, burst)
    period = cost(conf, 1)
    if gap >= period:
        gap = max(1, period // 3)  # offer at least 3x the rate
    n = 3000
    passed = len(_conforming(conf, [10**9 + i * gap for i in range(n)], [1] * n))
    span = (n - 1) * gap
    assert passed <= burst + span / period + 1
    assert passed >= burst + span / (period + gap) - 1


def test_virtual_clock_advances_at_each_reading() -> None:
    clock = VirtualClock(250)
    assert [clock(), clock(), clock()] == [250, 500, 750] and clock.now == 750


def test_clock_config_reaches_the_kernel_as_rodata() -> None:
    assert ClockConfig().clock_rodata() == {"alv_clock": 0}
    assert ClockConfig(clock="precise").clock_rodata() == {"alv_clock": 1}
    assert ClockConfig(clock="virtual", clock_step_ns=7).clock_rodata() == {
        "alv_clock": 2,
        "alv_clock_step_ns": 7,
    }
    # the step alone does not change what is loaded unless the clock is virtual
    assert ClockConfig(clock_step_ns=7).clock_rodata() == ClockConfig().clock_rodata()
    assert isinstance(ClockConfig(clock="virtual").model_clock(), VirtualClock)
