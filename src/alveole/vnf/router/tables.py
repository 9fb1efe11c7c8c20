"""Route tables as router.bpf.c reads them: a multibit trie of 256-slot array chunks.

Per family, two array maps of 64-bit slots: the root (``router_root4/6``, indexed by the
top 16 bits of the destination) and the table (``router_tbl4/6``), cut into chunks of
256 slots (chunk ``c`` = slots ``256 c`` .. ``256 c + 255``; chunk 0 is never used). A slot
(an *entry*) packs::

    bits  0..15  next hop id of the longest route ending at this slot's level (0: none)
    bit  16      GUARD: the link is a guard record, not a chunk (IPv6 only)
    bits 32..63  link: the chunk (or record) below, 0: nothing below

A chunk linked from an entry that consumed ``d`` bits of the destination is indexed by
bits ``d .. d+8`` (IPv4: DIR-16-8-8, at most one root and two chunk reads). A route of
length L lands in the first level >= L (16, 24, 32, ...), expanded into its 2^(level - L)
slots there; the lookup keeps the deepest non-zero next hop on its way down: the
longest match (no leaf pushing: a slot only says what routes *ending at its level* say).

IPv6 adds path compression: a subtree holding one route is a *leaf*, and a chunk whose
parent levels would each hold a single link is reached directly; both through a guard
record (4 slots inside a chunk used as a record page: prefix high 64 bits, low 64 bits,
an entry, the prefix length). The walk compares the destination with the record's
prefix and, on a match, goes on with the record's entry (a leaf's next hop, or the link
to the chunk below, which then indexes bits ``length .. length+8``); on a mismatch it
stops with what it has. 10k IPv6 routes then cost a few hundred chunks, not one per
route and level.

This module computes a table's canonical *shape* (which chunks and records exist, keyed
by the prefixes they cover, and what their slots say) and encodes it once chunk and
record numbers are chosen; :func:`lookup` is the kernel's walk, in Python.
:mod:`.update` brings kernel maps from one table to another.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "CHUNK",
    "GUARD",
    "LINK_SHIFT",
    "NH_KERNEL",
    "NH_MASK",
    "RECORD",
    "ROOT_BITS",
    "STRIDE",
    "V4",
    "V6",
    "WALK6",
    "Alloc",
    "ChunkKey",
    "Family",
    "Layout",
    "RecordKey",
    "Shape",
    "Sparse",
    "TableFull",
    "Tables",
    "build",
    "encode",
    "level_of",
    "lookup",
    "shape",
]

ROOT_BITS = 16  # ROUTER_ROOT_BITS
STRIDE = 8  # bits per chunk
CHUNK = 1 << STRIDE  # ROUTER_CHUNK: slots per chunk
RECORD = 4  # ROUTER_RECORD: slots per guard record
NH_MASK = 0xFFFF  # ROUTER_NH_MASK
NH_KERNEL = 0xFFFF  # ROUTER_NH_KERNEL: the route's packets go to the kernel
GUARD = 1 << 16  # ROUTER_GUARD
LINK_SHIFT = 32  # ROUTER_LINK_SHIFT
WALK6 = 32  # ROUTER_WALK6: steps of the IPv6 walk (14 chunks + 15 guards + 1, rounded up)
_M64 = (1 << 64) - 1

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# ("c", depth, prefix): the chunk indexed by bits depth-8 .. depth, under the top depth-8 bits
ChunkKey = tuple[str, int, int]
# ("r", length, prefix): a guard record for the top `length` bits
RecordKey = tuple[str, int, int]
Key = ChunkKey | RecordKey
Cell = tuple[int, Key | None]  # (next hop id, link) of a slot before numbering


@dataclass(frozen=True)
class Family:
    version: int
    bits: int
    guards: bool  # path compression with guard records (IPv6)
    root: str  # map names
    table: str


V4 = Family(4, 32, False, "router_root4", "router_tbl4")
V6 = Family(6, 128, True, "router_root6", "router_tbl6")


def level_of(prefixlen: int) -> int:
    """The level a route of this length lands in: 16, then the next multiple of 8."""
    return max(ROOT_BITS, -(-prefixlen // STRIDE) * STRIDE)


@dataclass
class Shape:
    """A family's table before numbering: root slots, chunks and records by key."""

    root: dict[int, Cell] = field(default_factory=dict)
    chunks: dict[ChunkKey, dict[int, Cell]] = field(default_factory=dict)
    records: dict[RecordKey, Cell] = field(default_factory=dict)


Route = tuple[int, int, int]  # (network address as an int, prefix length, next hop id)


