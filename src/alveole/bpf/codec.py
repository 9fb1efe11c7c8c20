"""Codecs between C bytes and Python values, built from BTF (see :mod:`btf`).

Python side of each C type:

========================  ===================================================
C type                    Python value
========================  ===================================================
integers, pointers        ``int`` (``__be16/32/64`` decoded as numbers)
``bool``                  ``bool``
enums                     a generated ``IntEnum`` member (``int`` if unknown)
``float``/``double``      ``float``
``char[N]``, ``u8[N]``    ``bytes`` of length N
other arrays              ``tuple``
struct / union            a generated ``namedtuple`` (fields in C order)
========================  ===================================================

Encoding is lenient where it is unambiguous: a struct accepts its namedtuple,
a ``dict`` (missing fields are zero), a tuple, or raw ``bytes`` of the exact
size; 4- and 16-byte fields accept ``ipaddress`` addresses; a struct shaped
like an LPM-trie key (``prefixlen`` then an address) accepts an
``ipaddress`` network.
"""

from __future__ import annotations

import collections
import enum
import ipaddress
import keyword
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ValueCodecError

__all__ = [
    "ArrayCodec",
    "BoolCodec",
    "BytesCodec",
    "Codec",
    "EnumCodec",
    "Field",
    "FloatCodec",
    "IntCodec",
    "StructCodec",
    "sum_values",
]

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Codec:
    """Converts one C type. ``size`` is its size in bytes."""

    size: int
    zero: Any

    def decode(self, data: bytes | memoryview, offset: int = 0) -> Any:
        raise NotImplementedError

    def encode_into(self, buf: bytearray, offset: int, value: Any) -> None:
        raise NotImplementedError

    def encode(self, value: Any) -> bytes:
        if isinstance(value, bytes | bytearray | memoryview) and not isinstance(self, BytesCodec):
            if len(value) != self.size:
                raise ValueCodecError(f"{self!r} needs {self.size} bytes, got {len(value)}")
            return bytes(value)
        buf = bytearray(self.size)
        self.encode_into(buf, 0, value)
        return bytes(buf)

    def decode_many(self, data: bytes | memoryview, count: int, stride: int | None = None) -> list[Any]:
        step = stride or self.size
        return [self.decode(data, i * step) for i in range(count)]

    def encode_many(self, values: Iterable[Any], stride: int | None = None) -> bytearray:
        vals = list(values)
        step = stride or self.size
        buf = bytearray(step * len(vals))
        for i, v in enumerate(vals):
            if isinstance(v, bytes | bytearray | memoryview) and not isinstance(self, BytesCodec):
                if len(v) != self.size:
                    raise ValueCodecError(f"{self!r} needs {self.size} bytes, got {len(v)}")
                buf[i * step : i * step + self.size] = v
            else:
                self.encode_into(buf, i * step, v)
        return buf


class IntCodec(Codec):
    _FMT = {1: "B", 2: "H", 4: "I", 8: "Q"}

    def __init__(self, size: int, signed: bool, byteorder: str = "little", name: str = "") -> None:
        self.size = size
        self.signed = signed
        self.byteorder = byteorder
        self.name = name or f"{'s' if signed else 'u'}{size * 8}"
        self.zero = 0
        fmt = self._FMT.get(size)
        self._struct = (
            struct.Struct(("<" if byteorder == "little" else ">") + (fmt.lower() if signed else fmt))
            if fmt
            else None
        )

    def __repr__(self) -> str:
        return f"<int {self.name}>"

    def decode(self, data: bytes | memoryview, offset: int = 0) -> int:
        if self._struct is not None:
            return self._struct.unpack_from(data, offset)[0]
        return int.from_bytes(data[offset : offset + self.size], self.byteorder, signed=self.signed)

    def coerce(self, value: Any) -> int:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, ipaddress.IPv4Address) and self.size == 4:
            # an address in a __be32 field keeps network order; in a host-order field its value
            return int(value)
        if isinstance(value, enum.Enum) and isinstance(value.value, int):
            return value.value
        raise ValueCodecError(f"{self!r} cannot hold {value!r}")

    def encode_many(self, values: Iterable[Any], stride: int | None = None) -> bytearray:
        vals = list(values)
        if (
            self._struct is not None
            and (stride is None or stride == self.size)
            and all(type(v) is int for v in vals)
        ):
            fmt = self._struct.format
            try:
                return bytearray(struct.pack(f"{fmt[0]}{len(vals)}{fmt[1:]}", *vals))
            except struct.error as e:
                raise ValueCodecError(f"a value does not fit {self!r}: {e}") from None
        return super().encode_many(vals, stride)

    def encode_into(self, buf: bytearray, offset: int, value: Any) -> None:
        v = self.coerce(value)
        try:
            if self._struct is not None:
                self._struct.pack_into(buf, offset, v)
            else:
                buf[offset : offset + self.size] = v.to_bytes(self.size, self.byteorder, signed=self.signed)
        except (struct.error, OverflowError) as e:
            raise ValueCodecError(f"{value!r} does not fit {self!r}") from e


