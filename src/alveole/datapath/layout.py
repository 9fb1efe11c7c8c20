"""Where a chain lives: its pins in bpffs and its record on disk.

```
/sys/fs/bpf/alveole/chains/<chain>/          <chain> = <netns or "host">__<interface>__<hook>
    link          the dispatcher's XDP or tcx link (keeps the chain attached without us)
    dispatcher    the dispatcher program
    progs         the program array (two generations of slots)
    conf          active generation and end verdict
    members/<instance>/prog          the member's program in the active generation
    members/<instance>/maps/<name>   the member's state maps (alv_stats included)
/var/lib/alveole/datapath/<chain>.json     the chain's intent: members, specs, configs
```

Both roots can be moved (``ALVEOLE_BPFFS_ROOT``, ``ALVEOLE_STATE_DIR``), which tests do.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HOOKS", "ChainId", "ChainPaths", "bpffs_root", "state_root"]

HOOKS = ("xdp", "tc-ingress", "tc-egress")
_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")  # bpffs refuses dots in names


def bpffs_root() -> Path:
    return Path(os.environ.get("ALVEOLE_BPFFS_ROOT", "/sys/fs/bpf/alveole"))


def state_root() -> Path:
    return Path(os.environ.get("ALVEOLE_STATE_DIR", "/var/lib/alveole")) / "datapath"


@dataclass(frozen=True, order=True)
class ChainId:
    """A chain is identified by the hook it sits on: (netns, interface, hook)."""

    interface: str
    hook: str = "xdp"
    netns: str | None = None

    def __post_init__(self) -> None:
        if self.hook not in HOOKS:
            raise ValueError(f"hook must be one of {', '.join(HOOKS)}, not {self.hook!r}")
        for part in (self.interface, self.netns or "host"):
            if not _SAFE.match(part):
                raise ValueError(f"invalid interface or namespace name {part!r}")

    @property
    def key(self) -> str:
        return f"{self.netns or 'host'}__{self.interface}__{self.hook}"

    @classmethod
    def from_key(cls, key: str) -> ChainId:
        netns, interface, hook = key.split("__")
        return cls(interface, hook, None if netns == "host" else netns)

    @property
    def is_xdp(self) -> bool:
        return self.hook == "xdp"

    def __str__(self) -> str:
        return f"{self.interface}{'@' + self.netns if self.netns else ''}/{self.hook}"


class ChainPaths:
    def __init__(self, cid: ChainId, bpffs: Path | None = None, state: Path | None = None) -> None:
        self.cid = cid
        self.root = bpffs or bpffs_root()
        self.dir = self.root / "chains" / cid.key
        self.record = (state or state_root()) / f"{cid.key}.json"

    def group_dir(self, group: str) -> Path:
        if not _SAFE.match(group):
            raise ValueError(f"invalid group name {group!r} (letters, digits, _ and -)")
        return self.root / "groups" / group

    def group_map(self, group: str, name: str) -> str:
        return str(self.group_dir(group) / name)

    def groups_in_use(self) -> set[str]:
        """Groups named by any chain record of this host."""
        used: set[str] = set()
        for record in self.record.parent.glob("*.json"):
            try:
                members = json.loads(record.read_text()).get("members", [])
            except (OSError, ValueError):
                continue
            used |= {m["group"] for m in members if m.get("group")}
        return used

    def prune_groups(self) -> None:
        """Unpin the shared maps of groups no chain uses any more."""
        groups = self.root / "groups"
        if groups.is_dir():
            in_use = self.groups_in_use()
            for d in groups.iterdir():
                if d.name not in in_use:
                    shutil.rmtree(d, ignore_errors=True)

    @property
    def link(self) -> str:
        return str(self.dir / "link")

    @property
    def dispatcher(self) -> str:
        return str(self.dir / "dispatcher")

    @property
    def progs(self) -> str:
        return str(self.dir / "progs")

    @property
    def conf(self) -> str:
        return str(self.dir / "conf")

    def member_dir(self, instance: str) -> Path:
        if not _SAFE.match(instance):
            raise ValueError(f"invalid instance name {instance!r} (letters, digits, _ and -)")
        return self.dir / "members" / instance

    def member_prog(self, instance: str) -> str:
        return str(self.member_dir(instance) / "prog")

    def member_map(self, instance: str, name: str) -> str:
        return str(self.member_dir(instance) / "maps" / name)

    def pinned_members(self) -> list[str]:
        d = self.dir / "members"
        return sorted(p.name for p in d.iterdir()) if d.is_dir() else []

    def remove_member(self, instance: str) -> None:
        shutil.rmtree(self.member_dir(instance), ignore_errors=True)

    def remove_all(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            self.record.unlink()


def replace_pin(pin: object, path: str) -> None:
    """Pin ``pin`` (a Map, Program or Link) at ``path``, atomically replacing an older pin."""
    tmp = f"{path}_new"
    if os.path.exists(tmp):
        os.unlink(tmp)
    pin.pin(tmp)  # type: ignore[attr-defined]
    os.replace(tmp, path)  # bpffs supports rename: readers see the old or the new object
