"""Maglev consistent hashing (Eisenbud et al., NSDI 2016), weighted, in plain Python.

A table of ``size`` slots (a prime, 65537 by default, more than 100 x the backends) is
filled by the backends taking turns; at its turn a backend takes the next free slot of
its own permutation of the slots, ``(offset + j * skip) mod size`` for j = 0, 1, ...,
where offset and skip come from two hashes of the backend's name (so the permutation
depends on nothing else). A flow's slot is its 5-tuple hash modulo ``size``.

Weights: turns are scheduled in proportion to weight (backend i's k-th turn comes at
virtual time k / w_i, earliest first, ties by position), so a backend's share of slots
is its share of the weights, within one slot. Equal weights give the paper's round
robin: every backend holds floor or ceil of size / n slots.

Properties (tested in tests/unit/test_vnf_lb_model.py): balance (equal weights: slot
counts within 1%), minimal disruption (removing a backend moves few of the others'
slots), reproducibility (same input, same table: hashes are BLAKE2b, not Python's
salted hash). Cost: about size x ln(size) permutation steps; 65537 slots take ~0.2 s
here, so tables are cached by their input.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
from collections.abc import Sequence

__all__ = ["DEFAULT_SIZE", "EMPTY", "build", "is_prime", "moved", "permutation", "shares"]

DEFAULT_SIZE = 65537
EMPTY = -1  # a slot no backend holds (no backends)
_SCALE = 1 << 40  # virtual-time resolution of the weighted turns


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    f = 3
    while f * f <= n:
        if n % f == 0:
            return False
        f += 2
    return True


def permutation(name: bytes, size: int) -> tuple[int, int]:
    """(offset, skip) of a backend named ``name``: offset in [0, size), skip in [1, size)."""
    d = hashlib.blake2b(name, digest_size=16, person=b"alveole-maglev").digest()
    return int.from_bytes(d[:8], "little") % size, int.from_bytes(d[8:], "little") % (size - 1) + 1


@functools.lru_cache(maxsize=64)
def build(backends: tuple[tuple[bytes, int], ...], size: int = DEFAULT_SIZE) -> tuple[int, ...]:
    """The table: for each slot, the position in ``backends`` of the backend holding it.

    ``backends`` are (name, weight) pairs; backends of weight 0 hold no slot. With no
    backend of positive weight every slot is :data:`EMPTY`. ``size`` must be a prime
    (every skip then visits every slot).
    """
    if not is_prime(size):
        raise ValueError(f"Maglev table size {size} is not a prime")
    table = [EMPTY] * size
    live = [(i, name, w) for i, (name, w) in enumerate(backends) if w > 0]
    if not live:
        return tuple(table)
    pos: dict[int, int] = {}
    skip: dict[int, int] = {}
    step: dict[int, int] = {}
    turns: list[tuple[int, int, int]] = []  # (virtual time of the next turn, position, turns taken)
    for i, name, w in live:
        pos[i], skip[i] = permutation(name, size)
        step[i] = _SCALE // w
        turns.append((step[i], i, 1))
    heapq.heapify(turns)
    filled = 0
    pop, push = heapq.heappop, heapq.heappush
    while filled < size:
        _, i, k = pop(turns)
        c, s = pos[i], skip[i]
        while table[c] != EMPTY:
            c += s
            if c >= size:
                c -= size
        table[c] = i
        pos[i] = c
        filled += 1
        push(turns, (step[i] * (k + 1), i, k + 1))
    return tuple(table)


def shares(table: Sequence[int], n: int) -> list[int]:
    """Slots held by each of ``n`` backends."""
    out = [0] * n
    for i in table:
        if i != EMPTY:
            out[i] += 1
    return out


def moved(old: Sequence[bytes | None], new: Sequence[bytes | None]) -> int:
    """Slots whose backend (by name) differs between two tables given as slot -> name."""
    return sum(1 for a, b in zip(old, new, strict=True) if a != b)
