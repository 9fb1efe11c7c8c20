"""What MANO shows: VNF packages (with who uses them) and chains (what is wanted next to what runs)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ..datapath import ChainId
from .descriptors import Vnfd
from .driver import ChainView
from .reconcile import Want

__all__ = ["ChainReport", "VnfPackage"]


@dataclass(frozen=True)
class VnfPackage:
    """A VNFD as the package catalogue shows it: built in or onboarded, and who uses it."""

    vnfd: Vnfd
    builtin: bool
    onboarded: dt.datetime | None
    used_by: tuple[str, ...] = ()

    @property
    def usage_state(self) -> str:
        return "IN_USE" if self.used_by else "NOT_IN_USE"

    def info(self) -> dict[str, Any]:
        """SOL005-style VnfPkgInfo."""
        v = self.vnfd
        return {
            "id": v.vnfdId,
            "vnfdId": v.vnfdId,
            "vnfProvider": v.vnfProvider,
            "vnfProductName": v.vnfProductName,
            "vnfSoftwareVersion": v.vnfSoftwareVersion,
            "vnfdVersion": v.vnfdVersion,
            "onboardingState": "ONBOARDED",
            "operationalState": "ENABLED",
            "usageState": self.usage_state,
            "usedBy": list(self.used_by),
            "builtin": self.builtin,
            "program": v.program.catalog or v.program.source,
            "supportedHooks": list(v.supportedHooks),
            "onboardedAt": self.onboarded.isoformat() if self.onboarded else None,
        }


@dataclass(frozen=True)
class ChainReport:
    """A chain an NS instance wants, next to what the kernel has."""

    chain: ChainId
    forwarding_path: str
    want: Want
    view: ChainView | None
    in_sync: bool

    def as_dict(self) -> dict[str, Any]:
        members = []
        for i, (inst, spec) in enumerate(self.want.members):
            seen = self.view.members[i] if self.view and i < len(self.view.members) else None
            members.append(
                {
                    "vnfProfileId": inst,
                    "vnf": spec.vnf,
                    "version": spec.version,
                    "progId": seen.prog_id if seen else None,
                    "counters": {
                        v: {"packets": p, "bytes": b} for v, (p, b) in (seen.counters if seen else {}).items()
                    },
                }
            )
        return {
            "chain": str(self.chain),
            "interface": self.chain.interface,
            "hook": self.chain.hook,
            "netns": self.chain.netns,
            "forwardingPathId": self.forwarding_path,
            "end": self.view.end if self.view else None,
            "attached": bool(self.view and self.view.attached),
            "inSync": self.in_sync,
            "members": members,
        }
