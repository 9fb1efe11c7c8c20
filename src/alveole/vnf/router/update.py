"""Bringing a loaded router's maps to a config: which slots to write, in which order, and when to wait.

What a packet sees while a config is written (checked write by write by the unit tests):
a walk (router_lookup4/6) reads, at each step, a slot of the old or the new table *of
the prefix it followed*, so the next hop it ends with is one of a route of the old or
the new table that covers the destination (maybe a shorter one than either table's
longest match), or none (the packet goes to the kernel); a next hop is read whole, old
or new. How:

* chunks and guard records are keyed by the prefix they cover and keep their number
  from one table to the next when the key stays; a new one is filled completely
  (phase 1: nobody can reach it yet) before a slot links it (phase 2, deepest first,
  the root last); every write is one aligned 8-byte store (:mod:`.arrayview`);
* a chunk or record no longer linked may still be in use by a walk that read its link
  just before: it is zeroed and reused only after a grace period (:func:`.grace_period`),
  at the end of the update; a grace period also precedes reusing slots found non-zero
  without being linked (left by an interrupted update);
* when old and new do not fit side by side in ``table_size``, what goes away is
  unlinked first (its slots then give the new next hop without the link, or a shorter
  route), waited for and zeroed, and the new table is written into the room made;
* next hops: new egress profiles are written before next hops point at them, next hops
  are added or changed (one store each) before the routes that use them, removed after
  them; unused egress profiles are zeroed after the grace period. Egress ports (the
  devmap) are added first and removed last.

The steps are computed in full against the maps' current content (:class:`Writer`)
before anything is written, so a table that cannot take the change raises
:class:`TableFullError` with the maps untouched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Set
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ...errors import VnfError
from .arrayview import ArrayView, grace_period
from .config import EGRESS_MAX, mac_bytes
from .tables import (
    CHUNK,
    GUARD,
    LINK_SHIFT,
    RECORD,
    ROOT_BITS,
    STRIDE,
    V4,
    V6,
    Alloc,
    Family,
    Shape,
    TableFull,
    allocate,
    entry,
    record_words,
)

if TYPE_CHECKING:
    from ...bpf import Map
    from .config import RouterConfig

__all__ = [
    "EGRESS_MAX",
    "MAPS",
    "DictSlots",
    "Freed",
    "TableFullError",
    "Writer",
    "egress_value",
    "nexthop_word",
    "plan_family",
    "release",
    "write_config",
]

NH_SLOTS = 1 << 16
ARRAYS = ("router_egress", "router_nh", "router_root4", "router_tbl4", "router_root6", "router_tbl6")
MAPS = ("router_ports", *ARRAYS)  # the config maps, in the order their counts are reported
_PER_PAGE = CHUNK // RECORD

Value = int | bytes
Step = tuple[str, int, Value] | None  # (map, slot, value); None: a grace period


class TableFullError(VnfError):
    """A route table has no room left for a change (a larger ``table_size`` takes a reload)."""


class Slots(Protocol):
    """A map's current slots."""

    def __getitem__(self, i: int, /) -> Any: ...
    def nonzero(self, start: int, stop: int) -> list[tuple[int, int]]: ...
    def clean(self, start: int, stop: int) -> bool: ...


class DictSlots(dict[int, Any]):
    """Slots given as a sparse dict (missing ones are zero)."""

    def __missing__(self, key: int) -> int:
        return 0

    def nonzero(self, start: int, stop: int) -> list[tuple[int, int]]:
        if stop - start > len(self):
            return sorted((i, v) for i, v in self.items() if start <= i < stop and v)
        return [(i, self[i]) for i in range(start, stop) if self.get(i)]

    def clean(self, start: int, stop: int) -> bool:
        return not self.nonzero(start, stop)


class _MemSlots:
    """Slots of an mmap-ed array (8-byte words, or value bytes for other sizes)."""

    def __init__(self, view: ArrayView) -> None:
        self.view = view

    def __getitem__(self, i: int) -> Any:
        words = self.view.words
        return words[i] if words is not None else self.view.read(i)

    def nonzero(self, start: int, stop: int) -> list[tuple[int, int]]:
        assert self.view.words is not None
        return [(start + j, v) for j, v in enumerate(self.view.words[start:stop].tolist()) if v]

    def clean(self, start: int, stop: int) -> bool:
        return self.view.zero(start, stop)


