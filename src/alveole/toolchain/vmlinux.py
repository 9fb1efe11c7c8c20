"""``vmlinux.h`` for CO-RE programs, generated from the running kernel's BTF with bpftool."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from ..errors import MissingKernelFeatureError
from .compile import cache_dir

__all__ = ["VMLINUX_BTF", "vmlinux_include_dir"]

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"


def vmlinux_include_dir() -> Path:
    """A directory holding ``vmlinux.h`` for this kernel (generated once per kernel BTF)."""
    if not os.path.exists(VMLINUX_BTF):
        raise MissingKernelFeatureError(
            "kernel BTF", "needs CONFIG_DEBUG_INFO_BTF=y (/sys/kernel/btf/vmlinux)"
        )
    digest = hashlib.sha256(Path(VMLINUX_BTF).read_bytes()).hexdigest()[:24]
    target = cache_dir() / "vmlinux" / digest
    header = target / "vmlinux.h"
    if header.exists():
        return target
    bpftool = shutil.which("bpftool")
    if not bpftool:
        raise MissingKernelFeatureError("bpftool (generates vmlinux.h)", "apt install bpftool")
    target.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [bpftool, "btf", "dump", "file", VMLINUX_BTF, "format", "c"], capture_output=True, check=True
    ).stdout
    tmp = header.with_suffix(".tmp")
    tmp.write_bytes(out)
    os.replace(tmp, header)
    return target
