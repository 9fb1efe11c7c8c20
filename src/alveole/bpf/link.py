"""BPF links: a program attached to a hook, as a closable, pinnable kernel object.

Hooks and how they are attached (libbpf 1.1.2 + kernel >= 6.6):

* XDP: ``BPF_LINK_CREATE`` with ``BPF_XDP`` (native, generic or kernel's choice).
* TC ingress/egress: **tcx** links (``BPF_LINK_CREATE`` with ``BPF_TCX_INGRESS`` /
  ``BPF_TCX_EGRESS``), through libbpf's generic ``bpf_link_create`` since 1.1.2
  has no tcx API. tcx links are pinnable, atomically replaceable with
  ``BPF_LINK_UPDATE`` and vanish with their owner, which classic clsact filters
  are not; we do not fall back to clsact.
* tracepoints: libbpf's ``bpf_program__attach_tracepoint`` (a perf-event link);
  other tracing sections (``tp_btf/``, ``fentry/``, ``kprobe/``…): libbpf's generic
  ``bpf_program__attach`` (:func:`attach_auto`).

Closing a link that is not pinned detaches it; a pinned link lives on in the
kernel after the process exits, until unpinned (or :meth:`Link.detach`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno as E
import os
from dataclasses import dataclass

from ..errors import AttachError, BpfError, MissingKernelFeatureError, MissingPrivilegeError
from ..system import netns as _netns
from ..system.mounts import ensure_bpffs, ensure_tracefs
from ._libbpf import BpfLinkCreateOpts, BpfLinkUpdateOpts, capture, lib
from .kinds import AttachType, LinkInfoRaw, LinkType, get_info
from .program import Program

__all__ = ["Link", "LinkInfo", "attach_auto", "attach_tc", "attach_tracepoint", "attach_xdp"]

XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2
BPF_F_REPLACE = 1 << 2
_XDP_MODES = {"auto": 0, "generic": XDP_FLAGS_SKB_MODE, "native": XDP_FLAGS_DRV_MODE}
_TC_DIRECTIONS = {"ingress": AttachType.TCX_INGRESS, "egress": AttachType.TCX_EGRESS}


@dataclass(frozen=True)
class LinkInfo:
    id: int
    type: LinkType | int
    prog_id: int
    ifindex: int = 0  # XDP and tcx links
    attach_type: int = 0  # tcx links


class Link:
    """An attached program. ``close()`` drops our reference (detaching unless pinned)."""

    def __init__(self, fd: int, description: str = "", *, owns_fd: bool = True, handle: int = 0) -> None:
        self._fd = fd
        self._owns_fd = owns_fd
        self._handle = handle  # libbpf struct bpf_link * (tracepoints), destroyed on close
        self.description = description
        self.pin_path: str | None = None

    @classmethod
    def from_pin(cls, path: str) -> Link:
        fd = lib.bpf_obj_get(path.encode())
        if fd < 0:
            if -fd == E.ENOENT:
                raise FileNotFoundError(f"no pinned link at {path}")
            raise BpfError(f"cannot open pinned link {path}", -fd)
        link = cls(fd, f"pinned {path}")
        link.pin_path = path
        return link

    @classmethod
    def from_id(cls, link_id: int) -> Link:
        fd = lib.bpf_link_get_fd_by_id(link_id)
        if fd < 0:
            raise BpfError(f"cannot open link id {link_id}", -fd)
        return cls(fd, f"link id {link_id}")

    @property
    def fd(self) -> int:
        if self._fd < 0:
            raise BpfError("link is closed")
        return self._fd

    def info(self) -> LinkInfo:
        raw = get_info(self.fd, LinkInfoRaw)
        ltype = LinkType.of(raw.type)
        ifindex = raw.u0 if ltype in (LinkType.XDP, LinkType.TCX) else 0
        attach = raw.u1 if ltype == LinkType.TCX else 0
        return LinkInfo(raw.id, ltype, raw.prog_id, ifindex, attach)

    @property
    def id(self) -> int:
        return self.info().id

    @property
    def prog_id(self) -> int:
        return self.info().prog_id

    def __repr__(self) -> str:
        return f"<Link {self.description} fd={self._fd}>"

    def update(self, program: Program, *, expected: Program | None = None) -> None:
        """Atomically replace the attached program (BPF_LINK_UPDATE).

        With ``expected``, the kernel replaces only if that program is the one
        attached (compare-and-swap), so concurrent updaters cannot clobber each other.
        """
        opts = BpfLinkUpdateOpts(sz=ctypes.sizeof(BpfLinkUpdateOpts))
        if expected is not None:
            opts.flags = BPF_F_REPLACE
            opts.old_prog_fd = expected.fd
        ret = lib.bpf_link_update(self.fd, program.fd, ctypes.byref(opts))
        if ret < 0:
            err = -ret
            if err == E.EPERM and expected is not None:
                raise AttachError(f"{self.description}: attached program is not the expected one", err)
            raise AttachError(f"cannot replace the program of {self.description} with {program.name!r}", err)

    def pin(self, path: str) -> None:
        ensure_bpffs()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        ret = lib.bpf_obj_pin(self.fd, path.encode())
        if ret < 0:
            raise BpfError(f"cannot pin {self.description} at {path}", -ret)
        self.pin_path = path

    def unpin(self) -> None:
        if self.pin_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.pin_path)
            self.pin_path = None

    def detach(self) -> None:
        """Detach in the kernel now, even if pinned elsewhere (the fd stays valid, defunct)."""
        ret = lib.bpf_link_detach(self.fd)
        if ret < 0 and -ret not in (E.ENOLINK,):
            raise AttachError(f"cannot detach {self.description}", -ret)

    def close(self) -> None:
        if self._handle:
            if self.pin_path:
                # libbpf's destroy would disable the perf event under the pinned link
                lib.bpf_link__disconnect(self._handle)
                os.close(self._fd)
            lib.bpf_link__destroy(self._handle)
            self._handle = 0
            self._fd = -1
        elif self._owns_fd and self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _link_create(program: Program, target: int, attach_type: int, flags: int = 0) -> int:
    opts = BpfLinkCreateOpts(sz=ctypes.sizeof(BpfLinkCreateOpts), flags=flags)
    return lib.bpf_link_create(program.fd, target, attach_type, ctypes.byref(opts))


def attach_xdp(
    program: Program, interface: str | int, *, mode: str = "native", netns: str | None = None
) -> Link:
    """Attach an XDP program to ``interface`` (in ``netns``) as a BPF link.

    ``mode``: ``native`` (driver), ``generic`` (skb) or ``auto`` (the kernel picks).
    """
    if mode not in _XDP_MODES:
        raise ValueError(f"XDP mode must be one of {', '.join(_XDP_MODES)}, not {mode!r}")
    with _netns.enter(netns):
        ifindex = _netns.ifindex(interface)
        fd = _link_create(program, ifindex, AttachType.XDP, _XDP_MODES[mode])
    where = f"{interface}" + (f"@{netns}" if netns else "")
    if fd < 0:
        err = -fd
        if err == E.EPERM:
            raise MissingPrivilegeError(f"attaching XDP to {where}", "CAP_NET_ADMIN")
        if err == E.EOPNOTSUPP:
            raise MissingKernelFeatureError(f"{mode} XDP on {where}", "try mode='generic'", err)
        if err in (E.EBUSY, E.EEXIST):
            raise AttachError(f"{where} already has an XDP program attached", err)
        raise AttachError(f"cannot attach XDP program {program.name!r} to {where} ({mode})", err)
    return Link(fd, f"xdp/{mode} {program.name} on {where}")


def attach_tc(
    program: Program, interface: str | int, *, direction: str = "ingress", netns: str | None = None
) -> Link:
    """Attach a SCHED_CLS program to ``interface``'s TC ingress or egress as a tcx link."""
    if direction not in _TC_DIRECTIONS:
        raise ValueError(f"TC direction must be ingress or egress, not {direction!r}")
    with _netns.enter(netns):
        ifindex = _netns.ifindex(interface)
        fd = _link_create(program, ifindex, _TC_DIRECTIONS[direction])
    where = f"{interface}" + (f"@{netns}" if netns else "")
    if fd < 0:
        err = -fd
        if err == E.EPERM:
            raise MissingPrivilegeError(f"attaching TC to {where}", "CAP_NET_ADMIN")
        if err == E.EINVAL:
            raise MissingKernelFeatureError("tcx links (kernel >= 6.6)", errno=err)
        raise AttachError(f"cannot attach TC program {program.name!r} to {where} {direction}", err)
    return Link(fd, f"tc/{direction} {program.name} on {where}")


