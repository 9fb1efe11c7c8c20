"""BTF, read through libbpf: the one source of truth for C type layouts.

A :class:`Btf` wraps libbpf's ``struct btf`` (from an object, from the kernel by
id, or vmlinux). :meth:`Btf.codec` turns a type id into a :mod:`codec` that
converts between C bytes and Python values, so no Python code repeats a C
struct by hand.
"""

from __future__ import annotations

import ctypes
import enum
import functools
import struct
from dataclasses import dataclass

from ..errors import BpfError, ValueCodecError
from . import codec as _codec
from ._libbpf import lib

__all__ = ["Btf", "BtfKind", "BtfMember", "BtfType"]


class BtfKind(enum.IntEnum):
    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


_MODIFIERS = {BtfKind.VOLATILE, BtfKind.CONST, BtfKind.RESTRICT, BtfKind.TYPE_TAG}
_HDR = struct.Struct("<III")
_INT_SIGNED, _INT_CHAR, _INT_BOOL = 1, 2, 4


@dataclass(frozen=True)
class BtfMember:
    """A struct/union member, an enum value, a datasec variable or a parameter."""

    name: str
    type_id: int = 0
    bit_offset: int = 0  # members; byte offset for datasec entries
    bitfield_size: int = 0
    value: int = 0  # enum values
    size: int = 0  # datasec entries


@dataclass(frozen=True)
class BtfType:
    id: int
    kind: BtfKind
    name: str
    size: int  # for sized kinds
    ref: int  # referenced type id for PTR/TYPEDEF/modifiers/VAR/FUNC
    members: tuple[BtfMember, ...] = ()
    # INT
    int_bits: int = 0
    int_encoding: int = 0
    # ARRAY
    elem_type: int = 0
    nelems: int = 0
    kflag: bool = False


