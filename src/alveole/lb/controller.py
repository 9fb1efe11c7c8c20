"""Driving a loaded load balancer: its config, backend health, and ordered map diffs.

:class:`LoadBalancer` holds the administrator's config (:class:`LbConfig`) and the set
of backends the health checker took out; the kernel gets the *effective* config (the
config without them). Writing it is ordered so that no packet ever sees a ring slot
naming a backend the backends table lacks:

1. settings;
2. backends added or changed (the new ones exist before any slot names them);
3. ring slots that change, and only those (the controller keeps what it wrote last,
   so a health change costs one batched write of the slots that move, ~1/n of the
   ring, instead of a read of the whole array);
4. VIPs (a new VIP appears once its ring is full);
5. backends removed (no slot names them any more) and fib ports.

A ring rewritten slot by slot is never inconsistent for existing flows: they are
pinned to backend ids in the flow table; a new flow reading a mix of old and new
slots gets a backend of the old or of the new pool, both valid at that moment. So
no double buffer (ring flip) is needed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ReloadRequiredError
from ..system import netns as _netns
from ..vnf.lb.config import LbConfig, Vip
from ..vnf.lb.state import backend_flow_counts, flows_per_backend

if TYPE_CHECKING:
    from ..bpf import Map
    from ..vnf.instance import VnfInstance

__all__ = ["ApplyReport", "BackendStatus", "LoadBalancer", "VipStatus", "effective_config"]


def effective_config(config: LbConfig, down: Iterable[int]) -> LbConfig:
    """``config`` without the backends whose ids are in ``down``."""
    out = set(down)
    if not out:
        return config
    vips = tuple(
        v.model_copy(update={"backends": tuple(b for b in v.backends if v.backend_id(b) not in out)})
        for v in config.vips
    )
    return config.model_copy(update={"vips": vips})


@dataclass(frozen=True)
class ApplyReport:
    """What one :meth:`LoadBalancer.apply` wrote: entries per map, and ring slots changed."""

    backends_added: int = 0
    backends_removed: int = 0
    ring_slots: int = 0
    vips: tuple[int, int, int] = (0, 0, 0)  # added, changed, removed
    seconds: float = 0.0


@dataclass(frozen=True)
class BackendStatus:
    address: str
    port: int
    weight: int
    id: int
    state: str  # "up", "down" (taken out by the health checker) or "drain" (weight 0)
    active_flows: int  # flows in the flow table pinned to it now
    flows: int  # flows given to it since load (new and repinned)


@dataclass(frozen=True)
class VipStatus:
    vip: str
    mode: str
    backends: list[BackendStatus] = field(default_factory=list)


class LoadBalancer:
    """A loaded lb VNF (its maps by name) and the config it should run.

    ``netns``: the namespace the VNF's interfaces live in; the fib egress devmap is
    written from there (a devmap holds devices of the writer's namespace).
    """

    def __init__(self, maps: Mapping[str, Map], config: LbConfig, *, netns: str | None = None) -> None:
        self.maps = maps
        self.config = config
        self.netns = netns
        self.down: set[int] = set()
        self._fixed = (config.rodata(), config.map_sizes())  # what the loaded program was built with
        self._ring: dict[int, int] | None = None  # what the ring holds (non-zero slots)
        self._lock = threading.RLock()

    @classmethod
    def of(cls, instance: VnfInstance, *, netns: str | None = None) -> LoadBalancer:
        """The controller of a :class:`VnfInstance` of the lb VNF (its ring as the instance wrote it)."""
        lb = cls(instance.maps, instance.config, netns=netns)  # type: ignore[arg-type]
        lb._ring = instance.config.ring_entries()  # type: ignore[attr-defined]
        return lb

    # --- intent -----------------------------------------------------------------------
    def effective(self) -> LbConfig:
        return effective_config(self.config, self.down)

    def apply(self, config: LbConfig | None = None) -> ApplyReport:
        """Make the kernel run ``config`` (default: the current one) minus the backends down.

        Raises :class:`ReloadRequiredError` when ``config`` changes what the loaded program
        was built with (ring size, egress, table sizes).
        """
        with self._lock:
            t0 = time.perf_counter()
            if config is not None:
                rodata, sizes = self._fixed
                changes = [f"global {k}" for k, v in config.rodata().items() if rodata.get(k) != v]
                changes += [f"size of {k}" for k, v in config.map_sizes().items() if sizes.get(k) != v]
                if changes:
                    raise ReloadRequiredError("lb", changes)
                self.config = config
                known = {v.backend_id(b) for v in config.vips for b in v.backends}
                self.down &= known
            report = self._write(self.effective())
            return ApplyReport(**{**report.__dict__, "seconds": time.perf_counter() - t0})

    def set_down(self, backend_id: int, down: bool) -> bool:
        """Take a backend out (``down``) or bring it back; returns whether anything changed."""
        with self._lock:
            if (backend_id in self.down) == down:
                return False
            if down:
                self.down.add(backend_id)
            else:
                self.down.discard(backend_id)
            self._write(self.effective())
            return True

    # --- writing ----------------------------------------------------------------------
    def _current_ring(self) -> dict[int, int]:
        if self._ring is None:
            self._ring = {k: v for k, v in self.maps["lb_ring"].items() if v}
        return self._ring

    def _write(self, cfg: LbConfig) -> ApplyReport:
        m = self.maps
        m["lb_settings"].sync_to({0: cfg.settings_value()})
        backends = cfg.backend_entries()
        kernel_backends = {k: v for k, v in m["lb_backends"].items()}
        fresh = {
            k: v
            for k, v in backends.items()
            if k not in kernel_backends
            or m["lb_backends"].encode_value(kernel_backends[k]) != m["lb_backends"].encode_value(v)
        }
        if fresh:
            m["lb_backends"].update_batch(list(fresh), list(fresh.values()))
        slots = self._write_ring(cfg.ring_entries())
        vips = m["lb_vips"].sync_to(cfg.vip_entries())
        removed = [k for k in kernel_backends if k not in backends]
        for k in removed:
            m["lb_backends"].pop(k, None)
        ports = {p: p for p in cfg.fib_ports} if cfg.egress == "fib" else {}
        with _netns.enter(self.netns):
            m["lb_ports"].sync_to(ports)
        return ApplyReport(len(fresh), len(removed), slots, vips)

    def _write_ring(self, wanted: dict[int, int]) -> int:
        current = self._current_ring()
        changed = {k: v for k, v in wanted.items() if current.get(k) != v}
        cleared = [k for k in current if k not in wanted]
        ring = self.maps["lb_ring"]
        if changed:
            ring.update_batch(list(changed), list(changed.values()))
        if cleared:
            ring.update_batch(cleared, [0] * len(cleared))
        self._ring = dict(wanted)
        return len(changed) + len(cleared)

    # --- reading ----------------------------------------------------------------------
    def status(self) -> list[VipStatus]:
        """Every VIP and its backends: state, flows pinned now, flows given since load."""
        active = flows_per_backend(self.maps)
        total = backend_flow_counts(self.maps)
        return [self._vip_status(v, active, total) for v in self.config.vips]

    def _vip_status(self, v: Vip, active: dict[int, int], total: dict[int, int]) -> VipStatus:
        rows = []
        for b in v.backends:
            bid = v.backend_id(b)
            state = "down" if bid in self.down else ("drain" if b.weight == 0 else "up")
            rows.append(
                BackendStatus(
                    str(b.address),
                    v.backend_port(b),
                    b.weight,
                    bid,
                    state,
                    active.get(bid, 0),
                    total.get(bid, 0),
                )
            )
        return VipStatus(str(v), v.mode, rows)

    def describe(self) -> list[dict[str, Any]]:
        """:meth:`status` as plain data (JSON)."""
        return [
            {"vip": s.vip, "mode": s.mode, "backends": [b.__dict__ for b in s.backends]}
            for s in self.status()
        ]
