"""The packet classifier: multi-way decision trees with bit-aligned cuts, compiled in Python.

The algorithm is HiCuts/HyperCuts, adapted to what BPF does cheaply. Measured here: one
level of a tree (an array lookup whose index depends on the previous one) costs ~5 ns,
checking one rule of a leaf ~2 ns; so the compiler buys levels with memory.

* **Fields.** A packet is classified on 5 dimensions: source and destination address
  (32 bits in IPv4 trees, 128 in IPv6 trees), IP protocol (8), source port (16) and the
  extended destination port ``dportx`` (17, see :mod:`.match`).
* **Trees per family and protocol class** (TCP, UDP, ICMP, other: :func:`proto_class`).
  The class picks the trees, a first cut that costs no lookup; inside a TCP, UDP or ICMP
  tree the protocol is known and never cut. Rules without an address are in both
  families' trees, rules without a protocol in every class.
* **Several trees per class** (EffiCuts): rules narrow in the source address, rules
  narrow in the destination only, and rules wide in both go to separate trees, so that
  wildcard rules are not copied into every address cut of the narrow ones. The kernel
  walks a class's trees in order of their best (lowest-ranked) rule and skips a tree
  whose best rule cannot beat the match it already has. The tree of wide rules, when
  large, has its own shape (:data:`WIDE_BINTH`, :data:`WIDE_TOP_SPFAC`): hundreds of its
  rules cover any one point, so cuts separate them poorly and replicate them a lot.
* **Nodes** cut one or two dimensions (HyperCuts) on bit-aligned ranges of one 32-bit
  key word each: ``child = base + (i << bits2 | i2)`` with ``i = (word >> shift) & kmask``.
  Children are stored *inline*: a node's children are consecutive slots of one table,
  each a full copy of the child's own record, so a level is one array lookup. A node may
  first *check* the leading bits all its non-wildcard rules share in a dimension (path
  compression: 198.18.0.0/15 or 2001:db8::/32 cost no level): a packet whose bits
  differ can only match wildcard rules, and goes to the node's miss slot, built from them.
* **Roots of large trees cut three dimensions.** A root lives in the config header, not
  in a slot, so its record has room for a third cut (``field3``...): its bits are the low
  bits of the child's index (the children of a two-dimension cut, each one ``1 << bits3``
  times).
  A tree of more than :data:`ROOT3_MIN` rules whose best pair of cuts still leaves more
  than :data:`ROOT3_SPREAD` rules per child gets one, within a budget of its own
  (:data:`ROOT3_SPFAC`) and :data:`ROOT3_KMAX` bits, one more where that bit lowers the
  spread by a tenth (:data:`ROOT3_BIT_GAIN`): at 100k rules, the tree of wide rules
  reaches its leaves in 1.2 lookups instead of 2.2 (its children are the cells a
  two-level subtree reached), and the narrow trees check a rule less per leaf.
* **Choosing a cut.** For each dimension (and pair of dimensions), the widest cut whose
  children's rule lists, summed, stay within the replication budget (``spfac`` times the
  node's rules, plus ``MIN_BUDGET``); among those, the cut that leaves a rule in the
  smallest child on average (children weighted by their sizes: packets go where rules
  are, so empty children do not make a cut look good).
* **Leaves** hold at most ``binth`` rules (more only where nothing separates them), in
  priority order; the kernel checks them completely and stops at the first match, so the
  tree only has to guarantee that every rule matching a packet is in the leaf the packet
  reaches. Rule lists are cut short after a rule that covers the node's whole region (the
  rest can never win there), rules covered by an earlier rule are dropped from leaves,
  identical sibling subtrees and identical leaves are shared. A leaf's list starts a
  block of :data:`LEAF_BLOCK` entries (the kernel reads 8 rule indexes per lookup).

The cost of a lookup depends on the depth of the trees (bounded by :data:`DEPTH_MAX`, in
practice 1-3 levels) and on leaf sizes, not on the number of rules.

Output: flat arrays (slots, leaf rule lists) that :mod:`.tables` writes into the maps,
and :meth:`Classifier.walk`, a walk of those arrays that mirrors the BPF code.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ...errors import VnfError
from .final import final_ranks
from .match import Match, PacketKey

__all__ = [
    "BINTH",
    "DEPTH_MAX",
    "EMPTY",
    "KEY_WORDS",
    "LEAF_BLOCK",
    "LEAF_INLINE",
    "LEAF_MAX",
    "LEAF_PAD",
    "PROTO_CLASSES",
    "TREES_MAX",
    "Classifier",
    "ClassifierError",
    "Slot",
    "compile_classifier",
    "key_words",
    "proto_class",
]

# the C side has the same constants (firewall.bpf.c; a kernel test compares them through BTF)
DEPTH_MAX = 24  # nodes on a path (cuts and checks)
LEAF_MAX = 64  # rules in one leaf (the kernel's leaf loop bound)
TREES_MAX = 4  # trees per family and protocol class
PROTO_CLASSES = 4  # TCP, UDP, ICMP, other
KEY_WORDS = 11  # src[4], dst[4], proto, sport, dportx
LEAF_BLOCK = 8  # rule indexes per fw_leaves entry: a leaf's list starts an entry
LEAF_INLINE = 4  # ... and its first rules are also in the leaf's own record (no fw_leaves lookup)
LEAF_PAD = -1  # fills the rest of a leaf's last entry (never read: the leaf has its count)

BINTH = 8  # a node with at most this many rules is a leaf
SPFAC = 16.0  # replication budget of a cut, per rule of the node
# the tree of rules wide in both addresses (see _partition): hundreds of them cover any one
# point, so a cut separates them poorly and replicates them a lot; its top levels get a bigger
# budget (fewer levels where every packet passes) and its leaves more rules (cuts that remove a
# rule or two per level cost a lookup each and multiply nodes: at 100k rules this tree was 3.6
# levels deep and half the build time)
WIDE_BINTH = 16
WIDE_TOP_SPFAC = 64.0
WIDE_TOP_DEPTH = 2  # levels 0 and 1
WIDE_MIN = 256  # ... when it is that big (a small one is one level anyway: small leaves check less)
# a root may cut a third dimension (its record is in the header): when its tree has more than
# ROOT3_MIN rules and its best pair of cuts leaves more than ROOT3_SPREAD rules per child (a
# 10k-rule tree's pair leaves ~2: a third cut would double its memory for little); its budget
# is about what the two levels it replaces took; the third cut takes at most ROOT3_K2 bits
ROOT3_MIN = 1024
ROOT3_SPREAD = 2.0
ROOT3_SPFAC = 4096.0
ROOT3_BUDGET = 1 << 24
ROOT3_K2 = 8
ROOT3_KMAX = 18  # bits of the three cuts together, and one more where it lowers the spread
ROOT3_BIT_GAIN = 0.9  # by a tenth (the bit doubles the root's slots): at 100k rules 4 of the 9
# big roots take it (a packet checks 6.18 -> 5.46 rules; slots 2.9 M -> 3.9 M, where 19 bits
# everywhere took 4.7 M for 5.44 checks); a 20th bit gained under 5% on every root (tried)
MIN_BUDGET = 64  # small nodes may cut a little wider than their share (a level saved)
MAX_BUDGET = 1 << 18  # ... and no node copies rules more than this (memory, build time)
KMAX = 16  # at most 2**16 children per node
PAIR_MIN = 32  # nodes with more rules than this also try two-dimension cuts
PAIR_GAIN = 0.8  # ... and take one when its children are this much smaller
ENOUGH = 1.1  # a cut uses the fewest bits that separate rules within 10% of its widest cut
_MEMO_MAX = 64  # identical rule lists up to this size share one subtree
_WIDE = {4: 24, 6: 64}  # a prefix shorter than this is "wide" (tree partition)
_TCP, _UDP, _OTHER = 0, 1, 3


class ClassifierError(VnfError):
    """A rule set the classifier cannot represent within the kernel's bounds."""