class BoolCodec(IntCodec):
    def __init__(self, size: int) -> None:
        super().__init__(size, False, name="bool")
        self.zero = False

    def decode(self, data: bytes | memoryview, offset: int = 0) -> bool:
        return bool(super().decode(data, offset))


class FloatCodec(Codec):
    def __init__(self, size: int) -> None:
        self.size = size
        self.zero = 0.0
        self._struct = struct.Struct({4: "<f", 8: "<d"}[size])

    def __repr__(self) -> str:
        return f"<float{self.size * 8}>"

    def decode(self, data: bytes | memoryview, offset: int = 0) -> float:
        return self._struct.unpack_from(data, offset)[0]

    def encode_into(self, buf: bytearray, offset: int, value: Any) -> None:
        self._struct.pack_into(buf, offset, float(value))


class EnumCodec(IntCodec):
    def __init__(self, size: int, name: str, values: Mapping[str, int], signed: bool) -> None:
        super().__init__(size, signed, name=f"enum {name}")
        self.enum: type[enum.IntEnum] | None = (
            enum.IntEnum(_identifier(name), {_identifier(k): v for k, v in values.items()})
            if values
            else None
        )
        self.values = dict(values)

    def decode(self, data: bytes | memoryview, offset: int = 0) -> int:
        v = super().decode(data, offset)
        if self.enum is not None:
            try:
                return self.enum(v)
            except ValueError:
                return v
        return v

    def coerce(self, value: Any) -> int:
        if isinstance(value, str):
            if value not in self.values:
                raise ValueCodecError(f"{value!r} is not a member of {self.name}")
            return self.values[value]
        return super().coerce(value)