class Btf:
    """A BTF blob owned by libbpf. Close it (or use ``with``) when it is yours."""

    def __init__(self, ptr: int, owned: bool) -> None:
        if not ptr:
            raise BpfError("no BTF")
        self._ptr = ptr
        self._owned = owned
        self._types: dict[int, BtfType] = {}
        self._codecs: dict[int, _codec.Codec] = {}

    # construction ---------------------------------------------------------------
    @classmethod
    def from_kernel_id(cls, btf_id: int) -> Btf:
        ptr = lib.btf__load_from_kernel_by_id(btf_id)
        if not ptr:
            raise BpfError(f"cannot load BTF id {btf_id} from the kernel", ctypes.get_errno())
        return cls(ptr, owned=True)

    @staticmethod
    @functools.cache
    def vmlinux() -> Btf:
        """The running kernel's BTF (cached for the process)."""
        ptr = lib.btf__load_vmlinux_btf()
        if not ptr:
            from ..errors import MissingKernelFeatureError

            raise MissingKernelFeatureError(
                "kernel BTF (/sys/kernel/btf/vmlinux)", "build the kernel with CONFIG_DEBUG_INFO_BTF=y"
            )
        return Btf(ptr, owned=True)

    def close(self) -> None:
        if self._owned and self._ptr:
            lib.btf__free(self._ptr)
        self._ptr = 0

    def __enter__(self) -> Btf:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # raw type access ----------------------------------------------------------------
    def __len__(self) -> int:
        return lib.btf__type_cnt(self._ptr)

    def _name(self, off: int) -> str:
        raw = lib.btf__name_by_offset(self._ptr, off)
        return raw.decode() if raw else ""

    def find(self, name: str, kind: BtfKind) -> int:
        """Type id of ``name`` with ``kind``; raises KeyError if absent."""
        tid = lib.btf__find_by_name_kind(self._ptr, name.encode(), int(kind))
        if tid < 0:
            raise KeyError(f"no BTF {kind.name.lower()} named {name!r}")
        return tid

    def type(self, type_id: int) -> BtfType:
        cached = self._types.get(type_id)
        if cached is not None:
            return cached
        if type_id == 0:
            t = BtfType(0, BtfKind.UNKN, "void", 0, 0)
            self._types[0] = t
            return t
        ptr = lib.btf__type_by_id(self._ptr, type_id)
        if not ptr:
            raise KeyError(f"no BTF type id {type_id}")
        name_off, info, size_or_type = _HDR.unpack(ctypes.string_at(ptr, 12))
        kind = BtfKind((info >> 24) & 0x1F)
        vlen = info & 0xFFFF
        kflag = bool(info >> 31)
        name = self._name(name_off)
        body = ptr + 12
        t: BtfType
        if kind == BtfKind.INT:
            (enc,) = struct.unpack("<I", ctypes.string_at(body, 4))
            t = BtfType(
                type_id, kind, name, size_or_type, 0, int_bits=enc & 0xFF, int_encoding=(enc >> 24) & 0xF
            )
        elif kind == BtfKind.ARRAY:
            elem, _index, nelems = struct.unpack("<III", ctypes.string_at(body, 12))
            t = BtfType(type_id, kind, name, 0, 0, elem_type=elem, nelems=nelems)
        elif kind in (BtfKind.STRUCT, BtfKind.UNION):
            raw = ctypes.string_at(body, 12 * vlen)
            members = []
            for i in range(vlen):
                m_name, m_type, m_off = struct.unpack_from("<III", raw, 12 * i)
                bits = (m_off >> 24) if kflag else 0
                off = (m_off & 0xFFFFFF) if kflag else m_off
                members.append(BtfMember(self._name(m_name), m_type, off, bits))
            t = BtfType(type_id, kind, name, size_or_type, 0, tuple(members), kflag=kflag)
        elif kind == BtfKind.ENUM:
            raw = ctypes.string_at(body, 8 * vlen)
            signed = kflag
            members = []
            for i in range(vlen):
                m_name, val = struct.unpack_from("<Ii" if signed else "<II", raw, 8 * i)
                members.append(BtfMember(self._name(m_name), value=val))
            t = BtfType(type_id, kind, name, size_or_type, 0, tuple(members), kflag=kflag)
        elif kind == BtfKind.ENUM64:
            raw = ctypes.string_at(body, 12 * vlen)
            members = []
            for i in range(vlen):
                m_name, lo, hi = struct.unpack_from("<III", raw, 12 * i)
                val = (hi << 32) | lo
                if kflag and val >= 1 << 63:
                    val -= 1 << 64
                members.append(BtfMember(self._name(m_name), value=val))
            t = BtfType(type_id, kind, name, size_or_type, 0, tuple(members), kflag=kflag)
        elif kind == BtfKind.DATASEC:
            raw = ctypes.string_at(body, 12 * vlen)
            members = []
            for i in range(vlen):
                v_type, v_off, v_size = struct.unpack_from("<III", raw, 12 * i)
                var = self.type(v_type)
                members.append(BtfMember(var.name, var.ref, v_off, size=v_size))
            t = BtfType(type_id, kind, name, size_or_type, 0, tuple(members))
        elif kind == BtfKind.FUNC_PROTO:
            raw = ctypes.string_at(body, 8 * vlen)
            members = tuple(
                BtfMember(
                    self._name(struct.unpack_from("<I", raw, 8 * i)[0]),
                    struct.unpack_from("<I", raw, 8 * i + 4)[0],
                )
                for i in range(vlen)
            )
            t = BtfType(type_id, kind, name, 0, size_or_type, members)
        elif (
            kind in (BtfKind.PTR, BtfKind.TYPEDEF, BtfKind.VAR, BtfKind.FUNC, BtfKind.DECL_TAG, BtfKind.FWD)
            or kind in _MODIFIERS
        ):
            t = BtfType(type_id, kind, name, 0, size_or_type, kflag=kflag)
        else:
            t = BtfType(type_id, kind, name, size_or_type, 0)
        self._types[type_id] = t
        return t

    def strip(self, type_id: int) -> int:
        """Follow typedefs and modifiers down to the underlying type id."""
        t = self.type(type_id)
        while t.kind == BtfKind.TYPEDEF or t.kind in _MODIFIERS:
            t = self.type(t.ref)
        return t.id

    def sizeof(self, type_id: int) -> int:
        t = self.type(self.strip(type_id))
        if t.kind == BtfKind.ARRAY:
            return self.sizeof(t.elem_type) * t.nelems
        if t.kind == BtfKind.PTR:
            return 8
        return t.size

    def describe(self, type_id: int) -> str:
        """C-like spelling of a type, for error messages and migration checks."""
        t = self.type(type_id)
        if t.kind == BtfKind.PTR:
            return self.describe(t.ref) + " *"
        if t.kind in _MODIFIERS:
            return f"{t.kind.name.lower()} {self.describe(t.ref)}"
        if t.kind == BtfKind.ARRAY:
            return f"{self.describe(t.elem_type)}[{t.nelems}]"
        if t.kind in (BtfKind.STRUCT, BtfKind.UNION):
            return f"{t.kind.name.lower()} {t.name or '<anon>'}"
        if t.kind in (BtfKind.ENUM, BtfKind.ENUM64):
            return f"enum {t.name or '<anon>'}"
        return t.name or t.kind.name.lower()

    def layout(self, type_id: int) -> tuple:
        """A hashable description of a type's memory layout (names, offsets, sizes).

        Two maps whose key and value layouts are equal can share their entries;
        this is what live update compares.
        """
        t = self.type(type_id)
        if t.kind == BtfKind.TYPEDEF or t.kind in _MODIFIERS:
            return self.layout(t.ref)
        if t.kind == BtfKind.INT:
            return ("int", t.size, t.int_encoding & _INT_SIGNED)
        if t.kind == BtfKind.ARRAY:
            return ("array", self.layout(t.elem_type), t.nelems)
        if t.kind in (BtfKind.STRUCT, BtfKind.UNION):
            return (
                t.kind.name.lower(),
                t.size,
                tuple((m.name, m.bit_offset, m.bitfield_size, self.layout(m.type_id)) for m in t.members),
            )
        if t.kind in (BtfKind.ENUM, BtfKind.ENUM64):
            return ("enum", t.size)
        if t.kind == BtfKind.PTR:
            return ("ptr", 8)
        return (t.kind.name.lower(), t.size)

    # codecs ---------------------------------------------------------------------------
    def codec(self, type_id: int) -> _codec.Codec:
        """A codec for ``type_id`` (cached; independent of this Btf once built)."""
        c = self._codecs.get(type_id)
        if c is None:
            c = self._build_codec(type_id, endian_hint=None)
            self._codecs[type_id] = c
        return c

    def _build_codec(self, type_id: int, endian_hint: str | None) -> _codec.Codec:
        t = self.type(type_id)
        if t.kind == BtfKind.TYPEDEF:
            # __be16/__be32/__be64 carry network byte order: decode them as numbers.
            hint = "big" if t.name in ("__be16", "__be32", "__be64") else endian_hint
            return self._build_codec(t.ref, hint)
        if t.kind in _MODIFIERS:
            return self._build_codec(t.ref, endian_hint)
        if t.kind == BtfKind.INT:
            if t.int_encoding & _INT_BOOL:
                return _codec.BoolCodec(t.size)
            return _codec.IntCodec(
                t.size, bool(t.int_encoding & _INT_SIGNED), endian_hint or "little", name=t.name
            )
        if t.kind == BtfKind.PTR:
            return _codec.IntCodec(8, False, "little", name="pointer")
        if t.kind in (BtfKind.ENUM, BtfKind.ENUM64):
            return _codec.EnumCodec(
                t.size, t.name or "anon_enum", {m.name: m.value for m in t.members}, signed=t.kflag
            )
        if t.kind == BtfKind.FLOAT:
            return _codec.FloatCodec(t.size)
        if t.kind == BtfKind.ARRAY:
            elem = self._build_codec(t.elem_type, endian_hint)
            return _codec.ArrayCodec(elem, t.nelems)
        if t.kind in (BtfKind.STRUCT, BtfKind.UNION):
            fields = []
            for m in t.members:
                fields.append(
                    _codec.Field(
                        name=m.name,
                        bit_offset=m.bit_offset,
                        bitfield_size=m.bitfield_size,
                        codec=self._build_codec(m.type_id, None),
                    )
                )
            return _codec.StructCodec(
                t.name or f"anon_{t.kind.name.lower()}", t.size, fields, union=t.kind == BtfKind.UNION
            )
        if t.kind == BtfKind.DATASEC:
            # a global-data section: a struct of its variables (byte offsets in BTF)
            fields = [
                _codec.Field(v.name, v.bit_offset * 8, 0, self._build_codec(v.type_id, None))
                for v in t.members
            ]
            return _codec.StructCodec(t.name.strip(".") or "datasec", t.size, fields)
        if t.kind == BtfKind.UNKN:
            raise ValueCodecError("void has no value")
        raise ValueCodecError(f"no codec for BTF {t.kind.name} {t.name!r}")