@dataclass(frozen=True)
class _Dim:
    width: int
    words: tuple[int, ...]  # key word indexes, most significant first

    @property
    def pad(self) -> int:
        return 32 * len(self.words) - self.width


_DIMS = {
    4: (_Dim(32, (3,)), _Dim(32, (7,)), _Dim(8, (8,)), _Dim(16, (9,)), _Dim(17, (10,))),
    6: (_Dim(128, (0, 1, 2, 3)), _Dim(128, (4, 5, 6, 7)), _Dim(8, (8,)), _Dim(16, (9,)), _Dim(17, (10,))),
}


class Slot(NamedTuple):
    """``struct fw_slot``: an internal node or a leaf.

    Node: when ``key[field] & cmask == cvalue`` and ``key[field2] & cmask2 == cvalue2``, go to
    slot ``base + (i << bits2 | i2)`` with ``i = (key[field] >> shift) & kmask`` and ``i2 =
    (key[field2] >> shift2) & kmask2`` (a one-dimension cut has ``kmask2`` and ``bits2`` 0; a
    check-only node has ``kmask`` 0 too: one child). The miss slots follow the ``n =
    (kmask + 1) << bits2`` children: ``base + n`` when the first check fails (only the first
    field's wildcards can match), ``base + n + 1`` when the second one does. Leaf: ``kmask``
    rules from ``base`` in the leaf rule table.

    Roots only (``struct fw_root``): a third cut, when ``kmask3`` is not 0. Its ``bits3``
    bits ``i3 = (key[field3] >> shift3) & kmask3`` are the low bits of the child's index,
    ``base + ((i << bits2 | i2) << bits3 | i3)`` (shifts only: no multiply on the walk),
    and the miss slots follow the ``n << bits3`` children; a failed third check goes to
    slot ``miss3`` (``empty`` bit 2: to no rule). Without a third cut all of these are 0.
    """

    leaf: bool
    field: int
    shift: int
    kmask: int
    cmask: int
    cvalue: int
    base: int
    field2: int = 0
    shift2: int = 0
    kmask2: int = 0
    cmask2: int = 0
    cvalue2: int = 0
    bits2: int = 0
    empty: int = 0  # bit i: miss slot i is an empty leaf (the kernel stops without looking it up)
    # roots only: a third field gives the low ``bits3`` bits of the child's index
    field3: int = 0
    shift3: int = 0
    kmask3: int = 0
    cmask3: int = 0
    cvalue3: int = 0
    bits3: int = 0
    miss3: int = 0  # where a packet goes when the third check fails (empty bit 2: nowhere)

    def child(self, words: list[int]) -> int | None:
        """The index of the slot a packet with key ``words`` goes to next (None: an empty miss)."""
        v3 = words[self.field3]
        if v3 & self.cmask3 != self.cvalue3:
            return None if self.empty >> 2 & 1 else self.miss3
        i3 = (v3 >> self.shift3) & self.kmask3
        v, v2 = words[self.field], words[self.field2]
        miss = 0 if v & self.cmask != self.cvalue else 1 if v2 & self.cmask2 != self.cvalue2 else -1
        if miss < 0:
            i = ((v >> self.shift) & self.kmask) << self.bits2 | ((v2 >> self.shift2) & self.kmask2)
            return self.base + (i << self.bits3 | i3)
        if self.empty >> miss & 1:
            return None
        return self.base + ((self.kmask + 1) << self.bits2 << self.bits3) + miss


