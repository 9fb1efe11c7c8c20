"""The BPF layer as MANO sees it: a :class:`DatapathDriver`, injected into the lifecycle manager.

:class:`KernelDriver` drives :class:`alveole.datapath.Datapath` (real chains,
pins, links); :class:`FakeDriver` keeps chains in memory so descriptor, lifecycle,
API and CLI tests run without root. Both speak in :class:`ChainView`: what a chain
runs (members with VNF, version, config, program id, per-verdict counters), its end
verdict and whether its dispatcher is attached.

The kernel driver holds no chain between calls: each call adopts the chain from
its pins and record and lets go afterwards, so several processes (the CLI, the API
server) can take turns on one host (the lifecycle manager serialises them with a
host lock). ``inspect`` adopts (repairing drift, clearing what a crash left in
bpffs); ``observe`` only reads pins, for ``show`` and ``/metrics``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..datapath import Chain, ChainId, ChainPaths, Datapath, MemberSpec
from ..datapath.layout import bpffs_root, state_root
from ..datapath.manager import default_resolver
from ..datapath.member import VERDICTS
from ..errors import AlveoleError

__all__ = [
    "ChainView",
    "DatapathDriver",
    "FakeDriver",
    "KernelDriver",
    "MemberView",
    "Resolver",
]

Resolver = Callable[[dict[str, Any]], MemberSpec]
Counters = dict[str, tuple[int, int]]  # verdict -> (packets, bytes)


@dataclass(frozen=True)
class MemberView:
    instance: str
    vnf: str
    version: str
    config: Mapping[str, Any]
    prog_id: int = 0
    counters: Counters = field(default_factory=dict)


@dataclass(frozen=True)
class ChainView:
    chain: ChainId
    end: str
    attached: bool
    members: tuple[MemberView, ...]
    repairs: tuple[str, ...] = ()

    def member(self, instance: str) -> MemberView:
        return next(m for m in self.members if m.instance == instance)


class DatapathDriver(Protocol):
    """What the lifecycle manager needs from a host's data plane."""

    def set_resolver(self, resolver: Resolver) -> None:
        """How to rebuild a member from a chain record (adoption after a restart)."""

    def check_interface(self, netns: str | None, interface: str) -> None:
        """Raise LookupError when the namespace or the interface does not exist."""

    def chain_ids(self) -> list[ChainId]:
        """Every chain present on this host (alveole's, MANO's or not)."""

    def inspect(self, cid: ChainId) -> ChainView | None:
        """Adopt the chain (repairing drift) and describe it; clear leftovers of a chain without record."""

    def observe(self, cid: ChainId) -> ChainView | None:
        """Describe the chain from its pins, changing nothing."""

    def create(self, cid: ChainId, members: Sequence[tuple[str, MemberSpec]], end: str) -> None: ...
    def delete(self, cid: ChainId) -> None: ...
    def set_members(self, cid: ChainId, members: Sequence[tuple[str, MemberSpec]], end: str) -> None: ...
    def update(self, cid: ChainId, instance: str, spec: MemberSpec) -> None: ...
    def reconfigure(self, cid: ChainId, instance: str, spec: MemberSpec) -> None: ...
    def set_end(self, cid: ChainId, end: str) -> None: ...
    def reload(self, cid: ChainId, instance: str, spec: MemberSpec) -> None:
        """Load the member's program again and swap it in (its maps kept)."""


