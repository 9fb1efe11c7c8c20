"""Matches that end a lookup: the rules no later tree can beat.

The kernel walks the trees of a family and protocol class in order of their best rule and
stops when the next tree's best rule ranks after the match in hand. That bound is per
tree, and each tree's best rule ranks near the top, so most packets walk every tree. The
bound per *rule* is much tighter: a packet that rule ``r`` matches lies in ``r``'s box,
so only the rules of later trees that rank before ``r`` *and* intersect its box can beat
it. When there is none, ``r`` is *final* in that class: its match ends the lookup (the
kernel reads the flag from the rule's record only when the rule matches; the classifier
keeps one flag per family, set when the rule is final in every class it is in). At 100k
random rules this skips ~0.3 of the ~3 trees a packet walks (see docs/vnfs/firewall.md).

Intersections are computed over the exact boxes (128-bit addresses as two 64-bit halves),
candidates in rank order, chunk by chunk, most rules being settled by the first chunks
(a rule stops being a candidate for "final" at its first better intersecting rule). A
final rule is only known as such once every better candidate was tested: past
:data:`PAIRS_MAX` pairs, the rules still open are left not final.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .match import Match

__all__ = ["PAIRS_MAX", "final_ranks"]

_M64 = (1 << 64) - 1
# columns of a box table: rank, then per dimension lo (hi64, lo64) and hi (hi64, lo64)
_DIMS = 5
_CHUNK = 512  # candidates per step
_BLOCK = 8192  # open rules per step (bounds the pair matrix)
# pairs a class may test (~1 s here): past it, the rules not settled yet are left not final
# (always correct, only slower). 100k random rules test 0.14 G in their largest class; rule
# sets whose trees rarely intersect (every rule final) would test ~n^2 / 4 without it.
PAIRS_MAX = 1 << 28


def _boxes(rules: Sequence[tuple[int, Match]]) -> np.ndarray:
    rows = []
    for rank, m in rules:
        row = [rank]
        for lo, hi in (m.src, m.dst, m.proto, m.sport, m.dportx):
            row += [lo >> 64, lo & _M64, hi >> 64, hi & _M64]
        rows.append(row)
    return np.array(rows, dtype=np.uint64).reshape(len(rows), 1 + 4 * _DIMS)


def _coarse(boxes: np.ndarray, family: int) -> list[np.ndarray]:
    """Contiguous 64-bit columns for a first, conservative pass: rank, then lo and hi of
    the source, the destination and dportx. An address goes to 64 bits through the half
    that tells prefixes apart: the high one for IPv6; the low one for IPv4 (``::ffff:a.b.c.d``),
    where an interval spanning several high halves becomes the whole range (no false miss)."""
    cols = [boxes[:, 0].copy()]
    for d in (0, 1):
        c = 1 + 4 * d
        if family == 6:
            cols += [boxes[:, c].copy(), boxes[:, c + 2].copy()]
        else:
            one = boxes[:, c] == boxes[:, c + 2]
            cols += [
                np.where(one, boxes[:, c + 1], 0),
                np.where(one, boxes[:, c + 3], _M64).astype(np.uint64),
            ]
    c = 1 + 4 * 4
    cols += [boxes[:, c + 1].copy(), boxes[:, c + 3].copy()]
    return cols


def _le(a_hi: np.ndarray, a_lo: np.ndarray, b_hi: np.ndarray, b_lo: np.ndarray) -> np.ndarray:
    """a <= b for 128-bit values split in halves."""
    return (a_hi < b_hi) | ((a_hi == b_hi) & (a_lo <= b_lo))


def _meets(a: np.ndarray, b: np.ndarray, d: int) -> np.ndarray:
    """Whether box rows a and b (same shape) intersect in dimension d."""
    c = 1 + 4 * d
    return _le(a[:, c], a[:, c + 1], b[:, c + 2], b[:, c + 3]) & _le(
        b[:, c], b[:, c + 1], a[:, c + 2], a[:, c + 3]
    )


def _beaten(mine: np.ndarray, cm: list[np.ndarray], cand: np.ndarray, cc: list[np.ndarray]) -> np.ndarray:
    """For each of ``mine`` (boxes, and their coarse columns), whether a candidate ranking
    before it intersects its box."""
    pairs = cc[0][None, :] < cm[0][:, None]
    for i in (1, 3, 5):
        pairs &= cc[i][None, :] <= cm[i + 1][:, None]
        pairs &= cm[i][:, None] <= cc[i + 1][None, :]
    oi, ci = np.nonzero(pairs)
    # exact, on the pairs left (dportx fits in the low half: the coarse pass was exact there)
    for d in (0, 1, 3, 2):
        if not len(oi):
            break
        keep = _meets(mine[oi], cand[ci], d)
        oi, ci = oi[keep], ci[keep]
    out = np.zeros(len(mine), dtype=bool)
    out[oi] = True
    return out


def final_ranks(trees: Sequence[Sequence[tuple[int, Match]]], family: int) -> set[int]:
    """The ranks whose match ends the walk of ``trees`` (one class's trees, in walk order,
    each a list of (rank, match)). The last tree's rules are all final: no tree follows."""
    out: set[int] = set()
    for i, tree in enumerate(trees):
        later = [r for t in trees[i + 1 :] for r in t]
        if not later:
            out.update(rank for rank, _ in tree)
            continue
        mine = _boxes(tree)
        cand = _boxes(sorted(later, key=lambda rm: rm[0]))
        mc, cc = _coarse(mine, family), _coarse(cand, family)
        open_ = np.ones(len(mine), dtype=bool)  # not beaten so far
        pairs = 0
        for start in range(0, len(cand), _CHUNK):
            chunk = cand[start : start + _CHUNK]
            # rules ranking before the whole chunk are settled: nothing later can beat them
            idx = np.nonzero(open_ & (mine[:, 0] > chunk[0, 0]))[0]
            if not len(idx):
                break
            pairs += len(idx) * len(chunk)
            if pairs > PAIRS_MAX:
                open_[idx] = False  # out of budget: unknown, so not final
                break
            cch = [col[start : start + _CHUNK] for col in cc]
            for b in range(0, len(idx), _BLOCK):
                part = idx[b : b + _BLOCK]
                open_[part[_beaten(mine[part], [col[part] for col in mc], chunk, cch)]] = False
        out.update(int(r) for r in mine[open_, 0])
    return out