def attach_tracepoint(program: Program, category: str, name: str) -> Link:
    """Attach a tracepoint program (needs a program from an object: libbpf does the perf-event work)."""
    if not program._handle:
        raise BpfError(f"program {program.name!r} has no libbpf handle: open it from its object to attach")
    ensure_tracefs()
    with capture() as messages:
        handle = lib.bpf_program__attach_tracepoint(program._handle, category.encode(), name.encode())
    if not handle:
        err = ctypes.get_errno()
        if err == E.ENOENT:
            raise AttachError(f"no tracepoint {category}/{name}", err, messages.text)
        if err == E.EPERM:
            raise MissingPrivilegeError(f"attaching tracepoint {category}/{name}", "CAP_PERFMON")
        raise AttachError(
            f"cannot attach {program.name!r} to tracepoint {category}/{name}", err, messages.text
        )
    return Link(lib.bpf_link__fd(handle), f"tracepoint/{category}/{name} {program.name}", handle=handle)


def attach_auto(program: Program) -> Link:
    """Attach as the program's section says (tp_btf/, fentry/, kprobe/, ...): libbpf's generic attach."""
    if not program._handle:
        raise BpfError(f"program {program.name!r} has no libbpf handle: open it from its object to attach")
    ensure_tracefs()
    with capture() as messages:
        handle = lib.bpf_program__attach(program._handle)
    if not handle:
        err = ctypes.get_errno()
        if err == E.EPERM:
            raise MissingPrivilegeError(f"attaching {program.name!r}", "CAP_BPF and CAP_PERFMON")
        raise AttachError(f"cannot attach {program.name!r} ({program.section})", err, messages.text)
    return Link(lib.bpf_link__fd(handle), f"{program.section} {program.name}", handle=handle)
