"""Helpers for tests and demos of MANO: an isolated host state, and what is attached where.

* :func:`isolated` points the datapath and MANO at private bpffs/state folders
  (``ALVEOLE_BPFFS_ROOT``, ``ALVEOLE_STATE_DIR``) and takes apart whatever chains
  are left there afterwards;
* :func:`attached_programs` asks the kernel (not alveole's records) which programs
  sit on an interface's XDP and tcx hooks: the check that nothing is orphaned.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Isolated", "attached_programs", "isolated", "pinned"]


@dataclass(frozen=True)
class Isolated:
    bpffs: Path
    state: Path

    @property
    def db(self) -> Path:
        return self.state / "mano" / "mano.db"

    def env(self) -> dict[str, str]:
        return {"ALVEOLE_BPFFS_ROOT": str(self.bpffs), "ALVEOLE_STATE_DIR": str(self.state)}


def pinned(root: Path) -> list[str]:
    """Every file under a bpffs folder (pins), relative to it."""
    return (
        sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()) if root.exists() else []
    )


@contextlib.contextmanager
def isolated(state: Path, prefix: str = "alvmano") -> Iterator[Isolated]:
    """Private bpffs and state folders for the block (environment variables set, then restored)."""
    from ..datapath import ChainId, ChainPaths
    from .driver import KernelDriver

    iso = Isolated(Path(f"/sys/fs/bpf/{prefix}-{os.getpid()}-{secrets.token_hex(3)}"), state)
    saved = {k: os.environ.get(k) for k in (*iso.env(), "ALVEOLE_MANO_DB")}
    os.environ.update(iso.env())
    os.environ.pop("ALVEOLE_MANO_DB", None)
    try:
        yield iso
    finally:
        chains = iso.bpffs / "chains"
        if chains.is_dir():
            for d in chains.iterdir():
                with contextlib.suppress(Exception):
                    KernelDriver._remove_leftovers(
                        ChainPaths(ChainId.from_key(d.name), iso.bpffs, state / "datapath")
                    )
        shutil.rmtree(iso.bpffs, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_TCX = {"tc-ingress": 46, "tc-egress": 47}  # BPF_TCX_INGRESS, BPF_TCX_EGRESS


def attached_programs(interface: str, netns: str | None = None) -> dict[str, list[int]]:
    """Program ids on ``interface``'s hooks, from the kernel: {"xdp": [...], "tc-ingress": [...], ...}."""
    from pyroute2 import IPRoute

    from ..bpf._libbpf import lib
    from ..system import netns as _netns

    out: dict[str, list[int]] = {}
    with _netns.enter(netns), IPRoute() as ipr:
        link = ipr.get_links(ifname=interface)[0]
        xdp = link.get_attr("IFLA_XDP")
        prog = xdp.get_attr("IFLA_XDP_PROG_ID") if xdp is not None else None
        out["xdp"] = [prog] if prog else []
        ifindex = link["index"]
        for hook, attach_type in _TCX.items():
            ids = (ctypes.c_uint32 * 64)()
            count = ctypes.c_uint32(64)
            flags = ctypes.c_uint32(0)
            rc = lib.bpf_prog_query(ifindex, attach_type, 0, ctypes.byref(flags), ids, ctypes.byref(count))
            if rc < 0:
                raise OSError(-rc, f"BPF_PROG_QUERY {hook} on {interface}")
            out[hook] = list(ids[: count.value])
    return out
