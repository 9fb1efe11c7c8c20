"""Load balancer deployments that outlive the process: one LB on several interfaces, pinned.

A full-NAT LB must see a flow's requests (on the clients' side) and its replies (on the
backends' side) with the same tables: one loaded program attached to every interface
involved, sharing its maps. (A chain member is one instance per interface: fine for a
one-armed LB or DSR, whose replies do not come back; see docs/vnfs/lb.md.)

:func:`up` loads the lb VNF with a config, attaches it (XDP) to the given interfaces of
a namespace and pins the links and maps under ``$ALVEOLE_BPFFS_ROOT/lb/NAME``; the
record (``$ALVEOLE_STATE_DIR/lb/NAME.json``: namespace, interfaces, the administrator's
config, the backends the health checker took out) says how to find it again.
:func:`open_deployment` gives a :class:`LbDeployment` whose :class:`LoadBalancer` works
on the pinned maps; :func:`down` removes the pins (the links detach) and the record.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..bpf import Map
from ..datapath.layout import bpffs_root
from ..errors import AlveoleError
from ..vnf import VnfInstance
from ..vnf.lb.config import LbConfig
from .controller import LoadBalancer

__all__ = ["LbDeployment", "LbDeploymentError", "down", "list_deployments", "open_deployment", "up"]


class LbDeploymentError(AlveoleError):
    """A load balancer deployment cannot be created, found or changed as asked."""


def _state_dir() -> Path:
    return Path(os.environ.get("ALVEOLE_STATE_DIR", "/var/lib/alveole")) / "lb"


def _pin_dir(name: str) -> Path:
    return bpffs_root() / "lb" / name


def _record_path(name: str) -> Path:
    return _state_dir() / f"{name}.json"


def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "-_" for c in name) or len(name) > 48:
        raise LbDeploymentError(f"invalid deployment name {name!r} (letters, digits, - and _)")


@dataclass
class LbDeployment:
    """A deployed load balancer: where it runs and its controller (on the pinned maps)."""

    name: str
    netns: str | None
    interfaces: list[str]
    lb: LoadBalancer
    mode: str = "native"
    maps: dict[str, Map] = field(default_factory=dict)

    def save(self) -> None:
        """Write the record: the config and the backends that are down, as the controller has them."""
        record = {
            "name": self.name,
            "netns": self.netns,
            "interfaces": self.interfaces,
            "mode": self.mode,
            "config": self.lb.config.model_dump(mode="json"),
            "down": sorted(self.lb.down),
        }
        path = _record_path(self.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2))
        os.replace(tmp, path)

    def close(self) -> None:
        for m in self.maps.values():
            m.close()
        self.maps.clear()

    def __enter__(self) -> LbDeployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def list_deployments() -> list[str]:
    d = _state_dir()
    return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []


def up(
    name: str, config: LbConfig, interfaces: list[str], netns: str | None = None, *, mode: str = "native"
) -> LbDeployment:
    """Load, attach to every interface, pin, record. Refuses a name already deployed."""
    _check_name(name)
    if not interfaces:
        raise LbDeploymentError("an LB needs at least one interface")
    if _record_path(name).exists():
        raise LbDeploymentError(f"an LB named {name!r} is already deployed (alveole lb down {name})")
    pins = _pin_dir(name)
    from ..system import netns as _netns

    with _netns.enter(netns):  # fib egress devmap entries name devices of this namespace
        inst = VnfInstance.load("lb", "xdp", config)
    try:
        for iface in interfaces:
            link = inst.program.attach_xdp(iface, mode=mode, netns=netns)
            link.pin(str(pins / "links" / iface))
            link.close()
        for map_name, m in inst.maps.items():
            m.pin(str(pins / "maps" / map_name))
        deployment = LbDeployment(name, netns, list(interfaces), LoadBalancer.of(inst, netns=netns), mode)
        deployment.save()
    except BaseException:
        inst.close()
        shutil.rmtree(pins, ignore_errors=True)
        raise
    # the pins hold the program (through the links) and the maps; reopen the maps by pin
    inst.close()
    return open_deployment(name)


def open_deployment(name: str) -> LbDeployment:
    """The deployment ``name``: its record and a controller on its pinned maps."""
    _check_name(name)
    path = _record_path(name)
    if not path.exists():
        known = ", ".join(list_deployments()) or "none"
        raise LbDeploymentError(f"no LB named {name!r} (deployed: {known})")
    record: dict[str, Any] = json.loads(path.read_text())
    maps_dir = _pin_dir(name) / "maps"
    if not maps_dir.is_dir():
        raise LbDeploymentError(
            f"LB {name!r} has a record but no pinned maps in {maps_dir} (alveole lb down {name})"
        )
    maps = {p.name: Map.from_pin(str(p)) for p in maps_dir.iterdir()}
    lb = LoadBalancer(maps, LbConfig.model_validate(record["config"]), netns=record.get("netns"))
    lb.down = set(record.get("down", []))
    return LbDeployment(
        name, record.get("netns"), list(record["interfaces"]), lb, record.get("mode", "native"), maps
    )


def down(name: str) -> None:
    """Detach (unpin the links), drop the maps (unpin), forget the record."""
    _check_name(name)
    if not _record_path(name).exists() and not _pin_dir(name).exists():
        raise LbDeploymentError(f"no LB named {name!r}")
    shutil.rmtree(_pin_dir(name), ignore_errors=True)
    _record_path(name).unlink(missing_ok=True)
