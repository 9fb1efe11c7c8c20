"""BPF maps with typed keys and values (layouts from BTF).

A :class:`Map` behaves like a mutable mapping::

    flows[key] = value          # BPF_ANY
    flows.update(key, value, exist=False)   # BPF_NOEXIST
    v = flows[key]              # KeyError (MapKeyError) when absent
    del flows[key]
    for k, v in flows.items(): ...          # batched when the map type allows it
    flows.update_batch(keys, values)

Per-CPU maps return a :class:`PerCpu` list (one value per possible CPU) with a
``sum()``; a single value given to a per-CPU map is written to every CPU.
Program arrays take :class:`~alveole.bpf.program.Program` objects (or fds) and
return program ids; devmaps take ifindexes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno as E
import os
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import BpfError, BpfStateError, MapKeyError, MissingKernelFeatureError, ValueCodecError
from ..system.mounts import ensure_bpffs
from ._libbpf import BpfMapBatchOpts, lib
from .btf import Btf
from .codec import BytesCodec, Codec, IntCodec, StructCodec, sum_values
from .kinds import MapInfoRaw, MapType, get_info

__all__ = ["BPF_ANY", "BPF_EXIST", "BPF_NOEXIST", "Map", "PerCpu", "num_possible_cpus"]

BPF_ANY, BPF_NOEXIST, BPF_EXIST = 0, 1, 2
_BATCH_CHUNK = 4096


def num_possible_cpus() -> int:
    n = lib.libbpf_num_possible_cpus()
    if n <= 0:
        raise BpfError("cannot read the number of possible CPUs", -n)
    return n


class PerCpu(list):
    """Values of one per-CPU map entry, indexed by CPU."""

    def sum(self) -> Any:
        return sum_values(self)


def _raw_codec(size: int) -> Codec:
    if size in (1, 2, 4, 8):
        return IntCodec(size, False)
    return BytesCodec(size)


def _raise_errno(op: str, name: str, err: int, key: Any = None) -> None:
    if err == E.ENOENT and key is not None:
        raise MapKeyError(name, key)
    if err == E.EPERM:
        from ..errors import MissingPrivilegeError

        raise MissingPrivilegeError(f"{op} on map {name!r}", "CAP_BPF")
    raise BpfError(f"{op} on map {name!r} failed", err)


class Map:
    """A BPF map. Create with :meth:`from_pin`, :meth:`from_id`, or from a loaded object."""

    def __init__(
        self,
        name: str,
        map_type: int,
        key_size: int,
        value_size: int,
        max_entries: int,
        *,
        fd: int = -1,
        owns_fd: bool = False,
        btf: Btf | None = None,
        owns_btf: bool = False,
        key_type_id: int = 0,
        value_type_id: int = 0,
        flags: int = 0,
    ) -> None:
        self.name = name
        self.type = MapType.of(map_type)
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.flags = flags
        self._fd = fd
        self._owns_fd = owns_fd
        self.btf = btf
        self._owns_btf = owns_btf
        self.key_type_id = key_type_id
        self.value_type_id = value_type_id
        self.key_codec = self._codec(key_type_id, key_size)
        self.value_codec = self._codec(value_type_id, value_size)
        self.percpu = isinstance(self.type, MapType) and self.type.is_percpu
        self._ncpu = num_possible_cpus() if self.percpu else 1
        self._stride = (value_size + 7) & ~7 if self.percpu else value_size
        self._batch_supported: bool | None = None

    def _codec(self, type_id: int, size: int) -> Codec:
        if self.btf is not None and type_id:
            try:
                return self.btf.codec(type_id)
            except ValueCodecError:  # a type we cannot express: fall back to raw bytes
                pass
        return _raw_codec(size)

    # --- construction -----------------------------------------------------------------
    @classmethod
    def from_fd(cls, fd: int, *, owns_fd: bool = True) -> Map:
        """Wrap a map fd; layouts come from the map's BTF in the kernel, when it has one."""
        info = get_info(fd, MapInfoRaw)
        btf = Btf.from_kernel_id(info.btf_id) if info.btf_id else None
        return cls(
            info.name.decode(),
            info.type,
            info.key_size,
            info.value_size,
            info.max_entries,
            fd=fd,
            owns_fd=owns_fd,
            btf=btf,
            owns_btf=btf is not None,
            key_type_id=info.btf_key_type_id,
            value_type_id=info.btf_value_type_id,
            flags=info.map_flags,
        )

    @classmethod
    def from_pin(cls, path: str) -> Map:
        fd = lib.bpf_obj_get(path.encode())
        if fd < 0:
            if -fd == E.ENOENT:
                raise FileNotFoundError(f"no pinned map at {path}")
            raise BpfError(f"cannot open pinned map {path}", -fd)
        return cls.from_fd(fd)

    @classmethod
    def from_id(cls, map_id: int) -> Map:
        fd = lib.bpf_map_get_fd_by_id(map_id)
        if fd < 0:
            raise BpfError(f"cannot open map id {map_id}", -fd)
        return cls.from_fd(fd)

    # --- identity ---------------------------------------------------------------------
    @property
    def fd(self) -> int:
        if self._fd < 0:
            raise BpfStateError(f"map {self.name!r} is not loaded (or is closed)")
        return self._fd

    @property
    def id(self) -> int:
        return get_info(self.fd, MapInfoRaw).id

    def __repr__(self) -> str:
        t = self.type.name.lower() if isinstance(self.type, MapType) else self.type
        return (
            f"<Map {self.name} {t} key={self.key_codec!r} value={self.value_codec!r} max={self.max_entries}>"
        )

    def close(self) -> None:
        if self._owns_fd and self._fd >= 0:
            os.close(self._fd)
        self._fd = -1
        if self._owns_btf and self.btf is not None:
            self.btf.close()
            self.btf = None

    def __enter__(self) -> Map:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # --- pinning -------------------------------------------------------------------------
    def pin(self, path: str) -> None:
        ensure_bpffs()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        ret = lib.bpf_obj_pin(self.fd, path.encode())
        if ret < 0:
            raise BpfError(f"cannot pin map {self.name!r} at {path}", -ret)

    @staticmethod
    def unpin(path: str) -> None:
        os.unlink(path)

    # --- encoding --------------------------------------------------------------------
    def encode_key(self, key: Any) -> bytes:
        return self.key_codec.encode(key)

    def encode_value(self, value: Any) -> bytes:
        value = self._value_arg(value)
        if not self.percpu:
            return self.value_codec.encode(value)
        values = value if isinstance(value, PerCpu | list) else [value] * self._ncpu
        if len(values) != self._ncpu:
            raise ValueError(f"map {self.name!r} needs {self._ncpu} per-CPU values, got {len(values)}")
        return bytes(self.value_codec.encode_many(values, self._stride))

    def _value_arg(self, value: Any) -> Any:
        """Programs in program arrays and devmaps are written as fds."""
        from .program import Program

        if isinstance(value, Program):
            return value.fd
        if self.type in (MapType.DEVMAP, MapType.DEVMAP_HASH) and isinstance(value, tuple):
            ifindex, prog = value
            if isinstance(self.value_codec, StructCodec):
                return (ifindex, prog.fd if isinstance(prog, Program) else prog)
        return value

    def decode_value(self, raw: bytes | memoryview) -> Any:
        if not self.percpu:
            return self.value_codec.decode(raw)
        return PerCpu(self.value_codec.decode_many(raw, self._ncpu, self._stride))

    @property
    def _value_buf_size(self) -> int:
        return self._stride * self._ncpu

    # --- element operations ---------------------------------------------------------------
    def lookup(self, key: Any) -> Any:
        return self.decode_value(self.lookup_raw(key))

    def lookup_raw(self, key: Any) -> bytes:
        """The value bytes as the kernel stores them (per-CPU maps: every CPU's slot)."""
        kb = self.encode_key(key)
        vb = ctypes.create_string_buffer(self._value_buf_size)
        ret = lib.bpf_map_lookup_elem(self.fd, kb, vb)
        if ret < 0:
            _raise_errno("lookup", self.name, -ret, key)
        return vb.raw

    def update_raw(self, key: Any, value: bytes, flags: int = BPF_ANY) -> None:
        ret = lib.bpf_map_update_elem(self.fd, self.encode_key(key), value, flags)
        if ret < 0:
            _raise_errno("update", self.name, -ret)

    def __getitem__(self, key: Any) -> Any:
        return self.lookup(key)

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self.lookup(key)
        except MapKeyError:
            return default

    def __contains__(self, key: Any) -> bool:
        try:
            self.lookup(key)
        except MapKeyError:
            return False
        return True

    def update(self, key: Any, value: Any, *, exist: bool | None = None) -> None:
        """Insert or replace (``exist=None``), insert only (False) or replace only (True)."""
        flags = BPF_ANY if exist is None else (BPF_EXIST if exist else BPF_NOEXIST)
        kb, vb = self.encode_key(key), self.encode_value(value)
        ret = lib.bpf_map_update_elem(self.fd, kb, vb, flags)
        if ret < 0:
            err = -ret
            if err == E.EEXIST:
                raise KeyError(f"key {key!r} already in map {self.name!r}")
            _raise_errno("update", self.name, err, key if err == E.ENOENT else None)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.update(key, value)

    def delete(self, key: Any) -> None:
        ret = lib.bpf_map_delete_elem(self.fd, self.encode_key(key))
        if ret < 0:
            _raise_errno("delete", self.name, -ret, key)

    def __delitem__(self, key: Any) -> None:
        self.delete(key)

    def pop(self, key: Any, *default: Any) -> Any:
        try:
            value = self.lookup(key)
            self.delete(key)
        except MapKeyError:
            if default:
                return default[0]
            raise
        return value

    # --- iteration --------------------------------------------------------------------------
    def _raw_keys(self) -> Iterator[bytes]:
        cur = ctypes.create_string_buffer(self.key_size)
        nxt = ctypes.create_string_buffer(self.key_size)
        ret = lib.bpf_map_get_next_key(self.fd, None, nxt)
        while ret == 0:
            yield nxt.raw
            ctypes.memmove(cur, nxt, self.key_size)
            ret = lib.bpf_map_get_next_key(self.fd, cur, nxt)
        if -ret != E.ENOENT:
            _raise_errno("iterate", self.name, -ret)

    def keys(self) -> list[Any]:
        if self._batchable():
            return [k for k, _ in self.items()]
        return [self.key_codec.decode(k) for k in self._raw_keys()]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    def __len__(self) -> int:
        if self.type in (MapType.ARRAY, MapType.PERCPU_ARRAY):
            return self.max_entries
        return sum(1 for _ in self._raw_keys())

    def values(self) -> list[Any]:
        return [v for _, v in self.items()]

    def items(self) -> list[tuple[Any, Any]]:
        """All entries; one batched syscall per few thousand entries when the map allows it."""
        if self._batchable():
            try:
                keys, raw_vals = self._lookup_batch_raw()
            except MissingKernelFeatureError:
                self._batch_supported = False
            else:
                return list(zip(keys, (self.decode_value(v) for v in raw_vals), strict=True))
        out = []
        vb = ctypes.create_string_buffer(self._value_buf_size)
        for kb in self._raw_keys():
            if lib.bpf_map_lookup_elem(self.fd, kb, vb) == 0:  # entries may vanish meanwhile
                out.append((self.key_codec.decode(kb), self.decode_value(vb.raw)))
        return out

    def _batchable(self) -> bool:
        if self._batch_supported is False:
            return False
        return isinstance(self.type, MapType) and self.type in (
            MapType.HASH,
            MapType.PERCPU_HASH,
            MapType.LRU_HASH,
            MapType.LRU_PERCPU_HASH,
            MapType.ARRAY,
            MapType.PERCPU_ARRAY,
        )

    def _raw_items(self) -> dict[bytes, bytes]:
        """Every entry as encoded bytes (no decoding): what sync_to compares against."""
        if self._batchable():
            try:
                keys, vals = self._lookup_batch_raw(decode_keys=False)
            except MissingKernelFeatureError:
                self._batch_supported = False
            else:
                return dict(zip(keys, vals, strict=True))
        out = {}
        vb = ctypes.create_string_buffer(self._value_buf_size)
        for kb in self._raw_keys():
            if lib.bpf_map_lookup_elem(self.fd, kb, vb) == 0:  # entries may vanish meanwhile
                out[kb] = vb.raw
        return out

    def _lookup_batch_raw(self, decode_keys: bool = True) -> tuple[list[Any], list[bytes]]:
        keys: list[Any] = []
        vals: list[bytes] = []
        chunk = min(_BATCH_CHUNK, max(self.max_entries, 1))
        kbuf = ctypes.create_string_buffer(self.key_size * chunk)
        vbuf = ctypes.create_string_buffer(self._value_buf_size * chunk)
        tok_size = max(self.key_size, 8)
        in_tok = ctypes.create_string_buffer(tok_size)
        out_tok = ctypes.create_string_buffer(tok_size)
        opts = BpfMapBatchOpts(sz=ctypes.sizeof(BpfMapBatchOpts))
        first = True
        while True:
            count = ctypes.c_uint32(chunk)
            ret = lib.bpf_map_lookup_batch(
                self.fd,
                None if first else in_tok,
                out_tok,
                kbuf,
                vbuf,
                ctypes.byref(count),
                ctypes.byref(opts),
            )
            err = -ret if ret < 0 else 0
            if err in (E.EINVAL, E.ENOTSUP, E.EOPNOTSUPP, 524) and first and count.value == 0:
                raise MissingKernelFeatureError(f"batch lookup on {self.type!r} maps", errno=err)
            n = count.value
            if n:
                kraw = kbuf.raw[: n * self.key_size]
                if decode_keys:
                    keys.extend(self.key_codec.decode_many(kraw, n))
                else:
                    ks = self.key_size
                    keys.extend(kraw[i * ks : (i + 1) * ks] for i in range(n))
                vs = self._value_buf_size
                vraw = vbuf.raw[: n * vs]
                vals.extend(vraw[i * vs : (i + 1) * vs] for i in range(n))
            if err == E.ENOENT:
                return keys, vals
            if err == E.ENOSPC:  # a hash bucket larger than the chunk
                chunk *= 2
                kbuf = ctypes.create_string_buffer(self.key_size * chunk)
                vbuf = ctypes.create_string_buffer(self._value_buf_size * chunk)
                continue
            if err:
                _raise_errno("batch lookup", self.name, err)
            ctypes.memmove(in_tok, out_tok, tok_size)
            first = False

    # --- batch updates ----------------------------------------------------------------------
    def update_batch(
        self, keys: Sequence[Any] | bytes, values: Sequence[Any] | bytes, *, exist: bool | None = None
    ) -> int:
        """Write many entries in few syscalls; returns how many were written.

        ``keys``/``values`` are sequences of Python values, or pre-encoded
        contiguous ``bytes`` (key_size / value_size each) for the fastest path.
        """
        kraw, n = self._encode_keys(keys)
        if isinstance(values, bytes | bytearray | memoryview):
            vraw = bytes(values)
        elif self.percpu:
            vraw = b"".join(self.encode_value(v) for v in values)
        else:
            vraw = bytes(self.value_codec.encode_many(self._value_arg(v) for v in values))
        if len(vraw) != n * self._value_buf_size:
            raise ValueError(f"{n} keys but {len(vraw) // max(self._value_buf_size, 1)} values")
        flags = BPF_ANY if exist is None else (BPF_EXIST if exist else BPF_NOEXIST)
        opts = BpfMapBatchOpts(sz=ctypes.sizeof(BpfMapBatchOpts), elem_flags=flags)
        done = 0
        kbuf = ctypes.create_string_buffer(kraw, len(kraw))
        vbuf = ctypes.create_string_buffer(vraw, len(vraw))
        vs = self._value_buf_size
        while done < n:
            count = ctypes.c_uint32(n - done)
            ret = lib.bpf_map_update_batch(
                self.fd,
                ctypes.byref(kbuf, done * self.key_size),
                ctypes.byref(vbuf, done * vs),
                ctypes.byref(count),
                ctypes.byref(opts),
            )
            if ret < 0:
                err = -ret
                if err in (E.EINVAL, E.ENOTSUP, E.EOPNOTSUPP, 524) and done == 0 and count.value == 0:
                    raise MissingKernelFeatureError(f"batch update on {self.type!r} maps", errno=err)
                raise BpfError(
                    f"batch update on map {self.name!r} stopped after {done + count.value} of {n} entries",
                    err,
                )
            done += count.value
        return done

    def delete_batch(self, keys: Sequence[Any] | bytes) -> int:
        kraw, n = self._encode_keys(keys)
        kbuf = ctypes.create_string_buffer(kraw, len(kraw))
        opts = BpfMapBatchOpts(sz=ctypes.sizeof(BpfMapBatchOpts))
        count = ctypes.c_uint32(n)
        ret = lib.bpf_map_delete_batch(self.fd, kbuf, ctypes.byref(count), ctypes.byref(opts))
        if ret < 0:
            err = -ret
            if err == E.ENOENT:
                raise MapKeyError(self.name, f"<entry {count.value} of the batch>")
            raise BpfError(f"batch delete on map {self.name!r} stopped after {count.value} of {n}", err)
        return count.value

    def _encode_keys(self, keys: Sequence[Any] | bytes) -> tuple[bytes, int]:
        if isinstance(keys, bytes | bytearray | memoryview):
            if len(keys) % self.key_size:
                raise ValueError(f"key bytes are not a multiple of {self.key_size}")
            return bytes(keys), len(keys) // self.key_size
        keys = list(keys)
        return bytes(self.key_codec.encode_many(keys)), len(keys)

    def clear(self) -> None:
        """Delete every entry (arrays: reset every slot to zero)."""
        if self.type in (MapType.ARRAY, MapType.PERCPU_ARRAY):
            zero = bytes(self._value_buf_size)
            for i in range(self.max_entries):
                lib.bpf_map_update_elem(self.fd, self.encode_key(i), zero, BPF_ANY)
            return
        for k in list(self._raw_keys()):
            lib.bpf_map_delete_elem(self.fd, k)

    def sync_to(self, wanted: dict[Any, Any]) -> tuple[int, int, int]:
        """Make the map hold exactly ``wanted``, writing only the difference.

        Entries are added and changed before stale ones are removed, so a
        reader never sees an empty map during a reconfiguration. Returns
        (added, changed, removed).

        Arrays cannot delete: for them ``wanted`` may be sparse, a slot it
        leaves out is reset to zeros (and counted as removed unless it was
        zero already).
        """
        current = self._raw_items()  # compared as bytes: nothing decoded and encoded again
        want = {bytes(self.encode_key(k)): bytes(self.encode_value(v)) for k, v in wanted.items()}
        added = changed = 0
        for kb, vb in want.items():
            old = current.get(kb)
            if old is None:
                added += 1
            elif old == vb:
                continue
            else:
                changed += 1
            ret = lib.bpf_map_update_elem(self.fd, kb, vb, BPF_ANY)
            if ret < 0:
                _raise_errno("update", self.name, -ret)
        removed = 0
        if self.type in (MapType.ARRAY, MapType.PERCPU_ARRAY):
            zero = bytes(self._value_buf_size)
            for kb in current.keys() - want.keys():
                if current[kb] == zero:
                    continue
                ret = lib.bpf_map_update_elem(self.fd, kb, zero, BPF_ANY)
                if ret < 0:
                    _raise_errno("update", self.name, -ret)
                removed += 1
            return added, changed, removed
        for kb in current.keys() - want.keys():
            ret = lib.bpf_map_delete_elem(self.fd, kb)
            if ret < 0 and -ret != E.ENOENT:
                _raise_errno("delete", self.name, -ret)
            removed += 1
        return added, changed, removed

    def freeze(self) -> None:
        ret = lib.bpf_map_freeze(self.fd)
        if ret < 0:
            _raise_errno("freeze", self.name, -ret)
