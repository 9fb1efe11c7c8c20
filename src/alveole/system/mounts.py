"""Idempotent mounts of the kernel filesystems BPF work needs (bpffs, tracefs)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

from ..errors import MissingKernelFeatureError, MissingPrivilegeError

__all__ = ["BPFFS", "TRACEFS", "ensure_bpffs", "ensure_tracefs", "fs_type"]

BPFFS = "/sys/fs/bpf"
TRACEFS = "/sys/kernel/tracing"

_BPF_FS_MAGIC = 0xCAFE4A11
_TRACEFS_MAGIC = 0x74726163

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class _Statfs(ctypes.Structure):
    _fields_ = [("f_type", ctypes.c_long), ("_rest", ctypes.c_byte * 112)]


def fs_type(path: str) -> int:
    """The filesystem magic of ``path`` (statfs f_type), 0 if it cannot be read."""
    buf = _Statfs()
    if _libc.statfs(path.encode(), ctypes.byref(buf)) != 0:
        return 0
    return buf.f_type & 0xFFFFFFFF


def _mount(source: str, target: str, fstype: str) -> None:
    os.makedirs(target, exist_ok=True)
    if _libc.mount(source.encode(), target.encode(), fstype.encode(), 0, None) != 0:
        err = ctypes.get_errno()
        if err == 1:  # EPERM
            raise MissingPrivilegeError(f"mounting {fstype} on {target}", "CAP_SYS_ADMIN", err)
        if err == 19:  # ENODEV
            raise MissingKernelFeatureError(f"{fstype} filesystem", errno=err)
        raise OSError(err, f"mount -t {fstype} {target}: {os.strerror(err)}")


def ensure_bpffs(path: str = BPFFS) -> str:
    """Mount bpffs at ``path`` unless one is already there; returns the path."""
    if fs_type(path) != _BPF_FS_MAGIC:
        _mount("bpf", path, "bpf")
    return path


def ensure_tracefs(path: str = TRACEFS) -> str:
    """Mount tracefs at ``path`` unless one is already there; returns the path."""
    if fs_type(path) != _TRACEFS_MAGIC:
        _mount("tracefs", path, "tracefs")
    return path
