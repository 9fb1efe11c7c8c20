"""The rate limiter's configuration and how it reaches the kernel.

* ``rate``, ``unit``, ``burst``, ``over_limit`` and the source prefixes go to
  ``rl_settings``: they change at run time, as one map write (buckets keep
  their state: a bucket's ``tat`` is time, whatever the rate);
* ``key`` (const volatile ``key_mode``), ``clock`` and ``table_size`` are fixed
  at load.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from ..bucket import BURST_MAX, RATE_BOUNDS, ClockConfig, Unit, bucket_conf

__all__ = ["BUCKET_TABLES", "KEY_MODES", "UNUSED_TABLE", "KeyMode", "RatelimitConfig"]

KeyMode = Literal["src", "5tuple"]
BUCKET_TABLES = ("rl_src4", "rl_src6", "rl_flows4", "rl_flows6")
UNUSED_TABLE = 64  # max_entries of the bucket tables the key mode does not use
KEY_MODES: dict[str, int] = {"src": 0, "5tuple": 1}  # enum rl_key_mode


class RatelimitConfig(ClockConfig):
    """A token bucket per key: ``rate`` units per second, ``burst`` units at once."""

    key: KeyMode = Field("src", description="src: one bucket per source; 5tuple: one per flow")
    unit: Unit = Field("packets", description="what rate and burst count: packets, or bytes (frame length)")
    rate: int = Field(1000, ge=1, description="units per second per key")
    burst: int = Field(1000, ge=1, le=BURST_MAX, description="units a full bucket lets through at once")
    over_limit: Literal["drop", "continue"] = Field(
        "drop", description="drop packets over the limit, or let them continue, counted (dry run)"
    )
    src_prefix_v4: int = Field(32, ge=0, le=32, description="key=src: IPv4 sources sharing one bucket (/N)")
    src_prefix_v6: int = Field(128, ge=0, le=128, description="key=src: IPv6 sources sharing one bucket (/N)")
    table_size: int = Field(
        65536, ge=64, le=1 << 22, description="buckets per family; least recently used go first"
    )

    @field_validator("rate")
    @classmethod
    def _rate_in_bounds(cls, value: int, info: ValidationInfo) -> int:
        unit = info.data.get("unit", "packets")
        low, high = RATE_BOUNDS[unit]
        if not low <= value <= high:
            raise ValueError(f"{unit} per second must be between {low} and {high}")
        return value

    @field_validator("src_prefix_v4", "src_prefix_v6")
    @classmethod
    def _only_for_src(cls, value: int, info: ValidationInfo) -> int:
        full = 32 if info.field_name == "src_prefix_v4" else 128
        if info.data.get("key") == "5tuple" and value != full:
            raise ValueError("source prefixes group sources for key=src only")
        return value

    def rodata(self) -> dict[str, Any]:
        return {"key_mode": KEY_MODES[self.key], **self.clock_rodata()}

    def map_sizes(self) -> dict[str, int]:
        # the key mode's tables get table_size; the other pair is never used
        used = ("rl_src4", "rl_src6") if self.key == "src" else ("rl_flows4", "rl_flows6")
        return {t: self.table_size if t in used else UNUSED_TABLE for t in BUCKET_TABLES}

    def map_entries(self) -> dict[str, dict[Any, Any]]:
        settings = {
            "bucket": bucket_conf(self.rate, self.burst, self.unit).as_map_value(),
            "bytes": int(self.unit == "bytes"),
            "dry_run": int(self.over_limit == "continue"),
            "prefix4": self.src_prefix_v4,
            "prefix6": self.src_prefix_v6,
        }
        return {"rl_settings": {0: settings}}
