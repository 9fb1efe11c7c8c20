"""Codecs built from an object's BTF (no root: the object is opened, not loaded)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from alveole.bpf import BpfObject
from alveole.errors import ValueCodecError
from alveole.toolchain import compile_bpf

PROGS = Path(__file__).resolve().parent.parent / "kernel" / "progs"


@pytest.fixture(scope="module")
def maps_obj():
    obj = BpfObject.open(compile_bpf(PROGS / "maps.bpf.c").path, name="maps")
    yield obj
    obj.close()


def test_struct_key_layout_comes_from_btf(maps_obj: BpfObject) -> None:
    codec = maps_obj.map("flows").key_codec
    assert codec.size == 16
    assert codec.fields == ["saddr", "daddr", "sport", "dport", "proto", "pad"]
    key = codec.type(
        saddr=ipaddress.IPv4Address("198.18.0.1"), daddr=0xC6130009, sport=1234, dport=80, proto=6
    )
    raw = codec.encode(key)
    # __be32/__be16 fields are stored in network byte order
    assert raw[:4] == bytes([198, 18, 0, 1])
    assert raw[8:10] == (1234).to_bytes(2, "big")
    assert codec.decode(raw) == key._replace(saddr=int(ipaddress.IPv4Address("198.18.0.1")))


def test_value_with_enum_bitfields_strings_and_arrays(maps_obj: BpfObject) -> None:
    codec = maps_obj.map("flows").value_codec
    raw = codec.encode(
        {"packets": 3, "bytes": 100, "color": "BLUE", "flags": 5, "level": 17, "name": "abc", "hist": [1, 2]}
    )
    v = codec.decode(raw)
    assert (v.packets, v.bytes, v.flags, v.level) == (3, 100, 5, 17)
    assert v.color.name == "BLUE" and int(v.color) == 7
    assert v.name == b"abc" + bytes(5)
    assert v.hist == (1, 2, 0, 0)
    assert codec.encode(v) == raw


def test_lpm_key_accepts_networks(maps_obj: BpfObject) -> None:
    codec = maps_obj.map("routes6").key_codec
    raw = codec.encode(ipaddress.ip_network("2001:db8::/32"))
    assert raw[:4] == (32).to_bytes(4, "little")
    assert raw[4:] == ipaddress.IPv6Address("2001:db8::").packed
    with pytest.raises(ValueCodecError):
        codec.encode(ipaddress.ip_network("198.18.0.0/15"))


def test_bad_values_name_the_field(maps_obj: BpfObject) -> None:
    codec = maps_obj.map("flows").value_codec
    with pytest.raises(ValueCodecError, match="no field 'pakets'"):
        codec.encode({"pakets": 1})
    with pytest.raises(ValueCodecError, match="'packets'"):
        codec.encode({"packets": -1})
    with pytest.raises(ValueCodecError, match="not a member"):
        codec.encode({"color": "PURPLE"})


def test_globals_before_load(maps_obj: BpfObject) -> None:
    assert maps_obj.globals["answer"] == 1
    maps_obj.globals["answer"] = 42
    assert maps_obj.globals["answer"] == 42
    with pytest.raises(KeyError, match="no global variable"):
        maps_obj.globals["nope"]


def test_batch_encoding_matches_single(maps_obj: BpfObject) -> None:
    codec = maps_obj.map("arr").value_codec
    values = list(range(1000))
    assert bytes(codec.encode_many(values)) == b"".join(codec.encode(v) for v in values)
    assert codec.decode_many(codec.encode_many(values), 1000) == values