def shape(fam: Family, routes: Iterable[Route]) -> Shape:
    """The canonical shape of ``routes`` (distinct prefixes of one family)."""
    bits, out = fam.bits, Shape()
    below: dict[int, list[Route]] = defaultdict(list)
    root: dict[int, int] = {}
    for r in sorted(routes, key=lambda r: r[1]):  # shortest first: longer routes overwrite
        addr, plen, nh = r
        if plen <= ROOT_BITS:
            base = addr >> (bits - ROOT_BITS)
            for s in range(base, base + (1 << (ROOT_BITS - plen))):
                root[s] = nh
        else:
            below[addr >> (bits - ROOT_BITS)].append(r)
    out.root = {s: (nh, None) for s, nh in root.items()}
    for s, rs in below.items():
        out.root[s] = (root.get(s, 0), _subtree(fam, out, rs, ROOT_BITS))
    return out


def _subtree(fam: Family, out: Shape, rs: list[Route], done: int) -> Key:
    """The link to routes ``rs`` (sorted by length, all longer than ``done`` bits, sharing them)."""
    bits = fam.bits
    if fam.guards and len(rs) == 1:
        addr, plen, nh = rs[0]
        leaf: RecordKey = ("r", plen, addr >> (bits - plen))
        out.records[leaf] = (nh, None)
        return leaf
    depth = done + STRIDE
    if fam.guards:  # skip levels where nothing lands and nothing branches
        while (
            not any(level_of(p) == depth for _, p, _ in rs)
            and len({a >> (bits - depth) for a, _, _ in rs}) == 1
        ):
            depth += STRIDE
    prefix = rs[0][0] >> (bits - depth + STRIDE)
    key: ChunkKey = ("c", depth, prefix)
    nhs: dict[int, int] = {}
    groups: dict[int, list[Route]] = defaultdict(list)
    for r in rs:
        addr, plen, nh = r
        slot = (addr >> (bits - depth)) & (CHUNK - 1)
        if level_of(plen) == depth:
            for s in range(slot, slot + (1 << (depth - plen))):
                nhs[s] = nh
        else:
            groups[slot].append(r)
    cells: dict[int, Cell] = {s: (nh, None) for s, nh in nhs.items()}
    for s, g in groups.items():
        cells[s] = (nhs.get(s, 0), _subtree(fam, out, g, depth))
    out.chunks[key] = cells
    if depth == done + STRIDE:
        return key
    guard: RecordKey = ("r", depth - STRIDE, prefix)
    out.records[guard] = (0, key)
    return guard


