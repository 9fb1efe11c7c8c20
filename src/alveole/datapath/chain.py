"""A service chain: VNF instances in order on one hook, changed transactionally, updated live.

Semantics (see also <alveole/vnf.h>):

* a packet enters through the dispatcher, runs the first VNF, and each VNF's
  ``CONTINUE`` hands it to the next one; ``DROP``, ``PASS``, ``TX`` and
  ``REDIRECT`` end the chain there; after the last VNF the chain's *end verdict*
  applies (``pass`` by default, or ``drop``); an empty chain applies it at once;
* every change (insert, remove, move, replace) loads the members of the new
  arrangement, probes new code, fills the inactive generation and flips it with
  one map write: packets see the old chain or the new one, never a mix; if any
  step fails the old chain keeps running and nothing new stays in bpffs;
* a live update replaces one member's program in its slot (one atomic write)
  after the new version loaded with the old version's maps and passed its probe;
* everything is pinned: the chain keeps running when this process exits, and
  :meth:`Chain.adopt` picks it up again (same program and link ids).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..bpf import BpfObject, Link, Map, Program
from ..errors import AlveoleError, BpfError
from ..system import netns as _netns
from ..toolchain import compile_bpf
from . import member as _m
from .compat import plan_maps
from .layout import ChainId, ChainPaths, replace_pin
from .member import Member, MemberSpec, ProbeFailedError
from .slots import CHAIN_MAX, ChainSlots, next_slot

__all__ = ["Chain", "ChainError", "Repair", "UpdateReport"]

DISPATCHER = Path(__file__).with_name("dispatcher.bpf.c")
Resolver = Callable[[dict[str, Any]], MemberSpec]


def _in_chain_netns(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a method with this thread in the chain's network namespace.

    Map writes that name interfaces resolve them in the writer's namespace (a
    devmap turns an ifindex into a device there): members must be loaded and
    configured from inside the namespace of the interface they serve.
    """

    @functools.wraps(fn)
    def wrapper(self: Chain, *args: Any, **kwargs: Any) -> Any:
        with _netns.enter(self.cid.netns):
            return fn(self, *args, **kwargs)

    return wrapper


class ChainError(AlveoleError):
    """A chain operation was refused; the chain is unchanged."""


@dataclass(frozen=True)
class UpdateReport:
    instance: str
    old_prog_id: int
    new_prog_id: int
    swap_ms: float
    load_ms: float
    reused: list[str]
    migrated: list[str]
    dropped: list[str]


@dataclass(frozen=True)
class Repair:
    chain: str
    what: str


@dataclass
class _Staged:
    """A member loaded for the inactive generation, not yet visible to packets."""

    instance: str
    spec: MemberSpec
    obj: BpfObject
    new_maps: set[str] = field(default_factory=set)  # maps created by this load (to pin)