EMPTY = Slot(True, 0, 0, 0, 0, 0, 0)  # a leaf without rules


def key_words(k: PacketKey) -> list[int]:
    """The 11 key words the kernel classifies on (host order)."""
    m = 0xFFFFFFFF
    return [
        (k.src >> 96) & m,
        (k.src >> 64) & m,
        (k.src >> 32) & m,
        k.src & m,
        (k.dst >> 96) & m,
        (k.dst >> 64) & m,
        (k.dst >> 32) & m,
        k.dst & m,
        k.proto,
        k.sport,
        k.dportx,
    ]


def proto_class(family: int, proto: int) -> int:
    """The trees a packet of ``proto`` uses: 0 TCP, 1 UDP, 2 ICMP (of its family), 3 other."""
    if proto == 6:
        return _TCP
    if proto == 17:
        return _UDP
    if proto == (1 if family == 4 else 58):
        return 2
    return _OTHER


@dataclass
class Classifier:
    """A compiled rule set: trees per family and protocol class over one slot table and one
    leaf table.

    ``rules[i]`` is the match of the rule of rank ``i`` (priority order); leaves hold ranks.
    ``roots[(family, protocol class)]`` lists ``(root slot, best rank)`` per tree, best rank
    first; the kernel keeps the root slots in the config header (a lookup less per tree).
    """

    rules: list[Match]
    slots: list[Slot] = field(default_factory=list)
    leaves: list[int] = field(default_factory=list)
    roots: dict[tuple[int, int], list[tuple[Slot, int]]] = field(default_factory=dict)
    depth: dict[int, int] = field(default_factory=dict)  # deepest path per family
    # per rank, bit 0 (IPv4) / 1 (IPv6): a match of that rule ends the walk (final.py)
    final: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.final = self.final or [0] * len(self.rules)  # none known: every tree is walked

    def walk(self, key: PacketKey) -> tuple[int | None, int, int]:
        """(rank of the first matching rule, slots looked up, rules checked): the kernel's walk."""
        words = key_words(key)
        best: int | None = None
        lookups = checks = 0
        for root, min_rank in self.roots.get((key.family, proto_class(key.family, key.proto)), []):
            if best is not None and (min_rank >= best or self.final[best] >> (key.family == 6) & 1):
                break
            s = root
            for _ in range(DEPTH_MAX):
                if s.leaf:
                    break
                nxt = s.child(words)
                if nxt is None:
                    s = EMPTY
                    break
                lookups += 1
                s = self.slots[nxt]
            if not s.leaf:
                raise ClassifierError("walk deeper than DEPTH_MAX")
            for rank in self.leaves[s.base : s.base + s.kmask]:
                if best is not None and rank >= best:
                    break
                checks += 1
                if self.rules[rank].matches(key):
                    best = rank
                    break
        return best, lookups, checks

    def lookup(self, key: PacketKey) -> int | None:
        """The rank of the first rule matching ``key``, found the way the kernel finds it."""
        return self.walk(key)[0]

    def stats(self) -> dict[str, int]:
        return {
            "rules": len(self.rules),
            "slots": len(self.slots),
            "leaf_entries": len(self.leaves),
            "trees_ipv4": sum(len(self.roots.get((4, c), [])) for c in range(PROTO_CLASSES)),
            "trees_ipv6": sum(len(self.roots.get((6, c), [])) for c in range(PROTO_CLASSES)),
            "depth_ipv4": self.depth.get(4, 0),
            "depth_ipv6": self.depth.get(6, 0),
        }


# a rule inside the builder: (rank, lo0, hi0, ..., lo4, hi4), intervals relative to the node's region
_Item = tuple[int, ...]
# one dimension of a cut, as split() runs it: lo index in an item, full, low bits, kmask, checks
_Part = tuple[int, int, int, int, bool]


def _items(rules: Sequence[tuple[int, Match]], family: int, fixed_proto: bool) -> list[_Item]:
    """Rules as builder items; ``fixed_proto``: the tree's packets all have one protocol (the
    dimension is spent: every rule covers it)."""
    low = (1 << 32) - 1 if family == 4 else (1 << 128) - 1
    out = []
    for rank, m in rules:
        proto = (0, 0) if fixed_proto else m.proto
        out.append(
            (
                rank,
                m.src[0] & low,
                m.src[1] & low,
                m.dst[0] & low,
                m.dst[1] & low,
                *proto,
                *m.sport,
                *m.dportx,
            )
        )
    return out


