"""A VNF loaded into the kernel for one hook.

:meth:`VnfInstance.load` opens the VNF's object, keeps only the entry of the
requested hook, applies the config's load-time part (``const volatile``
globals, map sizes) plus any extra globals, reuses maps given by name (chain
maps, or the state maps of a previous version) and loads; then it writes the
config's map entries. Afterwards :meth:`VnfInstance.apply` moves to a new
config by map diffs, :meth:`VnfInstance.counters` reads the per-verdict
counters and :meth:`VnfInstance.run` runs a frame through BPF_PROG_TEST_RUN
and tells which verdict the VNF returned.

The chain manager builds on this: ``globals={"alv_next_slot": slot}`` and
``reuse={"alv_chain_xdp": ..., "alv_chain_conf": ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..bpf import BpfObject, Map, TcAction, XdpAction
from ..bpf.object import ObjectProgram
from ..errors import ReloadRequiredError, VnfContractError
from ..toolchain import compile_bpf
from .catalog import get
from .config import VnfConfig
from .spec import VnfSpec
from .verdict import HOOKS, Hook, Verdict

__all__ = ["STATS_MAP", "Counts", "Observation", "VnfInstance"]

STATS_MAP = "alv_stats"  # the per-verdict counters of alveole/vnf.h


class Counts(NamedTuple):
    packets: int
    bytes: int


@dataclass(frozen=True)
class Observation:
    """One frame through the kernel: the VNF's verdict (from its counters), the hook's
    return value, the frame as the program left it, and the kernel-timed ns."""

    verdict: Verdict
    action: XdpAction | TcAction | int
    data: bytes
    duration_ns: int


class VnfInstance:
    """One VNF, loaded for one hook. Build with :meth:`load`; close when done."""

    def __init__(self, spec: VnfSpec, hook: Hook, config: VnfConfig, obj: BpfObject) -> None:
        self.spec = spec
        self.hook = hook
        self.config = config
        self.object = obj
        self.program: ObjectProgram = obj.program(spec.entry(hook))
        self.maps: dict[str, Map] = {n: m for n, m in obj.maps.items() if not m.internal}
        self._rodata = config.rodata()
        self._sizes = config.map_sizes()

    @classmethod
    def load(
        cls,
        vnf: str | VnfSpec,
        hook: Hook = "xdp",
        config: VnfConfig | Mapping[str, Any] | None = None,
        *,
        globals: Mapping[str, Any] | None = None,
        reuse: Mapping[str, Map | int | str] | None = None,
    ) -> VnfInstance:
        """Compile (cached), configure and load ``vnf`` for ``hook``.

        ``globals`` are extra ``const volatile`` values set after the config's
        (e.g. ``alv_next_slot`` for a chain member); ``reuse`` maps a map name
        to an existing map (a :class:`Map`, an fd or a pin path) used instead of
        a new one.
        """
        spec = get(vnf) if isinstance(vnf, str) else vnf
        if hook not in HOOKS:
            raise ValueError(f"hook must be one of {', '.join(HOOKS)}, not {hook!r}")
        entry = spec.entry(hook)
        cfg = spec.validate(config)
        compiled = compile_bpf(spec.source)
        obj = BpfObject.open(compiled.path, name=spec.name)
        try:
            # keep this hook's entry; the other hooks' entries are not loaded
            for other in spec.entries.values():
                if other != entry:
                    obj.programs[other].autoload = False
            for name, value in {**cfg.rodata(), **(globals or {})}.items():
                obj.globals[name] = value
            for name, size in cfg.map_sizes().items():
                obj.map(name).set_max_entries(size)
            for name, existing in (reuse or {}).items():
                obj.map(name).reuse(existing)
            if STATS_MAP not in obj.maps:
                raise VnfContractError(
                    f"{spec.name}: {spec.source.name} has no {STATS_MAP} map (build its entries with "
                    "ALV_VNF_XDP/ALV_VNF_TC from alveole/vnf.h)"
                )
            obj.load()
            inst = cls(spec, hook, cfg, obj)
            cfg.sync(inst.maps)
        except BaseException:
            obj.close()
            raise
        return inst

    # --- configuration ----------------------------------------------------------------
    def apply(self, config: VnfConfig | Mapping[str, Any]) -> dict[str, tuple[int, int, int]]:
        """Move to ``config`` by map diffs; returns (added, changed, removed) per map.

        Raises :class:`ReloadRequiredError` when the config changes what is
        fixed at load (globals, map sizes): that takes a new program.
        """
        cfg = self.spec.validate(config)
        rodata, sizes = cfg.rodata(), cfg.map_sizes()
        changes = [
            f"global {k}"
            for k in sorted(rodata.keys() | self._rodata.keys())
            if rodata.get(k) != self._rodata.get(k)
        ]
        changes += [
            f"size of {k}"
            for k in sorted(sizes.keys() | self._sizes.keys())
            if sizes.get(k) != self._sizes.get(k)
        ]
        if changes:
            raise ReloadRequiredError(self.spec.name, changes)
        entries = cfg.map_entries()
        old_maps = set(self.config.map_entries())
        if set(entries) != old_maps:
            raise VnfContractError(
                f"{self.spec.name}: map_entries() must name the same maps for every config "
                f"(was {sorted(old_maps)}, now {sorted(entries)})"
            )
        result = cfg.sync(self.maps)
        self.config = cfg
        return result

    # --- observation ------------------------------------------------------------------
    def counters(self) -> dict[Verdict, Counts]:
        """Packets and bytes per verdict, summed over CPUs (``alv_stats``)."""
        stats = self.object.map(STATS_MAP)
        return {v: Counts(*stats[int(v)].sum()) for v in Verdict}

    def run(self, frame: bytes) -> Observation:
        """Run ``frame`` once through the program (test_run) and observe the verdict.

        The verdict comes from the per-verdict counters' deltas, so CONTINUE and
        PASS are told apart even though a VNF alone turns both into PASS.
        """
        before = self.counters()
        res = self.program.run(frame)
        after = self.counters()
        moved = [v for v in Verdict if after[v].packets != before[v].packets]
        if len(moved) != 1 or after[moved[0]].packets - before[moved[0]].packets != 1:
            raise VnfContractError(
                f"{self.spec.name}: one frame moved the verdict counters of "
                f"{[v.name for v in moved] or 'none'} (a VNF entry must count exactly one verdict: "
                "use ALV_VNF_XDP/ALV_VNF_TC)"
            )
        return Observation(moved[0], res.verdict, res.data, res.duration_ns)

    def time_ns(self, frame: bytes, repeat: int = 1000) -> int:
        """Kernel-timed mean ns per run of ``frame`` over ``repeat`` runs (state changes apply)."""
        return self.program.run(frame, repeat=repeat).duration_ns

    # --- lifetime ---------------------------------------------------------------------
    def close(self) -> None:
        self.object.close()

    @property
    def closed(self) -> bool:
        return self.object.closed

    def __enter__(self) -> VnfInstance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:  # noqa: SIM105 (contextlib may be gone at interpreter exit)
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else "loaded"
        return f"<VnfInstance {self.spec.name} {self.hook} {state}>"
