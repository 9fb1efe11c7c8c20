"""Loaded BPF programs: identity, BPF_PROG_TEST_RUN, pinning, attaching."""

from __future__ import annotations

import contextlib
import ctypes
import errno as E
import os
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import BpfError, BpfStateError, MissingKernelFeatureError, MissingPrivilegeError
from ..system.mounts import ensure_bpffs
from ._libbpf import BpfTestRunOpts, lib
from .kinds import ProgInfoRaw, ProgType, TcAction, XdpAction, get_info

if TYPE_CHECKING:
    from .link import Link

__all__ = [
    "BPF_F_TEST_RUN_ON_CPU",
    "BPF_F_TEST_XDP_LIVE_FRAMES",
    "ProgInfo",
    "Program",
    "RunResult",
    "xdp_md",
]

BPF_F_TEST_RUN_ON_CPU = 1 << 0
BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1

_XDP_MD = struct.Struct("<6I")  # struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue, egress


def xdp_md(ingress_ifindex: int = 0, rx_queue_index: int = 0, data_len: int = 0) -> bytes:
    """A ``struct xdp_md`` context for :meth:`Program.run` (data offsets relative to 0)."""
    return _XDP_MD.pack(0, data_len, 0, ingress_ifindex, rx_queue_index, 0)


@dataclass(frozen=True)
class RunResult:
    """What BPF_PROG_TEST_RUN returned."""

    retval: int
    data: bytes
    duration_ns: int  # kernel-timed, average per repetition
    ctx: bytes | None
    prog_type: ProgType | int = ProgType.UNSPEC

    @property
    def verdict(self) -> XdpAction | TcAction | int:
        if self.prog_type == ProgType.XDP:
            try:
                return XdpAction(self.retval)
            except ValueError:
                return self.retval
        if self.prog_type in (ProgType.SCHED_CLS, ProgType.SCHED_ACT):
            signed = self.retval - (1 << 32) if self.retval >= 1 << 31 else self.retval
            try:
                return TcAction(signed)
            except ValueError:
                return signed
        return self.retval


@dataclass(frozen=True)
class ProgInfo:
    id: int
    name: str
    type: ProgType | int
    tag: str
    jited_len: int
    xlated_len: int
    verified_insns: int
    run_time_ns: int
    run_cnt: int
    map_ids: tuple[int, ...] = field(default=())
    btf_id: int = 0