@dataclass(frozen=True)
class _Axis:
    """What one dimension offers at one node.

    ``tlo``/``thi``: per rule, its interval below the common bits, at ``res`` bits of
    resolution (enough for any cut here; wildcards span everything).
    """

    d: int
    wild: int  # rules that cover the whole dimension here
    narrow: int
    width: int  # bits left in the dimension
    skip: int  # leading bits every non-wildcard rule shares
    common: int  # their value
    pb0: int  # first free bit, counted in the padded key words
    pb: int  # first bit a cut uses
    kmax: int  # widest cut possible here (0: a check only)
    res: int
    tlo: np.ndarray
    thi: np.ndarray
    two_words: bool = False  # its common bits end in the word before the cut's

    def cuts(self, dim: _Dim, k: int) -> list[_Cut]:
        """The node fields that run a cut of ``k`` bits: the cut (with the check of the common
        bits in its word), after a check-only field for the previous word if needed."""
        cut_word, lo_bit = self.pb // 32, 32 - self.pb % 32
        if not self.two_words:
            cmask = ((1 << self.skip) - 1) << lo_bit if self.skip else 0
            return [
                _Cut(
                    dim.words[cut_word],
                    lo_bit - k,
                    (1 << k) - 1,
                    cmask,
                    self.common << lo_bit if self.skip else 0,
                    k,
                )
            ]
        seg0 = 32 - self.pb0 % 32  # common bits in the previous word: up to its end
        seg1 = self.skip - seg0  # ... and in the cut's word, before the cut
        first = _Cut(dim.words[cut_word - 1], 0, 0, (1 << seg0) - 1, self.common >> seg1, 0)
        low1 = (1 << seg1) - 1
        cut = _Cut(
            dim.words[cut_word], lo_bit - k, (1 << k) - 1, low1 << lo_bit, (self.common & low1) << lo_bit, k
        )
        return [first, cut]

    def spans(self, k: int) -> np.ndarray:
        s = self.res - k
        return (self.thi >> s) - (self.tlo >> s) + 1


@dataclass(frozen=True)
class _Cut:
    """One dimension of a node, as the kernel runs it."""

    field: int
    shift: int
    kmask: int
    cmask: int
    cvalue: int
    k: int

    @classmethod
    def none(cls) -> _Cut:
        return cls(0, 0, 0, 0, 0, 0)


@dataclass(frozen=True)
class _Shape:
    """How one tree is cut: leaf size, replication budget per rule, and a bigger budget for the
    top ``top_depth`` levels."""

    binth: int
    spfac: float
    top_spfac: float = 0.0
    top_depth: int = 0

    def budget(self, rules: int, depth: int) -> float:
        spfac = self.top_spfac if depth < self.top_depth else self.spfac
        return min(spfac * rules + MIN_BUDGET, MAX_BUDGET)


