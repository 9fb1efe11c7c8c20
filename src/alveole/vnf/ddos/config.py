"""The ddos guard's configuration and how it reaches the kernel.

* ``blocklist`` becomes the nodes of ``ddos_block4`` / ``ddos_block6``
  (:mod:`.blocklist`), written as a diff, deepest nodes first; the SYN limit
  (``syn_rate``, ``syn_burst``, ``syn_prefix_v4/v6``) and the node counts go to
  ``ddos_settings``: all of it changes at run time, without a reload;
* ``table_size_v4/v6`` and ``syn_table_size`` size the tables, and ``clock``
  picks the buckets' clock: fixed at load.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, IPvAnyNetwork, ValidationInfo, field_validator

from ..bucket import BURST_MAX, RATE_BOUNDS, ClockConfig, bucket_conf
from .blocklist import BlocklistTooLargeError, compile_table, node_count

__all__ = ["BLOCKLIST_MAX", "DdosConfig"]

BLOCKLIST_MAX = 1_000_000  # prefixes a config may list


class DdosConfig(ClockConfig):
    """Prefix blocklist, per-source SYN limit, table sizes."""

    # sizes first: the blocklist validator checks its node count against them
    table_size_v4: int = Field(
        65536, ge=16, le=1 << 22, description="nodes the IPv4 blocklist table holds (allocated as used)"
    )
    table_size_v6: int = Field(
        65536, ge=16, le=1 << 22, description="nodes the IPv6 blocklist table holds (allocated as used)"
    )
    syn_table_size: int = Field(
        65536, ge=64, le=1 << 22, description="SYN buckets per family; least recently used go first"
    )
    blocklist: tuple[IPvAnyNetwork, ...] = Field(
        (), max_length=BLOCKLIST_MAX, description="source prefixes whose packets are dropped (IPv4, IPv6)"
    )
    syn_rate: int | None = Field(
        100,
        ge=RATE_BOUNDS["packets"][0],
        le=RATE_BOUNDS["packets"][1],
        description="TCP SYNs (without ACK) per second per source; None: SYNs are not limited",
    )
    syn_burst: int = Field(100, ge=1, le=BURST_MAX, description="SYNs a source may send at once")
    syn_prefix_v4: int = Field(32, ge=0, le=32, description="IPv4 sources sharing one SYN bucket: /N")
    syn_prefix_v6: int = Field(64, ge=0, le=128, description="IPv6 sources sharing one SYN bucket: /N")

    @field_validator("blocklist")
    @classmethod
    def _fits(cls, value: tuple[Any, ...], info: ValidationInfo) -> tuple[Any, ...]:
        for family, size_field in ((4, "table_size_v4"), (6, "table_size_v6")):
            size = info.data.get(size_field)
            if size is None:
                continue  # the size itself is invalid: reported on its own
            try:
                compile_table(value, family, limit=size)
            except BlocklistTooLargeError as e:
                raise ValueError(f"{e} (raise {size_field})") from None
        return value

    def rodata(self) -> dict[str, Any]:
        return self.clock_rodata()

    def map_sizes(self) -> dict[str, int]:
        return {
            "ddos_block4": self.table_size_v4,
            "ddos_block6": self.table_size_v6,
            "ddos_syn4": self.syn_table_size,
            "ddos_syn6": self.syn_table_size,
        }

    def map_entries(self) -> dict[str, dict[Any, Any]]:
        # the tables first (each deepest node first), the settings that enable them last
        syn = bucket_conf(self.syn_rate, self.syn_burst) if self.syn_rate else None
        tables = {
            name: {k: n.as_map_value() for k, n in compile_table(self.blocklist, family).items()}
            for name, family in (("ddos_block4", 4), ("ddos_block6", 6))
        }
        settings = {
            "syn": syn.as_map_value() if syn else {},
            "syn_prefix4": self.syn_prefix_v4,
            "syn_prefix6": self.syn_prefix_v6,
            "nodes4": node_count(self.blocklist, 4),
            "nodes6": node_count(self.blocklist, 6),
        }
        return {**tables, "ddos_settings": {0: settings}}
