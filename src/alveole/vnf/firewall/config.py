"""The firewall's configuration: ordered rules, a default policy, and how they reach the kernel.

A rule matches on any of: source and destination prefix (IPv4 or IPv6, one family per
rule), protocol, source and destination port ranges (TCP/UDP), ICMP type (ICMP/ICMPv6);
fields left out match anything. Rules are tried by ascending ``priority`` (default 0),
then in list order; the first match decides (``accept``: the packet goes on through the
chain, ``drop``). No match: ``default``.

Fixed at load: the sizes of the tables and ``stateful`` (a ``const volatile`` global, so
that the stateless firewall runs none of the conntrack code). Every other change is
written as a diff: the rules into the inactive half of double-buffered tables, then one
write flips the half packets use (:mod:`.tables`); ``timeouts`` into ``alv_ct_conf``. Rule
ids are stable (explicit ``id``, else the rule's match and action), so per-rule hit
counters survive rule set changes.

Stateful mode (``stateful: true``): packets of a flow the rules let open, in either
direction, and ICMP errors about it, are accepted without the rules (see
docs/vnfs/firewall.md, "Stateful mode").
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import socket
from collections.abc import Mapping, Set
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ...conntrack import Timeouts
from ..config import VnfConfig
from .match import DPORTX_MAX, FULL128, ICMP_BASE, PORT_MAX, V4_MAPPED, Match

if TYPE_CHECKING:
    from ...bpf import Map
    from .classifier import Classifier

__all__ = ["CT_IDLE_SIZE", "PROTOCOLS", "Action", "FirewallConfig", "Rule", "parse_ports"]

Action = Literal["accept", "drop"]
PROTOCOLS: dict[str, int] = {"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58}
_PORTED = (6, 17)
_ICMP_FAMILY = {1: 4, 58: 6}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# max_entries of the (unused) conntrack tables of a stateless firewall: an LRU hash
# preallocates every entry, ~10 MB per table at the stateful default
CT_IDLE_SIZE = 64


def _any(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() == "any")


def parse_ports(value: Any) -> tuple[int, int] | None:
    """``80``, ``"80"``, ``"1024-65535"`` -> (lo, hi); ``None`` / ``"any"`` -> None."""
    if _any(value):
        return None
    if isinstance(value, bool):
        raise ValueError("a port or a range 'lo-hi', not a boolean")
    if isinstance(value, int):
        lo = hi = value
    elif isinstance(value, str):
        text = value.strip()
        lo_s, sep, hi_s = text.partition("-")
        try:
            lo = int(lo_s)
            hi = int(hi_s) if sep else lo
        except ValueError:
            raise ValueError(f"{value!r} is not a port or a range 'lo-hi'") from None
    elif isinstance(value, tuple | list) and len(value) == 2:
        lo, hi = int(value[0]), int(value[1])
    else:
        raise ValueError(f"{value!r} is not a port or a range 'lo-hi'")
    if not 0 <= lo <= hi <= PORT_MAX:
        raise ValueError(f"port range {lo}-{hi} is not within 0-65535 with lo <= hi")
    return lo, hi


class Rule(BaseModel):
    """One firewall rule; a field left out matches anything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = Field(
        None, min_length=1, max_length=64, description="stable identity (hit counters follow it)"
    )
    priority: int = Field(0, ge=-(1 << 31), le=(1 << 31) - 1, description="lower first; ties: list order")
    src: Network | None = Field(None, description="source prefix (CIDR), IPv4 or IPv6")
    dst: Network | None = Field(None, description="destination prefix (CIDR), same family as src")
    proto: int | None = Field(None, description="tcp, udp, icmp, icmpv6, a number 0-255, or any")
    sport: tuple[int, int] | None = Field(None, description='source port or range: 80, "1024-65535"')
    dport: tuple[int, int] | None = Field(None, description="destination port or range")
    icmp_type: int | None = Field(
        None, ge=0, le=255, description="ICMP/ICMPv6 type (needs proto icmp/icmpv6)"
    )
    action: Action = Field(description="accept (the packet goes on) or drop")

    @field_validator("src", "dst", mode="before")
    @classmethod
    def _prefix(cls, value: Any) -> Any:
        if _any(value):
            return None
        if isinstance(value, str):
            return _network(value)
        return value

    @field_validator("proto", mode="before")
    @classmethod
    def _proto(cls, value: Any) -> Any:
        if _any(value):
            return None
        if isinstance(value, str):
            name = value.strip().lower()
            if name in PROTOCOLS:
                return PROTOCOLS[name]
            if name.isdigit():
                value = int(name)
            else:
                raise ValueError(f"{value!r}: expected any, {', '.join(PROTOCOLS)} or a number 0-255")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
            raise ValueError(f"{value!r}: expected any, {', '.join(PROTOCOLS)} or a number 0-255")
        return value

    @field_validator("sport", "dport", mode="before")
    @classmethod
    def _ports(cls, value: Any) -> Any:
        return parse_ports(value)

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.src is not None and self.dst is not None and self.src.version != self.dst.version:
            raise ValueError(f"src is IPv{self.src.version} but dst is IPv{self.dst.version}")
        family = self.family
        if self.proto in _ICMP_FAMILY and family and _ICMP_FAMILY[self.proto] != family:
            name = "icmp" if self.proto == 1 else "icmpv6"
            raise ValueError(
                f"proto {name} does not go with IPv{family} prefixes (use icmp for IPv4, icmpv6 for IPv6)"
            )
        if (self.sport or self.dport) and self.proto not in (None, *_PORTED):
            raise ValueError("sport/dport need proto tcp, udp or any (ports of other protocols are not read)")
        if self.icmp_type is not None:
            if self.proto not in _ICMP_FAMILY:
                raise ValueError("icmp_type needs proto icmp or icmpv6")
            if self.sport or self.dport:
                raise ValueError("a rule has ports or an icmp_type, not both")
        return self

    @property
    def family(self) -> int:
        """4 or 6 when the prefixes or an ICMP protocol fix it, else 0 (both)."""
        for net in (self.src, self.dst):
            if net is not None:
                return net.version
        return _ICMP_FAMILY.get(self.proto or -1, 0)

    @functools.cached_property
    def match(self) -> Match:
        """The rule as intervals over the classification key (see :mod:`.match`)."""
        if self.sport or self.dport:
            dportx = self.dport or (0, PORT_MAX)
        elif self.icmp_type is not None:
            dportx = (ICMP_BASE + self.icmp_type, ICMP_BASE + self.icmp_type)
        else:
            dportx = (0, DPORTX_MAX)
        return Match(
            family=self.family,
            src=_interval(self.src),
            dst=_interval(self.dst),
            proto=(self.proto, self.proto) if self.proto is not None else (0, 255),
            sport=self.sport or (0, PORT_MAX),
            dportx=dportx,
        )

    @functools.cached_property
    def identity(self) -> str:
        """What keeps a rule's id (and hit counter) across rule set changes."""
        if self.id is not None:
            return f"id:{self.id}"
        m = self.match
        return f"match:{m.family}:{m.src}:{m.dst}:{m.proto}:{m.sport}:{m.dportx}:{self.action}"

    def describe(self) -> str:
        """A one-line summary: ``accept tcp 198.18.0.0/15 -> any dport 443``."""
        proto = {v: k for k, v in PROTOCOLS.items()}.get(self.proto or -1, str(self.proto))
        parts = [self.action, "any" if self.proto is None else proto]
        parts += [str(self.src or "any"), "->", str(self.dst or "any")]
        for name, rng in (("sport", self.sport), ("dport", self.dport)):
            if rng:
                parts.append(f"{name} {rng[0]}" if rng[0] == rng[1] else f"{name} {rng[0]}-{rng[1]}")
        if self.icmp_type is not None:
            parts.append(f"type {self.icmp_type}")
        return " ".join(parts)