class _Builder:
    def __init__(self, out: Classifier, family: int, shape: _Shape) -> None:
        self.out = out
        self.dims = _DIMS[family]
        self.widths = [d.width for d in self.dims]
        self.shape = shape
        self.memo: dict[tuple, Slot] = {}
        self.leaf_memo: dict[tuple[int, ...], Slot] = {}
        self.depth = 0

    # --- leaves and slots ------------------------------------------------------------------------
    def leaf(self, items: list[_Item]) -> Slot:
        kept: list[_Item] = []
        for it in items:
            # whether an earlier kept rule covers it (within the region), written out: millions
            # of pairs at 100k rules
            _, l0, h0, l1, h1, l2, h2, l3, h3, l4, h4 = it
            for k in kept:
                if (
                    k[1] <= l0
                    and h0 <= k[2]
                    and k[3] <= l1
                    and h1 <= k[4]
                    and k[5] <= l2
                    and h2 <= k[6]
                    and k[7] <= l3
                    and h3 <= k[8]
                    and k[9] <= l4
                    and h4 <= k[10]
                ):
                    break
            else:
                kept.append(it)
        ranks = tuple(it[0] for it in kept)
        rec = self.leaf_memo.get(ranks)
        if rec is None:
            if len(ranks) > LEAF_MAX:
                raise ClassifierError(
                    f"{len(ranks)} rules cannot be told apart by any field (the kernel checks at most "
                    f"{LEAF_MAX} in one leaf); simplify the overlapping rules"
                )
            leaves = self.out.leaves
            leaves.extend([LEAF_PAD] * (-len(leaves) % LEAF_BLOCK))
            rec = Slot(True, 0, 0, len(ranks), 0, 0, len(leaves)) if ranks else EMPTY
            leaves.extend(ranks)
            self.leaf_memo[ranks] = rec
        return rec

    def node(self, cuts: list[_Cut], children: list[Slot], misses: tuple[Slot, ...]) -> Slot:
        """A node record; its children (and its two miss slots after them, when it checks) go
        into the table. A third cut (roots): its bits are the low bits of a child's index."""
        slots = self.out.slots
        base = len(slots)
        c0, c1, c2 = (*cuts, _Cut.none(), _Cut.none())[:3]
        n = len(children) >> c2.k
        checks = bool(c0.cmask or c1.cmask)
        # children come as c2 << (k0 + k1) | c0 << k1 | c1; the table wants (c0 << k1 | c1) << k2 | c2
        slots.extend(children[(i & ((1 << c2.k) - 1)) * n + (i >> c2.k)] for i in range(len(children)))
        if checks:
            slots.extend(misses[:2])
        empty = sum(1 << i for i, m in enumerate(misses[:2]) if checks and m.leaf and m.kmask == 0)
        miss3 = 0
        if c2.cmask:
            m3 = misses[2]
            if m3.leaf and m3.kmask == 0:
                empty |= 4
            else:
                miss3 = len(slots)
                slots.append(m3)
        return Slot(
            False, c0.field, c0.shift, c0.kmask, c0.cmask, c0.cvalue, base,
            c1.field, c1.shift, c1.kmask, c1.cmask, c1.cvalue, c1.k, empty,
            c2.field, c2.shift, c2.kmask, c2.cmask, c2.cvalue, c2.k, miss3,
        )  # fmt: skip

    # --- internal nodes ---------------------------------------------------------------------------
    def build(self, items: list[_Item], pos: tuple[int, ...], depth: int) -> Slot:
        self.depth = max(self.depth, depth)
        fulls = [(1 << (w - p)) - 1 for w, p in zip(self.widths, pos, strict=True)]
        for i, it in enumerate(items):
            if _covers_region(it, fulls):
                del items[i + 1 :]  # nothing after a rule covering the whole region can win here
                break
        if len(items) <= self.shape.binth:
            return self.leaf(items)
        memo_key = (pos, tuple(items)) if len(items) <= _MEMO_MAX else None
        if memo_key is not None and memo_key in self.memo:
            return self.memo[memo_key]
        rec = self.leaf(items) if depth + 1 >= DEPTH_MAX else self.cut(items, pos, fulls, depth)
        if memo_key is not None:
            self.memo[memo_key] = rec
        return rec

    def axis(self, items: list[_Item], pos: tuple[int, ...], fulls: list[int], d: int) -> _Axis | None:
        """What dimension ``d`` offers at this node (None: every rule covers it)."""
        full = fulls[d]
        if full == 0:
            return None
        lo_i, hi_i = 1 + 2 * d, 2 + 2 * d
        los = [it[lo_i] for it in items]
        his = [it[hi_i] for it in items]
        ref, diff, narrow = None, 0, 0
        for lo, hi in zip(los, his, strict=True):
            if lo != 0 or hi != full:
                if ref is None:
                    ref = lo
                diff |= (lo ^ ref) | (hi ^ ref)
                narrow += 1
        if ref is None:
            return None
        width = full.bit_length()
        skip = width - diff.bit_length()
        pb0 = self.dims[d].pad + pos[d]
        pb = pb0 + skip
        rel = width - skip
        # a cut sits in one key word; its check may cover the rest of the previous word too (the
        # node's second field then checks that word): common bits over two boundaries or more
        # (an IPv6 prefix) take a check-only node first
        spans = pb // 32 - pb0 // 32 if skip else 0
        kmax = min(KMAX, 32 - pb % 32, rel) if rel > 0 and spans <= 1 else 0
        res = min(rel, KMAX)
        low, drop = (1 << rel) - 1, rel - res
        pairs = list(zip(los, his, strict=True))
        two_words = spans == 1
        tlo = np.fromiter(
            ((lo & low) >> drop if lo or hi != full else 0 for lo, hi in pairs), np.int64, len(items)
        )
        thi = np.fromiter(
            ((hi & low) >> drop if lo or hi != full else (1 << res) - 1 for lo, hi in pairs),
            np.int64,
            len(items),
        )
        common = ref >> rel if skip else 0
        return _Axis(
            d, len(items) - narrow, narrow, width, skip, common, pb0, pb, kmax, res, tlo, thi, two_words
        )

    def cut(self, items: list[_Item], pos: tuple[int, ...], fulls: list[int], depth: int) -> Slot:
        axes = [a for d in range(5) if (a := self.axis(items, pos, fulls, d)) is not None]
        if not axes:
            return self.leaf(items)  # nothing separates them: the leaf check decides
        budget = self.shape.budget(len(items), depth)
        best: tuple[float, list[tuple[_Axis, int]]] | None = None
        for a in axes:
            if a.kmax:
                k, score = _enough(a, _widest(a, a.kmax, budget))
                if best is None or score < best[0]:
                    best = (score, [(a, k)])
        if best is not None and len(items) > PAIR_MIN and not best[1][0][0].two_words:
            # HyperCuts: two fields in one node, when that leaves smaller children
            a0 = best[1][0][0]
            for a1 in axes:
                if a1 is a0 or not a1.kmax or a1.two_words:
                    continue
                for k1 in range(1, a1.kmax + 1):
                    k0 = _widest(a0, min(a0.kmax, KMAX - k1), budget, [(a1, k1)])
                    if k0 == 0:
                        break
                    score = _spread([(a0, k0), (a1, k1)])
                    if score < best[0] * PAIR_GAIN:
                        best = (score, [(a0, k0), (a1, k1)])
        if (
            depth == 0
            and len(items) > ROOT3_MIN
            and best is not None
            and len(best[1]) == 2
            and best[0] > ROOT3_SPREAD
        ):
            best, wider = _triples(axes, best, len(items))
            if wider[0] <= best[0] * ROOT3_BIT_GAIN:
                best = wider
        # a dimension whose common bits run into the next key word (an IPv6 prefix) cannot be
        # cut here: a check-only node first, when the cut after it beats the cuts possible now
        for a in axes:
            if a.kmax:
                continue
            seg, passed = self.checked(items, fulls, a)
            after = self.axis(
                passed, (*pos[: a.d], pos[a.d] + seg, *pos[a.d + 1 :]), _fulls_after(fulls, a, seg), a.d
            )
            score = (
                float(len(items))
                if after is None or not after.kmax
                else _enough(after, _widest(after, after.kmax, budget))[1]
            )
            if best is None or score < best[0] * PAIR_GAIN:
                best = (score, [(a, 0)])
        if best is None:
            return self.check_only(items, pos, fulls, min(axes, key=lambda a: a.narrow), depth)
        if best[1][0][1] == 0:
            return self.check_only(items, pos, fulls, best[1][0][0], depth)
        return self.split(items, pos, fulls, best[1], depth)

    def split(
        self,
        items: list[_Item],
        pos: tuple[int, ...],
        fulls: list[int],
        plan: list[tuple[_Axis, int]],
        depth: int,
    ) -> Slot:
        """Cut ``items`` on one to three dimensions; build the children and the miss subtrees."""
        cuts: list[_Cut] = []
        parts: list[_Part] = []  # per dimension
        for a, k in plan:
            cuts += a.cuts(self.dims[a.d], k)
            s = a.width - a.skip - k
            parts.append((1 + 2 * a.d, fulls[a.d], s, (1 << k) - 1, bool(a.skip)))
        ks = [c.k for c in cuts]
        children: list[list[_Item]] = [[] for _ in range(1 << sum(ks))]
        misses: tuple[list[_Item], ...] = ([], [], [])  # a check fails: that field's wildcards
        if len(parts) == 1:
            _split_one(items, parts[0], children, misses[0])
        elif len(parts) == 2:
            _split_two(items, (parts[0], parts[1]), ks[1], children, misses)
        else:  # a root's third cut: blocks of the first two cuts' children (c2 << k0 + k1 | c0 << k1 | c1)
            _split_three(items, parts, ks, children, misses)
        child_pos = list(pos)
        for a, k in plan:
            child_pos[a.d] = pos[a.d] + a.skip + k
        built: dict[tuple[_Item, ...], Slot] = {}
        recs = []
        for c in children:
            key = tuple(c)
            rec = built.get(key)
            if rec is None:
                rec = built[key] = self.build(c, tuple(child_pos), depth + 1)
            recs.append(rec)
        if len(plan) == 1 and len(cuts) == 2:  # one field over two words: both checks, one miss set
            misses = (misses[0], misses[0] if cuts[1].cmask else [])
        miss_recs = tuple(self.build(m, pos, depth + 1) if m else EMPTY for m in misses)
        return self.node(cuts, recs, miss_recs)

    def checked(self, items: list[_Item], fulls: list[int], a: _Axis) -> tuple[int, list[_Item]]:
        """(bits checked, the items as the check's child sees them) for a check-only node on ``a``:
        the common bits up to the end of their key word."""
        seg = min(a.pb, (a.pb0 // 32 + 1) * 32) - a.pb0
        lo_i = 1 + 2 * a.d
        low = (1 << (a.width - seg)) - 1
        return seg, [(*it[:lo_i], it[lo_i] & low, it[lo_i + 1] & low, *it[lo_i + 2 :]) for it in items]

    def check_only(
        self, items: list[_Item], pos: tuple[int, ...], fulls: list[int], a: _Axis, depth: int
    ) -> Slot:
        """A node that checks the common bits of one dimension within one key word (one child)."""
        seg, passed = self.checked(items, fulls, a)
        lo_bit = 32 - (a.pb0 + seg) % 32 if (a.pb0 + seg) % 32 else 0
        value = a.common >> (a.skip - seg)
        word = self.dims[a.d].words[a.pb0 // 32]
        cut = _Cut(word, 0, 0, ((1 << seg) - 1) << lo_bit, value << lo_bit, 0)
        lo_i, full = 1 + 2 * a.d, fulls[a.d]
        miss = [it for it in items if it[lo_i] == 0 and it[lo_i + 1] == full]
        child_pos = (*pos[: a.d], pos[a.d] + seg, *pos[a.d + 1 :])
        child = self.build(passed, child_pos, depth + 1)
        return self.node([cut], [child], (self.build(miss, pos, depth + 1), EMPTY))


def _split_one(items: list[_Item], part: _Part, children: list[list[_Item]], misses: list[_Item]) -> None:
    """:meth:`_Builder.split` on one dimension (most cuts): the pieces of an item that spans
    several children are one shared tuple (wildcards reach every child: no copy per child)."""
    lo_i, full, s, kmask, checked = part
    low = (1 << s) - 1
    for it in items:
        lo, hi = it[lo_i], it[lo_i + 1]
        head, tail = it[:lo_i], it[lo_i + 2 :]
        if lo == 0 and hi == full:
            whole = (*head, 0, low, *tail)
            for child in children:
                child.append(whole)
            if checked:
                misses.append(it)
            continue
        clo, chi = (lo >> s) & kmask, (hi >> s) & kmask
        if clo == chi:
            children[clo].append((*head, lo & low, hi & low, *tail))
            continue
        children[clo].append((*head, lo & low, low, *tail))
        if chi > clo + 1:
            mid = (*head, 0, low, *tail)
            for c in range(clo + 1, chi):
                children[c].append(mid)
        children[chi].append((*head, 0, hi & low, *tail))


def _split_two(
    items: list[_Item],
    parts: tuple[_Part, _Part],
    k2: int,
    children: list[list[_Item]],
    misses: tuple[list[_Item], list[_Item]],
) -> None:
    """:meth:`_Builder.split` on two dimensions: child ``c0 << k2 | c1`` gets the item's pieces
    in both; equal pieces are one shared tuple (most children get the same middle piece)."""
    lo_a, lo_b = parts[0][0], parts[1][0]
    for it in items:
        pieces = []  # per dimension: [(child index, lo, hi)]
        for i, (lo_i, full, s, kmask, checked) in enumerate(parts):
            lo, hi = it[lo_i], it[lo_i + 1]
            low = (1 << s) - 1
            if lo == 0 and hi == full:
                pieces.append([(c, 0, low) for c in range(kmask + 1)])
                if checked:
                    misses[i].append(it)
                continue
            clo, chi = (lo >> s) & kmask, (hi >> s) & kmask
            if clo == chi:
                pieces.append([(clo, lo & low, hi & low)])
                continue
            mid = [(c, 0, low) for c in range(clo + 1, chi)]
            pieces.append([(clo, lo & low, low), *mid, (chi, 0, hi & low)])
        made: dict[tuple[int, int, int, int], _Item] = {}
        for c0, lo0, hi0 in pieces[0]:
            for c1, lo1, hi1 in pieces[1]:
                sub = made.get((lo0, hi0, lo1, hi1))
                if sub is None:
                    new = list(it)
                    new[lo_a], new[lo_a + 1], new[lo_b], new[lo_b + 1] = lo0, hi0, lo1, hi1
                    sub = made[(lo0, hi0, lo1, hi1)] = tuple(new)
                children[c0 << k2 | c1].append(sub)


def _split_three(
    items: list[_Item],
    parts: list[_Part],
    ks: list[int],
    children: list[list[_Item]],
    misses: tuple[list[_Item], ...],
) -> None:
    """:meth:`_Builder.split` on three dimensions: the third as :func:`_split_one` (a few
    blocks), then each block on the first two as :func:`_split_two`. Misses come from the
    items as they are (a block's pieces are not what a failed check sees)."""
    blocks: list[list[_Item]] = [[] for _ in range(1 << ks[2])]
    _split_one(items, (*parts[2][:4], False), blocks, [])
    n = 1 << (ks[0] + ks[1])
    unchecked = ((*parts[0][:4], False), (*parts[1][:4], False))
    for b, block in enumerate(blocks):
        _split_two(block, unchecked, ks[1], children[b * n : (b + 1) * n], ((), ()))  # type: ignore[arg-type]
    for i, (lo_i, full, _, _, checked) in enumerate(parts):
        if checked:
            misses[i].extend(it for it in items if it[lo_i] == 0 and it[lo_i + 1] == full)


def _triples(
    axes: list[_Axis], pair: tuple[float, list[tuple[_Axis, int]]], n: int
) -> tuple[tuple[float, list[tuple[_Axis, int]]], tuple[float, list[tuple[_Axis, int]]]]:
    """A root may cut a third dimension (its record is in the header, not a slot): the best
    plan within :data:`ROOT3_KMAX` bits in all, and within one bit more (``pair`` when no
    third cut beats it). One search serves both: the first cut's widest width within the
    budget does not depend on the bits cap, the cap only clips it."""
    (a0, _), (a1, k1_pair) = pair[1]
    budget = min(ROOT3_SPFAC * n + MIN_BUDGET, ROOT3_BUDGET)
    bests = [pair, pair]
    for a2 in axes:
        if a2 is a0 or a2 is a1 or not a2.kmax or a2.two_words:
            continue
        for k2 in range(1, min(a2.kmax, ROOT3_K2) + 1):
            for k1 in range(max(1, k1_pair - 2), min(a1.kmax, k1_pair + 3) + 1):
                if k1 + k2 >= ROOT3_KMAX + 1:
                    break
                w = _widest(a0, min(a0.kmax, ROOT3_KMAX + 1 - k1 - k2), budget, [(a1, k1), (a2, k2)])
                if w == 0:
                    break
                scores: dict[int, float] = {}
                for i, kmax in enumerate((ROOT3_KMAX, ROOT3_KMAX + 1)):
                    k0 = min(w, kmax - k1 - k2)
                    if k0 < 1:
                        continue
                    if k0 not in scores:
                        scores[k0] = _spread([(a0, k0), (a1, k1), (a2, k2)])
                    if scores[k0] < bests[i][0] * PAIR_GAIN:
                        bests[i] = (scores[k0], [(a0, k0), (a1, k1), (a2, k2)])
    return bests[0], bests[1]


def _fulls_after(fulls: list[int], a: _Axis, seg: int) -> list[int]:
    """The region's full intervals once ``seg`` more bits of ``a``'s dimension are fixed."""
    out = list(fulls)
    out[a.d] = (1 << (a.width - seg)) - 1
    return out


def _widest(a: _Axis, kmax: int, budget: float, others: Sequence[tuple[_Axis, int]] = ()) -> int:
    """The widest cut of ``a`` (next to the cuts ``others``) within the replication budget.

    Alone, at least one bit; next to others, 0 when even one bit is over budget.
    """
    sb: np.ndarray | None = None
    kb = 0
    for b, k_b in others:
        sb = b.spans(k_b) if sb is None else sb * b.spans(k_b)
        kb += k_b
    k = 0
    for kk in range(1, kmax + 1):
        spans = a.spans(kk)
        total = int((spans * sb).sum() if sb is not None else spans.sum()) + (1 << (kk + kb))
        if total > budget and (kk > 1 or sb is not None):
            break
        k = kk
    return k


def _spread(plan: Sequence[tuple[_Axis, int]]) -> float:
    """The mean size of the child a rule lands in (children weighted by their sizes), for a
    cut of ``k`` bits of each axis in ``plan``: per-child counts by inclusion-exclusion on the
    corners of each rule's box, then a running sum along each axis.

    Empty children do not lower it (packets go where rules are): a cut that leaves one
    big child scores badly however many empty ones it makes.
    """
    dims = [(1 << k) + 1 for _, k in plan]
    ends = [(a.tlo >> (a.res - k), (a.thi >> (a.res - k)) + 1) for a, k in plan]
    size = math.prod(dims)
    diff: np.ndarray | None = None
    for corner in itertools.product((0, 1), repeat=len(plan)):
        idx = ends[0][corner[0]]
        for d in range(1, len(plan)):
            idx = idx * dims[d] + ends[d][corner[d]]
        counts = np.bincount(idx, minlength=size)
        if diff is None:
            diff = counts
        elif sum(corner) % 2:
            diff -= counts
        else:
            diff += counts
    assert diff is not None
    grid = diff.reshape(dims)
    for axis in range(len(plan)):
        grid = grid.cumsum(axis)
    cells = grid[tuple(slice(0, d - 1) for d in dims)].astype(np.float64)
    total = cells.sum()
    return float((cells * cells).sum() / total) if total else 0.0


def _enough(a: _Axis, kw: int) -> tuple[int, float]:
    """(k, spread): the narrowest cut of ``a`` (at most ``kw`` bits) that separates the rules
    about as well as the widest one. Sparse rules (IPv6 hosts) need few bits where dense
    ones need many; the bits that separate nothing would only cost memory."""
    target = _spread([(a, kw)])
    for k in range(1, kw):
        score = _spread([(a, k)])
        if score <= target * ENOUGH:
            return k, score
    return kw, target


def _covers_region(it: _Item, fulls: list[int]) -> bool:
    return (
        it[1] == 0
        and it[2] == fulls[0]
        and it[3] == 0
        and it[4] == fulls[1]
        and it[5] == 0
        and it[6] == fulls[2]
        and it[7] == 0
        and it[8] == fulls[3]
        and it[9] == 0
        and it[10] == fulls[4]
    )


def _wide(m: Match, family: int) -> tuple[bool, bool]:
    """Whether the source and the destination prefixes are wide (see the module doc)."""
    bits = 32 if family == 4 else 128
    limit = 1 << (bits - _WIDE[family])
    return m.src[1] - m.src[0] >= limit, m.dst[1] - m.dst[0] >= limit


def _partition(rules: list[tuple[int, Match]], family: int) -> list[tuple[bool, list[tuple[int, Match]]]]:
    """Rules split into at most 3 groups: narrow in src, narrow in dst (only), wide in both.

    A rule narrow in both addresses goes with the narrower side's group; small groups (under
    a tenth of the rules, and under BINTH * 4) are merged into the wide group, where they cost
    a little replication but no extra tree walk. Groups come out by their best rank, each
    with whether it holds wide rules only (its tree gets the wide shape).
    """
    groups: dict[str, list[tuple[int, Match]]] = {"src": [], "dst": [], "wide": []}
    for rank, m in rules:
        src_wide, dst_wide = _wide(m, family)
        if not src_wide and (dst_wide or m.src[1] - m.src[0] <= m.dst[1] - m.dst[0]):
            groups["src"].append((rank, m))
        elif not dst_wide:
            groups["dst"].append((rank, m))
        else:
            groups["wide"].append((rank, m))
    small = max(len(rules) // 10, BINTH * 4)
    merged = False
    for name in ("src", "dst"):
        if 0 < len(groups[name]) < small:
            groups["wide"].extend(groups.pop(name))
            merged = True
    out = [(name == "wide" and not merged, sorted(g)) for name, g in groups.items() if g]
    return sorted(out, key=lambda wg: wg[1][0][0])


def _classes(m: Match, family: int) -> Sequence[int]:
    if m.proto[0] == m.proto[1]:
        return (proto_class(family, m.proto[0]),)
    return range(PROTO_CLASSES)


def compile_classifier(
    rules: Sequence[Match], *, binth: int | None = None, spfac: float | None = None, partition: bool = True
) -> Classifier:
    """Compile ``rules`` (priority order) into trees for both families and each protocol class."""
    base = _Shape(BINTH if binth is None else binth, SPFAC if spfac is None else spfac)
    # explicit parameters (tests) shape every tree alike
    explicit = binth is not None or spfac is not None
    wide = base if explicit else _Shape(WIDE_BINTH, SPFAC, WIDE_TOP_SPFAC, WIDE_TOP_DEPTH)
    out = Classifier(list(rules))
    for family in (4, 6):
        builder = _Builder(out, family, base)  # shared: equal subtrees and leaves are stored once
        per_class: list[list[tuple[int, Match]]] = [[] for _ in range(PROTO_CLASSES)]
        finals: list[set[int]] = []
        for rank, m in enumerate(rules):
            if m.family in (0, family):
                for c in _classes(m, family):
                    per_class[c].append((rank, m))
        for c, mine in enumerate(per_class):
            groups = _partition(mine, family) if partition else ([(False, mine)] if mine else [])
            fixed = c != _OTHER  # TCP, UDP, ICMP trees: the protocol is known
            pos = (0, 0, 8 if fixed else 0, 0, 0)
            roots = []
            for wide_only, g in groups:
                builder.shape = wide if wide_only and len(g) > WIDE_MIN else base
                roots.append((builder.build(_items(g, family, fixed), pos, 0), g[0][0]))
            out.roots[(family, c)] = roots
            finals.append(final_ranks([g for _, g in groups], family))
        # one flag per family, for the kernel's sake (no class in the leaf scan): final in
        # every class the rule is in (only rules of any protocol are in several; at 100k
        # random rules that loses nothing measurable)
        for rank, m in enumerate(rules):
            if m.family in (0, family) and all(rank in finals[c] for c in _classes(m, family)):
                out.final[rank] |= 1 << (family == 6)
        out.depth[family] = builder.depth
    return out
