"""The load balancer's configuration: VIPs, their backends, and how it reaches the kernel.

* ``ring_size`` (the Maglev table size M, a prime) and ``egress`` are ``const volatile``
  globals; ``max_vips`` x ``ring_size`` sizes the ring array, ``flow_table_size``,
  ``nat_table_size`` and ``max_backends`` size the other tables: all fixed at load.
* VIPs, backends, weights, SNAT / tunnel addresses, the SNAT port range and the fib
  egress ports are map entries, changed at run time as diffs.

Identities are stable hashes, never positions: a VIP's ``tag`` hashes its address,
port and protocol; a backend's ``id`` hashes its VIP's tag, its address and port. Flows
remember backend ids, so a backend keeps its flows whatever else changes. A VIP's ring
is the one at its position in ``vips`` (append new VIPs: removing one from the middle
moves the rings of those after it, whose new flows then find no backend while the
rings are rewritten, see docs/vnfs/lb.md).
"""

from __future__ import annotations

import ipaddress
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress, field_validator, model_validator

from ..config import VnfConfig
from ..parse import mapped
from . import maglev
from .hashing import tag32

__all__ = [
    "EGRESS",
    "PROTOS",
    "VIP_DSR",
    "Backend",
    "HealthCheck",
    "LbConfig",
    "Vip",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
PROTOS = {"tcp": 6, "udp": 17}
EGRESS = {"stack": 0, "chain": 1, "fib": 2}  # enum lb_egress
VIP_DSR = 1  # LB_VIP_DSR
PORTS_MAX = 64  # max_entries of lb_ports


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HealthCheck(_Model):
    """How the health checker probes a VIP's backends (from the LB node's namespace)."""

    kind: Literal["tcp", "http"] = Field("tcp", description="TCP connect, or HTTP GET expecting 2xx/3xx")
    port: int | None = Field(None, ge=1, le=65535, description="port probed (default: the backend's)")
    path: str = Field("/", description="HTTP path")
    interval: float = Field(1.0, gt=0, le=3600, description="seconds between probes of a backend")
    timeout: float = Field(0.5, gt=0, le=60, description="seconds a probe may take")
    fall: int = Field(2, ge=1, le=100, description="consecutive failures that take a backend out")
    rise: int = Field(2, ge=1, le=100, description="consecutive successes that bring it back")

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/") or any(c in v for c in "\r\n "):
            raise ValueError("an HTTP path starts with / and has no spaces or line breaks")
        return v


class Backend(_Model):
    """A real server behind a VIP."""

    address: IPvAnyAddress
    port: int | None = Field(
        None, ge=1, le=65535, description="full-NAT: the port it listens on (default: the VIP's)"
    )
    weight: int = Field(
        1, ge=0, le=65535, description="share of new flows; 0 drains (no new flows, existing ones stay)"
    )


class Vip(_Model):
    """A virtual service: an address, a port and a protocol, balanced over backends."""

    address: IPvAnyAddress
    port: int = Field(ge=1, le=65535)
    proto: Literal["tcp", "udp"] = "tcp"
    mode: Literal["nat", "dsr"] = Field(
        "nat", description="nat: full-NAT (DNAT + SNAT); dsr: IP-in-IP to the backend, which answers"
    )
    backends: tuple[Backend, ...] = ()
    health: HealthCheck | None = None

    @field_validator("backends")
    @classmethod
    def _unique(cls, v: tuple[Backend, ...]) -> tuple[Backend, ...]:
        seen = set()
        for b in v:
            key = (b.address, b.port)
            if key in seen:
                raise ValueError(f"backend {b.address} port {b.port} is listed twice")
            seen.add(key)
        return v

    @model_validator(mode="after")
    def _mode_rules(self) -> Vip:
        for i, b in enumerate(self.backends):
            if self.mode == "nat" and b.address.version != self.address.version:
                raise ValueError(
                    f"backends.{i}: full-NAT needs the VIP's address family (IPv{self.address.version}), "
                    f"not {b.address}"
                )
            if self.mode == "dsr" and b.port not in (None, self.port):
                raise ValueError(
                    f"backends.{i}: with DSR the backend answers from the VIP's port {self.port}: "
                    f"no port {b.port}"
                )
        return self

    @property
    def proto_number(self) -> int:
        return PROTOS[self.proto]

    @cached_property
    def tag(self) -> int:
        return tag32(mapped(self.address), self.port.to_bytes(2, "big"), bytes([self.proto_number]))

    def backend_port(self, b: Backend) -> int:
        return b.port or self.port

    def backend_id(self, b: Backend) -> int:
        return tag32(self.tag.to_bytes(4, "big"), mapped(b.address), self.backend_port(b).to_bytes(2, "big"))

    def table(self, size: int) -> tuple[int, ...]:
        """The Maglev table: for each slot, a position in ``backends`` (or maglev.EMPTY)."""
        names = tuple(
            (mapped(b.address) + self.backend_port(b).to_bytes(2, "big"), b.weight) for b in self.backends
        )
        return maglev.build(names, size)

    def __str__(self) -> str:
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{host}:{self.port}/{self.proto}"


class LbConfig(VnfConfig):
    """The load balancer: VIPs with backends, Maglev ring size, NAT and tunnel addresses."""

    vips: tuple[Vip, ...] = ()
    ring_size: int = Field(maglev.DEFAULT_SIZE, ge=7, le=1 << 20, description="Maglev table size (a prime)")
    max_vips: int = Field(8, ge=1, le=256, description="VIPs the ring array has room for")
    max_backends: int = Field(4096, ge=1, le=1 << 20, description="backends over all VIPs")
    flow_table_size: int = Field(
        262144, ge=64, le=1 << 24, description="flows remembered (LRU): connection affinity"
    )
    nat_table_size: int = Field(262144, ge=64, le=1 << 24, description="full-NAT translations (LRU)")
    snat_ipv4: ipaddress.IPv4Address | None = Field(None, description="full-NAT source address (IPv4)")
    snat_ipv6: ipaddress.IPv6Address | None = Field(None, description="full-NAT source address (IPv6)")
    snat_ports: tuple[int, int] = Field(
        (16384, 32767), description="full-NAT source ports; keep them out of the node's ephemeral range"
    )
    tunnel_ipv4: ipaddress.IPv4Address | None = Field(None, description="DSR: outer source (IPv4 backends)")
    tunnel_ipv6: ipaddress.IPv6Address | None = Field(None, description="DSR: outer source (IPv6 backends)")
    egress: Literal["stack", "chain", "fib"] = Field(
        "stack",
        description="stack: PASS to the kernel, which forwards; chain: CONTINUE; "
        "fib: bpf_fib_lookup and XDP_TX / redirect (PASS when it cannot)",
    )
    fib_ports: tuple[int, ...] = Field(
        (), max_length=PORTS_MAX, description="fib egress: ifindexes XDP may redirect to"
    )

    @field_validator("ring_size")
    @classmethod
    def _prime(cls, v: int) -> int:
        if not maglev.is_prime(v):
            raise ValueError(f"{v} is not a prime (Maglev needs a prime table size, e.g. 65537)")
        return v

    @field_validator("snat_ports")
    @classmethod
    def _ports(cls, v: tuple[int, int]) -> tuple[int, int]:
        lo, hi = v
        if not 1 <= lo <= hi <= 65535:
            raise ValueError("a range (low, high) with 1 <= low <= high <= 65535")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> LbConfig:
        if len(self.vips) > self.max_vips:
            raise ValueError(f"vips: {len(self.vips)} VIPs, more than max_vips ({self.max_vips})")
        if self.max_vips * self.ring_size > 1 << 26:
            raise ValueError("max_vips x ring_size exceeds 2^26 ring slots")
        seen: dict[tuple[Any, int, str], int] = {}
        tags: dict[int, str] = {}
        ids: dict[int, str] = {}
        total = 0
        for i, vip in enumerate(self.vips):
            key = (vip.address, vip.port, vip.proto)
            if key in seen:
                raise ValueError(f"vips.{i}: {vip} is also vips.{seen[key]}")
            seen[key] = i
            if vip.tag in tags:  # 32-bit hash collision: astronomically rare, but never silent
                raise ValueError(f"vips.{i}: {vip} has the same tag as {tags[vip.tag]}")
            tags[vip.tag] = str(vip)
            active = sum(1 for b in vip.backends if b.weight > 0)
            if active * 100 > self.ring_size:
                raise ValueError(
                    f"vips.{i}: {active} backends need ring_size > 100 x backends (Maglev), have "
                    f"{self.ring_size}"
                )
            for j, b in enumerate(vip.backends):
                bid = vip.backend_id(b)
                if bid in ids:
                    raise ValueError(f"vips.{i}.backends.{j}: id collision with {ids[bid]}")
                ids[bid] = f"vips.{i}.backends.{j}"
                total += 1
                fam = b.address.version
                if vip.mode == "dsr" and getattr(self, f"tunnel_ipv{fam}") is None:
                    raise ValueError(
                        f"vips.{i}.backends.{j}: DSR to an IPv{fam} backend needs tunnel_ipv{fam}"
                    )
            if vip.mode == "nat" and getattr(self, f"snat_ipv{vip.address.version}") is None:
                raise ValueError(
                    f"vips.{i}: full-NAT of an IPv{vip.address.version} VIP needs "
                    f"snat_ipv{vip.address.version}"
                )
        if total > self.max_backends:
            raise ValueError(f"vips: {total} backends, more than max_backends ({self.max_backends})")
        return self

    # --- how it reaches the kernel -----------------------------------------------------
    def rodata(self) -> dict[str, Any]:
        return {"lb_ring_size": self.ring_size, "lb_egress": EGRESS[self.egress]}

    def map_sizes(self) -> dict[str, int]:
        return {
            "lb_vips": self.max_vips,
            "lb_ring": self.max_vips * self.ring_size,
            "lb_backends": self.max_backends,
            "lb_backend_stats": self.max_backends,
            "lb_flows": self.flow_table_size,
            "lb_nat": self.nat_table_size,
        }

    def settings_value(self) -> dict[str, Any]:
        def addr(a: Address | None) -> bytes:
            return bytes(16) if a is None else mapped(a)

        return {
            "snat4": addr(self.snat_ipv4),
            "snat6": addr(self.snat_ipv6),
            "tunnel4": addr(self.tunnel_ipv4),
            "tunnel6": addr(self.tunnel_ipv6),
            "port_min": self.snat_ports[0],
            "port_max": self.snat_ports[1],
        }

    def vip_entries(self) -> dict[tuple[bytes, int, int], dict[str, int]]:
        """``struct lb_vip_key`` (address, port, protocol) -> ``struct lb_vip``."""
        return {
            (mapped(v.address), v.port, v.proto_number): {
                "tag": v.tag,
                "ring": i,
                "flags": VIP_DSR if v.mode == "dsr" else 0,
            }
            for i, v in enumerate(self.vips)
        }

    def backend_entries(self) -> dict[int, dict[str, Any]]:
        return {
            v.backend_id(b): {"addr": mapped(b.address), "vip_tag": v.tag, "port": v.backend_port(b)}
            for v in self.vips
            for b in v.backends
        }

    def ring_entries(self) -> dict[int, int]:
        """Ring slot -> backend id, for every VIP (empty slots left out: zero)."""
        out: dict[int, int] = {}
        for i, v in enumerate(self.vips):
            ids = [v.backend_id(b) for b in v.backends]
            base = i * self.ring_size
            for s, pos in enumerate(v.table(self.ring_size)):
                if pos != maglev.EMPTY:
                    out[base + s] = ids[pos]
        return out

    def map_entries(self) -> dict[str, dict[Any, Any]]:
        # order matters: backends before the rings that name them, rings before the VIPs
        # that use them (a ring slot whose backend is gone is skipped by the data path)
        return {
            "lb_settings": {0: self.settings_value()},
            "lb_backends": self.backend_entries(),
            "lb_ring": self.ring_entries(),
            "lb_vips": self.vip_entries(),
            "lb_ports": {p: p for p in self.fib_ports} if self.egress == "fib" else {},
        }
