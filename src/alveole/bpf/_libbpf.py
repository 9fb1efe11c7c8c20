"""ctypes bindings to the system libbpf (libbpf1) and capture of its messages.

Only this module touches ctypes declarations of libbpf. libbpf 1.x is in
"strict" mode: int-returning calls return ``-errno``; pointer-returning calls
return NULL and set ``errno``.

libbpf reports through a print callback that receives a C ``va_list``; we hand
the format and that ``va_list`` to libc's ``vsnprintf`` so that nothing is lost
and nothing reaches stderr. Messages are collected by :func:`capture` (per
thread) and otherwise sent to the ``alveole.libbpf`` logger at DEBUG level.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char_p,
    c_int,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)

__all__ = ["LibbpfMessages", "capture", "lib", "libc"]

log = logging.getLogger("alveole.libbpf")

lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
libc.vsnprintf.argtypes = [c_char_p, c_size_t, c_char_p, c_void_p]
libc.vsnprintf.restype = c_int


# --- declarations ------------------------------------------------------------


def _decl(name: str, restype: object, *argtypes: object) -> None:
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)


class BpfObjectOpenOpts(Structure):
    _fields_ = [
        ("sz", c_size_t),
        ("object_name", c_char_p),
        ("relaxed_maps", c_bool),
        ("pin_root_path", c_char_p),
        ("_attach_prog_fd", c_uint32),
        ("kconfig", c_char_p),
        ("btf_custom_path", c_char_p),
        ("kernel_log_buf", c_char_p),
        ("kernel_log_size", c_size_t),
        ("kernel_log_level", c_uint32),
    ]


class BpfTestRunOpts(Structure):
    _fields_ = [
        ("sz", c_size_t),
        ("data_in", c_void_p),
        ("data_out", c_void_p),
        ("data_size_in", c_uint32),
        ("data_size_out", c_uint32),
        ("ctx_in", c_void_p),
        ("ctx_out", c_void_p),
        ("ctx_size_in", c_uint32),
        ("ctx_size_out", c_uint32),
        ("retval", c_uint32),
        ("repeat", c_int),
        ("duration", c_uint32),
        ("flags", c_uint32),
        ("cpu", c_uint32),
        ("batch_size", c_uint32),
    ]


class BpfMapBatchOpts(Structure):
    _fields_ = [("sz", c_size_t), ("elem_flags", c_uint64), ("flags", c_uint64)]


class BpfLinkCreateOpts(Structure):
    # Only the head of the struct: libbpf reads fields up to ``sz``.
    _fields_ = [("sz", c_size_t), ("flags", c_uint32)]


class BpfLinkUpdateOpts(Structure):
    _fields_ = [("sz", c_size_t), ("flags", c_uint32), ("old_prog_fd", c_uint32)]


PRINT_FN = CFUNCTYPE(c_int, c_int, c_char_p, c_void_p)
RINGBUF_SAMPLE_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)

# object
_decl("bpf_object__open_file", c_void_p, c_char_p, POINTER(BpfObjectOpenOpts))
_decl("bpf_object__open_mem", c_void_p, c_void_p, c_size_t, POINTER(BpfObjectOpenOpts))
_decl("bpf_object__load", c_int, c_void_p)
_decl("bpf_object__close", None, c_void_p)
_decl("bpf_object__name", c_char_p, c_void_p)
_decl("bpf_object__btf", c_void_p, c_void_p)
_decl("bpf_object__next_program", c_void_p, c_void_p, c_void_p)
_decl("bpf_object__next_map", c_void_p, c_void_p, c_void_p)
# program
_decl("bpf_program__name", c_char_p, c_void_p)
_decl("bpf_program__section_name", c_char_p, c_void_p)
_decl("bpf_program__fd", c_int, c_void_p)
_decl("bpf_program__type", c_int, c_void_p)
_decl("bpf_program__set_type", c_int, c_void_p, c_int)
_decl("bpf_program__set_autoload", c_int, c_void_p, c_bool)
_decl("bpf_program__autoload", c_bool, c_void_p)
_decl("bpf_program__attach_tracepoint", c_void_p, c_void_p, c_char_p, c_char_p)
_decl("bpf_program__attach", c_void_p, c_void_p)
# map
_decl("bpf_map__name", c_char_p, c_void_p)
_decl("bpf_map__fd", c_int, c_void_p)
_decl("bpf_map__type", c_int, c_void_p)
_decl("bpf_map__key_size", c_uint32, c_void_p)
_decl("bpf_map__value_size", c_uint32, c_void_p)
_decl("bpf_map__max_entries", c_uint32, c_void_p)
_decl("bpf_map__set_max_entries", c_int, c_void_p, c_uint32)
_decl("bpf_map__map_flags", c_uint32, c_void_p)
_decl("bpf_map__btf_key_type_id", c_uint32, c_void_p)
_decl("bpf_map__btf_value_type_id", c_uint32, c_void_p)
_decl("bpf_map__reuse_fd", c_int, c_void_p, c_int)
_decl("bpf_map__is_internal", c_bool, c_void_p)
_decl("bpf_map__initial_value", c_void_p, c_void_p, POINTER(c_size_t))
_decl("bpf_map__set_pin_path", c_int, c_void_p, c_char_p)
_decl("bpf_map__set_autocreate", c_int, c_void_p, c_bool)
# link (libbpf-managed)
_decl("bpf_link__fd", c_int, c_void_p)
_decl("bpf_link__destroy", c_int, c_void_p)
_decl("bpf_link__disconnect", None, c_void_p)
# btf
_decl("btf__load_vmlinux_btf", c_void_p)
_decl("btf__load_from_kernel_by_id", c_void_p, c_uint32)
_decl("btf__free", None, c_void_p)
_decl("btf__type_cnt", c_uint32, c_void_p)
_decl("btf__type_by_id", c_void_p, c_void_p, c_uint32)
_decl("btf__name_by_offset", c_char_p, c_void_p, c_uint32)
_decl("btf__find_by_name_kind", c_int, c_void_p, c_char_p, c_uint32)
# low-level bpf(2) wrappers
_decl("bpf_map_lookup_elem", c_int, c_int, c_void_p, c_void_p)
_decl("bpf_map_lookup_elem_flags", c_int, c_int, c_void_p, c_void_p, c_uint64)
_decl("bpf_map_update_elem", c_int, c_int, c_void_p, c_void_p, c_uint64)
_decl("bpf_map_delete_elem", c_int, c_int, c_void_p)
_decl("bpf_map_get_next_key", c_int, c_int, c_void_p, c_void_p)
_decl(
    "bpf_map_lookup_batch",
    c_int,
    c_int,
    c_void_p,
    c_void_p,
    c_void_p,
    c_void_p,
    POINTER(c_uint32),
    POINTER(BpfMapBatchOpts),
)
_decl(
    "bpf_map_update_batch",
    c_int,
    c_int,
    c_void_p,
    c_void_p,
    POINTER(c_uint32),
    POINTER(BpfMapBatchOpts),
)
_decl("bpf_map_delete_batch", c_int, c_int, c_void_p, POINTER(c_uint32), POINTER(BpfMapBatchOpts))
_decl("bpf_map_freeze", c_int, c_int)
_decl("bpf_obj_pin", c_int, c_int, c_char_p)
_decl("bpf_obj_get", c_int, c_char_p)
_decl("bpf_obj_get_info_by_fd", c_int, c_int, c_void_p, POINTER(c_uint32))
_decl("bpf_prog_get_fd_by_id", c_int, c_uint32)
_decl("bpf_map_get_fd_by_id", c_int, c_uint32)
_decl("bpf_link_get_fd_by_id", c_int, c_uint32)
_decl("bpf_prog_get_next_id", c_int, c_uint32, POINTER(c_uint32))
_decl("bpf_map_get_next_id", c_int, c_uint32, POINTER(c_uint32))
_decl("bpf_link_get_next_id", c_int, c_uint32, POINTER(c_uint32))
_decl("bpf_prog_test_run_opts", c_int, c_int, POINTER(BpfTestRunOpts))
_decl("bpf_link_create", c_int, c_int, c_int, c_int, POINTER(BpfLinkCreateOpts))
_decl("bpf_link_update", c_int, c_int, c_int, POINTER(BpfLinkUpdateOpts))
_decl("bpf_link_detach", c_int, c_int)
_decl("bpf_enable_stats", c_int, c_int)
# ring buffer
_decl("ring_buffer__new", c_void_p, c_int, RINGBUF_SAMPLE_FN, c_void_p, c_void_p)
_decl("ring_buffer__poll", c_int, c_void_p, c_int)
_decl("ring_buffer__consume", c_int, c_void_p)
_decl("ring_buffer__free", None, c_void_p)
_decl("ring_buffer__epoll_fd", c_int, c_void_p)
# misc
_decl("libbpf_num_possible_cpus", c_int)
_decl("libbpf_major_version", c_uint32)
_decl("libbpf_minor_version", c_uint32)
_decl("libbpf_bpf_prog_type_str", c_char_p, c_int)
_decl("libbpf_bpf_map_type_str", c_char_p, c_int)
_decl("libbpf_bpf_link_type_str", c_char_p, c_int)
_decl("libbpf_bpf_attach_type_str", c_char_p, c_int)
_decl("libbpf_probe_bpf_prog_type", c_int, c_int, c_void_p)
_decl("libbpf_set_print", PRINT_FN, PRINT_FN)

# --- message capture ---------------------------------------------------------

_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}


class LibbpfMessages:
    """Messages libbpf printed while a :func:`capture` block ran."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []

    @property
    def text(self) -> str:
        return "".join(msg for _, msg in self.lines)

    @property
    def warnings(self) -> str:
        return "".join(msg for level, msg in self.lines if level == 0)