class Chain:
    def __init__(
        self,
        cid: ChainId,
        paths: ChainPaths,
        dispatcher: Program,
        slots: ChainSlots,
        link: Link | None,
        members: list[Member],
        xdp_mode: str = "native",
        owner: BpfObject | None = None,
    ) -> None:
        self.cid = cid
        self.paths = paths
        self.dispatcher = dispatcher
        self.slots = slots
        self.link = link
        self.members = members
        self.xdp_mode = xdp_mode
        self._owner = owner  # the dispatcher's object when this process loaded it

    # --- reading -------------------------------------------------------------------------
    @property
    def end(self) -> str:
        return self.slots.end

    @property
    def chain_maps(self) -> dict[str, Map]:
        progs = "alv_chain_xdp" if self.cid.is_xdp else "alv_chain_tc"
        return {progs: self.slots.progs, "alv_chain_conf": self.slots.conf}

    def member(self, instance: str) -> Member:
        for m in self.members:
            if m.instance == instance:
                return m
        raise ChainError(f"no member {instance!r} in chain {self.cid} (have: {self.instances()})")

    def instances(self) -> list[str]:
        return [m.instance for m in self.members]

    def counters(self) -> dict[str, dict[str, tuple[int, int]]]:
        """Per-hop counters: instance -> verdict -> (packets, bytes)."""
        return {m.instance: m.counters() for m in self.members}

    def describe(self) -> dict[str, Any]:
        link = self.link.info() if self.link else None
        return {
            "chain": str(self.cid),
            "interface": self.cid.interface,
            "netns": self.cid.netns,
            "hook": self.cid.hook,
            "end": self.end,
            "generation": self.slots.active_gen,
            "link_id": link.id if link else None,
            "attached": bool(link and link.ifindex),
            "dispatcher_id": self.dispatcher.id,
            "members": [
                {
                    "position": i,
                    "instance": m.instance,
                    "vnf": m.spec.vnf,
                    "version": m.spec.version,
                    "prog_id": m.program.id,
                    "counters": m.counters(),
                }
                for i, m in enumerate(self.members)
            ],
        }

    # --- creation ------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        cid: ChainId,
        members: Sequence[tuple[str, MemberSpec]] = (),
        *,
        end: str = "pass",
        xdp_mode: str = "native",
        paths: ChainPaths | None = None,
    ) -> Chain:
        """Build a chain and attach it: members first, the hook last (no window of an empty chain)."""
        paths = paths or ChainPaths(cid)
        if paths.record.exists() or paths.dir.exists():
            raise ChainError(f"chain {cid} already exists")
        owner = BpfObject.open(compile_bpf(DISPATCHER).path, name="alv_dispatch")
        chain: Chain | None = None
        try:
            kind = "xdp" if cid.is_xdp else "tc"
            for name, prog in owner.programs.items():
                prog.autoload = name == f"alv_dispatch_{kind}"
            owner.map("alv_chain_tc" if kind == "xdp" else "alv_chain_xdp").set_autocreate(False)
            owner.map("alv_chain_conf")  # exists: shared with the members
            owner.load()
            progs = owner.map(f"alv_chain_{kind}")
            conf = owner.map("alv_chain_conf")
            conf[0] = {"gen": 0, "end": 2 if end == "drop" else 1}
            chain = cls(
                cid,
                paths,
                owner.program(f"alv_dispatch_{kind}"),
                ChainSlots(progs, conf),
                None,
                [],
                xdp_mode,
                owner,
            )
            chain._transaction(list(members), end=end, initial=True)
            chain._attach()
            return chain
        except BaseException:
            if chain is not None:
                chain._discard()
            owner.close()
            paths.remove_all()
            raise

    def _attach(self) -> None:
        if self.cid.is_xdp:
            link = self.dispatcher.attach_xdp(self.cid.interface, mode=self.xdp_mode, netns=self.cid.netns)
        else:
            direction = self.cid.hook.removeprefix("tc-")
            link = self.dispatcher.attach_tc(self.cid.interface, direction=direction, netns=self.cid.netns)
        try:
            replace_pin(link, self.paths.link)
        except BaseException:
            link.close()
            raise
        self.link = link

    # --- transactions ----------------------------------------------------------------------
    def insert(self, instance: str, spec: MemberSpec, position: int | None = None) -> None:
        if instance in self.instances():
            raise ChainError(f"chain {self.cid} already has a member {instance!r}")
        plan = [(m.instance, m.spec) for m in self.members]
        plan.insert(len(plan) if position is None else position, (instance, spec))
        self._transaction(plan)

    def remove(self, instance: str) -> None:
        self.member(instance)
        self._transaction([(m.instance, m.spec) for m in self.members if m.instance != instance])

    def move(self, instance: str, position: int) -> None:
        target = self.member(instance)
        plan = [(m.instance, m.spec) for m in self.members if m.instance != instance]
        plan.insert(position, (target.instance, target.spec))
        self._transaction(plan)

    def replace(self, instance: str, new_instance: str, spec: MemberSpec) -> None:
        """Put another VNF in ``instance``'s place, in one step."""
        self.member(instance)
        plan = [
            (new_instance, spec) if m.instance == instance else (m.instance, m.spec) for m in self.members
        ]
        self._transaction(plan)

    def set_members(self, plan: Sequence[tuple[str, MemberSpec]], end: str | None = None) -> None:
        self._transaction(list(plan), end=end)

    def set_end(self, end: str) -> None:
        self.slots.set_end(end)
        self._write_record()

    @_in_chain_netns
    def _transaction(
        self, plan: list[tuple[str, MemberSpec]], end: str | None = None, initial: bool = False
    ) -> None:
        names = [i for i, _ in plan]
        if len(set(names)) != len(names):
            raise ChainError(f"instance names must be unique in a chain: {names}")
        if len(plan) > CHAIN_MAX:
            raise ChainError(f"a chain holds at most {CHAIN_MAX} VNFs")
        for inst, _spec in plan:
            self.paths.member_dir(inst)  # validates the name
        gen = self.slots.inactive_gen
        staged: list[_Staged] = []
        try:
            for pos, (inst, spec) in enumerate(plan):
                staged.append(self._stage(inst, spec, gen, pos))
            self.slots.install([s.obj.program(s.spec.entry(self.cid.hook)) for s in staged], end=end)
        except BaseException:
            for s in staged:
                s.obj.close()
            raise
        # the new generation is live: make pins and the record say so
        old = {m.instance: m for m in self.members}
        self.members = []
        for s in staged:
            prev = old.pop(s.instance, None)
            # reused maps are the same kernel maps: the new object holds its own fds on them
            maps = {n: s.obj.map(n) for n in _m.state_maps(s.obj)}
            member = Member(s.instance, s.spec, s.obj.program(s.spec.entry(self.cid.hook)), maps, s.obj)
            for n in s.new_maps:
                replace_pin(s.obj.map(n), self.paths.member_map(s.instance, n))
            self._pin_shared(s.instance, s.spec, maps)
            replace_pin(member.program, self.paths.member_prog(s.instance))
            self.members.append(member)
            if prev is not None and prev.obj is not s.obj:
                prev.close()  # the program stays referenced by the old generation's slots
        for gone in old.values():
            self.paths.remove_member(gone.instance)
            gone.close()
        if initial:
            replace_pin(self.slots.progs, self.paths.progs)
            replace_pin(self.slots.conf, self.paths.conf)
            replace_pin(self.dispatcher, self.paths.dispatcher)
        self._write_record()
        if old:
            self.paths.prune_groups()

    def _group_maps(self, spec: MemberSpec, state: dict[str, Map]) -> dict[str, Map]:
        """The maps ``spec``'s group already holds (opened from their pins), checked against ``state``."""
        if not spec.group or not spec.shared:
            return {}
        found: dict[str, Map] = {}
        for name in spec.shared:
            pin = self.paths.group_map(spec.group, name)
            if os.path.exists(pin):
                found[name] = Map.from_pin(pin)
        try:
            # the group's other members keep using these maps: no migration can apply
            plan_maps(spec.vnf, found, {n: state[n] for n in found if n in state}, {})
        except BaseException:
            for m in found.values():
                m.close()
            raise
        return found

    def _pin_shared(self, instance: str, spec: MemberSpec, maps: dict[str, Map]) -> None:
        """Shared maps live under the group and under the member (adoption reads the latter)."""
        if not spec.group:
            return
        for name in spec.shared:
            if name not in maps:
                continue
            if not os.path.exists(self.paths.group_map(spec.group, name)):
                replace_pin(maps[name], self.paths.group_map(spec.group, name))
            replace_pin(maps[name], self.paths.member_map(instance, name))

    def _stage(self, instance: str, spec: MemberSpec, gen: int, pos: int) -> _Staged:
        """Load ``spec`` for slot (gen, pos), keeping the state of an existing instance."""
        current = next((m for m in self.members if m.instance == instance), None)
        obj = _m.open_member(spec, self.cid.hook)
        try:
            new_state = _m.state_maps(obj)
            if current is not None and current.spec.same_code(spec):
                reuse = {n: current.maps[n] for n in new_state if n in current.maps}
                migrate: dict[str, Any] = {}
            elif current is not None:
                plan = plan_maps(spec.vnf, current.maps, new_state, spec.migrations)
                reuse, migrate = plan.reuse, plan.migrate
            else:
                reuse, migrate = {}, {}
            group = self._group_maps(spec, new_state) if current is None else {}
            obj.close()
            try:
                obj = _m.load_program(
                    spec, self.cid.hook, next_slot(gen, pos), self.chain_maps, {**reuse, **group}
                )
            finally:
                for m in group.values():
                    m.close()
            fresh = set(_m.state_maps(obj)) - set(reuse) - set(group)
            if current is None or not current.spec.same_code(spec):
                failures = _m.probe(spec, self.cid.hook)
                if failures:
                    raise ProbeFailedError(spec.vnf, failures)
            # migrated state first, the config on top of it
            for name, (old_map, fn) in migrate.items():
                entries = list(fn(old_map.items()))
                if entries:
                    obj.map(name).update_batch([k for k, _ in entries], [v for _, v in entries])
            _m.apply_entries(
                spec, {n: obj.map(n) for n in _m.state_maps(obj)}, only=None if current is None else fresh
            )
            if current is not None and _m.config_changed(current.spec, spec):
                _m.apply_entries(spec, {n: obj.map(n) for n in _m.state_maps(obj)})
            return _Staged(instance, spec, obj, fresh)
        except BaseException:
            obj.close()
            raise

    # --- live update -------------------------------------------------------------------------
    @_in_chain_netns
    def update(self, instance: str, spec: MemberSpec) -> UpdateReport:
        """Replace one member's code live: same maps (or migrated), one atomic slot write.

        The old version keeps running until the new one loaded, passed its probe
        and sits in the slot; if the slot does not hold the new program afterwards,
        the old one is put back.
        """
        current = self.member(instance)
        pos = self.members.index(current)
        gen = self.slots.active_gen
        t0 = time.perf_counter()
        opened = _m.open_member(spec, self.cid.hook)
        try:
            plan = plan_maps(spec.vnf, current.maps, _m.state_maps(opened), spec.migrations)
        finally:
            opened.close()
        split = sorted(set(current.spec.shared) & (set(plan.migrate) | set(plan.dropped)))
        if current.spec.group and split:
            raise ChainError(
                f"maps {split} are shared by group {current.spec.group!r}: a live update of one member "
                "cannot migrate or drop them (the other members still use them)"
            )
        obj = _m.load_program(spec, self.cid.hook, next_slot(gen, pos), self.chain_maps, plan.reuse)
        try:
            failures = _m.probe(spec, self.cid.hook)
            if failures:
                raise ProbeFailedError(spec.vnf, failures)
            maps = {n: obj.map(n) for n in _m.state_maps(obj)}
            fresh = set(maps) - set(plan.reuse)
            # migrated state first, the config on top of it
            for name, (old_map, fn) in plan.migrate.items():
                entries = list(fn(old_map.items()))
                if entries:
                    maps[name].update_batch([k for k, _ in entries], [v for _, v in entries])
            _m.apply_entries(spec, maps, only=fresh - set(plan.migrate))
            if _m.config_changed(current.spec, spec):
                _m.apply_entries(spec, maps, only=set(plan.reuse))
            new_prog = obj.program(spec.entry(self.cid.hook))
            load_ms = (time.perf_counter() - t0) * 1000
            old_id, new_id = current.program.id, new_prog.id
            t1 = time.perf_counter()
            self.slots.replace(pos, new_prog, expected_id=old_id)
            swap_ms = (time.perf_counter() - t1) * 1000
            if self.slots.program_ids()[pos] != new_id:
                self.slots.replace(pos, current.program)
                raise ChainError(f"slot {pos} of {self.cid} did not take program {new_id}; restored {old_id}")
        except BaseException:
            obj.close()
            raise
        # commit: pins and record follow the kernel
        for name in fresh:
            replace_pin(maps[name], self.paths.member_map(instance, name))
        for name in plan.dropped:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.paths.member_map(instance, name))
        replace_pin(new_prog, self.paths.member_prog(instance))
        self._pin_shared(instance, spec, maps)
        new_member = Member(instance, spec, new_prog, maps, obj)
        self.members[pos] = new_member
        current.close()
        self._write_record()
        return UpdateReport(
            instance,
            old_id,
            new_id,
            swap_ms,
            load_ms,
            sorted(plan.reuse),
            sorted(plan.migrate),
            sorted(plan.dropped),
        )

    @_in_chain_netns
    def reconfigure(self, instance: str, spec: MemberSpec) -> None:
        """Apply a new configuration: map entries as a diff; a reload if globals changed."""
        current = self.member(instance)
        load_time = (dict(spec.globals), dict(spec.map_sizes))
        if load_time != (dict(current.spec.globals), dict(current.spec.map_sizes)) or not spec.same_code(
            current.spec
        ):
            self.update(instance, spec)
            return
        _m.apply_entries(spec, current.maps)
        self.members[self.members.index(current)] = Member(
            instance, spec, current.program, current.maps, current.obj
        )
        self._write_record()

    # --- teardown ----------------------------------------------------------------------------
    def delete(self) -> None:
        """Detach and remove the chain: link, pins, record."""
        if self.link is not None:
            self.link.detach()
            self.link.close()
            self.link = None
        self._discard()
        self.paths.remove_all()
        self.paths.prune_groups()

    def _discard(self) -> None:
        for m in self.members:
            m.close()
        self.members = []
        if self._owner is not None:
            self._owner.close()
            self._owner = None

    def close(self) -> None:
        """Drop this process's handles; the pinned chain keeps running in the kernel."""
        if self.link is not None:
            self.link.close()
            self.link = None
        self._discard()
        for p in (self.dispatcher, self.slots.progs, self.slots.conf):
            p.close()

    # --- persistence -------------------------------------------------------------------------
    def _record(self) -> dict[str, Any]:
        return {
            "chain": self.cid.key,
            "interface": self.cid.interface,
            "hook": self.cid.hook,
            "netns": self.cid.netns,
            "end": self.end,
            "xdp_mode": self.xdp_mode,
            "members": [
                {
                    "instance": m.instance,
                    "vnf": m.spec.vnf,
                    "version": m.spec.version,
                    "source": str(Path(m.spec.source).resolve()),
                    "entries": dict(m.spec.entries),
                    "globals": dict(m.spec.globals),
                    "map_sizes": dict(m.spec.map_sizes),
                    "group": m.spec.group,
                    "shared": list(m.spec.shared),
                    "config": dict(m.spec.config),
                }
                for m in self.members
            ],
        }

    def _write_record(self) -> None:
        path = self.paths.record
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._record(), indent=2, default=str))
        os.replace(tmp, path)

    @classmethod
    def adopt(
        cls, cid: ChainId, resolver: Resolver, paths: ChainPaths | None = None
    ) -> tuple[Chain, list[Repair]]:
        """Take over a pinned chain after a restart, repairing what drifted from the record."""
        paths = paths or ChainPaths(cid)
        try:
            record = json.loads(paths.record.read_text())
        except FileNotFoundError:
            raise ChainError(f"no record of chain {cid}") from None
        repairs: list[Repair] = []
        specs = [(r["instance"], resolver(r)) for r in record["members"]]
        try:
            progs, conf = Map.from_pin(paths.progs), Map.from_pin(paths.conf)
            dispatcher = Program.from_pin(paths.dispatcher)
        except (FileNotFoundError, BpfError):
            # the chain's own objects are gone (e.g. after a reboot): rebuild from the record
            paths.remove_all()
            chain = cls.create(cid, specs, end=record["end"], xdp_mode=record["xdp_mode"], paths=paths)
            return chain, [Repair(str(cid), "rebuilt from its record (chain pins were missing)")]
        chain = cls(cid, paths, dispatcher, ChainSlots(progs, conf), None, [], record["xdp_mode"])
        active = chain.slots.program_ids()
        for pos, (inst, spec) in enumerate(specs):
            member = chain._adopt_member(inst, spec, pos, active, repairs)
            chain.members.append(member)
        if chain.slots.program_ids() != [m.program.id for m in chain.members]:
            chain._transaction([(m.instance, m.spec) for m in chain.members])
            repairs.append(Repair(str(cid), "rewrote the active generation to match the record"))
        try:
            link = Link.from_pin(paths.link)
            if not link.info().ifindex:  # detached behind our back
                link.close()
                os.unlink(paths.link)
                raise FileNotFoundError(paths.link)
            chain.link = link
        except FileNotFoundError:
            chain._attach()
            repairs.append(Repair(str(cid), "re-attached the dispatcher (its link was missing or detached)"))
        return chain, repairs

    @_in_chain_netns
    def _adopt_member(
        self, inst: str, spec: MemberSpec, pos: int, active: list[int], repairs: list[Repair]
    ) -> Member:
        maps: dict[str, Map] = {}
        maps_dir = self.paths.member_dir(inst) / "maps"
        if maps_dir.is_dir():
            for p in sorted(maps_dir.iterdir()):
                if not p.name.endswith("_new"):
                    maps[p.name] = Map.from_pin(str(p))
        try:
            prog = Program.from_pin(self.paths.member_prog(inst))
            if pos < len(active) and active[pos] == prog.id:
                return Member(inst, spec, prog, maps)
            prog.close()
            why = "its program is not in its slot"
        except FileNotFoundError:
            why = "its program pin was missing"
        # reload with whatever state survived
        gen = self.slots.active_gen
        probe_obj = _m.open_member(spec, self.cid.hook)
        wanted = set(_m.state_maps(probe_obj))
        probe_obj.close()
        try:
            obj = _m.load_program(
                spec,
                self.cid.hook,
                next_slot(gen, pos),
                self.chain_maps,
                {n: m for n, m in maps.items() if n in wanted},
            )
        finally:
            for m in maps.values():
                m.close()
        state = {n: obj.map(n) for n in _m.state_maps(obj)}
        fresh = set(state) - set(maps)
        _m.apply_entries(spec, state, only=fresh)
        for n in fresh:
            replace_pin(state[n], self.paths.member_map(inst, n))
        prog = obj.program(spec.entry(self.cid.hook))
        self.slots.replace(pos, prog)
        replace_pin(prog, self.paths.member_prog(inst))
        repairs.append(Repair(str(self.cid), f"reloaded member {inst} ({why})"))
        return Member(inst, spec, prog, state, obj)
