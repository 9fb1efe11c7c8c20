"""Catalog VNFs as chain members: from a VnfSpec + config to a MemberSpec (datapath imports vnf, not back)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import VnfError
from ..vnf.catalog import catalog, get
from ..vnf.config import VnfConfig
from ..vnf.runner import run_fixtures
from ..vnf.spec import VnfSpec
from .member import MemberSpec

__all__ = ["default_member", "member_for", "member_from_record", "member_from_source", "probe_for"]


def probe_for(spec: VnfSpec):  # noqa: ANN201 - returns the datapath's probe callable
    """The VNF's fixture table on fresh instances, as a datapath probe (hook -> failures)."""

    def probe(hook: str) -> list[str]:
        kind = "xdp" if hook == "xdp" else "tc"
        return [
            f"{r.description} [{r.hook}]: {'; '.join(r.problems)}"
            for r in run_fixtures(spec, hooks=[kind], timing_repeat=1)
            if not r.ok
        ]

    return probe


def member_for(
    name: str, config: VnfConfig | Mapping[str, Any] | None = None, *, group: str | None = None
) -> MemberSpec:
    """A chain member running catalog VNF ``name`` with ``config`` (validated; errors name fields).

    Members given the same ``group`` (on several hooks) share the VNF's ``shared_maps``.
    """
    spec = get(name)
    cfg = spec.validate(config)
    return MemberSpec(
        vnf=spec.name,
        version=getattr(spec, "version", __version__),
        source=spec.source,
        entries=dict(spec.entries),
        globals=cfg.rodata(),
        map_sizes=cfg.map_sizes(),
        map_entries=cfg.map_entries(),
        probe=probe_for(spec),
        migrations=dict(getattr(spec, "migrations", {}) or {}),
        config=cfg.model_dump(mode="json"),
        # a VNF whose config writes depend on its maps' content (VnfConfig.sync overridden)
        sync=cfg.sync if type(cfg).sync is not VnfConfig.sync else None,
        group=group,
        shared=tuple(spec.shared_maps) if group else (),
    )


def default_member(name: str) -> MemberSpec:
    return member_for(name, None)


def member_from_record(record: Mapping[str, Any]) -> MemberSpec | None:
    """Rebuild a member from a chain record when it names a catalog VNF (None otherwise)."""
    if record.get("vnf") not in catalog():
        return None
    return member_for(record["vnf"], record.get("config") or {}, group=record.get("group"))


def member_from_source(
    source: str | Path,
    *,
    version: str = "0",
    name: str | None = None,
    globals: Mapping[str, Any] | None = None,
) -> MemberSpec:
    """A member from any ``.bpf.c`` written to <alveole/vnf.h>: entries found by program type."""
    from ..bpf import ProgType
    from ..toolchain import open_source

    path = Path(source).resolve()
    with open_source(path) as obj:
        entries = {}
        for prog_name, prog in obj.programs.items():
            kind = {ProgType.XDP: "xdp", ProgType.SCHED_CLS: "tc"}.get(prog.type)  # type: ignore[call-overload]
            if kind and kind not in entries:
                entries[kind] = prog_name
    if not entries:
        raise VnfError(f"{path} has no XDP or TC program")
    return MemberSpec(name or path.name.split(".")[0], version, path, entries, globals=dict(globals or {}))
