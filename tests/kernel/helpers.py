"""Helpers for kernel-tier tests."""

from __future__ import annotations

import os
from pathlib import Path

from alveole.bpf import BpfObject
from alveole.toolchain import compile_bpf

PROGS = Path(__file__).resolve().parent / "progs"


def open_test_prog(name: str) -> BpfObject:
    return BpfObject.open(compile_bpf(PROGS / f"{name}.bpf.c").path, name=name)


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def bpf_fd_kinds() -> list[str]:
    """What the process's BPF fds are (anon_inode:bpf-prog, bpf-map, bpf_link)."""
    kinds = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if "bpf" in target:
            kinds.append(target)
    return sorted(kinds)
