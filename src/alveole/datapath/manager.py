"""This host's data plane: every chain, found again from its record and pins after a restart."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .chain import Chain, ChainError, Repair
from .layout import ChainId, ChainPaths, bpffs_root, state_root
from .member import MemberSpec

__all__ = ["Datapath", "raw_resolver"]

Resolver = Callable[[dict[str, Any]], MemberSpec]


def raw_resolver(record: dict[str, Any]) -> MemberSpec:
    """Rebuild a member from its record alone (source, entry points, globals)."""
    return MemberSpec(
        vnf=record["vnf"],
        version=record["version"],
        source=Path(record["source"]),
        entries=record.get("entries") or {},
        globals=record.get("globals") or {},
        map_sizes=record.get("map_sizes") or {},
        group=record.get("group"),
        shared=tuple(record.get("shared") or ()),
        config=record.get("config") or {},
    )


def default_resolver(record: dict[str, Any]) -> MemberSpec:
    """Members of the VNF catalog are rebuilt from their config; others from their record."""
    from .catalog import member_from_record

    return member_from_record(record) or raw_resolver(record)


class Datapath:
    """Chains on this host. ``adopt_all()`` at start takes over what is pinned."""

    def __init__(
        self, resolver: Resolver | None = None, bpffs: Path | None = None, state: Path | None = None
    ):
        self.resolver = resolver or default_resolver
        self.bpffs = bpffs or bpffs_root()
        self.state = state or state_root()
        self._chains: dict[ChainId, Chain] = {}

    def _paths(self, cid: ChainId) -> ChainPaths:
        return ChainPaths(cid, self.bpffs, self.state)

    def recorded(self) -> list[ChainId]:
        if not self.state.is_dir():
            return []
        return sorted(ChainId.from_key(p.stem) for p in self.state.glob("*.json"))

    def get(self, cid: ChainId) -> Chain:
        chain = self._chains.get(cid)
        if chain is None:
            if cid not in self.recorded():
                raise ChainError(f"no chain on {cid}")
            chain, _ = Chain.adopt(cid, self.resolver, self._paths(cid))
            self._chains[cid] = chain
        return chain

    def adopt_all(self) -> list[Repair]:
        repairs: list[Repair] = []
        for cid in self.recorded():
            if cid not in self._chains:
                chain, fixed = Chain.adopt(cid, self.resolver, self._paths(cid))
                self._chains[cid] = chain
                repairs += fixed
        return repairs

    def create(
        self,
        cid: ChainId,
        members: Sequence[tuple[str, MemberSpec]] = (),
        *,
        end: str = "pass",
        xdp_mode: str = "native",
    ) -> Chain:
        chain = Chain.create(cid, members, end=end, xdp_mode=xdp_mode, paths=self._paths(cid))
        self._chains[cid] = chain
        return chain

    def delete(self, cid: ChainId) -> None:
        self.get(cid).delete()
        del self._chains[cid]

    def chains(self) -> list[Chain]:
        return [self.get(cid) for cid in self.recorded()]

    def close(self) -> None:
        """Release this process's handles; pinned chains keep running."""
        for chain in self._chains.values():
            chain.close()
        self._chains.clear()

    def __enter__(self) -> Datapath:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
