"""One VNF instance in a chain: what to load (a MemberSpec) and what is loaded (a Member)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..bpf import BpfObject, Map, Program
from ..errors import AlveoleError
from ..toolchain import compile_bpf
from .compat import Migration

__all__ = [
    "CHAIN_MAPS",
    "Member",
    "MemberSpec",
    "ProbeFailedError",
    "counters",
    "hook_kind",
    "load_program",
    "open_member",
    "probe",
    "state_maps",
]

# maps every VNF object carries for chaining (see <alveole/vnf.h>); the chain owns them
CHAIN_MAPS = ("alv_chain_xdp", "alv_chain_tc", "alv_chain_conf")
VERDICTS = ("continue", "pass", "drop", "tx", "redirect", "aborted")  # enum alv_verdict order


class ProbeFailedError(AlveoleError):
    """A new VNF version failed its fixture table; nothing was swapped."""

    def __init__(self, vnf: str, failures: list[str]) -> None:
        self.vnf = vnf
        self.failures = failures
        super().__init__(f"{vnf} failed its probe: " + "; ".join(failures[:5]))


@dataclass(frozen=True)
class MemberSpec:
    """Everything the datapath needs to run one VNF instance (the VNF catalog builds these).

    ``probe(hook)`` runs the VNF's fixture table on fresh, standalone instances
    (their own maps, never the live ones) and returns the failures;
    ``migrations`` tell how this version takes over maps whose definition
    changed since the previous version (see :mod:`compat`).
    """

    vnf: str
    version: str
    source: Path
    entries: Mapping[str, str]  # "xdp" / "tc" -> program name
    globals: Mapping[str, Any] = field(default_factory=dict)
    map_sizes: Mapping[str, int] = field(default_factory=dict)  # max_entries set before load
    map_entries: Mapping[str, Mapping[Any, Any]] = field(default_factory=dict)
    probe: Callable[[str], list[str]] | None = None  # hook -> failures, on fresh instances
    migrations: Mapping[str, Migration | str] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    # writes the config into the member's maps (maps, only) when map_entries cannot say it
    # alone (VnfConfig.sync: e.g. double-buffered tables); None: map_entries as diffs
    sync: Callable[[Mapping[str, Map], set[str] | None], Any] | None = None
    # members of one group share these maps (one VNF instance spanning several hooks, e.g.
    # a NAT on an interface's ingress and egress); pinned under groups/<group>/
    group: str | None = None
    shared: tuple[str, ...] = ()

    def entry(self, hook: str) -> str:
        kind = hook_kind(hook)
        if kind not in self.entries:
            raise AlveoleError(f"{self.vnf} has no {kind} entry point (supports: {', '.join(self.entries)})")
        return self.entries[kind]

    def same_code(self, other: MemberSpec) -> bool:
        return (self.vnf, self.version, Path(self.source)) == (other.vnf, other.version, Path(other.source))


@dataclass
class Member:
    """A loaded member: its active program and its state maps (pinned with the chain)."""

    instance: str
    spec: MemberSpec
    program: Program
    maps: dict[str, Map]
    obj: BpfObject | None = None  # when this process loaded it

    def counters(self) -> dict[str, tuple[int, int]]:
        return counters(self.maps["alv_stats"]) if "alv_stats" in self.maps else {}

    def close(self) -> None:
        if self.obj is not None:
            self.obj.close()
            self.obj = None
        else:
            self.program.close()
            for m in self.maps.values():
                m.close()


def hook_kind(hook: str) -> str:
    return "xdp" if hook == "xdp" else "tc"


def counters(stats: Map) -> dict[str, tuple[int, int]]:
    """Per-verdict (packets, bytes) of an ``alv_stats`` map, summed over CPUs."""
    out = {}
    for i, name in enumerate(VERDICTS):
        total = stats[i].sum()
        out[name] = (total.packets, total.bytes)
    return out


def open_member(spec: MemberSpec, hook: str) -> BpfObject:
    """Open (not load) ``spec``'s object for ``hook``: only its entry program, only its hook's map."""
    obj = BpfObject.open(compile_bpf(spec.source).path, name=spec.vnf)
    try:
        entry = spec.entry(hook)
        for name, prog in obj.programs.items():
            prog.autoload = name == entry
        other = "alv_chain_tc" if hook_kind(hook) == "xdp" else "alv_chain_xdp"
        if other in obj.maps:
            obj.map(other).set_autocreate(False)
        for name, value in spec.globals.items():
            obj.globals[name] = value
        for name, size in spec.map_sizes.items():
            obj.map(name).set_max_entries(size)
    except BaseException:
        obj.close()
        raise
    return obj


def state_maps(obj: BpfObject) -> dict[str, Map]:
    """The maps that hold a member's own state: all but the chain's and global data."""
    return {n: m for n, m in obj.maps.items() if n not in CHAIN_MAPS and not m.internal and m.autocreate}


def load_program(
    spec: MemberSpec,
    hook: str,
    next_slot: int,
    chain_maps: Mapping[str, Map],
    reuse: Mapping[str, Map],
) -> BpfObject:
    """Load ``spec`` for one chain slot, sharing the chain's maps and reusing state maps."""
    obj = open_member(spec, hook)
    try:
        if "alv_next_slot" in obj.globals:
            obj.globals["alv_next_slot"] = next_slot
        for name, m in chain_maps.items():
            if name in obj.maps and obj.map(name).autocreate:
                obj.map(name).reuse(m)
        for name, m in reuse.items():
            obj.map(name).reuse(m)
        obj.load()
    except BaseException:
        obj.close()
        raise
    return obj


def config_changed(old: MemberSpec, new: MemberSpec) -> bool:
    """Whether ``new`` configures the maps differently from ``old``."""
    return old.map_entries != new.map_entries or (new.sync is not None and old.config != new.config)


def apply_entries(spec: MemberSpec, maps: Mapping[str, Map], only: set[str] | None = None) -> None:
    """Write the spec's desired entries into ``maps`` as a diff."""
    if spec.sync is not None:
        spec.sync(maps, only)
        return
    missing = sorted(set(spec.map_entries) - set(maps))
    if missing:
        raise AlveoleError(f"{spec.vnf} configures maps its object does not have: {', '.join(missing)}")
    for name, wanted in spec.map_entries.items():
        if only is None or name in only:
            maps[name].sync_to(dict(wanted))


def probe(spec: MemberSpec, hook: str) -> list[str]:
    """Run the spec's probe (its fixture table on fresh, standalone instances); returns failures."""
    return spec.probe(hook) if spec.probe is not None else []
