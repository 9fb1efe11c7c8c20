"""Hypothesis strategies of rate limiter configs, for the generic differential tests.

Always the virtual clock (kernel and model agree to the nanosecond); small
bursts, and steps from "no refill between packets" to "a full refill", so that
generated sequences cross the limit both ways; both units and key modes.
"""

from __future__ import annotations

from typing import Any

from .config import RatelimitConfig

__all__ = ["configs"]


def configs() -> Any:
    from hypothesis import strategies as st

    @st.composite
    def build(draw: Any) -> RatelimitConfig:
        unit = draw(st.sampled_from(["packets", "bytes"]))
        key = draw(st.sampled_from(["src", "5tuple"]))
        if unit == "packets":
            rate, burst = draw(st.sampled_from([1, 1000, 1_000_000])), draw(st.integers(1, 3))
        else:
            rate, burst = draw(st.sampled_from([1000, 1_000_000])), draw(st.sampled_from([60, 200, 1500]))
        prefixes = (
            {
                "src_prefix_v4": draw(st.sampled_from([32, 24, 0])),
                "src_prefix_v6": draw(st.sampled_from([128, 64])),
            }
            if key == "src"
            else {}
        )
        return RatelimitConfig(
            key=key,
            unit=unit,
            rate=rate,
            burst=burst,
            over_limit=draw(st.sampled_from(["drop", "continue"])),
            clock="virtual",
            clock_step_ns=draw(st.sampled_from([1, 1000, 250_000, 1_000_000])),
            table_size=1024,
            **prefixes,
        )

    return build()
