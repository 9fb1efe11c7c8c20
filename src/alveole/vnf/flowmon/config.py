"""flowmon's configuration and how it reaches the kernel.

* ``key`` and ``precise_time`` become ``const volatile`` globals (fixed at
  load: the verifier prunes the key fields left out and the clock not used);
* ``table_size`` sizes both flow tables (fixed at load);
* ``ignore`` fills the ``flowmon_ignore`` LPM trie and ``flowmon_settings``
  (changeable at run time, applied as a diff).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import Field, IPvAnyNetwork, field_validator

from ..config import VnfConfig

__all__ = ["DEFAULT_KEY", "IGNORE_MAX", "KEY_BITS", "FlowmonConfig", "KeyField", "prefix_key"]

KeyField = Literal["src", "dst", "sport", "dport", "proto", "vlan"]

# enum flowmon_field in flowmon.bpf.c (a test checks them against the object's BTF)
KEY_BITS: dict[str, int] = {"src": 1, "dst": 2, "sport": 4, "dport": 8, "proto": 16, "vlan": 32}
DEFAULT_KEY: tuple[KeyField, ...] = ("src", "dst", "sport", "dport", "proto")
IGNORE_MAX = 1024  # max_entries of flowmon_ignore

_V4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def prefix_key(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> ipaddress.IPv6Network:
    """The LPM key of a prefix: IPv4 as ::ffff:a.b.c.d/(96 + len), like the addresses."""
    if net.version == 4:
        mapped = ipaddress.IPv6Address(int(_V4_MAPPED.network_address) | int(net.network_address))
        return ipaddress.IPv6Network((mapped, 96 + net.prefixlen))
    return ipaddress.IPv6Network(net)


class FlowmonConfig(VnfConfig):
    """How flowmon keys, sizes and filters its flow tables."""

    table_size: int = Field(
        65536, ge=64, le=1 << 22, description="flows each family's table holds; least recently used go first"
    )
    key: tuple[KeyField, ...] = Field(
        DEFAULT_KEY, min_length=1, description="fields that key a flow (others are zero in the key)"
    )
    precise_time: bool = Field(
        False, description="bpf_ktime_get_ns() timestamps instead of clock-tick ones (+~23 ns a packet here)"
    )
    ignore: tuple[IPvAnyNetwork, ...] = Field(
        (), max_length=IGNORE_MAX, description="prefixes whose traffic (source or destination) is not tracked"
    )

    @field_validator("key")
    @classmethod
    def _unique_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        dup = sorted({f for f in value if value.count(f) > 1})
        if dup:
            raise ValueError(f"fields listed twice: {', '.join(dup)}")
        return value

    @field_validator("ignore")
    @classmethod
    def _unique_prefixes(cls, value: tuple[Any, ...]) -> tuple[Any, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a prefix is listed twice")
        return value

    @property
    def key_mask(self) -> int:
        mask = 0
        for f in self.key:
            mask |= KEY_BITS[f]
        return mask

    def rodata(self) -> dict[str, Any]:
        return {"key_fields": self.key_mask, "precise_time": int(self.precise_time)}

    def map_sizes(self) -> dict[str, int]:
        return {"flowmon_flows4": self.table_size, "flowmon_flows6": self.table_size}

    def map_entries(self) -> dict[str, dict[Any, Any]]:
        # the trie first, the count second: adding, the lookups start once the entries are in
        return {
            "flowmon_ignore": {prefix_key(net): 1 for net in self.ignore},
            "flowmon_settings": {0: {"ignore_count": len(self.ignore)}},
        }
