"""The record of what a lab created, written before each creation step.

One JSON file per lab under ``/run/alveole/labs`` (``$ALVEOLE_RUN_DIR/labs``). A
resource is appended (and the file atomically rewritten) *before* the step that
creates it, so after a crash at any point the record lists everything that may
exist, and ``down`` removes what does (absent resources are skipped).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AlveoleError

__all__ = ["LabError", "LabRecord", "Resource", "labs_dir", "list_records"]


class LabError(AlveoleError):
    """A lab could not be read, created or removed."""


def labs_dir() -> Path:
    return Path(os.environ.get("ALVEOLE_RUN_DIR", "/run/alveole")) / "labs"


@dataclass(frozen=True)
class Resource:
    """Something a lab creates: a namespace, a veth pair, a bridge, a bpffs directory."""

    kind: str  # "netns" | "veth" | "bridge" | "pindir"
    netns: str = ""  # where it lives (veth: the first end's namespace)
    name: str = ""  # namespace name, interface name or path
    peer_netns: str = ""  # veth: the other end
    peer: str = ""

    @property
    def key(self) -> str:
        return "/".join((self.kind, self.netns, self.name, self.peer_netns, self.peer))


@dataclass
class LabRecord:
    name: str
    spec: dict[str, Any] = field(default_factory=dict)  # the topology as applied (JSON form)
    resources: list[Resource] = field(default_factory=list)
    state: str = "creating"  # "creating" | "up" | "removing"
    updated: float = 0.0

    @property
    def path(self) -> Path:
        return labs_dir() / f"{self.name}.json"

    @classmethod
    def load(cls, name: str) -> LabRecord | None:
        path = labs_dir() / f"{name}.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise LabError(f"cannot read the record of lab {name!r} ({path}): {e}") from e
        return cls(
            name=data["name"],
            spec=data.get("spec", {}),
            resources=[Resource(**r) for r in data.get("resources", [])],
            state=data.get("state", "creating"),
            updated=data.get("updated", 0.0),
        )

    def save(self) -> None:
        self.updated = time.time()
        data = {
            "name": self.name,
            "spec": self.spec,
            "resources": [asdict(r) for r in self.resources],
            "state": self.state,
            "updated": self.updated,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.name}-")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def remember(self, resource: Resource) -> None:
        """Record ``resource`` (persisted now) before it is created."""
        if all(r.key != resource.key for r in self.resources):
            self.resources.append(resource)
            self.save()

    def forget(self, resource: Resource) -> None:
        self.resources = [r for r in self.resources if r.key != resource.key]
        self.save()

    def delete(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def list_records() -> list[LabRecord]:
    d = labs_dir()
    if not d.is_dir():
        return []
    out = []
    for p in sorted(d.glob("*.json")):
        rec = LabRecord.load(p.stem)
        if rec is not None:
            out.append(rec)
    return out
