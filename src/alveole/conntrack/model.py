"""The reference model of the conntrack core: the table and its operations in Python.

:class:`ConntrackModel` mirrors ``alv_ct_lookup``, ``alv_ct_update``,
``alv_ct_create``, ``alv_ct_track`` and ``alv_ct_related`` on a dict, with the
same pressure counters, so VNF models built on conntrack (the NAT's, the load
balancer's, a stateful firewall's) predict the kernel's table exactly.
:meth:`ConntrackModel.state_diff` compares it with a loaded table.

The model has no clock: entries never expire in it unless a test calls
:meth:`ConntrackModel.expire`. Kernel timestamps are checked for sanity only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .key import Key, Tuple
from .states import IPPROTO_TCP, Dir, NatKind, State, initial_state, next_state
from .table import STATS_FIELDS, read_entries, read_stats

__all__ = ["STATS_FIELDS", "ConntrackModel", "CtEntry", "Nat"]


@dataclass(frozen=True)
class Nat:
    """``struct alv_ct_nat``."""

    addr: bytes = bytes(16)
    port: int = 0
    kind: NatKind = NatKind.NONE
    flags: int = 0
    aux: int = 0


@dataclass
class CtEntry:
    """The comparable part of ``struct alv_ct_entry`` (timestamps are the kernel's)."""

    state: State
    orig: int
    packets: list[int] = field(default_factory=lambda: [0, 0])
    bytes: list[int] = field(default_factory=lambda: [0, 0])
    tcp_flags: list[int] = field(default_factory=lambda: [0, 0])
    nat: Nat = field(default_factory=Nat)

    def direction(self, t: Tuple) -> Dir:
        return Dir.ORIG if t.src == self.orig else Dir.REPLY


class ConntrackModel:
    """The ``alv_ct`` table as a dict, with the ``alv_ct_stats`` counters."""

    EPERM, EEXIST = -1, -17  # what alv_ct_create returns besides 0

    def __init__(self) -> None:
        self.entries: dict[Key, CtEntry] = {}
        self.stats: dict[str, int] = dict.fromkeys(STATS_FIELDS, 0)

    def _count(self, name: str) -> None:
        self.stats[name] += 1

    def lookup(self, t: Tuple) -> tuple[CtEntry, Dir] | None:
        """``alv_ct_lookup`` (nothing expires in the model)."""
        self._count("lookups")
        e = self.entries.get(t.key)
        if e is None:
            self._count("misses")
            return None
        return e, e.direction(t)

    def update(self, e: CtEntry, d: Dir, t: Tuple, length: int) -> None:
        """``alv_ct_update``."""
        e.packets[d] += 1
        e.bytes[d] += length
        e.state = next_state(e.state, t.key.proto, d, t.tcp_flags, e.tcp_flags)

    def create(self, t: Tuple, length: int, nat: Nat | None = None, d: Dir = Dir.ORIG) -> int:
        """``alv_ct_create``: 0; :attr:`EPERM` when the packet must not create a flow (a RST);
        :attr:`EEXIST` when the flow exists (the kernel's BPF_NOEXIST insert fails; counted as a race).
        """
        state = initial_state(t.key.proto, t.tcp_flags, d)
        if state == State.NONE:
            self._count("untracked")
            return self.EPERM
        if t.key in self.entries:
            self._count("races")
            return self.EEXIST
        e = CtEntry(state=state, orig=t.src ^ d, nat=nat or Nat())
        e.packets[d], e.bytes[d] = 1, length
        if t.key.proto == IPPROTO_TCP:
            e.tcp_flags[d] = t.tcp_flags
        self.entries[t.key] = e
        self._count("created")
        return 0

    def track(self, t: Tuple, length: int) -> Dir | str | None:
        """``alv_ct_track``: the direction, "new", or None (not created)."""
        found = self.lookup(t)
        if found is None:
            return "new" if self.create(t, length) == 0 else None  # (EEXIST: not single-threaded)
        e, d = found
        self.update(e, d, t, length)
        return d

    def related(self, t: Tuple) -> CtEntry | None:
        """``alv_ct_related`` given the quoted packet's tuple."""
        found = self.lookup(t)
        if found is None:
            return None
        self._count("related")
        return found[0]

    def expire(self, key: Key) -> None:
        """What the kernel does to an entry found dead: delete it, count it."""
        if self.entries.pop(key, None) is not None:
            self._count("expired")

    # --- comparison with the kernel ------------------------------------------------------------
    def state_diff(self, maps: Mapping[str, Any], *, exact: bool = True) -> list[str]:
        """Differences between the model and a loaded table (``maps``: name -> Map).

        Every kernel entry must be a model entry with the same state, origin,
        counters, TCP flags and binding, and sane timestamps; with ``exact``
        (no LRU eviction possible) every model entry must be in the kernel and
        the pressure counters must match.
        """
        diffs: list[str] = []
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) + 10**9
        kernel = read_entries(maps)
        for key, raw in kernel.items():
            want = self.entries.get(key)
            if want is None:
                diffs.append(f"kernel flow {key} not in the model")
                continue
            got = CtEntry(
                State(raw.state),
                raw.orig,
                list(raw.packets),
                list(raw.bytes),
                list(raw.tcp_flags),
                Nat(bytes(raw.nat.addr.b), raw.nat.port, NatKind(raw.nat.kind), raw.nat.flags, raw.nat.aux),
            )
            if got != want:
                diffs.append(f"flow {key}: kernel {got}, model {want}")
            if not 0 < raw.created_ns <= raw.last_ns <= now:
                diffs.append(f"flow {key}: timestamps {raw.created_ns}..{raw.last_ns}")
        if exact:
            diffs += [f"model flow {k} not in the kernel" for k in self.entries.keys() - kernel.keys()]
            stats = read_stats(maps["alv_ct_stats"])
            for name in STATS_FIELDS:
                if stats[name] != self.stats[name]:
                    diffs.append(f"alv_ct_stats.{name}: kernel {stats[name]}, model {self.stats[name]}")
        return diffs
