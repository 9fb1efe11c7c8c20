"""Array maps through mmap, and waiting for the BPF programs in flight (an RCU grace period).

A ``BPF_F_MMAPABLE`` array map's values can be mapped into this process: a slot is then
read and written by plain memory accesses, without a syscall each, and an aligned 8-byte
store is one store (what a running program reads is the old or the new value, never a
mix). The kernel's own update syscall copies a value with ``memcpy``, which on CPUs with
fast short ``rep movsb`` (FSRM, this machine) gives no such guarantee.

:func:`grace_period` returns once every BPF program run that started before the call
has finished: XDP and TC programs run inside RCU read-side sections, and
``membarrier(MEMBARRIER_CMD_GLOBAL)`` is ``synchronize_rcu()`` (the kernel waits the same
way after a map-in-map update, ``maybe_wait_bpf_programs``).
"""

from __future__ import annotations

import ctypes
import mmap
import platform
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...bpf import Map

__all__ = ["BPF_F_MMAPABLE", "ArrayView", "grace_period"]

BPF_F_MMAPABLE = 1 << 10
_MEMBARRIER_CMD_GLOBAL = 1
# __NR_membarrier; the asm-generic number serves arm64 and riscv64
_NR_MEMBARRIER = {"x86_64": 324, "aarch64": 283, "riscv64": 283, "ppc64le": 365, "s390x": 356}
_FALLBACK_WAIT_S = 0.05  # far longer than a packet's walk, if the kernel cannot tell us


class ArrayView:
    """The slots of a ``BPF_F_MMAPABLE`` array map, mapped read-write.

    ``words[i]`` is slot ``i`` of a map with 8-byte values (an aligned 8-byte load or
    store); :meth:`read` / :meth:`write` give any slot's value bytes.
    """

    def __init__(self, m: Map) -> None:
        if not m.flags & BPF_F_MMAPABLE:
            raise ValueError(f"map {m.name!r} is not BPF_F_MMAPABLE")
        self.name = m.name
        self.max_entries = m.max_entries
        self.value_size = m.value_size
        self.stride = (m.value_size + 7) & ~7  # the kernel's element size
        page = mmap.PAGESIZE
        size = (m.max_entries * self.stride + page - 1) // page * page
        self._mm = mmap.mmap(m.fd, size)
        self.raw = memoryview(self._mm)
        self.words = self.raw.cast("Q") if self.stride == 8 else None

    def read(self, i: int) -> bytes:
        off = i * self.stride
        return bytes(self.raw[off : off + self.value_size])

    def write(self, i: int, value: bytes) -> None:
        """Copy ``value`` into slot ``i`` (for slots no program can reach yet: not one store)."""
        off = i * self.stride
        self.raw[off : off + self.value_size] = value

    def zero(self, start: int, stop: int) -> bool:
        """Whether slots ``start`` .. ``stop - 1`` are all zero."""
        a, b = start * self.stride, stop * self.stride
        return self.raw[a:b] == bytes(b - a)

    def close(self) -> None:
        if self.words is not None:
            self.words.release()
        self.raw.release()
        self._mm.close()

    def __enter__(self) -> ArrayView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def grace_period() -> None:
    """Return once every BPF program run in progress at the call has finished."""
    nr = _NR_MEMBARRIER.get(platform.machine())
    if nr is not None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syscall(nr, _MEMBARRIER_CMD_GLOBAL, 0, 0) == 0:
            return
    # no membarrier, or a nohz_full kernel (EINVAL): programs run with preemption off for
    # microseconds; waiting far longer is the best user space can do then
    time.sleep(_FALLBACK_WAIT_S)
