"""Periodic garbage collection of every connection-tracking table pinned on this host.

The datapath deletes a dead entry only when a packet meets it, and LRU eviction only
makes room under pressure: without a collector, dead flows sit in the tables (and a
NAT's port bindings with them) until the table fills. The sweeper finds every table by
its pins (chain members' ``maps/`` directories, chain groups' shared directories), runs
the right collection for each (the NAT's also frees its reverse bindings) and keeps
per-table state between runs (the NAT's orphan suspects).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..bpf import Map
from ..conntrack import TABLES, Collector, GcResult, collect, open_pinned
from ..datapath.layout import bpffs_root
from ..vnf.nat.gateway import NatGc
from ..vnf.nat.stats import REV_MAPS

__all__ = ["Sweep", "Sweeper", "collect_table", "find_tables", "open_table"]

log = logging.getLogger(__name__)


def find_tables(bpffs: Path | None = None) -> list[tuple[str, Path]]:
    """(label, directory) of every pinned conntrack table under ``bpffs`` (default: alveole's)."""
    root = bpffs or bpffs_root()
    found = []
    for d in sorted([*root.glob("chains/*/members/*/maps"), *root.glob("groups/*")]):
        if all((d / n).exists() for n in TABLES):
            if d.name == "maps":
                label = f"chain {d.parents[2].name} member {d.parent.name}"
            else:
                label = f"group {d.name}"
            found.append((label, d))
    return found


@contextlib.contextmanager
def open_table(directory: Path) -> Iterator[tuple[dict[str, Map], bool]]:
    """The table's maps (with a NAT's reverse bindings when it has them) and whether it is a NAT's."""
    maps = open_pinned(directory)
    nat = all(os.path.exists(directory / n) for n in REV_MAPS)
    if nat:
        maps.update({n: Map.from_pin(str(directory / n)) for n in REV_MAPS})
    try:
        yield maps, nat
    finally:
        for m in maps.values():
            m.close()


def collect_table(maps: dict[str, Map], nat: bool, nat_gc: NatGc | None = None) -> GcResult:
    """One collection; a NAT's frees the dead flows' reverse bindings too."""
    if nat:
        gc = nat_gc or NatGc(maps)
        gc.maps = maps
        return gc.run()
    return collect(maps)


@dataclass(frozen=True)
class Sweep:
    label: str
    result: GcResult | None
    error: str | None = None


class Sweeper:
    """Collects every table every ``interval`` seconds (a daemon thread); use as a context manager."""

    def __init__(self, interval: float = 10.0, bpffs: Path | None = None) -> None:
        self.bpffs = bpffs
        self._nat: dict[int, NatGc] = {}  # by the alv_ct4 map id: state kept between runs
        self._collector = Collector(self.sweep, interval)
        self.last: list[Sweep] = []

    def sweep(self) -> list[Sweep]:
        out, seen = [], set()
        for label, d in find_tables(self.bpffs):
            try:
                with open_table(d) as (maps, nat):
                    ident = maps["alv_ct4"].id
                    if ident in seen:  # a group's maps, also pinned in a member's directory
                        continue
                    seen.add(ident)
                    gc = self._nat.setdefault(ident, NatGc(maps)) if nat else None
                    out.append(Sweep(label, collect_table(maps, nat, gc)))
            except (OSError, LookupError, ValueError) as e:  # a chain removed meanwhile
                out.append(Sweep(label, None, str(e)))
        self._nat = {k: v for k, v in self._nat.items() if k in seen}
        self.last = out
        for s in out:
            if s.result and s.result.deleted:
                log.info("conntrack gc %s: %d of %d deleted", s.label, s.result.deleted, s.result.scanned)
        return out

    @property
    def runs(self) -> int:
        return self._collector.runs

    def start(self) -> Sweeper:
        self._collector.start()
        return self

    def stop(self) -> None:
        self._collector.stop()

    def __enter__(self) -> Sweeper:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
