"""BPF objects (a compiled ``.bpf.o``) opened and loaded through libbpf.

Two phases, as in libbpf: after :meth:`BpfObject.open` the object is a spec that
can still be edited (``const volatile`` globals, map sizes, maps reused from
pins or from a previous version, programs left out); :meth:`BpfObject.load`
creates the maps and has the verifier check and the JIT compile every program.
After a failed load the object is closed at once, so nothing stays in the
kernel and the error carries the verifier's log.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno as E
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import (
    NO_REASON,
    BpfError,
    BpfStateError,
    LoadError,
    MissingPrivilegeError,
    ValueCodecError,
    VerifierError,
    verifier_reason,
)
from ._libbpf import BpfObjectOpenOpts, capture, lib
from .btf import Btf, BtfKind
from .codec import Codec
from .map import Map
from .program import Program

__all__ = ["BpfObject", "Globals", "ObjectMap", "ObjectProgram"]

_LOAD_LOG = re.compile(r"prog '([^']+)': -- BEGIN PROG LOAD LOG --\n(.*?)-- END PROG LOAD LOG --", re.S)


class ObjectProgram(Program):
    """A program of a :class:`BpfObject`; loaded and closed with it."""

    def __init__(self, obj: BpfObject, handle: int) -> None:
        super().__init__(
            lib.bpf_program__name(handle).decode(),
            -1,
            lib.bpf_program__type(handle),
            section=(lib.bpf_program__section_name(handle) or b"").decode(),
            handle=handle,
        )
        self._object = obj

    @property
    def autoload(self) -> bool:
        return bool(lib.bpf_program__autoload(self._handle))

    @autoload.setter
    def autoload(self, value: bool) -> None:
        self._object._require_open("change autoload")
        lib.bpf_program__set_autoload(self._handle, value)


class ObjectMap(Map):
    """A map of a :class:`BpfObject`: configurable before load, usable after."""

    def __init__(self, obj: BpfObject, handle: int, btf: Btf | None) -> None:
        super().__init__(
            lib.bpf_map__name(handle).decode(),
            lib.bpf_map__type(handle),
            lib.bpf_map__key_size(handle),
            lib.bpf_map__value_size(handle),
            lib.bpf_map__max_entries(handle),
            btf=btf,
            key_type_id=lib.bpf_map__btf_key_type_id(handle),
            value_type_id=lib.bpf_map__btf_value_type_id(handle),
            flags=lib.bpf_map__map_flags(handle),
        )
        self._handle = handle
        self._object = obj
        self.internal = bool(lib.bpf_map__is_internal(handle))
        self.autocreate = True

    def set_autocreate(self, value: bool) -> None:
        """Leave this map out of the load (only valid when no loaded program uses it)."""
        self._object._require_open("change autocreate")
        ret = lib.bpf_map__set_autocreate(self._handle, value)
        if ret < 0:
            raise BpfError(f"cannot change autocreate of map {self.name!r}", -ret)
        self.autocreate = value

    def set_max_entries(self, n: int) -> None:
        self._object._require_open("resize a map")
        ret = lib.bpf_map__set_max_entries(self._handle, n)
        if ret < 0:
            raise BpfError(f"cannot set max_entries of map {self.name!r}", -ret)
        self.max_entries = n

    def reuse(self, existing: Map | int | str) -> None:
        """Use an existing map (a Map, an fd or a pin path) instead of creating this one.

        libbpf dups the fd; the kernel's verifier then checks the programs
        against the real map. Layout compatibility is the caller's concern
        (live update compares BTF layouts before calling this).
        """
        self._object._require_open("reuse a map")
        opened: Map | None = None
        if isinstance(existing, str):
            opened = existing = Map.from_pin(existing)
        fd = existing.fd if isinstance(existing, Map) else existing
        try:
            ret = lib.bpf_map__reuse_fd(self._handle, fd)
        finally:
            if opened is not None:
                opened.close()
        if ret < 0:
            raise BpfError(f"cannot reuse fd {fd} for map {self.name!r}", -ret)

    def set_pin_path(self, path: str) -> None:
        """Pin at ``path`` on load, reusing the map already pinned there if compatible."""
        self._object._require_open("set a pin path")
        ret = lib.bpf_map__set_pin_path(self._handle, path.encode())
        if ret < 0:
            raise BpfError(f"cannot set pin path of map {self.name!r}", -ret)

    def close(self) -> None:  # owned by the object
        self._fd = -1


class Globals(Mapping[str, Any]):
    """Global variables of an object, by name (from the BTF of .rodata/.data/.bss).

    ``const volatile`` globals (.rodata) can be set before load only; .data and
    .bss globals can be read and written after load too (libbpf maps them).
    """

    def __init__(self, obj: BpfObject) -> None:
        self._obj = obj
        self._vars: dict[str, tuple[ObjectMap, int, Codec, str]] = {}
        btf = obj.btf
        if btf is None:
            return
        for m in obj.maps.values():
            if not m.internal or not m.value_type_id:
                continue
            sec = btf.type(m.value_type_id)
            if sec.kind != BtfKind.DATASEC:
                continue
            for var in sec.members:
                if var.name.startswith("__alv_btf_export_"):  # type anchors, not state
                    continue
                self._vars[var.name] = (m, var.bit_offset, btf.codec(var.type_id), sec.name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._vars)

    def __len__(self) -> int:
        return len(self._vars)

    def _var(self, name: str) -> tuple[ObjectMap, int, Codec, str]:
        if name not in self._vars:
            raise KeyError(f"no global variable {name!r} in {self._obj.name} (have: {', '.join(self._vars)})")
        return self._vars[name]

    def _initial(self, m: ObjectMap) -> int:
        size = ctypes.c_size_t()
        ptr = lib.bpf_map__initial_value(m._handle, ctypes.byref(size))
        if not ptr:
            raise BpfStateError(f"the initial value of {m.name!r} is not accessible")
        return ptr

    def __getitem__(self, name: str) -> Any:
        self._obj._require_not_closed()
        m, offset, codec, _ = self._var(name)
        if self._obj.loaded:  # libbpf 1.1 does not remap global data after load: read the map
            raw = m.lookup_raw(0)
            return codec.decode(raw, offset)
        return codec.decode(ctypes.string_at(self._initial(m) + offset, codec.size))

    def __setitem__(self, name: str, value: Any) -> None:
        """Before load: the initial value. After load (.data/.bss only): a read-modify-write of
        the section's map entry, not atomic against the programs updating it."""
        self._obj._require_not_closed()
        m, offset, codec, section = self._var(name)
        try:
            raw = codec.encode(value)
        except ValueCodecError as e:
            raise ValueCodecError(f"global {name!r}: {e}") from None
        if not self._obj.loaded:
            ctypes.memmove(self._initial(m) + offset, raw, len(raw))
            return
        if section.startswith(".rodata"):
            raise BpfStateError(f"{name!r} is const volatile (.rodata): set it before load")
        whole = bytearray(m.lookup_raw(0))
        whole[offset : offset + len(raw)] = raw
        m.update_raw(0, bytes(whole))


