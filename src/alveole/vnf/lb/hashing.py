"""The load balancer's hashes, shared bit for bit by ``lb.bpf.c`` and the Python side.

* :func:`flow_hash`: MurmurHash3 (x86, 32-bit) of the 40-byte ``struct lb_flow_key``,
  read as ten little-endian words (how the BPF program loads them on x86). It picks a
  new flow's Maglev slot; :func:`snat_hash` derives the start of its SNAT port search.
* :func:`tag32`: stable 32-bit identities of VIPs and backends (never 0: 0 marks an
  empty ring slot), from BLAKE2b so that they do not depend on Python's hash seed.
"""

from __future__ import annotations

import hashlib
import struct

__all__ = ["FLOW_SEED", "SNAT_SALT", "flow_hash", "flow_key_bytes", "fmix32", "snat_hash", "tag32"]

FLOW_SEED = 0x5A17C0DE  # LB_FLOW_SEED in lb.bpf.c
SNAT_SALT = 0x9E3779B9  # LB_SNAT_SALT
_C1, _C2 = 0xCC9E2D51, 0x1B873593
_M32 = 0xFFFFFFFF
_KEY = struct.Struct("<16s16sHHB3x")  # struct lb_flow_key


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def fmix32(h: int) -> int:
    """MurmurHash3's finalizer (``lb_fmix`` in C)."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    return h ^ (h >> 16)


def flow_key_bytes(client: bytes, vip: bytes, cport: int, vport: int, proto: int) -> bytes:
    """``struct lb_flow_key``: 16-byte addresses (IPv4 mapped), ports in host order."""
    return _KEY.pack(client, vip, cport, vport, proto)


def flow_hash(key: bytes) -> int:
    """MurmurHash3_x86_32 of a flow key (a multiple of 4 bytes), seeded with FLOW_SEED."""
    h = FLOW_SEED
    for (w,) in struct.iter_unpack("<I", key):
        w = (w * _C1) & _M32
        w = (_rotl(w, 15) * _C2) & _M32
        h ^= w
        h = (_rotl(h, 13) * 5 + 0xE6546B64) & _M32
    return fmix32(h ^ len(key))


def snat_hash(h: int) -> int:
    """Where a flow's SNAT port search starts (``lb_snat_hash`` in C)."""
    return fmix32(h ^ SNAT_SALT)


def tag32(*parts: bytes) -> int:
    """A stable, non-zero 32-bit identity of ``parts``."""
    digest = hashlib.blake2b(b"\0".join(parts), digest_size=4, person=b"alveole-lb").digest()
    return int.from_bytes(digest, "little") or 1
