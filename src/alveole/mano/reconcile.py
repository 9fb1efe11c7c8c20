"""What an NS instance wants from the kernel, and how to get a chain there from whatever it is now.

An instantiated NS wants one chain per (forwarding path, interface of its virtual
link): its VNF profiles in order with their configs, and the path's end verdict;
a stopped NS wants the same hooks with no VNF and its stop verdict. :func:`converge`
takes one chain from what the kernel has (after adoption) to what is wanted with
the smallest change the datapath offers: a live update for a new version, map
diffs for a new config, one transaction for new members or order, a create or a
delete. It is idempotent: rollback, crash recovery and heal all use it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..datapath import ChainId, MemberSpec
from .driver import ChainView, DatapathDriver
from .models import NsInstance, NsState, VnfInstance

__all__ = ["Want", "converge", "describe_change", "matches", "wants"]


@dataclass(frozen=True)
class Want:
    """A chain as an NS wants it."""

    end: str
    members: tuple[tuple[str, MemberSpec], ...]
    path: str = ""  # the forwarding path it comes from

    def key(self) -> tuple[Any, ...]:
        return (self.end, tuple((i, s.vnf, s.version, _norm(s.config)) for i, s in self.members))


def _norm(config: Any) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def wants(ns: NsInstance, spec_for: Callable[[VnfInstance], MemberSpec]) -> dict[ChainId, Want]:
    """Every chain ``ns`` wants, in forwarding-path then interface order."""
    if ns.nsState != NsState.INSTANTIATED:
        return {}
    out: dict[ChainId, Want] = {}
    for fp in ns.forwardingPaths:
        if ns.operationalState == "STOPPED":
            want = Want(ns.stopVerdict, (), fp.forwardingPathId)
        else:
            members = tuple((pid, spec_for(ns.vnf(pid))) for pid in fp.vnfProfileIds)
            want = Want(fp.end, members, fp.forwardingPathId)
        for ifname in ns.link(fp.virtualLinkId).interfaces:
            out[ChainId(ifname, fp.hook, ns.netns)] = want
    return out


def _same_member(view_member: Any, spec: MemberSpec) -> bool:
    return (view_member.vnf, view_member.version, _norm(view_member.config)) == (
        spec.vnf,
        spec.version,
        _norm(spec.config),
    )


def matches(view: ChainView | None, want: Want | None) -> bool:
    """Does the chain the kernel has equal what is wanted (members, versions, configs, end, attached)?"""
    if want is None or view is None:
        return want is None and view is None
    if not view.attached or view.end != want.end:
        return False
    if [m.instance for m in view.members] != [i for i, _ in want.members]:
        return False
    return all(_same_member(m, s) for m, (_, s) in zip(view.members, want.members, strict=True))


def describe_change(old: Want | None, new: Want | None) -> tuple[str, str]:
    """(action, detail) for the journal: what :func:`converge` will do to go from ``old`` to ``new``."""
    if new is None:
        return "delete", ""
    names = ", ".join(i for i, _ in new.members) or "no VNF"
    if old is None:
        return "create", f"{names}; end {new.end}"
    if [i for i, _ in old.members] != [i for i, _ in new.members]:
        return "set-members", f"{names}; end {new.end}"
    changed = []
    for (inst, a), (_, b) in zip(old.members, new.members, strict=True):
        if (a.vnf, a.version) != (b.vnf, b.version):
            changed.append(f"update {inst} {a.version} -> {b.version}")
        elif _norm(a.config) != _norm(b.config):
            changed.append(f"reconfigure {inst}")
    if old.end != new.end:
        changed.append(f"end {old.end} -> {new.end}")
    action = (
        "update" if any(c.startswith("update") for c in changed) else "reconfigure" if changed else "check"
    )
    return action, "; ".join(changed)


def converge(driver: DatapathDriver, cid: ChainId, want: Want | None) -> list[str]:
    """Bring chain ``cid`` to ``want`` (None: no chain); returns what was done (and repaired)."""
    done: list[str] = []
    try:
        view = driver.inspect(cid)
    except Exception as e:
        driver.delete(cid)
        done.append(f"removed a chain that could not be adopted ({e})")
        view = None
    if view is not None:
        done += list(view.repairs)
    if want is None:
        if view is not None:
            driver.delete(cid)
            done.append("deleted")
        return done
    if view is None:
        driver.create(cid, want.members, want.end)
        done.append("created")
        return done
    if [m.instance for m in view.members] != [i for i, _ in want.members]:
        driver.set_members(cid, want.members, want.end)
        done.append("members set")
        return done
    for m, (inst, spec) in zip(view.members, want.members, strict=True):
        if (m.vnf, m.version) != (spec.vnf, spec.version):
            driver.update(cid, inst, spec)
            done.append(f"{inst} updated to {spec.version}")
        elif _norm(m.config) != _norm(spec.config):
            driver.reconfigure(cid, inst, spec)
            done.append(f"{inst} reconfigured")
    if view.end != want.end:
        driver.set_end(cid, want.end)
        done.append(f"end {want.end}")
    return done