_local = threading.local()


def _stack() -> list[LibbpfMessages]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


_X86_64 = platform.machine() == "x86_64"
_VA_LIST_SIZE = 24  # sizeof(__va_list_tag) on x86_64; va_copy there is a plain copy


def _format(fmt: bytes, va_list: int | None) -> str:
    if not _X86_64:  # va_list is not a pointer to a copyable tag elsewhere: bound the size
        buf = ctypes.create_string_buffer(1 << 20)
        libc.vsnprintf(buf, len(buf), fmt, va_list)
        return buf.value.decode("utf-8", "replace")
    # vsnprintf consumes its va_list, so measure on one copy and format on another:
    # the verifier log arrives in a single message and can be megabytes long.
    probe = ctypes.create_string_buffer(ctypes.string_at(va_list, _VA_LIST_SIZE), _VA_LIST_SIZE)
    real = ctypes.create_string_buffer(ctypes.string_at(va_list, _VA_LIST_SIZE), _VA_LIST_SIZE)
    n = libc.vsnprintf(None, 0, fmt, ctypes.addressof(probe))
    buf = ctypes.create_string_buffer(max(n, 0) + 1)
    libc.vsnprintf(buf, len(buf), fmt, ctypes.addressof(real))
    return buf.value.decode("utf-8", "replace")


def _on_print(level: int, fmt: bytes, va_list: int | None) -> int:
    text = _format(fmt, va_list)
    stack = _stack()
    if stack:
        stack[-1].lines.append((level, text))
    else:
        log.log(_LEVELS.get(level, logging.DEBUG), "%s", text.rstrip())
    return 0


_print_cb = PRINT_FN(_on_print)  # kept alive for the process lifetime
lib.libbpf_set_print(_print_cb)


@contextmanager
def capture() -> Iterator[LibbpfMessages]:
    """Collect libbpf's messages printed by this thread inside the block."""
    messages = LibbpfMessages()
    stack = _stack()
    stack.append(messages)
    try:
        yield messages
    finally:
        stack.remove(messages)