def _network(text: str) -> Network:
    """A prefix from text; host bits are cleared ("198.18.0.1/24" is 198.18.0.0/24)."""
    addr, sep, plen = text.strip().partition("/")
    try:
        if ":" in addr:
            raw, bits, cls = socket.inet_pton(socket.AF_INET6, addr), 128, ipaddress.IPv6Network
        else:
            raw, bits, cls = socket.inet_pton(socket.AF_INET, addr), 32, ipaddress.IPv4Network
        length = int(plen) if plen else bits
        if (sep and not plen.isdigit()) or not 0 <= length <= bits:
            raise ValueError
    except (OSError, ValueError):
        raise ValueError(f"{text!r} is not an IPv4 or IPv6 prefix") from None
    value = int.from_bytes(raw, "big") & ~((1 << (bits - length)) - 1)
    return cls((value, length))  # type: ignore[return-value]


def _interval(net: Network | None) -> tuple[int, int]:
    if net is None:
        return 0, FULL128
    lo = int(net.network_address)
    hi = lo | ((1 << (net.max_prefixlen - net.prefixlen)) - 1)
    if net.version == 4:
        return V4_MAPPED | lo, V4_MAPPED | hi
    return lo, hi


class FirewallConfig(VnfConfig):
    """Ordered rules, the default policy and what to do with frames that are not IP."""

    rules: tuple[Rule, ...] = Field((), description="tried by priority, then list order; first match wins")
    default: Action = Field("accept", description="verdict when no rule matches")
    non_ip: Action = Field("accept", description="frames that are not IPv4/IPv6 (ARP, LLDP...)")
    capacity: int | None = Field(
        None,
        ge=1,
        le=1 << 20,
        description="rules with hit counters (default: the rule count rounded up to a power of two, "
        "at least 16384); more rules need a larger capacity",
    )
    stateful: bool = Field(
        False,
        description="accept the packets of flows the rules let open (both directions) and ICMP errors "
        "about them, without the rules; fixed at load",
    )
    timeouts: Timeouts = Field(Timeouts(), description="stateful: idle timeouts by conntrack state")
    conntrack_size: int = Field(
        65536, ge=64, le=1 << 22, description="stateful: flows tracked per family (fixed at load)"
    )

    @model_validator(mode="after")
    def _unique(self) -> FirewallConfig:
        seen: dict[str, int] = {}
        for i, rule in enumerate(self.rules):
            ident = rule.identity
            if ident in seen:
                j = seen[ident]
                if rule.id is not None:
                    raise ValueError(f"rules.{i}.id: {rule.id!r} is already the id of rules.{j}")
                raise ValueError(f"rules.{i}: same match and action as rules.{j} (give one of them an id)")
            seen[ident] = i
        if self.capacity is not None and len(self.rules) > self.capacity:
            raise ValueError(f"capacity: {len(self.rules)} rules do not fit a capacity of {self.capacity}")
        return self

    # --- derived ------------------------------------------------------------------------------
    @functools.cached_property
    def ordered(self) -> tuple[int, ...]:
        """Indexes into ``rules`` in evaluation order (priority, then list order)."""
        return tuple(sorted(range(len(self.rules)), key=lambda i: (self.rules[i].priority, i)))

    @functools.cached_property
    def matches(self) -> tuple[Match, ...]:
        """The rules' matches in evaluation order."""
        return tuple(self.rules[i].match for i in self.ordered)

    @functools.cached_property
    def classifier(self) -> Classifier:
        from .classifier import compile_classifier

        return compile_classifier(self.matches)

    def identities(self) -> list[bytes]:
        """16-byte ids of the rules in evaluation order (the keys of ``fw_ids``)."""
        return [rule_digest(self.rules[i].identity) for i in self.ordered]

    # --- how it reaches the kernel ----------------------------------------------------------------
    def rodata(self) -> dict[str, Any]:
        return {"fw_stateful": int(self.stateful)}

    def map_sizes(self) -> dict[str, int]:
        from .tables import table_sizes

        ct = self.conntrack_size if self.stateful else CT_IDLE_SIZE
        return {**table_sizes(self), "alv_ct4": ct, "alv_ct6": ct}

    def map_entries(self) -> dict[str, dict[Any, Any]]:
        # the classifier's tables are written by sync(); this is the plain-diff part
        return {"alv_ct_conf": self.timeouts.conf_entry()}

    def sync(self, maps: Mapping[str, Map], only: Set[str] | None = None) -> dict[str, tuple[int, int, int]]:
        from .tables import write_config

        return {**write_config(self, maps, only), **super().sync(maps, only)}


def rule_digest(identity: str) -> bytes:
    return hashlib.blake2b(identity.encode(), digest_size=16).digest()