class BpfObject:
    """A compiled BPF object, opened (editable) then loaded (in the kernel)."""

    def __init__(self, ptr: int, name: str, keepalive: object = None) -> None:
        self._ptr = ptr
        self.name = name
        self._keepalive = keepalive
        self.loaded = False
        btf_ptr = lib.bpf_object__btf(ptr)
        self.btf: Btf | None = Btf(btf_ptr, owned=False) if btf_ptr else None
        self.programs: dict[str, ObjectProgram] = {}
        handle = lib.bpf_object__next_program(ptr, None)
        while handle:
            p = ObjectProgram(self, handle)
            self.programs[p.name] = p
            handle = lib.bpf_object__next_program(ptr, handle)
        self.maps: dict[str, ObjectMap] = {}
        handle = lib.bpf_object__next_map(ptr, None)
        while handle:
            m = ObjectMap(self, handle, self.btf)
            self.maps[m.name] = m
            handle = lib.bpf_object__next_map(ptr, handle)
        self.globals = Globals(self)

    @classmethod
    def open(
        cls,
        source: str | os.PathLike[str] | bytes,
        *,
        name: str | None = None,
        pin_root: str | None = None,
    ) -> BpfObject:
        """Open a BPF ELF object from a path or from bytes (nothing is loaded yet)."""
        opts = BpfObjectOpenOpts(sz=ctypes.sizeof(BpfObjectOpenOpts))
        if name:
            opts.object_name = name.encode()
        if pin_root:
            opts.pin_root_path = pin_root.encode()
        keep: object = None
        with capture() as messages:
            if isinstance(source, bytes | bytearray):
                buf = ctypes.create_string_buffer(bytes(source), len(source))
                keep = buf
                ptr = lib.bpf_object__open_mem(buf, len(source), ctypes.byref(opts))
                label = name or "<memory>"
            else:
                path = os.fspath(source)
                if not os.path.exists(path):
                    raise FileNotFoundError(f"no BPF object at {path}")
                ptr = lib.bpf_object__open_file(path.encode(), ctypes.byref(opts))
                label = path
            err = ctypes.get_errno()
        if not ptr:
            raise LoadError(
                f"cannot open BPF object {label}: {messages.warnings.strip()}", err or E.EINVAL, messages.text
            )
        obj_name = (lib.bpf_object__name(ptr) or b"").decode()
        return cls(ptr, obj_name, keep)

    # --- phase checks --------------------------------------------------------------------
    def _require_not_closed(self) -> None:
        if not self._ptr:
            raise BpfStateError(f"object {self.name} is closed")

    def _require_open(self, action: str) -> None:
        self._require_not_closed()
        if self.loaded:
            raise BpfStateError(f"cannot {action} after load (object {self.name})")

    # --- load ---------------------------------------------------------------------------
    def load(self) -> BpfObject:
        """Create maps, verify and JIT programs. On failure the object is closed and
        :class:`VerifierError` (or :class:`LoadError`) explains why."""
        self._require_open("load")
        with capture() as messages:
            ret = lib.bpf_object__load(self._ptr)
        if ret < 0:
            err = -ret
            self.close()
            raise _load_error(self.name, err, messages.text)
        self.loaded = True
        for p in self.programs.values():
            fd = lib.bpf_program__fd(p._handle)
            p._fd = fd if fd >= 0 else -1  # autoload=False programs stay unloaded
        for m in self.maps.values():
            fd = lib.bpf_map__fd(m._handle)
            m._fd = fd if fd >= 0 else -1  # autocreate=False maps do not exist
        return self

    # --- lookup helpers --------------------------------------------------------------------
    def program(self, name: str | None = None) -> ObjectProgram:
        """The program called ``name``, or the only program of the object."""
        if name is None:
            if len(self.programs) != 1:
                raise KeyError(f"object {self.name} has {len(self.programs)} programs: name one")
            return next(iter(self.programs.values()))
        try:
            return self.programs[name]
        except KeyError:
            raise KeyError(f"no program {name!r} in {self.name} (have: {', '.join(self.programs)})") from None

    def map(self, name: str) -> ObjectMap:
        try:
            return self.maps[name]
        except KeyError:
            user = [n for n, m in self.maps.items() if not m.internal]
            raise KeyError(f"no map {name!r} in {self.name} (have: {', '.join(user)})") from None

    def type_codec(self, name: str, kind: BtfKind = BtfKind.STRUCT) -> Codec:
        """A codec for a named type of this object (e.g. a ring-buffer event struct)."""
        if self.btf is None:
            raise BpfError(f"object {self.name} has no BTF (compile with -g)")
        return self.btf.codec(self.btf.find(name, kind))

    # --- lifetime -----------------------------------------------------------------------------
    def close(self) -> None:
        if self._ptr:
            for p in self.programs.values():
                p._fd = -1
            for m in self.maps.values():
                m._fd = -1
            lib.bpf_object__close(self._ptr)
            self._ptr = 0
            self.btf = None

    @property
    def closed(self) -> bool:
        return not self._ptr

    def __enter__(self) -> BpfObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("loaded" if self.loaded else "opened")
        return f"<BpfObject {self.name} {state} programs={list(self.programs)} maps={list(self.maps)}>"


def _load_error(obj_name: str, err: int, log: str) -> BpfError:
    found = _LOAD_LOG.findall(log)
    if found:
        prog, vlog = found[-1]
        if verifier_reason(vlog) != NO_REASON:
            return VerifierError(prog, vlog, err, log)
        # verification passed but the kernel refused the program (e.g. a map owned by another type)
        return LoadError(f"kernel refused program {prog!r} of {obj_name} after verification", err, log)
    if err == E.EPERM:
        return MissingPrivilegeError(
            f"loading BPF object {obj_name}", "CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)"
        )
    warnings = [line.removeprefix("libbpf: ") for line in log.splitlines() if line.startswith("libbpf: ")]
    detail = warnings[-2] if len(warnings) >= 2 else (warnings[-1] if warnings else "")
    return LoadError(f"cannot load BPF object {obj_name}" + (f": {detail}" if detail else ""), err, log)