class Program:
    """A loaded BPF program (from an object, a pin or an id)."""

    def __init__(
        self, name: str, fd: int, prog_type: int, *, owns_fd: bool = False, section: str = "", handle: int = 0
    ) -> None:
        self.name = name
        self._fd = fd
        self._owns_fd = owns_fd
        self.type = ProgType.of(prog_type)
        self.section = section
        self._handle = handle  # libbpf's struct bpf_program *, when from an object

    @classmethod
    def from_fd(cls, fd: int, *, owns_fd: bool = True) -> Program:
        info = get_info(fd, ProgInfoRaw)
        return cls(info.name.decode(), fd, info.type, owns_fd=owns_fd)

    @classmethod
    def from_pin(cls, path: str) -> Program:
        fd = lib.bpf_obj_get(path.encode())
        if fd < 0:
            if -fd == E.ENOENT:
                raise FileNotFoundError(f"no pinned program at {path}")
            raise BpfError(f"cannot open pinned program {path}", -fd)
        return cls.from_fd(fd)

    @classmethod
    def from_id(cls, prog_id: int) -> Program:
        fd = lib.bpf_prog_get_fd_by_id(prog_id)
        if fd < 0:
            raise BpfError(f"cannot open program id {prog_id}", -fd)
        return cls.from_fd(fd)

    @property
    def fd(self) -> int:
        if self._fd < 0:
            raise BpfStateError(f"program {self.name!r} is not loaded (or is closed)")
        return self._fd

    @property
    def loaded(self) -> bool:
        return self._fd >= 0

    def info(self) -> ProgInfo:
        raw = get_info(self.fd, ProgInfoRaw)
        map_ids: tuple[int, ...] = ()
        if raw.nr_map_ids:
            ids = (ctypes.c_uint32 * raw.nr_map_ids)()
            again = ProgInfoRaw(nr_map_ids=raw.nr_map_ids, map_ids=ctypes.addressof(ids))
            size = ctypes.c_uint32(ctypes.sizeof(again))
            if lib.bpf_obj_get_info_by_fd(self.fd, ctypes.byref(again), ctypes.byref(size)) == 0:
                map_ids = tuple(ids)
        return ProgInfo(
            id=raw.id,
            name=raw.name.decode(),
            type=ProgType.of(raw.type),
            tag=bytes(raw.tag).hex(),
            jited_len=raw.jited_prog_len,
            xlated_len=raw.xlated_prog_len,
            verified_insns=raw.verified_insns,
            run_time_ns=raw.run_time_ns,
            run_cnt=raw.run_cnt,
            map_ids=map_ids,
            btf_id=raw.btf_id,
        )

    @property
    def id(self) -> int:
        return get_info(self.fd, ProgInfoRaw).id

    @property
    def tag(self) -> str:
        return bytes(get_info(self.fd, ProgInfoRaw).tag).hex()

    def __repr__(self) -> str:
        t = self.type.name.lower() if isinstance(self.type, ProgType) else self.type
        state = f"fd={self._fd}" if self._fd >= 0 else "not loaded"
        return f"<Program {self.name} {t} {state}>"

    # --- test run ---------------------------------------------------------------------
    def run(
        self,
        data: bytes = b"",
        *,
        ctx: bytes | None = None,
        repeat: int = 1,
        flags: int = 0,
        cpu: int = 0,
        batch_size: int = 0,
        data_out_size: int | None = None,
    ) -> RunResult:
        """Run the program on ``data`` in the kernel (BPF_PROG_TEST_RUN).

        Returns the return value (see :attr:`RunResult.verdict`), the packet as
        the program left it, and the kernel-timed ns per repetition. With
        ``flags=BPF_F_TEST_XDP_LIVE_FRAMES`` an XDP program's XDP_TX and
        XDP_REDIRECT really transmit (no output data is returned then).
        """
        live = bool(flags & BPF_F_TEST_XDP_LIVE_FRAMES)
        data_in = ctypes.create_string_buffer(bytes(data), len(data)) if data else None
        out_size = 0 if live else (data_out_size if data_out_size is not None else len(data) + 4096)
        data_out = ctypes.create_string_buffer(out_size) if out_size else None
        ctx_in = ctypes.create_string_buffer(ctx, len(ctx)) if ctx else None
        ctx_out = ctypes.create_string_buffer(len(ctx)) if ctx and not live else None
        opts = BpfTestRunOpts(
            sz=ctypes.sizeof(BpfTestRunOpts),
            data_in=ctypes.cast(data_in, ctypes.c_void_p) if data_in else None,
            data_out=ctypes.cast(data_out, ctypes.c_void_p) if data_out else None,
            data_size_in=len(data),
            data_size_out=out_size,
            ctx_in=ctypes.cast(ctx_in, ctypes.c_void_p) if ctx_in else None,
            ctx_out=ctypes.cast(ctx_out, ctypes.c_void_p) if ctx_out else None,
            ctx_size_in=len(ctx) if ctx else 0,
            ctx_size_out=len(ctx) if ctx_out else 0,
            repeat=repeat,
            flags=flags,
            cpu=cpu,
            batch_size=batch_size,
        )
        ret = lib.bpf_prog_test_run_opts(self.fd, ctypes.byref(opts))
        if ret < 0:
            err = -ret
            if err == E.EPERM:
                raise MissingPrivilegeError("BPF_PROG_TEST_RUN", "CAP_SYS_ADMIN")
            if err in (524, E.EOPNOTSUPP):  # ENOTSUPP (kernel-internal) / EOPNOTSUPP
                raise MissingKernelFeatureError(f"test_run for {self.type!r} programs", errno=err)
            if live and err == E.EINVAL:
                raise BpfError(
                    f"live-frames test_run of {self.name!r} refused (needs an XDP program, no data_out, "
                    "kernel >= 5.18)",
                    err,
                )
            raise BpfError(f"test_run of program {self.name!r} failed", err)
        out = data_out.raw[: opts.data_size_out] if data_out is not None else b""
        ctx_res = ctx_out.raw[: opts.ctx_size_out] if ctx_out is not None else None
        return RunResult(opts.retval, out, opts.duration, ctx_res, self.type)

    # --- pinning ------------------------------------------------------------------------
    def pin(self, path: str) -> None:
        ensure_bpffs()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        ret = lib.bpf_obj_pin(self.fd, path.encode())
        if ret < 0:
            raise BpfError(f"cannot pin program {self.name!r} at {path}", -ret)

    # --- attaching (see link.py) -----------------------------------------------------------
    def attach_xdp(self, interface: str | int, *, mode: str = "native", netns: str | None = None) -> Link:
        from .link import attach_xdp

        return attach_xdp(self, interface, mode=mode, netns=netns)

    def attach_tc(
        self, interface: str | int, *, direction: str = "ingress", netns: str | None = None
    ) -> Link:
        from .link import attach_tc

        return attach_tc(self, interface, direction=direction, netns=netns)

    def attach_tracepoint(self, category: str, name: str) -> Link:
        from .link import attach_tracepoint

        return attach_tracepoint(self, category, name)

    def attach(self) -> Link:
        """Attach where the program's section says (``tp_btf/…``, ``fentry/…``, ``kprobe/…``)."""
        from .link import attach_auto

        return attach_auto(self)

    # --- lifetime -----------------------------------------------------------------------------
    def close(self) -> None:
        if self._owns_fd and self._fd >= 0:
            os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> Program:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