class BytesCodec(Codec):
    """``char[N]`` / ``u8[N]``: bytes of length N (shorter input is zero-padded)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.zero = bytes(size)

    def __repr__(self) -> str:
        return f"<bytes[{self.size}]>"

    def decode(self, data: bytes | memoryview, offset: int = 0) -> bytes:
        return bytes(data[offset : offset + self.size])

    def encode_into(self, buf: bytearray, offset: int, value: Any) -> None:
        if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
            raw = value.packed
        elif isinstance(value, str):
            raw = value.encode()
        elif isinstance(value, (bytes | bytearray | memoryview, Sequence)):
            raw = bytes(value)
        else:
            raise ValueCodecError(f"{self!r} cannot hold {value!r}")
        if len(raw) > self.size:
            raise ValueCodecError(f"{len(raw)} bytes do not fit {self!r}")
        buf[offset : offset + len(raw)] = raw


class ArrayCodec(Codec):
    def __new__(cls, elem: Codec, n: int) -> Codec:  # type: ignore[misc]
        if isinstance(elem, IntCodec) and elem.size == 1 and not isinstance(elem, EnumCodec | BoolCodec):
            return BytesCodec(n)
        return super().__new__(cls)

    def __init__(self, elem: Codec, n: int) -> None:
        self.elem = elem
        self.n = n
        self.size = elem.size * n
        self.zero = tuple(elem.zero for _ in range(n))

    def __repr__(self) -> str:
        return f"<{self.elem!r}[{self.n}]>"

    def decode(self, data: bytes | memoryview, offset: int = 0) -> tuple:
        es = self.elem.size
        return tuple(self.elem.decode(data, offset + i * es) for i in range(self.n))

    def encode_into(self, buf: bytearray, offset: int, value: Any) -> None:
        if isinstance(value, ipaddress.IPv6Address) and self.size == 16:
            buf[offset : offset + 16] = value.packed
            return
        items = list(value)
        if len(items) > self.n:
            raise ValueCodecError(f"{len(items)} items do not fit {self!r}")
        es = self.elem.size
        for i, v in enumerate(items):
            self.elem.encode_into(buf, offset + i * es, v)


@dataclass(frozen=True)
class Field:
    name: str
    bit_offset: int
    bitfield_size: int
    codec: Codec


class StructCodec(Codec):
    """A struct or union as a generated namedtuple.

    Anonymous struct/union members are flattened into their parent (as C11 lets
    code name them). Fields that overlap (unions) are all decoded; on encode,
    zero values are skipped so that the one member set is not overwritten.
    """

    def __init__(self, name: str, size: int, fields: list[Field], union: bool = False) -> None:
        self.name = name
        self.size = size
        self.union = union
        flat: list[tuple[str, int, int, Codec]] = []  # name, bit offset, bitfield size, codec
        for f in fields:
            if not f.name and isinstance(f.codec, StructCodec):
                for sub_name, sub_off, sub_bits, sub_codec in f.codec._flat:
                    flat.append((sub_name, f.bit_offset + sub_off, sub_bits, sub_codec))
            else:
                flat.append((f.name, f.bit_offset, f.bitfield_size, f.codec))
        self._flat = flat
        names = [n or f"_anon{i}" for i, (n, *_rest) in enumerate(flat)]
        self.fields = [_identifier(n) for n in names]
        self.type = collections.namedtuple(  # type: ignore[misc]
            _identifier(name), self.fields, rename=True, defaults=[c.zero for *_x, c in flat]
        )
        self.fields = list(self.type._fields)
        self.zero = self.type()
        self._fast = self._compile()
        # LPM-trie-shaped keys: u32 prefixlen followed by the address bytes
        self._lpm_addr: int | None = None
        if (
            len(flat) == 2
            and flat[0][0] == "prefixlen"
            and flat[0][3].size == 4
            and flat[1][1] == 32
            and flat[1][3].size in (4, 16)
        ):
            self._lpm_addr = flat[1][3].size

    def __repr__(self) -> str:
        return f"<{'union' if self.union else 'struct'} {self.name}>"

    def _compile(self) -> struct.Struct | None:
        """One struct.Struct for plain structs of ints and byte arrays (fast batch paths)."""
        if self.union:
            return None
        fmt, pos = ["<"], 0
        for _name, bit_off, bits, codec in self._flat:
            if bits or bit_off % 8 or isinstance(codec, StructCodec | ArrayCodec | FloatCodec):
                return None
            off = bit_off // 8
            if off < pos:
                return None
            if off > pos:
                fmt.append(f"{off - pos}x")
            if isinstance(codec, BytesCodec):
                fmt.append(f"{codec.size}s")
            elif type(codec) is IntCodec and codec.byteorder == "little" and codec._struct is not None:
                fmt.append(codec._struct.format[1:])
            else:
                return None
            pos = off + codec.size
        if pos > self.size:
            return None
        if pos < self.size:
            fmt.append(f"{self.size - pos}x")
        return struct.Struct("".join(fmt))

    def decode(self, data: bytes | memoryview, offset: int = 0) -> Any:
        if self._fast is not None:
            return self.type._make(self._fast.unpack_from(data, offset))
        vals = []
        for _name, bit_off, bits, codec in self._flat:
            if bits:
                vals.append(_read_bits(data, offset, bit_off, bits, codec))
            else:
                vals.append(codec.decode(data, offset + bit_off // 8))
        return self.type._make(vals)

    def decode_many(self, data: bytes | memoryview, count: int, stride: int | None = None) -> list[Any]:
        if self._fast is not None and (stride is None or stride == self.size):
            make = self.type._make
            return [make(t) for t in self._fast.iter_unpack(memoryview(data)[: count * self.size])]
        return super().decode_many(data, count, stride)

    def _items(self, value: Any) -> list[tuple[int, Any]]:
        """(index into _flat, value) pairs to write."""
        if isinstance(value, Mapping):
            index = {n: i for i, n in enumerate(self.fields)}
            out = []
            for k, v in value.items():
                if k not in index:
                    raise ValueCodecError(f"{self!r} has no field {k!r} (fields: {', '.join(self.fields)})")
                out.append((index[k], v))
            return out
        if self._lpm_addr and isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
            if value.max_prefixlen // 8 != self._lpm_addr:
                raise ValueCodecError(f"{value} does not fit {self!r} ({self._lpm_addr}-byte address)")
            return [(0, value.prefixlen), (1, value.network_address)]
        if isinstance(value, tuple):
            if len(value) > len(self._flat):
                raise ValueCodecError(f"{len(value)} values for {self!r} of {len(self._flat)} fields")
            return list(enumerate(value))
        raise ValueCodecError(f"{self!r} cannot hold {value!r}")

    def encode_into(self, buf: bytearray, offset: int, value: Any) -> None:
        if self._fast is not None and type(value) is self.type:
            self._fast.pack_into(buf, offset, *value)
            return
        for i, v in self._items(value):
            _name, bit_off, bits, codec = self._flat[i]
            if v is None or (self.union and _is_zero(v)):
                continue
            if bits:
                _write_bits(buf, offset, bit_off, bits, codec, v)
            else:
                try:
                    codec.encode_into(buf, offset + bit_off // 8, v)
                except ValueCodecError as e:
                    raise ValueCodecError(f"field {self.fields[i]!r} of {self!r}: {e}") from None


def _read_bits(data: bytes | memoryview, offset: int, bit_off: int, bits: int, codec: Codec) -> int:
    first, last = bit_off // 8, (bit_off + bits + 7) // 8
    word = int.from_bytes(data[offset + first : offset + last], "little")
    v = (word >> (bit_off - first * 8)) & ((1 << bits) - 1)
    if isinstance(codec, IntCodec) and codec.signed and v >> (bits - 1):
        v -= 1 << bits
    return v


def _write_bits(buf: bytearray, offset: int, bit_off: int, bits: int, codec: Codec, value: Any) -> None:
    v = codec.coerce(value) if isinstance(codec, IntCodec) else int(value)
    first, last = bit_off // 8, (bit_off + bits + 7) // 8
    shift = bit_off - first * 8
    mask = ((1 << bits) - 1) << shift
    word = int.from_bytes(buf[offset + first : offset + last], "little")
    word = (word & ~mask) | ((v << shift) & mask)
    buf[offset + first : offset + last] = word.to_bytes(last - first, "little")


def _is_zero(v: Any) -> bool:
    if isinstance(v, int | float):
        return v == 0
    if isinstance(v, bytes):
        return not any(v)
    if isinstance(v, tuple):
        return all(_is_zero(x) for x in v)
    return False


def _identifier(name: str) -> str:
    ident = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name) or "anon"
    if ident[0].isdigit() or keyword.iskeyword(ident):
        ident = "t_" + ident
    return ident


def sum_values(values: Sequence[Any]) -> Any:
    """Sum per-CPU values field by field (ints and floats add; other fields keep CPU 0's)."""
    if not values:
        raise ValueError("no values")
    first = values[0]
    if isinstance(first, bool):
        return any(values)
    if isinstance(first, int | float):
        return sum(values)
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)._make(sum_values([v[i] for v in values]) for i in range(len(first)))
    if isinstance(first, tuple):
        return tuple(sum_values([v[i] for v in values]) for i in range(len(first)))
    return first
