"""May a new version of a VNF keep an old version's map? Same definition, or a declared migration.

A map is kept (reused by fd) only when type, key size, value size, max entries,
flags and the BTF layouts of key and value are all equal. Otherwise the VNF must
declare a migration for that map (a function from the old entries to the new
ones), or the update is refused with the differences spelled out: state is never
lost silently (Cilium #5118 lost conntrack on upgrade that way). A map that the
new version no longer has is refused too, unless its migration is declared as
``DROP``. ``COPY`` declares that entries carry over unchanged (a resized table:
only max_entries or flags differ); a map whose definition did not change at all is
then reused as it is, like an undeclared one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..bpf import Map
from ..errors import AlveoleError

__all__ = ["COPY", "DROP", "IncompatibleMapError", "MapPlan", "Migration", "map_signature", "plan_maps"]

Migration = Callable[[list[tuple[Any, Any]]], Iterable[tuple[Any, Any]]]
DROP = "drop"  # a migration value meaning: this map's state is deliberately discarded
COPY = "copy"  # copy the entries as they are (same key/value layouts; e.g. a resized table)


class IncompatibleMapError(AlveoleError):
    """A map changed definition and the new version declares no migration for it."""

    def __init__(self, vnf: str, problems: dict[str, list[str]]) -> None:
        self.vnf = vnf
        self.problems = problems
        detail = "; ".join(f"map {name!r}: {', '.join(p)}" for name, p in problems.items())
        super().__init__(
            f"cannot update {vnf}: {detail}. Declare a migration for these maps (or DROP) in the new version"
        )


def _identity(entries: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    return entries


def map_signature(m: Map) -> dict[str, Any]:
    sig: dict[str, Any] = {
        "type": int(m.type),
        "key_size": m.key_size,
        "value_size": m.value_size,
        "max_entries": m.max_entries,
        "flags": m.flags,
    }
    if m.btf is not None:
        sig["key_layout"] = m.btf.layout(m.key_type_id) if m.key_type_id else None
        sig["value_layout"] = m.btf.layout(m.value_type_id) if m.value_type_id else None
    return sig


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    for field in ("type", "key_size", "value_size", "max_entries", "flags"):
        if old[field] != new[field]:
            out.append(f"{field} {old[field]} -> {new[field]}")
    for field in ("key_layout", "value_layout"):
        if field in old and field in new and old[field] != new[field]:
            out.append(f"{field.replace('_', ' ')} changed")
    return out


@dataclass
class MapPlan:
    reuse: dict[str, Map]  # new map name -> old map to reuse as is
    migrate: dict[str, tuple[Map, Migration]]  # new map name -> (old map, migration)
    dropped: list[str]  # old maps deliberately discarded


def plan_maps(
    vnf: str,
    old_maps: Mapping[str, Map],
    new_maps: Mapping[str, Map],
    migrations: Mapping[str, Migration | str],
) -> MapPlan:
    """Decide, map by map, how a new version takes over the old version's state."""
    plan = MapPlan({}, {}, [])
    problems: dict[str, list[str]] = {}
    for name, new in new_maps.items():
        old = old_maps.get(name)
        if old is None:
            continue  # a new map: starts empty (or from the config)
        diff = _differences(map_signature(old), map_signature(new))
        declared = migrations.get(name)
        if not diff and declared in (None, COPY):
            # unchanged: the map itself carries over (a copy would miss what the old version
            # writes between the copy and the swap, e.g. counters under traffic)
            plan.reuse[name] = old
        elif declared == DROP:
            plan.dropped.append(name)
        elif callable(declared):
            plan.migrate[name] = (old, declared)
        elif declared == COPY and not any(
            "layout" in d or "size" in d for d in diff if "max_entries" not in d
        ):
            plan.migrate[name] = (old, _identity)
        else:
            problems[name] = diff
    for name in old_maps.keys() - new_maps.keys():
        if migrations.get(name) == DROP:
            plan.dropped.append(name)
        else:
            problems[name] = ["removed by the new version"]
    if problems:
        raise IncompatibleMapError(vnf, problems)
    return plan
