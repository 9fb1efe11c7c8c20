"""Lab topologies as data: hosts (network namespaces), veth links, bridges, addresses, routes.

Naming (decided once, so that nothing a lab creates can collide with the machine's own
objects): a host ``client`` of lab ``demo`` is the network namespace ``alv-demo-client``;
an interface name that does not start with ``alv`` gets that prefix (``eth0`` becomes
``alveth0``) and must then fit the kernel's 15 characters. Addresses and routes must lie in
the documentation/benchmark ranges 198.18.0.0/15 and 2001:db8::/32.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ALLOWED_NETWORKS",
    "Bridge",
    "Endpoint",
    "Host",
    "Link",
    "Neighbor",
    "Route",
    "Topology",
    "check_allowed",
    "ifname",
    "load_topology",
    "netns_name",
]

ALLOWED_NETWORKS = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("2001:db8::/32"))
IFNAMSIZ = 15
_NAME = r"^[a-z0-9][a-z0-9-]*$"
_IFNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_MAC = r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$"

Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def check_allowed(value: Interface | Address | Network) -> None:
    """Refuse anything outside 198.18.0.0/15 and 2001:db8::/32."""
    net = value.network if isinstance(value, Interface) else value
    for allowed in ALLOWED_NETWORKS:
        if net.version == allowed.version and (
            net.subnet_of(allowed) if isinstance(net, Network) else net in allowed
        ):
            return
    raise ValueError(f"{value} is outside 198.18.0.0/15 and 2001:db8::/32 (the only ranges a lab may use)")


def ifname(name: str) -> str:
    """The kernel name of a lab interface: ``alv`` prefixed unless already there."""
    return name if name.startswith("alv") else f"alv{name}"


def netns_name(lab: str, host: str) -> str:
    """The network namespace that holds ``host`` of ``lab``."""
    return f"alv-{lab}-{host}"


def _interface(value: Any) -> Interface:
    iface = ipaddress.ip_interface(value)
    check_allowed(iface)
    return iface


def _check_ifname(name: str) -> str:
    if not _IFNAME.match(name):
        raise ValueError(f"{name!r} is not a valid interface name")
    real = ifname(name)
    if len(real) > IFNAMSIZ:
        raise ValueError(f"{name!r} becomes {real!r}, longer than {IFNAMSIZ} characters")
    return name


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Route(_Model):
    """A route of a host: ``to`` a prefix (or ``default``) via a gateway and/or out of an interface."""

    to: Literal["default"] | Network
    via: Address | None = None
    dev: str | None = None
    family: Literal[4, 6] | None = None  # only needed for ``default`` without ``via``

    @field_validator("to", mode="before")
    @classmethod
    def _to(cls, v: Any) -> Any:
        if v == "default":
            return v
        net = ipaddress.ip_network(v, strict=True)
        check_allowed(net)
        return net

    @field_validator("via", mode="before")
    @classmethod
    def _via(cls, v: Any) -> Any:
        if v is None:
            return v
        addr = ipaddress.ip_address(v)
        check_allowed(addr)
        return addr

    @field_validator("dev")
    @classmethod
    def _dev(cls, v: str | None) -> str | None:
        return None if v is None else _check_ifname(v)

    @model_validator(mode="after")
    def _target(self) -> Route:
        if self.via is None and self.dev is None:
            raise ValueError("a route needs 'via' or 'dev'")
        if self.via is not None and self.to != "default" and self.via.version != self.to.version:
            raise ValueError(f"'via' {self.via} and 'to' {self.to} are of different IP versions")
        return self

    @property
    def version(self) -> int:
        if self.to != "default":
            return self.to.version
        if self.via is not None:
            return self.via.version
        return self.family or 4


class Neighbor(_Model):
    """A permanent neighbour entry (e.g. a next hop that cannot answer ARP: an XDP sink)."""

    address: Address
    mac: Annotated[str, Field(pattern=_MAC)]
    dev: str

    @field_validator("address", mode="before")
    @classmethod
    def _address(cls, v: Any) -> Any:
        addr = ipaddress.ip_address(v)
        check_allowed(addr)
        return addr

    @field_validator("dev")
    @classmethod
    def _dev(cls, v: str) -> str:
        return _check_ifname(v)


class Host(_Model):
    """A host: one network namespace."""

    forwarding: bool = False  # IPv4 and IPv6 forwarding
    ipv6: bool = True  # False: IPv6 disabled (quiet links: no router/neighbour solicitations)
    routes: list[Route] = []
    neighbors: list[Neighbor] = []


class Endpoint(_Model):
    """One end of a veth link."""

    host: str
    ifname: str
    addresses: list[Interface] = []
    mac: Annotated[str, Field(pattern=_MAC)] | None = None
    bridge: str | None = None  # enslave to this bridge of the same host
    # False: no TX checksum offload, so what this end's stack sends carries complete
    # checksums. Needed when XDP on the path redirects the frames: a veth hands over
    # CHECKSUM_PARTIAL skbs, and that note does not survive an XDP redirect.
    tx_checksum: bool = True

    @field_validator("ifname")
    @classmethod
    def _ifname(cls, v: str) -> str:
        return _check_ifname(v)

    @field_validator("addresses", mode="before")
    @classmethod
    def _addresses(cls, v: Any) -> Any:
        if not isinstance(v, list):
            raise ValueError("addresses must be a list")
        return [_interface(a) for a in v]


class Link(_Model):
    """A veth pair between two hosts (or inside one)."""

    ends: tuple[Endpoint, Endpoint]
    mtu: int | None = Field(default=None, ge=68, le=65535)
    queues: int = Field(default=1, ge=1, le=64)  # rx/tx queues per end (one per generator CPU)


class Bridge(_Model):
    """A Linux bridge inside a host; link ends join it with ``bridge: NAME``."""

    host: str
    name: str
    addresses: list[Interface] = []

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check_ifname(v)

    @field_validator("addresses", mode="before")
    @classmethod
    def _addresses(cls, v: Any) -> Any:
        if not isinstance(v, list):
            raise ValueError("addresses must be a list")
        return [_interface(a) for a in v]


class Topology(_Model):
    """A lab: what ``alveole lab up`` creates and ``alveole lab down`` removes."""

    name: Annotated[str, Field(pattern=_NAME, max_length=24)]
    description: str = ""
    hosts: dict[Annotated[str, Field(pattern=_NAME, max_length=24)], Host]
    links: list[Link] = []
    bridges: list[Bridge] = []

    @model_validator(mode="after")
    def _consistent(self) -> Topology:
        interfaces: dict[tuple[str, str], str] = {}  # (host, kernel name) -> field path
        bridges: set[tuple[str, str]] = set()

        def claim(host: str, name: str, where: str) -> None:
            key = (host, ifname(name))
            if key in interfaces:
                raise ValueError(
                    f"{where}: interface {ifname(name)!r} on host {host!r} already defined at "
                    f"{interfaces[key]}"
                )
            interfaces[key] = where

        for i, br in enumerate(self.bridges):
            where = f"bridges[{i}]"
            if br.host not in self.hosts:
                raise ValueError(f"{where}.host: unknown host {br.host!r}")
            claim(br.host, br.name, where)
            bridges.add((br.host, ifname(br.name)))
        for i, link in enumerate(self.links):
            for j, end in enumerate(link.ends):
                where = f"links[{i}].ends[{j}]"
                if end.host not in self.hosts:
                    raise ValueError(f"{where}.host: unknown host {end.host!r}")
                claim(end.host, end.ifname, where)
                if end.bridge is not None and (end.host, ifname(end.bridge)) not in bridges:
                    raise ValueError(f"{where}.bridge: no bridge {end.bridge!r} on host {end.host!r}")
        for name, host in self.hosts.items():
            for k, route in enumerate(host.routes):
                if route.dev is not None and (name, ifname(route.dev)) not in interfaces:
                    raise ValueError(f"hosts.{name}.routes[{k}].dev: no interface {route.dev!r} on {name!r}")
            for k, neigh in enumerate(host.neighbors):
                if (name, ifname(neigh.dev)) not in interfaces:
                    raise ValueError(
                        f"hosts.{name}.neighbors[{k}].dev: no interface {neigh.dev!r} on {name!r}"
                    )
        return self

    def netns(self, host: str) -> str:
        return netns_name(self.name, host)


def load_topology(path: str | Path) -> Topology:
    """Read and validate a YAML topology file (errors name the offending field)."""
    text = Path(path).read_text()
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a topology is a YAML mapping")
    return Topology.model_validate(data)
