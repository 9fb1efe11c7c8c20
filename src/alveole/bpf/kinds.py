"""Kernel ABI enumerations (UAPI ``linux/bpf.h`` numbers, stable by contract) and info records."""

from __future__ import annotations

import ctypes
import enum
from ctypes import Structure, c_char, c_uint8, c_uint32, c_uint64

from ._libbpf import lib

__all__ = [
    "AttachType",
    "LinkType",
    "MapType",
    "ProgType",
    "TcAction",
    "XdpAction",
    "attach_type_name",
]


class MapType(enum.IntEnum):
    UNSPEC = 0
    HASH = 1
    ARRAY = 2
    PROG_ARRAY = 3
    PERF_EVENT_ARRAY = 4
    PERCPU_HASH = 5
    PERCPU_ARRAY = 6
    STACK_TRACE = 7
    CGROUP_ARRAY = 8
    LRU_HASH = 9
    LRU_PERCPU_HASH = 10
    LPM_TRIE = 11
    ARRAY_OF_MAPS = 12
    HASH_OF_MAPS = 13
    DEVMAP = 14
    SOCKMAP = 15
    CPUMAP = 16
    XSKMAP = 17
    SOCKHASH = 18
    CGROUP_STORAGE = 19
    REUSEPORT_SOCKARRAY = 20
    PERCPU_CGROUP_STORAGE = 21
    QUEUE = 22
    STACK = 23
    SK_STORAGE = 24
    DEVMAP_HASH = 25
    STRUCT_OPS = 26
    RINGBUF = 27
    INODE_STORAGE = 28
    TASK_STORAGE = 29
    BLOOM_FILTER = 30
    USER_RINGBUF = 31
    CGRP_STORAGE = 32
    ARENA = 33

    @classmethod
    def of(cls, value: int) -> MapType | int:
        try:
            return cls(value)
        except ValueError:
            return value

    @property
    def is_percpu(self) -> bool:
        return self in (
            MapType.PERCPU_HASH,
            MapType.PERCPU_ARRAY,
            MapType.LRU_PERCPU_HASH,
            MapType.PERCPU_CGROUP_STORAGE,
        )

    @property
    def is_array(self) -> bool:
        return self in (
            MapType.ARRAY,
            MapType.PERCPU_ARRAY,
            MapType.PROG_ARRAY,
            MapType.DEVMAP,
            MapType.CPUMAP,
            MapType.XSKMAP,
            MapType.ARRAY_OF_MAPS,
            MapType.CGROUP_ARRAY,
            MapType.PERF_EVENT_ARRAY,
        )


class ProgType(enum.IntEnum):
    UNSPEC = 0
    SOCKET_FILTER = 1
    KPROBE = 2
    SCHED_CLS = 3
    SCHED_ACT = 4
    TRACEPOINT = 5
    XDP = 6
    PERF_EVENT = 7
    CGROUP_SKB = 8
    CGROUP_SOCK = 9
    LWT_IN = 10
    LWT_OUT = 11
    LWT_XMIT = 12
    SOCK_OPS = 13
    SK_SKB = 14
    CGROUP_DEVICE = 15
    SK_MSG = 16
    RAW_TRACEPOINT = 17
    CGROUP_SOCK_ADDR = 18
    LWT_SEG6LOCAL = 19
    LIRC_MODE2 = 20
    SK_REUSEPORT = 21
    FLOW_DISSECTOR = 22
    CGROUP_SYSCTL = 23
    RAW_TRACEPOINT_WRITABLE = 24
    CGROUP_SOCKOPT = 25
    TRACING = 26
    STRUCT_OPS = 27
    EXT = 28
    LSM = 29
    SK_LOOKUP = 30
    SYSCALL = 31
    NETFILTER = 32

    @classmethod
    def of(cls, value: int) -> ProgType | int:
        try:
            return cls(value)
        except ValueError:
            return value


class AttachType(enum.IntEnum):
    """The attach types alveole uses (numbers from UAPI ``enum bpf_attach_type``)."""

    XDP = 37
    PERF_EVENT = 41
    TCX_INGRESS = 46
    TCX_EGRESS = 47