def _set(v: Value) -> bool:
    return any(v) if isinstance(v, bytes) else bool(v)


class Writer:
    """The writes of an update, recorded against the maps' current slots (not applied)."""

    def __init__(self, slots: Mapping[str, Slots]) -> None:
        self.slots = slots
        self.steps: list[Step] = []
        self.counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        # what the recorded writes changed: map -> chunk -> slot -> value
        self._over: dict[str, dict[int, dict[int, Value]]] = defaultdict(lambda: defaultdict(dict))

    def get(self, name: str, i: int) -> Any:
        bucket = self._over[name].get(i // CHUNK)
        return bucket[i] if bucket is not None and i in bucket else self.slots[name][i]

    def _written(self, name: str, start: int, stop: int) -> dict[int, Value]:
        over = self._over[name]
        out: dict[int, Value] = {}
        for b in range(start // CHUNK, (stop - 1) // CHUNK + 1):
            for i, v in over.get(b, {}).items():
                if start <= i < stop:
                    out[i] = v
        return out

    def nonzero(self, name: str, start: int, stop: int) -> list[tuple[int, int]]:
        written = self._written(name, start, stop) if self._over[name] else {}
        if not written:
            return self.slots[name].nonzero(start, stop)
        found = dict(self.slots[name].nonzero(start, stop))
        found.update(written)  # type: ignore[arg-type]
        return sorted((i, v) for i, v in found.items() if v)

    def clean(self, name: str, start: int, stop: int) -> bool:
        if self._over[name] and self._written(name, start, stop):
            return not self.nonzero(name, start, stop)
        return self.slots[name].clean(start, stop)

    def write(self, name: str, i: int, value: Value) -> None:
        old = self.get(name, i)
        if old == value or (not _set(old) and not _set(value)):
            return
        self.steps.append((name, i, value))
        self._over[name][i // CHUNK][i] = value
        self.counts[name][0 if not _set(old) else 1 if _set(value) else 2] += 1

    def grace(self) -> None:
        if not self.steps or self.steps[-1] is not None:
            self.steps.append(None)


# --- route tables -------------------------------------------------------------------------------


@dataclass
class _Found:
    """What a family's maps hold: numbers of the reachable chunks and records, by key."""

    alloc: Alloc = field(default_factory=Alloc)
    chunks: set[int] = field(default_factory=set)  # reached as chunks
    records: set[int] = field(default_factory=set)
    pages: set[int] = field(default_factory=set)  # chunks holding reached records


def _decode(fam: Family, w: Writer, nchunks: int) -> _Found:
    """Walk everything the kernel can reach from the root, keying chunks and records."""
    f = _Found()
    stack = [(e, ROOT_BITS, s) for s, e in w.nonzero(fam.root, 0, 1 << ROOT_BITS)]
    while stack:
        e, done, prefix = stack.pop()
        link = (e >> LINK_SHIFT) & 0xFFFFFFFF
        if not link:
            continue
        if fam.guards and e & GUARD:
            page = link * RECORD // CHUNK
            if link in f.records or not 0 < page < nchunks:
                continue
            hi, lo, ent, plen = (w.get(fam.table, link * RECORD + i) for i in range(RECORD))
            f.records.add(link)
            f.pages.add(page)
            plen &= 0xFFFFFFFF
            if 0 < plen <= fam.bits:
                key = ("r", plen, (hi << 64 | lo) >> (128 - plen))
                f.alloc.records.setdefault(key, link)
                stack.append((ent, plen, key[2]))
            continue
        if done + STRIDE > fam.bits or link >= nchunks or link in f.chunks:
            continue  # past the last level, out of the table, or reached twice: not followed
        f.chunks.add(link)
        f.alloc.chunks.setdefault(("c", done + STRIDE, prefix), link)
        base = link * CHUNK
        stack += [
            (v, done + STRIDE, prefix << STRIDE | (i - base))
            for i, v in w.nonzero(fam.table, base, base + CHUNK)
        ]
    return f


@dataclass
class Freed:
    """What an update unlinked: zeroed after the grace period (:func:`release`)."""

    chunks: set[int] = field(default_factory=set)  # chunks and record pages, zeroed whole
    records: set[int] = field(default_factory=set)  # records of pages still in use

    def __bool__(self) -> bool:
        return bool(self.chunks or self.records)


def _cells(fam: Family, sh: Shape, alloc: Alloc, key: Any) -> Iterator[tuple[int, int]]:
    """(slot, value) of a chunk's or record's non-zero slots."""
    if key[0] == "c":
        base = alloc.chunks[key] * CHUNK
        for s, cell in sh.chunks[key].items():
            if v := entry(cell, alloc):
                yield base + s, v
    else:
        base = alloc.records[key] * RECORD
        for i, v in enumerate(record_words(fam, key, sh.records[key], alloc)):
            if v:
                yield base + i, v


def _span(alloc: Alloc, key: Any) -> tuple[int, int]:
    if key[0] == "c":
        return alloc.chunks[key] * CHUNK, (alloc.chunks[key] + 1) * CHUNK
    return alloc.records[key] * RECORD, (alloc.records[key] + 1) * RECORD


def _fill(fam: Family, w: Writer, sh: Shape, alloc: Alloc, key: Any) -> None:
    """Make a chunk's or record's slots what the shape says (zeroing what it does not)."""
    want = dict(_cells(fam, sh, alloc, key))
    start, stop = _span(alloc, key)
    for i, _ in w.nonzero(fam.table, start, stop):
        want.setdefault(i, 0)
    for i, v in sorted(want.items()):
        w.write(fam.table, i, v)


def _depth(key: Any) -> int:
    return key[1] if key[0] == "c" else key[1] + STRIDE


def plan_family(fam: Family, w: Writer, sh: Shape, nchunks: int) -> Freed:
    """Record the writes that bring one family's maps to shape ``sh``; returns what to free after a
    grace period. Raises :class:`TableFullError` when ``nchunks`` chunks cannot hold the change."""
    f = _decode(fam, w, nchunks)
    kept = Alloc(
        {k: c for k, c in f.alloc.chunks.items() if k in sh.chunks and c not in f.pages},
        {k: r for k, r in f.alloc.records.items() if k in sh.records and r * RECORD // CHUNK not in f.chunks},
    )
    pages = f.pages - f.chunks
    free = [c for c in range(1, nchunks) if c not in f.chunks and c not in f.pages]
    try:
        alloc = allocate(sh, kept, free, pages, f.records, _stained(fam, w, pages, f.records))
    except TableFull:
        alloc = _make_room(fam, w, sh, nchunks, f, kept)
        f = _Found(kept, set(kept.chunks.values()), set(kept.records.values()), kept.pages())
    new = [k for k in alloc.chunks if k not in kept.chunks] + [
        k for k in alloc.records if k not in kept.records
    ]
    if any(not w.clean(fam.table, *_span(alloc, k)) for k in new):
        w.grace()  # slots left by an interrupted update: reused once nothing can be reading them
    # phase 1: what nobody can reach yet
    for key in sorted(new, key=_depth, reverse=True):
        _fill(fam, w, sh, alloc, key)
    # phase 2: what is linked, deepest first, the root last
    live = [k for k in kept.chunks] + [k for k in kept.records]
    for key in sorted(live, key=_depth, reverse=True):
        _fill(fam, w, sh, alloc, key)
    root = {s: v for s, c in sh.root.items() if (v := entry(c, alloc))}
    for s, _ in w.nonzero(fam.root, 0, 1 << ROOT_BITS):
        root.setdefault(s, 0)
    for s, v in sorted(root.items()):
        w.write(fam.root, s, v)
    used_pages = alloc.pages()
    return Freed(
        (f.chunks - set(alloc.chunks.values())) | (f.pages - used_pages),
        {r for r in f.records - set(alloc.records.values()) if r * RECORD // CHUNK in used_pages},
    )


def _stained(fam: Family, w: Writer, pages: Iterable[int], busy: Set[int]) -> set[int]:
    """Free records of ``pages`` whose slots are not zero."""
    return {
        r
        for p in pages
        for r in range(p * _PER_PAGE, (p + 1) * _PER_PAGE)
        if r and r not in busy and not w.clean(fam.table, r * RECORD, (r + 1) * RECORD)
    }


def _make_room(fam: Family, w: Writer, sh: Shape, nchunks: int, f: _Found, kept: Alloc) -> Alloc:
    """Unlink what the new table drops, wait, zero it; then number the new table in the room made."""
    keep_c, keep_r = set(kept.chunks.values()), set(kept.records.values())

    def gone(v: int) -> bool:
        link = (v >> LINK_SHIFT) & 0xFFFFFFFF
        if not link:
            return False
        return link not in keep_r if fam.guards and v & GUARD else link not in keep_c

    def stripped(cell: Any) -> int:
        nh, link = cell
        return entry(cell, kept) if link is not None and (link in kept.chunks or link in kept.records) else nh

    for key, c in kept.chunks.items():
        for i, v in w.nonzero(fam.table, c * CHUNK, (c + 1) * CHUNK):
            if gone(v):
                w.write(fam.table, i, stripped(sh.chunks[key].get(i - c * CHUNK, (0, None))))
    for key, r in kept.records.items():
        i = r * RECORD + 2
        if gone(w.get(fam.table, i)):
            w.write(fam.table, i, stripped(sh.records[key]))
    for s, v in w.nonzero(fam.root, 0, 1 << ROOT_BITS):
        if gone(v):
            w.write(fam.root, s, stripped(sh.root.get(s, (0, None))))
    kept_pages = kept.pages()
    freed = Freed(
        (f.chunks - keep_c) | (f.pages - kept_pages),
        {r for r in f.records - keep_r if r * RECORD // CHUNK in kept_pages},
    )
    release(w, [(fam, freed)])
    free = [c for c in range(1, nchunks) if c not in keep_c and c not in kept_pages]
    try:
        return allocate(sh, kept, free, kept_pages, keep_r, _stained(fam, w, kept_pages, keep_r))
    except TableFull:
        raise TableFullError(
            f"router: IPv{fam.version} table full: {len(sh.chunks)} chunks and {len(sh.records)} records "
            f"do not fit {nchunks - 1} chunks (raise table_size: a reload)"
        ) from None


def release(w: Writer, freed: Iterable[tuple[Family, Freed]]) -> None:
    """After a grace period, zero what the update unlinked (it becomes free)."""
    todo = [(fam, fr) for fam, fr in freed if fr]
    if not todo:
        return
    w.grace()
    for fam, fr in todo:
        for c in sorted(fr.chunks):
            for i, _ in w.nonzero(fam.table, c * CHUNK, (c + 1) * CHUNK):
                w.write(fam.table, i, 0)
        for r in sorted(fr.records):
            for i in range(r * RECORD, (r + 1) * RECORD):
                w.write(fam.table, i, 0)


# --- next hops ------------------------------------------------------------------------------------

Profile = tuple[bytes, int, int]  # struct router_egress: source MAC, MTU, ifindex


def egress_value(p: Profile) -> bytes:
    smac, mtu, ifindex = p
    return smac + mtu.to_bytes(2, "little") + ifindex.to_bytes(4, "little")


def nexthop_word(dmac: bytes, egress: int) -> int:
    """struct router_nexthop as the 8-byte word the kernel reads."""
    return int.from_bytes(dmac + egress.to_bytes(2, "little"), "little")


def profiles(cfg: RouterConfig) -> dict[Profile, int]:
    """Egress profiles in the order a fresh table numbers them (first use, by next hop id)."""
    out: dict[Profile, int] = {}
    for _, nh in sorted(cfg.nexthops.items()):
        out.setdefault((mac_bytes(nh.src_mac), nh.mtu, nh.ifindex), len(out) + 1)
    return out


def _plan_nexthops(w: Writer, cfg: RouterConfig) -> tuple[list[int], set[int]]:
    """Egress profiles, then next hops added or changed; returns (ids to remove, profiles to free)."""
    want = {
        i: (mac_bytes(nh.mac), (mac_bytes(nh.src_mac), nh.mtu, nh.ifindex))
        for i, nh in sorted(cfg.nexthops.items())
    }
    current = dict(w.nonzero("router_nh", 0, NH_SLOTS))
    referenced = {v >> 48 for v in current.values()} - {0}
    known: dict[Profile, int] = {}
    for idx in sorted(referenced):
        if idx < EGRESS_MAX:
            raw = bytes(w.get("router_egress", idx))
            if any(raw):
                p = (raw[:6], int.from_bytes(raw[6:8], "little"), int.from_bytes(raw[8:12], "little"))
                known.setdefault(p, idx)
    needed = list(dict.fromkeys(p for _, p in want.values()))
    fresh = [p for p in needed if p not in known]
    free = sorted(
        (i for i in range(1, EGRESS_MAX) if i not in referenced),
        key=lambda i: (_set(w.get("router_egress", i)), i),
    )
    if len(fresh) > len(free):
        raise TableFullError(f"router: more than {EGRESS_MAX - 1} egress profiles in use at once")
    index = {p: i for p, i in known.items() if p in set(needed)}
    index.update(zip(fresh, free, strict=False))
    if any(_set(w.get("router_egress", index[p])) for p in fresh):
        w.grace()
    for p in fresh:
        w.write("router_egress", index[p], egress_value(p))
    for i, (dmac, p) in want.items():
        w.write("router_nh", i, nexthop_word(dmac, index[p]))
    return sorted(current.keys() - want.keys()), referenced - set(index.values())


# --- the whole config ---------------------------------------------------------------------------


def plan(cfg: RouterConfig, w: Writer, nchunks: Mapping[int, int]) -> None:
    """Record every write (and grace period) that brings the maps to ``cfg``."""
    gone_ids, gone_profiles = _plan_nexthops(w, cfg)
    tables = cfg.tables
    freed = [
        (fam, plan_family(fam, w, tables.family(fam.version).shape, nchunks[fam.version])) for fam in (V4, V6)
    ]
    for i in gone_ids:
        w.write("router_nh", i, 0)
    if gone_profiles and not any(fr for _, fr in freed):
        w.grace()
    release(w, freed)
    for i in sorted(gone_profiles):
        w.write("router_egress", i, bytes(12))


def write_config(
    cfg: RouterConfig, maps: Mapping[str, Map], only: Set[str] | None = None
) -> dict[str, tuple[int, int, int]]:
    """Bring the maps to ``cfg``; returns (added, changed, removed) slots per map.

    ``only``: the maps a loader just created; the (idempotent, whole) write happens when it
    names any of the router's config maps, and not at all otherwise.
    """
    if only is not None and not set(only) & set(MAPS):
        return {}
    with ExitStack() as stack:
        views = {n: stack.enter_context(ArrayView(maps[n])) for n in ARRAYS}
        w = Writer({n: _MemSlots(v) for n, v in views.items()})
        plan(cfg, w, {fam.version: views[fam.table].max_entries // CHUNK for fam in (V4, V6)})
        ports = maps["router_ports"]
        have = set(ports.keys())
        egress = cfg.egress()
        for i in sorted(egress - have):
            ports[i] = i
        for step in w.steps:
            if step is None:
                grace_period()
                continue
            name, i, v = step
            view = views[name]
            if isinstance(v, bytes):
                view.write(i, v)
            else:
                view.words[i] = v  # type: ignore[index]
        for i in sorted(have - egress):
            del ports[i]
    counts = {n: tuple(w.counts[n]) if n in w.counts else (0, 0, 0) for n in ARRAYS}
    return {"router_ports": (len(egress - have), 0, len(have - egress)), **counts}  # type: ignore[dict-item]