# --- the kernel ---------------------------------------------------------------------------------
class KernelDriver:
    """Chains in the kernel, through :mod:`alveole.datapath` (needs root)."""

    def __init__(
        self,
        resolver: Resolver | None = None,
        *,
        bpffs: Path | None = None,
        state: Path | None = None,
        xdp_mode: str = "native",
    ) -> None:
        self.resolver = resolver or default_resolver
        self.bpffs = bpffs or bpffs_root()
        self.state = state or state_root()
        self.xdp_mode = xdp_mode

    def __repr__(self) -> str:
        return f"KernelDriver(bpffs={str(self.bpffs)!r}, state={str(self.state)!r})"

    def set_resolver(self, resolver: Resolver) -> None:
        self.resolver = resolver

    def _paths(self, cid: ChainId) -> ChainPaths:
        return ChainPaths(cid, self.bpffs, self.state)

    @contextlib.contextmanager
    def _datapath(self) -> Iterator[Datapath]:
        dp = Datapath(self.resolver, bpffs=self.bpffs, state=self.state)
        try:
            yield dp
        finally:
            dp.close()

    def check_interface(self, netns: str | None, interface: str) -> None:
        from ..system import netns as _netns

        if netns is not None and not _netns.exists(netns):
            raise LookupError(f"no network namespace {netns!r}")
        _netns.ifindex(interface, netns)

    def chain_ids(self) -> list[ChainId]:
        found = set()
        if self.state.is_dir():
            found |= {ChainId.from_key(p.stem) for p in self.state.glob("*.json")}
        chains = self.bpffs / "chains"
        if chains.is_dir():
            for p in chains.iterdir():
                with contextlib.suppress(ValueError):
                    found.add(ChainId.from_key(p.name))
        return sorted(found)

    # --- reading --------------------------------------------------------------------------------
    def inspect(self, cid: ChainId) -> ChainView | None:
        paths = self._paths(cid)
        if not paths.record.exists():
            if paths.dir.exists():  # a crash before the chain was recorded: nothing may stay behind
                self._remove_leftovers(paths)
            return None
        self._sweep(paths)
        chain, repairs = Chain.adopt(cid, self.resolver, paths)
        try:
            kept = set(chain.instances())
            for inst in paths.pinned_members():
                if inst not in kept:  # pinned by a change that never reached the record
                    paths.remove_member(inst)
            return _view(chain, tuple(r.what for r in repairs))
        finally:
            chain.close()

    def observe(self, cid: ChainId) -> ChainView | None:
        from ..bpf import Link, Map, Program
        from ..datapath.member import counters

        paths = self._paths(cid)
        try:
            record = json.loads(paths.record.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        members = []
        for r in record.get("members", []):
            inst = r["instance"]
            stats: Counters = {}
            prog_id = 0
            with contextlib.suppress(FileNotFoundError, AlveoleError):
                m = Map.from_pin(paths.member_map(inst, "alv_stats"))
                try:
                    stats = counters(m)
                finally:
                    m.close()
            with contextlib.suppress(FileNotFoundError, AlveoleError):
                p = Program.from_pin(paths.member_prog(inst))
                try:
                    prog_id = p.id
                finally:
                    p.close()
            members.append(MemberView(inst, r["vnf"], r["version"], r.get("config") or {}, prog_id, stats))
        attached = False
        with contextlib.suppress(FileNotFoundError, AlveoleError):
            link = Link.from_pin(paths.link)
            try:
                attached = bool(link.info().ifindex)
            finally:
                link.close()
        return ChainView(cid, record.get("end", "pass"), attached, tuple(members))

    # --- changing -------------------------------------------------------------------------------
    def create(self, cid: ChainId, members: Sequence[tuple[str, MemberSpec]], end: str) -> None:
        with self._datapath() as dp:
            dp.create(cid, members, end=end, xdp_mode=self.xdp_mode)

    def delete(self, cid: ChainId) -> None:
        paths = self._paths(cid)
        if paths.record.exists():
            try:
                with self._datapath() as dp:
                    dp.delete(cid)
                return
            except (AlveoleError, OSError, ValueError):
                pass  # cannot adopt it: take it apart from its pins
        self._remove_leftovers(paths)

    def set_members(self, cid: ChainId, members: Sequence[tuple[str, MemberSpec]], end: str) -> None:
        with self._datapath() as dp:
            dp.get(cid).set_members(members, end=end)

    def update(self, cid: ChainId, instance: str, spec: MemberSpec) -> None:
        with self._datapath() as dp:
            dp.get(cid).update(instance, spec)

    def reconfigure(self, cid: ChainId, instance: str, spec: MemberSpec) -> None:
        with self._datapath() as dp:
            dp.get(cid).reconfigure(instance, spec)

    def set_end(self, cid: ChainId, end: str) -> None:
        with self._datapath() as dp:
            dp.get(cid).set_end(end)

    def reload(self, cid: ChainId, instance: str, spec: MemberSpec) -> None:
        self.update(cid, instance, spec)  # same code: maps reused, new program, probe, atomic swap

    # --- leftovers ------------------------------------------------------------------------------
    @staticmethod
    def _sweep(paths: ChainPaths) -> None:
        """Remove ``*_new`` pins (a crash between pinning and renaming)."""
        if paths.dir.is_dir():
            for p in paths.dir.rglob("*_new"):
                with contextlib.suppress(OSError):
                    if p.is_dir():
                        shutil.rmtree(p)
                    else:
                        p.unlink()

    @staticmethod
    def _remove_leftovers(paths: ChainPaths) -> None:
        """Detach and unpin whatever a chain left (its programs and maps go with their last pin)."""
        from ..bpf import Link

        for link_pin in (paths.link, paths.link + "_new"):
            with contextlib.suppress(FileNotFoundError, AlveoleError, OSError):
                link = Link.from_pin(link_pin)
                try:
                    link.detach()
                finally:
                    link.close()
        paths.remove_all()


def _view(chain: Chain, repairs: tuple[str, ...]) -> ChainView:
    members = tuple(
        MemberView(m.instance, m.spec.vnf, m.spec.version, dict(m.spec.config), m.program.id, m.counters())
        for m in chain.members
    )
    attached = bool(chain.link is not None and chain.link.info().ifindex)
    return ChainView(chain.cid, chain.end, attached, members, repairs)


# --- in memory ----------------------------------------------------------------------------------
@dataclass
class _FakeMember:
    instance: str
    spec: MemberSpec
    prog_id: int
    counters: Counters


@dataclass
class _FakeChain:
    end: str
    members: list[_FakeMember]
    attached: bool = True


class FakeDriver:
    """Chains in memory: same contract, no kernel. For tests without root.

    ``interfaces`` maps a namespace (None: the host) to its interfaces. ``fail(action,
    error)`` makes the next ``action`` (create, update, ...; optionally on one chain)
    raise ``error`` before changing anything, as the datapath does.
    """

    def __init__(self, interfaces: Mapping[str | None, Iterable[str]] | None = None) -> None:
        self.interfaces = {ns: set(ifs) for ns, ifs in (interfaces or {None: ["alvt0", "alvt1"]}).items()}
        self.chains: dict[ChainId, _FakeChain] = {}
        self.calls: list[tuple[str, str]] = []
        self._failures: list[list[Any]] = []  # [action, chain, error, calls to let through]
        self._ids = itertools.count(100)
        self.resolver: Resolver | None = None

    def set_resolver(self, resolver: Resolver) -> None:
        self.resolver = resolver

    def fail(self, action: str, error: BaseException, chain: ChainId | None = None, *, skip: int = 0) -> None:
        """Make ``action`` (on ``chain``, or any) raise ``error`` once, after ``skip`` calls that succeed."""
        self._failures.append([action, chain, error, skip])

    def _maybe_fail(self, action: str, cid: ChainId) -> None:
        self.calls.append((action, str(cid)))
        for i, (a, c, err, skip) in enumerate(self._failures):
            if a == action and c in (None, cid):
                if skip:
                    self._failures[i][3] -= 1
                    return
                del self._failures[i]
                raise err

    def _member(self, instance: str, spec: MemberSpec, old: _FakeMember | None = None) -> _FakeMember:
        keep = old is not None and old.spec.vnf == spec.vnf
        return _FakeMember(instance, spec, next(self._ids), dict(old.counters) if keep and old else _zero())

    def count(self, cid: ChainId, instance: str, verdict: str, packets: int, nbytes: int) -> None:
        """Pretend packets went through a member."""
        m = next(m for m in self.chains[cid].members if m.instance == instance)
        p, b = m.counters[verdict]
        m.counters[verdict] = (p + packets, b + nbytes)

    def check_interface(self, netns: str | None, interface: str) -> None:
        if netns not in self.interfaces:
            raise LookupError(f"no network namespace {netns!r}")
        if interface not in self.interfaces[netns]:
            raise LookupError(f"no interface {interface!r}" + (f" in netns {netns!r}" if netns else ""))

    def chain_ids(self) -> list[ChainId]:
        return sorted(self.chains)

    def inspect(self, cid: ChainId) -> ChainView | None:
        self._maybe_fail("inspect", cid)
        chain = self.chains.get(cid)
        repairs: tuple[str, ...] = ()
        if chain is not None and not chain.attached:
            chain.attached = True
            repairs = ("re-attached the dispatcher",)
        return self._view(cid, repairs)

    def observe(self, cid: ChainId) -> ChainView | None:
        return self._view(cid)

    def _view(self, cid: ChainId, repairs: tuple[str, ...] = ()) -> ChainView | None:
        chain = self.chains.get(cid)
        if chain is None:
            return None
        members = tuple(
            MemberView(
                m.instance, m.spec.vnf, m.spec.version, dict(m.spec.config), m.prog_id, dict(m.counters)
            )
            for m in chain.members
        )
        return ChainView(cid, chain.end, chain.attached, members, repairs)

    def create(self, cid: ChainId, members: Sequence[tuple[str, MemberSpec]], end: str) -> None:
        self._maybe_fail("create", cid)
        if cid in self.chains:
            raise AlveoleError(f"chain {cid} already exists")
        self.check_interface(cid.netns, cid.interface)
        self.chains[cid] = _FakeChain(end, [self._member(i, s) for i, s in members])

    def delete(self, cid: ChainId) -> None:
        self._maybe_fail("delete", cid)
        self.chains.pop(cid, None)

    def _chain(self, cid: ChainId) -> _FakeChain:
        if cid not in self.chains:
            raise AlveoleError(f"no chain on {cid}")
        return self.chains[cid]

    def set_members(self, cid: ChainId, members: Sequence[tuple[str, MemberSpec]], end: str) -> None:
        self._maybe_fail("set-members", cid)
        chain = self._chain(cid)
        old = {m.instance: m for m in chain.members}
        chain.members = [
            old[i]
            if i in old and old[i].spec.same_code(s) and old[i].spec.config == s.config
            else self._member(i, s, old.get(i))
            for i, s in members
        ]
        chain.end = end

    def _replace(self, cid: ChainId, instance: str, spec: MemberSpec) -> None:
        chain = self._chain(cid)
        pos = next((k for k, m in enumerate(chain.members) if m.instance == instance), None)
        if pos is None:
            raise AlveoleError(f"no member {instance!r} in chain {cid}")
        chain.members[pos] = self._member(instance, spec, chain.members[pos])

    def update(self, cid: ChainId, instance: str, spec: MemberSpec) -> None:
        self._maybe_fail("update", cid)
        self._replace(cid, instance, spec)

    def reconfigure(self, cid: ChainId, instance: str, spec: MemberSpec) -> None:
        self._maybe_fail("reconfigure", cid)
        chain = self._chain(cid)
        for m in chain.members:
            if m.instance == instance:
                m.spec = spec
                return
        raise AlveoleError(f"no member {instance!r} in chain {cid}")

    def set_end(self, cid: ChainId, end: str) -> None:
        self._maybe_fail("set-end", cid)
        self._chain(cid).end = end

    def reload(self, cid: ChainId, instance: str, spec: MemberSpec) -> None:
        self._maybe_fail("reload", cid)
        self._replace(cid, instance, spec)


def _zero() -> Counters:
    return {v: (0, 0) for v in VERDICTS}