class LinkType(enum.IntEnum):
    UNSPEC = 0
    RAW_TRACEPOINT = 1
    TRACING = 2
    CGROUP = 3
    ITER = 4
    NETNS = 5
    XDP = 6
    PERF_EVENT = 7
    KPROBE_MULTI = 8
    STRUCT_OPS = 9
    NETFILTER = 10
    TCX = 11
    UPROBE_MULTI = 12
    NETKIT = 13

    @classmethod
    def of(cls, value: int) -> LinkType | int:
        try:
            return cls(value)
        except ValueError:
            return value


class XdpAction(enum.IntEnum):
    ABORTED = 0
    DROP = 1
    PASS = 2
    TX = 3
    REDIRECT = 4


class TcAction(enum.IntEnum):
    UNSPEC = -1
    OK = 0
    RECLASSIFY = 1
    SHOT = 2
    PIPE = 3
    STOLEN = 4
    QUEUED = 5
    REPEAT = 6
    REDIRECT = 7


def attach_type_name(value: int) -> str:
    raw = lib.libbpf_bpf_attach_type_str(value)
    return raw.decode() if raw else str(value)


# Info records returned by BPF_OBJ_GET_INFO_BY_FD: prefixes of the UAPI structs. The
# kernel accepts a shorter info_len and fills what fits; the layout is append-only ABI.


class ProgInfoRaw(Structure):
    _fields_ = [
        ("type", c_uint32),
        ("id", c_uint32),
        ("tag", c_uint8 * 8),
        ("jited_prog_len", c_uint32),
        ("xlated_prog_len", c_uint32),
        ("jited_prog_insns", c_uint64),
        ("xlated_prog_insns", c_uint64),
        ("load_time", c_uint64),
        ("created_by_uid", c_uint32),
        ("nr_map_ids", c_uint32),
        ("map_ids", c_uint64),
        ("name", c_char * 16),
        ("ifindex", c_uint32),
        ("gpl_compatible", c_uint32),
        ("netns_dev", c_uint64),
        ("netns_ino", c_uint64),
        ("nr_jited_ksyms", c_uint32),
        ("nr_jited_func_lens", c_uint32),
        ("jited_ksyms", c_uint64),
        ("jited_func_lens", c_uint64),
        ("btf_id", c_uint32),
        ("func_info_rec_size", c_uint32),
        ("func_info", c_uint64),
        ("nr_func_info", c_uint32),
        ("nr_line_info", c_uint32),
        ("line_info", c_uint64),
        ("jited_line_info", c_uint64),
        ("nr_jited_line_info", c_uint32),
        ("line_info_rec_size", c_uint32),
        ("jited_line_info_rec_size", c_uint32),
        ("nr_prog_tags", c_uint32),
        ("prog_tags", c_uint64),
        ("run_time_ns", c_uint64),
        ("run_cnt", c_uint64),
        ("recursion_misses", c_uint64),
        ("verified_insns", c_uint32),
    ]


class MapInfoRaw(Structure):
    _fields_ = [
        ("type", c_uint32),
        ("id", c_uint32),
        ("key_size", c_uint32),
        ("value_size", c_uint32),
        ("max_entries", c_uint32),
        ("map_flags", c_uint32),
        ("name", c_char * 16),
        ("ifindex", c_uint32),
        ("btf_vmlinux_value_type_id", c_uint32),
        ("netns_dev", c_uint64),
        ("netns_ino", c_uint64),
        ("btf_id", c_uint32),
        ("btf_key_type_id", c_uint32),
        ("btf_value_type_id", c_uint32),
    ]


class LinkInfoRaw(Structure):
    # type, id, prog_id, then a union whose first two u32 are, for XDP links
    # (ifindex) and for TCX links (ifindex, attach_type).
    _fields_ = [
        ("type", c_uint32),
        ("id", c_uint32),
        ("prog_id", c_uint32),
        ("_pad", c_uint32),
        ("u0", c_uint32),
        ("u1", c_uint32),
        ("u_rest", c_uint64 * 6),
    ]


def get_info(fd: int, record: type[Structure]) -> Structure:
    """BPF_OBJ_GET_INFO_BY_FD into ``record``; raises BpfError on failure."""
    from ..errors import BpfError

    info = record()
    size = c_uint32(ctypes.sizeof(info))
    ret = lib.bpf_obj_get_info_by_fd(fd, ctypes.byref(info), ctypes.byref(size))
    if ret < 0:
        raise BpfError(f"cannot read info of fd {fd}", -ret)
    return info
