"""The NAT's configuration and how it reaches the kernel.

Everything is applied as map diffs (no reload) except ``table_size``, which
sizes the conntrack table and the reverse bindings (fixed at load):

* ``address`` / ``address6``, ``ports``, ``seed`` -> ``nat_conf``;
* ``snat`` -> the ``nat_snat`` LPM trie (IPv4 prefixes stored IPv4-mapped);
* ``forward`` -> ``nat_dnat``;
* ``timeouts`` -> ``alv_ct_conf`` (the conntrack core's per-state timeouts).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

import pydantic
from pydantic import Field, IPvAnyAddress, IPvAnyNetwork, field_validator, model_validator

from ...conntrack import Timeouts
from ..config import VnfConfig
from ..parse import mapped

__all__ = ["PREFIX_MAX", "RULE_MAX", "NatConfig", "PortForward", "prefix_key"]

PREFIX_MAX = 1024  # max_entries of nat_snat
RULE_MAX = 1024  # max_entries of nat_dnat
PROTOCOLS = {"tcp": 6, "udp": 17}
_V4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def prefix_key(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> ipaddress.IPv6Network:
    """The LPM key of a prefix: IPv4 as ::ffff:a.b.c.d/(96 + len), like the parser's addresses."""
    if net.version == 4:
        base = ipaddress.IPv6Address(int(_V4_MAPPED.network_address) | int(net.network_address))
        return ipaddress.IPv6Network((base, 96 + net.prefixlen))
    return ipaddress.IPv6Network(net)


class PortForward(pydantic.BaseModel):
    """DNAT: connections to the NAT address on ``port`` go to ``to``:``to_port`` inside."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    proto: Literal["tcp", "udp"] = "tcp"
    port: int = Field(ge=1, le=65535, description="port on the NAT address")
    to: IPvAnyAddress = Field(description="the inside server")
    to_port: int | None = Field(None, ge=1, le=65535, description="its port (default: port)")

    @property
    def target_port(self) -> int:
        return self.to_port if self.to_port is not None else self.port

    @property
    def proto_number(self) -> int:
        return PROTOCOLS[self.proto]


class NatConfig(VnfConfig):
    """Masquerade (``snat`` prefixes behind ``address``/``address6``) and port forwarding."""

    address: ipaddress.IPv4Address | None = Field(None, description="the NAT's IPv4 address (outside)")
    address6: ipaddress.IPv6Address | None = Field(None, description="the NAT's IPv6 address (NAT66)")
    snat: tuple[IPvAnyNetwork, ...] = Field(
        (), max_length=PREFIX_MAX, description="inside prefixes whose outbound flows are masqueraded"
    )
    ports: tuple[int, int] = Field((20000, 29999), description="SNAT ports and ICMP echo identifiers")
    forward: tuple[PortForward, ...] = Field((), max_length=RULE_MAX, description="port forwarding (DNAT)")
    table_size: int = Field(
        65536, ge=64, le=1 << 22, description="flows tracked per family (and reverse bindings)"
    )
    timeouts: Timeouts = Field(Timeouts(), description="idle timeouts by conntrack state")
    seed: int = Field(0, ge=0, lt=1 << 32, description="mixed into the port hash (RFC 6056 style)")

    @field_validator("ports")
    @classmethod
    def _range(cls, value: tuple[int, int]) -> tuple[int, int]:
        lo, hi = value
        if not 1 <= lo <= hi <= 65535:
            raise ValueError("must be (first, last) with 1 <= first <= last <= 65535")
        return value

    @field_validator("snat")
    @classmethod
    def _unique_prefixes(cls, value: tuple[Any, ...]) -> tuple[Any, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a prefix is listed twice")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> NatConfig:
        for i, net in enumerate(self.snat):
            if self._address_of(net.version) is None:
                raise _field_error(
                    f"snat.{i}",
                    f"an IPv{net.version} prefix needs the NAT's IPv{net.version} "
                    f"address ({'address' if net.version == 4 else 'address6'})",
                )
        seen = set()
        lo, hi = self.ports
        for i, rule in enumerate(self.forward):
            if self._address_of(rule.to.version) is None:
                raise _field_error(
                    f"forward.{i}.to",
                    f"forwarding to IPv{rule.to.version} needs the NAT's IPv{rule.to.version} address",
                )
            if lo <= rule.port <= hi:
                raise _field_error(f"forward.{i}.port", f"{rule.port} lies in the SNAT port range {lo}-{hi}")
            key = (rule.proto, rule.port, rule.to.version)
            if key in seen:
                raise _field_error(f"forward.{i}", f"{rule.proto} port {rule.port} is forwarded twice")
            seen.add(key)
        return self

    def _address_of(self, version: int) -> Any:
        return self.address if version == 4 else self.address6

    def map_sizes(self) -> dict[str, int]:
        return {name: self.table_size for name in ("alv_ct4", "alv_ct6", "nat_rev4", "nat_rev6")}

    def conf_value(self) -> dict[str, Any]:
        """The ``nat_conf`` entry."""
        families = (1 if self.address else 0) | (2 if self.address6 else 0)
        return {
            "addr4": {"b": mapped(self.address) if self.address else bytes(16)},
            "addr6": {"b": self.address6.packed if self.address6 else bytes(16)},
            "port_min": self.ports[0],
            "port_max": self.ports[1],
            "seed": self.seed,
            "snat_count": len(self.snat),
            "families": families,
        }

    def map_entries(self) -> dict[str, dict[Any, Any]]:
        # the trie and the rules before the conf that enables them
        return {
            "nat_snat": {prefix_key(net): 1 for net in self.snat},
            "nat_dnat": {
                (r.port, r.proto_number, r.to.version): {"addr": {"b": mapped(r.to)}, "port": r.target_port}
                for r in self.forward
            },
            "nat_conf": {0: self.conf_value()},
            "alv_ct_conf": self.timeouts.conf_entry(),
        }


def _field_error(loc: str, msg: str) -> ValueError:
    # pydantic reports a model validator's error at the model level: name the field in the message
    return ValueError(f"{loc}: {msg}")