@dataclass
class Alloc:
    """Chunk numbers of chunks, record numbers of records (record r: slots 4r .. 4r+3)."""

    chunks: dict[ChunkKey, int] = field(default_factory=dict)
    records: dict[RecordKey, int] = field(default_factory=dict)

    def pages(self) -> set[int]:
        """Chunks holding records."""
        return {r * RECORD // CHUNK for r in self.records.values()}

    def used(self) -> set[int]:
        return set(self.chunks.values()) | self.pages()


def entry(cell: Cell, alloc: Alloc) -> int:
    """A slot's 64-bit value."""
    nh, link = cell
    if link is None:
        return nh
    if link[0] == "c":
        return nh | alloc.chunks[link] << LINK_SHIFT  # type: ignore[index]
    return nh | GUARD | alloc.records[link] << LINK_SHIFT  # type: ignore[index]


def record_words(fam: Family, key: RecordKey, cell: Cell, alloc: Alloc) -> tuple[int, int, int, int]:
    """A guard record's 4 slots: prefix high and low 64 bits (of 128), entry, length."""
    _, plen, prefix = key
    full = prefix << (fam.bits - plen) << (128 - fam.bits)
    return full >> 64, full & _M64, entry(cell, alloc), plen


def encode(fam: Family, sh: Shape, alloc: Alloc) -> tuple[dict[int, int], dict[int, int]]:
    """The root's and the table's non-zero slots."""
    root = {s: v for s, c in sh.root.items() if (v := entry(c, alloc))}
    table: dict[int, int] = {}
    for key, cells in sh.chunks.items():
        base = alloc.chunks[key] * CHUNK
        for s, c in cells.items():
            if v := entry(c, alloc):
                table[base + s] = v
    for rkey, c in sh.records.items():
        base = alloc.records[rkey] * RECORD
        for i, v in enumerate(record_words(fam, rkey, c, alloc)):
            if v:
                table[base + i] = v
    return root, table


def allocate(
    sh: Shape,
    kept: Alloc,
    free: Iterable[int],
    pages: Iterable[int] = (),
    busy: Iterable[int] = (),
    dirty: Iterable[int] = (),
) -> Alloc:
    """``kept`` plus numbers for the shape's other chunks (in key order), then records (64 a page).

    ``free``: chunk numbers to take, in order; ``pages``: chunks already holding records,
    whose records not in ``busy`` (nor kept) can be taken, those in ``dirty`` (not zero)
    last. Raises :class:`TableFull` when ``free`` runs out.
    """
    out = Alloc(dict(kept.chunks), dict(kept.records))
    it = iter(free)

    def take() -> int:
        try:
            return next(it)
        except StopIteration:
            raise TableFull from None

    for key in sorted(k for k in sh.chunks if k not in out.chunks):
        out.chunks[key] = take()
    new_records = sorted(k for k in sh.records if k not in out.records)
    if new_records:
        taken = set(busy) | set(out.records.values())
        per_page = CHUNK // RECORD
        holes = [
            r
            for p in sorted(set(pages))
            for r in range(p * per_page, (p + 1) * per_page)
            if r and r not in taken
        ]
        stained = set(dirty)
        holes.sort(key=lambda r: (r in stained, r))
        stock = iter(holes)
        for key in new_records:
            r = next(stock, None)
            if r is None:
                page = take()
                stock = iter(range(page * per_page + 1, (page + 1) * per_page))
                r = page * per_page
            out.records[key] = r
    return out


class TableFull(Exception):
    """No free chunk left in a family's table."""


@dataclass(frozen=True)
class Layout:
    """One family's canonical table: its shape, numbering and the maps' non-zero slots."""

    shape: Shape
    alloc: Alloc
    root: dict[int, int]
    table: dict[int, int]

    @property
    def chunks(self) -> int:
        """Chunks used, record pages included (what ``table_size`` bounds)."""
        return len(self.alloc.used())


@dataclass(frozen=True)
class Tables:
    """Both families' canonical tables (what a freshly loaded router holds)."""

    v4: Layout
    v6: Layout

    def family(self, version: int) -> Layout:
        return self.v4 if version == 4 else self.v6


def _layout(fam: Family, routes: list[Route]) -> Layout:
    sh = shape(fam, routes)
    alloc = allocate(sh, Alloc(), itertools.count(1))  # an empty table (its size: the config checks)
    root, table = encode(fam, sh, alloc)
    return Layout(sh, alloc, root, table)


def build(routes: Iterable[tuple[Network, int]]) -> Tables:
    """The canonical tables of ``(prefix, next hop id)`` routes (prefixes unique)."""
    by_family: dict[int, list[Route]] = {4: [], 6: []}
    for net, nh in routes:
        if not 0 < nh <= NH_MASK:
            raise ValueError(f"next hop id {nh} out of range 1..{NH_MASK}")
        by_family[net.version].append((int(net.network_address), net.prefixlen, nh))
    return Tables(_layout(V4, by_family[4]), _layout(V6, by_family[6]))


# --- the kernel's walk ----------------------------------------------------------------------


class Words(Protocol):
    def __getitem__(self, i: int, /) -> int: ...


class Sparse(dict[int, int]):
    """Slots given sparse: a missing one reads as 0 (as a zeroed array slot)."""

    def __missing__(self, key: int) -> int:
        return 0


def _byte6(hi: int, lo: int, done: int) -> int:
    """router_byte6(): the 8 bits after the first ``done`` (clamped as in C)."""
    done &= 0x78
    return (hi >> (56 - done)) & 0xFF if done < 64 else (lo >> (120 - done)) & 0xFF


def _match6(hi: int, lo: int, rhi: int, rlo: int, plen: int) -> bool:
    """router_match6(): the destination's top ``plen`` bits equal the record's."""
    plen = min(plen, 128)
    mask = ((1 << plen) - 1) << (128 - plen)
    return not ((hi << 64 | lo) ^ (rhi << 64 | rlo)) & mask


def lookup(fam: Family, root: Words, table: Words, addr: Address, size: int | None = None) -> int:
    """The next hop id the kernel finds for ``addr`` (0: none): router_lookup4/6() in Python.

    ``root``/``table``: the maps' slots (missing ones read as 0); ``size``: the table's
    max_entries (slots past it read as absent, like a failed array lookup).
    """

    def get(i: int) -> int | None:
        i &= 0xFFFFFFFF  # the index is a __u32 in C
        return None if size is not None and i >= size else table[i]

    a = int(addr)
    if fam.version == 4:
        e = root[a >> 16]
        nh = e & NH_MASK
        for shift in (8, 0):
            link = e >> LINK_SHIFT
            if not link:
                break
            v = get(link << 8 | (a >> shift) & 0xFF)
            if v is None:
                break
            e = v
            if e & NH_MASK:
                nh = e & NH_MASK
        return nh
    hi, lo = a >> 64, a & _M64
    e, nh, done = root[hi >> 48], 0, ROOT_BITS
    for _ in range(WALK6):
        if e & NH_MASK:
            nh = e & NH_MASK
        link = (e >> LINK_SHIFT) & 0xFFFFFFFF
        if not link:
            break
        if e & GUARD:
            words = [get(link * RECORD + i) for i in range(RECORD)]
            if None in words:
                break
            rhi, rlo, rentry, rlen = words  # type: ignore[misc]
            if not _match6(hi, lo, rhi, rlo, rlen & 0xFFFFFFFF):
                break
            done = rlen & 0xFFFFFFFF
            e = rentry
            continue
        v = get(link << 8 | _byte6(hi, lo, done))
        if v is None:
            break
        done += STRIDE
        e = v
    return nh
